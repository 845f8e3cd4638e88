"""levpaper.evaluation: the estimators against hand computations and scipy, the stratified
bootstrap's resampling and coverage, t intervals, fractions of the oracle, control variates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from levpaper.evaluation import (
    MIN_RUNS,
    certainty_equivalent_growth,
    control_variate_mean,
    fraction_of_oracle,
    iqm,
    paired_differences,
    score_matrix,
    stratified_bootstrap,
    t_interval,
)


def test_iqm_by_hand_and_against_scipy() -> None:
    # 8 pooled scores: the middle 50% are the 3rd to the 6th of the sorted values
    scores = np.array([[0.9, 0.2], [1.0, 0.4], [0.8, 0.3], [5.0, 0.1]])
    assert iqm(scores) == pytest.approx((0.3 + 0.4 + 0.8 + 0.9) / 4, abs=1e-15)
    rng = np.random.default_rng(0)
    for shape in ((40,), (12, 5), (7, 3)):
        x = rng.standard_t(2, size=shape)
        assert iqm(x) == pytest.approx(float(stats.trim_mean(x, 0.25, axis=None)), abs=1e-15)
    # pooled across tasks, not the mean of per-task IQMs
    x = np.column_stack([np.arange(8.0), 100.0 + np.arange(8.0) ** 2])
    assert iqm(x) == pytest.approx(float(stats.trim_mean(x.ravel(), 0.25)), abs=1e-12)
    assert iqm(x) != pytest.approx(np.mean([iqm(x[:, 0]), iqm(x[:, 1])]))
    # robust to one wild run, unlike the mean
    y = np.ones(20)
    y[0] = 1e6
    assert iqm(y) == 1.0


def test_stratified_bootstrap_resamples_runs_within_each_task() -> None:
    # task 0 scores all 0, task 1 all 1: every stratified replicate has the same mean 0.5
    scores = np.column_stack([np.zeros(10), np.ones(10)])
    ci = stratified_bootstrap(
        lambda s: float(s.mean()), scores, rng=np.random.default_rng(0), n_boot=500
    )
    assert (ci.estimate, ci.low, ci.high) == (0.5, 0.5, 0.5)
    # and a replicate of a task only ever holds that task's runs
    x = np.column_stack([np.arange(10.0), 100.0 + np.arange(10.0)])
    fast = stratified_bootstrap(iqm, x, rng=np.random.default_rng(1), n_boot=1200)
    slow = stratified_bootstrap(lambda s: iqm(s), x, rng=np.random.default_rng(1), n_boot=1200)
    # the vectorised IQM is the same estimator on the same replicates
    assert tuple(fast) == pytest.approx(tuple(slow), abs=1e-12)
    seen: list[np.ndarray] = []

    def record(s: np.ndarray) -> float:
        seen.append(s.copy())
        return iqm(s)

    stratified_bootstrap(record, x, rng=np.random.default_rng(1), n_boot=200)
    for s in seen[1:]:
        assert s.shape == x.shape and np.all(s[:, 0] < 10) and np.all(s[:, 1] >= 100)
    assert len({s.tobytes() for s in seen[1:]}) > 150  # resampled, with replacement


def test_stratified_bootstrap_iqm_interval_covers() -> None:
    # 10 seeds x 3 tasks of a symmetric score law: the IQM's population value is the centre
    rng = np.random.default_rng(2)
    boot_rng = np.random.default_rng(3)
    trials, hits = 200, 0
    for _ in range(trials):
        scores = rng.normal(0.0, 1.0, size=(10, 3))
        ci = stratified_bootstrap(iqm, scores, rng=boot_rng, n_boot=500)
        hits += ci.low <= 0.0 <= ci.high
    # the percentile bootstrap with 30 pooled runs covers a little under its nominal 95%
    assert 0.88 <= hits / trials <= 0.99, hits / trials


def test_paired_bootstrap_uses_the_same_runs() -> None:
    x = np.random.default_rng(4).normal(size=(15, 2))
    ci = stratified_bootstrap(
        lambda a, b: iqm(b) - iqm(a), x, x + 2.0, rng=np.random.default_rng(5), n_boot=300,
        paired=True,
    )  # fmt: skip
    assert ci.low == pytest.approx(2.0, abs=1e-12) and ci.high == pytest.approx(2.0, abs=1e-12)
    unpaired = stratified_bootstrap(
        lambda a, b: iqm(b) - iqm(a), x, x + 2.0, rng=np.random.default_rng(5), n_boot=300
    )
    assert unpaired.high - unpaired.low > 0.1
    with pytest.raises(ValueError, match="paired"):
        stratified_bootstrap(
            lambda a, b: 0.0, x, x[:5], rng=np.random.default_rng(0), n_boot=100, paired=True
        )


def test_t_interval_by_hand_and_its_coverage() -> None:
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 2.0, 3.0, 4.0, 5.0])
    ci = t_interval(x)
    half = stats.t.ppf(0.975, 9) * x.std(ddof=1) / math.sqrt(10)
    assert (ci.estimate, ci.low, ci.high) == pytest.approx((3.5, 3.5 - half, 3.5 + half))
    assert ci.level == 0.95
    rng = np.random.default_rng(6)
    hits = sum(
        (c := t_interval(rng.normal(1.0, 2.0, MIN_RUNS))).low <= 1.0 <= c.high for _ in range(4000)
    )
    assert abs(hits / 4000 - 0.95) < 0.012  # 3.5 standard errors of the coverage
    with pytest.raises(ValueError, match="at least 10 runs"):
        t_interval(np.arange(9.0))
    small = t_interval(np.arange(5.0), allow_small=True)
    assert small.high - small.estimate == pytest.approx(
        stats.t.ppf(0.975, 4) * np.arange(5.0).std(ddof=1) / math.sqrt(5)
    )
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([1.0], allow_small=True)


def test_fraction_of_the_oracle() -> None:
    scores = np.array([[0.8, 0.45], [0.9, 0.5], [1.0, 0.55], [0.85, 0.40]])
    oracle = np.array([1.0, 0.5])
    ci = fraction_of_oracle(scores, oracle, rng=np.random.default_rng(0), n_boot=500)
    assert ci.estimate == pytest.approx(iqm(scores / oracle))
    assert ci.low <= ci.estimate <= ci.high
    # a per-run oracle (paired Monte Carlo): each task divided by the oracle's mean over runs
    per_run = np.array([[1.1, 0.5], [0.9, 0.52], [1.0, 0.48], [1.0, 0.5]])
    paired = fraction_of_oracle(scores, per_run, rng=np.random.default_rng(0), n_boot=500)
    assert paired.estimate == pytest.approx(iqm(scores / per_run.mean(axis=0)))
    mean_ci = fraction_of_oracle(
        scores, oracle, rng=np.random.default_rng(0), n_boot=500, statistic=lambda s: s.mean()
    )
    assert mean_ci.estimate == pytest.approx(float(np.mean(scores / oracle)))
    with pytest.raises(ValueError, match="oracle"):
        fraction_of_oracle(scores, [1.0, 0.0], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="oracle"):
        fraction_of_oracle(scores, np.ones((3, 2)), rng=np.random.default_rng(0))


def test_certainty_equivalent_growth_and_paired_differences() -> None:
    lg = np.array([0.02, 0.04, -0.01, 0.03])
    assert certainty_equivalent_growth(lg, 0.25) == pytest.approx(lg.mean() / 0.25)
    assert math.exp(certainty_equivalent_growth(lg, 1.0)) == pytest.approx(
        math.exp(np.mean(np.log(np.exp(lg))))
    )  # the certainty equivalent of log utility: exp E[ln W]
    assert np.array_equal(paired_differences([3.0, 1.0], [1.0, 1.5]), [2.0, -0.5])
    with pytest.raises(ValueError, match="shape"):
        paired_differences([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="years"):
        certainty_equivalent_growth(lg, 0.0)


def test_control_variate_is_unbiased_and_sharper() -> None:
    rng = np.random.default_rng(7)
    trials, hits, widths = 300, 0, []
    for _ in range(trials):
        c = rng.normal(0.3, 1.0, size=(400, 2))
        x = 1.0 + 2.0 * c[:, 0] - c[:, 1] + 0.2 * rng.normal(size=400)  # E[X] = 1.3
        ci = control_variate_mean(x, c, [0.3, 0.3])
        hits += ci.low <= 1.3 <= ci.high
        widths.append(ci.high - ci.low)
        plain = 2 * 1.96 * x.std(ddof=1) / math.sqrt(400)
    assert 0.92 <= hits / trials <= 0.98
    assert np.mean(widths) < 0.15 * plain
    with pytest.raises(ValueError, match="controls"):
        control_variate_mean(np.ones(10), np.ones((9, 1)), [0.0])


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="scores"):
        score_matrix(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="finite"):
        iqm([1.0, np.nan])
    x = np.ones((5, 2))
    with pytest.raises(ValueError, match="n_boot"):
        stratified_bootstrap(iqm, x, rng=np.random.default_rng(0), n_boot=10)
    with pytest.raises(ValueError, match="level"):
        stratified_bootstrap(iqm, x, rng=np.random.default_rng(0), level=1.0)
    with pytest.raises(ValueError, match="rng"):
        stratified_bootstrap(iqm, x, rng=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tasks"):
        stratified_bootstrap(lambda a, b: 0.0, x, np.ones((5, 3)), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="statistic"):
        stratified_bootstrap(None, x, rng=np.random.default_rng(0))  # type: ignore[arg-type]

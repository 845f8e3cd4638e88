"""Tests of levpaper.stats: the Monte Carlo estimators of the market experiments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levpaper import stats


def test_statistic_matches_numpy_and_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 500))
    assert np.allclose(stats.statistic(x, "mean"), x.mean(axis=1))
    assert np.allclose(stats.statistic(x, "p99"), np.quantile(x, 0.99, axis=1))
    assert stats.statistic(x[0], "median") == float(np.median(x[0]))
    with pytest.raises(ValueError, match="values"):
        stats.statistic([np.nan, 1.0])
    with pytest.raises(ValueError, match="values"):
        stats.statistic([])


def test_bootstrap_is_reproducible_from_the_generator() -> None:
    x = np.random.default_rng(1).exponential(size=300)
    one = stats.bootstrap_ci(x, "p95", rng=np.random.default_rng(7), n_boot=300)
    two = stats.bootstrap_ci(x, "p95", rng=np.random.default_rng(7), n_boot=300)
    assert one == two
    assert one.lower <= one.value <= one.upper
    with pytest.raises(ValueError, match="rng"):
        stats.bootstrap_ci(x, rng=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_boot"):
        stats.bootstrap_ci(x, rng=np.random.default_rng(0), n_boot=0)
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_ci(x, rng=np.random.default_rng(0), level=1.0)


def test_tail_summary_agrees_with_bootstrap_ci_values() -> None:
    x = np.random.default_rng(2).lognormal(size=1000)
    out = stats.tail_summary(x, rng=np.random.default_rng(3), n_boot=400)
    for name, est in out.items():
        assert est.value == stats.statistic(x, name)
        assert est.lower <= est.value <= est.upper
        assert est.n == 1000
    # the p99 rests on the 10 largest runs: its interval is wider than the p95's, relatively
    width = {k: (v.upper - v.lower) / v.value for k, v in out.items()}
    assert width["p99"] > width["p95"] > width["median"]


@pytest.mark.parametrize(("stat", "truth"), [("p95", math.log(20.0)), ("p99", math.log(100.0))])
def test_bootstrap_quantile_interval_covers_the_true_quantile(stat: str, truth: float) -> None:
    """Coverage on a synthetic case: Exp(1) samples of 1000 runs, whose p95 and p99 are ln 20 and
    ln 100. Over 200 independent samples the 95% interval must cover the truth about 95% of the
    time; [0.90, 0.995] is about 3 binomial standard errors either side of 0.95."""
    rng = np.random.default_rng(20260514)
    trials, hits = 200, 0
    for _ in range(trials):
        x = rng.exponential(size=1000)
        est = stats.bootstrap_ci(x, stat, rng=rng, n_boot=300)
        hits += est.lower <= truth <= est.upper
    assert 0.90 <= hits / trials <= 0.995


def test_paired_ratio_interval_covers_the_true_ratio() -> None:
    """Coverage of the paired interval: arm a is a heavy-tailed loss, arm b the same loss scaled
    by an independent factor of mean 0.8 (the control's effect varies run by run). The true ratio
    of the means is 0.8; of the p95s it is the ratio of the two known laws' p95s, computed here
    from one very large sample. The interval of the mean ratio must cover at about its level;
    that of the p95 ratio is conservative (the bootstrap distribution of a quantile is coarse,
    and the two arms' quantiles sit at different runs), so it must cover at least at its level:
    a control is then declared to help less often than it does, never more."""
    rng = np.random.default_rng(5)
    big_a = rng.lognormal(0.0, 1.0, size=4_000_000)
    big_b = big_a * rng.uniform(0.6, 1.0, size=big_a.size)
    truth = {"mean": 0.8, "p95": float(np.quantile(big_b, 0.95) / np.quantile(big_a, 0.95))}
    trials = 200
    for stat, true_ratio in truth.items():
        hits = 0
        for _ in range(trials):
            a = rng.lognormal(0.0, 1.0, size=1000)
            b = a * rng.uniform(0.6, 1.0, size=a.size)
            est = stats.paired_ratio_ci(a, b, stat, rng=rng, n_boot=300)
            hits += est.lower <= true_ratio <= est.upper
        top = 0.995 if stat == "mean" else 1.0
        assert 0.90 <= hits / trials <= top, (stat, hits / trials)


def test_pairing_narrows_the_interval() -> None:
    """With common random numbers the interval is that of the control's effect, far narrower
    than the interval the same two samples would give unpaired (shuffled)."""
    rng = np.random.default_rng(6)
    a = rng.lognormal(0.0, 1.5, size=1000)
    b = 0.9 * a * rng.uniform(0.95, 1.05, size=a.size)
    paired = stats.paired_ratio_ci(a, b, "p95", rng=np.random.default_rng(1), n_boot=500)
    unpaired = stats.paired_ratio_ci(a, rng.permutation(b), "p95", rng=np.random.default_rng(1),
                                     n_boot=500)  # fmt: skip
    assert paired.verdict == "lower"
    assert (paired.upper - paired.lower) < 0.3 * (unpaired.upper - unpaired.lower)


def test_ratio_with_zero_reference() -> None:
    rng = np.random.default_rng(0)
    zeros = np.zeros(100)
    some = np.r_[np.zeros(90), np.ones(10)]
    est = stats.paired_ratio_ci(zeros, some, "mean", rng=rng, n_boot=50)
    assert not est.defined and est.verdict == "undefined" and est.b == 0.1
    assert stats.paired_ratio_ci(zeros, zeros, "p95", rng=rng, n_boot=50).verdict == "equal"
    # a reference whose resampled statistic is sometimes 0: those replicates are infinite
    a = np.r_[np.zeros(95), np.ones(5)]
    est = stats.paired_ratio_ci(a, 0.5 * a, "mean", rng=rng, n_boot=200)
    assert est.value == 0.5 and est.upper == 0.5


def test_verdicts() -> None:
    assert stats.RatioEstimate(1.2, 1.1, 1.3, 10, 1.0, 1.2).verdict == "higher"
    assert stats.RatioEstimate(1.0, 0.9, 1.1, 10, 1.0, 1.0).verdict == "unclear"
    with pytest.raises(ValueError, match="stat"):
        stats.paired_ratio_ci([1.0, 2.0], [1.0, 2.0], "max", rng=np.random.default_rng(0))

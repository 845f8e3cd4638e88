r"""Evaluation a referee accepts (issue 16): aggregate scores across seeds and tasks with the
interquartile mean and stratified bootstrap intervals, as a fraction of the oracle's value or of
its certainty-equivalent growth, paired differences, t intervals, and control variates.

Scores are matrices of shape ``(n_runs, n_tasks)``: ``scores[n, m]`` is run ``n`` (a training
seed, or a Monte Carlo seed) on task ``m`` (a market); a 1-d array is one task. The estimators
are those of Agarwal et al., *Deep reinforcement learning at the edge of the statistical
precipice* (NeurIPS 2021; the ``rliable`` package, not a dependency here):

* the **interquartile mean** (IQM) pools all runs of all tasks and averages the middle 50%
  (``scipy.stats.trim_mean(scores, 0.25, axis=None)``; :func:`iqm`), robust to a few outlying
  runs yet using half of them, unlike the median;
* the **stratified bootstrap** resamples, with replacement, the runs of each task separately (the
  task set is fixed) and reads the interval off the percentiles of the statistic's bootstrap
  distribution (:func:`stratified_bootstrap`);
* scores are **normalised** per task by the oracle's before aggregating
  (:func:`fraction_of_oracle`): the fraction of the oracle's value, or, with log growth as the
  score, of its certainty-equivalent growth (:func:`certainty_equivalent_growth`).

For comparisons on common random numbers, :func:`paired_differences` and :func:`t_interval`
(Student's t with :math:`n - 1` degrees of freedom, refusing fewer than 10 runs unless told);
:func:`control_variate_mean` reduces the variance of a Monte Carlo mean with controls of known
mean (such as the price's own log return).

Examples
--------
>>> scores = np.array([[0.9, 0.2], [1.0, 0.4], [0.8, 0.3], [5.0, 0.1]])  # 4 runs, 2 tasks
>>> round(iqm(scores), 4)  # the middle four of the eight pooled scores: 0.3, 0.4, 0.8, 0.9
0.6
>>> ci = stratified_bootstrap(iqm, scores, rng=np.random.default_rng(0), n_boot=2000)
>>> bool(ci.low <= ci.estimate <= ci.high)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats

from levpaper._validate import FloatArray, in_range, positive, positive_int

__all__ = [
    "Interval",
    "certainty_equivalent_growth",
    "control_variate_mean",
    "fraction_of_oracle",
    "iqm",
    "paired_differences",
    "score_matrix",
    "stratified_bootstrap",
    "t_interval",
]

MIN_RUNS = 10
"""Fewest runs :func:`t_interval` accepts unless ``allow_small``."""

_CHUNK = 500


def _iqm_rows(x: FloatArray) -> FloatArray:
    """:func:`iqm` of each row (``scipy.stats.trim_mean``'s cut: ``int(0.25 n)`` each end)."""
    n = x.shape[1]
    cut = int(0.25 * n)
    return np.asarray(np.sort(x, axis=1)[:, cut : n - cut].mean(axis=1), dtype=np.float64)


class Interval(NamedTuple):
    """A point estimate with a two-sided interval.

    Attributes
    ----------
    estimate : float
        The point estimate.
    low : float
        Lower end of the interval.
    high : float
        Upper end of the interval.
    level : float
        Nominal coverage of ``[low, high]``.
    """

    estimate: float
    low: float
    high: float
    level: float


def score_matrix(scores: npt.ArrayLike, name: str = "scores") -> FloatArray:
    """``scores`` as a finite float64 matrix ``(n_runs, n_tasks)``; a 1-d array is one task.

    Raises
    ------
    ValueError
        Naming ``name`` if it is not 1-d or 2-d, is empty, or holds a non-finite value.

    Examples
    --------
    >>> score_matrix([1.0, 2.0]).shape
    (2, 1)
    """
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty (n_runs, n_tasks) array, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def iqm(scores: npt.ArrayLike) -> float:
    """Interquartile mean: the mean of the middle 50% of all scores, pooled across runs and tasks
    (``scipy.stats.trim_mean(scores, 0.25, axis=None)``, as ``rliable.metrics.aggregate_iqm``).

    Examples
    --------
    >>> iqm([1.0, 2.0, 3.0, 100.0])  # 1 and 100 are cut
    2.5
    """
    return float(stats.trim_mean(score_matrix(scores), 0.25, axis=None))


def stratified_bootstrap(
    statistic: Callable[..., float],
    *scores: npt.ArrayLike,
    rng: np.random.Generator,
    n_boot: int = 10_000,
    level: float = 0.95,
    paired: bool = False,
) -> Interval:
    r"""Percentile interval of ``statistic(*scores)`` by the stratified bootstrap.

    Each replicate resamples with replacement the runs of every task separately (the rows of
    each column; the tasks are not resampled) and evaluates ``statistic`` on the resampled
    matrices; the interval is the :math:`(1 \mp \text{level})/2` quantiles of the ``n_boot``
    replicates, the estimate the statistic on the data.

    Parameters
    ----------
    statistic : callable
        ``statistic(*matrices) -> float``, e.g. :func:`iqm` or ``lambda a, b: iqm(a) - iqm(b)``.
    *scores : array_like
        One or more score matrices ``(n_runs, n_tasks)`` (1-d: one task), with the same number
        of tasks.
    rng : numpy.random.Generator
        Source of the resampling.
    n_boot : int, default 10_000
        Replicates, >= 100.
    level : float, default 0.95
        Coverage, in (0, 1).
    paired : bool, default False
        Resample the matrices with the same indices (their runs are paired, e.g. on common random
        numbers: the shapes must be equal); otherwise each independently.

    Returns
    -------
    Interval

    Raises
    ------
    ValueError
        Naming the bad argument.

    Examples
    --------
    >>> x = np.random.default_rng(1).normal(size=(20, 3))
    >>> ci = stratified_bootstrap(iqm, x, x + 1.0, rng=np.random.default_rng(2), n_boot=500)
    Traceback (most recent call last):
    ...
    TypeError: iqm() takes 1 positional argument but 2 were given
    >>> ci = stratified_bootstrap(lambda a, b: iqm(b) - iqm(a), x, x + 1.0,
    ...                           rng=np.random.default_rng(2), n_boot=500, paired=True)
    >>> round(ci.low, 12), round(ci.high, 12)  # paired: the difference is exactly 1
    (1.0, 1.0)
    """
    if not callable(statistic):
        raise ValueError(f"statistic must be callable, got {statistic!r}")
    if not scores:
        raise ValueError("scores: give at least one score matrix")
    mats = [score_matrix(s, f"scores[{i}]") for i, s in enumerate(scores)]
    if len({m.shape[1] for m in mats}) != 1:
        raise ValueError(
            f"scores must have the same number of tasks, got {[m.shape for m in mats]}"
        )
    if paired and len({m.shape for m in mats}) != 1:
        raise ValueError(f"paired scores must have one shape, got {[m.shape for m in mats]}")
    b = positive_int("n_boot", n_boot)
    if b < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")
    lev = float(in_range("level", level, 0.0, 1.0, low_closed=False, high_closed=False))
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, got {rng!r}")
    estimate = float(statistic(*mats))
    n_tasks = mats[0].shape[1]
    cols = np.arange(n_tasks)[None, None, :]
    reps = np.empty(b)
    fast = statistic is iqm and len(mats) == 1
    for start in range(0, b, _CHUNK):  # indices drawn a chunk of replicates at a time
        size = min(_CHUNK, b - start)
        if paired:
            idx = rng.integers(0, mats[0].shape[0], size=(size, *mats[0].shape))
            samples = [m[idx, cols] for m in mats]
        else:
            samples = [m[rng.integers(0, m.shape[0], size=(size, *m.shape)), cols] for m in mats]
        if fast:
            reps[start : start + size] = _iqm_rows(samples[0].reshape(size, -1))
        else:
            for r in range(size):
                reps[start + r] = statistic(*(smp[r] for smp in samples))
    low, high = np.quantile(reps, [(1.0 - lev) / 2.0, (1.0 + lev) / 2.0])
    return Interval(estimate, float(low), float(high), lev)


def fraction_of_oracle(
    scores: npt.ArrayLike,
    oracle: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    statistic: Callable[[FloatArray], float] = iqm,
    n_boot: int = 10_000,
    level: float = 0.95,
) -> Interval:
    r"""The scores as a fraction of the oracle's, aggregated by ``statistic`` (IQM by default),
    with a stratified bootstrap interval.

    Each task's scores are divided by the oracle's score on that task, then aggregated. The
    oracle is either exact per task (shape ``(n_tasks,)``, e.g. the dynamic programme's value) or
    estimated on the same runs (shape ``(n_runs, n_tasks)``, paired, e.g. Monte Carlo on common
    random numbers): then each task is divided by the oracle's mean over runs, recomputed in each
    replicate from the same resampled runs, so the interval carries the oracle's error too.

    With log growth :math:`\ln(W_T/W_0)` as the score this is the fraction of the oracle's
    certainty-equivalent growth (:func:`certainty_equivalent_growth` is linear in it).

    Raises
    ------
    ValueError
        If an oracle's score is not > 0, or the shapes do not fit.

    Examples
    --------
    >>> scores = np.array([[0.8, 0.45], [0.9, 0.5], [1.0, 0.55]])
    >>> ci = fraction_of_oracle(scores, [1.0, 0.5], rng=np.random.default_rng(0), n_boot=200)
    >>> round(ci.estimate, 6)
    0.95
    """
    x = score_matrix(scores)
    ref = np.asarray(oracle, dtype=np.float64)
    if ref.ndim <= 1:
        ref = np.broadcast_to(ref, (x.shape[1],)) if ref.ndim == 0 else ref
        if ref.shape != (x.shape[1],) or not np.all(ref > 0):
            raise ValueError(f"oracle must be > 0 per task, shape ({x.shape[1]},), got {ref!r}")
        norm = x / ref[None, :]
        return stratified_bootstrap(statistic, norm, rng=rng, n_boot=n_boot, level=level)
    ref = score_matrix(ref, "oracle")
    if ref.shape != x.shape:
        raise ValueError(f"a per-run oracle must have the scores' shape {x.shape}, got {ref.shape}")
    if not np.all(ref.mean(axis=0) > 0):
        raise ValueError("oracle must have a mean > 0 on every task")

    def frac(s: FloatArray, o: FloatArray) -> float:
        mean = o.mean(axis=0)
        return statistic(s / mean[None, :]) if np.all(mean > 0) else math.nan

    return stratified_bootstrap(frac, x, ref, rng=rng, n_boot=n_boot, level=level, paired=True)


def certainty_equivalent_growth(log_growth: npt.ArrayLike, years: float) -> float:
    r"""Certainty-equivalent growth per year of a log-utility (Kelly) trader:
    :math:`E[\ln(W_T/W_0)]/T`, the rate at which a sure wealth would grow to the certainty
    equivalent :math:`\exp E[\ln W_T]`.

    Examples
    --------
    >>> certainty_equivalent_growth([0.01, 0.03], years=0.5)
    0.04
    """
    x = score_matrix(log_growth, "log_growth")
    return float(x.mean() / float(positive("years", years)))


def paired_differences(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """``a - b`` run by run, for scores on common random numbers (the same seeds, in order).

    Raises
    ------
    ValueError
        If the shapes differ or a value is not finite.

    Examples
    --------
    >>> paired_differences([1.0, 2.0], [0.5, 2.5])
    array([ 0.5, -0.5])
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"a and b must have one non-empty shape, got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("a and b must be finite")
    return np.asarray(x - y, dtype=np.float64)


def t_interval(x: npt.ArrayLike, level: float = 0.95, *, allow_small: bool = False) -> Interval:
    r"""Student's t interval of the mean: :math:`\bar x \pm t_{n-1,(1+\text{level})/2}\,
    s/\sqrt n`.

    Parameters
    ----------
    x : array_like
        Independent runs (1-d), e.g. one score per seed or paired differences.
    level : float, default 0.95
    allow_small : bool, default False
        Accept fewer than ``MIN_RUNS`` (10) runs (at least 2).

    Raises
    ------
    ValueError
        If ``x`` has fewer than 10 runs (2 with ``allow_small``) or is not finite.

    Examples
    --------
    >>> ci = t_interval(np.arange(10.0))
    >>> round(ci.estimate, 3), round(ci.high - ci.estimate, 3)  # t(9) = 2.262, s = 3.028
    (4.5, 2.166)
    >>> t_interval([1.0, 2.0, 3.0])
    Traceback (most recent call last):
    ...
    ValueError: x must hold at least 10 runs for a t interval (allow_small=True to accept 3)
    """
    arr = np.asarray(x, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError("x must be finite")
    n = arr.size
    if n < 2 or (n < MIN_RUNS and not allow_small):
        raise ValueError(
            f"x must hold at least {MIN_RUNS} runs for a t interval "
            f"(allow_small=True to accept {n})"
            if n >= 2
            else f"x must hold at least 2 runs, got {n}"
        )
    lev = float(in_range("level", level, 0.0, 1.0, low_closed=False, high_closed=False))
    mean = float(arr.mean())
    half = float(stats.t.ppf(0.5 + lev / 2.0, n - 1)) * float(arr.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, lev)


def control_variate_mean(
    x: npt.ArrayLike, controls: npt.ArrayLike, means: npt.ArrayLike, level: float = 0.95
) -> Interval:
    r"""Regression control-variate estimate of :math:`E[X]` with controls :math:`C` of known
    means :math:`\mu_C`: :math:`\bar x - \hat\beta^\top(\bar C - \mu_C)`, :math:`\hat\beta` the
    least-squares slope of :math:`X` on :math:`C`, with a normal interval from the residuals'
    standard deviation (:math:`n - 1 - J` degrees of freedom for :math:`J` controls).

    Parameters
    ----------
    x : array_like, shape (n,)
    controls : array_like, shape (n,) or (n, J)
    means : array_like, shape (J,)
        The controls' exact means.
    level : float, default 0.95

    Raises
    ------
    ValueError
        If the shapes do not fit, a value is not finite, or ``n`` <= J + 2.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> c = rng.normal(size=1000)
    >>> x = 2.0 * c + 0.01 * rng.normal(size=1000)  # E[X] = 0
    >>> ci = control_variate_mean(x, c, [0.0])
    >>> abs(ci.estimate) < 0.001, ci.high - ci.low < 0.002
    (True, True)
    """
    xs = np.asarray(x, dtype=np.float64).ravel()
    cs = np.asarray(controls, dtype=np.float64)
    cs = cs[:, None] if cs.ndim == 1 else cs
    mu = np.atleast_1d(np.asarray(means, dtype=np.float64))
    n = xs.size
    if cs.ndim != 2 or cs.shape[0] != n or mu.shape != (cs.shape[1],):
        raise ValueError(f"controls must be (n, J) and means (J,), got {cs.shape}, {mu.shape}")
    if n <= cs.shape[1] + 2:
        raise ValueError(f"x needs more than J + 2 = {cs.shape[1] + 2} values, got {n}")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(cs)) and np.all(np.isfinite(mu))):
        raise ValueError("x, controls and means must be finite")
    lev = float(in_range("level", level, 0.0, 1.0, low_closed=False, high_closed=False))
    cc = cs - cs.mean(axis=0)
    xc = xs - xs.mean()
    beta = np.linalg.lstsq(cc, xc, rcond=None)[0]
    estimate = float(xs.mean() - beta @ (cs.mean(axis=0) - mu))
    resid = xc - cc @ beta
    se = float(np.sqrt(resid @ resid / (n - 1 - cs.shape[1]) / n))
    half = float(stats.norm.ppf(0.5 + lev / 2.0)) * se
    return Interval(estimate, estimate - half, estimate + half, lev)

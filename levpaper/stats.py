r"""Monte Carlo estimators for the market experiments: tail quantiles with bootstrap intervals
and paired ratios of two arms under common random numbers.

The book's risk measures (bad debt, liquidation volume) are statistics of a distribution over
simulated runs: its mean, median, 95th and 99th percentiles. With ``n`` runs a 95th percentile
rests on the ``0.05 n`` largest runs, so the book only reports one from at least 1000 runs, and
always with an interval.

* :func:`statistic` evaluates a named statistic (``"mean"``, ``"median"``, ``"p95"``,
  ``"p99"``) on each row of a sample;
* :func:`bootstrap_ci` gives a statistic of one arm with a percentile-bootstrap interval;
  :func:`tail_summary` gives the four statistics of one arm at once;
* :func:`paired_summary` does both for every group and arm of an experiment's table (one set
  of resamples per group, shared by its arms);
* :func:`paired_ratio_ci` gives the ratio of a statistic of arm ``b`` to that of arm ``a``
  with a *paired* bootstrap interval: when run ``k`` of both arms saw the same price path and
  traders (common random numbers, as :class:`levpaper.experiments.Experiment` seeds them), the
  runs are resampled jointly, so the interval reflects the spread of the difference the control
  makes, not of the market's own randomness. A control "helps" on a statistic only where the
  whole interval lies below 1 (:attr:`RatioEstimate.verdict`).

Quantiles are numpy's linear interpolation (the convention of :func:`levpaper.risk.quantile_ci`,
whose order-statistic interval is the distribution-free alternative for one arm); bootstrap
interval ends are order statistics of the replicates (``method="inverted_cdf"``), so that an
infinite replicate ratio (a zero denominator) never enters an interpolation. Randomness only
through an explicit :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from levpaper._validate import FloatArray, finite, in_range, positive_int

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "STATISTICS",
    "Estimate",
    "RatioEstimate",
    "bootstrap_ci",
    "paired_ratio_ci",
    "paired_summary",
    "statistic",
    "tail_summary",
]

StatName = Literal["mean", "median", "p95", "p99"]
#: The named statistics and the quantile level of each (None for the mean).
STATISTICS: dict[str, float | None] = {"mean": None, "median": 0.5, "p95": 0.95, "p99": 0.99}
#: Bootstrap replicates resampled per block of the vectorised bootstrap (memory bound).
_BLOCK_ELEMENTS = 4_000_000


class Estimate(NamedTuple):
    """A statistic of one sample with a bootstrap interval ``[lower, upper]``."""

    value: float
    lower: float
    upper: float
    n: int


class RatioEstimate(NamedTuple):
    """The ratio ``statistic(b) / statistic(a)`` of two paired arms, with a paired bootstrap
    interval ``[lower, upper]``; ``nan`` when ``statistic(a)`` is 0 (``defined`` False)."""

    value: float
    lower: float
    upper: float
    n: int
    a: float
    b: float

    @property
    def defined(self) -> bool:
        """Whether the ratio exists (the reference arm's statistic is not 0)."""
        return bool(np.isfinite(self.value))

    @property
    def verdict(self) -> str:
        """``"lower"`` if the interval lies below 1, ``"higher"`` if above, ``"unclear"`` if it
        contains 1, ``"same"`` if the ratio and its whole interval are exactly 1 (the arms agree
        in every resample: the control never acted), ``"undefined"`` if the ratio does not
        exist (both arms 0: ``"equal"``).

        Examples
        --------
        >>> RatioEstimate(0.8, 0.7, 0.9, 1000, 10.0, 8.0).verdict
        'lower'
        >>> RatioEstimate(0.9, 0.7, 1.1, 1000, 10.0, 9.0).verdict
        'unclear'
        >>> RatioEstimate(1.0, 1.0, 1.0, 1000, 9.0, 9.0).verdict
        'same'
        """
        if not self.defined:
            return "equal" if self.a == 0.0 and self.b == 0.0 else "undefined"
        if self.value == self.lower == self.upper == 1.0:
            return "same"
        if self.upper < 1.0:
            return "lower"
        if self.lower > 1.0:
            return "higher"
        return "unclear"


def _stat_level(name: str) -> float | None:
    if name not in STATISTICS:
        raise ValueError(f"stat must be one of {sorted(STATISTICS)}, got {name!r}")
    return STATISTICS[name]


def statistic(values: npt.ArrayLike, stat: StatName | str = "p95") -> float | FloatArray:
    """A named statistic of ``values`` along the last axis.

    Parameters
    ----------
    values : array_like
        One number per run (last axis), finite.
    stat : {"mean", "median", "p95", "p99"}, default "p95"
        Percentiles are numpy's linear-interpolation quantiles.

    Returns
    -------
    float or ndarray
        A float for 1-d input, an array of the leading shape otherwise.

    Raises
    ------
    ValueError
        If ``values`` is empty or not finite, or ``stat`` is unknown.

    Examples
    --------
    >>> x = np.arange(1.0, 101.0)
    >>> statistic(x, "mean"), statistic(x, "median"), round(statistic(x, "p95"), 6)
    (50.5, 50.5, 95.05)
    >>> statistic(x, "p90")
    Traceback (most recent call last):
    ...
    ValueError: stat must be one of ['mean', 'median', 'p95', 'p99'], got 'p90'
    """
    arr = finite("values", values)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"values must be a non-empty sample (at least 1-d), got {values!r}")
    q = _stat_level(stat)
    out = arr.mean(axis=-1) if q is None else np.quantile(arr, q, axis=-1)
    return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=np.float64)


def _check_boot(n_boot: int, level: float, rng: np.random.Generator) -> tuple[int, float]:
    b = positive_int("n_boot", n_boot)
    c = float(in_range("level", level, 0.0, 1.0, low_closed=False, high_closed=False))
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, got {rng!r}")
    return b, c


def _replicates(
    samples: tuple[FloatArray, ...],
    fn: Callable[..., FloatArray],
    n_boot: int,
    rng: np.random.Generator,
) -> FloatArray:
    """``fn`` of ``n_boot`` bootstrap resamples of the run indices, shared by all samples."""
    n = samples[0].shape[0]
    block = max(1, _BLOCK_ELEMENTS // n)
    out = np.empty(n_boot)
    for start in range(0, n_boot, block):
        stop = min(start + block, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = fn(*(s[idx] for s in samples))
    return out


def _interval(reps: FloatArray, level: float) -> tuple[float, float]:
    reps = reps[~np.isnan(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    half = 0.5 * (1.0 - level)
    lo, hi = np.quantile(reps, [half, 1.0 - half], method="inverted_cdf")
    return float(lo), float(hi)


def _sample(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = finite(name, values)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"{name} must be a 1-d sample of at least 2 runs, got shape {arr.shape}")
    return arr


def bootstrap_ci(
    values: npt.ArrayLike,
    stat: StatName | str = "p95",
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> Estimate:
    """A statistic of one sample with a percentile-bootstrap interval.

    Parameters
    ----------
    values : array_like
        One number per run, 1-d, finite, at least 2 runs.
    stat : {"mean", "median", "p95", "p99"}, default "p95"
    rng : numpy.random.Generator
        Draws the resamples.
    n_boot : int, default 2000
        Bootstrap replicates.
    level : float, default 0.95
        Confidence level of the interval, in (0, 1).

    Returns
    -------
    Estimate
        ``value`` (the statistic of the sample), ``lower``, ``upper`` (the ``(1-level)/2`` and
        ``(1+level)/2`` order statistics of the replicates) and ``n``.

    Raises
    ------
    ValueError
        Naming the bad argument.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.exponential(size=2000)
    >>> est = bootstrap_ci(x, "p95", rng=rng, n_boot=500)
    >>> bool(est.lower < -np.log(0.05) < est.upper), est.n  # the true p95 is ln 20
    (True, 2000)
    >>> bootstrap_ci([1.0], rng=rng)
    Traceback (most recent call last):
    ...
    ValueError: values must be a 1-d sample of at least 2 runs, got shape (1,)
    """
    x = _sample("values", values)
    b, c = _check_boot(n_boot, level, rng)
    q = _stat_level(stat)

    def fn(xs: FloatArray) -> FloatArray:
        return np.asarray(xs.mean(axis=1) if q is None else np.quantile(xs, q, axis=1))

    value = statistic(x, stat)
    assert isinstance(value, float)
    lo, hi = _interval(_replicates((x,), fn, b, rng), c)
    return Estimate(value, lo, hi, int(x.size))


def tail_summary(
    values: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> dict[str, Estimate]:
    """Mean, median, 95th and 99th percentile of one sample, each with a bootstrap interval
    (:func:`bootstrap_ci`, the four from the same resamples).

    Examples
    --------
    >>> out = tail_summary(np.arange(1.0, 1001.0), rng=np.random.default_rng(1), n_boot=200)
    >>> list(out), out["median"].value, round(out["p99"].value, 2)
    (['mean', 'median', 'p95', 'p99'], 500.5, 990.01)
    """
    x = _sample("values", values)
    b, c = _check_boot(n_boot, level, rng)
    names = list(STATISTICS)
    reps = np.empty((len(names), b))
    n = x.size
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, b, block):
        stop = min(start + block, b)
        xs = x[rng.integers(0, n, size=(stop - start, n))]
        reps[0, start:stop] = xs.mean(axis=1)
        reps[1:, start:stop] = np.quantile(xs, [0.5, 0.95, 0.99], axis=1)
    out = {}
    for i, name in enumerate(names):
        value = statistic(x, name)
        assert isinstance(value, float)
        lo, hi = _interval(reps[i], c)
        out[name] = Estimate(value, lo, hi, int(n))
    return out


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / den
    return np.where((den == 0.0) & (num == 0.0), np.nan, np.where(den == 0.0, np.inf, r))


def paired_ratio_ci(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    stat: StatName | str = "p95",
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> RatioEstimate:
    r"""``statistic(b) / statistic(a)`` of two paired arms with a paired bootstrap interval.

    Run ``k`` of ``a`` and run ``k`` of ``b`` must come from the same seed (common random
    numbers). Each replicate draws ``n`` run indices with replacement and evaluates the
    statistic of both arms on the *same* indices, so the interval is that of the ratio under
    the pairing. A replicate whose ``a`` statistic is 0 counts as an infinite ratio (as no
    finite number, it sits above every finite replicate), and one with both 0 is dropped.

    Parameters
    ----------
    a, b : array_like
        The reference arm (e.g. no control) and the other arm, one number per run, 1-d, of the
        same length >= 2, finite.
    stat : {"mean", "median", "p95", "p99"}, default "p95"
    rng : numpy.random.Generator
    n_boot : int, default 2000
    level : float, default 0.95

    Returns
    -------
    RatioEstimate
        ``value`` = ``b_stat / a_stat`` (nan if ``a_stat`` is 0), the interval, ``n`` and the
        two statistics ``a``, ``b``.

    Raises
    ------
    ValueError
        If the arms differ in length, or naming another bad argument.

    Examples
    --------
    A control that removes 20% of every run's loss, seen through noise common to both arms:

    >>> rng = np.random.default_rng(2)
    >>> base = rng.lognormal(0.0, 1.5, size=1000)
    >>> est = paired_ratio_ci(base, 0.8 * base, "p95", rng=rng, n_boot=500)
    >>> round(est.value, 6), round(est.lower, 6), round(est.upper, 6), est.verdict
    (0.8, 0.8, 0.8, 'lower')
    >>> paired_ratio_ci([0.0, 0.0], [0.0, 0.0], "mean", rng=rng).verdict
    'equal'
    >>> paired_ratio_ci([1.0, 2.0], [1.0, 2.0, 3.0], rng=rng)
    Traceback (most recent call last):
    ...
    ValueError: a and b must have the same number of runs (paired), got 2 and 3
    """
    x = _sample("a", a)
    y = _sample("b", b)
    if x.shape != y.shape:
        raise ValueError(
            f"a and b must have the same number of runs (paired), got {x.size} and {y.size}"
        )
    nb, c = _check_boot(n_boot, level, rng)
    q = _stat_level(stat)

    def fn(xs: FloatArray, ys: FloatArray) -> FloatArray:
        if q is None:
            return _ratio(ys.mean(axis=1), xs.mean(axis=1))
        return _ratio(np.quantile(ys, q, axis=1), np.quantile(xs, q, axis=1))

    sa, sb = statistic(x, stat), statistic(y, stat)
    assert isinstance(sa, float) and isinstance(sb, float)
    if sa == 0.0:
        return RatioEstimate(float("nan"), float("nan"), float("nan"), int(x.size), sa, sb)
    lo, hi = _interval(_replicates((x, y), fn, nb, rng), c)
    return RatioEstimate(sb / sa, lo, hi, int(x.size), sa, sb)


def _linear_quantiles(sorted_rows: FloatArray, levels: Sequence[float]) -> FloatArray:
    """numpy's linear-interpolation quantiles of rows already sorted along the last axis."""
    n = sorted_rows.shape[-1]
    out = []
    for q in levels:
        h = (n - 1) * q
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        frac = h - lo
        out.append(sorted_rows[..., lo] + frac * (sorted_rows[..., hi] - sorted_rows[..., lo]))
    return np.stack(out)


def _all_stats(rows: FloatArray, stats: Sequence[str]) -> FloatArray:
    """The statistics ``stats`` of each row, shape (len(stats), rows)."""
    srt = np.sort(rows, axis=-1)
    out = np.empty((len(stats), *rows.shape[:-1]))
    for i, name in enumerate(stats):
        q = STATISTICS[name]
        out[i] = srt.mean(axis=-1) if q is None else _linear_quantiles(srt, [q])[0]
    return out


def paired_summary(
    table: pd.DataFrame,
    *,
    by: Sequence[str],
    arm: str,
    reference: Any,
    fields: Sequence[str],
    stats: Sequence[str] = ("mean", "median", "p95", "p99"),
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    pair: str = "replicate",
) -> pd.DataFrame:
    """Every statistic of every field per group and arm, and each arm's paired ratio to the
    reference arm with a bootstrap interval (:func:`paired_ratio_ci`, vectorised).

    Within a group of ``by`` (e.g. a scenario), the runs of every arm are matched by ``pair``
    (the replicate index: under common random numbers run ``k`` of every arm saw the same
    paths and traders) and resampled with the same indices, so all the ratios of a group come
    from one set of ``n_boot`` resamples of the runs.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per run (:func:`levpaper.experiments.load`).
    by : sequence of str
        Columns that define a group (may be empty).
    arm : str
        Column naming the arm (e.g. ``"control"``).
    reference : object
        The ``arm`` value of the reference arm (e.g. ``"none"``), present in every group.
    fields : sequence of str
        Numeric columns to summarise (e.g. ``"bad_debt"``).
    stats : sequence of str, default all of :data:`STATISTICS`
    rng : numpy.random.Generator
    n_boot : int, default 2000
    level : float, default 0.95
    pair : str, default "replicate"
        Column that pairs the runs of the arms; every arm of a group must hold the same values.

    Returns
    -------
    pandas.DataFrame
        One row per group, arm, field and statistic: the ``by`` columns, ``arm``, ``field``,
        ``stat``, ``n``, ``value``, ``reference`` (the reference arm's value), ``ratio``,
        ``lower``, ``upper`` (nan for the reference arm and where the reference value is 0) and
        ``verdict`` (:attr:`RatioEstimate.verdict`; ``"reference"`` for the reference arm).

    Raises
    ------
    ValueError
        If a group lacks the reference arm or an arm's runs do not pair with it.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> loss = rng.lognormal(0.0, 1.0, size=1000)
    >>> t = pd.DataFrame({"replicate": np.tile(np.arange(1000), 2),
    ...                   "control": ["none"] * 1000 + ["half"] * 1000,
    ...                   "bad_debt": np.r_[loss, 0.5 * loss]})
    >>> s = paired_summary(t, by=[], arm="control", reference="none", fields=["bad_debt"],
    ...                    stats=["mean", "p99"], rng=rng, n_boot=200)
    >>> s[s.control == "half"][["stat", "ratio", "verdict"]].round(6).to_numpy().tolist()
    [['mean', 0.5, 'lower'], ['p99', 0.5, 'lower']]
    """
    import pandas as pd

    nb, c = _check_boot(n_boot, level, rng)
    for name in stats:
        _stat_level(name)
    rows: list[dict[str, Any]] = []
    groups = table.groupby(list(by), sort=False) if by else [((), table)]
    for key, sub in groups:
        key_t = key if isinstance(key, tuple) else (key,)
        where = dict(zip(by, key_t, strict=True))
        arms = {a: g.sort_values(pair) for a, g in sub.groupby(arm, sort=False)}
        if reference not in arms:
            raise ValueError(f"group {where} has no {arm} = {reference!r} (the reference arm)")
        ref = arms[reference]
        pairs = ref[pair].to_numpy()
        n = pairs.size
        if n < 2:
            raise ValueError(f"group {where} has fewer than 2 runs of the reference arm")
        for a, g in arms.items():
            if not np.array_equal(g[pair].to_numpy(), pairs):
                raise ValueError(
                    f"group {where}: the runs of {arm} = {a!r} do not pair with the reference "
                    f"arm's by {pair!r}"
                )
        idx = rng.integers(0, n, size=(nb, n))
        for f in fields:
            ref_x = finite(f, ref[f].to_numpy(dtype=np.float64))
            ref_val = _all_stats(ref_x, stats)
            ref_reps = _all_stats(ref_x[idx], stats)
            for a, g in arms.items():
                x = finite(f, g[f].to_numpy(dtype=np.float64))
                val = _all_stats(x, stats)
                reps = ref_reps if a == reference else _all_stats(x[idx], stats)
                for i, name in enumerate(stats):
                    row = {**where, arm: a, "field": f, "stat": name, "n": n,
                           "value": float(val[i]), "reference": float(ref_val[i])}  # fmt: skip
                    if a == reference:
                        row.update(ratio=math.nan, lower=math.nan, upper=math.nan,
                                   verdict="reference")  # fmt: skip
                    else:
                        if ref_val[i] == 0.0:
                            est = RatioEstimate(math.nan, math.nan, math.nan, n,
                                                float(ref_val[i]), float(val[i]))  # fmt: skip
                        else:
                            lo, hi = _interval(_ratio(reps[i], ref_reps[i]), c)
                            est = RatioEstimate(float(val[i] / ref_val[i]), lo, hi, n,
                                                float(ref_val[i]), float(val[i]))  # fmt: skip
                        row.update(ratio=est.value, lower=est.lower, upper=est.upper,
                                   verdict=est.verdict)  # fmt: skip
                    rows.append(row)
    return pd.DataFrame(rows)

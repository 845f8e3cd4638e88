r"""Real prices: the bundled hourly BTC/USD candles, their checks, and liquidation on real paths.

The package carries one data file, ``btc_usd_hourly.csv`` (hourly BTC/USD candles from
2018-05-15 to 2022-03-01, MIT-licensed example file of the Gym-Trading-Env repository; see
``PROVENANCE.md`` next to it). :func:`load_btc_usd_hourly` reads it through
``importlib.resources``, so it works from an installed wheel, checks its sha256 and every row
(:func:`validate_candles`) and returns :class:`Candles`, oldest first. :func:`split` cuts the
fit period (2018-2020) from the hold-out period (2021-2022).

:func:`empirical_liquidation` is the real-data counterpart of the liquidation probability of
section 4.2 (E15): for every start hour, whether a position opened at that hour's open price at
leverage :math:`L` would reach its liquidation barrier
(:func:`levpaper.first_passage.liquidation_barrier`) within the horizon, an intra-hour touch
being seen in the candle's low (a long) or high (a short). The windows of consecutive start
hours overlap, so the indicators are strongly dependent; :func:`block_bootstrap_ci`
(moving-block bootstrap of the mean) and :func:`newey_west_se` give intervals that account for
it.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from levpaper._validate import FloatArray, in_range, one_of, positive_int
from levpaper.first_passage import Side, liquidation_barrier

__all__ = [
    "BTC_USD_HOURLY_SHA256",
    "Candles",
    "Interval",
    "barrier_race",
    "block_bootstrap_ci",
    "empirical_liquidation",
    "liquidation_frequency",
    "load_btc_usd_hourly",
    "newey_west_se",
    "read_candles",
    "split",
    "validate_candles",
]

BTC_USD_HOURLY_SHA256 = "b5ccfdef2aa852ded1ea03378c1777757d2c27a81d53e0fc81af0011fed9cccf"
"""sha256 of the bundled ``btc_usd_hourly.csv`` (``PROVENANCE.md``)."""

_FILE = "btc_usd_hourly.csv"
_REQUIRED = ("unix", "open", "high", "low", "close", "volume", "Volume USD")
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Candles:
    """Hourly candles, oldest first: open time and open, high, low, close, base-asset volume.

    Attributes
    ----------
    time : ndarray
        Open time of each candle, UTC (``datetime64[s]``).
    open : ndarray
        Open prices (float64, as the other columns).
    high : ndarray
        Highs; ``max(open, close) <= high`` on every row.
    low : ndarray
        Lows; ``low <= min(open, close)`` on every row.
    close : ndarray
        Closes.
    volume : ndarray
        Volume in the base asset (BTC for the bundled file).

    Examples
    --------
    >>> c = load_btc_usd_hourly()
    >>> len(c), str(c.time[0]), str(c.time[-1])
    (33259, '2018-05-15T06:00:00', '2022-03-01T00:00:00')
    """

    time: npt.NDArray[np.datetime64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.close.size)

    def __repr__(self) -> str:
        if not len(self):
            return "Candles(<empty>)"
        return f"Candles(<{len(self)} hours, {self.time[0]} to {self.time[-1]}>)"

    def select(self, mask: npt.NDArray[np.bool_]) -> Candles:
        """The candles where ``mask`` is true (a contiguous range keeps the hourly grid)."""
        return Candles(
            self.time[mask],
            self.open[mask],
            self.high[mask],
            self.low[mask],
            self.close[mask],
            self.volume[mask],
        )

    def years(self, first: int, last: int) -> Candles:
        """The candles whose open time lies in the calendar years ``first`` to ``last`` (UTC).

        Examples
        --------
        >>> c = load_btc_usd_hourly().years(2021, 2021)
        >>> len(c), str(c.time[0])
        (8760, '2021-01-01T00:00:00')
        """
        year = self.time.astype("datetime64[Y]").astype(np.int64) + 1970
        return self.select((year >= first) & (year <= last))

    def log_returns(self) -> FloatArray:
        r"""Hourly log returns :math:`\ln(C_{t+1}/C_t)` of the closes, ``len(self) - 1`` of them."""
        return np.diff(np.log(self.close))


def validate_candles(
    unix: npt.ArrayLike,
    open_: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    *,
    lines: npt.ArrayLike | None = None,
    step: int = 3600,
) -> None:
    """Check candles row by row; raise ``ValueError`` naming the first bad row and the rule.

    Rules: every price finite and > 0; ``low <= open <= high`` and ``low <= close <= high``;
    open times strictly monotone (either direction, the same throughout) in steps of exactly
    ``step`` seconds, so no gap and no duplicate.

    Parameters
    ----------
    unix : array_like of int
        Open times in seconds since the epoch, in the order of the file.
    open_, high, low, close : array_like
        Prices, same length.
    lines : array_like of int, optional
        The line of each row in its file (for the message); default the row number from 1.
    step : int, default 3600
        Seconds between consecutive candles.

    Raises
    ------
    ValueError
        Naming the row (line and timestamp) and the rule it breaks, or a parameter of the wrong
        shape.

    Examples
    --------
    >>> validate_candles([0, 3600], [10, 11], [12, 12], [9, 10], [11, 11.5])
    >>> validate_candles([0, 3600], [10, 11], [12, 12], [9, 10], [11, 12.5])
    Traceback (most recent call last):
    ...
    ValueError: row 2 (1970-01-01T01:00:00): close 12.5 above high 12.0
    >>> validate_candles([0, 7200], [10, 11], [12, 12], [9, 10], [11, 11])
    Traceback (most recent call last):
    ...
    ValueError: row 2 (1970-01-01T02:00:00): gap: 7200 s after the previous row, expected 3600
    """
    t = np.asarray(unix, dtype=np.int64)
    cols = {name: np.asarray(v, dtype=np.float64) for name, v in
            (("open", open_), ("high", high), ("low", low), ("close", close))}  # fmt: skip
    n = t.size
    if t.ndim != 1 or any(v.shape != (n,) for v in cols.values()):
        raise ValueError("unix, open_, high, low and close must be 1-d arrays of one length")
    rows = np.arange(1, n + 1) if lines is None else np.asarray(lines, dtype=np.int64)
    if rows.shape != (n,):
        raise ValueError(f"lines must have the length of unix ({n}), got shape {rows.shape}")
    step = positive_int("step", step)
    word = "row" if lines is None else "line"

    def fail(i: int, rule: str) -> None:
        stamp = np.datetime64(int(t[i]), "s")
        raise ValueError(f"{word} {int(rows[i])} ({stamp}): {rule}")

    for name, v in cols.items():
        bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
        if bad.size:
            fail(int(bad[0]), f"{name} price must be finite and > 0, got {float(v[bad[0]])!r}")
    o, h, lo, c = cols["open"], cols["high"], cols["low"], cols["close"]
    checks = (
        (lo > o, lambda i: f"low {float(lo[i])!r} above open {float(o[i])!r}"),
        (lo > c, lambda i: f"low {float(lo[i])!r} above close {float(c[i])!r}"),
        (o > h, lambda i: f"open {float(o[i])!r} above high {float(h[i])!r}"),
        (c > h, lambda i: f"close {float(c[i])!r} above high {float(h[i])!r}"),
    )
    first_bad = [(int(np.argmax(m)), k) for k, (m, _) in enumerate(checks) if m.any()]
    if first_bad:
        i, k = min(first_bad)
        fail(i, checks[k][1](i))
    if n < 2:
        return
    d = np.diff(t)
    sign = 1 if d[0] > 0 else -1
    bad = np.flatnonzero(d * sign != step)
    if bad.size:
        i = int(bad[0])
        if d[i] == 0:
            fail(i + 1, "duplicate timestamp")
        if np.sign(d[i]) != sign:
            fail(i + 1, f"timestamps not monotone: {int(d[i])} s after the previous row")
        kind = "gap" if abs(int(d[i])) > step else "not on the hourly grid"
        fail(i + 1, f"{kind}: {abs(int(d[i]))} s after the previous row, expected {step}")


def _parse(text: str) -> tuple[IntArray, FloatArray, IntArray]:
    """Columns of a candle file: open times, prices and volumes (6 columns), file lines."""
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValueError("path: the file is empty") from None
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise ValueError(f"path: missing column(s) {', '.join(missing)} (header: {header})")
    idx = [header.index(c) for c in _REQUIRED]
    date_col = header.index("date") if "date" in header else None
    unix: list[int] = []
    values: list[list[float]] = []
    lines: list[int] = []
    dates: list[str] = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            unix.append(int(float(row[idx[0]])))
            values.append([float(row[j]) for j in idx[1:]])
        except (ValueError, IndexError):
            raise ValueError(f"line {line}: cannot read a number in {row!r}") from None
        if date_col is not None:
            dates.append(row[date_col])
        lines.append(line)
    if not unix:
        raise ValueError("path: the file holds no candles")
    t = np.array(unix, dtype=np.int64)
    if date_col is not None:
        try:
            stamp = np.array(dates, dtype="datetime64[s]").astype(np.int64)
        except ValueError:
            stamp = None
        if stamp is None or np.any(stamp != t):
            bad = 0 if stamp is None else int(np.argmax(stamp != t))
            raise ValueError(
                f"line {lines[bad]} ({np.datetime64(int(t[bad]), 's')}): "
                f"date {dates[bad]!r} disagrees with unix {int(t[bad])}"
            )
    return t, np.array(values, dtype=np.float64), np.array(lines, dtype=np.int64)


def read_candles(path: str | Path, *, sha256: str | None = None) -> Candles:
    """Read, check and return a candle file in the bundled file's format, oldest first.

    The file is CSV with a header holding at least ``unix, open, high, low, close, volume,
    Volume USD`` (and optionally ``date``, which must agree with ``unix``), rows in either time
    order. Every row is checked by :func:`validate_candles`. The base-asset volume of a row is
    the smaller of its two volume columns (which repairs the swapped columns of the older rows of
    the bundled file, ``PROVENANCE.md``).

    Parameters
    ----------
    path : str or Path
        The file.
    sha256 : str, optional
        Expected sha256 of the file's bytes (hex); checked if given.

    Raises
    ------
    ValueError
        On a checksum mismatch, a missing column, an unreadable number or a row breaking a rule of
        :func:`validate_candles` (naming its line and timestamp).
    """
    data = Path(path).read_bytes()
    return _from_bytes(data, sha256, str(path))


def _from_bytes(data: bytes, sha256: str | None, where: str) -> Candles:
    if sha256 is not None:
        got = hashlib.sha256(data).hexdigest()
        if got != sha256.lower():
            raise ValueError(f"path: sha256 of {where} is {got}, expected {sha256.lower()}")
    t, v, lines = _parse(data.decode("utf-8"))
    validate_candles(t, v[:, 0], v[:, 1], v[:, 2], v[:, 3], lines=lines)
    order = np.argsort(t, kind="stable")
    v = v[order]
    return Candles(
        time=t[order].astype("datetime64[s]"),
        open=np.ascontiguousarray(v[:, 0]),
        high=np.ascontiguousarray(v[:, 1]),
        low=np.ascontiguousarray(v[:, 2]),
        close=np.ascontiguousarray(v[:, 3]),
        volume=np.ascontiguousarray(np.minimum(v[:, 4], v[:, 5])),
    )


def load_btc_usd_hourly(path: str | Path | None = None) -> Candles:
    """Hourly BTC/USD candles 2018-05-15 06:00 to 2022-03-01 00:00 UTC, checked, oldest first.

    Parameters
    ----------
    path : str or Path, optional
        Read this file instead of the bundled one (no checksum then, every row still checked).

    Returns
    -------
    Candles
        33,259 hourly candles for the bundled file.

    Raises
    ------
    ValueError
        If the bundled file's sha256 is not :data:`BTC_USD_HOURLY_SHA256`, or a row is bad.

    Examples
    --------
    >>> c = load_btc_usd_hourly()
    >>> float(c.close[0]), float(c.close[-1])
    (8740.99, 43312.27)
    """
    if path is not None:
        return read_candles(path)
    data = resources.files("levpaper.data").joinpath(_FILE).read_bytes()
    return _from_bytes(data, BTC_USD_HOURLY_SHA256, f"the bundled {_FILE}")


def split(
    candles: Candles, fit: tuple[int, int] = (2018, 2020), holdout: tuple[int, int] = (2021, 2022)
) -> tuple[Candles, Candles]:
    """The fit period and the hold-out period, by calendar year (inclusive, UTC).

    Raises
    ------
    ValueError
        If the periods overlap or either is empty.

    Examples
    --------
    >>> fit, hold = split(load_btc_usd_hourly())
    >>> str(fit.time[-1]), str(hold.time[0]), len(fit) + len(hold)
    ('2020-12-31T23:00:00', '2021-01-01T00:00:00', 33259)
    """
    if not (fit[0] <= fit[1] and holdout[0] <= holdout[1]):
        raise ValueError(f"fit and holdout must be (first, last) years, got {fit}, {holdout}")
    if fit[1] >= holdout[0] and holdout[1] >= fit[0]:
        raise ValueError(f"fit {fit} and holdout {holdout} must not overlap")
    a, b = candles.years(*fit), candles.years(*holdout)
    for name, part in (("fit", a), ("holdout", b)):
        if not len(part):
            raise ValueError(f"{name}: no candles in the years {fit if name == 'fit' else holdout}")
    return a, b


# --- liquidation on real paths ------------------------------------------------------------------


def empirical_liquidation(
    candles: Candles,
    leverage: float,
    side: Side,
    horizon_hours: int,
    maintenance: float = 0.005,
    *,
    intrahour: bool = True,
) -> npt.NDArray[np.bool_]:
    r"""Whether a position opened at each start hour is liquidated within ``horizon_hours``.

    A position opened at the open price :math:`O_i` of hour :math:`i` with leverage :math:`L` has
    the barrier :math:`B = O_i\,b(L, m)` of :func:`~levpaper.first_passage.liquidation_barrier`.
    It is liquidated within :math:`h` hours if the low (a long) or the high (a short) of one of
    the candles :math:`i, \dots, i+h-1` is at or beyond :math:`B` (``intrahour=True``, a touch at
    any time in the hour), or if one of their closes is (``intrahour=False``, the price checked
    once an hour, as by the environment's margin engine and by the BGK-corrected formula).

    Parameters
    ----------
    candles : Candles
        Hourly candles, oldest first, on a gap-free grid.
    leverage : float
        :math:`L \ge 1`.
    side : {"long", "short"}
    horizon_hours : int
        :math:`h \ge 1`.
    maintenance : float, default 0.005
        Maintenance rate :math:`m` (E8).
    intrahour : bool, default True
        Use highs and lows (continuous monitoring) or closes only (hourly checks).

    Returns
    -------
    ndarray of bool, shape (len(candles) - horizon_hours + 1,)
        One indicator per start hour whose whole window lies in the data.

    Raises
    ------
    ValueError
        Naming the parameter out of range (a horizon longer than the data included).

    Examples
    --------
    >>> c = load_btc_usd_hourly()
    >>> hit = empirical_liquidation(c, 100, "long", 24)
    >>> hit.size, round(float(hit.mean()), 3)
    (33236, 0.843)
    """
    s = one_of("side", side, ("long", "short"))
    h = positive_int("horizon_hours", horizon_hours)
    if h > len(candles):
        raise ValueError(f"horizon_hours must be <= len(candles) = {len(candles)}, got {h}")
    bar = float(liquidation_barrier(leverage, maintenance, side))
    if s == "long":
        path = candles.low if intrahour else candles.close
        worst = sliding_window_view(path, h).min(axis=1)
        return np.asarray(worst <= bar * candles.open[: worst.size])
    path = candles.high if intrahour else candles.close
    worst = sliding_window_view(path, h).max(axis=1)
    return np.asarray(worst >= bar * candles.open[: worst.size])


def barrier_race(
    candles: Candles, up: float, down: float, max_hours: int
) -> tuple[npt.NDArray[np.int8], int]:
    r"""Which of two price levels a position opened at each start hour reaches first.

    From the open :math:`O_i` of hour :math:`i`, the upper level is :math:`u\,O_i` (``up`` > 1,
    seen in the highs) and the lower :math:`d\,O_i` (``down`` < 1, seen in the lows), over the
    candles :math:`i, \dots, i + h - 1`. A candle that touches both cannot tell the order; it is
    counted as the lower level first (the conservative reading for a long) and counted in the
    second return value.

    Returns
    -------
    outcome : ndarray of int8, shape (len(candles) - max_hours + 1,)
        +1 the upper level first, -1 the lower level first (or both in one candle), 0 neither
        within ``max_hours``.
    ties : int
        Start hours decided by a candle that touched both levels.

    Raises
    ------
    ValueError
        If ``up <= 1``, ``down`` is not in (0, 1) or ``max_hours`` is out of range.

    Examples
    --------
    >>> out, ties = barrier_race(load_btc_usd_hourly(), 1.02, 0.995, 168)
    >>> round(float((out == 1).mean()), 3), round(float((out == -1).mean()), 3), ties
    (0.188, 0.811, 482)
    """
    u = float(in_range("up", up, 1.0, math.inf, low_closed=False, high_closed=False))
    d = float(in_range("down", down, 0.0, 1.0, low_closed=False, high_closed=False))
    h = positive_int("max_hours", max_hours)
    if h > len(candles):
        raise ValueError(f"max_hours must be <= len(candles) = {len(candles)}, got {h}")
    hi = sliding_window_view(candles.high, h)
    lo = sliding_window_view(candles.low, h)
    o = candles.open[: hi.shape[0], None]
    hit_up = hi >= u * o
    hit_down = lo <= d * o
    big = np.int64(h)
    t_up = np.where(hit_up.any(axis=1), hit_up.argmax(axis=1), big)
    t_down = np.where(hit_down.any(axis=1), hit_down.argmax(axis=1), big)
    out = np.zeros(t_up.size, dtype=np.int8)
    out[t_up < t_down] = 1
    out[(t_down <= t_up) & (t_down < big)] = -1
    ties = int(np.sum((t_up == t_down) & (t_down < big)))
    return out, ties


class Interval(NamedTuple):
    """A point estimate with a standard error and a two-sided confidence interval."""

    estimate: float
    se: float
    low: float
    high: float


def block_bootstrap_ci(
    x: npt.ArrayLike,
    block: int,
    rng: np.random.Generator,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
) -> Interval:
    r"""Moving-block bootstrap interval for the mean of a dependent series.

    The series of length :math:`n` is rebuilt ``n_boot`` times from :math:`\lceil n/b\rceil`
    blocks of :math:`b` consecutive values whose starts are drawn uniformly from the
    :math:`n - b + 1` possible ones (Künsch 1989), and cut to length :math:`n`. The mean of each
    rebuilt series is computed from prefix sums, so a draw costs one index per block. The
    interval is the percentile interval; the standard error is the standard deviation of the
    bootstrap means. A block at least as long as the dependence (for overlapping windows of
    :math:`h` hours, several times :math:`h`) keeps the dependence inside the blocks.

    Parameters
    ----------
    x : array_like, 1-d
        The series (for example the indicators of :func:`empirical_liquidation`).
    block : int
        Block length :math:`b`, in ``[1, len(x)]``.
    rng : numpy.random.Generator
        Source of the block starts.
    n_boot : int, default 2000
        Bootstrap replications, >= 2.
    level : float, default 0.95
        Confidence level in (0, 1).

    Raises
    ------
    ValueError
        Naming the parameter out of range.

    Examples
    --------
    >>> x = np.repeat([0.0, 1.0], 50)  # strongly dependent
    >>> ci = block_bootstrap_ci(x, 20, np.random.default_rng(0))
    >>> ci.estimate, ci.low < 0.5 < ci.high, ci.se > 0.05
    (0.5, True, True)
    """
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"x must be a 1-d series of at least 2 values, got shape {v.shape}")
    n = v.size
    b = positive_int("block", block)
    if b > n:
        raise ValueError(f"block must be <= len(x) = {n}, got {b}")
    reps = positive_int("n_boot", n_boot)
    if reps < 2:
        raise ValueError(f"n_boot must be >= 2, got {reps}")
    lvl = float(in_range("level", level, 0.0, 1.0, low_closed=False, high_closed=False))
    k = -(-n // b)
    csum = np.concatenate(([0.0], np.cumsum(v)))
    block_sums = csum[b:] - csum[:-b]  # sum of x[j : j + b], j = 0 .. n - b
    tail = n - (k - 1) * b  # length of the last (cut) block
    tail_sums = csum[tail:] - csum[: n - tail + 1]
    starts = rng.integers(0, n - b + 1, size=(reps, k))
    totals = block_sums[starts[:, :-1]].sum(axis=1) + tail_sums[np.minimum(starts[:, -1], n - tail)]
    means = totals / n
    alpha = 0.5 * (1.0 - lvl)
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(v.mean()), float(means.std(ddof=1)), float(lo), float(hi))


def newey_west_se(x: npt.ArrayLike, lags: int) -> float:
    r"""Newey-West (Bartlett kernel) standard error of the mean of a dependent series.

    :math:`\hat\sigma^2 = \hat\gamma_0 + 2\sum_{k=1}^{K}(1 - k/(K+1))\hat\gamma_k`, the standard
    error :math:`\sqrt{\hat\sigma^2/n}`, with :math:`\hat\gamma_k` the sample autocovariances.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 values or ``lags`` is not in ``[0, len(x))``.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal(10_000)
    >>> round(newey_west_se(x, 0) * 100, 2), round(newey_west_se(x, 20) * 100, 2)
    (1.0, 1.04)
    """
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"x must be a 1-d series of at least 2 values, got shape {v.shape}")
    if isinstance(lags, bool) or not isinstance(lags, int | np.integer) or not 0 <= lags < v.size:
        raise ValueError(f"lags must be an integer in [0, {v.size}), got {lags!r}")
    d = v - v.mean()
    n = v.size
    var = float(d @ d) / n
    for k in range(1, int(lags) + 1):
        var += 2.0 * (1.0 - k / (lags + 1.0)) * float(d[k:] @ d[:-k]) / n
    return math.sqrt(max(var, 0.0) / n)


def liquidation_frequency(
    candles: Candles,
    leverage: float,
    side: Side,
    horizon_hours: int,
    rng: np.random.Generator,
    maintenance: float = 0.005,
    *,
    intrahour: bool = True,
    block: int | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
) -> Interval:
    """Share of start hours liquidated within the horizon, with a moving-block bootstrap interval.

    :func:`empirical_liquidation` then :func:`block_bootstrap_ci` with blocks of ``block`` start
    hours, default ``max(4 * horizon_hours, 168)`` (several windows long, and at least a week,
    which also covers the clustering of volatility over days).

    Examples
    --------
    >>> c = load_btc_usd_hourly()
    >>> f = liquidation_frequency(c, 100, "short", 1, np.random.default_rng(0))
    >>> round(f.estimate, 3), f.low < f.estimate < f.high
    (0.337, True)
    """
    hit = empirical_liquidation(
        candles, leverage, side, horizon_hours, maintenance, intrahour=intrahour
    )
    b = max(4 * int(horizon_hours), 168) if block is None else block
    return block_bootstrap_ci(hit.astype(np.float64), min(b, hit.size), rng, n_boot=n_boot,
                              level=level)  # fmt: skip

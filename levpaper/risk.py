r"""Volatility, risk measures and risk controls (sections 3.2, 4.3 and 5; E16 to E19).

Volatility estimators, on log returns :math:`r_t = \ln(P_{t+1}/P_t)` along the last axis (any
leading axes are independent series, e.g. paths):

* :func:`rolling_volatility` -- sample standard deviation over a trailing window;
* :func:`ewma_volatility` -- :math:`\sigma_t^2 = \lambda\sigma_{t-1}^2 + (1-\lambda) r_t^2`
  (RiskMetrics); both annualised when given the step ``dt``;
* :func:`ema` -- the exponential moving average :math:`\mathrm{EMA}_t = a x_t + (1-a)
  \mathrm{EMA}_{t-1}` used by the circuit breaker.

Return on margin of a leveraged position (E6, E16): :math:`R = L\,\Delta P/P` for a long and
:math:`-L\,\Delta P/P` for a short, optionally truncated at :math:`-1` (the trader cannot lose more
than the margin; anything beyond is bad debt). Before truncation
:math:`\mathrm{Var}(R) = L^2\,\mathrm{Var}(\Delta P/P)` (the paper's E16); truncation removes the
lower tail, so the realised variance is smaller (:func:`leveraged_return_moments`).

Value at risk and expected shortfall of that return, as positive fractions of the margin, three
ways: :func:`var_es_parametric` (log-normal price, i.e. normal *log* returns, exact under GBM),
:func:`var_es_historical` (from a sample of price returns) and :func:`var_es_monte_carlo` (from
simulated paths, optionally with absorbing liquidation at the barrier). Backtests:
:func:`var_breaches`, :func:`binomial_band` and :func:`kupiec_test`.

The measures Gauntlet and Chaos Labs publish: the 95th percentile across simulation runs of bad
debt and of liquidation volume, :func:`p95_bad_debt` and :func:`p95_liquidation_volume`, with a
distribution-free order-statistic confidence interval (:func:`quantile_ci`).

Risk controls of section 5, as pure functions: the dynamic maintenance rate
:math:`m(t) = m_0(1 + \eta\sigma(t))` (E17, :func:`dynamic_maintenance_rate`), the exposure entropy
:math:`H = -\sum p_i \ln p_i` (E18, :func:`exposure_entropy`) and the circuit breaker
:math:`\sigma(t) > \theta\,\mathrm{EMA}(\sigma, t-1)` (E19, :func:`circuit_breaker`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import signal, special, stats

from levpaper._validate import (
    FloatArray,
    finite,
    in_range,
    nonnegative,
    positive,
    positive_int,
    scalar_or_array,
)
from levpaper.first_passage import Side, liquidation_barrier, side_sign

__all__ = [
    "QuantileEstimate",
    "VaRES",
    "binomial_band",
    "circuit_breaker",
    "dynamic_maintenance_rate",
    "ema",
    "ewma_volatility",
    "exposure_entropy",
    "kupiec_test",
    "leveraged_return",
    "leveraged_return_moments",
    "log_returns",
    "one_step_var",
    "p95_bad_debt",
    "p95_liquidation_volume",
    "path_leveraged_return",
    "quantile_ci",
    "rolling_volatility",
    "var_breaches",
    "var_es_from_sample",
    "var_es_historical",
    "var_es_monte_carlo",
    "var_es_parametric",
    "vol_adjusted_leverage",
]

BoolArray = npt.NDArray[np.bool_]


class VaRES(NamedTuple):
    """Value at risk and expected shortfall, as positive losses (fractions of the margin)."""

    var: float
    es: float


class QuantileEstimate(NamedTuple):
    """A sample quantile with a confidence interval ``[lower, upper]``."""

    value: float
    lower: float
    upper: float


# ---------------------------------------------------------------------------------------------
# Volatility
# ---------------------------------------------------------------------------------------------


def _series(name: str, value: npt.ArrayLike) -> FloatArray:
    arr = finite(name, value)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty series (at least 1-d), got {value!r}")
    return arr


def _annualise(variance: FloatArray, dt: float | None) -> FloatArray:
    if dt is not None:
        variance = variance / float(positive("dt", dt))
    return np.sqrt(variance)


def log_returns(prices: npt.ArrayLike) -> FloatArray:
    r"""Log returns :math:`\ln(P_{t+1}/P_t)` along the last axis.

    Examples
    --------
    >>> np.round(log_returns([100.0, 110.0, 99.0]), 6)
    array([ 0.09531 , -0.105361])
    """
    p = positive("prices", prices)
    if p.ndim == 0 or p.shape[-1] < 2:
        raise ValueError(f"prices must have at least 2 entries along the last axis, got {prices!r}")
    return np.diff(np.log(p), axis=-1)


def rolling_volatility(
    returns: npt.ArrayLike, window: int, *, dt: float | None = None
) -> FloatArray:
    r"""Sample standard deviation (``ddof=1``) of the last ``window`` returns, at every time.

    ``out[..., t]`` uses ``returns[..., t - window + 1 : t + 1]`` (no look-ahead) and is NaN for
    ``t < window - 1``.

    Parameters
    ----------
    returns : array_like
        Log returns along the last axis.
    window : int
        Window length, >= 2.
    dt : float, optional
        Step in years; if given the result is annualised, :math:`\hat\sigma/\sqrt{\Delta t}`.

    Returns
    -------
    ndarray
        Same shape as ``returns``.

    Raises
    ------
    ValueError
        If ``window < 2`` or longer than the series, or ``returns`` is not finite.

    Examples
    --------
    >>> np.round(rolling_volatility([0.01, -0.01, 0.02, 0.0], window=2), 6)
    array([     nan, 0.014142, 0.021213, 0.014142])
    """
    r = _series("returns", returns)
    w = positive_int("window", window)
    if w < 2 or w > r.shape[-1]:
        raise ValueError(f"window must lie in [2, {r.shape[-1]}], got {window!r}")
    out = np.full(r.shape, np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(r, w, axis=-1)
    out[..., w - 1 :] = windows.var(axis=-1, ddof=1)
    return _annualise(out, dt)


def ewma_volatility(
    returns: npt.ArrayLike,
    lam: float = 0.94,
    *,
    initial_variance: npt.ArrayLike | None = None,
    dt: float | None = None,
) -> FloatArray:
    r"""EWMA (RiskMetrics) volatility of log returns, :math:`\sigma_t^2 = \lambda\sigma_{t-1}^2
    + (1-\lambda) r_t^2`.

    :math:`\sigma_t` uses returns up to and including :math:`r_t`: it is known at the end of step
    :math:`t` (the circuit breaker compares it with the EMA up to :math:`t-1`). Squared returns
    are not demeaned, the usual choice at short horizons where the mean is negligible.

    Parameters
    ----------
    returns : array_like
        Log returns along the last axis.
    lam : float, default 0.94
        Decay :math:`\lambda` in [0, 1): weight of the past (half-life
        :math:`\ln 2/(-\ln\lambda)` steps, 11.2 at 0.94).
    initial_variance : float or array_like, optional
        :math:`\sigma_{-1}^2` per series, >= 0. Default :math:`r_0^2`, so that
        :math:`\sigma_0 = |r_0|` and nothing after time 0 is used.
    dt : float, optional
        Step in years; if given the result is annualised.

    Returns
    -------
    ndarray
        :math:`\sigma_t`, same shape as ``returns``.

    Raises
    ------
    ValueError
        If ``lam`` is outside [0, 1) or an input is not finite.

    Examples
    --------
    >>> np.round(ewma_volatility([0.01, 0.03, -0.02], lam=0.9), 6)
    array([0.01    , 0.013416, 0.014213])
    """
    r = _series("returns", returns)
    decay = float(in_range("lam", lam, 0.0, 1.0, high_closed=False))
    r2 = r * r
    if initial_variance is None:
        start = r2[..., :1]
    else:
        start = np.broadcast_to(nonnegative("initial_variance", initial_variance), r.shape[:-1])[
            ..., np.newaxis
        ]
    var, _ = signal.lfilter([1.0 - decay], [1.0, -decay], r2, axis=-1, zi=decay * start)
    return _annualise(np.asarray(var, dtype=np.float64), dt)


def ema(x: npt.ArrayLike, alpha: float, *, initial: npt.ArrayLike | None = None) -> FloatArray:
    r"""Exponential moving average along the last axis, :math:`E_t = a x_t + (1-a) E_{t-1}`.

    Parameters
    ----------
    x : array_like
        Series along the last axis, finite.
    alpha : float
        Smoothing :math:`a` in (0, 1] (1: no smoothing; the weight of :math:`x_{t-k}` is
        :math:`a(1-a)^k`).
    initial : float or array_like, optional
        :math:`E_{-1}`; default :math:`x_0`, so that :math:`E_0 = x_0`.

    Returns
    -------
    ndarray
        :math:`E_t`, same shape as ``x``.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 1] or an input is not finite.

    Examples
    --------
    >>> np.round(ema([1.0, 2.0, 3.0], alpha=0.5), 6)
    array([1.  , 1.5 , 2.25])
    """
    v = _series("x", x)
    a = float(in_range("alpha", alpha, 0.0, 1.0, low_closed=False))
    if initial is None:
        start = v[..., :1]
    else:
        start = np.broadcast_to(finite("initial", initial), v.shape[:-1])[..., np.newaxis]
    out, _ = signal.lfilter([a], [1.0, a - 1.0], v, axis=-1, zi=(1.0 - a) * start)
    return np.asarray(out, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Risk controls (section 5)
# ---------------------------------------------------------------------------------------------


def circuit_breaker(
    sigma: npt.ArrayLike,
    theta: float = 2.0,
    alpha: float = 0.1,
    *,
    initial: npt.ArrayLike | None = None,
) -> BoolArray:
    r"""Volatility circuit breaker of section 5.3 (E19): pause when
    :math:`\sigma(t) > \theta\,\mathrm{EMA}(\sigma, t-1)`.

    The EMA is :func:`ema` of the volatility series itself,
    :math:`\mathrm{EMA}_t = a\sigma_t + (1-a)\mathrm{EMA}_{t-1}`. The comparison at :math:`t` uses
    the EMA *up to* :math:`t-1`, so the current spike does not raise its own threshold, and
    nothing after :math:`t` is used (no look-ahead: ``pause[..., :t+1]`` depends only on
    ``sigma[..., :t+1]``). Without ``initial`` there is no EMA before the first observation and
    ``pause[..., 0]`` is False.

    Parameters
    ----------
    sigma : array_like
        Volatility series :math:`\sigma(t)` along the last axis, finite and >= 0 (e.g. from
        :func:`ewma_volatility`; drop the NaN warm-up of :func:`rolling_volatility` first).
    theta : float, default 2.0
        Threshold multiple :math:`\theta > 0` (above 1 for a breaker that stays off in calm
        markets).
    alpha : float, default 0.1
        EMA smoothing in (0, 1].
    initial : float or array_like, optional
        :math:`\mathrm{EMA}_{-1}`, if known from before the series.

    Returns
    -------
    ndarray of bool
        Pause flags, same shape as ``sigma``.

    Raises
    ------
    ValueError
        If ``sigma`` is negative or not finite, ``theta <= 0`` or ``alpha`` outside (0, 1].

    Examples
    --------
    >>> circuit_breaker([0.5, 0.5, 0.5, 1.5, 1.6, 0.5], theta=2.0, alpha=0.5)
    array([False, False, False,  True, False, False])
    """
    s = nonnegative("sigma", sigma)
    if s.ndim == 0 or s.shape[-1] == 0:
        raise ValueError(f"sigma must be a non-empty series (at least 1-d), got {sigma!r}")
    th = float(positive("theta", theta))
    avg = ema(s, alpha, initial=initial)
    pause = np.zeros(s.shape, dtype=bool)
    pause[..., 1:] = s[..., 1:] > th * avg[..., :-1]
    if initial is not None:
        pause[..., 0] = s[..., 0] > th * np.broadcast_to(finite("initial", initial), s.shape[:-1])
    return pause


def dynamic_maintenance_rate(
    m0: npt.ArrayLike,
    eta: npt.ArrayLike,
    sigma: npt.ArrayLike,
    *,
    leverage: npt.ArrayLike | None = None,
) -> float | FloatArray:
    r"""Volatility-scaled maintenance rate, :math:`m(t) = m_0(1 + \eta\sigma(t))` (5.1, E17).

    The paper writes it for a "liquidation threshold" :math:`LT`; here it scales the maintenance
    rate :math:`m` of E7 (equity must stay above :math:`m` times the current notional). A higher
    :math:`m` moves the liquidation price of :func:`~levpaper.first_passage.liquidation_barrier`
    toward the entry price. A position at leverage :math:`L` is liquidated at once when
    :math:`m(t) \ge 1/L`; pass ``leverage`` to rule that out.

    Parameters
    ----------
    m0 : float or array_like
        Base rate :math:`m_0` in [0, 1).
    eta : float or array_like
        Sensitivity :math:`\eta \ge 0`, in units of 1/``sigma`` (with an annualised
        :math:`\sigma = 0.8`, :math:`\eta = 1.25` doubles the rate).
    sigma : float or array_like
        Volatility estimate :math:`\sigma(t) \ge 0`, e.g. annualised :func:`ewma_volatility`.
    leverage : float or array_like, optional
        If given, require :math:`m(t) < 1/L`.

    Returns
    -------
    float or ndarray
        :math:`m(t)`, broadcast over the inputs.

    Raises
    ------
    ValueError
        Naming the input out of range, or if :math:`m(t) \ge 1` (or :math:`\ge 1/L` when
        ``leverage`` is given).

    Examples
    --------
    >>> np.round(dynamic_maintenance_rate(0.005, 1.25, [0.4, 0.8, 1.6]), 6)
    array([0.0075, 0.01  , 0.015 ])
    >>> dynamic_maintenance_rate(0.005, 1.25, 1.6, leverage=100)
    Traceback (most recent call last):
    ...
    ValueError: sigma too high for leverage 100: m(t) must be < 1/leverage = 0.01, got max 0.015
    """
    base = in_range("m0", m0, 0.0, 1.0, high_closed=False)
    sens = nonnegative("eta", eta)
    vol = nonnegative("sigma", sigma)
    m = base * (1.0 + sens * vol)
    if leverage is None:
        if not np.all(m < 1.0):
            raise ValueError(f"m(t) = m0 (1 + eta sigma) must be < 1, got max {np.max(m)!r}")
    else:
        lev = positive("leverage", leverage)
        if not np.all(m * lev < 1.0):
            bound = float(np.min(1.0 / lev))
            raise ValueError(
                f"sigma too high for leverage {leverage!r}: m(t) must be < 1/leverage = "
                f"{bound:g}, got max {float(np.max(m)):g}"
            )
    return scalar_or_array(m)


def exposure_entropy(exposures: npt.ArrayLike) -> float | FloatArray:
    r"""Entropy of exposure weights, section 5.2 (E18), :math:`H = -\sum_i p_i \ln p_i`.

    The weights are absolute exposures normalised to sum to one,
    :math:`p_i = |e_i| / \sum_j |e_j|`, so a short counts like a long of the same size, with
    :math:`0 \ln 0 = 0`. Then :math:`0 \le H \le \ln n`: 0 when all exposure is in one token,
    :math:`\ln n` when it is spread evenly over all :math:`n`.

    Parameters
    ----------
    exposures : array_like
        Signed exposures along the last axis (leading axes: independent portfolios), finite and
        not all zero.

    Returns
    -------
    float or ndarray
        :math:`H` in nats, one per portfolio.

    Raises
    ------
    ValueError
        If an exposure is not finite or a portfolio has no exposure at all.

    Examples
    --------
    >>> round(exposure_entropy([1.0, -1.0, 1.0, -1.0]), 6), round(math.log(4), 6)
    (1.386294, 1.386294)
    >>> exposure_entropy([0.0, 5.0, 0.0])
    0.0
    """
    e = np.abs(_series("exposures", exposures))
    total = e.sum(axis=-1, keepdims=True)
    if not np.all(total > 0):
        raise ValueError(f"exposures must not be all zero, got {exposures!r}")
    p = e / total
    h = -special.xlogy(p, p).sum(axis=-1)
    return scalar_or_array(np.asarray(np.maximum(h, 0.0), dtype=np.float64))


# ---------------------------------------------------------------------------------------------
# Leveraged returns (E6, E16)
# ---------------------------------------------------------------------------------------------


def leveraged_return(
    price_return: npt.ArrayLike,
    leverage: npt.ArrayLike,
    *,
    side: Side = "long",
    truncate: bool = True,
) -> float | FloatArray:
    r"""Return on margin :math:`R = \pm L\,\Delta P/P` (E6), optionally floored at :math:`-1`.

    Parameters
    ----------
    price_return : float or array_like
        Simple price return :math:`\Delta P/P > -1`.
    leverage : float or array_like
        :math:`L > 0`.
    side : {"long", "short"}, default "long"
    truncate : bool, default True
        Floor at :math:`-1`: the trader loses at most the margin and the rest is bad debt.

    Examples
    --------
    >>> leveraged_return([0.02, -0.02], 100)
    array([ 2., -1.])
    >>> leveraged_return(-0.02, 100, truncate=False)
    -2.0
    """
    s = side_sign(side)
    r = in_range("price_return", price_return, -1.0, math.inf, low_closed=False, high_closed=False)
    lev = positive("leverage", leverage)
    out = s * lev * r
    if truncate:
        out = np.maximum(out, -1.0)
    return scalar_or_array(np.asarray(out, dtype=np.float64))


def path_leveraged_return(
    paths: npt.ArrayLike,
    leverage: float,
    *,
    side: Side = "long",
    maintenance: float | None = None,
    truncate: bool = True,
) -> FloatArray:
    r"""Return on margin of a position opened at column 0 and held along each path.

    Without ``maintenance`` the position is held to the last column:
    :math:`R = \pm L(P_n/P_0 - 1)`. With ``maintenance`` :math:`m` liquidation is absorbing: the
    position is closed at the first price :math:`P_k` (:math:`k \ge 1`) at or beyond the
    barrier of :func:`~levpaper.first_passage.liquidation_barrier` and
    :math:`R = \pm L(P_k/P_0 - 1)`. A gap through the barrier gives :math:`R < -1` (bad debt)
    unless ``truncate``. Fees, impact and the liquidation penalty are not modelled here.

    Parameters
    ----------
    paths : array_like, shape (n_paths, n_steps + 1)
        Prices, > 0.
    leverage : float
        :math:`L \ge 1` (with ``maintenance``) or > 0.
    side : {"long", "short"}, default "long"
    maintenance : float, optional
        Maintenance rate in :math:`[0, 1/L)`; None: no liquidation.
    truncate : bool, default True
        Floor :math:`R` at :math:`-1`.

    Returns
    -------
    ndarray, shape (n_paths,)

    Examples
    --------
    >>> paths = np.array([[100.0, 99.4, 101.0], [100.0, 100.2, 101.0]])
    >>> np.round(path_leveraged_return(paths, 100, maintenance=0.005), 6)
    array([-0.6,  1. ])
    """
    p = positive("paths", paths)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(
            f"paths must have shape (n_paths, n_steps + 1) with n_steps >= 1, got {p.shape}"
        )
    s = side_sign(side)
    lev = float(positive("leverage", leverage))
    rel = p[:, 1:] / p[:, :1]
    close = rel[:, -1]
    if maintenance is not None:
        bar = float(liquidation_barrier(lev, maintenance, side))
        beyond = s * (rel - bar) <= 0.0
        hit = beyond.any(axis=1)
        first = beyond.argmax(axis=1)
        close = np.where(hit, rel[np.arange(p.shape[0]), first], close)
    out = s * lev * (close - 1.0)
    if truncate:
        np.maximum(out, -1.0, out=out)
    return np.asarray(out, dtype=np.float64)


def _lognormal_pieces(
    m: FloatArray, sd: FloatArray, k: float, lo: FloatArray, hi: FloatArray
) -> FloatArray:
    r""":math:`E[e^{kX}; lo < X \le hi]`, :math:`X \sim N(m, sd^2)`; ``lo``, ``hi`` may be inf."""
    mk = m + k * sd * sd
    with np.errstate(invalid="ignore"):
        mass = special.ndtr((hi - mk) / sd) - special.ndtr((lo - mk) / sd)
    return np.asarray(np.exp(k * m + 0.5 * k * k * sd * sd) * mass, dtype=np.float64)


def _cap_point(lev: FloatArray, s: int) -> FloatArray:
    """Log price return at which the untruncated R reaches -1 (-inf/inf: never)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if s == 1:
            return np.where(lev > 1.0, np.log(np.maximum(1.0 - 1.0 / lev, 0.0)), -np.inf)
        return np.log1p(1.0 / lev)


def leveraged_return_moments(
    leverage: npt.ArrayLike,
    sigma: npt.ArrayLike,
    horizon: npt.ArrayLike,
    *,
    mu: npt.ArrayLike = 0.0,
    side: Side = "long",
    truncate: bool = False,
) -> tuple[float | FloatArray, float | FloatArray]:
    r"""Exact mean and variance of the return on margin over a horizon under GBM (E16).

    Untruncated, :math:`R = \pm L(e^X - 1)` with :math:`X \sim N(\nu T, \sigma^2 T)`, so
    :math:`\mathrm{Var}(R) = L^2\,\mathrm{Var}(\Delta P/P) = L^2 e^{2\mu T}(e^{\sigma^2 T} - 1)`,
    the paper's E16. With ``truncate`` :math:`R` is floored at :math:`-1` (loss capped at the
    margin at the horizon): a point mass at :math:`-1` plus the rest, with smaller variance; the
    moments come from the log-normal partial expectations
    :math:`E[e^{kX}; a < X \le b] = e^{k m + k^2 s^2/2}(\Phi(\frac{b - m - k s^2}{s}) -
    \Phi(\frac{a - m - k s^2}{s}))`.

    Examples
    --------
    >>> mean, var = leveraged_return_moments(100, 0.8, 1 / 365)
    >>> round(mean, 6), round(var, 4)
    (0.0, 17.5496)
    >>> _, var_t = leveraged_return_moments(100, 0.8, 1 / 365, truncate=True)
    >>> round(var_t, 4)
    8.0494
    """
    s = side_sign(side)
    lev = positive("leverage", leverage)
    vol = positive("sigma", sigma)
    t = positive("horizon", horizon)
    drift = finite("mu", mu)
    m = (drift - 0.5 * vol**2) * t
    sd = vol * np.sqrt(t)
    if not truncate:
        mean = np.expm1(drift * t) * s * lev
        var = lev**2 * np.exp(2.0 * drift * t) * np.expm1(vol**2 * t)
        return scalar_or_array(np.asarray(mean)), scalar_or_array(np.asarray(var))
    a = _cap_point(lev, s)
    inf = np.full_like(a, np.inf)
    if s == 1:  # R = -1 on X <= a, L (e^X - 1) above
        lo, hi, p_cap = a, inf, special.ndtr((a - m) / sd)
    else:  # R = -1 on X >= a, L (1 - e^X) below
        lo, hi, p_cap = -inf, a, special.ndtr((m - a) / sd)
    e0 = 1.0 - p_cap
    e1 = _lognormal_pieces(m, sd, 1.0, lo, hi)
    e2 = _lognormal_pieces(m, sd, 2.0, lo, hi)
    # On the uncapped region R = s L (e^X - 1).
    mean = -p_cap + s * lev * (e1 - e0)
    second = p_cap + lev**2 * (e2 - 2.0 * e1 + e0)
    var = np.maximum(second - mean**2, 0.0)
    return scalar_or_array(np.asarray(mean)), scalar_or_array(np.asarray(var))


# ---------------------------------------------------------------------------------------------
# VaR and expected shortfall
# ---------------------------------------------------------------------------------------------


def _alpha(alpha: float) -> float:
    return float(in_range("alpha", alpha, 0.0, 1.0, low_closed=False, high_closed=False))


def var_es_parametric(
    leverage: float,
    sigma: float,
    horizon: float,
    *,
    mu: float = 0.0,
    alpha: float = 0.99,
    side: Side = "long",
    truncate: bool = True,
) -> VaRES:
    r"""VaR and ES of the return on margin with a log-normal price (normal log returns).

    :math:`X = \ln(P_T/P_0) \sim N(\nu T, \sigma^2 T)`, exact under GBM. The return on margin
    :math:`R = \pm L(e^X - 1)` is monotone in :math:`X`, so
    :math:`\mathrm{VaR}_\alpha = -R(x_q)` with :math:`x_q` the :math:`1-\alpha` quantile of
    :math:`X` for a long (:math:`\alpha` quantile for a short), and
    :math:`\mathrm{ES}_\alpha = -E[R \mid \text{tail}]` in closed form from the log-normal
    partial expectations. With ``truncate`` losses are capped at the margin (VaR, ES <= 1).

    Parameters
    ----------
    leverage : float
        :math:`L > 0`.
    sigma, horizon : float
        Annualised volatility and horizon in years, > 0.
    mu : float, default 0.0
        Annualised drift.
    alpha : float, default 0.99
        Confidence level in (0, 1).
    side : {"long", "short"}, default "long"
    truncate : bool, default True
        Cap the loss at the margin (bad debt beyond it is not the trader's loss).

    Returns
    -------
    VaRES
        Positive losses as fractions of the margin.

    Examples
    --------
    >>> v = var_es_parametric(10, 0.8, 1 / 8760, alpha=0.99)  # 10x long, one hour
    >>> round(v.var, 4), round(v.es, 4)
    (0.1972, 0.2256)
    >>> var_es_parametric(100, 0.8, 1 / 365, alpha=0.99)  # capped at the margin
    VaRES(var=1.0, es=1.0)
    """
    s = side_sign(side)
    lev = float(positive("leverage", leverage))
    vol = float(positive("sigma", sigma))
    t = float(positive("horizon", horizon))
    a = _alpha(alpha)
    drift = float(finite("mu", mu))
    m = np.asarray((drift - 0.5 * vol**2) * t)
    sd = np.asarray(vol * math.sqrt(t))
    tail = 1.0 - a
    cap = float(_cap_point(np.asarray(lev), s)) if truncate else (-math.inf if s == 1 else math.inf)
    if s == 1:
        xq = float(m + sd * special.ndtri(tail))
        if xq <= cap:
            return VaRES(1.0, 1.0)
        var = -lev * math.expm1(xq)
        p_cap = float(special.ndtr((cap - m) / sd))
        e1 = float(_lognormal_pieces(m, sd, 1.0, np.asarray(cap), np.asarray(xq)))
        pieces = lev * (e1 - (tail - p_cap))  # E[L (e^X - 1); cap < X <= xq]
    else:
        xq = float(m + sd * special.ndtri(a))
        if xq >= cap:
            return VaRES(1.0, 1.0)
        var = lev * math.expm1(xq)
        p_cap = float(special.ndtr((m - cap) / sd))
        e1 = float(_lognormal_pieces(m, sd, 1.0, np.asarray(xq), np.asarray(cap)))
        pieces = lev * ((tail - p_cap) - e1)  # E[L (1 - e^X); xq < X < cap]
    es = (p_cap - pieces) / tail
    return VaRES(float(var), float(es))


def one_step_var(sigma: npt.ArrayLike, dt: float, alpha: float = 0.99) -> FloatArray:
    r"""One-step value-at-risk of a 1x long per unit of notional under a log-normal price with
    zero drift: :math:`q = -(\exp(-\sigma^2 \Delta t/2 + \sigma\sqrt{\Delta t}\,
    \Phi^{-1}(1-\alpha)) - 1)`, the same number as :func:`levpaper.risk.var_es_parametric`
    ``(1, sigma, dt, alpha=alpha).var``, vectorised (and 0 at :math:`\sigma = 0`).

    Examples
    --------
    >>> round(float(one_step_var(0.8, 1 / 8760)), 5)
    0.01972
    >>> round(var_es_parametric(1, 0.8, 1 / 8760).var, 5)
    0.01972
    """
    s = nonnegative("sigma", sigma)
    h = float(positive("dt", dt))
    a = _alpha(alpha)
    x = -0.5 * s * s * h + s * np.sqrt(h) * special.ndtri(1.0 - a)
    return np.asarray(-np.expm1(x), dtype=np.float64)


def vol_adjusted_leverage(
    sigma: npt.ArrayLike,
    kappa: float,
    dt: float,
    *,
    alpha: float = 0.99,
    max_leverage: float = 100.0,
) -> FloatArray:
    r"""The paper's volatility-adjusted leverage :math:`L^*` (section 3.2), clipped: ledger row
    E12 (``book/ledger.toml``).

    .. math:: L^* = \mathrm{clip}\Big(\frac{\kappa}{\sigma_P}
              \min\big(100, \frac{M}{\mathrm{VaR}}\big),\ 0,\ L_{\max}\Big),
              \qquad \frac{M}{\mathrm{VaR}} = \frac{1}{q(\sigma_P)},

    with :math:`q` the exact one-step parametric VaR at level ``alpha`` of a 1x position whose
    notional is the margin :math:`M` (:func:`one_step_var`, log-normal price, zero drift), so
    :math:`M/\mathrm{VaR}` is the leverage at which one step's VaR consumes the margin (about 51
    at 80% volatility, hourly).

    **Which reading.** The paper leaves VaR undefined. This is the reading of ledger row E12:
    the exact log-normal quantile :math:`q(\sigma_P) = 1 - e^{-\sigma_P^2\Delta t/2 +
    \sigma_P\sqrt{\Delta t}\,\Phi^{-1}(1-\alpha)}` (the VaR :func:`var_es_parametric` reports),
    not its first-order approximation :math:`z_\alpha\sigma_P\sqrt{\Delta t}` in
    :math:`\sigma_P\sqrt{\Delta t}` (the ledger's :math:`\approx`, which puts :math:`L^*` 0.8%
    lower at 80% volatility, hourly, 4% lower at 400%), and the clip to :math:`[0, L_{\max}]`, not
    :math:`[1, L_{\max}]`: the rule's own answer at high volatility is less than 1x (0.06 at
    :math:`\sigma_P = 20`), and a floor at 1 would be a second rule, not the paper's. The
    ``min`` bounds only the second factor, so the unclipped :math:`L^*` passes 100 exactly when
    :math:`\kappa > \sigma_P \max(1, 100\,q(\sigma_P))` and diverges as :math:`\sigma_P \to 0`
    (where it is :math:`L_{\max}`). Used by :class:`levpaper.agents.VolatilityAdjustedLeverage`
    and by the market's ``vol_leverage`` control (:class:`levpaper.market.Control`).

    Parameters
    ----------
    sigma : array_like
        Annualised volatility :math:`\sigma_P \ge 0`.
    kappa : float
        Risk budget :math:`\kappa > 0` (a volatility).
    dt : float
        Step of the VaR in years, > 0.
    alpha : float, default 0.99
        VaR level in (0, 1).
    max_leverage : float, default 100.0
        :math:`L_{\max} > 0`.

    Returns
    -------
    ndarray
        :math:`L^* \in [0, L_{\max}]`, the shape of ``sigma``.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> np.round(vol_adjusted_leverage([0.8, 4.0, 20.0], kappa=0.5, dt=1 / 8760), 3)
    array([31.688,  1.309,  0.062])
    >>> vol_adjusted_leverage([0.0, 0.01], kappa=0.5, dt=1 / 8760).tolist()  # clipped
    [100.0, 100.0]
    """
    s = nonnegative("sigma", sigma)
    k = float(positive("kappa", kappa))
    cap = float(positive("max_leverage", max_leverage))
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = k / s * np.minimum(100.0, 1.0 / one_step_var(s, dt, alpha))
    raw = np.where(s > 0, raw, np.inf)
    return np.asarray(np.clip(raw, 0.0, cap), dtype=np.float64)


def var_es_from_sample(returns: npt.ArrayLike, alpha: float = 0.99) -> VaRES:
    r"""Empirical VaR and ES of a sample of returns on margin.

    :math:`\mathrm{VaR} = -\hat Q_{1-\alpha}(R)` (numpy's default linear interpolation) and
    :math:`\mathrm{ES} = -\mathrm{mean}\{R_i : R_i \le -\mathrm{VaR}\}`.

    Examples
    --------
    >>> v = var_es_from_sample(np.linspace(-1.0, 1.0, 201), alpha=0.95)
    >>> round(v.var, 6), round(v.es, 6)
    (0.9, 0.95)
    """
    r = finite("returns", returns).ravel()
    if r.size == 0:
        raise ValueError("returns must not be empty")
    a = _alpha(alpha)
    q = float(np.quantile(r, 1.0 - a))
    return VaRES(-q, -float(r[r <= q].mean()))


def var_es_historical(
    price_returns: npt.ArrayLike,
    leverage: float,
    *,
    alpha: float = 0.99,
    side: Side = "long",
    truncate: bool = True,
) -> VaRES:
    r"""Historical VaR and ES of a leveraged position from a sample of simple price returns.

    Each price return over the horizon becomes a return on margin by :func:`leveraged_return`;
    then :func:`var_es_from_sample`.

    Examples
    --------
    >>> v = var_es_historical(np.linspace(-0.1, 0.1, 201), 5, alpha=0.95)
    >>> round(v.var, 6), round(v.es, 6)
    (0.45, 0.475)
    """
    r = np.atleast_1d(
        np.asarray(leveraged_return(price_returns, leverage, side=side, truncate=truncate))
    )
    return var_es_from_sample(r, alpha)


def var_es_monte_carlo(
    paths: npt.ArrayLike,
    leverage: float,
    *,
    alpha: float = 0.99,
    side: Side = "long",
    maintenance: float | None = None,
    truncate: bool = True,
) -> VaRES:
    r"""Monte Carlo VaR and ES from simulated price paths (e.g. from :mod:`levpaper.processes`).

    The return on margin of each path is :func:`path_leveraged_return` (with absorbing
    liquidation when ``maintenance`` is given), then :func:`var_es_from_sample`. For a
    confidence interval of the VaR use :func:`quantile_ci` on the returns.

    Examples
    --------
    >>> from levpaper.processes import GBM
    >>> paths = GBM(sigma=0.8).simulate(20_000, 1, np.random.default_rng(3))
    >>> v = var_es_monte_carlo(paths, 10, alpha=0.99)
    >>> round(v.var, 2)  # parametric: 0.1972
    0.2
    """
    r = path_leveraged_return(
        paths, leverage, side=side, maintenance=maintenance, truncate=truncate
    )
    return var_es_from_sample(r, alpha)


# ---------------------------------------------------------------------------------------------
# Backtests
# ---------------------------------------------------------------------------------------------


def var_breaches(realised: npt.ArrayLike, var: npt.ArrayLike) -> BoolArray:
    r"""Breach indicators :math:`1\{R_t < -\mathrm{VaR}_t\}` of realised returns against VaR.

    Examples
    --------
    >>> var_breaches([-0.3, 0.1, -0.1], [0.2, 0.2, 0.2])
    array([ True, False, False])
    """
    r = finite("realised", realised)
    v = finite("var", var)
    return np.asarray(r < -v, dtype=np.bool_)


def binomial_band(n: int, p: float, confidence: float = 0.95) -> tuple[int, int]:
    r"""Acceptance band ``[lo, hi]`` for the number of VaR breaches in ``n`` independent trials.

    Exact binomial: :math:`P(X < lo) \le (1-c)/2` and :math:`P(X > hi) \le (1-c)/2` for
    :math:`X \sim \mathrm{Bin}(n, p)`, so a correct model lands inside with probability at least
    ``confidence``.

    Parameters
    ----------
    n : int
        Number of trials, >= 1.
    p : float
        Breach probability under the model, :math:`1 - \alpha`, in (0, 1).
    confidence : float, default 0.95
        In (0, 1).

    Examples
    --------
    >>> binomial_band(1000, 0.01)
    (4, 17)
    """
    trials = positive_int("n", n)
    prob = float(in_range("p", p, 0.0, 1.0, low_closed=False, high_closed=False))
    c = float(in_range("confidence", confidence, 0.0, 1.0, low_closed=False, high_closed=False))
    half = 0.5 * (1.0 - c)
    lo = int(stats.binom.ppf(half, trials, prob))
    hi = int(stats.binom.ppf(1.0 - half, trials, prob))
    return lo, hi


def kupiec_test(n_breaches: int, n: int, p: float) -> tuple[float, float]:
    r"""Kupiec's proportion-of-failures likelihood-ratio test of a VaR model.

    .. math::
        LR = -2\ln\frac{(1-p)^{n-x} p^x}{(1-x/n)^{n-x}(x/n)^x} \sim \chi^2_1

    Returns
    -------
    (statistic, p_value)

    Examples
    --------
    >>> stat, pval = kupiec_test(10, 1000, 0.01)
    >>> round(stat, 6), round(pval, 6)
    (0.0, 1.0)
    """
    trials = positive_int("n", n)
    x = int(n_breaches)
    if not 0 <= x <= trials:
        raise ValueError(f"n_breaches must lie in [0, n], got {n_breaches!r}")
    prob = float(in_range("p", p, 0.0, 1.0, low_closed=False, high_closed=False))
    phat = x / trials
    ll0 = special.xlogy(trials - x, 1.0 - prob) + special.xlogy(x, prob)
    ll1 = special.xlogy(trials - x, 1.0 - phat) + special.xlogy(x, phat)
    stat = max(-2.0 * float(ll0 - ll1), 0.0) + 0.0  # + 0.0 turns -0.0 into 0.0
    return stat, float(stats.chi2.sf(stat, 1))


# ---------------------------------------------------------------------------------------------
# p95 across runs (Gauntlet, Chaos Labs)
# ---------------------------------------------------------------------------------------------


def quantile_ci(
    values: npt.ArrayLike, q: float = 0.95, confidence: float = 0.95
) -> QuantileEstimate:
    r"""Sample quantile with a distribution-free (order-statistic) confidence interval.

    The number of runs below the true quantile is :math:`\mathrm{Bin}(n, q)`; the interval
    :math:`[X_{(k)}, X_{(j)}]` between order statistics with
    :math:`k` = ``binom.ppf((1-c)/2, n, q)`` and :math:`j - 1` = ``binom.ppf((1+c)/2, n, q)``
    covers it with probability at least ``confidence`` for continuous data. With few runs the
    indices are clipped to the sample minimum and maximum and the coverage is lower.

    Parameters
    ----------
    values : array_like
        One number per run, finite.
    q : float, default 0.95
        Quantile level in (0, 1).
    confidence : float, default 0.95
        Confidence level in (0, 1).

    Returns
    -------
    QuantileEstimate
        ``value`` (numpy's linear-interpolation quantile), ``lower``, ``upper``.

    Examples
    --------
    >>> quantile_ci(np.arange(1.0, 1001.0), q=0.95)
    QuantileEstimate(value=950.05, lower=936.0, upper=964.0)
    """
    x = np.sort(finite("values", values).ravel())
    if x.size == 0:
        raise ValueError("values must not be empty")
    level = float(in_range("q", q, 0.0, 1.0, low_closed=False, high_closed=False))
    c = float(in_range("confidence", confidence, 0.0, 1.0, low_closed=False, high_closed=False))
    n = x.size
    half = 0.5 * (1.0 - c)
    k = int(stats.binom.ppf(half, n, level))  # 1-based index of the lower order statistic
    j = int(stats.binom.ppf(1.0 - half, n, level)) + 1  # 1-based index of the upper one
    lower = x[min(max(k, 1), n) - 1]
    upper = x[min(max(j, 1), n) - 1]
    return QuantileEstimate(float(np.quantile(x, level)), float(lower), float(upper))


def p95_bad_debt(bad_debt: npt.ArrayLike, confidence: float = 0.95) -> QuantileEstimate:
    r"""95th percentile of bad debt across simulation runs, the headline risk number of
    Gauntlet and Chaos Labs, with an order-statistic confidence interval (:func:`quantile_ci`).

    Parameters
    ----------
    bad_debt : array_like
        Bad debt of each run (in the numeraire), finite and >= 0.
    confidence : float, default 0.95

    Examples
    --------
    >>> round(p95_bad_debt(np.r_[np.zeros(90), np.arange(1.0, 11.0)]).value, 6)
    5.05
    """
    return quantile_ci(nonnegative("bad_debt", bad_debt), 0.95, confidence)


def p95_liquidation_volume(volume: npt.ArrayLike, confidence: float = 0.95) -> QuantileEstimate:
    r"""95th percentile of liquidation volume (notional liquidated per run) across runs.

    Examples
    --------
    >>> p95_liquidation_volume(np.arange(0.0, 101.0)).value
    95.0
    """
    return quantile_ci(nonnegative("volume", volume), 0.95, confidence)

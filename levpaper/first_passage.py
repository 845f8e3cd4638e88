r"""The probability that a leveraged position is liquidated within a horizon (section 4.2, E15).

A long opened at :math:`P_0` with leverage :math:`L` and maintenance rate :math:`m` (maintenance
on the current notional, ledger rows E7 and E8, ``book/ledger.toml``) is liquidated the first
time the mark price falls to the barrier :math:`B = P_0 (1 - 1/L)/(1 - m)`; a short, when it
rises to :math:`B = P_0 (1 + 1/L)/(1 + m)` (:func:`liquidation_barrier`). Liquidation is
absorbing: a price that comes back later does not revive the position. So the liquidation
probability is a *first-passage* probability of the price path, not a statement about the price
at the horizon.

Under GBM, :math:`X_t = \ln(P_t/P_0)` is a Brownian motion with drift :math:`\nu = \mu - \sigma^2/2`
and volatility :math:`\sigma`. For a long with :math:`b = \ln(B/P_0) < 0` the reflection principle
gives (continuous monitoring, :func:`first_passage_probability`)

.. math::
    P(\tau_b \le T) = \Phi\!\left(\frac{b - \nu T}{\sigma\sqrt T}\right)
    + e^{2\nu b/\sigma^2}\,\Phi\!\left(\frac{b + \nu T}{\sigma\sqrt T}\right),

and the mirror image for a short (:math:`b > 0`, drift :math:`-\nu` for :math:`-X`). At zero log
drift it is exactly twice the probability of ending beyond the barrier.

A margin engine checks the price only every :math:`\Delta t` (a block, an oracle update, an hour
here). Broadie, Glasserman and Kou (1997) showed that discrete monitoring is approximated, with
error :math:`o(1/\sqrt n)`, by the continuous formula with the barrier moved away from
:math:`P_0` by the factor :math:`e^{\beta\sigma\sqrt{\Delta t}}`,
:math:`\beta = -\zeta(1/2)/\sqrt{2\pi} \approx 0.5826`
(:func:`discrete_first_passage_probability`).

:func:`first_passage_monte_carlo` estimates both from simulated GBM paths: the discrete version
counts paths beyond the barrier at a grid time, the continuous version adds, for each grid
interval whose ends are both safe, the probability that the Brownian bridge between them crossed
the barrier, :math:`\exp(-2\,d_i d_{i+1}/(\sigma^2\Delta t))` with :math:`d` the log distance to
the barrier (exact for GBM on any grid).

The paper's formula (E15) is kept, exactly as printed, in :func:`paper_liquidation_probability`,
with :func:`paper_probability_for_barrier` as the reading used for the erratum. It is a *terminal*
probability, and for a long it takes the wrong tail.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from levpaper._validate import (
    FloatArray,
    finite,
    in_range,
    one_of,
    positive,
    positive_int,
    scalar_or_array,
)
from levpaper.processes import GBM, HOURLY_DT

__all__ = [
    "BGK_BETA",
    "Side",
    "bgk_barrier",
    "discrete_first_passage_probability",
    "first_passage_monte_carlo",
    "first_passage_probability",
    "liquidation_barrier",
    "liquidation_probability",
    "paper_liquidation_probability",
    "paper_probability_for_barrier",
    "side_sign",
    "terminal_probability",
]

Side = Literal["long", "short"]
_SIDES: tuple[str, ...] = ("long", "short")

BGK_BETA: float = 0.5825971579390106
r"""Broadie-Glasserman-Kou constant :math:`\beta = -\zeta(1/2)/\sqrt{2\pi} \approx 0.5826`."""

# Monte Carlo works on blocks of about this many log prices (512 KiB), whatever n_paths is.
_MC_BLOCK_ELEMENTS = 1 << 16


def side_sign(side: str) -> int:
    """+1 for a long (barrier below), -1 for a short (barrier above).

    Raises
    ------
    ValueError
        If ``side`` is not ``"long"`` or ``"short"``.

    Examples
    --------
    >>> side_sign("long"), side_sign("short")
    (1, -1)
    """
    return 1 if one_of("side", side, _SIDES) == "long" else -1


def _barrier(barrier: npt.ArrayLike, side: str) -> tuple[FloatArray, int]:
    """Validate a barrier ratio :math:`B/P_0` for ``side``; return it and the side's sign."""
    s = side_sign(side)
    if s == 1:
        arr = in_range("barrier", barrier, 0.0, 1.0, low_closed=True, high_closed=False)
    else:
        arr = in_range("barrier", barrier, 1.0, math.inf, low_closed=False, high_closed=False)
    return arr, s


def liquidation_barrier(
    leverage: npt.ArrayLike, maintenance: npt.ArrayLike = 0.005, side: Side = "long"
) -> float | FloatArray:
    r"""Liquidation price as a multiple of the entry price, :math:`B/P_0` (E8).

    With initial margin :math:`N/L` and maintenance requirement :math:`m` times the current
    notional, equity falls to the requirement at

    .. math::
        \frac{B}{P_0} = \frac{1 - 1/L}{1 - m} \ \text{(long)}, \qquad
        \frac{B}{P_0} = \frac{1 + 1/L}{1 + m} \ \text{(short)}.

    Parameters
    ----------
    leverage : float or array_like
        :math:`L \ge 1`.
    maintenance : float or array_like, default 0.005
        Maintenance rate :math:`m` in :math:`[0, 1/L)`; at :math:`m \ge 1/L` the position would
        be liquidated at entry.
    side : {"long", "short"}, default "long"

    Returns
    -------
    float or ndarray
        :math:`B/P_0`, in :math:`[0, 1)` for a long (0 at :math:`L = 1`: never liquidated) and
        above 1 for a short.

    Raises
    ------
    ValueError
        If ``leverage < 1``, ``maintenance`` is outside :math:`[0, 1/L)` or ``side`` is unknown.

    Examples
    --------
    >>> round(liquidation_barrier(100, 0.005, "long"), 6)  # a 0.50% fall liquidates at 100x
    0.994975
    >>> round(liquidation_barrier(100, 0.005, "short"), 6)
    1.004975
    """
    s = side_sign(side)
    lev = in_range("leverage", leverage, 1.0, math.inf, high_closed=False)
    m = finite("maintenance", maintenance)
    if not np.all((m >= 0) & (m * lev < 1)):
        raise ValueError(f"maintenance must lie in [0, 1/leverage), got {maintenance!r}")
    return scalar_or_array((1.0 - s / lev) / (1.0 - s * m))


def _log_distance(barrier: FloatArray) -> FloatArray:
    """:math:`-|\\ln(B/P_0)|` (``-inf`` for a zero barrier), without a divide-by-zero warning."""
    with np.errstate(divide="ignore"):
        return -np.abs(np.log(barrier))


def _first_passage(c: FloatArray, nu: FloatArray, sigma: FloatArray, t: FloatArray) -> FloatArray:
    """Long-side formula for log distance ``c <= 0`` and drift ``nu`` toward/away from it."""
    sd = sigma * np.sqrt(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        first = special.ndtr((c - nu * t) / sd)
        second = np.exp(2.0 * nu * c / sigma**2 + special.log_ndtr((c + nu * t) / sd))
        p = np.where(np.isneginf(c), 0.0, first + second)
    return np.asarray(np.clip(p, 0.0, 1.0), dtype=np.float64)


def first_passage_probability(
    barrier: npt.ArrayLike,
    horizon: npt.ArrayLike,
    sigma: npt.ArrayLike,
    mu: npt.ArrayLike = 0.0,
    side: Side = "long",
) -> float | FloatArray:
    r"""Probability that GBM reaches the barrier by the horizon, continuous monitoring (E15).

    For a long (:math:`b = \ln(B/P_0) < 0`, :math:`\nu = \mu - \sigma^2/2`):

    .. math::
        P(\tau \le T) = \Phi\!\left(\frac{b - \nu T}{\sigma\sqrt T}\right)
        + e^{2\nu b/\sigma^2}\,\Phi\!\left(\frac{b + \nu T}{\sigma\sqrt T}\right);

    for a short (:math:`b > 0`) the same with :math:`b \to -b`, :math:`\nu \to -\nu`. The second
    term is evaluated in log space, so it neither overflows nor loses the small tail.

    Parameters
    ----------
    barrier : float or array_like
        :math:`B/P_0`: in :math:`[0, 1)` for a long (0: never reached), above 1 for a short.
    horizon : float or array_like
        :math:`T` in years, > 0.
    sigma : float or array_like
        Annualised volatility, > 0.
    mu : float or array_like, default 0.0
        Annualised drift of the price.
    side : {"long", "short"}, default "long"
        Which side of :math:`P_0` the barrier is on.

    Returns
    -------
    float or ndarray
        The probability, broadcast over the inputs.

    Raises
    ------
    ValueError
        Naming the parameter out of range (``sigma <= 0``, ``horizon <= 0``, a barrier on the
        wrong side of 1, an unknown side).

    Examples
    --------
    >>> b = liquidation_barrier(100, 0.005)
    >>> round(first_passage_probability(b, horizon=1 / 365, sigma=0.8), 4)  # 100x long, 1 day
    0.9065
    >>> p = first_passage_probability(0.9, horizon=1.0, sigma=0.5, mu=0.125)  # nu = 0
    >>> round(p, 6), round(2 * terminal_probability(0.9, horizon=1.0, sigma=0.5, mu=0.125), 6)
    (0.833105, 0.833105)
    """
    bar, s = _barrier(barrier, side)
    t = positive("horizon", horizon)
    vol = positive("sigma", sigma)
    nu = finite("mu", mu) - 0.5 * vol**2
    return scalar_or_array(_first_passage(_log_distance(bar), s * nu, vol, t))


def bgk_barrier(
    barrier: npt.ArrayLike, sigma: npt.ArrayLike, dt: npt.ArrayLike, side: Side = "long"
) -> float | FloatArray:
    r"""Barrier shifted for discrete monitoring every ``dt`` (Broadie, Glasserman and Kou 1997).

    :math:`B \to B e^{-\beta\sigma\sqrt{\Delta t}}` for a long (barrier below) and
    :math:`B \to B e^{+\beta\sigma\sqrt{\Delta t}}` for a short, :math:`\beta` = :data:`BGK_BETA`:
    the barrier moves away from :math:`P_0`, because a discretely watched path can cross and
    come back unseen.

    Examples
    --------
    >>> round(bgk_barrier(0.9, sigma=0.8, dt=1 / 8760, side="long"), 6)
    0.895529
    """
    bar, s = _barrier(barrier, side)
    vol = positive("sigma", sigma)
    step = positive("dt", dt)
    return scalar_or_array(bar * np.exp(-s * BGK_BETA * vol * np.sqrt(step)))


def discrete_first_passage_probability(
    barrier: npt.ArrayLike,
    horizon: npt.ArrayLike,
    sigma: npt.ArrayLike,
    dt: npt.ArrayLike = HOURLY_DT,
    mu: npt.ArrayLike = 0.0,
    side: Side = "long",
) -> float | FloatArray:
    r"""Liquidation probability when the price is checked every ``dt`` (BGK-corrected, E15).

    The continuous formula of :func:`first_passage_probability` at the shifted barrier of
    :func:`bgk_barrier`. It approximates the probability that one of the prices at
    :math:`\Delta t, 2\Delta t, \dots, T` is beyond the barrier; the approximation is asymptotic
    in the number of checks :math:`T/\Delta t` and is poor when the horizon is only one or two
    steps long, or when the barrier is within about one step's standard deviation
    :math:`\sigma\sqrt{\Delta t}` of :math:`P_0`.

    Parameters
    ----------
    barrier, horizon, sigma, mu, side
        As for :func:`first_passage_probability`.
    dt : float or array_like, default :data:`~levpaper.processes.HOURLY_DT`
        Time between checks in years, > 0 and <= ``horizon``.

    Raises
    ------
    ValueError
        As for :func:`first_passage_probability`, and if ``dt`` is not in ``(0, horizon]``.

    Examples
    --------
    >>> b = liquidation_barrier(25, 0.005)
    >>> p_cont = first_passage_probability(b, 7 / 365, 0.8)
    >>> p_hourly = discrete_first_passage_probability(b, 7 / 365, 0.8, dt=1 / 8760)
    >>> round(p_cont, 3), round(p_hourly, 3)  # hourly checks miss some touches
    (0.76, 0.727)
    """
    bar, s = _barrier(barrier, side)
    t = positive("horizon", horizon)
    step = positive("dt", dt)
    if not np.all(step <= t):
        raise ValueError(f"dt must lie in (0, horizon], got dt={dt!r}, horizon={horizon!r}")
    vol = positive("sigma", sigma)
    shifted = _log_distance(bar) - BGK_BETA * vol * np.sqrt(step)
    nu = finite("mu", mu) - 0.5 * vol**2
    return scalar_or_array(_first_passage(shifted, s * nu, vol, t))


def terminal_probability(
    barrier: npt.ArrayLike,
    horizon: npt.ArrayLike,
    sigma: npt.ArrayLike,
    mu: npt.ArrayLike = 0.0,
    side: Side = "long",
) -> float | FloatArray:
    r"""Probability that the price *at* the horizon is beyond the barrier (ignores the path).

    :math:`\Phi((b - \nu T)/(\sigma\sqrt T))` for a long, :math:`\Phi((-b + \nu T)/(\sigma\sqrt
    T))` for a short: the first term of :func:`first_passage_probability`, and a lower bound on
    it. It is what the paper's formula computes under its natural reading, up to the tail.

    Examples
    --------
    >>> round(terminal_probability(liquidation_barrier(100, 0.005), 1 / 365, 0.8), 4)
    0.4604
    """
    bar, s = _barrier(barrier, side)
    t = positive("horizon", horizon)
    vol = positive("sigma", sigma)
    nu = s * (finite("mu", mu) - 0.5 * vol**2)
    with np.errstate(divide="ignore"):
        z = (_log_distance(bar) - nu * t) / (vol * np.sqrt(t))
    return scalar_or_array(np.asarray(special.ndtr(z), dtype=np.float64))


def liquidation_probability(
    leverage: npt.ArrayLike,
    horizon: npt.ArrayLike,
    sigma: npt.ArrayLike,
    *,
    mu: npt.ArrayLike = 0.0,
    maintenance: npt.ArrayLike = 0.005,
    side: Side = "long",
    dt: float | None = None,
) -> float | FloatArray:
    r"""The real liquidation probability of a position at leverage ``leverage`` (E15 corrected).

    :func:`liquidation_barrier` followed by :func:`first_passage_probability` (``dt=None``,
    continuous monitoring) or :func:`discrete_first_passage_probability` (checks every ``dt``).

    Examples
    --------
    >>> [round(liquidation_probability(lev, 1 / 365, 0.8), 3) for lev in (5, 25, 100)]
    [0.0, 0.4, 0.907]
    """
    bar = liquidation_barrier(leverage, maintenance, side)
    if dt is None:
        return first_passage_probability(bar, horizon, sigma, mu, side)
    return discrete_first_passage_probability(bar, horizon, sigma, dt, mu, side)


def paper_liquidation_probability(
    m0: npt.ArrayLike,
    lt: npt.ArrayLike,
    horizon: npt.ArrayLike,
    sigma: npt.ArrayLike,
    mu: npt.ArrayLike = 0.0,
) -> float | FloatArray:
    r"""The paper's liquidation probability exactly as printed in section 4.2 (E15, erratum).

    .. math::
        P = 1 - \Phi\!\left(\frac{\ln(M_0/LT) - (\mu - \sigma^2/2)t}{\sigma\sqrt t}\right)

    The paper calls :math:`M_0` the initial margin and does not define :math:`LT` beyond
    "liquidation threshold", so the formula is implemented with those two inputs as they stand.
    Whatever they mean, the expression is the probability that a normal variable with the log
    price's law :math:`N(\nu t, \sigma^2 t)` ends *above* :math:`\ln(M_0/LT)`: a terminal
    probability, not a first-passage one (so it ignores paths that touch the barrier and come
    back), and for a long it is the upper tail where liquidation happens in the lower one. See
    :func:`paper_probability_for_barrier` for the reading used in the erratum.

    Parameters
    ----------
    m0, lt : float or array_like
        The paper's :math:`M_0` and :math:`LT`, each > 0.
    horizon : float or array_like
        :math:`t` in years, > 0.
    sigma : float or array_like
        Annualised volatility, > 0.
    mu : float or array_like, default 0.0
        Annualised drift.

    Raises
    ------
    ValueError
        Naming the parameter that is not finite and positive (``mu``: not finite).

    Examples
    --------
    >>> round(paper_liquidation_probability(1.0, 1.0, 1.0, 0.8), 4)  # ln(M0/LT) = 0
    0.3446
    """
    a = positive("m0", m0)
    b = positive("lt", lt)
    t = positive("horizon", horizon)
    vol = positive("sigma", sigma)
    nu = finite("mu", mu) - 0.5 * vol**2
    z = (np.log(a / b) - nu * t) / (vol * np.sqrt(t))
    return scalar_or_array(np.asarray(special.ndtr(-z), dtype=np.float64))


def paper_probability_for_barrier(
    barrier: npt.ArrayLike,
    horizon: npt.ArrayLike,
    sigma: npt.ArrayLike,
    mu: npt.ArrayLike = 0.0,
) -> float | FloatArray:
    r"""The paper's formula under its natural reading: :math:`M_0/LT` as the price cushion.

    Read :math:`M_0/LT` as the ratio of the entry price to the liquidation price of a long,
    :math:`P_0/B`, i.e. :math:`\ln(M_0/LT) = |\ln(B/P_0)|`, the log distance the price can move
    before liquidation (greater than 1 when there is margin to spare). Then

    .. math:: P_{\text{paper}} = 1 - \Phi\!\left(\frac{|b| - \nu t}{\sigma\sqrt t}\right)
        = P(X_t > |b|),

    the probability that the price ends at least that far *above* the entry. For a long this is
    the wrong tail (at zero drift it equals :func:`terminal_probability`, and with the usual
    negative log drift it is smaller) and it ignores first passage, so it understates the true
    :func:`first_passage_probability` by about a factor of two. For a short the same reading
    happens to give the correct terminal probability, still not the first-passage one.

    Another reading, :math:`M_0/LT` as initial over maintenance margin :math:`1/(Lm)`, is not a
    price ratio at all (:math:`\ln 2 \approx 0.69` at 100x with :math:`m = 0.5\%`, a 50% move
    where 0.5% liquidates) and is not used.

    Parameters
    ----------
    barrier : float or array_like
        :math:`B/P_0`, > 0 and not 1 (either side).
    horizon, sigma, mu
        As for :func:`paper_liquidation_probability`.

    Examples
    --------
    >>> b = liquidation_barrier(100, 0.005)
    >>> round(paper_probability_for_barrier(b, 1 / 365, 0.8), 4)  # true value: 0.9065
    0.4438
    """
    bar = positive("barrier", barrier)
    if np.any(bar == 1.0):
        raise ValueError(f"barrier must differ from 1 (the entry price), got {barrier!r}")
    return paper_liquidation_probability(np.exp(np.abs(np.log(bar))), 1.0, horizon, sigma, mu)


def first_passage_monte_carlo(
    barrier: npt.ArrayLike,
    horizon: float,
    sigma: float,
    n_paths: int,
    rng: np.random.Generator,
    *,
    mu: float = 0.0,
    side: Side = "long",
    dt: float = HOURLY_DT,
    bridge: bool = True,
) -> tuple[float | FloatArray, float | FloatArray]:
    r"""Monte Carlo estimate of the liquidation probability under GBM, with its standard error.

    Simulates ``n_paths`` exact GBM log paths on the grid :math:`t_k = kT/n`,
    :math:`n = \max(1, \mathrm{round}(T/\Delta t))`, and for each path and barrier computes

    * ``bridge=False`` (discrete monitoring every :math:`T/n`): 1 if a price at
      :math:`t_1, \dots, t_n` is beyond the barrier, else 0;
    * ``bridge=True`` (continuous monitoring): 1 if a grid price is beyond the barrier, else the
      probability that one of the Brownian bridges between grid points crossed it,
      :math:`1 - \prod_i (1 - e^{-2 d_i d_{i+1}/(\sigma^2 T/n)})`, where :math:`d_i > 0` is the
      log distance of grid point :math:`i` from the barrier. Conditioning on the grid makes the
      estimator exact for continuous monitoring on any grid and lowers its variance.

    Several barriers (one side) are estimated from the same paths.

    Parameters
    ----------
    barrier : float or array_like, 0-d or 1-d
        :math:`B/P_0` for ``side`` (see :func:`first_passage_probability`).
    horizon : float
        :math:`T` in years, > 0.
    sigma : float
        Annualised volatility, > 0.
    n_paths : int
        Number of paths, >= 2.
    rng : numpy.random.Generator
        Source of all randomness.
    mu : float, default 0.0
        Annualised drift.
    side : {"long", "short"}, default "long"
    dt : float, default :data:`~levpaper.processes.HOURLY_DT`
        Target grid step in years, > 0; the step used is :math:`T/n`.
    bridge : bool, default True
        Continuous monitoring (Brownian-bridge corrected) or discrete monitoring.

    Returns
    -------
    estimate, standard_error : float or ndarray
        Mean over paths and its standard error (sample standard deviation over
        :math:`\sqrt{n_\text{paths}}`), shaped like ``barrier``.

    Raises
    ------
    ValueError
        Naming the parameter out of range; ``barrier`` must be 0-d or 1-d.

    Examples
    --------
    >>> b = liquidation_barrier(100, 0.005)
    >>> est, se = first_passage_monte_carlo(b, 1 / 365, 0.8, 4000, np.random.default_rng(7))
    >>> abs(est - first_passage_probability(b, 1 / 365, 0.8)) < 3 * se
    True
    """
    bar, s = _barrier(barrier, side)
    if bar.ndim > 1:
        raise ValueError(f"barrier must be a number or a 1-d array, got shape {bar.shape}")
    t = float(positive("horizon", horizon))
    vol = float(positive("sigma", sigma))
    drift = float(finite("mu", mu))
    n_paths = positive_int("n_paths", n_paths)
    if n_paths < 2:
        raise ValueError(f"n_paths must be >= 2 for a standard error, got {n_paths!r}")
    n_steps = max(1, round(t / float(positive("dt", dt))))
    step = t / n_steps
    with np.errstate(divide="ignore"):
        log_b = np.atleast_1d(np.log(bar))  # -inf for a long at L = 1
    values = np.empty((log_b.size, n_paths))
    process = GBM(mu=drift, sigma=vol)
    rows = max(1, _MC_BLOCK_ELEMENTS // (n_steps + 1))
    buf = np.empty((min(rows, n_paths), n_steps + 1))
    k = -2.0 / (vol * vol * step)
    if bridge:
        dbuf = np.empty_like(buf)
        qbuf = np.empty((buf.shape[0], n_steps))
    for start in range(0, n_paths, rows):
        block = buf[: min(rows, n_paths - start)]
        process.fill(block, rng, s0=1.0, dt=step, log=True)
        out = values[:, start : start + block.shape[0]]
        if not bridge:
            extreme = block[:, 1:].min(axis=1) if s == 1 else block[:, 1:].max(axis=1)
            for j, lb in enumerate(log_b):
                out[j] = s * (extreme - lb) <= 0.0
            continue
        d = dbuf[: block.shape[0]]
        q = qbuf[: block.shape[0]]
        for j, lb in enumerate(log_b):
            # d > 0 on the safe side of the barrier.
            if s == 1:
                np.subtract(block, lb, out=d)
            else:
                np.subtract(lb, block, out=d)
            np.multiply(d[:, :-1], d[:, 1:], out=q)
            np.maximum(q, 0.0, out=q)
            q *= k
            np.exp(q, out=q)  # bridge crossing probability per interval
            np.negative(q, out=q)
            with np.errstate(divide="ignore"):
                np.log1p(q, out=q)
            # An interval whose end point is on or past the barrier has d0 * d1 <= 0, so its
            # crossing probability is exp(0) = 1 and its log-survival -inf: the path counts as
            # hit (probability 1) without a separate check of the grid points.
            out[j] = -np.expm1(q.sum(axis=1))
    estimate = values.mean(axis=1)
    se = values.std(axis=1, ddof=1) / math.sqrt(n_paths)
    if bar.ndim == 0:
        return float(estimate[0]), float(se[0])
    return estimate, se

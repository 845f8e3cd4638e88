r"""Closed forms for leveraged positions (sections 2.2 and 4.1; ledger rows E5-E8, E13, E14).

Conventions, shared with the stateful simulation in :mod:`levpaper.margin`:

* **Notional and size (E5).** A trader posts margin :math:`C` (in the numeraire B) at leverage
  :math:`L`; the notional is :math:`N = LC` and the size in tokens of A is
  :math:`q = N / P_0`, where :math:`P_0` is the *entry price*: the execution price of the opening
  trade, fee and impact included, not the spot price.
* **Margin (E7).** Initial margin :math:`C = N/L`; the maintenance requirement is :math:`m` times
  the *current* notional :math:`q P` at the mark price :math:`P`; a position is liquidated when
  its equity falls strictly below it, :math:`E(P) < m q P`. The equity is
  :math:`E = C + q(P - P_0)` for a long and :math:`C + q(P_0 - P)` for a short.
* **Liquidation and bankruptcy prices (E8).** Solving :math:`E(P) = m q P` and :math:`E(P) = 0`:

  .. math::
      P_\text{liq} = P_0 \frac{1 - 1/L}{1 - m}, \quad P_\text{bk} = P_0 (1 - 1/L)
      \quad \text{(long)}, \qquad
      P_\text{liq} = P_0 \frac{1 + 1/L}{1 + m}, \quad P_\text{bk} = P_0 (1 + 1/L)
      \quad \text{(short)}.

  At :math:`L = 100`, :math:`m = 0.5\%` an adverse move of 0.50% liquidates; 1% is the bankruptcy
  move, and the paper's "1% triggers liquidation" is right only at :math:`m = 0`.
* **Fee drag (E8).** A taker fee :math:`f` on the notional costs :math:`Nf = LfC`, a fraction
  :math:`Lf` of the margin, at each side: 30% of the margin at 100x and 0.3%.
* **Profit of a move (E6, E13).** Gross :math:`\pm LC\,\Delta P/P`. :func:`net_profit` charges
  the fee on the notional traded at each side, :math:`f N` at open and :math:`f N (1 + r)` at
  close; :func:`pool_net_profit` trades through a constant-product pool of given depth, where the
  fee is charged on the input amount (as the pool charges it) and impact is paid both ways.
* **Growth (E14).** Constant leverage under GBM grows at
  :math:`g(L) = r_f + L(\mu - r_f) - L^2\sigma^2/2`, maximal at the Kelly leverage
  :math:`(\mu - r_f)/\sigma^2`; the paper's :math:`G = (1 + L\,\Delta P/P)^n` holds only for
  :math:`n` identical returns; a pair :math:`+r, -r` multiplies wealth by :math:`1 - L^2 r^2`.

Every function is vectorised over numpy arrays (``side`` is a single ``"long"``/``"short"``) and
rejects bad input with a ``ValueError`` naming the parameter and its allowed range.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from levpaper._validate import (
    FloatArray,
    fee_rate,
    finite,
    in_range,
    nonnegative,
    positive,
    scalar_or_array,
)
from levpaper.first_passage import Side, liquidation_barrier, side_sign

__all__ = [
    "alternating_growth",
    "bankruptcy_price",
    "fee_drag",
    "gross_profit",
    "growth_rate",
    "kelly_leverage",
    "liquidation_move",
    "liquidation_price",
    "net_profit",
    "notional",
    "paper_growth",
    "pool_net_profit",
    "position_size",
    "rebalanced_growth_model",
    "rebalanced_log_wealth",
    "self_liquidating_notional",
    "two_step_factor",
]


def _leverage(value: npt.ArrayLike) -> FloatArray:
    return in_range("leverage", value, 1.0, math.inf, high_closed=False)


def _maintenance(value: npt.ArrayLike, lev: FloatArray) -> FloatArray:
    m = finite("maintenance_rate", value)
    if not np.all((m >= 0) & (m * lev < 1)):
        raise ValueError(
            f"maintenance_rate must lie in [0, 1/leverage) (at m >= 1/L a position is born "
            f"liquidatable), got {value!r}"
        )
    return m


def _price_return(value: npt.ArrayLike) -> FloatArray:
    return in_range("price_return", value, -1.0, math.inf, low_closed=False, high_closed=False)


# --- E5: notional and size --------------------------------------------------------------------


def notional(margin: npt.ArrayLike, leverage: npt.ArrayLike) -> float | FloatArray:
    r"""Notional of a position, :math:`N = L C` (E5, the paper's "position size").

    Parameters
    ----------
    margin : float or array_like
        Margin :math:`C` in the numeraire, > 0.
    leverage : float or array_like
        :math:`L \ge 1`.

    Returns
    -------
    float or ndarray
        :math:`N = LC`, in the numeraire.

    Raises
    ------
    ValueError
        If ``margin`` is not finite and > 0 or ``leverage`` is not in :math:`[1, \infty)`.

    Examples
    --------
    >>> notional(100.0, 100)
    10000.0
    """
    c = positive("margin", margin)
    lev = _leverage(leverage)
    return scalar_or_array(lev * c)


def position_size(
    margin: npt.ArrayLike, leverage: npt.ArrayLike, entry_price: npt.ArrayLike
) -> float | FloatArray:
    r"""Size in tokens of A, :math:`q = L C / P_0` (E5), with :math:`P_0` the entry price.

    The entry price is the execution price of the opening trade (fee and impact included), so the
    size is smaller than :math:`LC/P_\text{spot}` for a long.

    Parameters
    ----------
    margin : float or array_like
        Margin :math:`C` > 0.
    leverage : float or array_like
        :math:`L \ge 1`.
    entry_price : float or array_like
        :math:`P_0 > 0`, B per A.

    Returns
    -------
    float or ndarray
        :math:`q` in units of A.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> position_size(100.0, 100, 2500.0)
    4.0
    """
    n = np.asarray(notional(margin, leverage))
    p0 = positive("entry_price", entry_price)
    return scalar_or_array(n / p0)


# --- E7, E8: liquidation, bankruptcy, fee drag -------------------------------------------------


def liquidation_price(
    entry_price: npt.ArrayLike,
    leverage: npt.ArrayLike,
    maintenance_rate: npt.ArrayLike = 0.005,
    side: Side = "long",
) -> float | FloatArray:
    r"""Mark price at which equity meets the maintenance requirement :math:`m q P` (E7, E8).

    .. math::
        P_\text{liq} = P_0 \frac{1 - 1/L}{1 - m} \ \text{(long)}, \qquad
        P_\text{liq} = P_0 \frac{1 + 1/L}{1 + m} \ \text{(short)},

    with :math:`P_0` the entry (execution) price, initial margin :math:`C = q P_0 / L` and
    :math:`m` applied to the current notional. A long is liquidated at marks strictly below it,
    a short strictly above.

    Parameters
    ----------
    entry_price : float or array_like
        :math:`P_0 > 0`.
    leverage : float or array_like
        :math:`L \ge 1` (a long at :math:`L = 1` is never liquidated: price 0).
    maintenance_rate : float or array_like, default 0.005
        :math:`m` in :math:`[0, 1/L)`.
    side : {"long", "short"}, default "long"

    Returns
    -------
    float or ndarray
        :math:`P_\text{liq}`.

    Raises
    ------
    ValueError
        If an argument is out of range (``maintenance_rate >= 1/leverage``: born liquidatable).

    Examples
    --------
    >>> round(liquidation_price(100.0, 100, 0.005, "long"), 4)  # a 0.50% fall, not 1%
    99.4975
    >>> round(liquidation_price(100.0, 100, 0.005, "short"), 4)
    100.4975
    """
    p0 = positive("entry_price", entry_price)
    lev = _leverage(leverage)
    m = _maintenance(maintenance_rate, lev)
    return scalar_or_array(p0 * np.asarray(liquidation_barrier(lev, m, side)))


def bankruptcy_price(
    entry_price: npt.ArrayLike, leverage: npt.ArrayLike, side: Side = "long"
) -> float | FloatArray:
    r"""Mark price at which equity is zero: :math:`P_0(1 - 1/L)` long, :math:`P_0(1 + 1/L)` short.

    It is :func:`liquidation_price` at :math:`m = 0`; beyond it a position owes more than its
    margin and the difference is paid by the insurance fund or becomes bad debt.

    Parameters
    ----------
    entry_price : float or array_like
        :math:`P_0 > 0`.
    leverage : float or array_like
        :math:`L \ge 1`.
    side : {"long", "short"}, default "long"

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> bankruptcy_price(100.0, 100, "long"), bankruptcy_price(100.0, 100, "short")
    (99.0, 101.0)
    """
    s = side_sign(side)
    p0 = positive("entry_price", entry_price)
    lev = _leverage(leverage)
    return scalar_or_array(p0 * (1.0 - s / lev))


def liquidation_move(
    leverage: npt.ArrayLike, maintenance_rate: npt.ArrayLike = 0.005, side: Side = "long"
) -> float | FloatArray:
    r"""Adverse relative price move that liquidates, :math:`|P_\text{liq}/P_0 - 1|` (E8).

    Long: :math:`1 - (1 - 1/L)/(1 - m) = (1/L - m)/(1 - m)`; short:
    :math:`(1 + 1/L)/(1 + m) - 1 = (1/L - m)/(1 + m)`. Both are below :math:`1/L`, the bankruptcy
    move, whenever :math:`m > 0`.

    Parameters
    ----------
    leverage : float or array_like
        :math:`L \ge 1`.
    maintenance_rate : float or array_like, default 0.005
        :math:`m` in :math:`[0, 1/L)`.
    side : {"long", "short"}, default "long"

    Returns
    -------
    float or ndarray
        A fraction in :math:`(0, 1]`.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> round(liquidation_move(100, 0.005), 6), round(liquidation_move(100, 0.0), 6)
    (0.005025, 0.01)
    """
    lev = _leverage(leverage)
    m = _maintenance(maintenance_rate, lev)
    s = side_sign(side)
    return scalar_or_array((1.0 / lev - m) / (1.0 - s * m))


def fee_drag(leverage: npt.ArrayLike, fee: npt.ArrayLike = 0.003) -> float | FloatArray:
    r"""Fraction of the margin a fee :math:`f` on the notional costs at one side, :math:`L f` (E8).

    The fee on a notional :math:`N = LC` is :math:`fN = LfC`. At 100x a 0.3% fee takes 30% of
    the margin at the opening trade alone, before any price impact; at :math:`Lf \ge 1 - Lm`
    the fee alone leaves the position at or below the maintenance requirement.

    Parameters
    ----------
    leverage : float or array_like
        :math:`L \ge 1`.
    fee : float or array_like, default 0.003
        :math:`f` in [0, 1).

    Returns
    -------
    float or ndarray
        :math:`Lf`.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> round(fee_drag(100, 0.003), 6)
    0.3
    """
    lev = _leverage(leverage)
    f = fee_rate("fee", fee)
    return scalar_or_array(lev * f)


# --- E6, E13: profit of a move ------------------------------------------------------------------


def gross_profit(
    margin: npt.ArrayLike,
    leverage: npt.ArrayLike,
    price_return: npt.ArrayLike,
    side: Side = "long",
) -> float | FloatArray:
    r"""Profit of a move before fees and impact, :math:`\pm L C\,\Delta P/P` (E6, E13).

    Parameters
    ----------
    margin : float or array_like
        :math:`C > 0`.
    leverage : float or array_like
        :math:`L \ge 1`.
    price_return : float or array_like
        :math:`r = \Delta P/P > -1`.
    side : {"long", "short"}, default "long"

    Returns
    -------
    float or ndarray
        In the numeraire; not truncated at :math:`-C` (liquidation does that).

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> round(gross_profit(1.0, 100, 0.02), 6)  # the paper's 2C
    2.0
    """
    s = side_sign(side)
    n = np.asarray(notional(margin, leverage))
    r = _price_return(price_return)
    return scalar_or_array(s * n * r)


def net_profit(
    margin: npt.ArrayLike,
    leverage: npt.ArrayLike,
    price_return: npt.ArrayLike,
    fee: npt.ArrayLike = 0.003,
    side: Side = "long",
) -> float | FloatArray:
    r"""Profit of a move net of a taker fee on the notional at each side, no impact (E13).

    Convention: the fee is :math:`f` times the notional traded, paid from the margin; the opening
    notional is :math:`N = LC`, the closing one :math:`N(1 + r)` (the same size at the moved
    price), so

    .. math:: \Pi = \pm N r - f N - f N (1 + r) = \pm L C r - f L C (2 + r).

    At 100x, :math:`r = 2\%`, :math:`f = 0.3\%`: :math:`2C - 0.3C - 0.306C = 1.394C`. The
    ledger's :math:`1.4C` charges both fees on the opening notional (:math:`2fN`); the difference
    is :math:`f N r = 0.006C`. For the pool's own fee rule and its impact see
    :func:`pool_net_profit`.

    Parameters
    ----------
    margin : float or array_like
        :math:`C > 0`.
    leverage : float or array_like
        :math:`L \ge 1`.
    price_return : float or array_like
        :math:`r > -1`.
    fee : float or array_like, default 0.003
        :math:`f` in [0, 1).
    side : {"long", "short"}, default "long"

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> round(net_profit(1.0, 100, 0.02, 0.003), 6)
    1.394
    """
    s = side_sign(side)
    n = np.asarray(notional(margin, leverage))
    r = _price_return(price_return)
    f = fee_rate("fee", fee)
    return scalar_or_array(s * n * r - f * n * (2.0 + r))


def pool_net_profit(
    margin: npt.ArrayLike,
    leverage: npt.ArrayLike,
    price_return: npt.ArrayLike,
    fee: npt.ArrayLike = 0.003,
    reserve_b: npt.ArrayLike = math.inf,
    side: Side = "long",
) -> float | FloatArray:
    r"""Profit of a move when the position opens and closes through a constant-product pool (E13).

    The pool starts at spot :math:`S_0` with B reserve :math:`y_0` (its depth) and charges the
    fee :math:`f` on the input amount. With :math:`u = N / y_0`:

    * a long pays :math:`N` of B and receives :math:`q = x_0 a` of A,
      :math:`a = (1-f)u / (1 + (1-f)u)`;
    * a short sells :math:`q = x_0 a` of A for exactly :math:`N` of B,
      :math:`a = u / ((1-f)(1-u))` (needs :math:`N < y_0`).

    The external price then moves by :math:`r`. Convention for the close: arbitrage has put the
    pool at the new spot :math:`S_0(1 + r)` on the pre-trade invariant :math:`k = x_0 y_0`
    (the opening impact is absorbed, the fee growth of :math:`k` is neglected), so
    :math:`x_1 = x_0/\sqrt{1+r}`, :math:`y_1 = y_0\sqrt{1+r}`. The long sells :math:`q`, the short
    buys :math:`q` back, and

    .. math::
        \frac{\Pi}{N} = \frac{(1+r)(1-f)^2}{(1+(1-f)u)(1+\sqrt{1+r}(1-f)a)} - 1 \ \text{(long)},
        \qquad
        \frac{\Pi}{N} = 1 - \frac{1+r}{(1-f)^2(1-u)(1-\sqrt{1+r}\,a)} \ \text{(short)}.

    As the pool deepens (:math:`u \to 0`) these tend to :math:`(1-f)^2(1+r) - 1` and
    :math:`1 - (1+r)/(1-f)^2`: the pool's fee on the input costs slightly more than
    :func:`net_profit`'s fee on the notional, because the long's opening fee is paid in A that
    would have gained :math:`r`.

    Parameters
    ----------
    margin : float or array_like
        :math:`C > 0`.
    leverage : float or array_like
        :math:`L \ge 1`.
    price_return : float or array_like
        :math:`r > -1`.
    fee : float or array_like, default 0.003
        :math:`f` in [0, 1).
    reserve_b : float or array_like, default inf
        Pool depth :math:`y_0 > 0` (B reserve at the opening spot); ``inf`` for no impact.
    side : {"long", "short"}, default "long"

    Returns
    -------
    float or ndarray
        Profit in B; ``-inf`` for a short whose size exceeds the A reserve at the close (the
        pool cannot sell it back).

    Raises
    ------
    ValueError
        If an argument is out of range, or a short's notional is not below ``reserve_b``.

    Examples
    --------
    >>> round(pool_net_profit(1.0, 100, 0.02, 0.003), 4)  # infinitely deep pool
    1.3889
    >>> round(pool_net_profit(1.0, 100, 0.02, 0.003, reserve_b=1e6), 4)  # N = y0 / 10,000
    1.3686
    >>> round(pool_net_profit(1.0, 100, 0.02, 0.003, reserve_b=1e4), 4)  # N = y0 / 100: a loss
    -0.6
    """
    s = side_sign(side)
    n = np.asarray(notional(margin, leverage))
    r = _price_return(price_return)
    f = fee_rate("fee", fee)
    y0 = in_range("reserve_b", reserve_b, 0.0, math.inf, low_closed=False)
    u = n / y0
    g = 1.0 - f
    root = np.sqrt(1.0 + r)
    if s == 1:
        a = g * u / (1.0 + g * u)
        ratio = (1.0 + r) * g * g / ((1.0 + g * u) * (1.0 + root * g * a))
        return scalar_or_array(n * (ratio - 1.0))
    if not np.all(u < 1.0):
        raise ValueError(
            f"a short's notional margin * leverage must be < reserve_b, got {reserve_b!r}"
        )
    a = u / (g * (1.0 - u))
    left = 1.0 - root * a
    with np.errstate(divide="ignore"):
        paid = np.where(
            left > 0, (1.0 + r) / (g * g * (1.0 - u) * np.where(left > 0, left, 1.0)), np.inf
        )
    return scalar_or_array(np.asarray(n * (1.0 - paid), dtype=np.float64))


def self_liquidating_notional(
    reserve_b: npt.ArrayLike,
    leverage: npt.ArrayLike,
    maintenance_rate: npt.ArrayLike = 0.005,
    fee: npt.ArrayLike = 0.003,
    side: Side = "long",
) -> float | FloatArray:
    r"""Notional above which a position's own opening fee and impact liquidate it at once.

    The position opens through a pool with B reserve :math:`y_0` at spot :math:`S_0`; its entry
    price :math:`P_0` is worse than :math:`S_0` by the fee and the impact. The pool's own
    post-trade price flatters the opener (a long pushes the price up, a short down), but
    arbitrageurs restore the external price :math:`S_0`; at that mark the equity is
    :math:`C \pm q(S_0 - P_0)` and the position is liquidatable when it is below
    :math:`m q S_0`. With :math:`u = N/y_0` and :math:`P_0` from the pool formulas this happens
    exactly when :math:`u > u^*`,

    .. math::
        u^* = \frac{1-m}{1-1/L} - \frac{1}{1-f} \ \text{(long)}, \qquad
        u^* = 1 - \frac{1+m}{(1+1/L)(1-f)} \ \text{(short)},

    and the function returns :math:`N^* = y_0 \max(u^*, 0)`. :math:`N^* = 0` means the fee alone
    is enough: every size is born liquidatable once the price is restored. A long at
    :math:`L = 1` is never liquidated (``inf``).

    Parameters
    ----------
    reserve_b : float or array_like
        :math:`y_0 > 0`, the pool's B reserve before the trade.
    leverage : float or array_like
        :math:`L \ge 1`.
    maintenance_rate : float or array_like, default 0.005
        :math:`m` in :math:`[0, 1/L)`.
    fee : float or array_like, default 0.003
        :math:`f` in [0, 1).
    side : {"long", "short"}, default "long"

    Returns
    -------
    float or ndarray
        :math:`N^*` in B.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> round(self_liquidating_notional(1e6, 100, 0.005, 0.003), 2)  # 0.20% of the B reserve
    2041.48
    >>> self_liquidating_notional(1e6, 100, 0.005, 0.006)  # the fee alone liquidates
    0.0
    """
    y0 = positive("reserve_b", reserve_b)
    lev = _leverage(leverage)
    m = _maintenance(maintenance_rate, lev)
    f = fee_rate("fee", fee)
    s = side_sign(side)
    if s == 1:
        with np.errstate(divide="ignore"):
            u = np.where(lev > 1.0, (1.0 - m) / (1.0 - 1.0 / np.where(lev > 1.0, lev, 2.0)), np.inf)
        u = u - 1.0 / (1.0 - f)
    else:
        u = 1.0 - (1.0 + m) / ((1.0 + 1.0 / lev) * (1.0 - f))
    return scalar_or_array(np.asarray(y0 * np.maximum(u, 0.0), dtype=np.float64))


# --- E14: growth ------------------------------------------------------------------------------


def growth_rate(
    leverage: npt.ArrayLike,
    mu: npt.ArrayLike,
    sigma: npt.ArrayLike,
    risk_free: npt.ArrayLike = 0.0,
) -> float | FloatArray:
    r"""Log growth rate of wealth held at constant leverage under GBM (E14).

    Rebalanced continuously to keep exposure :math:`L` times wealth in an asset with
    :math:`dP/P = \mu\,dt + \sigma\,dW`, the rest at the rate :math:`r_f`, wealth is a GBM with
    drift :math:`r_f + L(\mu - r_f)` and volatility :math:`L\sigma`, so
    :math:`\ln W_T / T \to g(L)`,

    .. math:: g(L) = r_f + L(\mu - r_f) - \tfrac12 L^2 \sigma^2 .

    It is maximal at the Kelly leverage (:func:`kelly_leverage`) and negative beyond twice it
    when :math:`r_f = 0`. Liquidation, fees and funding are not included.

    Parameters
    ----------
    leverage : float or array_like
        :math:`L`, finite (any sign: a short is :math:`L < 0`).
    mu : float or array_like
        Drift :math:`\mu` per unit time.
    sigma : float or array_like
        Volatility :math:`\sigma \ge 0` per square-root unit time.
    risk_free : float or array_like, default 0
        :math:`r_f`.

    Returns
    -------
    float or ndarray
        :math:`g(L)` per unit time.

    Raises
    ------
    ValueError
        If an argument is not finite or ``sigma < 0``.

    Examples
    --------
    >>> round(growth_rate(2.0, 0.3, 0.6), 6)  # 0.6 - 0.72
    -0.12
    """
    lev = finite("leverage", leverage)
    mu_ = finite("mu", mu)
    sig = nonnegative("sigma", sigma)
    rf = finite("risk_free", risk_free)
    return scalar_or_array(rf + lev * (mu_ - rf) - 0.5 * lev * lev * sig * sig)


def kelly_leverage(
    mu: npt.ArrayLike, sigma: npt.ArrayLike, risk_free: npt.ArrayLike = 0.0
) -> float | FloatArray:
    r"""Leverage that maximises :func:`growth_rate`, :math:`L^* = (\mu - r_f)/\sigma^2` (E14).

    The maximal growth is :math:`r_f + (\mu - r_f)^2/(2\sigma^2)`.

    Parameters
    ----------
    mu : float or array_like
        Drift.
    sigma : float or array_like
        Volatility, > 0.
    risk_free : float or array_like, default 0

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If an argument is not finite or ``sigma <= 0``.

    Examples
    --------
    >>> round(kelly_leverage(0.3, 0.6), 6)  # crypto-like: far below 100x
    0.833333
    """
    mu_ = finite("mu", mu)
    sig = positive("sigma", sigma)
    rf = finite("risk_free", risk_free)
    return scalar_or_array((mu_ - rf) / (sig * sig))


def two_step_factor(leverage: npt.ArrayLike, price_return: npt.ArrayLike) -> float | FloatArray:
    r"""Wealth multiplier of a move :math:`+r` followed by :math:`-r`, :math:`1 - L^2 r^2` (E14).

    :math:`(1 + Lr)(1 - Lr) = 1 - L^2r^2`: the price is back where it started but levered
    wealth has shrunk, to zero at :math:`Lr = 1` (a 1% swing at 100x). Liquidation is not
    modelled, so for :math:`L|r| > 1` the factor is negative.

    Parameters
    ----------
    leverage : float or array_like
        :math:`L`, finite.
    price_return : float or array_like
        :math:`r`, finite.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If an argument is not finite.

    Examples
    --------
    >>> round(two_step_factor(100, 0.005), 6)
    0.75
    """
    lev = finite("leverage", leverage)
    r = finite("price_return", price_return)
    return scalar_or_array(1.0 - lev * lev * r * r)


def paper_growth(
    leverage: npt.ArrayLike, price_return: npt.ArrayLike, n: npt.ArrayLike
) -> float | FloatArray:
    r"""The paper's :math:`G = (1 + L\,\Delta P/P)^n`, exactly as printed (E14).

    It is the wealth multiplier only if all :math:`n` trades return the same :math:`\Delta P/P`;
    see :func:`alternating_growth` and :func:`growth_rate` for the correction.

    Parameters
    ----------
    leverage : float or array_like
        :math:`L`, finite.
    price_return : float or array_like
        :math:`\Delta P/P`, finite.
    n : float or array_like
        Number of trades, >= 0.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If an argument is not finite or ``n < 0``.

    Examples
    --------
    >>> round(paper_growth(100, 0.02, 3), 6)  # 3^3
    27.0
    """
    lev = finite("leverage", leverage)
    r = finite("price_return", price_return)
    k = nonnegative("n", n)
    return scalar_or_array(np.power(1.0 + lev * r, k))


def alternating_growth(
    leverage: npt.ArrayLike, price_return: npt.ArrayLike, n: npt.ArrayLike
) -> float | FloatArray:
    r"""Wealth multiplier of :math:`n` trades alternating :math:`+r, -r, +r, \dots` (E14).

    .. math:: G_n = (1 - L^2 r^2)^{\lfloor n/2 \rfloor} (1 + L r)^{n \bmod 2}

    Compare :func:`paper_growth`, which has no :math:`-r` steps at all.

    Parameters
    ----------
    leverage : float or array_like
        :math:`L`, finite.
    price_return : float or array_like
        :math:`r`, finite.
    n : int or array_like of int
        Number of trades, >= 0.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If an argument is not finite, or ``n`` is negative or not a whole number.

    Examples
    --------
    >>> round(alternating_growth(100, 0.005, 4), 6)  # 0.75 ** 2
    0.5625
    """
    lev = finite("leverage", leverage)
    r = finite("price_return", price_return)
    k = nonnegative("n", n)
    if not np.all(k == np.floor(k)):
        raise ValueError(f"n must be a whole number >= 0, got {n!r}")
    pairs = np.floor(k / 2.0)
    odd = k - 2.0 * pairs
    return scalar_or_array((1.0 - lev * lev * r * r) ** pairs * (1.0 + lev * r) ** odd)


def rebalanced_log_wealth(
    price_ratios: npt.ArrayLike, leverage: float, maintenance_rate: float = 0.005
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    r"""Log wealth of a long rebalanced to constant leverage every step, liquidation absorbing.

    Each step multiplies wealth by :math:`1 + L(R_t - 1)` for the step's price ratio
    :math:`R_t = P_{t+1}/P_t`; a step whose ratio falls below the liquidation barrier
    :math:`(1 - 1/L)/(1 - m)` (checked only at the grid, ``L > 1``) liquidates the position, and
    a liquidated trader ends with nothing (the penalty exceeds the equity left when it exceeds
    :math:`m`). No fees. This is the E14 simulation of section 4.1.

    Parameters
    ----------
    price_ratios : array_like, shape (n_paths, n_steps)
        Price ratios :math:`R_t > 0` of each step.
    leverage : float
        Constant leverage :math:`L > 0`.
    maintenance_rate : float, default 0.005
        Maintenance rate :math:`m` in [0, 1/L).

    Returns
    -------
    log_wealth : ndarray, shape (n_paths,)
        :math:`\ln W_T/W_0`, ``-inf`` for a liquidated path.
    liquidation_step : ndarray of int, shape (n_paths,)
        The step (1-based) at which the path was liquidated, -1 if never.

    Examples
    --------
    >>> ratios = np.array([[1.01, 0.99], [1.0, 0.9]])
    >>> log_w, step = rebalanced_log_wealth(ratios, 20.0)
    >>> round(float(log_w[0]), 6), float(log_w[1]), step.tolist()
    (-0.040822, -inf, [-1, 2])
    """
    ratios = positive("price_ratios", price_ratios)
    lev = float(positive("leverage", leverage))
    m = float(in_range("maintenance_rate", maintenance_rate, 0.0, 1.0, high_closed=False))
    hit = ratios < (float(liquidation_barrier(lev, m)) if lev > 1 else 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_w = np.log1p(lev * (ratios - 1.0)).sum(axis=1)
    first_hit = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, -1)
    return np.where(first_hit > 0, -np.inf, log_w), first_hit


def rebalanced_growth_model(
    leverage: float,
    mu: float,
    sigma: float,
    maintenance_rate: float = 0.005,
    dt: float = 1.0 / 8760.0,
    n_steps: int = 8760,
) -> tuple[float, float]:
    r"""Closed forms of :func:`rebalanced_log_wealth` under GBM: liquidation and survivors' growth.

    With log returns :math:`v \sim N(\nu\Delta t, \sigma^2\Delta t)`, :math:`\nu = \mu -
    \sigma^2/2`, a step liquidates with probability :math:`p = \Phi((\ln b - \nu\Delta t)/
    (\sigma\sqrt{\Delta t}))` for the barrier ratio :math:`b`, so the probability of liquidation
    within ``n_steps`` steps is :math:`1 - (1-p)^n`; a surviving path grows at the rate
    :math:`E[\ln(1 + L(e^v - 1)) \mid v > \ln b] / \Delta t` per unit time (by quadrature).

    Returns
    -------
    p_liquidated : float
        Probability of liquidation within ``n_steps`` steps.
    survivors_growth : float
        Expected log growth per unit time of the paths that survive.

    Examples
    --------
    >>> p, g = rebalanced_growth_model(1.0, 0.3, 0.8)
    >>> p, round(g, 6)  # at 1x: never liquidated, growth mu - sigma^2/2
    (0.0, -0.02)
    """
    from scipy import integrate, special, stats

    lev = float(positive("leverage", leverage))
    m = float(in_range("maintenance_rate", maintenance_rate, 0.0, 1.0, high_closed=False))
    vol = float(positive("sigma", sigma))
    step_dt = float(positive("dt", dt))
    nu_h = (float(finite("mu", mu)) - vol**2 / 2) * step_dt
    sd_h = vol * math.sqrt(step_dt)
    log_b = math.log(float(liquidation_barrier(lev, m))) if lev > 1 else -math.inf
    p_step = float(special.ndtr((log_b - nu_h) / sd_h))
    lo, hi = max(log_b, nu_h - 12 * sd_h), nu_h + 12 * sd_h
    step, _ = integrate.quad(
        lambda v: math.log1p(lev * math.expm1(v)) * stats.norm.pdf(v, nu_h, sd_h), lo, hi
    )
    return 1 - (1 - p_step) ** int(n_steps), step / (1 - p_step) / step_dt

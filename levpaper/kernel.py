r"""The arithmetic of the market, each formula once: the bottom layer under every engine.

The pool (:mod:`levpaper.pool`, :mod:`levpaper.pool_batch`), the margin exchange
(:mod:`levpaper.margin`), the environments (:mod:`levpaper.env`, :mod:`levpaper.vector_env`,
:mod:`levpaper.shared_env`) and the multi-agent market (:mod:`levpaper.market`) all call these
functions instead of writing the formulas again. There is no validation here: the engines check
their input once, at their own entry points, and call the kernel with values known to be valid.

Every function takes Python floats or float64 arrays (broadcast together) and uses only
``+ - * /``, ``sqrt``, ``min``/``max`` and comparisons, which IEEE 754 rounds correctly, so a
Python float and an array element give the same bits: the single environment (floats) and the
vector environment (arrays) are bit-identical because they call the same function. Functions
that branch (a square root, a maximum, a case distinction) test whether their first argument is
a float and then run a scalar path with ``math.sqrt`` and Python comparisons, which is many
times faster than numpy on one number; the array path evaluates the same expressions with numpy.

Notation (ledger rows E1, E2): reserves :math:`x` of the token paid in and :math:`y` of the token
paid out (or :math:`x = R_A`, :math:`y = R_B` where the roles are fixed), fee :math:`f`, fee
factor :math:`g = 1 - f` (:func:`fee_factor`); a trader's signed size :math:`Q` of A, cash
:math:`c` in B, equity :math:`E = c + QP` and notional :math:`N = |Q|P` at the price :math:`P`.

* Swaps (E1): :func:`swap_out` (exact in), :func:`swap_in` (exact out).
* Arbitrage to the fee band (E2): :func:`arbitrage` (the trade, rule ``"optimal"`` or
  ``"band_edge"``, as :func:`levpaper.pool.arbitrage_trade`) and :func:`arbitrage_factors` (the
  band-edge arbitrage as factors of the reserves, the form the environments step with).
* A trader against the pool: :func:`trade_notional` (buy or sell a notional in B),
  :func:`close_trade` (close a signed size), :func:`apply_orders` (signed orders in B of other
  traders).
* Margin (E5, the liquidation rule of :mod:`levpaper.margin`): :func:`liquidatable`
  (:math:`E < mN`), :func:`liquidation_penalty` (a rate of the B traded, capped by the equity)
  and :func:`settle` (penalty to the insurance fund, then a negative remainder from the fund,
  then bad debt).

Examples
--------
The same call on floats and on arrays gives the same bits:

>>> import numpy as np
>>> g = fee_factor(0.003)
>>> out = swap_out(10.0, 1_000.0, 2_500_000.0, g)
>>> outs = swap_out(np.array([10.0, 1.0]), 1_000.0, 2_500_000.0, g)
>>> bool(out == outs[0])
True
"""

from __future__ import annotations

import math
from typing import Any, Generic, NamedTuple, TypeVar, overload

import numpy as np

from levpaper._validate import FloatArray

__all__ = [
    "Settlement",
    "apply_orders",
    "arbitrage",
    "arbitrage_factors",
    "close_trade",
    "fee_factor",
    "liquidatable",
    "liquidation_penalty",
    "settle",
    "swap_in",
    "swap_out",
    "trade_notional",
]

Real = float | FloatArray
"""A Python float or a float64 array: what every kernel function takes."""

BoolArray = np.ndarray[tuple[int, ...], np.dtype[np.bool_]]

_sqrt = math.sqrt

_R = TypeVar("_R", bound="float | FloatArray")


# --- swaps (E1) ---------------------------------------------------------------------------------


@overload
def fee_factor(fee: float) -> float: ...  # type: ignore[overload-overlap]
@overload
def fee_factor(fee: Real) -> FloatArray: ...
def fee_factor(fee: Real) -> Real:
    """The fee factor :math:`g = 1 - f`: the part of an input the pool prices.

    Examples
    --------
    >>> fee_factor(0.003)
    0.997
    """
    return 1.0 - fee


@overload
def swap_out(amount_in: float, reserve_in: float, reserve_out: float, g: float) -> float: ...  # type: ignore[overload-overlap]
@overload
def swap_out(amount_in: Real, reserve_in: Real, reserve_out: Real, g: Real) -> FloatArray: ...
def swap_out(amount_in: Real, reserve_in: Real, reserve_out: Real, g: Real) -> Real:
    r"""Output of an exact-in swap, fee kept in the pool (E1).

    .. math:: \Delta y = \frac{y\, g\Delta x}{x + g\Delta x}

    Parameters
    ----------
    amount_in : float or ndarray
        :math:`\Delta x \ge 0` paid in (0 gives 0).
    reserve_in, reserve_out : float or ndarray
        Reserves :math:`x` of the token paid in and :math:`y` of the token paid out, > 0.
    g : float or ndarray
        Fee factor :math:`1 - f`.

    Returns
    -------
    float or ndarray
        :math:`\Delta y`, the amount paid out.

    Examples
    --------
    >>> round(swap_out(1.0, 100.0, 250_000.0, 0.997), 6)
    2467.895086
    >>> a = swap_out(np.array([1.0, 2.0]), 100.0, 250_000.0, 0.997)
    >>> bool(a[0] == swap_out(1.0, 100.0, 250_000.0, 0.997))
    True
    """
    net = g * amount_in
    return reserve_out * net / (reserve_in + net)


@overload
def swap_in(amount_out: float, reserve_in: float, reserve_out: float, g: float) -> float: ...  # type: ignore[overload-overlap]
@overload
def swap_in(amount_out: Real, reserve_in: Real, reserve_out: Real, g: Real) -> FloatArray: ...
def swap_in(amount_out: Real, reserve_in: Real, reserve_out: Real, g: Real) -> Real:
    r"""Input of an exact-out swap, the inverse of :func:`swap_out` (E1).

    .. math:: \Delta x = \frac{x\,\Delta y}{g (y - \Delta y)}

    Parameters
    ----------
    amount_out : float or ndarray
        :math:`0 \le \Delta y < y` wanted (0 gives 0).
    reserve_in, reserve_out : float or ndarray
        Reserves :math:`x` of the token paid in and :math:`y` of the token paid out, > 0.
    g : float or ndarray
        Fee factor :math:`1 - f`.

    Returns
    -------
    float or ndarray
        :math:`\Delta x`, the amount to pay in.

    Examples
    --------
    >>> round(swap_in(2467.895086, 100.0, 250_000.0, 0.997), 6)
    1.0
    >>> a = swap_in(np.array([2467.895086, 1.0]), 100.0, 250_000.0, 0.997)
    >>> bool(a[0] == swap_in(2467.895086, 100.0, 250_000.0, 0.997))
    True
    """
    return reserve_in * amount_out / (g * (reserve_out - amount_out))


# --- arbitrage to the fee band (E2) -------------------------------------------------------------


def _arbitrage_scalar(
    x: float, y: float, p: float, g: float, band_edge: bool
) -> tuple[float, float, float, float, float]:
    """:func:`arbitrage` on floats: the array path's expressions, with ``math.sqrt``."""
    buy = p > y / (g * x)
    sell = p < g * y / x
    rin, rout = (y, x) if buy else (x, y)
    din = 0.0
    if buy or sell:
        r = p * g * x / y if buy else g * y / (p * x)
        if band_edge:
            h = 1.0 + g
            u = 2.0 * (r - 1.0) / (h + math.sqrt(h * h + 4.0 * g * (r - 1.0)))
        else:
            u = (math.sqrt(r) - 1.0) / g
        din = rin * (u if u > 0.0 else 0.0)
    out = swap_out(din, rin, rout, g)
    d_a, d_b = (-out, din) if buy else (din, -out)
    return d_a, d_b, -(d_b + p * d_a), out, rout


@overload
def arbitrage(  # type: ignore[overload-overlap]
    x: float, y: float, p: float, g: float, band_edge: bool = False
) -> tuple[float, float, float, float, float]: ...
@overload
def arbitrage(
    x: Real, y: Real, p: Real, g: Real, band_edge: bool = False
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]: ...
def arbitrage(
    x: Real, y: Real, p: Real, g: Real, band_edge: bool = False
) -> tuple[Real, Real, Real, Real, Real]:
    r"""The arbitrage that brings a pool ``(x, y)`` (A, B) to the external price ``p`` (E2).

    The closed forms of :func:`levpaper.pool.arbitrage_trade` (its docstring derives them): no
    trade inside the band :math:`[gy/x, y/(gx)]`; above it the arbitrageur pays
    :math:`\Delta y = y u` of B for A, below it :math:`\Delta x = x u` of A for B, exact in, with
    :math:`r = pgx/y` (buying A) or :math:`gy/(px)` (selling A) and

    * ``band_edge=False`` (rule ``"optimal"``): :math:`u = (\sqrt r - 1)/g`;
    * ``band_edge=True``: :math:`u = 2(r-1)/\big((1+g) + \sqrt{(1+g)^2 + 4g(r-1)}\big)`, the
      pool ends on the edge of its new band.

    Parameters
    ----------
    x, y : float or ndarray
        Reserves of A and B, > 0.
    p : float or ndarray
        External price of A in B, > 0.
    g : float or ndarray
        Fee factor :math:`1 - f`.
    band_edge : bool, default False
        The rule, as above.

    Returns
    -------
    (amount_a, amount_b, profit, out, reserve_out)
        Changes of the pool's reserves of A and B, the arbitrageur's profit in B at ``p``
        (:math:`-(\Delta_B + p\Delta_A)`), the amount paid out by the pool and the reserve it was
        paid from (``out < reserve_out`` unless ``p`` is absurdly far from the pool price: the
        pool checks it).

    Examples
    --------
    >>> t = arbitrage(100.0, 250_000.0, 2_600.0, 0.997)
    >>> round(t[0], 6), round(t[1], 4), round(t[2], 4)
    (-1.794514, 4582.008, 83.7273)
    >>> ta = arbitrage(np.array([100.0, 100.0]), 250_000.0, np.array([2_600.0, 2_500.0]), 0.997)
    >>> bool(ta[0][0] == t[0] and ta[1][0] == t[1]), float(ta[0][1])  # inside the band: 0
    (True, 0.0)
    """
    if isinstance(x, float) and isinstance(y, float) and isinstance(p, float):
        return _arbitrage_scalar(x, y, p, float(g), band_edge)
    # Outside the band exactly as no_arbitrage_band computes it, so that prices on its edges
    # trade nothing whatever the rounding of r.
    buy = p > y / (g * x)  # A is cheap in the pool: buy it with B
    sell = p < g * y / x  # A is dear in the pool: sell it for B
    r = np.where(buy, p * g * x / y, g * y / (p * x))  # > 1 in exact arithmetic when trading
    rin = np.where(buy, y, x)
    rout = np.where(buy, x, y)
    if band_edge:
        h = 1.0 + g
        u = 2.0 * (r - 1.0) / (h + np.sqrt(h * h + 4.0 * g * (r - 1.0)))
    else:
        u = (np.sqrt(r) - 1.0) / g
    din = np.where(buy | sell, rin * np.maximum(u, 0.0), 0.0)
    out = swap_out(din, rin, rout, g)
    d_a = np.where(buy, -out, din)
    d_b = np.where(buy, din, -out)
    profit = -(d_b + p * d_a)
    return d_a, d_b, profit, out, rout


@overload
def arbitrage_factors(x: float, y: float, p: float, g: float) -> tuple[float, float]: ...  # type: ignore[overload-overlap]
@overload
def arbitrage_factors(x: Real, y: Real, p: Real, g: Real) -> tuple[FloatArray, FloatArray]: ...
def arbitrage_factors(x: Any, y: Any, p: Any, g: Any) -> Any:
    r"""The band-edge arbitrage to price ``p`` as factors of the reserves: ``(x * fx, y * fy)``.

    The rule ``"band_edge"`` of :func:`arbitrage`, written the way the environments step: with
    :math:`r_b = gxp/y` and :math:`r_s = g^2/r_b`, if :math:`r_b > r_s` (buying A) and
    :math:`d = r_b - 1 > 0`,

    .. math:: u = \frac{d}{(1+g)/2 + \sqrt{(1+g)^2/4 + g d}}, \qquad
              x' = \frac{x}{1 + gu}, \quad y' = y(1 + u),

    after which :math:`y'/(gx') = p`; symmetrically with :math:`d = r_s - 1` and the roles of the
    reserves exchanged when selling A. Inside the band (:math:`d \le 0`) both factors are 1. It
    is the same trade as :func:`arbitrage` with ``band_edge=True`` in exact arithmetic, rounded
    differently (the environments' trajectories are defined by this form).

    Parameters
    ----------
    x, y : float or ndarray
        Reserves of A and B, > 0.
    p : float or ndarray
        External price of A in B, > 0.
    g : float or ndarray
        Fee factor :math:`1 - f`.

    Returns
    -------
    (fx, fy) : float or ndarray
        Multiply the reserves by them.

    Examples
    --------
    >>> fx, fy = arbitrage_factors(100.0, 250_000.0, 2_600.0, 0.997)
    >>> x, y = 100.0 * fx, 250_000.0 * fy
    >>> round(y / (0.997 * x), 6)  # on the upper edge of the new band
    2600.0
    >>> prices = np.array([2_600.0, 2_500.0])
    >>> fa = arbitrage_factors(np.array([100.0, 100.0]), 250_000.0, prices, 0.997)
    >>> bool(fa[0][0] == fx and fa[1][0] == fy), (float(fa[0][1]), float(fa[1][1]))
    (True, (1.0, 1.0))
    """
    rb = g * x * p / y
    rs = g * g / rb
    if isinstance(rb, float):
        d = (rb if rb > rs else rs) - 1.0
        if d > 0:
            h2 = 0.5 * (1.0 + g)
            u = d / (h2 + _sqrt(h2 * h2 + g * d))
            if rb > rs:
                return 1.0 / (1.0 + g * u), 1.0 + u
            return 1.0 + u, 1.0 / (1.0 + g * u)
        return 1.0, 1.0
    h2 = 0.5 * (1.0 + g)
    hh4 = h2 * h2
    d = np.maximum(rb, rs)
    d -= 1.0
    np.maximum(d, 0.0, out=d)
    u = g * d
    u += hh4
    np.sqrt(u, out=u)
    u += h2
    np.divide(d, u, out=u)
    buy = rb > rs
    up = u + 1.0
    u *= g
    u += 1.0
    np.divide(1.0, u, out=u)  # 1 / (1 + g u)
    return np.where(buy, u, up), np.where(buy, up, u)


# --- a trader against the pool ------------------------------------------------------------------


@overload
def trade_notional(dn: float, x: float, y: float, g: float) -> tuple[float, float]: ...  # type: ignore[overload-overlap]
@overload
def trade_notional(dn: Real, x: Real, y: Real, g: Real) -> tuple[FloatArray, FloatArray]: ...
def trade_notional(dn: Any, x: Any, y: Any, g: Any) -> Any:
    r"""A trader buys (``dn > 0``) or sells (``dn < 0``) a notional ``|dn|`` in B at ``(x, y)``.

    Buying pays ``dn`` of B in, exact in (:func:`swap_out`); selling takes ``-dn`` of B out, exact
    out (:func:`swap_in`), at most half the reserve of B (the environments' rule, which keeps a
    sale finite). Returns ``(dq, db)``: the A the trader receives (signed; the pool's reserve of A
    changes by ``-dq``) and the B paid into the pool (signed; the trader's cash changes by
    ``-db``), so that the new state is ``x - dq, y + db, cash - db, Q + dq``.

    Parameters
    ----------
    dn : float or ndarray
        Signed notional in B.
    x, y : float or ndarray
        Reserves of A and B, > 0.
    g : float or ndarray
        Fee factor :math:`1 - f`.

    Returns
    -------
    (dq, db) : float or ndarray

    Examples
    --------
    >>> dq, db = trade_notional(2_500.0, 1_000.0, 2_500_000.0, 0.997)  # buy 2500 of B's worth
    >>> round(dq, 6), db
    (0.996007, 2500.0)
    >>> dqa, dba = trade_notional(np.array([2_500.0, -2_500.0, 0.0]), 1_000.0, 2_500_000.0, 0.997)
    >>> bool(dqa[0] == dq and dba[0] == db), round(float(dqa[1]), 6), float(dba[2])
    (True, -1.004013, 0.0)
    """
    if isinstance(dn, float):
        if dn > 0:
            return swap_out(dn, y, x, g), dn
        if dn < 0:
            ns = -dn
            half = y * 0.5
            if ns > half:
                ns = half
            return -swap_in(ns, x, y, g), -ns
        return 0.0, 0.0
    nb = np.maximum(dn, 0.0)
    ns = np.minimum(nb - dn, y * 0.5)
    return swap_out(nb, y, x, g) - swap_in(ns, x, y, g), nb - ns


@overload
def close_trade(  # type: ignore[overload-overlap]
    x: float, y: float, q: float, g: float
) -> tuple[float, float, float, float]: ...
@overload
def close_trade(
    x: Real, y: Real, q: Real, g: Real
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]: ...
def close_trade(x: Any, y: Any, q: Any, g: Any) -> Any:
    """Close signed sizes ``q`` of A through pools ``(x, y)``.

    A long (``q > 0``) sells ``q`` exact in (:func:`swap_out`), a short buys ``|q|`` back exact out
    (:func:`swap_in`). Returns the new reserves and the B received and paid, ``(x', y', recv,
    pay)`` (one of the two is 0); the trader's cash changes by ``recv - pay`` and the B traded is
    ``recv + pay``.

    Parameters
    ----------
    x, y : float or ndarray
        Reserves of A and B, > 0 (``|q| < x`` for a short).
    q : float or ndarray
        Signed sizes.
    g : float or ndarray
        Fee factor :math:`1 - f`.

    Examples
    --------
    >>> x1, y1, recv, pay = close_trade(1_000.0, 2_500_000.0, 1.0, 0.997)
    >>> round(recv, 6), pay, x1
    (2490.017453, 0.0, 1001.0)
    >>> q = np.array([1.0, -1.0])
    >>> xa, ya, ra, pa = close_trade(np.array([1_000.0, 1_000.0]), 2_500_000.0, q, 0.997)
    >>> bool(ra[0] == recv and ya[0] == y1), round(float(pa[1]), 6)
    (True, 2510.0326)
    """
    if isinstance(q, float):
        if q > 0:
            recv = swap_out(q, x, y, g)
            return x + q, y - recv, recv, 0.0
        if q < 0:
            qs = -q
            pay = swap_in(qs, y, x, g)
            return x - qs, y + pay, 0.0, pay
        return x, y, 0.0, 0.0
    ql = np.maximum(q, 0.0)
    qs = ql - q
    recv = swap_out(ql, x, y, g)
    pay = swap_in(qs, y, x, g)
    return x + ql - qs, y - recv + pay, recv, pay


@overload
def apply_orders(x: float, y: float, order: float, g: float) -> tuple[float, float]: ...  # type: ignore[overload-overlap]
@overload
def apply_orders(x: Real, y: Real, order: Real, g: Real) -> tuple[FloatArray, FloatArray]: ...
def apply_orders(x: Any, y: Any, order: Any, g: Any) -> Any:
    """Signed orders in B of other traders (:class:`levpaper.env.PoolTrader`) at pools ``(x, y)``.

    ``order > 0`` pays ``order`` of B in for A (exact in); ``order < 0`` sells ``-order / P`` of A
    (its value at the spot price :math:`P = y/x`) for B, exact in. Returns the changes of the
    reserves ``(dx, dy)``; the new pool is ``(x + dx, y + dy)``.

    Parameters
    ----------
    x, y : float or ndarray
        Reserves of A and B, > 0.
    order : float or ndarray
        Signed orders in B.
    g : float or ndarray
        Fee factor :math:`1 - f`.

    Examples
    --------
    >>> dx, dy = apply_orders(1_000.0, 2_500_000.0, -2_500.0, 0.997)  # sell 1 A
    >>> dx, round(dy, 6)
    (1.0, -2490.017453)
    >>> orders = np.array([-2_500.0, 0.0])
    >>> dxa, dya = apply_orders(np.array([1_000.0, 1_000.0]), 2_500_000.0, orders, 0.997)
    >>> bool(dxa[0] == dx and dya[0] == dy), (float(dxa[1]), float(dya[1]))
    (True, (0.0, 0.0))
    """
    if isinstance(order, float):
        if order > 0:
            return -swap_out(order, y, x, g), order
        if order < 0:
            a = -order / (y / x)
            return a, -swap_out(a, x, y, g)
        return 0.0, 0.0
    p = y / x
    ob = np.maximum(order, 0.0)
    oa = (ob - order) / p
    aout = swap_out(ob, y, x, g)
    bout = swap_out(oa, x, y, g)
    return oa - aout, ob - bout


# --- margin: liquidation and settlement ---------------------------------------------------------


@overload
def liquidatable(equity: float, notional: float, maintenance_rate: float) -> bool: ...  # type: ignore[overload-overlap]
@overload
def liquidatable(equity: Real, notional: Real, maintenance_rate: Real) -> BoolArray: ...
def liquidatable(equity: Real, notional: Real, maintenance_rate: Real) -> bool | BoolArray:
    r"""The liquidation rule of every engine: equity below maintenance, :math:`E < mN`.

    Strict: an account exactly at maintenance is not liquidated. A flat account (:math:`N = 0`)
    with cash :math:`\ge 0` never is.

    Parameters
    ----------
    equity : float or ndarray
        :math:`E = c + QP` at the mark.
    notional : float or ndarray
        :math:`N = |Q| P` at the mark.
    maintenance_rate : float or ndarray
        :math:`m`.

    Examples
    --------
    >>> liquidatable(0.4, 100.0, 0.005), liquidatable(0.5, 100.0, 0.005)
    (True, False)
    >>> liquidatable(np.array([0.4, 0.5]), 100.0, 0.005).tolist()
    [True, False]
    """
    return equity < maintenance_rate * notional


@overload
def liquidation_penalty(traded: float, equity: float, rate: float) -> float: ...  # type: ignore[overload-overlap]
@overload
def liquidation_penalty(traded: Real, equity: Real, rate: Real) -> FloatArray: ...
def liquidation_penalty(traded: Real, equity: Real, rate: Real) -> Real:
    r"""Penalty of a liquidation: ``rate`` times the B traded, capped by the equity left (>= 0).

    .. math:: \min(\rho\,\text{traded}, \max(E, 0))

    Examples
    --------
    >>> liquidation_penalty(1_000.0, 50.0, 0.0125), liquidation_penalty(1_000.0, 5.0, 0.0125)
    (12.5, 5.0)
    >>> liquidation_penalty(1_000.0, np.array([50.0, 5.0, -1.0]), 0.0125).tolist()
    [12.5, 5.0, 0.0]
    """
    if isinstance(equity, float) and isinstance(traded, float):
        room = equity if equity > 0 else 0.0
        pen = rate * traded
        return pen if pen < room else room
    return np.minimum(rate * traded, np.maximum(equity, 0.0))


class Settlement(NamedTuple, Generic[_R]):
    """The result of :func:`settle`: floats, or arrays of the inputs' broadcast shape."""

    cash: _R
    """What is left to the trader, >= 0."""
    fund: _R
    """The insurance fund after the penalty and what it paid."""
    bad_debt: _R
    """The part of the shortfall the fund could not pay (new bad debt), >= 0."""
    penalty: _R
    """The penalty paid into the fund (:func:`liquidation_penalty`)."""
    shortfall: _R
    """The negative remainder after the penalty, as a positive amount (0 if none)."""
    fund_paid: _R
    """The part of the shortfall the fund paid."""


@overload
def settle(cash: float, traded: float, fund: float, rate: float) -> Settlement[float]: ...  # type: ignore[overload-overlap]
@overload
def settle(cash: Real, traded: Real, fund: Real, rate: Real) -> Settlement[FloatArray]: ...
def settle(cash: Any, traded: Any, fund: Any, rate: Any) -> Any:
    r"""Settle closed accounts: penalty (capped by the cash) to the fund, shortfall from the fund,
    then bad debt.

    The liquidation engine's order (:mod:`levpaper.margin`): a penalty of ``rate`` times the B
    ``traded``, capped by the cash left (:func:`liquidation_penalty`), is paid into the insurance
    fund; a negative remainder (the shortfall) is paid by the fund as far as it can and the rest
    becomes bad debt; what is left (>= 0) stays with the trader. ``rate = 0`` settles a voluntary
    close (no penalty).

    Parameters
    ----------
    cash : float or ndarray
        The account's cash after the close (its equity, the position being flat).
    traded : float or ndarray
        B traded by the close, >= 0.
    fund : float or ndarray
        The insurance fund before, >= 0.
    rate : float or ndarray
        Penalty rate :math:`\rho`.

    Returns
    -------
    Settlement
        ``(cash, fund, bad_debt, penalty, shortfall, fund_paid)``. Conservation:
        ``cash + fund - bad_debt`` equals the ``cash + fund`` before, up to rounding (bad debt is
        the B created to close the hole).

    Examples
    --------
    >>> settle(20.0, 1_000.0, 100.0, 0.0125)[:3]  # penalty 12.5 to the fund
    (7.5, 112.5, 0.0)
    >>> s = settle(-30.0, 1_000.0, 10.0, 0.0125)  # underwater: fund pays 10, 20 is bad debt
    >>> s.cash, s.fund, s.bad_debt, s.penalty
    (0.0, 0.0, 20.0, 0.0)
    >>> a = settle(np.array([20.0, -30.0]), 1_000.0, np.array([100.0, 10.0]), 0.0125)
    >>> a.cash.tolist(), a.fund.tolist(), a.bad_debt.tolist()
    ([7.5, 0.0], [112.5, 0.0], [0.0, 20.0])
    """
    pen = liquidation_penalty(traded, cash, rate)
    fund = fund + pen
    rest = cash - pen
    if isinstance(rest, float) and isinstance(fund, float):
        if rest < 0:
            short = -rest
            paid = short if short < fund else fund
            return Settlement(0.0, fund - paid, short - paid, pen, short, paid)
        return Settlement(rest, fund, 0.0, pen, 0.0, 0.0)
    short = np.maximum(-rest, 0.0)
    paid = np.minimum(short, fund)
    return Settlement(np.maximum(rest, 0.0), fund - paid, short - paid, pen, short, paid)

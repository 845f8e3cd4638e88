r"""The constant-product pool of section 2.1 (ledger rows E1 and E2).

A pool holds reserves :math:`x = R_A` of token A (the risky token) and :math:`y = R_B` of token B
(the numeraire). Without fees every trade keeps :math:`x y = k` (E1). With a fee :math:`f` the
whole input is added to the reserves but only :math:`(1-f)` of it is priced, so the fee stays in
the pool and :math:`k` grows with every trade (Uniswap v2's rule, 997/1000 for :math:`f = 0.3\%`).
Throughout, :math:`g = 1 - f`.

Closed forms, as pure functions vectorised over numpy arrays:

* :func:`amount_out` -- exact-in swap, :math:`\Delta y = y g\Delta x / (x + g\Delta x)`;
* :func:`amount_in_for` -- exact-out swap, :math:`\Delta x = x\Delta y / (g(y - \Delta y))`;
* :func:`spot_price` -- :math:`P_{A/B} = R_B / R_A` (E2), the marginal price of A in B;
* :func:`execution_price`, :func:`slippage`, :func:`price_impact` and
  :func:`post_trade_price_ratio`;
* :func:`no_arbitrage_band` and :func:`arbitrage_trade` -- the fee-aware arbitrage that brings the
  pool to an external price, with the arbitrageur's profit;
* :func:`mint_shares` and :func:`burn_shares` -- adding and removing liquidity for LP shares;
* :func:`position_value`, :func:`impermanent_loss`, :func:`lvr_rate` and
  :func:`rebalancing_loss` -- what the liquidity provider earns or loses.

The stateful :class:`ConstantProductPool` applies them to one pool and rejects bad input without
changing its state; ``levpaper.pool_batch.PoolBatch`` applies the same closed forms (the same
functions of :mod:`levpaper.kernel`, so the results are bit-identical) to thousands of pools per
call.
"""

from __future__ import annotations

import math
from typing import Generic, Literal, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from levpaper import kernel
from levpaper._validate import (
    FloatArray,
    fee_rate,
    nonnegative,
    one_of,
    positive,
    scalar_or_array,
)

Token = Literal["A", "B"]
ArbitrageRule = Literal["optimal", "band_edge"]

__all__ = [
    "ArbitrageRule",
    "ArbitrageTrade",
    "ConstantProductPool",
    "LiquidityChange",
    "RebalancingLoss",
    "Token",
    "amount_in_for",
    "amount_out",
    "arbitrage_trade",
    "burn_shares",
    "execution_price",
    "impermanent_loss",
    "initial_shares",
    "lvr_rate",
    "mint_shares",
    "no_arbitrage_band",
    "position_value",
    "post_trade_price_ratio",
    "price_impact",
    "rebalancing_loss",
    "slippage",
    "spot_price",
]

_RULES: tuple[str, ...] = ("optimal", "band_edge")

# The field type of the result tuples: float (one pool), array (a batch) or either (pure functions).
_R = TypeVar("_R", bound="float | FloatArray")


class ArbitrageTrade(NamedTuple, Generic[_R]):
    """The arbitrage that brings a pool to an external price (see :func:`arbitrage_trade`).

    Attributes
    ----------
    amount_a : float or ndarray
        Change of the pool's reserve of A.
    amount_b : float or ndarray
        Change of the pool's reserve of B. Of the two changes one is > 0 (the token the
        arbitrageur pays in), the other < 0 (the token paid out); both are 0 when the price lies
        inside the band.
    profit : float or ndarray
        The arbitrageur's profit in B at the external price, ``-(amount_b + price * amount_a)``.
    """

    amount_a: _R
    amount_b: _R
    profit: _R


class LiquidityChange(NamedTuple, Generic[_R]):
    """Shares and tokens moved by adding or removing liquidity.

    Attributes
    ----------
    shares : float or ndarray
        LP shares minted (adding) or burned (removing), > 0.
    amount_a : float or ndarray
        A paid into the pool (adding) or paid out to the provider (removing), >= 0.
    amount_b : float or ndarray
        B paid into the pool (adding) or paid out to the provider (removing), >= 0.
    """

    shares: _R
    amount_a: _R
    amount_b: _R


class RebalancingLoss(NamedTuple):
    """A liquidity position along a price path against the rebalancing portfolio.

    All arrays have the shape of ``prices``; entry ``[..., t]`` is measured at price ``t``, after
    that step's arbitrage. See :func:`rebalancing_loss`.

    Attributes
    ----------
    pool_value : ndarray
        :math:`V_t = p_t x_t + y_t`, the pool's reserves valued at the external price.
    rebalancing_value : ndarray
        :math:`R_t = V_0 + \\sum_{s \\le t} x_{s-1}(p_s - p_{s-1})`, the self-financing portfolio
        that holds the pool's amount of A over each step.
    loss : ndarray
        :math:`R_t - V_t`, the realised loss-versus-rebalancing, net of the fees the pool kept.
    arbitrage_profit : ndarray
        Cumulative profit of the arbitrageurs in B; equal to ``loss`` up to rounding.
    """

    pool_value: FloatArray
    rebalancing_value: FloatArray
    loss: FloatArray
    arbitrage_profit: FloatArray


# ---------------------------------------------------------------------------------------------
# Liquidity kernels without validation, shared by the scalar and the batched path. The swap and
# arbitrage formulas are those of levpaper.kernel.
# ---------------------------------------------------------------------------------------------


def _k_mint(
    da: FloatArray, db: FloatArray, x: FloatArray, y: FloatArray, s: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Shares minted and tokens taken for a deposit of at most ``da`` and ``db``."""
    ratio_a = da / x
    ratio_b = db / y
    a_limits = ratio_a <= ratio_b
    ratio = np.where(a_limits, ratio_a, ratio_b)
    shares = s * ratio
    used_a = np.where(a_limits, da, np.minimum(x * ratio, da))
    used_b = np.where(a_limits, np.minimum(y * ratio, db), db)
    return shares, used_a, used_b


def _k_burn(
    shares: FloatArray, x: FloatArray, y: FloatArray, s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Tokens paid out for burning ``shares`` of ``s``."""
    frac = shares / s
    return x * frac, y * frac


# ---------------------------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------------------------


def spot_price(reserve_a: npt.ArrayLike, reserve_b: npt.ArrayLike) -> float | FloatArray:
    r"""Spot price of token A in units of token B, :math:`P_{A/B} = R_B / R_A` (E2).

    It is the price of an infinitesimal trade before fees; any finite trade executes worse.

    Parameters
    ----------
    reserve_a, reserve_b : float or array_like
        Reserves of token A and token B, finite and > 0.

    Returns
    -------
    float or ndarray
        ``reserve_b / reserve_a``.

    Raises
    ------
    ValueError
        If a reserve is not finite or not positive.

    Examples
    --------
    >>> spot_price(100.0, 250_000.0)
    2500.0
    """
    x = positive("reserve_a", reserve_a)
    y = positive("reserve_b", reserve_b)
    return scalar_or_array(y / x)


def amount_out(
    amount_in: npt.ArrayLike,
    reserve_in: npt.ArrayLike,
    reserve_out: npt.ArrayLike,
    fee: npt.ArrayLike = 0.003,
) -> float | FloatArray:
    r"""Output of an exact-in swap, fee kept in the pool (E1).

    .. math:: \Delta y = \frac{y (1-f) \Delta x}{x + (1-f) \Delta x}

    Parameters
    ----------
    amount_in : float or array_like
        Amount :math:`\Delta x` paid into the pool, finite and > 0.
    reserve_in, reserve_out : float or array_like
        Reserves :math:`x` of the token paid in and :math:`y` of the token paid out, > 0.
    fee : float or array_like, default 0.003
        Fee rate :math:`f` in [0, 1).

    Returns
    -------
    float or ndarray
        Amount :math:`\Delta y` received; below ``reserve_out`` (in float64 it rounds up to
        ``reserve_out`` only for inputs beyond about :math:`10^{16}` times ``reserve_in``, which
        the pools reject).

    Raises
    ------
    ValueError
        Naming the parameter that is not finite, not positive, or (fee) outside [0, 1).

    Examples
    --------
    >>> round(amount_out(1.0, 100.0, 250_000.0, fee=0.003), 6)
    2467.895086
    """
    dx = positive("amount_in", amount_in)
    x = positive("reserve_in", reserve_in)
    y = positive("reserve_out", reserve_out)
    f = fee_rate("fee", fee)
    return scalar_or_array(kernel.swap_out(dx, x, y, kernel.fee_factor(f)))


def amount_in_for(
    amount_out: npt.ArrayLike,
    reserve_in: npt.ArrayLike,
    reserve_out: npt.ArrayLike,
    fee: npt.ArrayLike = 0.003,
) -> float | FloatArray:
    r"""Input needed for an exact-out swap, the inverse of :func:`amount_out` (E1).

    .. math:: \Delta x = \frac{x \Delta y}{(1-f)(y - \Delta y)}

    Parameters
    ----------
    amount_out : float or array_like
        Amount :math:`\Delta y` wanted, finite, > 0 and strictly below ``reserve_out``.
    reserve_in, reserve_out : float or array_like
        Reserves of the token paid in and of the token paid out, > 0.
    fee : float or array_like, default 0.003
        Fee rate in [0, 1).

    Returns
    -------
    float or ndarray
        Amount :math:`\Delta x` to pay in.

    Raises
    ------
    ValueError
        If an argument is out of range, or ``amount_out >= reserve_out`` (the pool cannot pay).

    Examples
    --------
    >>> dx = amount_in_for(2467.895086, 100.0, 250_000.0)
    >>> round(dx, 6)
    1.0
    """
    dy = positive("amount_out", amount_out)
    x = positive("reserve_in", reserve_in)
    y = positive("reserve_out", reserve_out)
    f = fee_rate("fee", fee)
    if not np.all(dy < y):
        raise ValueError(f"amount_out must be < reserve_out, got {amount_out!r} >= {reserve_out!r}")
    return scalar_or_array(kernel.swap_in(dy, x, y, kernel.fee_factor(f)))


def execution_price(
    amount_in: npt.ArrayLike,
    reserve_in: npt.ArrayLike,
    reserve_out: npt.ArrayLike,
    fee: npt.ArrayLike = 0.003,
) -> float | FloatArray:
    r"""Average price of an exact-in swap, output per unit input, :math:`\Delta y / \Delta x`.

    .. math:: \frac{\Delta y}{\Delta x} = \frac{y (1-f)}{x + (1-f) \Delta x}

    It tends to :math:`(1-f)\, y/x` as the trade shrinks and falls as it grows.

    Parameters
    ----------
    amount_in : float or array_like
        Amount paid in, finite and > 0.
    reserve_in, reserve_out : float or array_like
        Reserves of the token paid in and of the token paid out, > 0.
    fee : float or array_like, default 0.003
        Fee rate in [0, 1).

    Returns
    -------
    float or ndarray
        Units of the output token received per unit paid in.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> round(execution_price(1e-9, 100.0, 250_000.0, fee=0.0), 6)
    2500.0
    """
    dx = positive("amount_in", amount_in)
    out = np.asarray(amount_out(dx, reserve_in, reserve_out, fee))
    return scalar_or_array(out / dx)


def slippage(
    amount_in: npt.ArrayLike, reserve_in: npt.ArrayLike, fee: npt.ArrayLike = 0.003
) -> float | FloatArray:
    r"""Shortfall of the execution price below the spot price, fee included (E2).

    .. math:: 1 - \frac{\Delta y / \Delta x}{y / x} = 1 - \frac{1-f}{1 + (1-f)\Delta x / x}

    It depends on the trade only through its size relative to the input reserve.

    Parameters
    ----------
    amount_in : float or array_like
        Amount paid in, finite and > 0.
    reserve_in : float or array_like
        Reserve of the token paid in, > 0.
    fee : float or array_like, default 0.003
        Fee rate in [0, 1).

    Returns
    -------
    float or ndarray
        Relative shortfall in [f, 1).

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> round(slippage(1.0, 100.0, fee=0.0), 6)  # 1% of the reserve costs ~0.99%
    0.009901
    """
    dx = positive("amount_in", amount_in)
    x = positive("reserve_in", reserve_in)
    f = fee_rate("fee", fee)
    return scalar_or_array(1.0 - (1.0 - f) / (1.0 + (1.0 - f) * dx / x))


def post_trade_price_ratio(
    amount_in: npt.ArrayLike, reserve_in: npt.ArrayLike, fee: npt.ArrayLike = 0.003
) -> float | FloatArray:
    r"""Spot price of the input token after an exact-in swap, relative to before (E2).

    .. math:: \frac{P'}{P} = \frac{x^2}{(x + (1-f)\Delta x)(x + \Delta x)}

    Selling :math:`\Delta x` into the pool always lowers the price of the token sold.

    Parameters
    ----------
    amount_in : float or array_like
        Amount paid in, finite and > 0.
    reserve_in : float or array_like
        Reserve of the token paid in, > 0.
    fee : float or array_like, default 0.003
        Fee rate in [0, 1).

    Returns
    -------
    float or ndarray
        :math:`P'/P` in (0, 1).

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> round(post_trade_price_ratio(1.0, 100.0, fee=0.0), 6)
    0.980296
    """
    dx = positive("amount_in", amount_in)
    x = positive("reserve_in", reserve_in)
    f = fee_rate("fee", fee)
    return scalar_or_array(x * x / ((x + (1.0 - f) * dx) * (x + dx)))


def price_impact(
    amount_in: npt.ArrayLike, reserve_in: npt.ArrayLike, fee: npt.ArrayLike = 0.003
) -> float | FloatArray:
    r"""Relative fall of the spot price of the token sold into the pool, :math:`1 - P'/P` (E2).

    Slippage (:func:`slippage`) compares the price the trader gets with the spot price before
    the trade; price impact is how far the trade moves the spot price for everyone after it:

    .. math:: 1 - \frac{x^2}{(x + (1-f)\Delta x)(x + \Delta x)}

    For a small trade it is about twice the slippage net of fee, :math:`(2-f)\Delta x / x`.

    Parameters
    ----------
    amount_in : float or array_like
        Amount paid in, finite and > 0.
    reserve_in : float or array_like
        Reserve of the token paid in, > 0.
    fee : float or array_like, default 0.003
        Fee rate in [0, 1).

    Returns
    -------
    float or ndarray
        Relative price move in (0, 1).

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> round(price_impact(1.0, 100.0, fee=0.0), 6)
    0.019704
    """
    ratio = np.asarray(post_trade_price_ratio(amount_in, reserve_in, fee))
    return scalar_or_array(1.0 - ratio)


def no_arbitrage_band(
    reserve_a: npt.ArrayLike, reserve_b: npt.ArrayLike, fee: npt.ArrayLike = 0.003
) -> tuple[float | FloatArray, float | FloatArray]:
    r"""External prices of A at which no trade with the pool is profitable: :math:`[gP, P/g]`.

    Selling a marginal unit of A to the pool pays :math:`g y/x = gP`; buying one costs
    :math:`y/(g x) = P/g`. An external price inside the band leaves nothing to arbitrage.

    Parameters
    ----------
    reserve_a, reserve_b : float or array_like
        Reserves, finite and > 0.
    fee : float or array_like, default 0.003
        Fee rate in [0, 1).

    Returns
    -------
    (lower, upper) : tuple of float or ndarray
        The band's edges, :math:`(1-f)R_B/R_A` and :math:`R_B/((1-f)R_A)`.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> lo, hi = no_arbitrage_band(100.0, 250_000.0, fee=0.003)
    >>> round(lo, 4), round(hi, 4)
    (2492.5, 2507.5226)
    """
    x = positive("reserve_a", reserve_a)
    y = positive("reserve_b", reserve_b)
    g = 1.0 - fee_rate("fee", fee)
    return scalar_or_array(g * y / x), scalar_or_array(y / (g * x))


def _check_arbitrage_output(
    out: float | FloatArray, rout: float | FloatArray, price: object
) -> None:
    if not np.all(out < rout):
        raise ValueError(
            f"price is too far from the pool price for float64: the arbitrage would empty a "
            f"reserve, got price={price!r}"
        )


def arbitrage_trade(
    reserve_a: npt.ArrayLike,
    reserve_b: npt.ArrayLike,
    price: npt.ArrayLike,
    fee: npt.ArrayLike = 0.003,
    *,
    rule: ArbitrageRule = "optimal",
) -> ArbitrageTrade[float | FloatArray]:
    r"""The arbitrage that brings a pool with fee to the external price ``price``, in closed form.

    Write :math:`x, y` for the reserves, :math:`P = y/x`, :math:`g = 1-f` and :math:`p` for the
    external price of A in B. If :math:`gP \le p \le P/g` (:func:`no_arbitrage_band`) no trade
    is profitable and the result is zero. If :math:`p > P/g`, A is cheap in the pool: the
    arbitrageur pays :math:`\Delta y` of B and receives
    :math:`\Delta x = x g\Delta y/(y + g\Delta y)` of A. With :math:`r = p g x / y > 1`:

    * ``rule="optimal"`` (default): the single trade of largest profit
      :math:`\pi(\Delta y) = p\,\Delta x(\Delta y) - \Delta y`. The first-order condition
      :math:`p\,\partial\Delta x/\partial\Delta y = p x g y/(y + g\Delta y)^2 = 1` says that the
      trade's own marginal price, fee included, equals :math:`p`; it gives
      :math:`(y + g\Delta y)^2 = p g x y`, so :math:`\Delta y = y(\sqrt r - 1)/g`. The pool then
      ends strictly inside the new band: with :math:`y' = y + \Delta y`,
      :math:`x' = xy/(y + g\Delta y)`, one has :math:`y'/(g x') > p` (the next unit would
      cost more than :math:`p`) and :math:`g y'/x' \le p` because :math:`g^2 (y+\Delta y) \le
      y + g\Delta y`.
    * ``rule="band_edge"``: the trade after which the pool's own marginal price net of fee
      equals :math:`p`, i.e. :math:`y'/(g x') = p`, the pool on the upper edge of its new band.
      That is :math:`(y + \Delta y)(y + g\Delta y) = p g x y`; with :math:`u = \Delta y / y`,
      :math:`g u^2 + (1+g)u + 1 - r = 0`, whose positive root, written without cancellation, is
      :math:`u = 2(r-1)/\big((1+g) + \sqrt{(1+g)^2 + 4g(r-1)}\big)`. Because the pool keeps the
      fee, the trade stops short of the optimum: at that point one more unit of the *same* trade
      still pays :math:`p x g y/(y + g\Delta y)^2 > p\,g x'/y' = 1` (the fee part of the input
      is added to the reserve but not priced until the trade ends). It trades a little less and
      earns a little less than ``"optimal"``; the gap is of order :math:`f` relative.

    Both rules coincide when :math:`f = 0` (then :math:`\Delta y = y(\sqrt{p x/y} - 1)`, the pool
    ends at :math:`P' = p`). If :math:`p < gP` the mirror trade sells A: exchange the roles of
    :math:`x` and :math:`y` and replace :math:`p` by :math:`1/p`, so :math:`r = g y/(p x)` and
    :math:`\Delta x = x(\sqrt r - 1)/g` (``"optimal"``).

    Parameters
    ----------
    reserve_a, reserve_b : float or array_like
        Reserves of A and B, finite and > 0.
    price : float or array_like
        External price of A in B, finite and > 0.
    fee : float or array_like, default 0.003
        Fee rate in [0, 1).
    rule : {"optimal", "band_edge"}, default "optimal"
        Where the arbitrageur stops, as above.

    Returns
    -------
    ArbitrageTrade
        ``(amount_a, amount_b, profit)``: the changes of the pool's reserves (the trade is a
        swap, so the pool's new reserves are ``reserve_a + amount_a``, ``reserve_b + amount_b``)
        and the arbitrageur's profit in B valued at ``price``, which is >= 0 up to rounding.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range, or if ``price`` is so far from the pool price
        (beyond about :math:`10^{32}` times) that the trade would empty a reserve in float64.

    Examples
    --------
    >>> t = arbitrage_trade(100.0, 250_000.0, 2_600.0, fee=0.003)
    >>> round(t.amount_a, 6), round(t.amount_b, 4), round(t.profit, 4)
    (-1.794514, 4582.008, 83.7273)
    >>> arbitrage_trade(100.0, 250_000.0, 2_500.0, fee=0.003).amount_a  # inside the band
    0.0
    """
    x = positive("reserve_a", reserve_a)
    y = positive("reserve_b", reserve_b)
    p = positive("price", price)
    g = kernel.fee_factor(fee_rate("fee", fee))
    one_of("rule", rule, _RULES)
    d_a, d_b, profit, out, rout = kernel.arbitrage(x, y, p, g, rule == "band_edge")
    _check_arbitrage_output(out, rout, price)
    return ArbitrageTrade(scalar_or_array(d_a), scalar_or_array(d_b), scalar_or_array(profit))


def initial_shares(reserve_a: npt.ArrayLike, reserve_b: npt.ArrayLike) -> float | FloatArray:
    r"""LP shares of a new pool, :math:`\sqrt{R_A}\sqrt{R_B}` (Uniswap v2's first mint).

    Uniswap v2 also locks 1000 base units forever; a float model has no need to.

    Parameters
    ----------
    reserve_a, reserve_b : float or array_like
        Initial reserves, finite and > 0.

    Returns
    -------
    float or ndarray
        The geometric mean of the reserves.

    Raises
    ------
    ValueError
        If a reserve is not finite and positive.

    Examples
    --------
    >>> initial_shares(100.0, 250_000.0)
    5000.0
    """
    x = positive("reserve_a", reserve_a)
    y = positive("reserve_b", reserve_b)
    return scalar_or_array(np.sqrt(x) * np.sqrt(y))


def mint_shares(
    amount_a: npt.ArrayLike,
    amount_b: npt.ArrayLike,
    reserve_a: npt.ArrayLike,
    reserve_b: npt.ArrayLike,
    total_shares: npt.ArrayLike,
) -> LiquidityChange[float | FloatArray]:
    r"""Shares minted for a deposit of at most ``amount_a`` of A and ``amount_b`` of B.

    A deposit must keep the pool's price, so only the proportional part is taken: with
    :math:`\rho = \min(\Delta a / R_A, \Delta b / R_B)` the pool takes :math:`\rho R_A` of A and
    :math:`\rho R_B` of B (the limiting token in full) and mints :math:`\rho S` shares, as
    Uniswap v2's router does. The provider keeps the rest.

    Parameters
    ----------
    amount_a, amount_b : float or array_like
        Most of each token the provider is willing to deposit, finite and > 0.
    reserve_a, reserve_b : float or array_like
        The pool's reserves, > 0.
    total_shares : float or array_like
        Shares outstanding, > 0.

    Returns
    -------
    LiquidityChange
        ``(shares, amount_a, amount_b)``: shares minted and tokens taken.

    Raises
    ------
    ValueError
        Naming the parameter that is not finite and positive.

    Examples
    --------
    >>> mint_shares(10.0, 50_000.0, 100.0, 250_000.0, 5_000.0)
    LiquidityChange(shares=500.0, amount_a=10.0, amount_b=25000.0)
    """
    da = positive("amount_a", amount_a)
    db = positive("amount_b", amount_b)
    x = positive("reserve_a", reserve_a)
    y = positive("reserve_b", reserve_b)
    s = positive("total_shares", total_shares)
    shares, used_a, used_b = _k_mint(da, db, x, y, s)
    return LiquidityChange(
        scalar_or_array(shares), scalar_or_array(used_a), scalar_or_array(used_b)
    )


def _check_burn(shares: FloatArray, s: FloatArray, raw: object) -> None:
    if not np.all(shares < s):
        raise ValueError(f"shares must be < total_shares (a pool cannot be emptied), got {raw!r}")


def burn_shares(
    shares: npt.ArrayLike,
    reserve_a: npt.ArrayLike,
    reserve_b: npt.ArrayLike,
    total_shares: npt.ArrayLike,
) -> LiquidityChange[float | FloatArray]:
    r"""Tokens paid out for burning ``shares``: the pro-rata part :math:`(s/S) R_A, (s/S) R_B`.

    Parameters
    ----------
    shares : float or array_like
        Shares to burn, finite, > 0 and < ``total_shares`` (the pool is never emptied).
    reserve_a, reserve_b : float or array_like
        The pool's reserves, > 0.
    total_shares : float or array_like
        Shares outstanding, > 0.

    Returns
    -------
    LiquidityChange
        ``(shares, amount_a, amount_b)``: shares burned and tokens paid out.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> burn_shares(500.0, 110.0, 275_000.0, 5_500.0)
    LiquidityChange(shares=500.0, amount_a=10.0, amount_b=25000.0)
    """
    sh = positive("shares", shares)
    x = positive("reserve_a", reserve_a)
    y = positive("reserve_b", reserve_b)
    s = positive("total_shares", total_shares)
    _check_burn(sh, s, shares)
    out_a, out_b = _k_burn(sh, x, y, s)
    return LiquidityChange(
        scalar_or_array(np.broadcast_to(sh, out_a.shape).copy()),
        scalar_or_array(out_a),
        scalar_or_array(out_b),
    )


def position_value(
    reserve_a: npt.ArrayLike, reserve_b: npt.ArrayLike, price: npt.ArrayLike
) -> float | FloatArray:
    r"""Value in B of reserves (or an LP's pro-rata part of them) at price ``price``:
    :math:`p R_A + R_B`.

    A fee-free pool arbitraged to :math:`p` holds :math:`R_A = \sqrt{k/p}`,
    :math:`R_B = \sqrt{kp}`, worth :math:`2\sqrt{kp}`.

    Parameters
    ----------
    reserve_a, reserve_b : float or array_like
        Token amounts, finite and >= 0.
    price : float or array_like
        Price of A in B, finite and > 0.

    Returns
    -------
    float or ndarray
        ``price * reserve_a + reserve_b``.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> position_value(100.0, 250_000.0, 2_500.0)
    500000.0
    """
    x = nonnegative("reserve_a", reserve_a)
    y = nonnegative("reserve_b", reserve_b)
    p = positive("price", price)
    return scalar_or_array(p * x + y)


def impermanent_loss(price_ratio: npt.ArrayLike) -> float | FloatArray:
    r"""Impermanent loss of a fee-free constant-product position, :math:`2\sqrt r/(1+r) - 1` (E2).

    An LP deposits at price :math:`p_0`; arbitrage takes the pool to :math:`p_1 = r p_0`. The
    position is then worth :math:`2\sqrt{k p_1}` against :math:`x_0 p_1 + y_0 = \sqrt{k p_0}(r+1)`
    for holding the deposit, a ratio of :math:`2\sqrt r/(1+r)`. It is <= 0, zero only at
    :math:`r = 1`, and the same for :math:`r` and :math:`1/r`.

    Parameters
    ----------
    price_ratio : float or array_like
        :math:`r = p_1/p_0`, finite and > 0.

    Returns
    -------
    float or ndarray
        Value of the position relative to holding, minus one, in (-1, 0].

    Raises
    ------
    ValueError
        If ``price_ratio`` is not finite and positive.

    Examples
    --------
    >>> round(impermanent_loss(4.0), 6)  # price x4: the LP is 20% behind holding
    -0.2
    """
    r = positive("price_ratio", price_ratio)
    return scalar_or_array(2.0 * np.sqrt(r) / (1.0 + r) - 1.0)


def lvr_rate(sigma: npt.ArrayLike, pool_value: npt.ArrayLike = 1.0) -> float | FloatArray:
    r"""Loss-versus-rebalancing of a constant-product pool per unit time, :math:`\sigma^2 V/8`.

    Milionis, Moallemi, Roughgarden and Zhang (2022): against a portfolio that holds the pool's
    amount of A at all times, a fee-free pool arbitraged continuously under a price with
    volatility :math:`\sigma` loses at the rate :math:`\ell = \tfrac{\sigma^2}{2} p^2
    |x'(p)| = \tfrac{\sigma^2}{8} V`, because :math:`x(p) = \sqrt{k/p}` and
    :math:`V = 2\sqrt{kp}`. See :func:`rebalancing_loss` for the realised loss along a path.

    Parameters
    ----------
    sigma : float or array_like
        Volatility per unit time (annualised for a rate per year), finite and >= 0.
    pool_value : float or array_like, default 1.0
        Pool value :math:`V` in B; the default gives the rate per unit of value.

    Returns
    -------
    float or ndarray
        :math:`\sigma^2 V / 8` per unit time.

    Raises
    ------
    ValueError
        If ``sigma`` is negative or ``pool_value`` not positive, or either is not finite.

    Examples
    --------
    >>> lvr_rate(0.8)  # 8% of the pool's value per year at 80% volatility
    0.08000000000000002
    """
    s = nonnegative("sigma", sigma)
    v = positive("pool_value", pool_value)
    return scalar_or_array(s * s / 8.0 * v)


def rebalancing_loss(
    prices: npt.ArrayLike,
    reserve_a: npt.ArrayLike,
    reserve_b: npt.ArrayLike,
    fee: npt.ArrayLike = 0.0,
    *,
    rule: ArbitrageRule = "optimal",
) -> RebalancingLoss:
    r"""Realised loss-versus-rebalancing of a pool arbitraged to each price of a path.

    At every step :math:`t \ge 1` the arbitrageur trades the pool to ``prices[..., t]`` with
    :func:`arbitrage_trade`; the rebalancing portfolio holds, over the step, the amount of A the
    pool held at its start, :math:`x_{t-1}`, and the rest in B. Both start at
    :math:`V_0 = p_0 x_0 + y_0` (the pool is not arbitraged at :math:`t = 0`). One step adds
    :math:`x_{t-1}(p_t - p_{t-1})` to the portfolio and
    :math:`x_{t-1}(p_t - p_{t-1}) - \pi_t` to the pool, where :math:`\pi_t` is the
    arbitrageur's profit, so the loss :math:`R_t - V_t` is the arbitrageurs' cumulative profit:
    the LVR of Milionis et al. when ``fee = 0``, and LVR net of the fees the pool kept otherwise.
    For a fee-free pool under GBM its expectation grows at :func:`lvr_rate` as the step shrinks.

    Parameters
    ----------
    prices : array_like, shape (..., n_steps + 1)
        External price paths, time along the last axis, finite and > 0.
    reserve_a, reserve_b : float or array_like
        Starting reserves, > 0, broadcastable to ``prices.shape[:-1]``.
    fee : float or array_like, default 0.0
        Fee rate in [0, 1).
    rule : {"optimal", "band_edge"}, default "optimal"
        Arbitrage rule, see :func:`arbitrage_trade`.

    Returns
    -------
    RebalancingLoss
        Pool value, rebalancing value, loss and cumulative arbitrage profit, each of the shape of
        ``prices``.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> res = rebalancing_loss([2500.0, 2600.0, 2500.0], 100.0, 250_000.0)
    >>> [round(float(v), 4) for v in res.loss]  # V/2 (sqrt(r) - 1)^2 per step without fee
    [0.0, 98.0486, 194.1932]
    """
    p = positive("prices", prices)
    if p.ndim == 0:
        raise ValueError(f"prices must have a time axis, got {prices!r}")
    lead = p.shape[:-1]
    x = np.broadcast_to(positive("reserve_a", reserve_a), lead).astype(np.float64)
    y = np.broadcast_to(positive("reserve_b", reserve_b), lead).astype(np.float64)
    g = np.broadcast_to(kernel.fee_factor(fee_rate("fee", fee)), lead).astype(np.float64)
    one_of("rule", rule, _RULES)
    band_edge = rule == "band_edge"
    pool = np.empty_like(p)
    reb = np.empty_like(p)
    arb = np.empty_like(p)
    pool[..., 0] = p[..., 0] * x + y
    reb[..., 0] = pool[..., 0]
    arb[..., 0] = 0.0
    for t in range(1, p.shape[-1]):
        pt = p[..., t]
        d_a, d_b, profit, out, rout = kernel.arbitrage(x, y, pt, g, band_edge)
        _check_arbitrage_output(out, rout, f"prices[..., {t}]")
        reb[..., t] = reb[..., t - 1] + x * (pt - p[..., t - 1])
        x = x + d_a
        y = y + d_b
        pool[..., t] = pt * x + y
        arb[..., t] = arb[..., t - 1] + profit
    return RebalancingLoss(pool, reb, reb - pool, arb)


# ---------------------------------------------------------------------------------------------
# One pool
# ---------------------------------------------------------------------------------------------


def _other(token_in: Token) -> Token:
    if token_in == "A":
        return "B"
    if token_in == "B":
        return "A"
    raise ValueError(f"token_in must be 'A' or 'B', got {token_in!r}")


def _scalar_positive(name: str, value: float) -> float:
    """``value`` as a float if finite and > 0 (fast path for Python numbers), else the standard
    ``ValueError`` / ``TypeError`` of :func:`levpaper._validate.positive`."""
    if isinstance(value, float | int):
        try:
            v = float(value)
        except OverflowError:
            v = math.inf
        if 0.0 < v < math.inf:
            return v
    arr = positive(name, value)
    if arr.ndim != 0:
        raise TypeError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    return float(arr)


def _drain_error(name: str, value: object) -> ValueError:
    return ValueError(
        f"{name} is too large for float64: the output would round up to the whole reserve, "
        f"got {value!r}"
    )


class ConstantProductPool:
    r"""A two-token constant-product pool that keeps its fee (E1, E2).

    Parameters
    ----------
    reserve_a : float
        Reserve of token A (the risky token), finite and > 0.
    reserve_b : float
        Reserve of token B (the numeraire), finite and > 0.
    fee : float, default 0.003
        Fee rate in [0, 1), charged on the input amount and left in the pool.
    shares : float, optional
        LP shares outstanding, > 0; default :func:`initial_shares` of the reserves.

    Attributes
    ----------
    reserve_a : float
        Reserve of A.
    reserve_b : float
        Reserve of B.
    fee : float
        Fee rate.
    total_shares : float
        LP shares outstanding. The state is validated here and changed only by the methods, each
        of which validates its input before it changes anything.

    Raises
    ------
    ValueError
        If a reserve or ``shares`` is not finite and positive or the fee is outside [0, 1).

    Examples
    --------
    >>> pool = ConstantProductPool(100.0, 250_000.0, fee=0.003)
    >>> pool.spot_price
    2500.0
    >>> out = pool.swap(1.0, "A")  # sell 1 A for B
    >>> round(out, 6), pool.reserve_a
    (2467.895086, 101.0)
    >>> pool.k > 100.0 * 250_000.0  # the fee stays in the pool
    True
    """

    __slots__ = ("fee", "reserve_a", "reserve_b", "total_shares")

    def __init__(
        self,
        reserve_a: float,
        reserve_b: float,
        fee: float = 0.003,
        *,
        shares: float | None = None,
    ) -> None:
        ra = float(positive("reserve_a", reserve_a))
        rb = float(positive("reserve_b", reserve_b))
        f = float(fee_rate("fee", fee))
        s = math.sqrt(ra) * math.sqrt(rb) if shares is None else float(positive("shares", shares))
        self.reserve_a = ra
        self.reserve_b = rb
        self.fee = f
        self.total_shares = s

    def __repr__(self) -> str:
        return (
            f"ConstantProductPool(reserve_a={self.reserve_a!r}, "
            f"reserve_b={self.reserve_b!r}, fee={self.fee!r})"
        )

    def copy(self) -> ConstantProductPool:
        """An independent pool with the same state."""
        return ConstantProductPool(
            self.reserve_a, self.reserve_b, self.fee, shares=self.total_shares
        )

    @property
    def k(self) -> float:
        """The invariant :math:`R_A R_B`; constant without fee, growing with one."""
        return self.reserve_a * self.reserve_b

    @property
    def spot_price(self) -> float:
        """Price of token A in token B, :math:`R_B / R_A` (E2)."""
        return self.reserve_b / self.reserve_a

    def _reserves(self, token_in: Token) -> tuple[float, float]:
        _other(token_in)
        if token_in == "A":
            return self.reserve_a, self.reserve_b
        return self.reserve_b, self.reserve_a

    def _apply(self, token_in: Token, amount_in: float, amount_out: float) -> None:
        if token_in == "A":
            self.reserve_a += amount_in
            self.reserve_b -= amount_out
        else:
            self.reserve_b += amount_in
            self.reserve_a -= amount_out

    def quote(self, amount_in: float, token_in: Token) -> float:
        """Output of an exact-in swap of ``amount_in`` of ``token_in``, without trading.

        Parameters
        ----------
        amount_in : float
            Amount paid in, finite and > 0.
        token_in : {"A", "B"}
            Token paid in.

        Returns
        -------
        float
            Amount of the other token the swap would pay out (:func:`amount_out`).

        Raises
        ------
        ValueError
            If ``token_in`` is not ``'A'``/``'B'``, ``amount_in`` not finite and positive, or so
            large that the output rounds up to the whole reserve.
        """
        x, y = self._reserves(token_in)
        dx = _scalar_positive("amount_in", amount_in)
        out = kernel.swap_out(dx, x, y, 1.0 - self.fee)
        if not out < y:
            raise _drain_error("amount_in", amount_in)
        return out

    def swap(self, amount_in: float, token_in: Token) -> float:
        """Pay ``amount_in`` of ``token_in`` into the pool; return the amount of the other token.

        Parameters
        ----------
        amount_in : float
            Amount paid in, finite and > 0; all of it is added to the reserve.
        token_in : {"A", "B"}
            Token paid in.

        Returns
        -------
        float
            Amount of the other token paid out (:func:`amount_out`), equal to :meth:`quote`.

        Raises
        ------
        ValueError
            If ``amount_in`` is not finite and positive (or so large that the output would round
            up to the whole reserve) or ``token_in`` is not ``'A'``/``'B'``; the pool is then
            unchanged.

        Examples
        --------
        >>> pool = ConstantProductPool(100.0, 250_000.0, fee=0.0)
        >>> round(pool.swap(2_500.0, "B"), 6)  # buy A with B
        0.990099
        """
        out = self.quote(amount_in, token_in)
        self._apply(token_in, float(amount_in), out)
        return out

    def quote_exact_out(self, amount_out: float, token_out: Token) -> float:
        """Input of ``_other(token_out)`` needed to receive ``amount_out``, without trading.

        Parameters
        ----------
        amount_out : float
            Amount of ``token_out`` wanted, finite, > 0 and below its reserve.
        token_out : {"A", "B"}
            Token received.

        Returns
        -------
        float
            Amount of the other token to pay in (:func:`amount_in_for`).

        Raises
        ------
        ValueError
            If ``token_out`` is not ``'A'``/``'B'``, ``amount_out`` is not finite and positive,
            not below the reserve, or so close to it that the input overflows.
        """
        token_in = _other(token_out)
        x, y = self._reserves(token_in)
        dy = _scalar_positive("amount_out", amount_out)
        if not dy < y:
            raise ValueError(f"amount_out must be < reserve_out, got {amount_out!r} >= {y!r}")
        paid = kernel.swap_in(dy, x, y, 1.0 - self.fee)
        if not paid < math.inf:
            raise ValueError(f"amount_out is too close to the reserve, got {amount_out!r}")
        return paid

    def swap_exact_out(self, amount_out: float, token_out: Token) -> float:
        """Receive exactly ``amount_out`` of ``token_out``; return the amount paid in.

        Parameters
        ----------
        amount_out : float
            Amount of ``token_out`` received, finite, > 0 and below its reserve.
        token_out : {"A", "B"}
            Token received; the other one is paid in.

        Returns
        -------
        float
            Amount of the other token paid in (:func:`amount_in_for`), equal to
            :meth:`quote_exact_out`.

        Raises
        ------
        ValueError
            If ``amount_out`` is not finite and positive, or not below the reserve of
            ``token_out``; the pool is then unchanged.

        Examples
        --------
        >>> pool = ConstantProductPool(100.0, 250_000.0, fee=0.0)
        >>> round(pool.swap_exact_out(1.0, "A"), 6)  # pay B for exactly 1 A
        2525.252525
        >>> pool.reserve_a
        99.0
        """
        paid = self.quote_exact_out(amount_out, token_out)
        self._apply(_other(token_out), paid, float(amount_out))
        return paid

    def quote_arbitrage(
        self, price: float, *, rule: ArbitrageRule = "optimal"
    ) -> ArbitrageTrade[float]:
        """The arbitrage to external price ``price`` (:func:`arbitrage_trade`), without trading.

        Parameters
        ----------
        price : float
            External price of A in B, finite and > 0.
        rule : {"optimal", "band_edge"}, default "optimal"
            Where the arbitrageur stops.

        Returns
        -------
        ArbitrageTrade
            Changes of the reserves and the arbitrageur's profit, as floats.

        Raises
        ------
        ValueError
            If ``price`` is not finite and positive or ``rule`` is unknown.
        """
        p = _scalar_positive("price", price)
        one_of("rule", rule, _RULES)
        d_a, d_b, profit, out, rout = kernel.arbitrage(
            self.reserve_a, self.reserve_b, p, 1.0 - self.fee, rule == "band_edge"
        )
        _check_arbitrage_output(out, rout, price)
        return ArbitrageTrade(float(d_a), float(d_b), float(profit))

    def arbitrage(self, price: float, *, rule: ArbitrageRule = "optimal") -> ArbitrageTrade[float]:
        """Trade the pool to external price ``price`` (:func:`arbitrage_trade`).

        The trade is the exact-in swap of the token paid in, so the pool ends exactly where
        :meth:`swap` with that amount would leave it.

        Examples
        --------
        >>> pool = ConstantProductPool(100.0, 250_000.0, fee=0.003)
        >>> trade = pool.arbitrage(2_600.0)
        >>> lo, hi = no_arbitrage_band(pool.reserve_a, pool.reserve_b, pool.fee)
        >>> bool(lo <= 2_600.0 <= hi)
        True
        """
        trade = self.quote_arbitrage(price, rule=rule)
        self.reserve_a += trade.amount_a
        self.reserve_b += trade.amount_b
        return trade

    def add_liquidity(self, amount_a: float, amount_b: float) -> LiquidityChange[float]:
        """Deposit at most ``amount_a`` of A and ``amount_b`` of B for LP shares.

        Only the part in proportion to the reserves is taken (:func:`mint_shares`), so the spot
        price does not move.

        Returns
        -------
        LiquidityChange
            Shares minted and the amounts of A and B taken.

        Raises
        ------
        ValueError
            If an amount is not finite and positive; the pool is then unchanged.

        Examples
        --------
        >>> pool = ConstantProductPool(100.0, 250_000.0)
        >>> pool.add_liquidity(10.0, 1e9)
        LiquidityChange(shares=500.0, amount_a=10.0, amount_b=25000.0)
        >>> pool.spot_price, pool.total_shares
        (2500.0, 5500.0)
        """
        da = _scalar_positive("amount_a", amount_a)
        db = _scalar_positive("amount_b", amount_b)
        shares, used_a, used_b = _k_mint(
            np.asarray(da),
            np.asarray(db),
            np.asarray(self.reserve_a),
            np.asarray(self.reserve_b),
            np.asarray(self.total_shares),
        )
        change = LiquidityChange(float(shares), float(used_a), float(used_b))
        self.reserve_a += change.amount_a
        self.reserve_b += change.amount_b
        self.total_shares += change.shares
        return change

    def remove_liquidity(self, shares: float) -> LiquidityChange[float]:
        """Burn ``shares`` LP shares for the pro-rata part of both reserves (:func:`burn_shares`).

        Returns
        -------
        LiquidityChange
            Shares burned and the amounts of A and B paid out.

        Raises
        ------
        ValueError
            If ``shares`` is not finite, positive and below ``total_shares``; the pool is then
            unchanged.
        """
        sh = _scalar_positive("shares", shares)
        if not sh < self.total_shares:
            raise ValueError(
                f"shares must be < total_shares (a pool cannot be emptied), got {shares!r}"
            )
        out_a, out_b = _k_burn(
            np.asarray(sh),
            np.asarray(self.reserve_a),
            np.asarray(self.reserve_b),
            np.asarray(self.total_shares),
        )
        change = LiquidityChange(sh, float(out_a), float(out_b))
        if not (change.amount_a < self.reserve_a and change.amount_b < self.reserve_b):
            raise ValueError(f"shares rounds to the whole pool in float64, got {shares!r}")
        self.reserve_a -= change.amount_a
        self.reserve_b -= change.amount_b
        self.total_shares -= sh
        return change

    def value(self, price: float | None = None) -> float:
        """Value of the reserves in B at ``price`` (default: the spot price).

        Raises
        ------
        ValueError
            If ``price`` is not finite and positive.
        """
        p = self.spot_price if price is None else _scalar_positive("price", price)
        return p * self.reserve_a + self.reserve_b

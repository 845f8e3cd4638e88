r"""The constant-product pool of section 2.1 (ledger rows E1 and E2).

A pool holds reserves :math:`x = R_A` of token A (the risky token) and :math:`y = R_B` of token B
(the numeraire). Without fees every trade keeps :math:`x y = k` (E1). With a fee :math:`f` the
whole input is added to the reserves but only :math:`(1-f)` of it is priced, so the fee stays in
the pool and :math:`k` grows with every trade (Uniswap v2's rule, 997/1000 for :math:`f = 0.3\%`).

Closed forms, as pure functions vectorised over numpy arrays:

* :func:`amount_out` -- exact-in swap, :math:`\Delta y = y(1-f)\Delta x / (x + (1-f)\Delta x)`;
* :func:`amount_in_for` -- exact-out swap, :math:`\Delta x = x\Delta y / ((1-f)(y - \Delta y))`;
* :func:`spot_price` -- :math:`P_{A/B} = R_B / R_A` (E2), the marginal price of A in B;
* :func:`execution_price`, :func:`slippage` and :func:`post_trade_price_ratio`.

The stateful :class:`ConstantProductPool` applies them to one pool and rejects bad input without
changing its state.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from levpaper._validate import FloatArray, fee_rate, positive, scalar_or_array

Token = Literal["A", "B"]

__all__ = [
    "ConstantProductPool",
    "amount_in_for",
    "amount_out",
    "execution_price",
    "post_trade_price_ratio",
    "slippage",
    "spot_price",
]


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
        Amount :math:`\Delta y` received; always below ``reserve_out``.

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
    net = (1.0 - f) * dx
    return scalar_or_array(y * net / (x + net))


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
    return scalar_or_array(x * dy / ((1.0 - f) * (y - dy)))


def execution_price(
    amount_in: npt.ArrayLike,
    reserve_in: npt.ArrayLike,
    reserve_out: npt.ArrayLike,
    fee: npt.ArrayLike = 0.003,
) -> float | FloatArray:
    r"""Average price of an exact-in swap, output per unit input, :math:`\Delta y / \Delta x`.

    .. math:: \frac{\Delta y}{\Delta x} = \frac{y (1-f)}{x + (1-f) \Delta x}

    It tends to :math:`(1-f)\, y/x` as the trade shrinks and falls as it grows.

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

    Examples
    --------
    >>> round(post_trade_price_ratio(1.0, 100.0, fee=0.0), 6)
    0.980296
    """
    dx = positive("amount_in", amount_in)
    x = positive("reserve_in", reserve_in)
    f = fee_rate("fee", fee)
    return scalar_or_array(x * x / ((x + (1.0 - f) * dx) * (x + dx)))


def _other(token_in: Token) -> Token:
    if token_in == "A":
        return "B"
    if token_in == "B":
        return "A"
    raise ValueError(f"token_in must be 'A' or 'B', got {token_in!r}")


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

    Raises
    ------
    ValueError
        If a reserve is not finite and positive or the fee is outside [0, 1).

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

    __slots__ = ("fee", "reserve_a", "reserve_b")

    def __init__(self, reserve_a: float, reserve_b: float, fee: float = 0.003) -> None:
        self.reserve_a = float(positive("reserve_a", reserve_a))
        self.reserve_b = float(positive("reserve_b", reserve_b))
        self.fee = float(fee_rate("fee", fee))

    def __repr__(self) -> str:
        return (
            f"ConstantProductPool(reserve_a={self.reserve_a!r}, "
            f"reserve_b={self.reserve_b!r}, fee={self.fee!r})"
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
        """Output of an exact-in swap of ``amount_in`` of ``token_in``, without trading."""
        x, y = self._reserves(token_in)
        return float(amount_out(amount_in, x, y, self.fee))

    def swap(self, amount_in: float, token_in: Token) -> float:
        """Pay ``amount_in`` of ``token_in`` into the pool; return the amount of the other token.

        Raises
        ------
        ValueError
            If ``amount_in`` is not finite and positive or ``token_in`` is not ``'A'``/``'B'``;
            the pool is then unchanged.
        """
        out = self.quote(amount_in, token_in)
        self._apply(token_in, float(amount_in), out)
        return out

    def quote_exact_out(self, amount_out: float, token_out: Token) -> float:
        """Input of ``_other(token_out)`` needed to receive ``amount_out``, without trading."""
        token_in = _other(token_out)
        x, y = self._reserves(token_in)
        return float(amount_in_for(amount_out, x, y, self.fee))

    def swap_exact_out(self, amount_out: float, token_out: Token) -> float:
        """Receive exactly ``amount_out`` of ``token_out``; return the amount paid in.

        Raises
        ------
        ValueError
            If ``amount_out`` is not finite and positive, or not below the reserve of
            ``token_out``; the pool is then unchanged.
        """
        paid = self.quote_exact_out(amount_out, token_out)
        self._apply(_other(token_out), paid, float(amount_out))
        return paid

r"""Many constant-product pools stepped at once (section 2.1, ledger rows E1 and E2, batched).

:class:`PoolBatch` holds the reserves, fees and LP shares of ``n`` independent pools as float64
arrays and applies the closed forms of :mod:`levpaper.pool` to all of them in one call: exact-in
and exact-out swaps in either direction (a boolean mask per pool), quotes, arbitrage to an array of
external prices, and adding or removing liquidity.

It calls the same functions of :mod:`levpaper.kernel` as :class:`levpaper.pool.ConstantProductPool`.
Those use only ``+``, ``-``, ``*``, ``/`` and ``sqrt``, which IEEE 754 rounds correctly whether the
operands are Python floats or numpy array elements, so pool ``i`` of a batch ends **bit-identical**
to a :class:`~levpaper.pool.ConstantProductPool` given the same calls (the tests check it with
``numpy.array_equal``).

Every method validates its input by default (``check=True``) and leaves the batch unchanged when
it raises. The swap methods take ``check=False`` for a hot loop whose input is known to be good:
then no input is converted or copied and no range is checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from levpaper import kernel
from levpaper._validate import FloatArray, fee_rate, one_of, positive
from levpaper.pool import (
    _RULES,
    ArbitrageRule,
    ArbitrageTrade,
    ConstantProductPool,
    LiquidityChange,
    _check_arbitrage_output,
    _k_burn,
    _k_mint,
)

__all__ = ["PoolBatch"]

BoolArray = npt.NDArray[np.bool_]


class PoolBatch:
    r"""``n`` constant-product pools with fees kept in the pool, as arrays (E1, E2).

    Token A is the risky token and B the numeraire in every pool; the spot price of A is
    ``reserve_b / reserve_a``. Directions are boolean: ``a_in=True`` pays A into a pool and takes
    B out, ``a_out=True`` takes A out and pays B in. A Python ``bool`` applies to every pool; an
    array gives one direction per pool.

    Parameters
    ----------
    reserve_a, reserve_b : array_like
        Reserves of A and of B, finite and > 0; broadcast together to one dimension.
    fee : float or array_like, default 0.003
        Fee rates in [0, 1).
    shares : float or array_like, optional
        LP shares outstanding, > 0; default :func:`levpaper.pool.initial_shares`.

    Attributes
    ----------
    reserve_a : ndarray
        Reserves of A, shape (n,), owned by the batch and updated in place.
    reserve_b : ndarray
        Reserves of B, likewise.
    total_shares : ndarray
        LP shares outstanding, likewise.

    Raises
    ------
    ValueError
        If an argument is out of range or the arguments do not broadcast to one dimension.

    Examples
    --------
    >>> batch = PoolBatch([100.0, 200.0, 300.0], [250_000.0, 500_000.0, 750_000.0])
    >>> out = batch.swap(1.0, a_in=np.array([True, False, True]))
    >>> [round(float(v), 6) for v in out]
    [2467.895086, 0.000399, 2484.244029]
    >>> [round(float(v), 6) for v in batch.reserve_a]
    [101.0, 199.999601, 301.0]
    """

    __slots__ = ("_fee", "_g", "reserve_a", "reserve_b", "total_shares")

    reserve_a: FloatArray
    reserve_b: FloatArray
    total_shares: FloatArray

    def __init__(
        self,
        reserve_a: npt.ArrayLike,
        reserve_b: npt.ArrayLike,
        fee: npt.ArrayLike = 0.003,
        *,
        shares: npt.ArrayLike | None = None,
    ) -> None:
        x = positive("reserve_a", reserve_a)
        y = positive("reserve_b", reserve_b)
        f = fee_rate("fee", fee)
        s = None if shares is None else positive("shares", shares)
        parts = [x, y, f] if s is None else [x, y, f, s]
        try:
            shape = np.broadcast_shapes(*(np.shape(v) for v in parts))
        except ValueError as exc:
            raise ValueError(
                "reserve_a, reserve_b, fee and shares must broadcast to one shape"
            ) from exc
        if len(shape) > 1:
            raise ValueError(f"a PoolBatch is one-dimensional, got shape {shape}")
        shape = (int(np.prod(shape)),)

        def own(v: FloatArray) -> FloatArray:
            return np.ascontiguousarray(np.broadcast_to(v, shape), dtype=np.float64).copy()

        self.reserve_a = own(x)
        self.reserve_b = own(y)
        fee_arr = own(f)
        g = 1.0 - fee_arr
        fee_arr.flags.writeable = False
        g.flags.writeable = False
        self._fee = fee_arr
        self._g = g
        self.total_shares = own(
            np.sqrt(self.reserve_a) * np.sqrt(self.reserve_b) if s is None else s
        )

    @classmethod
    def from_pools(cls, pools: Iterable[ConstantProductPool]) -> PoolBatch:
        """A batch holding the state of each of ``pools`` (copied).

        Examples
        --------
        >>> pools = [ConstantProductPool(1.0, 2.0), ConstantProductPool(3.0, 4.0)]
        >>> PoolBatch.from_pools(pools).spot_price
        array([2.        , 1.33333333])
        """
        ps = list(pools)
        return cls(
            [p.reserve_a for p in ps],
            [p.reserve_b for p in ps],
            [p.fee for p in ps],
            shares=[p.total_shares for p in ps],
        )

    def pool(self, i: int) -> ConstantProductPool:
        """A :class:`~levpaper.pool.ConstantProductPool` with the state of pool ``i`` (a copy)."""
        return ConstantProductPool(
            float(self.reserve_a[i]),
            float(self.reserve_b[i]),
            float(self._fee[i]),
            shares=float(self.total_shares[i]),
        )

    def copy(self) -> PoolBatch:
        """An independent batch with the same state."""
        return PoolBatch(self.reserve_a, self.reserve_b, self._fee, shares=self.total_shares)

    def __len__(self) -> int:
        return int(self.reserve_a.shape[0])

    def __repr__(self) -> str:
        return f"PoolBatch(n={len(self)})"

    @property
    def fee(self) -> FloatArray:
        """Fee rates (read-only)."""
        return self._fee

    @property
    def k(self) -> FloatArray:
        """The invariants :math:`R_A R_B`."""
        return self.reserve_a * self.reserve_b

    @property
    def spot_price(self) -> FloatArray:
        """Prices of A in B, :math:`R_B / R_A`."""
        return self.reserve_b / self.reserve_a

    def value(self, price: npt.ArrayLike | None = None) -> FloatArray:
        """Values of the reserves in B at ``price`` (default: each pool's spot price).

        Raises
        ------
        ValueError
            If ``price`` is not finite and positive.
        """
        p = self.spot_price if price is None else positive("price", price)
        return p * self.reserve_a + self.reserve_b

    # -- input handling -----------------------------------------------------------------------

    def _amounts(self, name: str, value: npt.ArrayLike) -> FloatArray:
        arr = positive(name, value)
        if arr.ndim == 0:
            return arr
        try:
            return np.broadcast_to(arr, self.reserve_a.shape)
        except ValueError as exc:
            raise ValueError(
                f"{name} must be a scalar or broadcast to shape {self.reserve_a.shape}, "
                f"got shape {arr.shape}"
            ) from exc

    def _direction(self, name: str, value: bool | npt.ArrayLike) -> bool | BoolArray:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        arr = np.asarray(value)
        if arr.dtype != np.bool_:
            raise TypeError(f"{name} must be a bool or an array of bools, got dtype {arr.dtype}")
        if arr.ndim == 0:
            return bool(arr)
        try:
            return np.broadcast_to(arr, self.reserve_a.shape)
        except ValueError as exc:
            raise ValueError(
                f"{name} must broadcast to shape {self.reserve_a.shape}, got shape {arr.shape}"
            ) from exc

    # -- exact in -----------------------------------------------------------------------------

    def _quote_in(self, dx: Any, a_in: Any) -> tuple[FloatArray, FloatArray]:
        ra, rb = self.reserve_a, self.reserve_b
        if a_in is True:
            x, y = ra, rb
        elif a_in is False:
            x, y = rb, ra
        else:
            x = np.where(a_in, ra, rb)
            y = np.where(a_in, rb, ra)
        return kernel.swap_out(dx, x, y, self._g), y

    def _apply_in(self, dx: Any, out: FloatArray, a_in: Any) -> None:
        ra, rb = self.reserve_a, self.reserve_b
        if a_in is True:
            ra += dx
            rb -= out
        elif a_in is False:
            rb += dx
            ra -= out
        else:
            neg = np.negative(out)
            ra += np.where(a_in, dx, neg)
            rb += np.where(a_in, neg, dx)

    def quote(
        self, amount_in: npt.ArrayLike, a_in: bool | npt.ArrayLike, *, check: bool = True
    ) -> FloatArray:
        """Outputs of exact-in swaps, without trading (see :meth:`swap`)."""
        if check:
            amount_in = self._amounts("amount_in", amount_in)
            a_in = self._direction("a_in", a_in)
        return self._checked_out(amount_in, a_in, check)

    def _checked_out(self, dx: Any, a_in: Any, check: bool) -> FloatArray:
        out, y = self._quote_in(dx, a_in)
        if check and not np.all(out < y):
            raise ValueError(
                "amount_in is too large for float64: an output would round up to the whole reserve"
            )
        return out

    def swap(
        self, amount_in: npt.ArrayLike, a_in: bool | npt.ArrayLike, *, check: bool = True
    ) -> FloatArray:
        """Exact-in swap in every pool: pay ``amount_in[i]`` in, receive the other token.

        Parameters
        ----------
        amount_in : float or array_like, shape (n,)
            Amounts paid in, finite and > 0.
        a_in : bool or array_like of bool, shape (n,)
            ``True`` where A is paid in (B out), ``False`` where B is paid in (A out).
        check : bool, default True
            Validate the input first. With ``False``, ``amount_in`` must already be a float or a
            float64 array of shape (n,) and ``a_in`` a bool or a bool array of shape (n,); nothing
            is checked or copied (the fast path).

        Returns
        -------
        ndarray, shape (n,)
            Amounts paid out.

        Raises
        ------
        ValueError
            If an amount is not finite and positive, shapes do not match, or an amount is so large
            that its output would round up to the whole reserve; the batch is then unchanged.
        TypeError
            If ``a_in`` is not boolean.
        """
        if check:
            amount_in = self._amounts("amount_in", amount_in)
            a_in = self._direction("a_in", a_in)
        out = self._checked_out(amount_in, a_in, check)
        self._apply_in(amount_in, out, a_in)
        return out

    # -- exact out ----------------------------------------------------------------------------

    def _out_reserves(self, a_out: Any) -> tuple[FloatArray, FloatArray]:
        ra, rb = self.reserve_a, self.reserve_b
        if a_out is True:
            return rb, ra
        if a_out is False:
            return ra, rb
        return np.where(a_out, rb, ra), np.where(a_out, ra, rb)

    def quote_exact_out(
        self, amount_out: npt.ArrayLike, a_out: bool | npt.ArrayLike, *, check: bool = True
    ) -> FloatArray:
        """Inputs needed for exact-out swaps, without trading (see :meth:`swap_exact_out`)."""
        if check:
            amount_out = self._amounts("amount_out", amount_out)
            a_out = self._direction("a_out", a_out)
        return self._checked_in(amount_out, a_out, check)

    def _checked_in(self, dy: Any, a_out: Any, check: bool) -> FloatArray:
        x, y = self._out_reserves(a_out)
        if check and not np.all(dy < y):
            raise ValueError("amount_out must be < reserve_out in every pool")
        paid: FloatArray = kernel.swap_in(dy, x, y, self._g)
        if check and not np.all(np.isfinite(paid)):
            raise ValueError("amount_out is too close to the reserve: the input overflows")
        return paid

    def swap_exact_out(
        self, amount_out: npt.ArrayLike, a_out: bool | npt.ArrayLike, *, check: bool = True
    ) -> FloatArray:
        """Exact-out swap in every pool: receive ``amount_out[i]``, pay the other token in.

        Parameters
        ----------
        amount_out : float or array_like, shape (n,)
            Amounts wanted, finite, > 0 and below the reserve of the token received.
        a_out : bool or array_like of bool, shape (n,)
            ``True`` where A is received (B paid in), ``False`` where B is received.
        check : bool, default True
            Validate the input first; see :meth:`swap`.

        Returns
        -------
        ndarray, shape (n,)
            Amounts paid in.

        Raises
        ------
        ValueError
            If an amount is not finite and positive or not below its reserve; the batch is then
            unchanged.
        TypeError
            If ``a_out`` is not boolean.
        """
        if check:
            amount_out = self._amounts("amount_out", amount_out)
            a_out = self._direction("a_out", a_out)
        dy: Any = amount_out
        paid = self._checked_in(dy, a_out, check)
        ra, rb = self.reserve_a, self.reserve_b
        if a_out is True:
            rb += paid
            ra -= dy
        elif a_out is False:
            ra += paid
            rb -= dy
        else:
            neg = np.negative(dy)
            ra += np.where(a_out, neg, paid)
            rb += np.where(a_out, paid, neg)
        return paid

    # -- arbitrage ----------------------------------------------------------------------------

    def quote_arbitrage(
        self, price: npt.ArrayLike, *, rule: ArbitrageRule = "optimal"
    ) -> ArbitrageTrade[FloatArray]:
        """The arbitrage of every pool to ``price[i]``, without trading (see :meth:`arbitrage`)."""
        p = self._amounts("price", price)
        one_of("rule", rule, _RULES)
        d_a, d_b, profit, out, rout = kernel.arbitrage(
            self.reserve_a, self.reserve_b, p, self._g, rule == "band_edge"
        )
        _check_arbitrage_output(out, rout, price)
        return ArbitrageTrade(d_a, d_b, profit)

    def arbitrage(
        self, price: npt.ArrayLike, *, rule: ArbitrageRule = "optimal"
    ) -> ArbitrageTrade[FloatArray]:
        """Trade every pool to its external price (:func:`levpaper.pool.arbitrage_trade`).

        Parameters
        ----------
        price : float or array_like, shape (n,)
            External prices of A in B, finite and > 0.
        rule : {"optimal", "band_edge"}, default "optimal"
            Where the arbitrageur stops.

        Returns
        -------
        ArbitrageTrade
            Arrays of the changes of the reserves and of the arbitrageurs' profits in B.

        Raises
        ------
        ValueError
            If a price is not finite and positive or ``rule`` is unknown; the batch is then
            unchanged.

        Examples
        --------
        >>> batch = PoolBatch([100.0, 100.0], [250_000.0, 250_000.0])
        >>> trade = batch.arbitrage([2_600.0, 2_400.0])
        >>> np.round(trade.profit, 4)
        array([83.7273, 87.7135])
        """
        trade = self.quote_arbitrage(price, rule=rule)
        self.reserve_a += trade.amount_a
        self.reserve_b += trade.amount_b
        return trade

    # -- liquidity ----------------------------------------------------------------------------

    def add_liquidity(
        self, amount_a: npt.ArrayLike, amount_b: npt.ArrayLike
    ) -> LiquidityChange[FloatArray]:
        """Deposit at most ``amount_a[i]`` of A and ``amount_b[i]`` of B in each pool for shares.

        Only the part in proportion to the reserves is taken
        (:func:`levpaper.pool.mint_shares`).

        Returns
        -------
        LiquidityChange
            Arrays of shares minted and of the amounts of A and B taken.

        Raises
        ------
        ValueError
            If an amount is not finite and positive; the batch is then unchanged.
        """
        da = self._amounts("amount_a", amount_a)
        db = self._amounts("amount_b", amount_b)
        shares, used_a, used_b = _k_mint(da, db, self.reserve_a, self.reserve_b, self.total_shares)
        self.reserve_a += used_a
        self.reserve_b += used_b
        self.total_shares += shares
        return LiquidityChange(shares, used_a, used_b)

    def remove_liquidity(self, shares: npt.ArrayLike) -> LiquidityChange[FloatArray]:
        """Burn ``shares[i]`` of each pool for its pro-rata reserves
        (:func:`levpaper.pool.burn_shares`).

        Returns
        -------
        LiquidityChange
            Arrays of shares burned and of the amounts of A and B paid out.

        Raises
        ------
        ValueError
            If a share amount is not finite, positive and below the pool's total; the batch is
            then unchanged.
        """
        sh = self._amounts("shares", shares)
        if not np.all(sh < self.total_shares):
            raise ValueError("shares must be < total_shares (a pool cannot be emptied)")
        out_a, out_b = _k_burn(sh, self.reserve_a, self.reserve_b, self.total_shares)
        if not (np.all(out_a < self.reserve_a) and np.all(out_b < self.reserve_b)):
            raise ValueError("shares rounds to the whole pool in float64")
        self.reserve_a -= out_a
        self.reserve_b -= out_b
        self.total_shares -= sh
        return LiquidityChange(np.broadcast_to(sh, out_a.shape).astype(np.float64), out_a, out_b)

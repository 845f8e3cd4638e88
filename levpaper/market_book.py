r"""The accounts of the multi-agent market and the trades that change them.

:class:`MarketBook` holds what :class:`levpaper.market.Market` keeps in tokens: the pools'
reserves, every trader's isolated-margin position per pool (size :math:`q` in A, cost basis
:math:`N` and margin :math:`C` in B, side :math:`s`; equity :math:`E = C + s(qP - N)`), the
traders' wallets, the insurance fund and bad debt, the arbitrageurs' and the withdrawing LPs'
balances and the fees, and it does every trade on them with :mod:`levpaper.kernel`: the
arbitrage (:func:`levpaper.kernel.arbitrage`, rule ``"optimal"``), the clearing of a step's
netted orders at one uniform price (:func:`levpaper.kernel.swap_in`, ``swap_out``), the booking
of opens, resizes and closes, the liquidation cascade of a pool (worst margin ratio first, the
test :func:`levpaper.kernel.liquidatable` :math:`E < mN`, the close
:func:`levpaper.kernel.close_trade` and the settlement :func:`levpaper.kernel.settle`) and the
per-token conservation check. The market decides *when* (its scenario, controls, policies and
records); the book only keeps the accounts. Its attributes are the market's working arrays,
changed in place; :class:`levpaper.market.Market` exposes them read-only.

Examples
--------
>>> import numpy as np
>>> book = MarketBook(np.array([1.0, -1.0]), np.array([100.0, 100.0]), 1, 1_000.0, 2.5e6,
...                   fee=0.003, liquidation_penalty=0.0125, insurance_fund=0.0, cooldown=None)
>>> want = np.array([0.2, -0.2])  # a long buys 0.2 A, a short sells 0.2 A: they cross
>>> price = book.clear(0, want)
>>> book.fill(0, 0, want, np.array([True, True]), np.array([25.0, 25.0]), price)
>>> price, book.q.tolist(), book.conservation() < 1e-15
(2500.0, [[0.2, 0.2]], True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from levpaper import kernel
from levpaper._validate import FloatArray

__all__ = ["MarketBook"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_NEVER = np.iinfo(np.int64).max

Liquidation = tuple[int, int, float, float, float, float, float, float, float, bool]
"""One liquidation: trader, side, trigger mark, execution price, size, notional (B traded),
equity at the mark, penalty, bad debt, induced."""


class _Queue(NamedTuple):
    """One side's liquidation queue in a pool: traders in order and their positions (floats)."""

    trader: list[int]
    q: list[float]
    n: list[float]
    c: list[float]
    primary: list[bool]  # below maintenance at the mark at the start of the cascade


def _liquidation_queues(
    q: FloatArray, n: FloatArray, c: FloatArray, side: FloatArray, live: BoolArray, m: float,
    mark: float,
) -> tuple[_Queue, _Queue] | None:  # fmt: skip
    r"""The liquidation order of one pool's open positions, or None if none is liquidatable.

    Longs in decreasing, shorts in increasing order of the liquidation price
    :math:`P_\text{liq} = (N - sC)/(q(1 - sm))` (where :math:`E = mqP`), which is the order of
    the margin ratio :math:`E/(qP)` at any mark (worst first); the primary set is the positions
    below maintenance at ``mark`` (:func:`levpaper.kernel.liquidatable`).
    """
    notional = q * mark
    below = live & kernel.liquidatable(c + side * (notional - n), notional, m)
    if not below.any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        liq = (n - side * c) / (q * (1.0 - side * m))
    li = np.flatnonzero(live & (side > 0))
    li = li[np.argsort(-liq[li], kind="stable")]
    si = np.flatnonzero(live & (side < 0))
    si = si[np.argsort(liq[si], kind="stable")]

    def queue(k: IntArray) -> _Queue:
        return _Queue(k.tolist(), q[k].tolist(), n[k].tolist(), c[k].tolist(), below[k].tolist())

    return queue(li), queue(si)


class MarketBook:
    """The market's accounts (module docstring); arrays pool axis first.

    Parameters
    ----------
    side : ndarray, shape (n_traders,)
        +1.0 long, -1.0 short.
    wallet : ndarray, shape (n_traders,)
        Each trader's B outside its positions (copied).
    n_pools : int
    reserve_a, reserve_b : float
        Every pool's start reserves.
    fee, liquidation_penalty, insurance_fund : float
    cooldown : int or None
        Steps after a close before the position may reopen; None: never.
    reopen_at : ndarray of int, shape (n_pools, n_traders), optional
        First step each position may open; default 0 everywhere.

    Attributes
    ----------
    side : ndarray, shape (n_traders,)
        Each trader's side, +1 or -1.
    wallet : ndarray, shape (n_traders,)
        Each trader's wallet in B.
    q : ndarray, shape (n_pools, n_traders)
        Size in A; 0 when flat.
    n : ndarray, shape (n_pools, n_traders)
        Cost basis in B; 0 when flat.
    c : ndarray, shape (n_pools, n_traders)
        Margin in B; 0 when flat.
    is_open : ndarray of bool
        Whether each position is open.
    reopen_at : ndarray of int
        First step each position may open.
    x : ndarray, shape (n_pools,)
        The pools' reserves of A.
    y : ndarray, shape (n_pools,)
        The pools' reserves of B.
    fund : float
        The insurance fund.
    bad_debt : float
        Bad debt so far.
    arb_a : ndarray, shape (n_pools,)
        A held by the arbitrageurs, per pool.
    lp_a : ndarray, shape (n_pools,)
        A withdrawn by LPs, per pool.
    fees_a : ndarray, shape (n_pools,)
        A paid in fees, per pool.
    arb_b : float
        B held by the arbitrageurs, over all pools.
    lp_b : float
        B withdrawn by LPs, over all pools.
    fees_b : float
        B paid in fees, over all pools.
    """

    def __init__(
        self,
        side: FloatArray,
        wallet: FloatArray,
        n_pools: int,
        reserve_a: float,
        reserve_b: float,
        *,
        fee: float,
        liquidation_penalty: float,
        insurance_fund: float,
        cooldown: int | None,
        reopen_at: IntArray | None = None,
    ) -> None:
        n = side.shape[0]
        self.fee, self.penalty_rate, self.cooldown = fee, liquidation_penalty, cooldown
        self.side = side
        self.wallet = wallet.copy()
        self.q = np.zeros((n_pools, n))
        self.n = np.zeros((n_pools, n))
        self.c = np.zeros((n_pools, n))
        self.is_open = np.zeros((n_pools, n), dtype=bool)
        self.reopen_at = np.zeros((n_pools, n), np.int64) if reopen_at is None else reopen_at
        self.x = np.full(n_pools, reserve_a)
        self.y = np.full(n_pools, reserve_b)
        self.x0, self.b0 = self.x.copy(), float(self.y.sum() + self.wallet.sum())
        self.fund = insurance_fund
        self.b0 += self.fund
        self.bad_debt = 0.0
        self.arb_a, self.arb_b = np.zeros(n_pools), 0.0
        self.lp_a, self.lp_b = np.zeros(n_pools), 0.0
        self.fees_a, self.fees_b = np.zeros(n_pools), 0.0

    # -- pools ---------------------------------------------------------------------------------

    def withdraw(self, fraction: float) -> None:
        """LPs burn ``fraction`` of every pool's reserves (the price is unchanged)."""
        self.lp_a += fraction * self.x
        self.lp_b += float((fraction * self.y).sum())
        self.x *= 1.0 - fraction
        self.y *= 1.0 - fraction

    def arbitrage(self, external: FloatArray) -> None:
        """Arbitrageurs trade every pool to its external price (:func:`levpaper.kernel.arbitrage`).

        Raises
        ------
        ValueError
            If a price would take a pool's whole reserve.
        """
        f = self.fee
        g = kernel.fee_factor(f)
        for j in range(self.x.shape[0]):
            price = float(external[j])
            da, db, _, out, rout = kernel.arbitrage(float(self.x[j]), float(self.y[j]), price, g)
            if da == 0.0 and db == 0.0:
                continue
            if not out < rout:
                raise ValueError(f"external price {price!r} of pool {j} would empty the pool")
            self.x[j] += da
            self.y[j] += db
            self.arb_a[j] -= da
            self.arb_b -= db
            if da > 0:
                self.fees_a[j] += f * da
            else:
                self.fees_b += f * db

    def clear(self, j: int, dq: FloatArray) -> float:
        """Net the signed A orders ``dq`` (buy > 0) of pool ``j`` into one swap through it and
        return the uniform price (B per A, fee included; the spot if they cancel).

        Raises
        ------
        ValueError
            If the net buy is not below the pool's reserve of A.
        """
        x, y, f = float(self.x[j]), float(self.y[j]), self.fee
        g = kernel.fee_factor(f)
        d = float(dq.sum())
        if d > 0:
            if not d < x:
                raise ValueError(f"net order of pool {j} exceeds its reserve of A")
            b_in = kernel.swap_in(d, y, x, g)  # B in for d of A out
            self.x[j] = x - d
            self.y[j] = y + b_in
            self.fees_b += f * b_in
            return b_in / d
        if d < 0:
            a_in = -d
            b_out = kernel.swap_out(a_in, x, y, g)
            self.x[j] = x + a_in
            self.y[j] = y - b_out
            self.fees_a[j] += f * a_in
            return b_out / a_in
        return y / x

    # -- positions -----------------------------------------------------------------------------

    def fill(
        self, j: int, t: int, want: FloatArray, opening: BoolArray, margin: FloatArray,
        price: float,
    ) -> None:  # fmt: skip
        """Book pool ``j``'s orders ``want`` (signed A, buy > 0) cleared at ``price`` at step
        ``t``: the ``opening`` traders post ``margin``; a position grows, is cut pro rata (its
        basis with it, the difference realised into its margin) or, cut to 0, closed and paid
        out."""
        side = self.side
        dq = side * want  # > 0 grows the position
        grow = dq > 0
        shrink = dq < 0
        self.wallet[opening] -= margin[opening]
        self.c[j, opening] = margin[opening]
        self.is_open[j, opening] = True
        self.q[j, grow] += dq[grow]
        self.n[j, grow] += dq[grow] * price
        if shrink.any():
            idx = np.flatnonzero(shrink)
            q, n = self.q[j, idx], self.n[j, idx]
            cut = -dq[idx]
            full = cut >= q
            cut = np.minimum(cut, q)
            basis_out = np.where(full, n, n * cut / q)
            self.c[j, idx] += side[idx] * (cut * price - basis_out)
            self.n[j, idx] -= basis_out
            self.q[j, idx] -= cut
            for i in idx[full]:
                _, _, payout = self.settle(float(self.c[j, i]), 0.0, False)
                self.wallet[i] += payout
                self.flat(j, int(i), t)

    def settle(self, equity: float, traded: float, penalise: bool) -> tuple[float, float, float]:
        """Settle a closed position (:func:`levpaper.kernel.settle`); (penalty, bad debt, cash)."""
        rate = self.penalty_rate if penalise else 0.0
        st = kernel.settle(equity, traded, self.fund, rate)
        self.fund = float(st.fund)
        self.bad_debt += float(st.bad_debt)
        return float(st.penalty), float(st.bad_debt), float(st.cash)

    def flat(self, j: int, i: int, t: int) -> None:
        """Zero trader ``i``'s position in pool ``j``, closed at step ``t`` (cool-down starts)."""
        self.q[j, i] = self.n[j, i] = self.c[j, i] = 0.0
        self.is_open[j, i] = False
        self.reopen_at[j, i] = _NEVER if self.cooldown is None else t + self.cooldown

    def equity(self, marks: FloatArray) -> FloatArray:
        """:math:`E = C + s(qP - N)` per (pool, trader) at the pools' ``marks``."""
        return np.asarray(self.c + self.side * (self.q * marks[:, None] - self.n), dtype=np.float64)

    def trader_wealth(self) -> FloatArray:
        """Each trader's wallet plus the positive part of its positions' equity at the spot."""
        eq = self.c + self.side * (self.q * (self.y / self.x)[:, None] - self.n)
        return np.asarray(self.wallet + np.maximum(eq, 0.0).sum(axis=0), dtype=np.float64)

    # -- liquidation ---------------------------------------------------------------------------

    def cascade(self, j: int, t: int, m: float, mark: float, spot_mark: bool) -> list[Liquidation]:
        """Pool ``j``'s liquidation cascade at step ``t``: positions with :math:`E < mN` closed
        one by one, worst margin ratio first (the head of the long or the short queue with the
        lower ratio), the mark recomputed after each close (the spot; with ``spot_mark`` False
        it stays at ``mark``, a TWAP), until none is left.

        Each is closed through the pool (:func:`levpaper.kernel.close_trade`) and settled with
        the penalty (:meth:`settle`). Returns the liquidations in order.

        Raises
        ------
        ValueError
            If the pool cannot fill a short's buy-back (the closes before it stand).
        """
        queues = _liquidation_queues(self.q[j], self.n[j], self.c[j], self.side, self.is_open[j],
                                     m, mark)  # fmt: skip
        if queues is None:
            return []
        longs, shorts = queues
        f = self.fee
        g = kernel.fee_factor(f)
        x, y = float(self.x[j]), float(self.y[j])
        out: list[Liquidation] = []
        payouts: list[float] = []
        kl = ks = 0
        n_l, n_s = len(longs.trader), len(shorts.trader)
        try:
            while True:
                p = y / x if spot_mark else mark
                cand_l = cand_s = False
                if kl < n_l:
                    nl = longs.q[kl] * p
                    el = longs.c[kl] + (nl - longs.n[kl])
                    cand_l = kernel.liquidatable(el, nl, m)
                if ks < n_s:
                    ns = shorts.q[ks] * p
                    es = shorts.c[ks] + (shorts.n[ks] - ns)
                    cand_s = kernel.liquidatable(es, ns, m)
                if not (cand_l or cand_s):
                    return out
                take_long = cand_l
                if cand_l and cand_s:  # both below maintenance: the lower margin ratio first
                    take_long = el / nl <= es / ns
                queue, k = (longs, kl) if take_long else (shorts, ks)
                i, q, nb, c = queue.trader[k], queue.q[k], queue.n[k], queue.c[k]
                if take_long:
                    kl += 1
                    equity = c + (q * p - nb)
                    x, y, recv, pay = kernel.close_trade(x, y, q, g)  # sell q, exact in
                    db = recv + pay  # the B traded
                    self.fees_a[j] += f * q
                    realised = db - nb
                else:
                    ks += 1
                    equity = c + (nb - q * p)
                    if not q < x:
                        raise ValueError(f"pool {j} cannot fill the liquidation of trader {i}")
                    x, y, recv, pay = kernel.close_trade(x, y, -q, g)  # buy q back, exact out
                    db = recv + pay
                    self.fees_b += f * db
                    realised = nb - db
                penalty, bad, payout = self.settle(c + realised, db, True)
                payouts.append(payout)
                sd = 1 if take_long else -1
                out.append((i, sd, p, db / q, q, db, equity, penalty, bad, not queue.primary[k]))
        finally:  # the pool and the closed positions, whether the cascade ended or failed
            self.x[j], self.y[j] = x, y
            if out:
                idx = np.array([ev[0] for ev in out], dtype=np.int64)
                self.wallet[idx] += payouts  # each trader once
                self.q[j, idx] = self.n[j, idx] = self.c[j, idx] = 0.0
                self.is_open[j, idx] = False
                self.reopen_at[j, idx] = _NEVER if self.cooldown is None else t + self.cooldown

    # -- conservation --------------------------------------------------------------------------

    def conservation(self) -> float:
        """Largest relative per-token conservation residual (:mod:`levpaper.market`)."""
        cash = self.c - self.side * self.n
        signed = self.side * self.q
        res_a = self.x + signed.sum(axis=1) + self.arb_a + self.lp_a - self.x0
        scale_a = self.x + self.q.sum(axis=1) + np.abs(self.arb_a) + self.lp_a + self.x0
        total_b = (
            float(self.y.sum())
            + float(cash.sum())
            + float(self.wallet.sum())
            + self.fund
            + self.arb_b
            + self.lp_b
            - self.bad_debt
        )
        scale_b = (
            float(self.y.sum())
            + float(np.abs(cash).sum())
            + float(self.wallet.sum())
            + self.fund
            + abs(self.arb_b)
            + self.lp_b
            + self.bad_debt
            + self.b0
        )
        return max(float(np.max(np.abs(res_a) / scale_a)), abs(total_b - self.b0) / scale_b)

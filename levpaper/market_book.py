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

import copy

import numpy as np
import numpy.typing as npt

from levpaper import kernel
from levpaper._validate import FloatArray

__all__ = ["MarketBook", "limit_orders"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_NEVER = np.iinfo(np.int64).max

Liquidation = tuple[int, int, float, float, float, float, float, float, float, bool]
"""One liquidation: trader, side, trigger mark, execution price, size, notional (B traded),
equity at the mark, penalty, bad debt, induced."""


class _Queue:
    """One side's liquidation queue in a pool: traders in order and their positions, as Python
    lists converted lazily (a cascade reads only the head of a queue of thousands)."""

    __slots__ = ("_arrays", "_k", "c", "n", "primary", "q", "size", "trader")

    def __init__(
        self, k: IntArray, q: FloatArray, n: FloatArray, c: FloatArray, below: BoolArray
    ) -> None:
        self._k, self._arrays, self.size = k, (q, n, c, below), int(k.shape[0])
        self.trader: list[int] = []
        self.q: list[float] = []
        self.n: list[float] = []
        self.c: list[float] = []
        self.primary: list[bool] = []  # below maintenance at the mark at the start of the cascade

    def reach(self, i: int) -> None:
        """Convert the queue up to entry ``i`` (< ``size``)."""
        have = len(self.trader)
        if i < have:
            return
        part = self._k[have : min(self.size, max(2 * have, 16, i + 1))]
        q, n, c, below = self._arrays
        self.trader.extend(part.tolist())
        self.q.extend(q[part].tolist())
        self.n.extend(n[part].tolist())
        self.c.extend(c[part].tolist())
        self.primary.extend(below[part].tolist())


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

    return _Queue(li, q, n, c, below), _Queue(si, q, n, c, below)


def limit_orders(
    want: FloatArray, q: FloatArray, side: FloatArray, is_open: BoolArray, mark: float,
    reserve_b: float, oi_cap: float | None, position_cap: float | None,
) -> tuple[FloatArray, FloatArray, float]:  # fmt: skip
    r"""Cut one pool's growing orders to the position cap, then to the open-interest cap.

    The growth of trader :math:`i` is :math:`g_i = \max(s_i w_i, 0)` (``want`` signed in A, buy
    > 0). The position cap cuts it to :math:`\max(\bar q - q_i, 0)` with
    :math:`\bar q = ` ``position_cap`` :math:`y/P`. The open-interest cap of side :math:`s`
    then scales every growing order of the side by the same factor
    :math:`\min(1, \max(R_s, 0)/G_s)` (pro rata), where :math:`G_s` is the side's growth at the
    mark and :math:`R_s = ` ``oi_cap`` :math:`y` minus the side's open interest :math:`\sum qP`
    after this step's reductions; reductions are never cut.

    Returns
    -------
    (want, scale, rejected)
        The orders after the caps, each trader's growth kept (1 where it did not grow) and
        the rejected notional at the mark, in B.

    Examples
    --------
    >>> w = np.array([0.4, 0.4, -0.1])  # two longs grow by 0.4 A, a short grows by 0.1 A
    >>> side, q, live = np.array([1.0, 1.0, -1.0]), np.zeros(3), np.zeros(3, dtype=bool)
    >>> out, scale, rej = limit_orders(w, q, side, live, 2500.0, 1e5, 0.01, None)
    >>> out.tolist(), scale.tolist(), rej  # longs: 2000 B wanted, 1000 B of room: halved
    ([0.2, 0.2, -0.1], [0.5, 0.5, 1.0], 1000.0)
    >>> limit_orders(w, q, side, live, 2500.0, 1e5, None, 0.005)[0].tolist()  # 0.2 A each
    [0.2, 0.2, -0.1]
    """
    dq = side * want
    if not np.any(dq > 0):  # nothing grows: nothing to cut
        return want, np.ones_like(want), 0.0
    growth = np.maximum(dq, 0.0)
    keep = growth
    if position_cap is not None:
        keep = np.minimum(keep, np.maximum(position_cap * reserve_b / mark - q, 0.0))
    if oi_cap is not None:
        cut = np.minimum(np.maximum(-dq, 0.0), q)  # the reductions
        for s in (1.0, -1.0):
            mine = side == s
            total = float((keep[mine]).sum()) * mark
            if total <= 0.0:
                continue
            oi = float((q[mine & is_open] - cut[mine & is_open]).sum()) * mark
            factor = min(1.0, max(oi_cap * reserve_b - oi, 0.0) / total)
            if factor < 1.0:
                keep = np.where(mine, keep * factor, keep)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(growth > 0, keep / growth, 1.0)
    rejected = float((growth - keep).sum()) * mark
    return np.where(dq > 0, side * keep, want), scale, rejected


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
    hunter_a : ndarray, shape (n_pools,)
        A held by the liquidation hunter (0 between attacks), per pool.
    hunter_b : float
        B held by the liquidation hunter, over all pools.
    funding_paid : float
        Funding paid by the paying sides so far.
    funding_received : float
        Funding received by the other sides so far.
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
        self.hunter_a, self.hunter_b = np.zeros(n_pools), 0.0
        self.funding_paid = self.funding_received = 0.0

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
            self._book_arbitrage(j, da, db)

    def _book_arbitrage(self, j: int, da: float, db: float) -> None:
        """The arbitrageurs' side of a trade that changed pool ``j`` by ``(da, db)``."""
        self.arb_a[j] -= da
        self.arb_b -= db
        if da > 0:
            self.fees_a[j] += self.fee * da
        else:
            self.fees_b += self.fee * db

    def hunter_push(self, j: int, target: float) -> tuple[float, float]:
        """The hunter trades pool ``j``'s spot to ``target`` (selling A if it is below the spot,
        buying it if above; the band-edge closed form of :func:`levpaper.kernel.arbitrage`,
        which ends a sale at the spot :math:`p/g` and a purchase at :math:`gp`). Returns the
        pool's changes ``(da, db)``."""
        g = kernel.fee_factor(self.fee)
        x, y = float(self.x[j]), float(self.y[j])
        price = target * g if target < y / x else target / g
        da, db, _, out, rout = kernel.arbitrage(x, y, price, g, band_edge=True)
        if not out < rout:
            raise ValueError(f"the hunter's target {target!r} would empty pool {j}")
        self.x[j] = x + da
        self.y[j] = y + db
        self.hunter_a[j] -= da
        self.hunter_b -= db
        if da > 0:
            self.fees_a[j] += self.fee * da
        else:
            self.fees_b += self.fee * db
        return da, db

    def hunt_target(self, j: int, m: float, budget: float, overshoot: float) -> float | None:
        r"""The liquidation hunter's target spot in pool ``j``, or None if it cannot afford one.

        Per side, the nearest liquidation price :math:`P_\text{liq} = (N - sC)/(q(1 - sm))` of
        the positions not yet below maintenance at the spot (the largest below it for longs,
        the smallest above it for shorts), pushed past by ``overshoot``; the side whose push
        (:meth:`hunter_push`) trades less B, if that is at most ``budget``.
        """
        live = self.is_open[j]
        if not live.any():
            return None
        x, y, g = float(self.x[j]), float(self.y[j]), kernel.fee_factor(self.fee)
        spot, side = y / x, self.side
        with np.errstate(divide="ignore", invalid="ignore"):
            liq = (self.n[j] - side * self.c[j]) / (self.q[j] * (1.0 - side * m))
        best, best_cost = None, budget
        for s in (1.0, -1.0):
            ok = live & (side == s) & np.isfinite(liq) & (liq > 0)
            ok &= (liq < spot) if s > 0 else (liq > spot)
            if not ok.any():
                continue
            if s > 0:
                target = float(liq[ok].max()) * (1.0 - overshoot)
                price = target * g
            else:
                target = float(liq[ok].min()) * (1.0 + overshoot)
                price = target / g
            _, db, _, out, rout = kernel.arbitrage(x, y, price, g, band_edge=True)
            if out < rout and abs(db) <= best_cost:
                best, best_cost = target, abs(db)
        return best

    def hunted_cascade(
        self, j: int, t: int, m: float, target: float, external: float | None
    ) -> tuple[list[Liquidation], float]:
        """An attack on pool ``j``: :meth:`hunter_push` to ``target``, the :meth:`cascade` at the
        spot it leaves (spot mark), :meth:`hunter_unwind`. Returns the liquidations and the
        hunter's profit in B."""
        b0 = self.hunter_b
        self.hunter_push(j, target)
        try:
            evs = self.cascade(j, t, m, float(self.y[j] / self.x[j]), True, external)
        finally:
            self.hunter_unwind(j)
        return evs, self.hunter_b - b0

    def hunt(
        self, j: int, t: int, m: float, budget: float, overshoot: float, profitable_only: bool,
        external: float | None,
    ) -> float | None:  # fmt: skip
        """The hunter's decision in pool ``j`` at step ``t``: :meth:`hunt_target`, and with
        ``profitable_only`` only if :meth:`hunted_cascade` on a copy of the book does not lose
        (the step is deterministic given the state, so that is the attack's expected profit)."""
        target = self.hunt_target(j, m, budget, overshoot)
        if target is None or not profitable_only:
            return target
        _, pnl = copy.deepcopy(self).hunted_cascade(j, t, m, target, external)
        return target if pnl >= 0.0 else None

    def funding(self, rate: float, basis: str, marks: FloatArray, external: FloatArray) -> float:
        """One funding payment in every pool (:meth:`pay_funding`) at rate ``rate`` times the
        basis: ``"imbalance"`` :math:`(OI_L - OI_S)/(OI_L + OI_S)` at the mark (0 without open
        interest), ``"premium"`` :math:`(P_\\text{mark} - p)/p`. Returns the total paid."""
        if basis == "premium":
            b = (marks - external) / external
        else:
            notional = np.where(self.is_open, self.q, 0.0) * marks[:, None]
            oi_l = np.where(self.side > 0, notional, 0.0).sum(axis=1)
            oi_s = np.where(self.side < 0, notional, 0.0).sum(axis=1)
            tot = oi_l + oi_s
            b = np.where(tot > 0, (oi_l - oi_s) / np.where(tot > 0, tot, 1.0), 0.0)
        return self.pay_funding(rate * b, marks)

    def pay_funding(self, rates: FloatArray, marks: FloatArray) -> float:
        """Funding in every pool at ``rates`` (per pool; > 0: longs pay, < 0: shorts pay): the
        paying side pays ``|rate|`` times each position's notional at the pool's mark out of its
        margin, the other side receives the pool's total pro rata to notional. No payment in a
        pool where a side has no open interest. Returns the total paid."""
        notional = np.where(self.is_open, self.q, 0.0) * marks[:, None]
        payer = np.where(rates[:, None] > 0, self.side > 0, self.side < 0)
        oi_pay = np.where(payer, notional, 0.0).sum(axis=1)
        oi_get = np.where(payer, 0.0, notional).sum(axis=1)
        ok = (rates != 0) & (oi_pay > 0) & (oi_get > 0)
        if not ok.any():
            return 0.0
        paid = np.where(payer & ok[:, None], np.abs(rates)[:, None] * notional, 0.0)
        total = paid.sum(axis=1)
        share = notional / np.where(ok, oi_get, 1.0)[:, None]
        got = np.where(~payer & ok[:, None], total[:, None] * share, 0.0)
        self.c += got - paid
        out = float(total.sum())
        self.funding_paid += out
        self.funding_received += float(got.sum())
        return out

    def hunter_unwind(self, j: int) -> float:
        """The hunter trades its A in pool ``j`` back to 0 (buys back what it sold exact out, or
        sells what it bought exact in); returns the B it paid (< 0: received)."""
        a = float(self.hunter_a[j])
        if a == 0.0:
            return 0.0
        x, y, recv, pay = kernel.close_trade(
            float(self.x[j]), float(self.y[j]), a, kernel.fee_factor(self.fee)
        )
        if a > 0:
            self.fees_a[j] += self.fee * a
        else:
            self.fees_b += self.fee * pay
        self.x[j], self.y[j] = x, y
        self.hunter_a[j] = 0.0
        self.hunter_b += recv - pay
        return pay - recv

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

    def cascade(
        self, j: int, t: int, m: float, mark: float, spot_mark: bool,
        external: float | None = None,
    ) -> list[Liquidation]:  # fmt: skip
        """Pool ``j``'s liquidation cascade at step ``t``: positions with :math:`E < mN` closed
        one by one, worst margin ratio first (the head of the long or the short queue with the
        lower ratio), the mark recomputed after each close (the spot; with ``spot_mark`` False
        it stays at ``mark``, a TWAP), until none is left. With ``external`` given,
        arbitrageurs bring the pool to that price after each close (``arbitrage`` of the
        kernel, rule ``"optimal"``).

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
        n_l, n_s = longs.size, shorts.size
        try:
            while True:
                p = y / x if spot_mark else mark
                cand_l = cand_s = False
                if kl < n_l:
                    if kl >= len(longs.q):
                        longs.reach(kl)
                    nl = longs.q[kl] * p
                    el = longs.c[kl] + (nl - longs.n[kl])
                    cand_l = kernel.liquidatable(el, nl, m)
                if ks < n_s:
                    if ks >= len(shorts.q):
                        shorts.reach(ks)
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
                if external is not None:
                    da, dbb, _, o, ro = kernel.arbitrage(x, y, external, g)
                    if o < ro and (da != 0.0 or dbb != 0.0):
                        x, y = x + da, y + dbb
                        self._book_arbitrage(j, da, dbb)
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
        if self.hunter_b != 0.0 or self.funding_paid != 0.0:  # a mechanic is on
            res_a = res_a + self.hunter_a
            scale_a = scale_a + np.abs(self.hunter_a)
        total_b = (
            float(self.y.sum())
            + float(cash.sum())
            + float(self.wallet.sum())
            + self.fund
            + self.arb_b
            + self.lp_b
            - self.bad_debt
        )
        if self.hunter_b != 0.0 or self.funding_paid != 0.0:
            total_b += self.hunter_b
            scale = self.b0 + self.funding_paid + abs(self.hunter_b)
            funding = abs(self.funding_paid - self.funding_received) / scale
        else:
            funding = 0.0
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
        if self.hunter_b != 0.0:
            scale_b += abs(self.hunter_b)
        return max(float(np.max(np.abs(res_a) / scale_a)), abs(total_b - self.b0) / scale_b,
                   funding)  # fmt: skip

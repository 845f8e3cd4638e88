r"""Margin accounts, a batched position book and the liquidation engine (section 2.2; E5-E8).

The reference market model (ledger rows E1-E8, ``book/ledger.toml``): one constant-product pool
of A (risky) against B (numeraire) is the counterparty of every leveraged trade, as in a perpetual
on a virtual AMM.

**Positions.** A position is a pair held in the platform's margin vault: a signed size
:math:`s q` of A (:math:`s = +1` long, :math:`-1` short) and a cash balance in B. Opening a long
of notional :math:`N = LC` swaps :math:`N` of B into the pool (exact in) and holds the :math:`q`
of A the pool pays out; the vault lends :math:`N - C`, so the cash is :math:`C - N`. Opening a
short sells :math:`q` of A into the pool, chosen so that it pays exactly :math:`N` of B (exact out);
the cash is :math:`C + N` and the position owes :math:`q`. Either way the size is
:math:`q = N / P_0` with :math:`P_0 = N/q` the entry (execution) price, fee and impact included
(E5). Closing sells :math:`q` back (long, exact in) or buys it back (short, exact out). The state
kept is the size :math:`q`, the open notional (cost basis) :math:`n = q P_0`, and the margin
:math:`C` (deposits less withdrawals plus realised profit), so that cash :math:`= C - s n`.

**Mark to market (E7).** At the mark price :math:`P` (the pool's spot price by default; a
time-weighted average of it as an option, :class:`MarginConfig`):

* unrealised PnL :math:`s(qP - n)` and equity :math:`E = C + s(qP - n) = \text{cash} + s q P`;
* notional :math:`qP`, margin ratio :math:`E/(qP)`, leverage :math:`qP/E`;
* maintenance requirement :math:`m q P`: *m on the current notional*. The position is
  liquidatable when :math:`E < m q P`, i.e. beyond the liquidation price
  :math:`P_\text{liq} = (n - sC)/(q(1 - sm))`, which for a fresh position is
  :func:`levpaper.leverage.liquidation_price` of the entry price and :math:`L = n/C`.

The mark ignores the exit impact and fee (the usual convention): equity at the mark is what the
position would be worth if it could be closed at the mark; an actual close realises the execution
price, which is worse. Right after a large open the pool's own price flatters the opener (a long
has pushed it up); see :func:`levpaper.leverage.self_liquidating_notional`.

**Actions** (the paper's action set, section 3.1): change leverage
(:meth:`MarginAccount.change_leverage`), add or remove margin, buy/sell
(:meth:`MarginAccount.adjust` with a signed size), and resizing by :meth:`MarginAccount.increase`
and :meth:`MarginAccount.decrease`. Initial-margin rules: leverage :math:`1 \le L \le L_{\max}` at
open and after any increase (measured at the mark, before the trade), :math:`m < 1/L` (else the
position is born liquidatable), and :meth:`MarginAccount.remove_margin` only up to the free
collateral :math:`\min(C, E) - qP/L_{\max}`.

**Liquidation engine** (:meth:`Exchange.run_liquidations`). Every open position whose equity at
the mark is below :math:`m q P` is closed through the pool, worst margin ratio first, the mark
recomputed after each (so one liquidation's sale can push the next position under: a cascade).
A penalty (default 1.25% of the notional closed, as in Perpetual Protocol v1) is paid from the
remaining equity to the insurance fund, capped at that equity; if the equity after the close is
negative, the fund pays the shortfall, and what the fund cannot pay is recorded as bad debt. The
rest is paid out to the trader. With ``partial_target`` set, the engine first closes only the
fraction :math:`\phi = (m_t - e)/(m_t - \rho)` of the size (:math:`e = E/(qP)`, :math:`\rho`
the penalty rate) that brings the margin ratio to :math:`m_t` at the trigger mark after the
penalty on the closed part, ignoring the exit fee and impact; if the fee and impact leave the
rest below maintenance, it is closed at once. Every liquidation is logged as a
:class:`LiquidationEvent`.

**Conservation** (:meth:`Exchange.balance_sheet`). Each token is conserved separately. Token A:
pool reserve + the positions' signed sizes + the external trader's balance is constant. Token B:
pool reserve + the positions' cash + insurance fund + external trader's balance + paid out to
traders - deposited by traders - paid into the fund - bad debt is constant (bad debt is a
liability of the vault: the cash it had to create to close a hole). The pool's fees stay in its
reserves; they are also counted separately, for information.

**Batched** (:class:`PositionBook`): thousands of positions as arrays on the same exchange, opened
in one call (filled in index order through the pool) and marked, ratio-checked and priced for
liquidation in one vectorised call. The engine treats book rows and scalar accounts alike.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from levpaper import kernel
from levpaper._validate import FloatArray, finite, in_range, nonnegative, one_of, positive
from levpaper.first_passage import Side
from levpaper.pool import ConstantProductPool

__all__ = [
    "BalanceSheet",
    "Exchange",
    "LiquidationEvent",
    "MarginAccount",
    "MarginConfig",
    "PositionBook",
]

Mark = Literal["spot", "twap"]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
_SIDES: tuple[str, ...] = ("long", "short")
_MARKS: tuple[str, ...] = ("spot", "twap")


# --- scalar input checks ------------------------------------------------------------------------


def _real(name: str, value: object) -> float:
    """``value`` as a finite Python float; ``TypeError`` for arrays and non-numbers."""
    arr = finite(name, value)  # type: ignore[arg-type]
    if arr.ndim != 0:
        raise TypeError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    return float(arr)


def _positive(name: str, value: object) -> float:
    v = _real(name, value)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def _sign(side: str) -> int:
    return 1 if one_of("side", side, _SIDES) == "long" else -1


# --- configuration and records ------------------------------------------------------------------


@dataclass(frozen=True)
class MarginConfig:
    r"""Margin rules of an :class:`Exchange`.

    Parameters
    ----------
    max_leverage : float, default 100
        Leverage cap :math:`L_{\max} \ge 1`, at open and after any increase.
    maintenance_rate : float, default 0.005
        :math:`m` in [0, 1): maintenance requirement :math:`m q P` on the current notional.
        The default is :math:`1/(2L_{\max})` (Hyperliquid's rule). A position needs
        :math:`m < 1/L` at open.
    liquidation_penalty : float, default 0.0125
        :math:`\rho` in [0, 1): fraction of the notional closed by a liquidation that goes to the
        insurance fund (capped at the equity left). Perpetual Protocol v1 used 1.25%.
    partial_target : float or None, default None
        None: liquidations close the whole position. Else the margin ratio :math:`m_t` a partial
        liquidation restores; it must exceed both :math:`m` and :math:`\rho` (a penalty above the
        target would lower the ratio the more the engine closed).
    mark : {"spot", "twap"}, default "spot"
        Mark price: the pool's spot price, or its time-weighted average over ``twap_window``.
    twap_window : float, default 1.0
        Window of the TWAP mark, in the exchange's time units, > 0.

    Raises
    ------
    ValueError
        Naming the field that is out of range.

    Examples
    --------
    >>> MarginConfig().maintenance_rate == 1 / (2 * MarginConfig().max_leverage)
    True
    >>> MarginConfig(partial_target=0.01)
    Traceback (most recent call last):
    ...
    ValueError: partial_target must lie in (0.0125, 1), above the maintenance rate and ...
    """

    max_leverage: float = 100.0
    maintenance_rate: float = 0.005
    liquidation_penalty: float = 0.0125
    partial_target: float | None = None
    mark: Mark = "spot"
    twap_window: float = 1.0

    def __post_init__(self) -> None:
        in_range("max_leverage", self.max_leverage, 1.0, math.inf, high_closed=False)
        in_range("maintenance_rate", self.maintenance_rate, 0.0, 1.0, high_closed=False)
        in_range("liquidation_penalty", self.liquidation_penalty, 0.0, 1.0, high_closed=False)
        if self.partial_target is not None:
            low = max(self.maintenance_rate, self.liquidation_penalty)
            target = _real("partial_target", self.partial_target)
            if not low < target < 1.0:
                raise ValueError(
                    f"partial_target must lie in ({low}, 1), above the maintenance rate and the "
                    f"penalty, got {self.partial_target!r}"
                )
        one_of("mark", self.mark, _MARKS)
        _positive("twap_window", self.twap_window)


@dataclass(frozen=True)
class LiquidationEvent:
    """One liquidation, as logged by :meth:`Exchange.run_liquidations`.

    Attributes
    ----------
    time : float
        Exchange time.
    holder : int
        Id of the :class:`MarginAccount` or :class:`PositionBook` that held the position.
    row : int
        Row in the book (0 for an account).
    side : str
        "long" or "short".
    trigger_mark : float
        Mark price at which the position was found below maintenance.
    execution_price : float
        Average price of the closing trade(s), B per A.
    size : float
        A closed.
    remaining_size : float
        A left open (> 0 only for a partial liquidation).
    notional : float
        B received (long) or paid (short) for the closed size.
    equity : float
        Equity at the trigger mark, before the close.
    penalty : float
        Paid to the insurance fund.
    shortfall : float
        Negative equity left after the close and the penalty.
    fund_paid : float
        Part of the shortfall the insurance fund paid.
    bad_debt : float
        Part of the shortfall nobody paid: ``shortfall - fund_paid``.
    payout : float
        Equity returned to the trader.
    """

    time: float
    holder: int
    row: int
    side: Side
    trigger_mark: float
    execution_price: float
    size: float
    remaining_size: float
    notional: float
    equity: float
    penalty: float
    shortfall: float
    fund_paid: float
    bad_debt: float
    payout: float

    @property
    def partial(self) -> bool:
        """True if part of the position was left open."""
        return self.remaining_size > 0


@dataclass(frozen=True)
class BalanceSheet:
    """Holdings of every account of an :class:`Exchange`, per token, and the conservation check.

    Attributes
    ----------
    pool_a : float
        Pool reserve of A.
    pool_b : float
        Pool reserve of B.
    positions_a : float
        Sum of the positions' signed sizes (longs hold A, shorts owe it).
    positions_b : float
        Sum of the positions' cash, :math:`C - s n` (a long's is its margin less its loan).
    insurance_fund : float
    external_a : float
        Net A balance of the external trader (arbitrageurs, other traders); starts at zero.
    external_b : float
        Net B balance of the external trader; starts at zero.
    trader_deposits : float
        Margin paid in by traders (cumulative).
    trader_withdrawals : float
        Margin and equity paid out to traders (cumulative).
    fund_deposits : float
        Paid into the insurance fund from outside after the start.
    bad_debt : float
        Shortfalls the fund could not pay (cumulative).
    fees_a : float
        Fees (in A) the pool charged on trades routed through the exchange; already inside
        the reserves.
    fees_b : float
        Fees in B, likewise.
    initial_a : float
        A at the start: the pool reserve.
    initial_b : float
        B at the start: the pool reserve plus the initial insurance fund.
    scale_a : float
        Sum of the absolute values of the A terms, the scale of the relative residual.
    scale_b : float
        Likewise for B.
    mark : float
        Mark price at which the value lines are stated.
    traders_equity : float
        Sum of the open positions' equity at ``mark``.
    pool_value : float
        :math:`R_B + R_A P` at ``mark``.
    """

    pool_a: float
    pool_b: float
    positions_a: float
    positions_b: float
    insurance_fund: float
    external_a: float
    external_b: float
    trader_deposits: float
    trader_withdrawals: float
    fund_deposits: float
    bad_debt: float
    fees_a: float
    fees_b: float
    initial_a: float
    initial_b: float
    scale_a: float
    scale_b: float
    mark: float
    traders_equity: float
    pool_value: float

    @property
    def total_a(self) -> float:
        """Pool + positions + external trader, in A."""
        return self.pool_a + self.positions_a + self.external_a

    @property
    def total_b(self) -> float:
        """Pool + positions' cash + fund + external + withdrawals - deposits - bad debt, in B."""
        return (
            self.pool_b
            + self.positions_b
            + self.insurance_fund
            + self.external_b
            + self.trader_withdrawals
            - self.trader_deposits
            - self.fund_deposits
            - self.bad_debt
        )

    @property
    def residual_a(self) -> float:
        """``total_a - initial_a``; zero up to rounding."""
        return self.total_a - self.initial_a

    @property
    def residual_b(self) -> float:
        """``total_b - initial_b``; zero up to rounding."""
        return self.total_b - self.initial_b

    @property
    def value_residual(self) -> float:
        """Traders' equity + pool value + fund + external value + payouts - deposits - bad debt,
        less the initial holdings, all valued in B at ``mark``; zero up to rounding."""
        p = self.mark
        value = (
            self.traders_equity
            + self.pool_value
            + self.insurance_fund
            + self.external_b
            + self.external_a * p
            + self.trader_withdrawals
            - self.trader_deposits
            - self.fund_deposits
            - self.bad_debt
        )
        return value - (self.initial_b + self.initial_a * p)

    @property
    def relative_residual(self) -> float:
        """Largest of the two token residuals relative to their scales."""
        return max(abs(self.residual_a) / self.scale_a, abs(self.residual_b) / self.scale_b)


# --- pure state transitions (shared by the account and the book) --------------------------------


def _after_decrease(
    s: int, q: float, n: float, c: float, dq: float, db: float
) -> tuple[float, float, float, float]:
    """Size, basis, margin and realised PnL after closing ``dq`` of ``q`` for ``db`` of B."""
    basis_out = n if dq == q else n * (dq / q)
    realised = s * (db - basis_out)
    q1 = 0.0 if dq == q else q - dq
    n1 = 0.0 if dq == q else n - basis_out
    return q1, n1, c + realised, realised


def _fill(
    pool: ConstantProductPool,
    s: int,
    increase: bool,
    *,
    size: float | None = None,
    notional: float | None = None,
    quote: bool = False,
) -> tuple[float, float]:
    """Trade a position's side through ``pool``; return (A moved, B moved), both > 0.

    A long increases by buying A (exact B in, or exact A out), a short by selling A (exact A in,
    or exact B out); decreases are by size: a long sells A (exact in), a short buys it (exact
    out). With ``quote`` nothing is traded.
    """
    buy_a = (s == 1) == increase
    if notional is not None:
        if buy_a:
            q = pool.quote(notional, "B") if quote else pool.swap(notional, "B")
        else:
            q = pool.quote_exact_out(notional, "B") if quote else pool.swap_exact_out(notional, "B")
        return q, notional
    assert size is not None
    if buy_a:
        b = pool.quote_exact_out(size, "A") if quote else pool.swap_exact_out(size, "A")
    else:
        b = pool.quote(size, "A") if quote else pool.swap(size, "A")
    return size, b


# --- the exchange -------------------------------------------------------------------------------


class Exchange:
    r"""The platform: a pool, a margin vault, an insurance fund, a clock and the liquidation engine.

    Trade the pool only through the exchange (positions, :meth:`external_swap`,
    :meth:`move_price`) so that every flow is on the balance sheet.

    Parameters
    ----------
    pool : ConstantProductPool
        The pool of A against B that fills every trade; changed in place.
    config : MarginConfig, optional
        Margin rules; default :class:`MarginConfig()`.
    insurance_fund : float, default 0
        Initial balance of the insurance fund, >= 0, in B.

    Attributes
    ----------
    pool : ConstantProductPool
        As given.
    config : MarginConfig
        As given.
    insurance_fund : float
        Balance of the insurance fund, in B.
    bad_debt : float
        Cumulative shortfalls the fund could not pay, in B.
    time : float
        Clock, advanced by :meth:`advance`; the TWAP mark is over it.
    liquidations : list of LiquidationEvent
        Every liquidation so far, in order.

    Examples
    --------
    >>> ex = Exchange(ConstantProductPool(10_000.0, 25_000_000.0, fee=0.003))
    >>> acct = ex.open("long", margin=100.0, leverage=50.0)
    >>> round(acct.entry_price, 2), round(acct.liquidation_price(), 2)
    (2508.02, 2470.21)
    >>> _ = ex.move_price(2_470.0)  # another trader sells A: the long is now below maintenance
    >>> [(e.side, round(e.trigger_mark, 1), round(e.penalty, 2)) for e in ex.run_liquidations()]
    [('long', 2470.0, 8.46)]
    >>> abs(ex.balance_sheet().relative_residual) < 1e-12
    True
    """

    def __init__(
        self,
        pool: ConstantProductPool,
        config: MarginConfig | None = None,
        *,
        insurance_fund: float = 0.0,
    ) -> None:
        if not isinstance(pool, ConstantProductPool):
            raise TypeError(f"pool must be a ConstantProductPool, got {pool!r}")
        cfg = MarginConfig() if config is None else config
        if not isinstance(cfg, MarginConfig):
            raise TypeError(f"config must be a MarginConfig, got {config!r}")
        fund = float(nonnegative("insurance_fund", _real("insurance_fund", insurance_fund)))
        self.pool = pool
        self.config = cfg
        self.insurance_fund = fund
        self.bad_debt = 0.0
        self.time = 0.0
        self.trader_deposits = 0.0
        self.trader_withdrawals = 0.0
        self.fund_deposits = 0.0
        self.external_a = 0.0
        self.external_b = 0.0
        self.fees_a = 0.0
        self.fees_b = 0.0
        self.liquidations: list[LiquidationEvent] = []
        self._initial_a = pool.reserve_a
        self._initial_b = pool.reserve_b + fund
        self._accounts: list[MarginAccount] = []
        self._books: list[PositionBook] = []
        self._next_id = 0
        self._obs_t: list[float] = [0.0]
        self._obs_p: list[float] = [pool.spot_price]
        self._twap_cache: dict[tuple[float, float], float] = {}

    def __repr__(self) -> str:
        return (
            f"Exchange(pool={self.pool!r}, time={self.time!r}, "
            f"insurance_fund={self.insurance_fund!r}, bad_debt={self.bad_debt!r})"
        )

    # -- clock and mark ----------------------------------------------------------------------

    def _new_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    def _observe(self) -> None:
        """Record the pool's spot price at the current time (the last record at a time wins)."""
        p = self.pool.spot_price
        if self._obs_t[-1] == self.time:
            self._obs_p[-1] = p
        else:
            self._obs_t.append(self.time)
            self._obs_p.append(p)

    def advance(self, dt: float) -> None:
        """Move the clock forward by ``dt`` > 0.

        Raises
        ------
        ValueError
            If ``dt`` is not finite and positive.
        """
        self.time += _positive("dt", dt)

    def twap(self, window: float | None = None) -> float:
        r"""Time-weighted average of the pool's spot price over the last ``window`` time units.

        The recorded price is piecewise constant (each record holds until the next), and the
        average is over :math:`[t - W, t]`, or from the first record if that is later; a price
        set at the current instant has no weight yet. With no elapsed time it is the spot price.

        Parameters
        ----------
        window : float, optional
            :math:`W > 0`; default ``config.twap_window``.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If ``window`` is not finite and positive.
        """
        w = self.config.twap_window if window is None else _positive("window", window)
        t = self.time
        start = max(t - w, self._obs_t[0])
        if not t > start:
            return self.pool.spot_price
        key = (t, w)
        cached = self._twap_cache.get(key)
        if cached is not None:
            return cached
        i0 = max(bisect.bisect_right(self._obs_t, start) - 1, 0)
        ts = np.asarray(self._obs_t[i0:])
        ps = np.asarray(self._obs_p[i0:])
        ends = np.append(ts[1:], t)
        dur = np.clip(np.minimum(ends, t) - np.maximum(ts, start), 0.0, None)
        value = float(dur @ ps / (t - start))
        if len(self._twap_cache) > 64:
            self._twap_cache.clear()
        self._twap_cache[key] = value
        return value

    def mark_price(self) -> float:
        """The mark price of ``config.mark``: the pool's spot price or its TWAP."""
        return self.pool.spot_price if self.config.mark == "spot" else self.twap()

    # -- pool access ---------------------------------------------------------------------------

    def _trade(
        self, s: int, increase: bool, *, size: float | None = None, notional: float | None = None
    ) -> tuple[float, float]:
        """Fill a position's trade on the pool, count its fee, record the price."""
        dq, db = _fill(self.pool, s, increase, size=size, notional=notional)
        f = self.pool.fee
        buy_a = (s == 1) == increase
        if buy_a:
            self.fees_b += f * db
        else:
            self.fees_a += f * dq
        self._observe()
        return dq, db

    def _quote(
        self,
        name: str,
        s: int,
        increase: bool,
        *,
        size: float | None = None,
        notional: float | None = None,
    ) -> tuple[float, float]:
        """Quote a position's trade, re-raising a pool refusal as a ValueError naming ``name``."""
        try:
            return _fill(self.pool, s, increase, size=size, notional=notional, quote=True)
        except ValueError as exc:
            raise ValueError(f"{name} is too large for the pool to fill: {exc}") from exc

    def external_swap(self, amount_in: float, token_in: Literal["A", "B"]) -> float:
        """An external trader swaps ``amount_in`` of ``token_in`` into the pool (exact in).

        Returns
        -------
        float
            Amount of the other token received.

        Raises
        ------
        ValueError
            If ``amount_in`` is not finite and positive or ``token_in`` is not ``'A'``/``'B'``;
            nothing changes then.
        """
        one_of("token_in", token_in, ("A", "B"))
        amount = _positive("amount_in", amount_in)
        out = self.pool.swap(amount, token_in)
        if token_in == "A":
            self.external_a -= amount
            self.external_b += out
            self.fees_a += self.pool.fee * amount
        else:
            self.external_b -= amount
            self.external_a += out
            self.fees_b += self.pool.fee * amount
        self._observe()
        return out

    def move_price(self, price: float) -> float:
        r"""The external trader moves the pool's spot price to ``price`` with one exact-in swap.

        To lower the price it sells :math:`d` of A, to raise it pays :math:`d` of B, with
        :math:`d` the root of :math:`(1-f)d^2 + (2-f)r d + r^2 - c = 0` (:math:`r` the input
        reserve; :math:`c = R_A R_B / P` when selling A, :math:`R_A R_B P` when paying B), so that
        the spot price after the swap, fee kept in the pool, is ``price``.

        Parameters
        ----------
        price : float
            Target spot price, > 0.

        Returns
        -------
        float
            Change of the external trader's A balance (negative when it sold A).

        Raises
        ------
        ValueError
            If ``price`` is not finite and positive; nothing changes then.
        """
        target = _positive("price", price)
        x, y, f = self.pool.reserve_a, self.pool.reserve_b, self.pool.fee
        spot = y / x
        if target == spot:
            return 0.0
        r, c = (x, x * y / target) if target < spot else (y, x * y * target)
        gap = c - r * r
        d = 2.0 * gap / ((2.0 - f) * r + math.sqrt((2.0 - f) ** 2 * r * r + 4.0 * (1.0 - f) * gap))
        before = self.external_a
        self.external_swap(d, "A" if target < spot else "B")
        return self.external_a - before

    def deposit_insurance(self, amount: float) -> None:
        """Pay ``amount`` > 0 of B into the insurance fund from outside.

        Raises
        ------
        ValueError
            If ``amount`` is not finite and positive.
        """
        a = _positive("amount", amount)
        self.insurance_fund += a
        self.fund_deposits += a

    # -- positions -----------------------------------------------------------------------------

    def open(self, side: Side, margin: float, leverage: float) -> MarginAccount:
        """Open a position of notional ``margin * leverage`` through the pool.

        See :class:`MarginAccount` for the rules and the errors.
        """
        return MarginAccount(self, side, margin, leverage)

    def new_book(self) -> PositionBook:
        """An empty :class:`PositionBook` on this exchange."""
        return PositionBook(self)

    @property
    def accounts(self) -> tuple[MarginAccount, ...]:
        """Every account opened on this exchange, open or closed, in order."""
        return tuple(self._accounts)

    @property
    def books(self) -> tuple[PositionBook, ...]:
        """Every position book on this exchange, in order."""
        return tuple(self._books)

    def _check_open(self, side: str, margin: float, leverage: float) -> tuple[int, float, float]:
        """Validate an opening; return (sign, margin, notional). Changes nothing."""
        s = _sign(side)
        c = _positive("margin", margin)
        cfg = self.config
        lev = _real("leverage", leverage)
        if not 1.0 <= lev <= cfg.max_leverage:
            raise ValueError(f"leverage must lie in [1, {cfg.max_leverage}], got {leverage!r}")
        if not cfg.maintenance_rate * lev < 1.0:
            raise ValueError(
                f"leverage must be < 1/maintenance_rate = {1.0 / cfg.maintenance_rate:g} "
                f"(else the position is born liquidatable), got {leverage!r}"
            )
        n = c * lev
        if not math.isfinite(n):
            raise ValueError(f"margin * leverage must be finite, got {margin!r} * {leverage!r}")
        return s, c, n

    def _settle(
        self, equity: float, traded: float, penalise: bool
    ) -> tuple[float, float, float, float, float]:
        """Close out a flat position's ``equity`` (:func:`levpaper.kernel.settle`): penalty,
        shortfall, fund paid, bad debt, payout."""
        rate = self.config.liquidation_penalty if penalise else 0.0
        s = kernel.settle(equity, traded, self.insurance_fund, rate)
        self.insurance_fund = s.fund
        self.bad_debt += s.bad_debt
        self.trader_withdrawals += s.cash
        return s.penalty, s.shortfall, s.fund_paid, s.bad_debt, s.cash

    def _liquidate(
        self, s: int, q: float, n: float, c: float, mark: float, holder: int, row: int
    ) -> tuple[float, float, float, float, LiquidationEvent]:
        """Liquidate one position; return its new size, basis, margin, realised PnL, event."""
        cfg = self.config
        m, rho, target = cfg.maintenance_rate, cfg.liquidation_penalty, cfg.partial_target
        equity = c + s * (q * mark - n)
        dq = q
        if target is not None and equity > 0:
            phi = (target - equity / (q * mark)) / (target - rho)
            if phi < 1.0:
                dq = phi * q
        _, traded = self._trade(s, False, size=dq)
        q1, n1, c1, realised = _after_decrease(s, q, n, c, dq, traded)
        closed = dq
        penalty = 0.0
        if q1 > 0:
            mark1 = self.mark_price()
            e1 = c1 + s * (q1 * mark1 - n1)
            penalty = kernel.liquidation_penalty(traded, e1, rho)
            if kernel.liquidatable(e1 - penalty, q1 * mark1, m):  # fee and impact: close all
                _, db = self._trade(s, False, size=q1)
                closed += q1
                traded += db
                q1, n1, c1, rest = _after_decrease(s, q1, n1, c1, q1, db)
                realised += rest
        if q1 > 0:
            self.insurance_fund += penalty
            c1 -= penalty
            shortfall = fund_paid = bad = payout = 0.0
        else:
            penalty, shortfall, fund_paid, bad, payout = self._settle(c1, traded, True)
            c1 = 0.0
        event = LiquidationEvent(
            time=self.time,
            holder=holder,
            row=row,
            side="long" if s == 1 else "short",
            trigger_mark=mark,
            execution_price=traded / closed,
            size=closed,
            remaining_size=q1,
            notional=traded,
            equity=equity,
            penalty=penalty,
            shortfall=shortfall,
            fund_paid=fund_paid,
            bad_debt=bad,
            payout=payout,
        )
        self.liquidations.append(event)
        return q1, n1, c1, realised, event

    def run_liquidations(self) -> list[LiquidationEvent]:
        """Liquidate every position below maintenance at the mark, worst margin ratio first.

        After each liquidation the mark is recomputed and every position checked again, so a
        liquidation that moves the pool can liquidate the next (a cascade). Ties go to the
        older holder, then the lower row.

        Returns
        -------
        list of LiquidationEvent
            This call's liquidations, in order (also appended to ``liquidations``).

        Raises
        ------
        ValueError
            If the pool cannot fill a liquidation (a short larger than the pool's A reserve);
            the liquidations before it stand.
        """
        events: list[LiquidationEvent] = []
        m = self.config.maintenance_rate
        while True:
            mark = self.mark_price()
            best: tuple[float, MarginAccount | PositionBook, int] | None = None
            for book in self._books:
                found = book._worst(mark)
                if found is not None and (best is None or found[0] < best[0]):
                    best = (found[0], book, found[1])
            for acct in self._accounts:
                if acct.is_open:
                    eq = acct.equity(mark)
                    if kernel.liquidatable(eq, acct.size * mark, m):
                        ratio = eq / (acct.size * mark)
                        if best is None or ratio < best[0]:
                            best = (ratio, acct, 0)
            if best is None:
                return events
            _, holder, row = best
            events.append(holder._liquidate_row(row, mark))

    # -- accounting ----------------------------------------------------------------------------

    def balance_sheet(self) -> BalanceSheet:
        """Every account's holdings per token, the conservation residuals and values at the mark.

        Returns
        -------
        BalanceSheet
        """
        mark = self.mark_price()
        pos_a = pos_b = abs_a = abs_b = equity = 0.0
        for acct in self._accounts:
            if acct.is_open:
                pos_a += acct.sign * acct.size
                pos_b += acct.cash
                abs_a += acct.size
                abs_b += abs(acct.cash)
                equity += acct.equity(mark)
        for book in self._books:
            live = book.is_open
            cash = book.cash
            signed = book.side * book.size
            pos_a += float(np.sum(signed[live]))
            pos_b += float(np.sum(cash[live]))
            abs_a += float(np.sum(book.size[live]))
            abs_b += float(np.sum(np.abs(cash[live])))
            equity += float(np.sum((cash + signed * mark)[live]))
        pool = self.pool
        scale_a = pool.reserve_a + abs_a + abs(self.external_a) + self._initial_a
        scale_b = (
            pool.reserve_b
            + abs_b
            + self.insurance_fund
            + abs(self.external_b)
            + self.trader_withdrawals
            + self.trader_deposits
            + self.fund_deposits
            + self.bad_debt
            + self._initial_b
        )
        return BalanceSheet(
            pool_a=pool.reserve_a,
            pool_b=pool.reserve_b,
            positions_a=pos_a,
            positions_b=pos_b,
            insurance_fund=self.insurance_fund,
            external_a=self.external_a,
            external_b=self.external_b,
            trader_deposits=self.trader_deposits,
            trader_withdrawals=self.trader_withdrawals,
            fund_deposits=self.fund_deposits,
            bad_debt=self.bad_debt,
            fees_a=self.fees_a,
            fees_b=self.fees_b,
            initial_a=self._initial_a,
            initial_b=self._initial_b,
            scale_a=scale_a,
            scale_b=scale_b,
            mark=mark,
            traders_equity=equity,
            pool_value=pool.reserve_b + pool.reserve_a * mark,
        )

    def liquidation_table(self) -> dict[str, npt.NDArray[np.generic]]:
        """The liquidation log as columns (one array per :class:`LiquidationEvent` field)."""
        names = [f.name for f in dataclasses.fields(LiquidationEvent)]
        return {name: np.asarray([getattr(e, name) for e in self.liquidations]) for name in names}


# --- one position -------------------------------------------------------------------------------


class MarginAccount:
    r"""One leveraged position on an :class:`Exchange`, opened through its pool on creation.

    Parameters
    ----------
    exchange : Exchange
    side : {"long", "short"}
    margin : float
        Margin :math:`C > 0` in B, deposited by the trader.
    leverage : float
        :math:`L` in :math:`[1, L_{\max}]` with :math:`m L < 1`; the notional is :math:`N = LC`.

    Attributes
    ----------
    id : int
        Unique among the exchange's accounts and books.
    side : str
        "long" or "short".
    sign : int
        +1 long, -1 short.
    size : float
        :math:`q`, A held (long) or owed (short).
    open_notional : float
        Cost basis :math:`n = q P_0` in B.
    margin : float
        :math:`C`: deposits - withdrawals + realised PnL.
    realised_pnl : float
        Cumulative realised PnL (excluding liquidation penalties).
    is_open : bool

    Raises
    ------
    ValueError
        If ``side`` is unknown, ``margin`` not finite and positive, ``leverage`` outside
        :math:`[1, L_{\max}]` or :math:`\ge 1/m` (born liquidatable), or the pool cannot fill the
        notional; nothing changes then.

    Examples
    --------
    >>> ex = Exchange(ConstantProductPool(10_000.0, 25_000_000.0, fee=0.003))
    >>> short = ex.open("short", 100.0, 10.0)
    >>> round(short.entry_price, 3), round(short.size, 6)  # sold below spot: fee and impact
    (2492.4, 0.40122)
    >>> round(short.equity(), 2)  # 3% of the margin went on the fee; impact flatters the mark
    97.03
    >>> payout = short.close()
    >>> round(payout, 2), short.is_open  # the round trip cost two fees: 6% of the margin
    (93.97, False)
    """

    def __init__(self, exchange: Exchange, side: Side, margin: float, leverage: float) -> None:
        s, c, n = exchange._check_open(side, margin, leverage)
        exchange._quote("margin * leverage", s, True, notional=n)
        q, _ = exchange._trade(s, True, notional=n)
        self.exchange = exchange
        self.id = exchange._new_id()
        self.side: Side = "long" if s == 1 else "short"
        self.sign = s
        self.size = q
        self.open_notional = n
        self.margin = c
        self.realised_pnl = 0.0
        self.is_open = True
        exchange.trader_deposits += c
        exchange._accounts.append(self)

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return (
            f"MarginAccount(id={self.id}, {self.side}, size={self.size!r}, "
            f"margin={self.margin!r}, {state})"
        )

    # -- views ---------------------------------------------------------------------------------

    def _mark(self, mark: float | None) -> float:
        return self.exchange.mark_price() if mark is None else _positive("mark", mark)

    @property
    def entry_price(self) -> float:
        """Average entry price :math:`P_0 = n/q` (nan when flat)."""
        return self.open_notional / self.size if self.size > 0 else math.nan

    @property
    def cash(self) -> float:
        """B held in the vault for this position, :math:`C - s n`."""
        return self.margin - self.sign * self.open_notional

    def notional(self, mark: float | None = None) -> float:
        """Current notional :math:`q P` at ``mark`` (default: the exchange's mark)."""
        return self.size * self._mark(mark)

    def unrealised_pnl(self, mark: float | None = None) -> float:
        """:math:`s(qP - n)` at ``mark``; exit fee and impact not included."""
        return self.sign * (self.size * self._mark(mark) - self.open_notional)

    def equity(self, mark: float | None = None) -> float:
        """:math:`E = C + s(qP - n)` at ``mark``."""
        return self.margin + self.unrealised_pnl(mark)

    def maintenance_requirement(self, mark: float | None = None) -> float:
        """:math:`m q P` at ``mark``."""
        return self.exchange.config.maintenance_rate * self.notional(mark)

    def margin_ratio(self, mark: float | None = None) -> float:
        """:math:`E / (qP)` at ``mark`` (nan when closed)."""
        p = self._mark(mark)
        return self.equity(p) / (self.size * p) if self.is_open else math.nan

    def leverage(self, mark: float | None = None) -> float:
        """Current leverage :math:`qP/E` at ``mark`` (inf at zero or negative equity)."""
        p = self._mark(mark)
        e = self.equity(p)
        return self.size * p / e if e > 0 else math.inf

    def is_liquidatable(self, mark: float | None = None) -> bool:
        """True if open and :math:`E < m q P` at ``mark``."""
        p = self._mark(mark)
        return self.is_open and kernel.liquidatable(
            self.equity(p), self.notional(p), self.exchange.config.maintenance_rate
        )

    def liquidation_price(self) -> float:
        r"""Mark at which :math:`E = m q P`: :math:`(n - sC)/(q(1 - s m))`, 0 if none (long)."""
        self._require_open()
        m = self.exchange.config.maintenance_rate
        s = self.sign
        return max((self.open_notional - s * self.margin) / (self.size * (1.0 - s * m)), 0.0)

    def bankruptcy_price(self) -> float:
        r"""Mark at which :math:`E = 0`: :math:`(n - sC)/q`, 0 if none (long)."""
        self._require_open()
        return max((self.open_notional - self.sign * self.margin) / self.size, 0.0)

    def free_margin(self, mark: float | None = None) -> float:
        r"""Margin that may be withdrawn: :math:`\max(\min(C, E) - qP/L_{\max}, 0)`."""
        if not self.is_open:
            return 0.0
        p = self._mark(mark)
        free = min(self.margin, self.equity(p)) - self.size * p / self.exchange.config.max_leverage
        return max(free, 0.0)

    # -- actions -------------------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self.is_open:
            raise ValueError(f"position must be open; account {self.id} is closed")

    def _check_growth(self, name: str, value: object, added: float) -> None:
        """Reject an increase that would pass the leverage cap or 1/m at the current mark."""
        cfg = self.exchange.config
        p = self._mark(None)
        e = self.equity(p)
        new = (self.size * p + added) / e if e > 0 else math.inf
        if not (new <= cfg.max_leverage and new * cfg.maintenance_rate < 1.0):
            raise ValueError(
                f"{name} would take the leverage at the mark to {new:.6g}; it must stay at most "
                f"max_leverage = {cfg.max_leverage} and below 1/maintenance_rate, got {value!r}"
            )

    def _apply_increase(self, dq: float, db: float) -> None:
        self.size += dq
        self.open_notional += db

    def _apply_decrease(self, dq: float, db: float) -> float:
        q1, n1, c1, realised = _after_decrease(
            self.sign, self.size, self.open_notional, self.margin, dq, db
        )
        self.size, self.open_notional, self.margin = q1, n1, c1
        self.realised_pnl += realised
        return realised

    def increase(self, notional: float) -> float:
        """Add ``notional`` of B to the position at the same margin (a long buys, a short sells).

        Parameters
        ----------
        notional : float
            > 0; the leverage at the current mark after the trade must stay within the cap.

        Returns
        -------
        float
            A bought (long) or sold (short).

        Raises
        ------
        ValueError
            If the position is closed, ``notional`` is not finite and positive, would pass the
            leverage cap, or the pool cannot fill it; nothing changes then.
        """
        self._require_open()
        n = _positive("notional", notional)
        self._check_growth("notional", notional, n)
        self.exchange._quote("notional", self.sign, True, notional=n)
        dq, db = self.exchange._trade(self.sign, True, notional=n)
        self._apply_increase(dq, db)
        return dq

    def decrease(self, size: float) -> float:
        """Close ``size`` of A of the position (all of it: :meth:`close`) and realise its PnL.

        Parameters
        ----------
        size : float
            In :math:`(0, q]`.

        Returns
        -------
        float
            Realised PnL in B (for ``size == q``, the payout of :meth:`close`).

        Raises
        ------
        ValueError
            If the position is closed, ``size`` is outside :math:`(0, q]`, or the pool cannot
            fill it; nothing changes then.
        """
        self._require_open()
        dq = _real("size", size)
        if not 0.0 < dq <= self.size:
            raise ValueError(f"size must lie in (0, {self.size!r}], got {size!r}")
        if dq == self.size:
            return self.close()
        self.exchange._quote("size", self.sign, False, size=dq)
        _, db = self.exchange._trade(self.sign, False, size=dq)
        return self._apply_decrease(dq, db)

    def close(self) -> float:
        """Close the whole position through the pool and pay the equity out to the trader.

        A closing equity below zero (only if the engine was not run) is a shortfall: the
        insurance fund pays it, then it becomes bad debt; no penalty is charged.

        Returns
        -------
        float
            Payout to the trader, >= 0.

        Raises
        ------
        ValueError
            If the position is already closed, or the pool cannot fill the close; nothing
            changes then.
        """
        self._require_open()
        ex = self.exchange
        ex._quote("size", self.sign, False, size=self.size)
        _, db = ex._trade(self.sign, False, size=self.size)
        self._apply_decrease(self.size, db)
        *_, payout = ex._settle(self.margin, db, False)
        self.margin = 0.0
        self.is_open = False
        return payout

    def add_margin(self, amount: float) -> None:
        """Deposit ``amount`` > 0 of B as margin (lowers the leverage).

        Raises
        ------
        ValueError
            If the position is closed or ``amount`` is not finite and positive.
        """
        self._require_open()
        a = _positive("amount", amount)
        self.margin += a
        self.exchange.trader_deposits += a

    def remove_margin(self, amount: float) -> None:
        """Withdraw ``amount`` of margin, at most :meth:`free_margin` (never into liquidation).

        Raises
        ------
        ValueError
            If the position is closed or ``amount`` is not in ``(0, free_margin()]``; nothing
            changes then.
        """
        self._require_open()
        a = _real("amount", amount)
        p = self._mark(None)
        free = self.free_margin(p)
        m = self.exchange.config.maintenance_rate
        if not (0.0 < a <= free and self.equity(p) - a > m * self.size * p):
            raise ValueError(
                f"amount must lie in (0, free margin = {free!r}] and leave the position above "
                f"maintenance, got {amount!r}"
            )
        self.margin -= a
        self.exchange.trader_withdrawals += a

    def change_leverage(self, leverage: float) -> float:
        r"""Resize at the same margin so the leverage at the current mark is ``leverage``.

        The target size is :math:`q^* = L E / P` at the pre-trade mark; the trade's fee and impact
        leave the realised leverage slightly off the target.

        Parameters
        ----------
        leverage : float
            In :math:`[1, L_{\max}]` with :math:`mL < 1`.

        Returns
        -------
        float
            Change of the size :math:`q^* - q` in A.

        Raises
        ------
        ValueError
            If the position is closed, ``leverage`` is out of range, the equity is not positive,
            or the pool cannot fill the trade; nothing changes then.
        """
        self._require_open()
        ex = self.exchange
        cfg = ex.config
        lev = _real("leverage", leverage)
        if not 1.0 <= lev <= cfg.max_leverage or not lev * cfg.maintenance_rate < 1.0:
            raise ValueError(
                f"leverage must lie in [1, {cfg.max_leverage}] and below 1/maintenance_rate, "
                f"got {leverage!r}"
            )
        p = self._mark(None)
        e = self.equity(p)
        if not e > 0:
            raise ValueError(f"leverage cannot be set on a position with equity {e!r} <= 0")
        delta = lev * e / p - self.size
        if delta > 0:
            ex._quote("leverage", self.sign, True, size=delta)
            dq, db = ex._trade(self.sign, True, size=delta)
            self._apply_increase(dq, db)
        elif delta < 0:
            self.decrease(-delta)
        return delta

    def adjust(self, size_delta: float) -> float:
        """Buy (``size_delta > 0``) or sell (``< 0``) A, growing or shrinking the position.

        A long grows by buying, a short by selling. The position's side cannot flip: a
        shrinking trade may close at most the whole size (then the position is closed).

        Returns
        -------
        float
            B paid (buy) or received (sell).

        Raises
        ------
        ValueError
            If the position is closed, ``size_delta`` is zero, not finite, would flip the side
            or pass the leverage cap, or the pool cannot fill it; nothing changes then.
        """
        self._require_open()
        d = _real("size_delta", size_delta)
        if d == 0:
            raise ValueError(f"size_delta must be nonzero, got {size_delta!r}")
        dq = abs(d)
        ex = self.exchange
        if (d > 0) == (self.sign == 1):
            self._check_growth("size_delta", size_delta, dq * self._mark(None))
            ex._quote("size_delta", self.sign, True, size=dq)
            _, db = ex._trade(self.sign, True, size=dq)
            self._apply_increase(dq, db)
            return db
        if not dq <= self.size:
            raise ValueError(
                f"size_delta must not flip the position: |size_delta| <= {self.size!r}, "
                f"got {size_delta!r}"
            )
        _, db = ex._quote("size_delta", self.sign, False, size=dq)
        if dq == self.size:
            self.close()
        else:
            _, db = ex._trade(self.sign, False, size=dq)
            self._apply_decrease(dq, db)
        return db

    def _liquidate_row(self, row: int, mark: float) -> LiquidationEvent:
        q1, n1, c1, realised, event = self.exchange._liquidate(
            self.sign, self.size, self.open_notional, self.margin, mark, self.id, 0
        )
        self.realised_pnl += realised
        self.size, self.open_notional, self.margin = q1, n1, c1
        self.is_open = q1 > 0
        return event


# --- many positions -----------------------------------------------------------------------------


def _side_array(side: npt.ArrayLike) -> npt.NDArray[np.int8]:
    arr = np.asarray(side)
    if arr.dtype.kind in "USO":
        flat = arr.reshape(-1)
        if not all(str(v) in _SIDES for v in flat):
            raise ValueError(f"side must be 'long'/'short' or +1/-1, got {side!r}")
        return np.where(arr == "long", 1, -1).astype(np.int8)
    num = finite("side", arr)
    if not np.all((num == 1) | (num == -1)):
        raise ValueError(f"side must be 'long'/'short' or +1/-1, got {side!r}")
    return num.astype(np.int8)


class PositionBook:
    r"""Many positions on one :class:`Exchange`, as arrays (one row per position).

    Rows are never removed: a closed or liquidated row keeps its index with ``is_open`` False and
    zero size, basis and margin. Every query is one vectorised call over all rows; opening and
    closing fill row by row through the pool (each fill moves the price for the next), in index
    order. The formulas are those of :class:`MarginAccount`, which a book row matches exactly.

    Parameters
    ----------
    exchange : Exchange

    Attributes
    ----------
    id : int
    side : ndarray
        +1 long, -1 short (int8).
    size : ndarray
        :math:`q` per row, A held (long) or owed (short).
    open_notional : ndarray
        Cost basis :math:`n` per row, in B.
    margin : ndarray
        :math:`C` per row, in B.
    realised_pnl : ndarray
        Cumulative realised PnL per row.
    is_open : ndarray
        True while a row's position is open.

    Examples
    --------
    >>> ex = Exchange(ConstantProductPool(10_000.0, 25_000_000.0, fee=0.003))
    >>> book = ex.new_book()
    >>> rows = book.open(["long", "short", "long"], margin=100.0, leverage=[10.0, 20.0, 50.0])
    >>> np.round(book.liquidation_price(), 1)
    array([2268.2, 2604.1, 2470. ])
    >>> book.liquidatable().tolist()
    [False, False, False]
    """

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.id = exchange._new_id()
        self.side: npt.NDArray[np.int8] = np.zeros(0, dtype=np.int8)
        self.size: FloatArray = np.zeros(0)
        self.open_notional: FloatArray = np.zeros(0)
        self.margin: FloatArray = np.zeros(0)
        self.realised_pnl: FloatArray = np.zeros(0)
        self.is_open: BoolArray = np.zeros(0, dtype=bool)
        exchange._books.append(self)

    def __len__(self) -> int:
        return int(self.size.shape[0])

    def __repr__(self) -> str:
        return f"PositionBook(id={self.id}, rows={len(self)}, open={int(self.is_open.sum())})"

    # -- actions -------------------------------------------------------------------------------

    def open(self, side: npt.ArrayLike, margin: npt.ArrayLike, leverage: npt.ArrayLike) -> IntArray:
        r"""Open one position per element (broadcast together), filled in order through the pool.

        Parameters
        ----------
        side : array_like of {"long", "short"} or of {+1, -1}
        margin : array_like
            :math:`C > 0`.
        leverage : array_like
            In :math:`[1, L_{\max}]` with :math:`mL < 1`.

        Returns
        -------
        ndarray of int
            Row indices of the new positions.

        Raises
        ------
        ValueError
            If any element is out of range or the pool cannot fill the sequence (tried first
            on a copy of the pool); nothing changes then.
        """
        ex = self.exchange
        cfg = ex.config
        try:
            s, c, lev = np.broadcast_arrays(
                _side_array(side), positive("margin", margin), finite("leverage", leverage)
            )
        except ValueError as exc:
            if "broadcast" not in str(exc):
                raise
            raise ValueError(f"side, margin and leverage must broadcast together: {exc}") from exc
        s, c, lev = s.reshape(-1), c.reshape(-1), lev.reshape(-1)
        if not np.all((lev >= 1.0) & (lev <= cfg.max_leverage)):
            raise ValueError(f"leverage must lie in [1, {cfg.max_leverage}], got {leverage!r}")
        if not np.all(lev * cfg.maintenance_rate < 1.0):
            raise ValueError(
                f"leverage must be < 1/maintenance_rate (else born liquidatable), got {leverage!r}"
            )
        notional = c * lev
        if not np.all(np.isfinite(notional)):
            raise ValueError("margin * leverage must be finite")
        scratch = ConstantProductPool(ex.pool.reserve_a, ex.pool.reserve_b, ex.pool.fee)
        for i in range(s.shape[0]):
            try:
                _fill(scratch, int(s[i]), True, notional=float(notional[i]))
            except ValueError as exc:
                raise ValueError(
                    f"margin * leverage of position {i} is too large for the pool to fill: {exc}"
                ) from exc
        sizes = np.empty(s.shape[0])
        for i in range(s.shape[0]):
            sizes[i], _ = ex._trade(int(s[i]), True, notional=float(notional[i]))
        start = len(self)
        self.side = np.concatenate([self.side, s.astype(np.int8)])
        self.size = np.concatenate([self.size, sizes])
        self.open_notional = np.concatenate([self.open_notional, notional])
        self.margin = np.concatenate([self.margin, c.astype(np.float64)])
        self.realised_pnl = np.concatenate([self.realised_pnl, np.zeros(s.shape[0])])
        self.is_open = np.concatenate([self.is_open, np.ones(s.shape[0], dtype=bool)])
        ex.trader_deposits += float(np.sum(c))
        return np.arange(start, len(self), dtype=np.int64)

    def _rows(self, indices: npt.ArrayLike) -> IntArray:
        idx = np.asarray(indices)
        if idx.size == 0:
            return np.zeros(0, dtype=np.int64)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"indices must be integers, got {indices!r}")
        idx = idx.reshape(-1).astype(np.int64)
        if not np.all((idx >= 0) & (idx < len(self))):
            raise ValueError(f"indices must lie in [0, {len(self)}), got {indices!r}")
        if np.unique(idx).shape[0] != idx.shape[0]:
            raise ValueError(f"indices must be distinct, got {indices!r}")
        if not np.all(self.is_open[idx]):
            raise ValueError(f"position must be open; rows {idx[~self.is_open[idx]]} are closed")
        return idx

    def close(self, indices: npt.ArrayLike) -> FloatArray:
        """Close the given open rows through the pool, in the given order; pay out the equity.

        Returns
        -------
        ndarray
            Payouts, >= 0 (shortfalls go to the fund, then bad debt, as in
            :meth:`MarginAccount.close`).

        Raises
        ------
        ValueError
            If an index is out of range, repeated or closed, or the pool cannot fill a close;
            nothing changes then.
        """
        idx = self._rows(indices)
        ex = self.exchange
        scratch = ConstantProductPool(ex.pool.reserve_a, ex.pool.reserve_b, ex.pool.fee)
        for i in idx:
            try:
                _fill(scratch, int(self.side[i]), False, size=float(self.size[i]))
            except ValueError as exc:
                raise ValueError(f"position {i} is too large for the pool to close: {exc}") from exc
        payouts = np.empty(idx.shape[0])
        for k, i in enumerate(idx):
            s = int(self.side[i])
            q, n, c = float(self.size[i]), float(self.open_notional[i]), float(self.margin[i])
            _, db = ex._trade(s, False, size=q)
            _, _, c1, realised = _after_decrease(s, q, n, c, q, db)
            self.realised_pnl[i] += realised
            *_, payouts[k] = ex._settle(c1, db, False)
            self._flat(int(i))
        return payouts

    def _flat(self, i: int) -> None:
        self.size[i] = self.open_notional[i] = self.margin[i] = 0.0
        self.is_open[i] = False

    def add_margin(self, indices: npt.ArrayLike, amount: npt.ArrayLike) -> None:
        """Deposit ``amount`` (broadcast against ``indices``) of margin into open rows.

        Raises
        ------
        ValueError
            If an index is invalid or closed, or an amount is not finite and positive.
        """
        idx = self._rows(indices)
        a = np.broadcast_to(positive("amount", amount), idx.shape)
        self.margin[idx] += a
        self.exchange.trader_deposits += float(np.sum(a))

    def _liquidate_row(self, row: int, mark: float) -> LiquidationEvent:
        q1, n1, c1, realised, event = self.exchange._liquidate(
            int(self.side[row]),
            float(self.size[row]),
            float(self.open_notional[row]),
            float(self.margin[row]),
            mark,
            self.id,
            row,
        )
        self.realised_pnl[row] += realised
        if q1 > 0:
            self.size[row], self.open_notional[row], self.margin[row] = q1, n1, c1
        else:
            self._flat(row)
        return event

    # -- vectorised views ------------------------------------------------------------------------

    def _mark(self, mark: float | None) -> float:
        return self.exchange.mark_price() if mark is None else _positive("mark", mark)

    @property
    def entry_price(self) -> FloatArray:
        """:math:`n/q` per row (nan for closed rows)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.is_open, self.open_notional / self.size, np.nan)

    @property
    def cash(self) -> FloatArray:
        """:math:`C - s n` per row."""
        return self.margin - self.side * self.open_notional

    def notional(self, mark: float | None = None) -> FloatArray:
        """:math:`qP` per row."""
        return self.size * self._mark(mark)

    def unrealised_pnl(self, mark: float | None = None) -> FloatArray:
        """:math:`s(qP - n)` per row."""
        return self.side * (self.size * self._mark(mark) - self.open_notional)

    def equity(self, mark: float | None = None) -> FloatArray:
        """:math:`C + s(qP - n)` per row (0 for closed rows)."""
        return self.margin + self.unrealised_pnl(mark)

    def margin_ratio(self, mark: float | None = None) -> FloatArray:
        """:math:`E/(qP)` per row (nan for closed rows)."""
        p = self._mark(mark)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.is_open, self.equity(p) / (self.size * p), np.nan)

    def leverage(self, mark: float | None = None) -> FloatArray:
        """:math:`qP/E` per row (inf at equity <= 0, nan for closed rows)."""
        p = self._mark(mark)
        e = self.equity(p)
        with np.errstate(invalid="ignore", divide="ignore"):
            lev = np.where(e > 0, self.size * p / np.where(e > 0, e, 1.0), np.inf)
        return np.where(self.is_open, lev, np.nan)

    def liquidatable(self, mark: float | None = None) -> BoolArray:
        """True where a row is open and :math:`E < m q P` at ``mark``."""
        p = self._mark(mark)
        m = self.exchange.config.maintenance_rate
        return self.is_open & kernel.liquidatable(self.equity(p), self.size * p, m)

    def liquidation_price(self) -> FloatArray:
        """:math:`(n - sC)/(q(1 - sm))` per row, floored at 0 (nan for closed rows)."""
        m = self.exchange.config.maintenance_rate
        with np.errstate(invalid="ignore", divide="ignore"):
            p = (self.open_notional - self.side * self.margin) / (self.size * (1.0 - self.side * m))
        return np.where(self.is_open, np.maximum(p, 0.0), np.nan)

    def bankruptcy_price(self) -> FloatArray:
        """:math:`(n - sC)/q` per row, floored at 0 (nan for closed rows)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            p = (self.open_notional - self.side * self.margin) / self.size
        return np.where(self.is_open, np.maximum(p, 0.0), np.nan)

    def _worst(self, mark: float) -> tuple[float, int] | None:
        """Lowest margin ratio among the rows below maintenance, and its row; None if none."""
        if len(self) == 0:
            return None
        under = self.liquidatable(mark)
        if not under.any():
            return None
        ratio = np.where(under, self.equity(mark) / np.where(under, self.size * mark, 1.0), np.inf)
        i = int(np.argmin(ratio))
        return float(ratio[i]), i

"""Margin accounts, the position book and the liquidation engine of section 2.2 (E5-E8).

The engine is held to the closed forms of :mod:`levpaper.leverage` (liquidation within one price
step of the closed-form price), to value conservation over random action sequences, and to its
input checks (a rejected call changes nothing).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levpaper.leverage import liquidation_price
from levpaper.margin import Exchange, MarginAccount, MarginConfig, PositionBook
from levpaper.pool import ConstantProductPool

SIDES = ("long", "short")
GRID = [
    (lev, m)
    for lev in (2.0, 5.0, 10.0, 25.0, 50.0, 100.0)
    for m in (0.0, 0.001, 0.005, 0.01)
    if m < 1.0 / lev
]


def _pool(depth: float = 2.5e7, fee: float = 0.003) -> ConstantProductPool:
    """A pool at price 2500 with ``depth`` of B."""
    return ConstantProductPool(depth / 2_500.0, depth, fee=fee)


def snapshot(ex: Exchange) -> tuple[object, ...]:
    """Everything a call may change, to check that a rejected call changed nothing."""
    return (
        ex.pool.reserve_a,
        ex.pool.reserve_b,
        ex.insurance_fund,
        ex.bad_debt,
        ex.time,
        ex.trader_deposits,
        ex.trader_withdrawals,
        ex.fund_deposits,
        ex.external_a,
        ex.external_b,
        ex.fees_a,
        ex.fees_b,
        len(ex.liquidations),
        len(ex.accounts),
        tuple((a.size, a.open_notional, a.margin, a.realised_pnl, a.is_open) for a in ex.accounts),
        tuple(
            tuple(
                arr.tobytes()
                for arr in (b.side, b.size, b.open_notional, b.margin, b.realised_pnl, b.is_open)
            )
            for b in ex.books
        ),
        len(ex._obs_t),
    )


def assert_conserved(ex: Exchange, tol: float = 1e-9) -> None:
    bs = ex.balance_sheet()
    assert bs.relative_residual <= tol, bs
    assert abs(bs.value_residual) <= tol * (bs.scale_b + bs.scale_a * bs.mark), bs


# --- opening, marking, closing --------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
def test_open_swaps_the_notional_through_the_pool(side: str) -> None:
    pool = _pool()
    x0, y0 = pool.reserve_a, pool.reserve_b
    ex = Exchange(pool)
    acct = ex.open(side, 200.0, 25.0)
    n = 5_000.0
    if side == "long":
        assert pool.reserve_b == y0 + n  # paid N of B in
        assert acct.size == pytest.approx(x0 - pool.reserve_a, rel=1e-12)
        assert acct.cash == pytest.approx(200.0 - n)
    else:
        assert pool.reserve_b == y0 - n  # received exactly N of B
        assert acct.size == pytest.approx(pool.reserve_a - x0, rel=1e-12)
        assert acct.cash == pytest.approx(200.0 + n)
    assert acct.entry_price == pytest.approx(n / acct.size, rel=1e-15)
    assert acct.open_notional == n and acct.margin == 200.0 and acct.is_open
    assert ex.trader_deposits == 200.0
    assert_conserved(ex, 1e-14)


@settings(max_examples=150)
@given(
    side=st.sampled_from(SIDES),
    lev=st.floats(1.0, 100.0),
    frac=st.floats(0.0, 0.99),
    move=st.floats(-0.5, 0.5),
)
def test_mark_to_market_and_liquidation_price_match_the_closed_form(
    side: str, lev: float, frac: float, move: float
) -> None:
    m = frac / lev
    ex = Exchange(_pool(), MarginConfig(maintenance_rate=m))
    acct = ex.open(side, 100.0, lev)
    p0 = acct.entry_price
    s = acct.sign
    mark = p0 * (1.0 + move)
    q = acct.size
    assert acct.unrealised_pnl(mark) == pytest.approx(s * q * (mark - p0), rel=1e-9, abs=1e-9)
    assert acct.equity(mark) == pytest.approx(100.0 + s * q * (mark - p0), rel=1e-9, abs=1e-9)
    assert acct.notional(mark) == q * mark
    assert acct.maintenance_requirement(mark) == pytest.approx(m * q * mark)
    assert acct.margin_ratio(mark) == pytest.approx(acct.equity(mark) / (q * mark))
    p_liq = float(liquidation_price(p0, lev, m, side))
    assert acct.liquidation_price() == pytest.approx(p_liq, rel=1e-9, abs=1e-12 * p0)
    if abs(mark - p_liq) > 1e-9 * p0:
        assert acct.is_liquidatable(mark) == (s * (mark - p_liq) < 0)


@pytest.mark.parametrize("side", SIDES)
def test_decrease_realises_pnl_and_close_pays_out_the_equity(side: str) -> None:
    ex = Exchange(_pool())
    acct = ex.open(side, 100.0, 10.0)
    ex.move_price(2_550.0)
    q, basis, pool_b = acct.size, acct.open_notional, ex.pool.reserve_b
    realised = acct.decrease(q / 4)
    traded = abs(ex.pool.reserve_b - pool_b)  # B the pool paid (long) or received (short)
    # the reserve difference carries rounding of order 1e-16 * 2.5e7
    assert realised == pytest.approx(acct.sign * (traded - basis / 4), abs=1e-7)
    assert acct.size == pytest.approx(0.75 * q) and acct.open_notional == pytest.approx(
        0.75 * basis
    )
    assert acct.margin == pytest.approx(100.0 + realised)
    cash = acct.cash
    pool_b = ex.pool.reserve_b
    payout = acct.close()
    assert payout == pytest.approx(cash + (pool_b - ex.pool.reserve_b), abs=1e-7)
    assert not acct.is_open and acct.size == 0.0 and acct.margin == 0.0
    assert ex.trader_withdrawals == payout
    assert_conserved(ex)
    with pytest.raises(ValueError, match="position"):
        acct.close()


def test_the_mark_ignores_exit_costs_but_closing_pays_them() -> None:
    ex = Exchange(_pool(2.5e6))
    acct = ex.open("long", 1_000.0, 20.0)
    before = acct.equity()
    assert acct.close() < before  # the exit fee and impact are realised only on close


# --- the closed-form liquidation price, simulated -------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(("lev", "m"), GRID)
def test_liquidation_happens_within_one_step_of_the_closed_form_price(
    lev: float, m: float, side: str
) -> None:
    """Walk the pool price toward the liquidation price in steps of 1e-4; the engine must fire
    at the first mark beyond it, so the trigger is within one step of the closed form."""
    ex = Exchange(_pool(), MarginConfig(maintenance_rate=m))
    acct = ex.open(side, 100.0, lev)
    s, q = acct.sign, acct.size
    p_liq = float(liquidation_price(acct.entry_price, lev, m, side))
    step = 1e-4
    start = p_liq * (1.0 + s * 50 * step)
    ex.move_price(start)
    assert ex.run_liquidations() == []
    previous = ex.pool.spot_price
    events = []
    for k in range(1, 200):
        ex.move_price(start * (1.0 - s * step) ** k)
        events = ex.run_liquidations()
        if events:
            break
        previous = ex.pool.spot_price
    assert len(events) == 1
    trigger = events[0].trigger_mark
    assert s * (trigger - p_liq) < 0 <= s * (previous - p_liq)
    assert abs(trigger - p_liq) <= abs(previous - trigger)
    assert not acct.is_open and events[0].size == q and events[0].remaining_size == 0.0
    assert_conserved(ex)


@pytest.mark.parametrize("m", [0.0, 0.001, 0.005, 0.01])
@pytest.mark.parametrize("side", SIDES)
def test_book_liquidations_happen_at_their_closed_form_prices(side: str, m: float) -> None:
    levs = np.array([lev for lev, mm in GRID if mm == m] * 3)
    ex = Exchange(_pool(2.5e9), MarginConfig(maintenance_rate=m))
    book = ex.new_book()
    book.open(side, 1.0, levs)
    expected = liquidation_price(book.entry_price, levs, m, side)
    np.testing.assert_allclose(book.liquidation_price(), expected, rtol=1e-9)
    s = 1 if side == "long" else -1
    step = 5e-4
    p0 = ex.pool.spot_price
    previous = p0
    for k in range(1, 3_000):
        ex.move_price(p0 * (1.0 - s * step) ** k)
        for e in ex.run_liquidations():
            p = expected[e.row]
            assert s * (e.trigger_mark - p) < 0 <= s * (previous - p) + 1e-12 * p
            assert abs(e.trigger_mark - p) <= abs(previous - e.trigger_mark) * (1 + 1e-6)
        previous = ex.pool.spot_price
        if not book.is_open.any():
            break
    assert not book.is_open.any()
    assert len(ex.liquidations) == len(levs)
    assert_conserved(ex)


# --- penalty, insurance fund, bad debt, partial liquidation ---------------------------------------


@pytest.mark.parametrize("fund", [0.0, 20.0, 1e6])
def test_a_gap_through_bankruptcy_is_paid_by_the_fund_then_is_bad_debt(fund: float) -> None:
    ex = Exchange(_pool(2.5e9), insurance_fund=fund)
    acct = ex.open("long", 100.0, 100.0)
    ex.move_price(2_500.0 * 0.95)  # a 5% gap: five times the bankruptcy move
    cash, q = acct.cash, acct.size
    proceeds = ex.pool.quote(q, "A")
    [event] = ex.run_liquidations()
    shortfall = -(cash + proceeds)
    assert shortfall > 0
    assert event.penalty == 0.0 and event.payout == 0.0
    assert event.shortfall == pytest.approx(shortfall, rel=1e-12)
    assert event.fund_paid == pytest.approx(min(fund, shortfall), rel=1e-12)
    assert event.bad_debt == pytest.approx(max(shortfall - fund, 0.0), rel=1e-9, abs=1e-9)
    assert ex.bad_debt == event.bad_debt
    assert ex.insurance_fund == pytest.approx(fund - event.fund_paid, abs=1e-9)
    assert_conserved(ex)


def test_penalty_goes_to_the_fund_and_the_rest_to_the_trader() -> None:
    cfg = MarginConfig(maintenance_rate=0.05, liquidation_penalty=0.001)
    ex = Exchange(_pool(2.5e9, fee=0.0005), cfg)
    acct = ex.open("short", 100.0, 10.0)
    ex.move_price(acct.liquidation_price() * 1.0001)
    cash, q = acct.cash, acct.size
    paid = ex.pool.quote_exact_out(q, "A")
    [event] = ex.run_liquidations()
    assert event.notional == pytest.approx(paid, rel=1e-12)
    assert event.penalty == pytest.approx(0.001 * paid, rel=1e-12)
    assert event.payout == pytest.approx(cash - paid - event.penalty, rel=1e-9)
    assert event.payout > 0 and event.shortfall == 0.0 and event.bad_debt == 0.0
    assert ex.insurance_fund == event.penalty
    assert ex.trader_withdrawals == event.payout
    assert acct.realised_pnl == pytest.approx(cash - paid - 100.0, rel=1e-9)
    assert_conserved(ex)


def test_default_penalty_exceeds_maintenance_so_it_takes_all_equity() -> None:
    ex = Exchange(_pool(2.5e9))
    acct = ex.open("long", 100.0, 50.0)
    ex.move_price(acct.liquidation_price() * 0.9999)
    [event] = ex.run_liquidations()
    assert 0 < event.penalty < 0.0125 * event.notional  # capped at the equity left
    assert event.payout == 0.0 and event.shortfall == 0.0


def test_partial_liquidation_restores_the_margin_ratio() -> None:
    m, rho, target = 0.05, 0.01, 0.1
    cfg = MarginConfig(maintenance_rate=m, liquidation_penalty=rho, partial_target=target)
    ex = Exchange(_pool(2.5e9, fee=0.0005), cfg)
    acct = ex.open("long", 100.0, 10.0)
    q0 = acct.size
    ex.move_price(acct.liquidation_price() * 0.999)
    e = acct.margin_ratio()
    [event] = ex.run_liquidations()
    phi = (target - e) / (target - rho)
    assert 0 < phi < 1
    assert event.partial and event.size == pytest.approx(phi * q0, rel=1e-12)
    assert acct.is_open and acct.size == pytest.approx((1 - phi) * q0, rel=1e-12)
    ratio = acct.margin_ratio()
    assert m < ratio <= target  # the exit fee leaves it a little short of the target
    assert ratio == pytest.approx(target, abs=0.002)
    assert ex.insurance_fund == event.penalty == pytest.approx(rho * event.notional)
    assert ex.run_liquidations() == []
    assert_conserved(ex)


def test_partial_liquidation_closes_the_rest_when_exit_costs_leave_it_under() -> None:
    cfg = MarginConfig(maintenance_rate=0.05, liquidation_penalty=0.01, partial_target=0.06)
    ex = Exchange(_pool(2.5e9, fee=0.05), cfg)  # exit fee + penalty > m: closing lowers the ratio
    acct = ex.open("long", 100.0, 10.0)
    ex.move_price(acct.liquidation_price() * 0.999)
    [event] = ex.run_liquidations()
    assert not event.partial and not acct.is_open
    assert_conserved(ex)


def test_partial_liquidation_whose_penalty_passes_the_equity_left_closes_all() -> None:
    """The cap binds: a 4% exit fee on two thirds of the position leaves the rest with an equity
    below the 4.5% penalty on the part closed. The engine then closes the rest too, and the
    settlement takes as penalty only the equity left (nothing to the trader, nothing from the
    fund). Uncapped, the penalty would exceed the equity and the fund would pay the difference.

    Removing the cap of the settlement (:func:`levpaper.kernel.liquidation_penalty`) fails this
    test. Removing only the cap of the partial step in ``Exchange`` (``penalty = rho * traded``)
    cannot fail any test: the rest survives only if ``E1 - penalty >= m q1 P1 >= 0``, so a
    surviving rest never has a penalty above its equity, and a rest that is closed is settled
    again (with the capped penalty) on the whole close; this test pins that second path.
    """
    m, rho, target, fee = 0.05, 0.045, 0.06, 0.04
    cfg = MarginConfig(maintenance_rate=m, liquidation_penalty=rho, partial_target=target)
    ex = Exchange(_pool(2.5e9, fee=fee), cfg, insurance_fund=1_000.0)
    acct = ex.open("long", 100.0, 10.0)
    ex.move_price(acct.liquidation_price() * 0.999)
    q0, e0 = acct.size, acct.margin_ratio()
    phi = (target - e0) / (target - rho)
    assert 0 < phi < 1
    # What the partial close alone would leave: the same trade on a copy, without the penalty.
    traded1 = ex.pool.quote(phi * q0, "A")
    twin = copy.deepcopy(ex)
    [twin_acct] = twin.accounts
    twin_acct.decrease(phi * q0)
    e1 = twin_acct.equity()
    assert 0 < e1 < rho * traded1  # the cap on the partial penalty binds
    cash, fund0 = acct.cash, ex.insurance_fund
    [event] = ex.run_liquidations()
    assert not event.partial and not acct.is_open
    assert event.size == q0 and event.remaining_size == 0.0
    left = cash + event.notional  # equity after closing everything, before the penalty
    assert 0 < left < rho * event.notional
    assert event.penalty == pytest.approx(left, rel=1e-12)
    assert event.payout == 0.0 and event.shortfall == 0.0
    assert event.fund_paid == 0.0 and event.bad_debt == 0.0 and ex.bad_debt == 0.0
    assert ex.insurance_fund == pytest.approx(fund0 + left, rel=1e-12)
    assert_conserved(ex)


def test_a_cascade_liquidates_positions_the_shock_alone_would_not() -> None:
    """Twenty small longs, then a large one on top; a shock that reaches only the large one's
    liquidation price sets off its sale, which pushes the price through all the others."""
    ex = Exchange(_pool(2.5e6))
    book = ex.new_book()
    book.open("long", 10.0, np.full(20, 50.0))  # 500 of B each
    book.open("long", 1_000.0, 50.0)  # 2% of the B reserve
    prices = book.liquidation_price()
    assert int(np.argmax(prices)) == 20
    shock = float(prices[20]) * 0.999
    ex.move_price(shock)
    direct = int(np.sum(prices > shock))
    events = ex.run_liquidations()
    assert direct == 1 and len(events) == 21
    # longs: the worst margin ratio is the highest liquidation price, at any mark
    order = [e.row for e in events]
    assert order == list(np.argsort(-prices, kind="stable"))
    marks = [e.trigger_mark for e in events]
    assert all(a > b for a, b in itertools.pairwise(marks))
    assert_conserved(ex)


# --- the actions --------------------------------------------------------------------------------


def test_change_leverage_sets_the_size_to_l_times_equity_over_mark() -> None:
    ex = Exchange(_pool())
    acct = ex.open("long", 100.0, 10.0)
    e, p = acct.equity(), ex.mark_price()
    acct.change_leverage(20.0)
    assert acct.size == pytest.approx(20.0 * e / p, rel=1e-12)
    assert 20.0 < acct.leverage() < 21.0  # the fee on the added notional
    e, p = acct.equity(), ex.mark_price()
    acct.change_leverage(5.0)
    assert acct.size == pytest.approx(5.0 * e / p, rel=1e-12)
    fee_free = Exchange(_pool(2.5e12, fee=0.0))
    short = fee_free.open("short", 100.0, 10.0)
    short.change_leverage(30.0)
    assert short.leverage() == pytest.approx(30.0, rel=1e-6)
    assert_conserved(ex)


def test_remove_margin_stops_at_the_free_margin() -> None:
    ex = Exchange(_pool())
    acct = ex.open("short", 100.0, 10.0)
    free = acct.free_margin()
    assert free == pytest.approx(min(acct.margin, acct.equity()) - acct.notional() / 100.0)
    before = snapshot(ex)
    with pytest.raises(ValueError, match="amount"):
        acct.remove_margin(free * 1.001)
    assert snapshot(ex) == before
    acct.remove_margin(free)
    assert acct.leverage() == pytest.approx(100.0, rel=1e-9)
    assert not acct.is_liquidatable()
    assert acct.free_margin() == pytest.approx(0.0, abs=1e-9)
    acct.add_margin(50.0)
    assert ex.trader_deposits == 150.0 and ex.trader_withdrawals == free
    assert_conserved(ex)


def test_increase_and_adjust_respect_the_leverage_cap() -> None:
    ex = Exchange(_pool())
    acct = ex.open("long", 100.0, 50.0)
    # the fee took 15% of the margin: the leverage at the mark is already about 59
    assert 57.0 < acct.leverage() < 59.0
    before = snapshot(ex)
    with pytest.raises(ValueError, match="notional"):
        acct.increase(4_000.0)
    with pytest.raises(ValueError, match="size_delta"):
        acct.adjust(4_000.0 / 2_500.0)
    assert snapshot(ex) == before
    q = acct.size
    acct.increase(100.0)
    assert acct.size > q and acct.open_notional == 5_100.0
    paid = acct.adjust(-acct.size / 2)  # sell half
    assert paid > 0 and acct.is_open
    acct.adjust(-acct.size)  # sell the rest: closed
    assert not acct.is_open
    assert_conserved(ex)


def test_adjust_grows_a_short_by_selling_and_cannot_flip_it() -> None:
    ex = Exchange(_pool())
    acct = ex.open("short", 100.0, 5.0)
    q = acct.size
    acct.adjust(-0.01)
    assert acct.size == pytest.approx(q + 0.01)
    before = snapshot(ex)
    with pytest.raises(ValueError, match="flip"):
        acct.adjust(2 * acct.size)
    assert snapshot(ex) == before
    acct.adjust(0.01)
    assert acct.size == pytest.approx(q)


def test_closing_an_underwater_position_uses_the_fund_then_bad_debt() -> None:
    ex = Exchange(_pool(2.5e9), insurance_fund=10.0)
    acct = ex.open("short", 100.0, 100.0)
    ex.move_price(2_500.0 * 1.05)
    assert acct.equity() < 0
    assert acct.close() == 0.0
    assert ex.insurance_fund == 0.0 and ex.bad_debt > 0
    assert_conserved(ex)


# --- TWAP mark ----------------------------------------------------------------------------------


def test_twap_is_the_time_weighted_average_of_the_recorded_price() -> None:
    ex = Exchange(_pool(), MarginConfig(mark="twap", twap_window=10.0))
    p0 = ex.pool.spot_price
    assert ex.mark_price() == p0  # no time has passed
    ex.advance(4.0)
    ex.move_price(2_600.0)
    p1 = ex.pool.spot_price
    ex.move_price(2_700.0)  # same instant: only the last price of an instant has weight
    p2 = ex.pool.spot_price
    assert ex.mark_price() == pytest.approx(p0)
    ex.advance(6.0)
    assert ex.twap() == pytest.approx((4 * p0 + 6 * p2) / 10)
    assert ex.twap(window=2.0) == pytest.approx(p2)
    ex.advance(5.0)
    assert ex.twap() == pytest.approx(p2)
    assert ex.twap(window=15.0) == pytest.approx((4 * p0 + 11 * p2) / 15)
    assert p1 != p2


@pytest.mark.parametrize("mark", ["spot", "twap"])
def test_twap_mark_ignores_a_momentary_spike(mark: str) -> None:
    ex = Exchange(_pool(), MarginConfig(mark=mark, twap_window=1.0))
    acct = ex.open("long", 100.0, 50.0)
    ex.advance(1.0)
    p = ex.pool.spot_price
    ex.move_price(p * 0.95)  # a manipulator dumps A ...
    events = ex.run_liquidations()
    ex.move_price(p)  # ... and buys it back in the same instant
    assert bool(events) == (mark == "spot")
    assert acct.is_open == (mark == "twap")
    assert_conserved(ex)


# --- the book agrees with the accounts, and scales ------------------------------------------------


@settings(max_examples=40)
@given(
    orders=st.lists(
        st.tuples(st.sampled_from(SIDES), st.floats(10.0, 1_000.0), st.floats(1.0, 100.0)),
        min_size=1,
        max_size=12,
    ),
    shock=st.floats(0.9, 1.1),
)
def test_book_and_accounts_agree(orders: list[tuple[str, float, float]], shock: float) -> None:
    ex1, ex2 = Exchange(_pool(2.5e6)), Exchange(_pool(2.5e6))
    accts = [ex1.open(s, c, lev) for s, c, lev in orders]
    book = ex2.new_book()
    sides, margins, levs = zip(*orders, strict=True)
    book.open(list(sides), list(margins), list(levs))
    assert (ex1.pool.reserve_a, ex1.pool.reserve_b) == (ex2.pool.reserve_a, ex2.pool.reserve_b)

    def compare() -> None:
        mark = ex1.mark_price()
        for i, a in enumerate(accts):
            assert (a.size, a.open_notional, a.margin, a.is_open) == (
                book.size[i],
                book.open_notional[i],
                book.margin[i],
                book.is_open[i],
            )
            assert a.realised_pnl == pytest.approx(book.realised_pnl[i], abs=1e-9)
            if a.is_open:
                assert a.equity(mark) == pytest.approx(book.equity(mark)[i], rel=1e-12)
                assert a.margin_ratio(mark) == pytest.approx(book.margin_ratio(mark)[i])
                assert a.leverage(mark) == pytest.approx(book.leverage(mark)[i])
                assert a.liquidation_price() == pytest.approx(book.liquidation_price()[i])
                assert a.bankruptcy_price() == pytest.approx(book.bankruptcy_price()[i])
                assert a.is_liquidatable(mark) == book.liquidatable(mark)[i]
                assert a.entry_price == pytest.approx(book.entry_price[i])

    compare()
    for ex in (ex1, ex2):
        ex.move_price(2_500.0 * shock)
    ev1, ev2 = ex1.run_liquidations(), ex2.run_liquidations()
    assert [(e.holder - accts[0].id, e.size, e.penalty, e.bad_debt) for e in ev1] == [
        (e.row, e.size, e.penalty, e.bad_debt) for e in ev2
    ]
    compare()
    open_rows = [i for i, a in enumerate(accts) if a.is_open]
    payouts = [accts[i].close() for i in open_rows]
    np.testing.assert_array_equal(book.close(open_rows), payouts)
    compare()
    assert ex1.balance_sheet().total_b == pytest.approx(ex2.balance_sheet().total_b)


def test_thousands_of_positions_in_one_call() -> None:
    rng = np.random.default_rng(11)
    n = 5_000
    ex = Exchange(_pool(2.5e9), insurance_fund=1_000.0)
    book = ex.new_book()
    sides = np.where(rng.random(n) < 0.6, 1, -1)
    rows = book.open(sides, rng.uniform(10.0, 100.0, n), rng.uniform(1.0, 100.0, n))
    np.testing.assert_array_equal(rows, np.arange(n))
    assert book.liquidation_price().shape == (n,)
    assert_conserved(ex)
    ex.move_price(ex.pool.spot_price * 0.97)
    under = int(book.liquidatable().sum())
    events = ex.run_liquidations()
    assert len(events) >= under > 0
    assert not book.liquidatable().any()
    assert_conserved(ex)
    book.close(np.flatnonzero(book.is_open)[:100])
    assert_conserved(ex)


# --- value conservation over random action sequences --------------------------------------------

configs = st.builds(
    MarginConfig,
    maintenance_rate=st.sampled_from([0.0, 0.001, 0.005, 0.02]),
    liquidation_penalty=st.sampled_from([0.0, 0.0125]),
    partial_target=st.sampled_from([None, 0.05]),
    mark=st.sampled_from(["spot", "twap"]),
    twap_window=st.sampled_from([1.0, 5.0]),
)
idx = st.integers(0, 50)
frac = st.floats(0.0, 1.2)
levs = st.one_of(st.sampled_from([1.0, 5.0, 20.0, 50.0, 100.0]), st.floats(0.5, 110.0))
moves = st.one_of(st.sampled_from([0.9, 0.97, 0.99, 1.01, 1.03, 1.1]), st.floats(0.85, 1.15))
opens = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(SIDES), st.floats(1.0, 1_000.0), levs),
    st.tuples(
        st.just("book_open"),
        st.lists(
            st.tuples(st.sampled_from([1, -1]), st.floats(1.0, 500.0), levs),
            min_size=1,
            max_size=4,
        ),
    ),
)
actions = st.one_of(
    opens,
    st.tuples(st.just("book_close"), idx),
    st.tuples(st.just("book_add"), idx, st.floats(0.0, 50.0)),
    st.tuples(st.just("increase"), idx, st.floats(0.0, 20_000.0)),
    st.tuples(st.just("decrease"), idx, frac),
    st.tuples(st.just("close"), idx),
    st.tuples(st.just("add"), idx, st.floats(-1.0, 100.0)),
    st.tuples(st.just("remove"), idx, frac),
    st.tuples(st.just("lev"), idx, st.floats(0.5, 120.0)),
    st.tuples(st.just("adjust"), idx, st.floats(-1.2, 1.2)),
    st.tuples(st.just("move"), moves),
    st.tuples(st.just("move"), moves),
    st.tuples(st.just("swap"), st.sampled_from(["A", "B"]), st.floats(0.0, 0.01)),
    st.tuples(st.just("advance"), st.floats(0.0, 2.0)),
    st.tuples(st.just("liquidate")),
    st.tuples(st.just("insure"), st.floats(0.0, 100.0)),
)


def _apply(ex: Exchange, action: tuple[Any, ...]) -> None:
    kind, *args = action
    accts = ex.accounts
    book = ex.books[0] if ex.books else None
    acct = accts[args[0] % len(accts)] if accts and kind in ACCOUNT_ACTIONS else None
    if kind in ACCOUNT_ACTIONS and acct is None:
        return
    if kind == "open":
        ex.open(*args)
    elif kind == "book_open":
        assert book is not None
        s, c, lev = zip(*args[0], strict=True)
        book.open(list(s), list(c), list(lev))
    elif kind in ("book_close", "book_add"):
        if book is None or len(book) == 0:
            return
        row = args[0] % len(book)
        if kind == "book_close":
            book.close([row])
        else:
            book.add_margin([row], args[1])
    elif kind == "increase":
        acct.increase(args[1])
    elif kind == "decrease":
        acct.decrease(args[1] * acct.size)
    elif kind == "close":
        acct.close()
    elif kind == "add":
        acct.add_margin(args[1])
    elif kind == "remove":
        acct.remove_margin(args[1] * acct.free_margin())
    elif kind == "lev":
        acct.change_leverage(args[1])
    elif kind == "adjust":
        acct.adjust(args[1] * acct.size)
    elif kind == "move":
        ex.move_price(ex.pool.spot_price * args[0])
    elif kind == "swap":
        token = args[0]
        reserve = ex.pool.reserve_a if token == "A" else ex.pool.reserve_b
        ex.external_swap(args[1] * reserve, token)
    elif kind == "advance":
        ex.advance(args[0])
    elif kind == "liquidate":
        ex.run_liquidations()
    elif kind == "insure":
        ex.deposit_insurance(args[0])


ACCOUNT_ACTIONS = {"increase", "decrease", "close", "add", "remove", "lev", "adjust"}


@settings(max_examples=150, deadline=None)
@given(
    config=configs,
    fund=st.sampled_from([0.0, 50.0]),
    fee=st.sampled_from([0.0, 0.003]),
    prefix=st.lists(opens, min_size=1, max_size=4),
    script=st.lists(actions, min_size=5, max_size=30),
)
def test_value_is_conserved_and_rejected_calls_change_nothing(
    config: MarginConfig,
    fund: float,
    fee: float,
    prefix: list[tuple[Any, ...]],
    script: list[tuple[Any, ...]],
) -> None:
    ex = Exchange(_pool(2.5e7, fee=fee), config, insurance_fund=fund)
    ex.new_book()
    for action in prefix + script:
        before = snapshot(ex)
        try:
            _apply(ex, action)
        except ValueError:
            assert snapshot(ex) == before, action
        assert_conserved(ex)
        assert ex.bad_debt >= 0 and ex.insurance_fund >= 0
    ex.run_liquidations()
    assert not any(a.is_liquidatable() for a in ex.accounts)
    assert all(not b.liquidatable().any() for b in ex.books)
    assert_conserved(ex)


# --- bad input ----------------------------------------------------------------------------------


def _fresh() -> tuple[Exchange, MarginAccount, PositionBook]:
    ex = Exchange(_pool(), MarginConfig(maintenance_rate=0.02, max_leverage=100.0))
    acct = ex.open("long", 100.0, 10.0)
    book = ex.new_book()
    book.open(["long", "short"], 100.0, 5.0)
    return ex, acct, book


BAD_CALLS: list[tuple[str, Callable[[Exchange, MarginAccount, PositionBook], Any], str]] = [
    ("leverage below 1", lambda ex, a, b: ex.open("long", 100.0, 0.5), "leverage"),
    ("leverage above the cap", lambda ex, a, b: ex.open("long", 100.0, 101.0), "leverage"),
    ("born liquidatable", lambda ex, a, b: ex.open("short", 100.0, 50.0), "born liquidatable"),
    ("zero margin", lambda ex, a, b: ex.open("long", 0.0, 2.0), "margin"),
    ("negative margin", lambda ex, a, b: ex.open("long", -5.0, 2.0), "margin"),
    ("nan margin", lambda ex, a, b: ex.open("long", math.nan, 2.0), "margin"),
    ("inf leverage", lambda ex, a, b: ex.open("long", 1.0, math.inf), "leverage"),
    ("bad side", lambda ex, a, b: ex.open("up", 1.0, 2.0), "side"),
    ("short beyond pool", lambda ex, a, b: ex.open("short", 1e6, 40.0), "margin \\* leverage"),
    ("increase nan", lambda ex, a, b: a.increase(math.nan), "notional"),
    ("increase negative", lambda ex, a, b: a.increase(-1.0), "notional"),
    ("increase past cap", lambda ex, a, b: a.increase(1e5), "notional"),
    ("decrease zero", lambda ex, a, b: a.decrease(0.0), "size"),
    ("decrease too much", lambda ex, a, b: a.decrease(2 * a.size), "size"),
    ("add zero margin", lambda ex, a, b: a.add_margin(0.0), "amount"),
    ("add inf margin", lambda ex, a, b: a.add_margin(math.inf), "amount"),
    ("remove negative", lambda ex, a, b: a.remove_margin(-1.0), "amount"),
    ("remove too much", lambda ex, a, b: a.remove_margin(99.0), "amount"),
    ("leverage target low", lambda ex, a, b: a.change_leverage(0.5), "leverage"),
    ("leverage target 1/m", lambda ex, a, b: a.change_leverage(60.0), "leverage"),
    ("adjust zero", lambda ex, a, b: a.adjust(0.0), "size_delta"),
    ("adjust nan", lambda ex, a, b: a.adjust(math.nan), "size_delta"),
    ("mark negative", lambda ex, a, b: a.equity(mark=-1.0), "mark"),
    ("move to zero", lambda ex, a, b: ex.move_price(0.0), "price"),
    ("advance zero", lambda ex, a, b: ex.advance(0.0), "dt"),
    ("swap negative", lambda ex, a, b: ex.external_swap(-1.0, "A"), "amount_in"),
    ("swap bad token", lambda ex, a, b: ex.external_swap(1.0, "C"), "token_in"),
    ("insure nan", lambda ex, a, b: ex.deposit_insurance(math.nan), "amount"),
    ("twap window", lambda ex, a, b: ex.twap(window=0.0), "window"),
    ("book leverage", lambda ex, a, b: b.open(["long", "long"], 10.0, [5.0, 0.5]), "leverage"),
    ("book margin", lambda ex, a, b: b.open("long", [1.0, -1.0], 5.0), "margin"),
    ("book side", lambda ex, a, b: b.open([1, 0], 1.0, 5.0), "side"),
    ("book shapes", lambda ex, a, b: b.open("long", [1.0, 2.0], [2.0, 3.0, 4.0]), "broadcast"),
    ("book born liquidatable", lambda ex, a, b: b.open("long", 1.0, [5.0, 50.0]), "liquidatable"),
    ("book beyond pool", lambda ex, a, b: b.open([-1, -1], 8e5, 20.0), "position 1"),
    ("book repeated rows", lambda ex, a, b: b.close([0, 0]), "distinct"),
    ("book row range", lambda ex, a, b: b.close([5]), "indices"),
    ("book add zero", lambda ex, a, b: b.add_margin([0], 0.0), "amount"),
]


@pytest.mark.parametrize(("what", "call", "name"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_naming_the_parameter_and_changes_nothing(
    what: str, call: Callable[[Exchange, MarginAccount, PositionBook], Any], name: str
) -> None:
    ex, acct, book = _fresh()
    before = snapshot(ex)
    with pytest.raises(ValueError, match=name):
        call(ex, acct, book)
    assert snapshot(ex) == before


def test_closed_positions_reject_every_action() -> None:
    ex, acct, book = _fresh()
    acct.close()
    book.close([1])
    before = snapshot(ex)
    for call in (
        acct.close,
        lambda: acct.decrease(1.0),
        lambda: acct.increase(1.0),
        lambda: acct.add_margin(1.0),
        lambda: acct.remove_margin(1.0),
        lambda: acct.change_leverage(2.0),
        lambda: acct.adjust(1.0),
        acct.liquidation_price,
        lambda: book.close([1]),
        lambda: book.add_margin([1], 1.0),
    ):
        with pytest.raises(ValueError, match="position must be open"):
            call()
    assert snapshot(ex) == before


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_leverage": 0.5}, "max_leverage"),
        ({"maintenance_rate": 1.0}, "maintenance_rate"),
        ({"maintenance_rate": math.nan}, "maintenance_rate"),
        ({"liquidation_penalty": -0.1}, "liquidation_penalty"),
        ({"partial_target": 0.004}, "partial_target"),
        ({"partial_target": 1.0}, "partial_target"),
        ({"mark": "oracle"}, "mark"),
        ({"twap_window": 0.0}, "twap_window"),
    ],
)
def test_config_rejects_bad_fields(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        MarginConfig(**kwargs)


def test_exchange_rejects_a_negative_fund_and_a_non_pool() -> None:
    with pytest.raises(ValueError, match="insurance_fund"):
        Exchange(_pool(), insurance_fund=-1.0)
    with pytest.raises(TypeError, match="pool"):
        Exchange("pool")


def test_liquidation_table_has_one_row_per_event() -> None:
    ex = Exchange(_pool(2.5e6))
    book = ex.new_book()
    book.open("long", 200.0, np.full(5, 50.0))
    ex.move_price(ex.pool.spot_price * 0.9)
    events = ex.run_liquidations()
    table = ex.liquidation_table()
    assert len(table["size"]) == len(events) == 5
    np.testing.assert_array_equal(table["row"], [e.row for e in events])
    assert set(table) >= {"time", "side", "trigger_mark", "execution_price", "penalty", "bad_debt"}


KINDS = (
    *("open", "book_open", "book_close", "book_add", "increase", "decrease", "close", "add"),
    *("remove", "lev", "adjust", "move", "move", "move", "swap", "advance", "liquidate", "insure"),
)


def _random_action(rng: np.random.Generator) -> tuple[Any, ...]:
    kind = KINDS[int(rng.integers(len(KINDS)))]
    i = int(rng.integers(0, 50))
    lev = float(rng.choice([1.0, 5.0, 20.0, 50.0, 100.0, rng.uniform(0.5, 110.0)]))
    if kind == "open":
        return (kind, str(rng.choice(SIDES)), float(rng.uniform(1.0, 1_000.0)), lev)
    if kind == "book_open":
        k = int(rng.integers(1, 5))
        rows = [(int(rng.choice([1, -1])), float(rng.uniform(1.0, 500.0)), lev) for _ in range(k)]
        return (kind, rows)
    if kind in ("book_close", "close"):
        return (kind, i)
    if kind == "book_add":
        return (kind, i, float(rng.uniform(0.0, 50.0)))
    if kind in ("increase", "add", "lev"):
        hi = {"increase": 20_000.0, "add": 100.0, "lev": 120.0}[kind]
        return (kind, i, float(rng.uniform(0.0, hi)))
    if kind in ("decrease", "remove"):
        return (kind, i, float(rng.uniform(0.0, 1.2)))
    if kind == "adjust":
        return (kind, i, float(rng.uniform(-1.2, 1.2)))
    if kind == "move":
        return (kind, float(rng.choice([rng.uniform(0.9, 1.1), rng.uniform(0.995, 1.005)])))
    if kind == "swap":
        return (kind, str(rng.choice(["A", "B"])), float(rng.uniform(0.0, 0.01)))
    if kind == "advance":
        return (kind, float(rng.uniform(0.0, 2.0)))
    if kind == "insure":
        return (kind, float(rng.uniform(0.0, 100.0)))
    return (kind,)


def test_conservation_over_long_random_sequences() -> None:
    """Twenty seeded runs of 300 actions each: long enough that liquidations, partial ones,
    insurance payments and bad debt all occur (checked), conserved at every step."""
    seen = {"liquidations": 0, "partial": 0, "fund_paid": 0, "bad_debt": 0, "rejected": 0}
    for seed in range(20):
        rng = np.random.default_rng(seed)
        config = MarginConfig(
            maintenance_rate=float(rng.choice([0.0, 0.005, 0.02])),
            liquidation_penalty=0.0025,
            partial_target=[None, 0.05][seed % 2],
            mark=("spot", "twap")[(seed // 2) % 2],
        )
        ex = Exchange(_pool(2.5e7, fee=0.003), config, insurance_fund=100.0 * (seed % 3))
        ex.new_book()
        for _ in range(300):
            action = _random_action(rng)
            before = snapshot(ex)
            try:
                _apply(ex, action)
            except ValueError:
                seen["rejected"] += 1
                assert snapshot(ex) == before, action
            assert_conserved(ex)
        seen["liquidations"] += len(ex.liquidations)
        seen["partial"] += sum(e.partial for e in ex.liquidations)
        seen["fund_paid"] += sum(e.fund_paid > 0 for e in ex.liquidations)
        seen["bad_debt"] += sum(e.bad_debt > 0 for e in ex.liquidations)
    assert min(seen.values()) > 0, seen

"""Tests of the market's venue mechanics (levpaper.market, levpaper.market_book; issue 14).

Each mechanic is off by default; each test compares a run with it on against what it must do
(a formula computed here, or the same run with it off), so that removing the mechanic or
reversing its sign fails.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from levpaper import kernel
from levpaper.market import (
    HOLD,
    REBALANCE,
    Control,
    Market,
    MarketConfig,
    Population,
    Scenario,
    bridge_extremes,
    external_paths,
    make_population,
    monitor_points,
    run_scenario,
)
from levpaper.market_book import MarketBook, limit_orders

P0 = 2500.0


def _population(
    side: list[int], leverage: list[float], wealth: float = 400.0, policy: int = HOLD
) -> Population:
    n = len(side)
    return Population(
        side=np.asarray(side, dtype=np.int8),
        leverage=np.asarray(leverage, dtype=np.float64),
        wealth=np.full(n, wealth),
        policy=np.full(n, policy, dtype=np.int8),
        home=np.zeros(n, dtype=np.int64),
    )


def _flat(cfg: MarketConfig) -> np.ndarray:
    return np.full((cfg.n_pools, cfg.n_steps + 1), cfg.price0)


# --- 1. open-interest and position caps ---------------------------------------------------------


def test_limit_orders_scales_each_side_pro_rata_and_never_cuts_reductions() -> None:
    side = np.array([1.0, 1.0, 1.0, -1.0, -1.0])
    q = np.array([0.0, 0.4, 0.4, 0.2, 0.0])
    live = q > 0
    want = np.array([0.6, 0.2, -0.3, -0.1, -0.3])  # long growths 0.6, 0.2; a long cuts 0.3;
    # both shorts grow (a short sells A to grow)
    # longs: OI after the cut = (0.4 + 0.1) * 2500 = 1250; cap 0.02 * 1e5 = 2000: room 750 for
    # 0.8 A * 2500 = 2000 wanted: factor 0.375. Shorts: OI 500, room 1500 >= 1000 wanted.
    out, scale, rej = limit_orders(want, q, side, live, P0, 1e5, 0.02, None)
    np.testing.assert_allclose(out, [0.225, 0.075, -0.3, -0.1, -0.3], rtol=1e-14)
    np.testing.assert_allclose(scale, [0.375, 0.375, 1.0, 1.0, 1.0], rtol=1e-14)
    assert rej == pytest.approx(0.5 * P0, rel=1e-14)
    # position cap 0.006 * 1e5 / 2500 = 0.24 A: the flat long to 0.24, the 0.4 long cannot grow
    out, scale, rej = limit_orders(want, q, side, live, P0, 1e5, None, 0.006)
    # (the short at 0.2 A selling 0.1 more grows too: to 0.24)
    np.testing.assert_allclose(out, [0.24, 0.0, -0.3, -0.04, -0.24], rtol=1e-12)
    assert rej == pytest.approx((0.36 + 0.2 + 0.06 + 0.06) * P0, rel=1e-12)
    # a cap that does not bind changes nothing, to the bit
    out, scale, rej = limit_orders(want, q, side, live, P0, 1e5, 1e3, 1e3)
    assert out.tolist() == want.tolist() and scale.tolist() == [1.0] * 5 and rej == 0.0


@given(
    st.lists(
        st.tuples(st.sampled_from([1.0, -1.0]), st.floats(0.0, 5.0), st.floats(-5.0, 5.0)),
        min_size=1,
        max_size=12,
    ),
    st.one_of(st.none(), st.floats(1e-4, 0.2)),
    st.one_of(st.none(), st.floats(1e-4, 0.05)),
)
def test_limit_orders_invariants(
    rows: list[tuple[float, float, float]], oi_cap: float | None, position_cap: float | None
) -> None:
    side = np.array([r[0] for r in rows])
    q = np.array([r[1] for r in rows])
    want = np.array([r[2] for r in rows])
    live = q > 0
    mark, depth = 100.0, 1e4
    out, scale, rej = limit_orders(want, q, side, live, mark, depth, oi_cap, position_cap)
    dq, new = side * want, side * out
    grow = dq > 0
    np.testing.assert_array_equal(out[~grow], want[~grow])  # reductions and zeros untouched
    assert np.all((new[grow] >= 0) & (new[grow] <= dq[grow] * (1 + 1e-12)))  # cut, never turned
    assert np.all((scale >= 0) & (scale <= 1 + 1e-12))
    np.testing.assert_allclose(scale[grow] * dq[grow], new[grow], rtol=1e-12, atol=1e-12)
    assert rej == pytest.approx(float((dq[grow] - new[grow]).sum()) * mark, rel=1e-9, abs=1e-9)
    if position_cap is not None:  # a growing position ends at most at the cap (or where it was)
        bound = np.maximum(position_cap * depth / mark, q)
        assert np.all((q + new)[grow] <= bound[grow] * (1 + 1e-12) + 1e-12)
    if oi_cap is not None:  # a side allowed to grow ends within its cap
        keep = np.where(grow, new, 0.0)
        cut = np.minimum(np.maximum(-dq, 0.0), q)
        for s in (1.0, -1.0):
            mine = side == s
            if np.any(keep[mine] > 0):
                oi = float((q - cut + keep)[mine].sum()) * mark
                assert oi <= oi_cap * depth * (1 + 1e-9)


def test_oi_cap_scales_the_openings_pro_rata_with_their_margin() -> None:
    cfg = MarketConfig(n_traders=6, n_steps=1, pool_liquidity=1e6, cooldown=None)
    pop = _population([1, 1, 1, -1, -1, -1], [50.0, 80.0, 20.0, 10.0, 30.0, 5.0])
    free = Market(cfg, pop, _flat(cfg))
    cap = 0.005  # 5000 B a side at the start; the longs want 15,000, the shorts 4,500
    capped = Market(replace(cfg, oi_cap=cap), pop, _flat(cfg))
    longs = free.side > 0
    factor = cap * cfg.pool_liquidity / float((free.q[0, longs] * P0).sum())
    np.testing.assert_allclose(capped.q[0, longs], factor * free.q[0, longs], rtol=1e-12)
    np.testing.assert_allclose(capped.c[0, longs], factor * free.c[0, longs], rtol=1e-12)
    np.testing.assert_allclose(capped.wallet[longs], 400.0 - factor * 100.0, rtol=1e-12)
    np.testing.assert_array_equal(capped.q[0, ~longs], free.q[0, ~longs])  # within their cap
    assert float((capped.q[0, longs] * P0).sum()) == pytest.approx(cap * 1e6, rel=1e-12)
    res = capped.run()
    assert res.rejected[0] == pytest.approx((1.0 - factor) * 15_000.0, rel=1e-12)


def test_position_cap_cuts_only_the_positions_above_it() -> None:
    cfg = MarketConfig(n_traders=4, n_steps=1, pool_liquidity=1e6, cooldown=None)
    pop = _population([1, -1, 1, -1], [90.0, 60.0, 20.0, 5.0])  # notionals 9000 .. 500 B
    free = Market(cfg, pop, _flat(cfg))
    capped = Market(replace(cfg, position_cap=0.004), pop, _flat(cfg))  # 4000 B
    np.testing.assert_allclose(capped.q[0, :2] * P0, [4000.0, 4000.0], rtol=1e-12)
    np.testing.assert_array_equal(capped.q[0, 2:], free.q[0, 2:])
    np.testing.assert_allclose(capped.n[0, :2] / capped.c[0, :2], free.n[0, :2] / free.c[0, :2],
                               rtol=5e-3)  # fmt: skip  # the leverage is kept (less impact)
    assert capped.run().rejected[0] == pytest.approx(5000.0 + 2000.0, rel=1e-12)


# --- 2. impact-aware sizing ---------------------------------------------------------------------


@pytest.mark.parametrize("side", [1, -1])
def test_impact_sizing_pays_exactly_the_target_notional(side: int) -> None:
    cfg = MarketConfig(n_traders=1, n_steps=1, pool_liquidity=2e5, cooldown=None)
    pop = _population([side], [80.0])  # 8000 B against 200,000 B of depth
    mid = Market(cfg, pop, _flat(cfg))
    aware = Market(replace(cfg, impact_sizing=True), pop, _flat(cfg))
    # alone, the uniform price is its own execution price: basis N = L C
    assert aware.n[0, 0] == pytest.approx(80.0 * aware.c[0, 0], rel=1e-12)
    lev_mid = mid.n[0, 0] / mid.c[0, 0]
    assert (lev_mid - 80.0) * side > 0.5  # at the mid a long pays more, a short gets less
    assert mid.q[0, 0] == pytest.approx(8000.0 / P0, rel=1e-15)  # sized at the mid
    # a long gets fewer A than at the mid, a short sells more for the same B
    assert (aware.q[0, 0] - mid.q[0, 0]) * side < 0


def test_impact_sizing_of_a_rebalance_growth() -> None:
    cfg = MarketConfig(n_traders=1, n_steps=2, pool_liquidity=2e5, cooldown=None,
                       rebalance_every=1, impact_sizing=True)  # fmt: skip
    pop = _population([1], [10.0], policy=REBALANCE)
    ext = np.array([[P0, P0 * 1.02, P0 * 1.02]])
    mkt = Market(cfg, pop, ext)
    mkt.step()  # the long gained: leverage < 10 at the mark, so it grows
    q0 = mkt.q[0, 0]
    x, y = float(mkt.x[0]), float(mkt.y[0])
    mark = y / x
    eq = float(mkt.equity()[0, 0])
    grow_b = (10.0 * eq / mark - q0) * mark
    expect, _ = kernel.trade_notional(grow_b, x, y, kernel.fee_factor(cfg.fee))
    mkt.step()
    assert mkt.q[0, 0] - q0 == pytest.approx(expect, rel=1e-9)
    assert expect < grow_b / mark  # fewer A than at the mid


# --- 3. staggered entries, rebalancing hours, burn-in -----------------------------------------


def test_stagger_opens_and_rebalances_each_trader_at_its_phase() -> None:
    k = 6
    cfg = MarketConfig(n_traders=40, n_steps=20, pool_liquidity=1e9, rebalance_every=k,
                       stagger=True, cooldown=None, policy_mix=(0.0, 1.0, 0.0, 0.0),
                       leverage_range=(2.0, 4.0))  # fmt: skip
    rng = np.random.default_rng(3)
    pop = make_population(cfg, Scenario(), rng)
    ext = np.geomspace(P0, P0 * 1.05, cfg.n_steps + 1)[None, :]  # a trend: rebalances trade
    with pytest.raises(ValueError, match="rng"):
        Market(cfg, pop, ext)
    mkt = Market(cfg, pop, ext, rng=rng)
    expect = np.random.default_rng(3)
    make_population(cfg, Scenario(), expect)
    phi = expect.integers(0, k, size=cfg.n_traders)
    opened = np.full(cfg.n_traders, -1)
    q_prev = mkt.q[0].copy()
    opened[mkt.is_open[0]] = 0
    changed = np.zeros((cfg.n_steps + 1, cfg.n_traders), dtype=bool)
    for t in range(1, cfg.n_steps + 1):
        mkt.step()
        opened[(opened < 0) & mkt.is_open[0]] = t
        changed[t] = mkt.q[0] != q_prev
        q_prev = mkt.q[0].copy()
    np.testing.assert_array_equal(opened, phi)
    steps = np.arange(cfg.n_steps + 1)[:, None]
    due = (steps > phi[None, :]) & ((steps - phi[None, :]) % k == 0)
    np.testing.assert_array_equal(changed & (steps > phi[None, :]), due)
    assert 2 <= len(set(phi.tolist())) and mkt.is_open[0].all()


def test_burn_in_excludes_the_first_steps_from_the_statistics() -> None:
    cfg = MarketConfig(n_traders=400, n_steps=40, pool_liquidity=2e7,
                       leverage_range=(20.0, 100.0))  # fmt: skip
    crash = Scenario("c", crash_step=10)
    full = run_scenario(cfg, crash, seed=0)
    late = run_scenario(replace(cfg, burn_in=12), crash, seed=0)
    assert full.bad_debt > 0 and full.liquidations[10] > 0 and full.liquidations[13:].sum() > 0
    np.testing.assert_array_equal(late.liquidations, full.liquidations)  # the same run
    assert late.counted.tolist() == [t > 12 for t in range(41)]
    assert late.n_liquidations == int(full.liquidations[13:].sum()) < full.n_liquidations
    w12 = run_scenario(replace(cfg, n_steps=12), crash, seed=0)  # the same first 12 steps
    growth = late.log_growth - full.log_growth  # log W_T/W_12 - log W_T/W_0 = log W_0/W_12
    np.testing.assert_allclose(growth, -w12.log_growth, rtol=1e-9, atol=1e-12)
    debt_by_step = np.zeros(41)
    np.add.at(debt_by_step, full.events["step"], full.events["bad_debt"])
    assert late.bad_debt == pytest.approx(debt_by_step[13:].sum(), abs=1e-6)
    vol = full.events["notional"][full.events["step"] > 12].sum()
    assert late.liquidation_volume == pytest.approx(vol, rel=1e-12)
    assert late.max_cascade == int(full.cascade[13:].max())


# --- 4. liquidation checks inside the step ------------------------------------------------------


def test_bridge_extremes_invert_the_crossing_probability() -> None:
    rng = np.random.default_rng(0)
    x0, x1 = np.log(rng.uniform(90, 110, 500)), np.log(rng.uniform(90, 110, 500))
    v = 0.8**2 / 8760
    u, w = rng.random(500), rng.random(500)
    lo, hi = bridge_extremes(x0, x1, v, u, w)
    assert np.all(lo <= np.minimum(x0, x1)) and np.all(hi >= np.maximum(x0, x1))
    np.testing.assert_allclose(np.exp(-2 * (x0 - lo) * (x1 - lo) / v), u, rtol=1e-8)
    np.testing.assert_allclose(np.exp(-2 * (hi - x0) * (hi - x1) / v), w, rtol=1e-8)


def test_bridge_minimum_matches_a_simulated_brownian_bridge() -> None:
    rng = np.random.default_rng(1)
    n, steps, v = 4000, 2000, 1.0
    inc = rng.standard_normal((n, steps)) * math.sqrt(v / steps)
    path = np.cumsum(inc, axis=1)
    bridge = path - np.linspace(1 / steps, 1.0, steps)[None, :] * path[:, -1:]  # 0 to 0
    sim_min = np.minimum(bridge.min(axis=1), 0.0)
    lo, _ = bridge_extremes(np.zeros(n), np.zeros(n), v, rng.random(n), rng.random(n))
    for b in (-0.3, -0.6, -1.0):
        exact = math.exp(-2 * b * b / v)
        assert np.mean(lo < b) == pytest.approx(exact, abs=0.025)
        # the discrete path misses touches between its points: a little below
        assert exact - 0.06 < np.mean(sim_min < b) <= exact + 0.025


def test_monitor_points_fill_a_brownian_bridge() -> None:
    rng = np.random.default_rng(2)
    n = 20_000
    v = 1e-4
    pts = monitor_points(np.full(n, 100.0), np.full(n, 100.0), v, 2, False, 0.0, rng)
    assert len(pts) == 1  # the midpoint: variance v/4, mean 0 in log
    mid = np.log(pts[0] / 100.0)
    assert abs(mid.mean()) < 4 * math.sqrt(v / 4 / n)
    assert mid.var() == pytest.approx(v / 4, rel=0.04)
    pts = monitor_points(np.full(3, 100.0), np.full(3, 110.0), v, 3, True, 0.5, rng)
    assert len(pts) == 3 * 2 + 2
    lows = [p for p in pts if np.all(p <= 100.0)]
    assert lows  # the first interval's minimum lies below its start


def test_bridge_and_substeps_catch_what_the_hourly_check_misses() -> None:
    # the external price ends every hour where it started: the hourly check never sees the
    # barrier 0.4% below, the path inside the hour touches it
    cfg = MarketConfig(n_traders=20, n_steps=200, pool_liquidity=1e10, cooldown=1,
                       leverage_range=(80.0, 80.0))  # fmt: skip
    pop = _population([1, -1] * 10, [80.0] * 20)
    ext = _flat(cfg)
    assert Market(cfg, pop, ext).run().n_liquidations == 0
    bridge = Market(replace(cfg, barrier_bridge=True), pop, ext, rng=np.random.default_rng(0))
    res = bridge.run()
    assert res.n_liquidations > 10 and np.all(res.residual < 1e-9)
    assert {1, -1} <= set(res.events["side"].tolist())  # minima hit longs, maxima shorts
    sub = Market(replace(cfg, monitor_substeps=60), pop, ext, rng=np.random.default_rng(0))
    res_sub = sub.run()
    assert res_sub.n_liquidations > 10 and {1, -1} <= set(res_sub.events["side"].tolist())
    assert np.all(res_sub.residual < 1e-9)


# --- 5. arbitrage between liquidations ----------------------------------------------------------


def test_arbitrage_between_liquidations_holds_the_cascade_at_the_external_price() -> None:
    # the chain of test_market.py: the arbitrage leaves the spot just below the first long's
    # liquidation price, and each close pushes the next long under and the spot down; with
    # arbitrage between the closes the spot returns to the fee band of the external price
    m, fee = 0.005, 0.003
    cfg = MarketConfig(n_traders=12, n_steps=1, pool_liquidity=2e5, fee=fee, cooldown=None,
                       maintenance_rate=m)  # fmt: skip
    lev = [95.0, 93.0, 91.0, 89.0, 87.0, 85.0, 83.0, 81.0, 79.0, 77.0, 3.0, 2.0]
    pop = _population([1] * 12, lev, wealth=100.0)
    probe = Market(cfg, pop, _flat(cfg))
    x, y = float(probe.x[0]), float(probe.y[0])
    liq = (probe.n[0] - probe.c[0]) / (probe.q[0] * (1.0 - m))
    guess = float(liq.max())
    g = kernel.fee_factor(fee)
    da, db, *_ = kernel.arbitrage(x, y, guess, g)
    target = guess * (1.0 - 1e-6) / ((y + db) / (x + da) / guess)
    ext = np.array([[P0, target]])
    plain = Market(cfg, pop, ext).run()
    between = Market(replace(cfg, arbitrage_between_liquidations=True), pop, ext).run()
    # without: the sales walk the mark 18% below the external price, 9 of 10 induced
    assert plain.cascade[1] >= 5 and plain.events["trigger_mark"][-1] < 0.85 * target
    # with: every later close is triggered at a mark in the fee band [g p, p/g] of p = target
    marks = between.events["trigger_mark"]
    assert between.n_liquidations >= 2 and marks[0] == plain.events["trigger_mark"][0]
    assert np.all(marks[1:] >= g * target) and np.all(marks[1:] <= target / g)
    # the longs' barriers sit inside the band (they opened at one price), so they still go, but
    # each is closed near the external price: less volume lost to impact, less bad debt
    assert between.bad_debt < plain.bad_debt
    ex_plain = plain.events["execution_price"]
    assert np.all(between.events["execution_price"][1:] > ex_plain[1:])
    assert np.all(between.residual < 1e-12)


# --- 6. funding -------------------------------------------------------------------------------


def test_pay_funding_moves_margin_from_the_paying_side_pro_rata() -> None:
    side = np.array([1.0, 1.0, -1.0])
    book = MarketBook(side, np.full(3, 1_000.0), 1, 1e4, 2.5e7, fee=0.003,
                      liquidation_penalty=0.0125, insurance_fund=0.0, cooldown=None)  # fmt: skip
    want = np.array([0.4, 0.2, -0.3])
    book.fill(0, 0, want, np.ones(3, dtype=bool), np.full(3, 100.0), book.clear(0, want))
    c0 = book.c[0].copy()
    paid = book.pay_funding(np.array([1e-3]), np.array([P0]))  # longs pay 0.1% of 1000 and 500 B
    assert paid == pytest.approx(1.5, rel=1e-12)
    np.testing.assert_allclose(book.c[0] - c0, [-1.0, -0.5, 1.5], rtol=1e-12)
    paid = book.pay_funding(
        np.array([-2e-3]), np.array([P0])
    )  # shorts pay 0.2% of 750 B, longs get 2/3 and 1/3
    np.testing.assert_allclose(book.c[0] - c0, [-1.0 + 1.0, -0.5 + 0.5, 1.5 - 1.5], atol=1e-12)
    assert book.conservation() < 1e-14
    book.funding_received += 1.0  # a payment that did not arrive is a residual
    assert book.conservation() > 1e-9


@pytest.mark.parametrize("basis", ["imbalance", "premium"])
def test_funding_in_the_market_charges_the_side_the_basis_names(basis: str) -> None:
    cfg = MarketConfig(n_traders=4, n_steps=3, pool_liquidity=1e8, cooldown=None,
                       funding_rate=1e-3, funding_basis=basis)  # type: ignore[arg-type]  # fmt: skip
    pop = _population([1, 1, 1, -1], [20.0, 20.0, 20.0, 20.0])  # long OI three times short
    ext = _flat(cfg)
    off = Market(replace(cfg, funding_rate=0.0), pop, ext)
    on = Market(cfg, pop, ext)
    off.step()
    x, y = float(on.x[0]), float(on.y[0])
    on.step()
    mark = float(on.y[0] / on.x[0])
    dc = on.c[0] - off.c[0]
    if basis == "imbalance":
        rate = 1e-3 * 0.5  # (3 - 1) / (3 + 1)
    else:  # the longs' net buy left the pool above the external price after the arbitrage
        rate = 1e-3 * (mark - P0) / P0
        assert rate > 0 and y / x > P0
    notional = on.q[0] * mark
    np.testing.assert_allclose(dc[:3], -rate * notional[:3], rtol=1e-9)
    assert dc[3] == pytest.approx(rate * notional[:3].sum(), rel=1e-9)
    res = on.run()
    assert res.funding[1] == pytest.approx(rate * notional[:3].sum(), rel=1e-9)
    assert np.all(res.residual < 1e-12)


# --- 7. the liquidation hunter ------------------------------------------------------------------


def test_hunter_pushes_to_the_liquidation_price_within_its_budget_and_books_its_pnl() -> None:
    cfg = MarketConfig(n_traders=2, n_steps=1, pool_liquidity=2e7, cooldown=None,
                       insurance_fund=1e6)  # fmt: skip
    pop = _population([1, -1], [50.0, 2.0], wealth=4_000.0)  # a 50x long and a 2x short
    ext = _flat(cfg)
    probe = Market(cfg, pop, ext)
    probe_book_x, probe_book_y = float(probe.x[0]), float(probe.y[0])
    g = kernel.fee_factor(cfg.fee)
    # the step's arbitrage first, as the market does
    da, db, *_ = kernel.arbitrage(probe_book_x, probe_book_y, P0, g)
    x, y = probe_book_x + da, probe_book_y + db
    q, n, c = float(probe.q[0, 0]), float(probe.n[0, 0]), float(probe.c[0, 0])
    liq = (n - c) / (q * (1 - cfg.maintenance_rate))
    target = liq * (1 - cfg.hunter_overshoot)
    sa, sb, *_ = kernel.arbitrage(x, y, target * g, g, band_edge=True)  # the hunter's sale
    cost = -sb
    assert 0 < cost and sa > 0
    # the attack by hand: sale, the long's liquidation, buy-back of the A sold
    x1, y1 = x + sa, y + sb
    assert y1 / x1 == pytest.approx(target, rel=1e-12)
    x2, y2, *_ = kernel.close_trade(x1, y1, q, g)
    *_, pay = kernel.close_trade(x2, y2, -sa, g)
    pnl = cost - pay
    for budget, attacks in ((cost * 1.001, 1), (cost * 0.999, 0)):
        res = Market(replace(cfg, hunter_budget=budget), pop, ext).run()
        assert res.hunter_attacks.sum() == attacks
        assert res.n_liquidations == attacks
        assert res.hunter_pnl[1] == pytest.approx(pnl if attacks else 0.0, rel=1e-9, abs=1e-9)
        assert np.all(res.residual < 1e-12)
    assert pnl < 0  # one small position: the hunter pays fees and impact for nothing
    careful = replace(cfg, hunter_budget=cost * 1.001, hunter_profitable_only=True)
    assert Market(careful, pop, ext).run().hunter_attacks.sum() == 0


def test_profitable_only_hunter_never_loses_on_an_attack() -> None:
    cfg = MarketConfig(n_traders=500, n_steps=80, pool_liquidity=2e6, hunter_budget=2e5)
    crash = Scenario("c", crash_step=40, crash_size=0.1)
    reckless = run_scenario(cfg, crash, seed=4)
    careful = run_scenario(replace(cfg, hunter_profitable_only=True), crash, seed=4)
    assert reckless.hunter_attacks.sum() > careful.hunter_attacks.sum() > 0
    attacked = careful.hunter_attacks > 0
    assert np.all(careful.hunter_pnl[attacked] >= 0.0)
    assert np.all(careful.hunter_pnl[~attacked] == 0.0)
    assert reckless.hunter_pnl.sum() < 0  # it attacks also when it loses
    assert np.all(careful.residual < 1e-9) and np.all(reckless.residual < 1e-9)


# --- 8. the venue preset ------------------------------------------------------------------------


def test_venue_preset() -> None:
    v = MarketConfig.venue()
    assert v.maintenance_rate == 0.5 / v.max_leverage == 0.005
    assert (v.oi_cap, v.position_cap, v.liquidation_penalty) == (0.5, 0.01, 0.0125)
    assert v.stagger and v.impact_sizing and v.barrier_bridge and v.burn_in == v.rebalance_every
    assert v.funding_rate > 0 and v.funding_basis == "imbalance"
    assert v.hunter_budget is None and not v.arbitrage_between_liquidations
    w = MarketConfig.venue(max_leverage=50.0, leverage_range=(2.0, 50.0), n_steps=30)
    assert w.maintenance_rate == 0.01 and w.burn_in == 15
    assert MarketConfig.venue(maintenance_rate=0.004).maintenance_rate == 0.004
    defaults = MarketConfig()
    assert all(getattr(defaults, f.name) == f.default for f in fields(MarketConfig))
    assert not defaults.needs_rng and v.needs_rng


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"oi_cap": 0.0}, "oi_cap"),
        ({"position_cap": -1.0}, "position_cap"),
        ({"burn_in": 720}, "burn_in"),
        ({"monitor_substeps": 0}, "monitor_substeps"),
        ({"funding_rate": -0.1}, "funding_rate"),
        ({"funding_basis": "oi"}, "funding_basis"),
        ({"funding_every": 0}, "funding_every"),
        ({"hunter_budget": 0.0}, "hunter_budget"),
        ({"hunter_overshoot": 0.5}, "hunter_overshoot"),
    ],
)
def test_bad_mechanic_config_raises_naming_the_parameter(
    kwargs: dict[str, object], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        MarketConfig(**kwargs)  # type: ignore[arg-type]


# --- 9. conservation with every mechanic on -----------------------------------------------------


def test_conservation_with_every_mechanic_on() -> None:
    cfg = MarketConfig.venue(
        n_traders=600, n_steps=120, n_pools=2, pool_liquidity=3e6, oi_cap=0.02,
        position_cap=0.002, monitor_substeps=3, arbitrage_between_liquidations=True,
        hunter_budget=1e5, funding_rate=1e-3, policy_mix=(0.3, 0.3, 0.4, 0.0),
    )  # fmt: skip
    scen = Scenario("mix", crash_step=60, withdrawal_step=30, vol_factor=4.0, vol_start=80,
                    vol_length=20)  # fmt: skip
    for ctl in (Control(), Control("all", True, True, math.log(2), True)):
        res = run_scenario(cfg, scen, ctl, seed=9)
        assert res.residual.shape == (121,) and np.all(res.residual <= 1e-9)
        assert res.n_liquidations > 50 and res.rejected.sum() > 0 and res.funding.sum() > 0
        assert res.hunter_attacks.sum() > 0
    twap = run_scenario(replace(cfg, funding_basis="premium", mark="twap"), scen, seed=9)
    assert np.all(twap.residual <= 1e-9) and twap.hunter_attacks.sum() == 0  # spot mark only


def test_mechanics_that_do_not_bind_change_nothing() -> None:
    cfg = MarketConfig(n_traders=300, n_steps=60, pool_liquidity=2e6)
    crash = Scenario("c", crash_step=30)
    base = run_scenario(cfg, crash, seed=2)
    loose = run_scenario(replace(cfg, oi_cap=1e6, position_cap=1e6), crash, seed=2)
    for name in ("liquidations", "pool_price", "residual", "log_growth"):
        np.testing.assert_array_equal(getattr(base, name), getattr(loose, name), err_msg=name)
    assert base.bad_debt == loose.bad_debt and loose.rejected.sum() == 0.0
    rng = np.random.default_rng(2)  # run_scenario's generator for seed 2
    pop = make_population(cfg, crash, rng)
    ext = external_paths(cfg, crash, rng)
    again = Market(cfg, pop, ext, crash).run()
    np.testing.assert_array_equal(again.pool_price, base.pool_price)

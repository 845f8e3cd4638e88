"""Tests of the multi-agent market (levpaper.market): conservation, cascades, controls."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from levpaper.agents import N_FEATURES, LinearPolicy
from levpaper.market import (
    AGENT,
    BASELINE,
    HOLD,
    VOL_ADJUSTED,
    Control,
    Market,
    MarketConfig,
    MarketView,
    Population,
    Scenario,
    conservation_residuals,
    entropy_weights,
    env_policy,
    external_paths,
    make_population,
    run_many,
    run_scenario,
    standard_controls,
    standard_scenarios,
    stress_table,
    variance_amplification,
)
from levpaper.pool import amount_out, arbitrage_trade
from levpaper.risk import (
    circuit_breaker,
    dynamic_maintenance_rate,
    ewma_volatility,
    exposure_entropy,
    vol_adjusted_leverage,
)


def _population(side: list[int], leverage: list[float], wealth: float = 400.0) -> Population:
    n = len(side)
    return Population(
        side=np.asarray(side, dtype=np.int8),
        leverage=np.asarray(leverage, dtype=np.float64),
        wealth=np.full(n, wealth),
        policy=np.full(n, HOLD, dtype=np.int8),
        home=np.zeros(n, dtype=np.int64),
    )


def _path(cfg: MarketConfig, prices: list[float]) -> np.ndarray:
    return np.asarray([[cfg.price0, *prices]], dtype=np.float64)


# --- conservation ------------------------------------------------------------------------------


def test_conservation_over_a_million_trader_steps() -> None:
    cfg = MarketConfig(n_traders=2_000, n_steps=500, pool_liquidity=20e6, n_pools=2)
    crash = Scenario("mix", crash_step=200, withdrawal_step=100, vol_factor=5.0, vol_start=300,
                     vol_length=50)  # fmt: skip
    total = 0
    for ctl in (Control(), Control("all", True, True, math.log(2), True)):
        res = run_scenario(cfg, crash, ctl, seed=11)
        total += cfg.n_traders * cfg.n_steps
        assert res.n_liquidations > 100  # the run is eventful
        assert res.residual.shape == (501,)
        assert np.all(res.residual <= 1e-9)
    assert total >= 1_000_000


def test_conservation_failure_is_detected() -> None:
    # every run leaves rounding residuals > 0; a tolerance below them must stop the run there
    cfg = MarketConfig(n_traders=200, n_steps=10, pool_liquidity=2e6)
    crash = Scenario("c", crash_step=5)
    r = conservation_residuals(cfg, crash, seed=0)
    first = int(np.flatnonzero(r > 0.0)[0])
    assert 0 < first < 10 and r.max() < 1e-12
    with pytest.raises(RuntimeError, match=f"conservation residual .* at step {first} "):
        run_scenario(replace(cfg, conservation_tol=1e-300), crash, seed=0)
    run_scenario(replace(cfg, conservation_tol=1e-12), crash, seed=0)  # above them: no error


def test_state_is_read_only_and_view_is_a_snapshot() -> None:
    cfg = MarketConfig(n_traders=20, n_steps=3)
    rng = np.random.default_rng(0)
    mkt = Market(cfg, make_population(cfg, BASELINE, rng), external_paths(cfg, BASELINE, rng))
    for name in ("wallet", "q", "n", "c", "is_open", "x", "y", "side", "sigma", "maintenance",
                 "external", "policy", "weights", "triggered", "sigma_series"):  # fmt: skip
        arr = getattr(mkt, name)
        assert not arr.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = 0
    with pytest.raises(AttributeError):
        mkt.t = 5  # type: ignore[misc]
    view = mkt.view()
    q0 = view.size.copy()
    mkt.step()
    np.testing.assert_array_equal(view.size, q0)  # a snapshot: stepping does not change it
    assert mkt.t == 1 and view.step == 0
    p = mkt.y / mkt.x
    np.testing.assert_array_equal(mkt.equity(), mkt.c + mkt.side * (mkt.q * p[:, None] - mkt.n))


# --- the cascade chain -------------------------------------------------------------------------


def test_cascade_follows_the_analytic_chain_of_liquidation_prices() -> None:
    m, fee = 0.005, 0.003
    cfg = MarketConfig(n_traders=12, n_steps=1, pool_liquidity=2e5, fee=fee, cooldown=None,
                       maintenance_rate=m, margin_scale=20.0)  # fmt: skip
    lev = [95.0, 93.0, 91.0, 89.0, 87.0, 85.0, 83.0, 81.0, 79.0, 77.0, 3.0, 2.0]
    pop = _population([1] * 12, lev, wealth=100.0)
    probe = Market(cfg, pop, _path(cfg, [cfg.price0]))
    x, y = float(probe.x[0]), float(probe.y[0])
    q, n, c = probe.q[0].copy(), probe.n[0].copy(), probe.c[0].copy()
    liq = (n - c) / (q * (1.0 - m))  # long liquidation prices, independent of the engine
    order = np.argsort(-liq)
    # the external price whose arbitrage leaves the spot just below the first liquidation price
    guess = float(liq[order[0]])
    arb = arbitrage_trade(x, y, guess, fee)
    overshoot = (y + float(arb.amount_b)) / (x + float(arb.amount_a)) / guess
    target = guess * (1.0 - 1e-6) / overshoot
    arb = arbitrage_trade(x, y, target, fee)
    x, y = x + float(arb.amount_a), y + float(arb.amount_b)
    primary = set(np.flatnonzero(liq > y / x).tolist())
    chain, marks, prices = [], [], []
    for i in order:
        p = y / x
        if not p < liq[i]:
            break
        out = float(amount_out(q[i], x, y, fee))
        chain.append(int(i))
        marks.append(p)
        prices.append(out / q[i])
        x, y = x + q[i], y - out
    assert 3 <= len(chain) < 12  # a real cascade that stops before the low-leverage longs
    # the engine
    mkt = Market(cfg, pop, _path(cfg, [target]))
    res = mkt.run()
    ev = res.events
    assert ev["trader"].tolist() == chain
    np.testing.assert_allclose(ev["trigger_mark"], marks, rtol=1e-12)
    np.testing.assert_allclose(ev["execution_price"], prices, rtol=1e-12)
    assert ev["induced"].tolist() == [i not in primary for i in chain]
    assert 1 <= len(primary) < len(chain)
    assert res.cascade[1] == len(chain) - len(primary) and res.liquidations[1] == len(chain)
    # a TWAP mark does not feed the sales back into the mark inside the step
    twap = Market(cfg, pop, _path(cfg, [target]), Scenario("t", mark="twap")).run()
    assert twap.cascade.sum() == 0


def test_short_cascade_mirrors_the_long_one() -> None:
    cfg = MarketConfig(n_traders=6, n_steps=1, pool_liquidity=1e5, cooldown=None)
    pop = _population([-1] * 6, [95.0, 92.0, 89.0, 86.0, 83.0, 2.0], wealth=100.0)
    probe = Market(cfg, pop, _path(cfg, [cfg.price0]))
    liq = (probe.n[0] + probe.c[0]) / (probe.q[0] * (1.0 + cfg.maintenance_rate))
    x, y, fee = float(probe.x[0]), float(probe.y[0]), cfg.fee
    guess = float(liq.min())
    arb = arbitrage_trade(x, y, guess, fee)
    overshoot = (y + float(arb.amount_b)) / (x + float(arb.amount_a)) / guess
    res = Market(cfg, pop, _path(cfg, [guess * (1.0 + 1e-6) / overshoot])).run()
    assert res.events["trader"][0] == int(np.argmin(liq))
    assert res.cascade[1] >= 1 and np.all(res.events["side"] == -1)
    assert res.post_cascade_price[0, 1] > res.pool_price[0, 1] * 0.999  # sales pushed it up


def test_worst_margin_ratio_first_when_longs_and_shorts_are_both_below_maintenance() -> None:
    # a flat external price; the dynamic maintenance rate (eta = 5: m_1 = 2.4%) puts every
    # position above 42x below maintenance at once, longs and shorts interleaved by margin ratio
    cfg = MarketConfig(n_traders=6, n_steps=1, pool_liquidity=1e9, eta=5.0, cooldown=None)
    pop = _population([1, -1, 1, -1, 1, -1], [95.0, 90.0, 80.0, 70.0, 50.0, 55.0])
    mkt = Market(cfg, pop, _path(cfg, [cfg.price0]), control=Control(dynamic_maintenance=True))
    # margin ratios at the mark after the opening (the net buy's fee and impact: the longs paid
    # above the spot, the shorts sold above it): 0.0075 (L), 0.0095 (L), 0.0141 (S), 0.0170
    # (L), 0.0173 (S), 0.0212 (S), all below m_1 = 0.0244
    ratio = mkt.equity()[0] / (mkt.q[0] * (mkt.y / mkt.x)[0])
    res = mkt.run()
    assert res.n_liquidations == 6 and np.all(ratio < res.maintenance[0, 1])
    assert res.events["trader"].tolist() == np.argsort(ratio).tolist()
    sides = res.events["side"].tolist()
    assert int(np.count_nonzero(np.diff(sides))) >= 3  # the two queues interleave
    assert not res.events["induced"].any()  # all six were below maintenance at the mark


# --- controls on constructed paths -------------------------------------------------------------


def test_circuit_breaker_pauses_at_the_known_step_and_defers_liquidations() -> None:
    cfg = MarketConfig(n_traders=1, n_steps=20, pool_liquidity=1e9, cooldown=None,
                       breaker_theta=3.0, pause_steps=3, insurance_fund=1e6)  # fmt: skip
    pop = _population([1], [90.0])
    prices = [cfg.price0] * 9 + [cfg.price0 * 0.9] * 11  # -10% at step 10
    plain = Market(cfg, pop, _path(cfg, prices))
    res = plain.run()
    assert res.events["step"].tolist() == [10]
    cb = Market(cfg, pop, _path(cfg, prices), control=Control("cb", circuit_breaker=True))
    res_cb = cb.run()
    first = int(np.flatnonzero(cb.triggered)[0])
    assert first == 10
    # the online breaker is risk.circuit_breaker on the recorded volatility
    r = np.log(res_cb.pool_price[0, 1:] / res_cb.pool_price[0, :-1])
    sig = ewma_volatility(r, cfg.ewma_lambda, initial_variance=cfg.sigma**2 * cfg.dt, dt=cfg.dt)
    np.testing.assert_allclose(cb.sigma_series[0, 1:], sig, rtol=1e-5)  # post-arbitrage spot
    flags = circuit_breaker(
        cb.sigma_series[0, 1:], cfg.breaker_theta, cfg.breaker_alpha, initial=cfg.sigma
    )
    assert flags.tolist() == cb.triggered[1:].tolist()
    expect = np.zeros(21, dtype=bool)
    for t in np.flatnonzero(cb.triggered):
        expect[t : t + cfg.pause_steps] = True
    assert res_cb.paused.tolist() == expect.tolist()
    # the liquidation waits for the first unpaused step
    resume = int(np.flatnonzero(~res_cb.paused[10:])[0]) + 10
    assert res_cb.events["step"].tolist() == [resume]
    assert res_cb.pause_episodes == 1 and res_cb.false_pauses == 0  # a 10% move: a true pause


def test_false_pause_counts_a_pause_without_stress() -> None:
    cfg = MarketConfig(n_traders=1, n_steps=30, pool_liquidity=1e9, breaker_theta=1.2,
                       false_pause_horizon=5, stress_move=0.05)  # fmt: skip
    pop = _population([1], [2.0])
    prices = [cfg.price0] * 9 + [cfg.price0 * 1.04] * 21  # +4% at step 10: a pause, no stress
    res = Market(cfg, pop, _path(cfg, prices), control=Control(circuit_breaker=True)).run()
    assert res.pause_episodes >= 1 and res.false_pauses == res.pause_episodes


def test_dynamic_maintenance_liquidates_what_static_keeps() -> None:
    cfg = MarketConfig(n_traders=1, n_steps=2, pool_liquidity=1e9, cooldown=None)
    pop = _population([1], [60.0])
    prices = [cfg.price0 * 0.991, cfg.price0 * 0.991]
    static = Market(cfg, pop, _path(cfg, prices)).run()
    dyn_m = Market(cfg, pop, _path(cfg, prices), control=Control(dynamic_maintenance=True))
    dyn = dyn_m.run()
    assert static.n_liquidations == 0
    assert dyn.events["step"].tolist() == [1]
    expect = dynamic_maintenance_rate(cfg.maintenance_rate, cfg.eta, dyn_m.sigma_series[0, 1])
    assert dyn.maintenance[0, 1] == pytest.approx(expect, rel=1e-15)


def test_entropy_of_equal_splits_is_log_n() -> None:
    for n in (2, 3, 5):
        w = entropy_weights(n, math.log(n), np.arange(7) % n)
        np.testing.assert_allclose(exposure_entropy(w.T), math.log(n), rtol=1e-12)
        np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=1e-15)
    cfg = MarketConfig(n_traders=40, n_steps=5, n_pools=4)
    res = run_scenario(cfg, BASELINE, Control("e", entropy=math.log(4)), seed=1)
    assert res.entropy == pytest.approx(math.log(4), rel=1e-12)
    none = run_scenario(cfg, BASELINE, Control(), seed=1)
    assert none.entropy == 0.0
    w = entropy_weights(4, 0.7, [2])
    assert float(exposure_entropy(w[:, 0])) == pytest.approx(0.7, abs=1e-12)
    assert int(np.argmax(w[:, 0])) == 2


def test_vol_leverage_control_opens_at_the_e12_leverage() -> None:
    cfg = MarketConfig(n_traders=200, n_steps=1)
    rng = np.random.default_rng(2)
    pop, ext = make_population(cfg, BASELINE, rng), external_paths(cfg, BASELINE, rng)
    mkt = Market(cfg, pop, ext, control=Control(vol_leverage=True))
    lstar = float(vol_adjusted_leverage(cfg.sigma, cfg.kappa, cfg.dt))  # 31.69 at 80%
    assert lstar == pytest.approx(31.6876, rel=1e-5)
    # opening notional over margin = target x (uniform price / spot), one price for everyone
    lev0 = mkt.n[0] / mkt.c[0]
    capped = pop.leverage > lstar
    assert 20 < capped.sum() < 180
    ratio = np.where(capped, lev0 / lstar, lev0 / pop.leverage)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    assert abs(ratio[0] - 1.0) < 0.005  # fee and impact of the net opening order
    assert mkt.policy.tolist() == [VOL_ADJUSTED] * 200


def test_agent_policy_that_closes_everything() -> None:
    cfg = MarketConfig(n_traders=50, n_steps=3, policy_mix=(0.0, 0.0, 0.0, 1.0))
    seen: list[MarketView] = []

    def flat(view: MarketView) -> np.ndarray:
        seen.append(view)
        return np.where(view.step == 0, 10.0, 0.0) * np.ones(view.side.shape[0])

    res = run_scenario(cfg, BASELINE, seed=4, policy=flat)
    assert seen[0].step == 0 and seen[1].step == 1
    assert res.n_liquidations == 0 and np.all(res.residual <= 1e-9)
    with pytest.raises(ValueError, match="policy"):
        run_scenario(cfg, BASELINE, seed=4)


# --- a policy of the Gymnasium environment in the market ---------------------------------------


def _linear(target_weights: dict[int, float], band: float = 0.0) -> LinearPolicy:
    w = np.zeros((2, N_FEATURES))
    for k, v in target_weights.items():
        w[0, k] = v
    return LinearPolicy(w, band=band)


def _view() -> MarketView:
    """One pool at 2750 (price0 2500); a 5x long and a 5x short (size 0.1, equity 55), a flat
    trader on each side; wallets 60, 60, 80, 80 of 100 each at the start; m_t = 1%."""
    f = np.float64
    return MarketView(
        step=30, mark=np.array([2750.0]), sigma=np.array([0.8]), maintenance=np.array([0.01]),
        side=np.array([[1, -1, 1, -1]], dtype=np.int8),
        is_open=np.array([[True, True, False, False]]),
        size=np.array([[0.1, 0.1, 0.0, 0.0]]), margin=np.array([[50.0, 50.0, 0.0, 0.0]]),
        equity=np.array([[55.0, 55.0, 0.0, 0.0]]), leverage=np.array([[5.0, 5.0, 0.0, 0.0]]),
        wallet=np.array([60.0, 60.0, 80.0, 80.0]), reserve_a=np.array([38_000.0], dtype=f),
        reserve_b=np.array([1.045e8]), initial_wealth=np.full(4, 100.0),
    )  # fmt: skip


def test_env_policy_builds_the_observation_and_target_by_hand() -> None:
    cfg = MarketConfig(n_traders=4, n_steps=120, price0=2500.0, pool_liquidity=1e8, stake=0.25)
    view = _view()
    adapter = env_policy(_linear({0: 1.0, 2: 10.0}), cfg)  # target = 1 + current signed leverage
    assert (adapter.horizon, adapter.max_leverage, adapter.maintenance_rate) == (120, 100.0, 0.005)
    obs = adapter.observe(view)
    assert obs.shape == (1, 4, 14) and obs.dtype == np.float32
    sd = 0.8 * math.sqrt(1 / 8760)  # one step's volatility
    # price, x/x0, y/y0, m*lev, E/C0, N*sd/C0, sigma, side, N/C0, E/N, liq. distance, time, W/C0,
    # m*cap; liquidation distance: long (P - P_liq)/P with P_liq = 220/(0.1*0.99), short
    # (P_liq - P)/P with P_liq = 330/(0.1*1.01)
    common = [1.1, 0.95, 1.045]
    expect = [
        [*common, 0.025, 0.55, 2.75 * sd, 0.8, 1, 2.75, 0.2, 1 - 220 / 272.25, 0.75, 0.6, 0.5],
        [*common, -0.025, 0.55, 2.75 * sd, 0.8, -1, 2.75, 0.2, -1 + 330 / 277.75, 0.75, 0.6, 0.5],
        [*common, 0.0, 0.2, 0.0, 0.8, 0, 0.0, 1.0, 1.0, 0.75, 0.6, 0.5],  # flat: stake of wallet
        [*common, 0.0, 0.2, 0.0, 0.8, 0, 0.0, 1.0, 1.0, 0.75, 0.6, 0.5],
    ]
    np.testing.assert_allclose(obs[0], np.array(expect, dtype=np.float32), rtol=1e-6)
    # long 5x -> 6x; short -5x -> -4x (its side: 4x); flat -> 1x long (a short trader: 0)
    np.testing.assert_allclose(adapter(view)[0], [6.0, 4.0, 1.0, 0.0], rtol=1e-6)
    same = env_policy(_linear({2: 10.0}), cfg)  # target = current leverage: keep (NaN)
    out = same(view)[0]
    assert np.isnan(out[:2]).all() and out[2:].tolist() == [0.0, 0.0]
    flip = env_policy(_linear({2: -10.0}), cfg)  # the other side: close
    assert flip(view)[0].tolist() == [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="max_leverage"):
        env_policy(_linear({}), cfg, max_leverage=250.0)
    with pytest.raises(ValueError, match="policy"):
        env_policy(object(), cfg)  # type: ignore[arg-type]


def test_env_policy_at_fixed_leverage_holds_it_in_the_market() -> None:
    band = 0.1
    cfg = MarketConfig(n_traders=60, n_steps=150, sigma=2.0, policy_mix=(0.5, 0.0, 0.0, 0.5))
    rng = np.random.default_rng(2)
    pop = make_population(cfg, BASELINE, rng)
    agent = env_policy(_linear({0: 3.0}, band=band), cfg)  # always 3x long
    mkt = Market(cfg, pop, external_paths(cfg, BASELINE, rng), policy=agent)
    longs = np.flatnonzero((pop.policy == AGENT) & (pop.side == 1))
    shorts = np.flatnonzero((pop.policy == AGENT) & (pop.side == -1))
    assert longs.size > 5 and shorts.size > 5
    resized, q_prev = 0, mkt.q[0, longs].copy()
    for _ in range(cfg.n_steps):
        mkt.step()
        p = mkt.y[0] / mkt.x[0]
        q, n, c = mkt.q[0, longs], mkt.n[0, longs], mkt.c[0, longs]
        lev = q * p / (c + q * p - n)
        assert np.all(mkt.is_open[0, longs])
        # inside the no-trade band around 3x, up to the move of the restoring arbitrage
        assert np.all((lev > 3.0 / (1 + band) * 0.98) & (lev < 3.0 / (1 - band) * 1.02))
        assert np.all(mkt.q[0, shorts] == 0.0)  # the other side: never opens
        resized += int(np.any(q != q_prev))
        q_prev = q.copy()
    assert resized > 10  # the band was left and the agents traded back to 3x
    assert not set(mkt.result().events["trader"].tolist()) & set(longs.tolist())


def test_conservation_holds_with_env_policy_agents() -> None:
    cfg = MarketConfig(n_traders=300, n_steps=80, n_pools=2, pool_liquidity=2e6,
                       policy_mix=(0.3, 0.2, 0.0, 0.5))  # fmt: skip
    w = np.random.default_rng(0).normal(0.0, 3.0, size=(2, N_FEATURES))
    agent = env_policy(LinearPolicy(w), cfg)  # a random linear policy: trades in every way
    crash = Scenario("c", crash_step=40)
    for ctl in (Control(), Control("all", True, True, math.log(2), False)):
        res = run_scenario(cfg, crash, ctl, seed=3, policy=agent)
        assert np.all(res.residual <= 1e-9)
        agents = make_population(cfg, crash, np.random.default_rng(3)).policy == AGENT
        assert np.any(res.log_growth[agents] != 0.0)  # the agents traded
    assert res.n_liquidations > 0


def test_variance_amplification_against_leverage() -> None:
    shallow = MarketConfig(n_traders=200, n_steps=48, pool_liquidity=2e6, cooldown=None)
    out = variance_amplification(shallow, [2.0, 100.0], seed=1, n_runs=2)
    assert out["run_ratio"].shape == out["run_amplification"].shape == (2, 2)
    assert out["pool_amplification"][0] == 1.0  # 2x: never liquidated, never moves the pool
    assert out["pool_amplification"][1] > 1.2  # 100x: liquidation sales push the pool further
    ratio = out["trader_var"] / out["l2_var"]
    assert 0.8 < ratio[0] < 1.3  # E16 before truncation
    assert ratio[1] < ratio[0]  # liquidation truncates the variance at 100x
    with pytest.raises(ValueError, match="n_pools"):
        variance_amplification(replace(shallow, n_pools=2), [2.0])


# --- measurements, determinism, validation -----------------------------------------------------


def test_determinism_and_common_random_numbers() -> None:
    cfg = MarketConfig(n_traders=300, n_steps=60, pool_liquidity=5e6)
    crash = Scenario("c", crash_step=30)
    a = run_scenario(cfg, crash, seed=7)
    b = run_scenario(cfg, crash, seed=7)
    assert a.n_liquidations == b.n_liquidations and a.bad_debt == b.bad_debt
    np.testing.assert_array_equal(a.pool_price, b.pool_price)
    c = run_scenario(cfg, crash, Control("d", dynamic_maintenance=True), seed=7)
    np.testing.assert_array_equal(a.external, c.external)
    base = run_scenario(cfg, BASELINE, seed=7)
    ratio = a.external[0, 30:] / base.external[0, 30:]
    np.testing.assert_allclose(ratio, 0.7, rtol=1e-12)  # same draws, crash on top


def test_crash_produces_cascades_and_bad_debt_scales_with_leverage() -> None:
    crash = Scenario("c", crash_step=10)
    low = MarketConfig(n_traders=400, n_steps=20, leverage_range=(1.0, 2.0), pool_liquidity=2e6)
    high = MarketConfig(n_traders=400, n_steps=20, leverage_range=(50.0, 100.0),
                        pool_liquidity=2e6)  # fmt: skip
    r_low, r_high = run_scenario(low, crash, seed=0), run_scenario(high, crash, seed=0)
    assert r_high.liquidations[10] > r_low.liquidations[10]
    assert r_high.bad_debt > r_low.bad_debt
    assert r_low.bad_debt == 0.0


def test_run_many_and_stress_table() -> None:
    cfg = MarketConfig(n_traders=100, n_steps=30, pool_liquidity=2e6)
    scen = standard_scenarios(30)
    ctls = standard_controls(1)
    out = run_many(cfg, scen[1], ctls, n_runs=3, seed=1)
    assert set(out) == {c.name for c in ctls}
    bd = out["none"]["bad_debt"]
    assert isinstance(bd, np.ndarray) and bd.shape == (3,)
    assert out["none"]["p95_bad_debt"] == pytest.approx(float(np.quantile(bd, 0.95)))
    rows = stress_table(cfg, scen, ctls, n_runs=1)
    assert len(rows) == len(scen) * len(ctls)
    assert {r["scenario"] for r in rows} == {s.name for s in scen}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_traders": 0}, "n_traders"),
        ({"fee": 1.0}, "fee"),
        ({"correlation": 1.5}, "correlation"),
        ({"leverage_range": (2.0, 300.0)}, "leverage_range"),
        ({"policy_mix": (0.5, 0.6, 0.0, 0.0)}, "policy_mix"),
        ({"mark": "vwap"}, "mark"),
        ({"pool_liquidity": -1.0}, "pool_liquidity"),
    ],
)
def test_bad_config_raises_naming_the_parameter(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        MarketConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="withdrawal_fraction"):
        Scenario(withdrawal_fraction=1.0)
    with pytest.raises(ValueError, match="entropy"):
        Control(entropy=-0.1)
    cfg = MarketConfig(n_traders=3, n_steps=2)
    pop = _population([1, 1, -1], [2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="external"):
        Market(cfg, pop, np.full((1, 2), cfg.price0))
    with pytest.raises(ValueError, match="entropy"):
        Market(cfg, pop, np.full((1, 3), cfg.price0), control=Control(entropy=1.0))
    with pytest.raises(ValueError, match="target"):
        entropy_weights(2, 1.0, [0])
    with pytest.raises(ValueError, match="side"):
        _population([2], [2.0])

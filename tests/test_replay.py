"""Real prices through the simulator: block bootstrap, windows, the environment, the vector
environment and the market accept them."""

from __future__ import annotations

import numpy as np
import pytest

from levpaper.agents import FixedLeverage
from levpaper.data import load_btc_usd_hourly
from levpaper.env import LeveragedSwapConfig, LeveragedSwapEnv, NoiseTraders, ReplayPrices
from levpaper.market import (
    BASELINE,
    Control,
    MarketConfig,
    run_many,
    run_scenario,
    standard_scenarios,
    stress_table,
)
from levpaper.replay import BlockBootstrap, backtest, windows
from levpaper.vector_env import LeveragedSwapVectorEnv

CLOSE = load_btc_usd_hourly().close


def test_bootstrap_paths_are_made_of_blocks_of_the_history() -> None:
    boot = BlockBootstrap(CLOSE, block=24)
    paths = boot.simulate(20, 100, np.random.default_rng(0), s0=2500.0, log=True)
    r = np.diff(paths, axis=1)
    hist = boot.log_returns
    for row in r:
        for a in range(0, 100, 24):
            seg = row[a : a + 24]
            # the block occurs in the history at some start
            hits = np.flatnonzero(np.isclose(hist, seg[0], rtol=0, atol=1e-12))
            assert any(np.allclose(hist[h : h + seg.size], seg, atol=1e-12) for h in hits)
    assert np.allclose(paths[:, 0], np.log(2500.0))


def test_bootstrap_keeps_the_variance_and_the_tails() -> None:
    boot = BlockBootstrap(CLOSE, block=168)
    r = np.diff(boot.simulate(400, 168, np.random.default_rng(1), log=True), axis=1).ravel()
    hist = boot.log_returns
    assert abs(r.std() / hist.std() - 1) < 0.05
    q = [0.001, 0.999]
    assert np.allclose(np.quantile(r, q), np.quantile(hist, q), rtol=0.2)
    with pytest.raises(ValueError, match="prices"):
        BlockBootstrap(CLOSE[:10], block=24)
    with pytest.raises(ValueError, match="block"):
        BlockBootstrap(CLOSE, block=0)


def test_windows_rescale_and_do_not_overlap() -> None:
    w = windows(CLOSE, 168, s0=2500.0)
    assert w.shape == ((CLOSE.size - 1) // 168, 169)
    assert np.all(w[:, 0] == 2500.0)
    assert np.allclose(w[1] / 2500.0 * CLOSE[168], CLOSE[168:337])


def test_the_environment_replays_a_bootstrapped_path() -> None:
    boot = BlockBootstrap(CLOSE, block=24)
    replay = boot.replay(300, np.random.default_rng(2))
    env = LeveragedSwapEnv(process=replay, horizon=100, action_mode="box")
    env.reset(seed=0)
    ext = [env.reset(seed=0)[1]["external_price"]]
    for _ in range(50):
        *_, info = env.step(np.zeros(2, dtype=np.float32))
        ext.append(info["external_price"])
    assert np.allclose(np.array(ext[1:]) / np.array(ext[:-1]), replay.ratios[:50])
    venv = LeveragedSwapVectorEnv(3, LeveragedSwapConfig(process=replay, horizon=100))
    venv.reset(seed=0)
    *_, info = venv.step(np.zeros(3, dtype=np.int64))
    assert np.allclose(info["external_price"] / 2500.0, replay.ratios[0])


def test_the_market_runs_on_bootstrapped_and_replayed_prices() -> None:
    cfg = MarketConfig(n_traders=200, n_steps=96, n_pools=2, leverage_range=(50.0, 100.0))
    ext = BlockBootstrap(CLOSE).market_paths(cfg, np.random.default_rng(3))
    assert ext.shape == (2, 97) and np.all(ext[:, 0] == cfg.price0)
    res = run_scenario(cfg, seed=4, paths=ext)
    assert res.n_liquidations > 0 and float(res.residual.max()) < 1e-9
    crash = windows(CLOSE, 96, s0=cfg.price0)
    worst = crash[np.argmin(crash.min(axis=1))]  # the deepest fall of 4 days in the data
    calm = crash[np.argmin(np.abs(np.log(crash)).max(axis=1))]
    assert run_scenario(cfg, seed=4, paths=np.vstack([worst, worst])).n_liquidations > (
        run_scenario(cfg, seed=4, paths=np.vstack([calm, calm])).n_liquidations
    )
    with pytest.raises(ValueError, match="dt"):
        BlockBootstrap(CLOSE, dt=1 / 365).market_paths(cfg, np.random.default_rng(0))


def test_backtest_one_episode_per_window() -> None:
    cfg = LeveragedSwapConfig(action_mode="box")
    paths = windows(CLOSE[:1000], 168, s0=2500.0)
    calm = backtest(FixedLeverage(1.0), cfg, paths)
    wild = backtest(FixedLeverage(100.0), cfg, paths)
    assert calm.log_growth.shape == (paths.shape[0],)
    assert not calm.liquidated.any() and wild.liquidated.all()
    with pytest.raises(ValueError, match="paths"):
        backtest(FixedLeverage(1.0), cfg, paths[0])


# --- episodes drawn from the seed (ReplayPrices start policy) ---------------------------------


def _external_prices(env: LeveragedSwapEnv, seed: int, steps: int) -> np.ndarray:
    ext = [env.reset(seed=seed)[1]["external_price"]]
    for _ in range(steps):
        *_, info = env.step(np.zeros(2, dtype=np.float32))
        ext.append(info["external_price"])
    return np.array(ext)


def test_uniform_start_draws_each_seeded_episode_from_the_seed() -> None:
    fixed = ReplayPrices(CLOSE[:2000])
    uniform = ReplayPrices(CLOSE[:2000], start="uniform", horizon=100)
    assert fixed.start_position(np.random.default_rng(0)) == 0
    env = LeveragedSwapEnv(process=uniform, horizon=100, action_mode="box")
    starts = []
    for seed in range(40):
        ext = _external_prices(env, seed, 100)
        ratios = ext[1:] / ext[:-1]
        # the episode is the stretch of the series that starts at the seed's first draw
        k = uniform.start_position(np.random.default_rng(seed))
        assert 0 <= k <= uniform.ratios.size - 100
        assert np.allclose(ratios, uniform.ratios[k : k + 100], rtol=1e-12)
        starts.append(k)
    assert len(set(starts)) > 35  # different seeds, different stretches of history
    assert np.array_equal(_external_prices(env, 7, 50), _external_prices(env, 7, 50))
    # the fixed policy replays the same history at every seeded reset
    env_fixed = LeveragedSwapEnv(process=fixed, horizon=100, action_mode="box")
    assert np.array_equal(_external_prices(env_fixed, 1, 30), _external_prices(env_fixed, 2, 30))


@pytest.mark.parametrize("noise", [None, NoiseTraders()])
def test_uniform_start_is_bit_identical_in_the_single_and_the_vector_env(
    noise: NoiseTraders | None,
) -> None:
    replay = BlockBootstrap(CLOSE, 168).replay(3000, np.random.default_rng(5), horizon=60)
    cfg = LeveragedSwapConfig(process=replay, horizon=60, action_mode="box", noise_traders=noise)
    n = 4
    venv = LeveragedSwapVectorEnv(n, cfg)
    singles = [LeveragedSwapEnv(cfg) for _ in range(n)]
    rng = np.random.default_rng(0)
    for episode in range(3):
        seeds = [10 * episode + i for i in range(n)]
        obs_v, info_v = venv.reset(seed=list[int | None](seeds))
        first = [env.reset(seed=s) for env, s in zip(singles, seeds, strict=True)]
        assert np.array_equal(obs_v, np.stack([f[0] for f in first]))
        for _ in range(60):  # a whole episode: no copy ends early at these small leverages
            act = np.column_stack([rng.uniform(-0.02, 0.02, n), np.zeros(n)]).astype(np.float32)
            obs_v, rew_v, _, trunc_v, info_v = venv.step(act)
            outs = [env.step(a) for env, a in zip(singles, act, strict=True)]
            assert np.array_equal(obs_v, np.stack([o[0] for o in outs]))
            assert np.array_equal(rew_v, np.array([o[1] for o in outs]))
            assert np.array_equal(info_v["external_price"],
                                  np.array([o[4]["external_price"] for o in outs]))  # fmt: skip
        assert trunc_v.all()


def test_replay_start_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="start"):
        ReplayPrices(CLOSE[:10], start="random")
    with pytest.raises(ValueError, match="horizon"):
        ReplayPrices(CLOSE[:10], start="uniform", horizon=10)
    with pytest.raises(ValueError, match="horizon"):
        BlockBootstrap(CLOSE, 24).replay(50, np.random.default_rng(0), horizon=51)
    full = ReplayPrices(CLOSE[:10], start="uniform")
    assert {full.start_position(np.random.default_rng(s)) for s in range(200)} == set(range(9))


# --- the market on given paths ------------------------------------------------------------------


def test_run_many_and_stress_table_take_paths_per_run() -> None:
    cfg = MarketConfig(n_traders=80, n_steps=48, n_pools=2, leverage_range=(20.0, 100.0))
    boot = BlockBootstrap(CLOSE, 24)
    seeds = np.random.SeedSequence(9).spawn(3)
    paths = np.stack([boot.market_paths(cfg, np.random.default_rng(k)) for k in range(3)])
    many = run_many(cfg, BASELINE, [Control("none")], 3, seed=9, paths=paths)["none"]
    # run k is run_scenario on the k-th seed and the k-th paths: the same traders as on GBM
    one = [run_scenario(cfg, seed=s, paths=p) for s, p in zip(seeds, paths, strict=True)]
    assert np.array_equal(many["bad_debt"], [r.bad_debt for r in one])
    assert np.array_equal(many["liquidations"], [r.n_liquidations for r in one])
    gbm = run_many(cfg, BASELINE, [Control("none")], 3, seed=9)["none"]
    assert not np.array_equal(many["bad_debt"], gbm["bad_debt"]) or not np.array_equal(
        many["liquidations"], gbm["liquidations"]
    )
    rows = stress_table(cfg, standard_scenarios(48)[:1], [Control("none")], 3, 9, paths=paths)
    assert rows[0]["liquidations"] == float(many["mean_liquidations"])
    with pytest.raises(ValueError, match="paths"):
        run_many(cfg, BASELINE, [Control("none")], 2, seed=9, paths=paths)

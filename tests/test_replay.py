"""Real prices through the simulator: block bootstrap, windows, the environment, the vector
environment and the market accept them."""

from __future__ import annotations

import numpy as np
import pytest

from levpaper.agents import FixedLeverage
from levpaper.data import load_btc_usd_hourly
from levpaper.env import LeveragedSwapConfig, LeveragedSwapEnv
from levpaper.market import MarketConfig
from levpaper.replay import BlockBootstrap, backtest, run_market, windows
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
    res = run_market(cfg, ext, seed=4)
    assert res.n_liquidations > 0 and float(res.residual.max()) < 1e-9
    crash = windows(CLOSE, 96, s0=cfg.price0)
    worst = crash[np.argmin(crash.min(axis=1))]  # the deepest fall of 4 days in the data
    calm = crash[np.argmin(np.abs(np.log(crash)).max(axis=1))]
    assert run_market(cfg, np.vstack([worst, worst]), seed=4).n_liquidations > (
        run_market(cfg, np.vstack([calm, calm]), seed=4).n_liquidations
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

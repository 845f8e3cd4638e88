"""The markets where skill can pay (issue 16): the log-wealth reward, the regime-switching and the
drifting GARCH price processes in the environment, and the named presets of
:func:`levpaper.env.market_config`. The single and vector environments' bit-identity on these
configurations is in tests/test_vector_env.py."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from levpaper.data import load_btc_usd_hourly, split
from levpaper.env import (
    MARKETS,
    WEALTH_FLOOR,
    LeveragedSwapConfig,
    LeveragedSwapEnv,
    ReplayPrices,
    market_config,
)
from levpaper.processes import GARCH11, GBM, RegimeSwitchingGBM
from levpaper.vector_env import LeveragedSwapVectorEnv


def external_log_returns(env: LeveragedSwapEnv, steps: int, seed: int) -> tuple[Any, Any]:
    """Log returns of the external price over ``steps`` flat steps, and the regime in ``info``
    before each step (None without regimes)."""
    _, info = env.reset(seed=seed)
    prices, regimes = [info["external_price"]], [info.get("regime")]
    for _ in range(steps):
        _, _, term, trunc, info = env.step(0)
        prices.append(info["external_price"])
        regimes.append(info.get("regime"))
        assert not term
        if trunc:
            env.reset()
    return np.diff(np.log(prices)), regimes[:-1]


def test_default_reward_is_the_papers() -> None:
    assert LeveragedSwapConfig().reward == "paper"
    env = LeveragedSwapEnv(max_leverage=10.0)
    env.reset(seed=3)
    for action in (1, 1, 0, 2, 7):
        _, reward, _, _, info = env.step(action)
        w1, w2, w3 = env.config.reward_weights
        expected = (w1 * info["profit"] - w2 * info["liquidation_penalty"]) - w3 * info[
            "volatility_penalty"
        ]
        assert reward == expected


@pytest.mark.parametrize("margin", [0.5, 1.0])
def test_log_wealth_reward_sums_to_the_log_growth_liquidation_included(margin: float) -> None:
    env = LeveragedSwapEnv(
        reward="log_wealth", action_mode="box", initial_margin_fraction=margin, horizon=400
    )
    c0 = env.config.initial_capital
    liquidations = 0
    for seed in range(6):
        prev = env.reset(seed=seed)[1]["wealth"]
        total, done = 0.0, False
        while not done:
            _, reward, term, trunc, info = env.step(np.array([1.0, 0.0]))  # 100x long
            floor = WEALTH_FLOOR * c0
            assert reward == pytest.approx(
                math.log(max(info["wealth"], floor) / max(prev, floor)), rel=1e-15, abs=1e-15
            )
            prev = info["wealth"]
            total += reward
            done = term or trunc
        liquidations += int(info["liquidated"])
        final = max(info["wealth"], WEALTH_FLOOR * c0)
        assert total == pytest.approx(math.log(final / c0), abs=1e-9)
    assert liquidations == 6  # 100x at 80% volatility does not survive 400 hours
    if margin == 1.0:  # the whole capital was margin: the liquidation took (nearly) everything
        assert total < math.log(0.02)


def test_log_wealth_reward_in_the_vector_env_is_the_log_of_the_wealth_ratio() -> None:
    envs = LeveragedSwapVectorEnv(8, reward="log_wealth", action_mode="box", horizon=50)
    _, info = envs.reset(seed=0)
    prev = info["wealth"].copy()
    rng = np.random.default_rng(0)
    for _ in range(40):
        actions = np.column_stack([rng.uniform(-0.2, 0.2, 8), np.zeros(8)])
        _, reward, _, _, info = envs.step(actions)
        floor = WEALTH_FLOOR * envs.config.initial_capital
        expected = np.log(np.maximum(info["wealth"], floor) / np.maximum(prev, floor))
        assert np.allclose(reward, expected, rtol=0, atol=1e-15)
        prev = info["wealth"].copy()


def test_garch_drift_reaches_the_price_stream() -> None:
    base, _ = external_log_returns(LeveragedSwapEnv(process=GARCH11(), horizon=3000), 2000, 1)
    mu = 0.3
    drift, _ = external_log_returns(LeveragedSwapEnv(process=GARCH11(mu=mu), horizon=3000), 2000, 1)
    assert np.allclose(drift - base, mu * GARCH11().dt, rtol=0, atol=1e-12)


def test_regime_in_info_is_the_regime_of_the_coming_step() -> None:
    kw: dict[str, Any] = {"p_enter": 0.01, "p_exit": 0.02}
    a, regimes = external_log_returns(
        LeveragedSwapEnv(process=RegimeSwitchingGBM(**kw), horizon=5000), 3000, 4
    )
    b, regimes_b = external_log_returns(
        LeveragedSwapEnv(
            process=RegimeSwitchingGBM(mu_calm=1.6, mu_turbulent=0.6, **kw), horizon=5000
        ),
        3000,
        4,
    )
    s = np.array(regimes)
    assert regimes == regimes_b and set(s.tolist()) == {0, 1}
    # only the drift differs: by 1.0 per year in either regime, so the log returns differ by dt
    assert np.allclose(b - a, RegimeSwitchingGBM().dt, rtol=0, atol=1e-12)
    # the volatility follows the regime shown before the step
    dt = RegimeSwitchingGBM().dt
    calm, turb = a[s == 0].std() / math.sqrt(dt), a[s == 1].std() / math.sqrt(dt)
    assert abs(calm - 0.5) < 0.05 and abs(turb - 1.5) < 0.15
    # switches are rare and symmetric in law: about 3000 / (1/0.01 + 1/0.02) * 2 = 40
    switches = int(np.sum(s[1:] != s[:-1]))
    assert 15 < switches < 80


def test_regime_stream_crosses_blocks_and_reset_shows_the_regime() -> None:
    env = LeveragedSwapEnv(process=RegimeSwitchingGBM(p_enter=0.3, p_exit=0.3), horizon=10_000)
    _, info = env.reset(seed=0)
    first = info["regime"]
    seen = [first]
    for _ in range(2100):  # two blocks of 1024
        seen.append(env.step(0)[-1]["regime"])
    assert set(seen) == {0, 1}
    _, info = env.reset(seed=0)  # the same seed gives the same first regime
    assert info["regime"] == first


def test_regimes_are_not_observed() -> None:
    cfg = market_config("regimes")
    obs, info = LeveragedSwapEnv(cfg).reset(seed=0)
    assert obs.shape == (14,) and "regime" in info
    assert "regime" not in LeveragedSwapEnv().reset(seed=0)[1]


def test_market_presets() -> None:
    assert MARKETS == ("driftless", "garch_drift", "regimes", "replay", "replay_holdout")
    assert market_config("driftless") == LeveragedSwapConfig()
    assert market_config("driftless").process == GBM(mu=0.0, sigma=0.8)
    garch = market_config("garch_drift", reward="log_wealth", horizon=168)
    assert isinstance(garch.process, GARCH11) and garch.process.mu > 0
    assert garch.reward == "log_wealth" and garch.horizon == 168
    assert market_config("regimes").process == RegimeSwitchingGBM()
    fit, hold = split(load_btc_usd_hourly())
    for name, part in (("replay", fit), ("replay_holdout", hold)):
        proc = market_config(name).process
        assert isinstance(proc, ReplayPrices)
        assert np.array_equal(proc.ratios, part.close[1:] / part.close[:-1])
    with pytest.raises(ValueError, match="name"):
        market_config("bull")
    with pytest.raises(ValueError, match="process"):
        market_config("regimes", process=GBM())


def test_bad_reward_and_process_dt_raise() -> None:
    with pytest.raises(ValueError, match="reward"):
        LeveragedSwapConfig(reward="sharpe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"process\.dt"):
        LeveragedSwapConfig(process=RegimeSwitchingGBM(dt=1.0 / 365.0))

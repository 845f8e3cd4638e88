"""The policies of levpaper.agents: the documented leverage of each baseline, E12's clip, the
no-trade band, and batched action shapes on the vector environment's (column-major) layout."""

from __future__ import annotations

import numpy as np
import pytest

from levpaper.agents import (
    N_FEATURES,
    FixedLeverage,
    KellyLeverage,
    LinearPolicy,
    Policy,
    RandomPolicy,
    VolatilityAdjustedLeverage,
    box_action,
    features,
)
from levpaper.env import LeveragedSwapEnv, ReplayPrices
from levpaper.processes import GBM, HOURLY_DT
from levpaper.risk import one_step_var, var_es_parametric, vol_adjusted_leverage
from levpaper.vector_env import LeveragedSwapVectorEnv


def flat_env(n: int, cap: float = 100.0) -> LeveragedSwapVectorEnv:
    """Constant external price: leverage after a step is the leverage traded to."""
    return LeveragedSwapVectorEnv(
        n, action_mode="box", max_leverage=cap, process=ReplayPrices(np.full(50, 2500.0))
    )


@pytest.mark.parametrize("lev", [1.0, 5.0, 100.0, -5.0])
def test_fixed_leverage_opens_at_its_leverage(lev: float) -> None:
    envs = flat_env(3)
    obs, _ = envs.reset(seed=0)
    pol = FixedLeverage(lev)
    assert isinstance(pol, Policy)
    a = pol.act(obs)
    np.testing.assert_allclose(a[:, 0], lev / 100.0)
    obs, *_, info = envs.step(a)
    if abs(lev) == 100.0:
        # E8: the fee (0.3% of notional = 30% of margin at 100x) and the impact are paid at the
        # open, so the account marked after it is above 100x
        assert np.all(info["leverage"] > 100.0)
        return
    np.testing.assert_allclose(info["leverage"], lev, rtol=0.02)
    # inside the band: holds (no trade, so the position does not change)
    q = info["position"].copy()
    obs, *_, info = envs.step(pol.act(obs))
    np.testing.assert_allclose(info["position"], q, rtol=1e-6)


def test_fixed_leverage_is_cut_to_the_cap() -> None:
    envs = flat_env(2, cap=5.0)
    obs, _ = envs.reset(seed=0)
    obs, *_, info = envs.step(FixedLeverage(100.0).act(obs))
    np.testing.assert_allclose(info["leverage"], 5.0, rtol=0.02)


def test_box_action_band_holds_and_trades() -> None:
    obs = np.zeros((3, 14), dtype=np.float32)
    m = 0.005
    obs[:, 13] = 100.0 * m  # cap 100
    obs[:, 3] = np.array([5.0, 5.0, 0.0]) * m  # current leverage
    a = box_action(np.array([5.3, 7.0, 0.0]), 0.0, obs, m, band=0.1)
    np.testing.assert_allclose(a[:, 0], [0.05, 0.07, 0.0], rtol=1e-6)  # hold, trade, flat
    with pytest.raises(ValueError, match="band"):
        box_action(1.0, 0.0, obs, m, band=1.0)
    with pytest.raises(ValueError, match="obs"):
        box_action(1.0, 0.0, np.zeros((3, 13)), m)


def test_kelly_targets_a_leverage_of_wealth() -> None:
    pol = KellyLeverage.for_process(GBM(mu=0.5, sigma=0.8))
    assert pol.kelly == pytest.approx(0.5 / 0.64)
    obs, _ = LeveragedSwapEnv(action_mode="box").reset(seed=0)  # equity 0.5, wallet 0.5 of C0
    a = pol.act(obs)
    assert a[0, 0] == pytest.approx(2 * pol.kelly / 100.0, rel=1e-6)
    assert KellyLeverage(0.0, 0.8).act(obs)[0, 0] == 0.0  # driftless: flat
    with pytest.raises(ValueError, match="sigma"):
        KellyLeverage(0.1, 0.0)


def test_one_step_var_matches_risk_module() -> None:
    for sigma in (0.3, 0.8, 1.5):
        ref = var_es_parametric(1.0, sigma, HOURLY_DT, alpha=0.99).var
        assert float(one_step_var(sigma, HOURLY_DT)) == pytest.approx(ref, rel=1e-12)


def test_volatility_adjusted_leverage_formula_and_clip() -> None:
    pol = VolatilityAdjustedLeverage(kappa=0.02, max_leverage=100.0)
    sig = np.array([0.2, 0.5, 0.8, 1.2])
    raw = 0.02 / sig * np.minimum(100.0, 1.0 / one_step_var(sig, HOURLY_DT))
    np.testing.assert_allclose(pol.leverage(sig), raw, rtol=1e-12)
    # the one E12 implementation, bit for bit
    np.testing.assert_array_equal(pol.leverage(sig), vol_adjusted_leverage(sig, 0.02, HOURLY_DT))
    # kappa > sigma: the paper's formula exceeds 100 (min caps only its second factor); clipped
    big = VolatilityAdjustedLeverage(kappa=2.0, max_leverage=50.0)
    s = np.linspace(0.0, 3.0, 31)
    lev = big.leverage(s)
    assert np.all((lev >= 0.0) & (lev <= 50.0))
    assert lev[0] == 50.0
    raw_half = 2.0 / 0.5 * min(100.0, 1.0 / float(one_step_var(0.5, HOURLY_DT)))
    assert raw_half > 100.0 and float(big.leverage(0.5)) == 50.0
    with pytest.raises(ValueError, match="kappa"):
        VolatilityAdjustedLeverage(kappa=-1.0)
    with pytest.raises(ValueError, match="side"):
        VolatilityAdjustedLeverage(side=0)


def test_volatility_adjusted_opens_at_its_leverage() -> None:
    envs = LeveragedSwapVectorEnv(2, action_mode="box")
    obs, _ = envs.reset(seed=0)
    pol = VolatilityAdjustedLeverage()
    want = pol.leverage(obs[:, 6].astype(np.float64))
    assert np.all((want > 1.0) & (want < 1.5))  # about 1.27x at 80% volatility
    obs, *_, info = envs.step(pol.act(obs))
    np.testing.assert_allclose(info["leverage"], want, rtol=0.02)


def test_features_do_not_depend_on_the_layout() -> None:
    envs = LeveragedSwapVectorEnv(5, action_mode="box")
    obs, _ = envs.reset(seed=3)
    obs, *_ = envs.step(np.tile([0.05, 0.5], (5, 1)))
    assert not obs.flags.c_contiguous  # the vector env's column-major layout
    f = features(obs)
    assert f.shape == (N_FEATURES, 5)
    np.testing.assert_array_equal(f, features(np.ascontiguousarray(obs)))
    w = np.random.default_rng(0).normal(size=(2, N_FEATURES))
    pol = LinearPolicy(w)
    np.testing.assert_array_equal(pol.act(obs), pol.act(np.ascontiguousarray(obs)))
    a = pol.act(obs)
    assert a.shape == (5, 2) and np.all(np.abs(a) <= 1.0) and np.all(a[:, 1] > 0)


def test_linear_policy_validates() -> None:
    with pytest.raises(ValueError, match="weights"):
        LinearPolicy(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="weights"):
        LinearPolicy(np.full((2, N_FEATURES), np.nan))
    with pytest.raises(ValueError, match="maintenance_rate"):
        LinearPolicy(np.zeros((2, N_FEATURES)), maintenance_rate=0.0)


def test_random_policy_is_seeded() -> None:
    obs = np.zeros((4, 14), dtype=np.float32)
    a = RandomPolicy(np.random.default_rng(1)).act(obs)
    b = RandomPolicy(np.random.default_rng(1)).act(obs)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 2) and np.all(np.abs(a) <= 1.0)
    with pytest.raises(ValueError, match="rng"):
        RandomPolicy(1)  # type: ignore[arg-type]

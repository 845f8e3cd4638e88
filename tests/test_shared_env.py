"""levpaper.shared_env: K accounts on one pool. With one account it is the vector environment;
tokens are conserved; one account's liquidation sale liquidates another in the same step; the
rotating order of trades; ended accounts; the position limit; bad arguments."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from levpaper.env import LeveragedSwapConfig, LiquidationHunter, NoiseTraders, ReplayPrices
from levpaper.processes import GBM, MertonJumpDiffusion
from levpaper.shared_env import SharedPoolEnv
from levpaper.vector_env import LeveragedSwapVectorEnv

BOX = LeveragedSwapConfig(action_mode="box", horizon=96)
# a thin pool: a 100x position of C0 is 5% of its B reserve, so the accounts move it
THIN = dataclasses.replace(BOX, pool_reserve_a=2000.0, initial_capital=2500.0)


@pytest.mark.parametrize(
    "cfg",
    [
        BOX,
        dataclasses.replace(BOX, noise_traders=NoiseTraders(0.002)),
        dataclasses.replace(BOX, process=MertonJumpDiffusion(sigma=0.8, intensity=50.0)),
    ],
)
def test_one_account_is_the_vector_env(cfg: LeveragedSwapConfig) -> None:
    n = 32
    shared, vec = SharedPoolEnv(n, 1, cfg), LeveragedSwapVectorEnv(n, cfg)
    o1, i1 = shared.reset(seed=11)
    o2, i2 = vec.reset(seed=11)
    np.testing.assert_array_equal(o1[:, 0], o2)
    rng = np.random.default_rng(0)
    steps = 0
    for _ in range(cfg.horizon):
        live = shared.active[:, 0].copy()
        a = rng.uniform(-1.0, 1.0, (n, 2)) * [0.3, 1.0]  # up to 30x: the limit never binds
        o1, r1, te1, tr1, i1 = shared.step(a[:, None, :])
        o2, r2, te2, tr2, i2 = vec.step(a)
        steps += int(live.sum())
        np.testing.assert_allclose(r1[live, 0], r2[live], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(o1[live, 0], o2[live], rtol=1e-5, atol=1e-6)  # float32
        np.testing.assert_array_equal(te1[live, 0], te2[live])
        np.testing.assert_array_equal(tr1[live, 0], tr2[live])
        for key in ("wealth", "position", "equity"):
            np.testing.assert_allclose(i1[key][live, 0], i2[key][live], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(i1["pool_price"][live], i2["pool_price"][live], rtol=1e-12)
        if not shared.active.any():
            break
    assert steps > n * 20  # the comparison covered many live steps


@pytest.mark.parametrize("k", [2, 5])
def test_tokens_are_conserved_every_step(k: int) -> None:
    cfg = dataclasses.replace(
        THIN, noise_traders=NoiseTraders(0.002), terminate_on_liquidation=False, horizon=200,
        insurance_fund=5000.0,
    )  # fmt: skip
    env = SharedPoolEnv(40, k, cfg)
    env.reset(seed=3)
    rng = np.random.default_rng(1)
    liquidations, worst = 0, 0.0
    while env.active.any():
        a = rng.uniform(-1.0, 1.0, (40, k, 2)) * [0.9, 1.0]
        *_, info = env.step(a)
        liquidations += int(info["liquidated"].sum())
        worst = max(worst, float(env.conservation_residual().max()))
    assert liquidations > 100 and float(info["bad_debt"].max()) > 0  # the hard cases happened
    assert worst < 1e-12


def _crash(levs: list[float], drop: float) -> dict[str, np.ndarray]:
    """Longs opened at ``levs`` at step 0 (account 0 trades first), held at step 1, when the
    external price drops by ``drop``; the info of step 1."""
    ext = [2500.0, 2500.0, 2500.0 * (1 - drop)]
    env = SharedPoolEnv(1, len(levs), dataclasses.replace(THIN, process=ReplayPrices(ext)))
    env.reset(seed=0)
    a = np.zeros((1, len(levs), 2))
    a[0, :, 0] = np.array(levs) / THIN.max_leverage
    *_, info = env.step(a)
    a[0, :, 0] = np.clip(info["leverage"][0] / THIN.max_leverage, -1.0, 1.0)  # hold
    *_, info = env.step(a)
    return info


def test_one_liquidation_sale_liquidates_the_next_account() -> None:
    """A 20x and a 30x long in the thin pool (their entries' impact leaves them at about 22x and
    38x). An external drop of 3.5% reaches the 30x account's liquidation price but not the 20x
    account's: each alone, only the 30x is liquidated. In one pool the 30x account's liquidation
    sale pushes the pool through the 20x liquidation price in the same step: both are
    liquidated. The 20x account trades first at step 0, so its entry is the same in both markets;
    after the drop, arbitrage leaves the pool on the same band edge."""
    drop = 0.035
    assert _crash([20.0, 0.0], drop)["liquidated"][0].tolist() == [False, False]
    assert _crash([0.0, 30.0], drop)["liquidated"][0].tolist() == [False, True]
    both = _crash([20.0, 30.0], drop)
    assert both["liquidated"][0].tolist() == [True, True]
    # after the two sales the pool is far below the band edge of the external price
    assert both["pool_price"][0] < 0.985 * both["external_price"][0]


def test_the_cascade_liquidates_the_worst_margin_ratio_first() -> None:
    """A long at margin ratio 0.2% and a short at 0.4%, both below maintenance (0.5%). Worst
    first, the long is closed: its sale lowers the pool price about 0.6%, which lifts the short
    back above maintenance, so only the long is liquidated. (Best first, the short's buy-back
    would lift the long instead.)"""
    env = SharedPoolEnv(1, 2, BOX)
    env.reset(seed=0)
    p = env._y[0] / env._x[0]
    size = 300.0
    env._q[0] = [size, -size]
    env._cash[0] = [0.002 * size * p - size * p, size * p + 0.004 * size * p]
    _, _, e, nn = env._mark_now()
    assert (e / nn)[0] == pytest.approx([0.002, 0.004], rel=1e-9)
    with np.errstate(all="ignore"):
        liquidated, lp = env._liquidate()
    assert liquidated[0].tolist() == [True, False]
    assert env._q[0].tolist() == [0.0, -size]
    _, _, e, nn = env._mark_now()
    assert e[0, 1] / nn[0, 1] > BOX.maintenance_rate
    assert lp[0, 0] > 0.0 and lp[0, 1] == 0.0


def test_trades_reach_the_pool_in_a_rotating_order() -> None:
    env = SharedPoolEnv(1, 2, BOX)
    env.reset(seed=0)
    a = np.zeros((1, 2, 2))
    a[0, :, 0] = 0.5  # both 50x long, the same notional
    *_, info = env.step(a)
    q0, q1 = info["position"][0]
    assert q0 > q1  # account 0 traded first, at the lower price
    env.reset(seed=0)
    env.step(np.zeros((1, 2, 2)))  # step 0: nothing
    *_, info = env.step(a)  # step 1: account 1 first
    q0, q1 = info["position"][0]
    assert q1 > q0


def test_ended_accounts_are_inactive_and_the_market_goes_on() -> None:
    cfg = dataclasses.replace(THIN, process=GBM(sigma=3.0), horizon=48)
    env = SharedPoolEnv(16, 2, cfg)
    env.reset(seed=5)
    a = np.zeros((16, 2, 2))
    a[:, 0, 0] = 0.99  # account 0: 99x long, soon liquidated
    a[:, 1, 0] = 0.02  # account 1: 2x long, survives
    ended = np.zeros(16, dtype=bool)
    for _ in range(48):
        before = env.active.copy()
        _, reward, term, trunc, info = env.step(a)
        assert np.all(reward[~before] == 0.0)
        assert not np.any((term | trunc) & ~before)  # an account ends once
        ended |= term[:, 0]
        # a liquidated account is flat, and stays flat: its actions are ignored
        assert np.all(info["position"][ended & ~term[:, 0], 0] == 0.0)
    assert ended.sum() >= 12 and trunc[:, 1].all()
    assert not env.active.any()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(a)
    env.reset()
    assert env.active.all()


def test_position_limit_binds_increases_only() -> None:
    env = SharedPoolEnv(1, 1, BOX)
    env.reset(seed=0)
    a = np.array([[[1.0, 1.0]]])  # all of the wallet in, then 100x of twice the margin
    *_, info = env.step(a)
    limit = BOX.max_leverage * BOX.initial_capital
    notional = abs(info["position"][0, 0]) * info["pool_price"][0]
    assert notional <= limit * 1.01  # at the open price; marked after one step's move
    assert notional > 0.9 * limit


def test_same_seed_same_trajectory_and_curriculum_cap() -> None:
    def run(seed: int) -> np.ndarray:
        env = SharedPoolEnv(4, 3, THIN)
        env.set_leverage_cap(5.0)
        env.reset(seed=seed)
        rng = np.random.default_rng(2)
        out = []
        for _ in range(10):
            _, r, *_ = env.step(rng.uniform(-1.0, 1.0, (4, 3, 2)))
            out.append(r)
        assert np.all(np.abs(env._q * env._y[:, None] / env._x[:, None]) <= 5.0 * 2e4)
        return np.array(out)

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="action_mode"):
        SharedPoolEnv(2, 2)
    with pytest.raises(ValueError, match="hooks"):
        SharedPoolEnv(2, 2, dataclasses.replace(BOX, adversary=LiquidationHunter(budget=1e6)))
    with pytest.raises(ValueError, match="half the pool"):
        SharedPoolEnv(2, 11, THIN)  # 11 accounts x 5% of the pool
    with pytest.raises(ValueError, match="num_pools"):
        SharedPoolEnv(0, 2, BOX)
    env = SharedPoolEnv(2, 2, BOX)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros((2, 2, 2)))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="actions"):
        env.step(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="actions"):
        env.step(np.full((2, 2, 2), 1.5))
    with pytest.raises(ValueError, match="max_leverage"):
        env.set_leverage_cap(500.0)

"""LeveragedSwapEnv (section 3.1, ledger rows E9-E11): the Gymnasium API, determinism, each step
recomputed independently from the pool's closed forms and the margin conventions, the accounting
of the reward's parts, the hooks, the leverage cap and input validation."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from levpaper import _market_kernel as mk
from levpaper import pool
from levpaper.env import (
    ENV_ID,
    LeveragedSwapConfig,
    LeveragedSwapEnv,
    LiquidationHunter,
    MarketView,
    NoiseTraders,
    ReplayPrices,
)
from levpaper.leverage import liquidation_price
from levpaper.processes import GARCH11, GBM, HOURLY_DT, MertonJumpDiffusion

ROOT = Path(__file__).resolve().parents[1]


def rollout(
    env: gym.Env[Any, Any], seed: int, n_steps: int, action_seed: int = 0
) -> list[tuple[Any, ...]]:
    """Random actions; resets (unseeded) when an episode ends. Returns every transition."""
    env.action_space.seed(action_seed)
    obs, info = env.reset(seed=seed)
    out: list[tuple[Any, ...]] = [(obs.copy(), info)]
    for _ in range(n_steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        out.append((obs.copy(), reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            out.append((obs.copy(), info))
    return out


# --- Gymnasium API ------------------------------------------------------------------------------


def test_import_levpaper_registers_the_environment() -> None:
    code = (
        "import gymnasium as gym, levpaper\n"
        f"env = gym.make({ENV_ID!r}); env.reset(seed=0)\n"
        f"vec = gym.make_vec({ENV_ID!r}, num_envs=3)\n"
        "print(type(env.unwrapped).__name__, type(vec).__name__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["LeveragedSwapEnv", "LeveragedSwapVectorEnv"]


@pytest.mark.parametrize("mode", ["discrete", "box"])
def test_check_env_passes_with_warnings_as_errors(mode: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(ENV_ID, action_mode=mode, max_leverage=20.0)
        check_env(env.unwrapped)
        # the passive checker of gym.make, including its data-reuse checks
        rollout(env, seed=5, n_steps=50)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"action_mode": "discrete"},
        {"action_mode": "box", "noise_traders": NoiseTraders(0.002)},
        {"action_mode": "box", "process": MertonJumpDiffusion(), "terminate_on_liquidation": False},
        {"action_mode": "discrete", "process": GARCH11(), "horizon": 50},
    ],
)
def test_outputs_lie_in_their_spaces(kwargs: dict[str, Any]) -> None:
    env = gym.make(ENV_ID, **kwargs)
    keys = set(LeveragedSwapEnv().reset(seed=0)[1])
    ends = 0
    for item in rollout(env, seed=1, n_steps=1500):
        obs, info = item[0], item[-1]
        assert obs.dtype == np.float32 and obs in env.observation_space
        assert set(info) == keys
        if len(item) == 5:
            assert isinstance(item[1], float) and math.isfinite(item[1])
            assert isinstance(item[2], bool) and isinstance(item[3], bool)
            ends += item[2] or item[3]
    assert ends > 0


def test_render_ansi() -> None:
    env = LeveragedSwapEnv(render_mode="ansi")
    env.reset(seed=0)
    env.step(1)
    text = env.render()
    assert isinstance(text, str) and text.startswith("t=1 ")
    assert LeveragedSwapEnv().render() is None


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["discrete", "box"])
def test_same_seed_same_trajectory(mode: str) -> None:
    kw = {"action_mode": mode, "noise_traders": NoiseTraders(), "horizon": 100}
    a = rollout(gym.make(ENV_ID, **kw), seed=7, n_steps=600)
    b = rollout(gym.make(ENV_ID, **kw), seed=7, n_steps=600)
    c = rollout(gym.make(ENV_ID, **kw), seed=8, n_steps=600)
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(u[0], v[0])
        assert u[1:] == v[1:]
    assert not all(np.array_equal(u[0], v[0]) for u, v in zip(a, c, strict=False))


def test_reset_with_seed_restarts_the_stream() -> None:
    env = LeveragedSwapEnv()
    env.reset(seed=3)
    first = [env.step(0)[4]["external_price"] for _ in range(5)]
    env.reset()  # continues the stream
    cont = [env.step(0)[4]["external_price"] for _ in range(5)]
    env.reset(seed=3)
    again = [env.step(0)[4]["external_price"] for _ in range(5)]
    assert first == again
    assert first != cont


# --- the step against the pool's closed forms -------------------------------------------------


def _close_ref(
    x: float, y: float, cash: float, q: float, f: float
) -> tuple[float, float, float, float]:
    """Close the whole size with the pool's closed forms: x, y, cash, B traded."""
    if q > 0:
        recv = float(pool.amount_out(q, x, y, f))
        return x + q, y - recv, cash + recv, recv
    pay = float(pool.amount_in_for(-q, y, x, f))
    return x + q, y + pay, cash - pay, pay


def _settle_ref(cash: float, fund: float, bad: float, penalty: float) -> tuple[float, float, float]:
    pen = min(penalty, max(cash, 0.0))
    fund += pen
    cash -= pen
    if cash < 0:
        paid = min(-cash, fund)
        return fund - paid, bad + (-cash - paid), 0.0
    return fund, bad, cash


def _order_ref(x: float, y: float, order: float, f: float) -> tuple[float, float]:
    if order > 0:
        return x - float(pool.amount_out(order, y, x, f)), y + order
    if order < 0:
        da = -order / (y / x)
        return x + da, y - float(pool.amount_out(da, x, y, f))
    return x, y


def reference_step(env: LeveragedSwapEnv, a0: float, a1: float) -> dict[str, float]:
    """The step of the class docstring, written independently with levpaper.pool."""
    cfg = env.config
    f, m, c0 = cfg.fee, cfg.maintenance_rate, cfg.initial_capital
    x, y, cash, q, w, fund, bad, v, pprev, wprev, pext, t = env._state
    cap = env.leverage_cap
    p = y / x
    e = cash + q * p
    n = abs(q) * p
    # 1. margin change, then the trade to the target leverage
    dm = a1 * w if a1 > 0 else a1 * max(e - n / cap, 0.0)
    w, cash, e = w - dm, cash + dm, e + dm
    lev = q * p / e if q != 0 else 0.0
    target = a0 * cap
    if target * lev > 0 and abs(target) > abs(lev):
        target = math.copysign(max(min(abs(target), cap), abs(lev)), target)
    if q != 0 and target * lev <= 0:
        x, y, cash, _ = _close_ref(x, y, cash, q, f)
        q = 0.0
        fund, bad, cash = _settle_ref(cash, fund, bad, 0.0)
        dn = target * cash
    else:
        dn = (target - lev) * e
    if dn > 0:
        out = float(pool.amount_out(dn, y, x, f))
        x, y, cash, q = x - out, y + dn, cash - dn, q + out
    elif dn < 0:
        ain = float(pool.amount_in_for(-dn, x, y, f))
        x, y, cash, q = x + ain, y + dn, cash - dn, q - ain
    # 2. external price, arbitrage to the band edge
    pext *= env._ratios[env._cursor]
    arb = pool.arbitrage_trade(x, y, pext, f, rule="band_edge")
    x, y = x + float(arb.amount_a), y + float(arb.amount_b)
    # 3. noise traders, then the adversary
    if cfg.noise_traders is not None:
        order = cfg.noise_traders.std * cfg.reserve_b * env._noise[env._cursor]
        x, y = _order_ref(x, y, order, f)
    if cfg.adversary is not None:
        pl = max(-cash / (q - m * abs(q)), 0.0) if q != 0 else 0.0
        view = MarketView(t, x, y, pext, q, cash + q * y / x, pl, f)
        x, y = _order_ref(x, y, float(cfg.adversary(view)), f)
    # 4. liquidation
    p = y / x
    e = cash + q * p
    lp = 0.0
    liquidated = q != 0 and e < m * abs(q) * p
    if liquidated:
        x, y, cash, traded = _close_ref(x, y, cash, q, f)
        q = 0.0
        fund, bad, cash = _settle_ref(cash, fund, bad, cfg.liquidation_penalty_rate * traded)
        lp = (max(e, 0.0) - cash) / c0
        p = y / x
        e = cash
    # 5. reward parts
    v = cfg.volatility_decay * v + (1 - cfg.volatility_decay) * (p / pprev - 1) ** 2
    sv = abs(q) * p * math.sqrt(v) / c0
    w1, w2, w3 = cfg.reward_weights
    profit = (w + e - wprev) / c0
    return {
        "x": x, "y": y, "cash": cash, "q": q, "wallet": w, "fund": fund, "bad": bad,
        "profit": profit, "lp": lp, "sv": sv, "reward": w1 * profit - w2 * lp - w3 * sv,
        "liquidated": liquidated, "pext": pext,
    }  # fmt: skip


def test_each_step_matches_the_pool_closed_forms() -> None:
    cfg = LeveragedSwapConfig(
        action_mode="box",
        max_leverage=150.0,
        terminate_on_liquidation=False,
        insurance_fund=100.0,
        noise_traders=NoiseTraders(0.0005),
        adversary=LiquidationHunter(budget=3e5),
        reward_weights=(1.0, 2.0, 0.5),
        horizon=10_000,
    )
    env = LeveragedSwapEnv(cfg)
    env.reset(seed=11)
    rng = np.random.default_rng(0)
    seen = {"liquidated": 0, "bad": 0, "closes": 0}
    for _ in range(1500):
        a0, a1 = rng.uniform(-1, 1, 2)
        if rng.random() < 0.2:
            a0 = 0.0
        if env._cursor == mk.BLOCK:  # the next step draws a block: not observable beforehand
            env.step(np.array([a0, a1], dtype=np.float32))
            continue
        a0, a1 = float(np.float32(a0)), float(np.float32(a1))
        want = reference_step(env, a0, a1)
        _, reward, _, _, info = env.step(np.array([a0, a1], dtype=np.float32))
        x, y, cash, q, w, fund, bad, *_ = env._state
        got = {
            "x": x, "y": y, "cash": cash, "q": q, "wallet": w, "fund": fund, "bad": bad,
            "profit": info["profit"], "lp": info["liquidation_penalty"],
            "sv": info["volatility_penalty"], "reward": reward,
            "liquidated": info["liquidated"], "pext": info["external_price"],
        }  # fmt: skip
        for key, value in want.items():
            scale = 1.0 if key in ("profit", "lp", "sv", "reward") else abs(value) + 1.0
            assert abs(got[key] - value) <= 1e-9 * scale, (key, got[key], value)
        seen["liquidated"] += info["liquidated"]
        seen["bad"] += bad > 0
        seen["closes"] += a0 == 0.0
    assert seen["liquidated"] > 10 and seen["closes"] > 100 and seen["bad"] > 0


def test_arbitrage_leaves_the_pool_on_the_band_edge() -> None:
    env = LeveragedSwapEnv(fee=0.003)
    env.reset(seed=2)
    g = 1 - 0.003
    edges = 0
    for _ in range(500):
        info = env.step(0)[4]  # hold: only the arbitrageurs trade
        p, ext = info["pool_price"], info["external_price"]
        assert g * p * (1 - 1e-12) <= ext <= p / g * (1 + 1e-12)
        edges += math.isclose(ext, g * p, rel_tol=1e-12) or math.isclose(ext, p / g, rel_tol=1e-12)
    assert edges > 300  # hourly moves at 80% volatility leave the 0.3% band most steps


@pytest.mark.parametrize("side", ["long", "short"])
def test_open_follows_the_margin_conventions(side: str) -> None:
    lev = 40.0
    env = LeveragedSwapEnv(action_mode="box", max_leverage=lev, fee=0.001)
    env.reset(seed=0)
    x0, y0, c = env._state[0], env._state[1], env._state[2]
    a0 = 1.0 if side == "long" else -1.0
    env.step(np.array([a0, 0.0], dtype=np.float32))
    _, _, cash, q, *_ = env._state
    notional = lev * c  # E5: N = L C, paid (long) or received (short) in B exactly
    if side == "long":
        assert q == pytest.approx(pool.amount_out(notional, y0, x0, 0.001), rel=1e-12)
        assert cash == pytest.approx(c - notional, rel=1e-12)
    else:
        assert -q == pytest.approx(pool.amount_in_for(notional, x0, y0, 0.001), rel=1e-12)
        assert cash == pytest.approx(c + notional, rel=1e-12)
    entry = notional / abs(q)  # the execution price, fee and impact included
    m = env.config.maintenance_rate
    want = liquidation_price(entry, lev, m, side)  # type: ignore[arg-type]
    assert -cash / (q - m * abs(q)) == pytest.approx(want, rel=1e-12)


def aimed(env: LeveragedSwapEnv, action: Any) -> tuple[float, float]:
    """Leverage before a step and the leverage its trade aimed at: the position plus the notional
    bought (paid in B, exact in) or sold (received, exact out), at the pre-trade pool price, over
    the equity. Valid for steps without a margin change or a close."""
    x, y, cash, q, *_ = env._state
    p = y / x
    env.step(action)
    paid = cash - env._state[2]
    return q * p / (cash + q * p), (q * p + paid) / (cash + q * p)


def test_discrete_actions() -> None:
    env = LeveragedSwapEnv(max_leverage=10.0, fee=0.0005)  # step c = 0.1 * 10 = 1
    env.reset(seed=4)
    for action, target in [
        (1, lambda lev: lev + 1.0),  # buy
        (1, lambda lev: lev + 1.0),
        (3, lambda lev: lev + 1.0),  # leverage up (long)
        (4, lambda lev: lev - 1.0),  # leverage down (long)
        (2, lambda lev: lev - 1.0),  # sell
        (0, lambda lev: lev),  # hold
    ]:
        before, got = aimed(env, action)
        assert got == pytest.approx(target(before), rel=1e-9, abs=1e-12)
    assert env.step(7)[4]["position"] == 0.0  # close
    assert aimed(env, 3) == (0.0, 0.0)  # leverage up when flat: nothing
    assert aimed(env, 4) == (0.0, 0.0)  # leverage down when flat: nothing
    assert aimed(env, 2)[1] == pytest.approx(-1.0, rel=1e-12)  # sell from flat: short
    before, got = aimed(env, 3)  # leverage up (short): more short
    assert got == pytest.approx(before - 1.0, rel=1e-9)
    for _ in range(3):
        env.step(4)  # leverage down never crosses zero: it ends flat
    assert env._state[3] == 0.0
    wallet, equity = env._state[4], env._state[2]
    env.step(5)  # add margin: a quarter of the wallet
    assert env._state[4] == pytest.approx(0.75 * wallet, rel=1e-12)
    assert env._state[2] == pytest.approx(equity + 0.25 * wallet, rel=1e-12)
    equity = env._state[2]
    env.step(6)  # remove margin: a quarter of the withdrawable, all of the equity when flat
    assert env._state[2] == pytest.approx(0.75 * equity, rel=1e-12)


def test_hold_does_not_trade() -> None:
    env = LeveragedSwapEnv(max_leverage=20.0)
    env.reset(seed=9)
    env.step(1)
    q = env._state[3]
    for _ in range(20):
        env.step(0)
        if env._state[3] == 0:
            break
        assert env._state[3] == q


# --- reward and accounting (E10) --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["discrete", "box"])
def test_reward_parts_add_up_to_the_accounts(mode: str) -> None:
    weights = (1.5, 2.0, 0.3)
    cfg = LeveragedSwapConfig(
        action_mode=mode, reward_weights=weights, max_leverage=120.0, horizon=200,
        noise_traders=NoiseTraders(), insurance_fund=50.0,
    )  # fmt: skip
    env = LeveragedSwapEnv(cfg)
    c0, lam = cfg.initial_capital, cfg.volatility_decay
    env.action_space.seed(3)
    episodes = liquidations = 0
    _, info = env.reset(seed=3)
    while episodes < 40:
        wealth0 = info["wealth"]
        v = mk.initial_variance(cfg.process) * cfg.dt
        prev_p = info["pool_price"]
        profits, lps, svs = [], [], []
        done = False
        while not done:
            _, reward, term, trunc, info = env.step(env.action_space.sample())
            done = term or trunc
            w1, w2, w3 = weights
            parts = info["profit"], info["liquidation_penalty"], info["volatility_penalty"]
            assert reward == (w1 * parts[0] - w2 * parts[1]) - w3 * parts[2]
            profits.append(parts[0])
            lps.append(parts[1])
            svs.append(parts[2])
            # the volatility term from its definition: |Q| P sqrt(EWMA variance of pool returns)
            v = lam * v + (1 - lam) * (info["pool_price"] / prev_p - 1) ** 2
            prev_p = info["pool_price"]
            sv = abs(info["position"]) * info["pool_price"] * math.sqrt(v) / c0
            assert info["volatility_penalty"] == pytest.approx(sv, rel=1e-12, abs=1e-15)
            if info["liquidated"]:
                liquidations += 1
                assert info["position"] == 0.0 and info["equity"] >= 0.0
                # the equity lost to the liquidation, 0 if the mark had already wiped it out
                assert info["liquidation_penalty"] >= 0.0
            else:
                assert info["liquidation_penalty"] == 0.0
        # the sum of the profit parts is the change of wealth (wallet + equity at the pool)
        assert math.fsum(profits) * c0 == pytest.approx(info["wealth"] - wealth0, abs=1e-6)
        assert math.fsum(svs) >= 0.0 and math.fsum(lps) >= 0.0
        assert info["insurance_fund"] >= 0.0 and info["bad_debt"] >= 0.0
        episodes += 1
        _, info = env.reset()
    assert liquidations > 10


# --- hooks ------------------------------------------------------------------------------------


def test_adversary_liquidates_a_position_that_otherwise_survives() -> None:
    def run(adversary: LiquidationHunter | None) -> tuple[int, bool]:
        env = LeveragedSwapEnv(max_leverage=30.0, adversary=adversary, fee=0.0005)
        env.reset(seed=21)
        for t in range(51):
            _, _, term, _, info = env.step(1 if t < 3 else 0)  # 9x long, then hold
            if term:
                return t, bool(info["liquidated"])
        return 51, False

    assert run(None) == (51, False)
    t, liquidated = run(LiquidationHunter(budget=5e7))
    assert liquidated and t < 3
    assert run(LiquidationHunter(budget=1e3)) == (51, False)  # cannot afford it


def test_noise_traders_move_the_pool_not_the_external_price() -> None:
    quiet = LeveragedSwapEnv()
    noisy = LeveragedSwapEnv(noise_traders=NoiseTraders(0.003))
    quiet.reset(seed=5)
    noisy.reset(seed=5)
    gaps = []
    for _ in range(200):
        a, b = quiet.step(0)[4], noisy.step(0)[4]
        assert a["external_price"] == b["external_price"]
        gaps.append(abs(b["pool_price"] / b["external_price"] - 1))
    assert max(gaps) > 0.004  # outside the fee band: the noise moved the pool


def test_trader_hooks_share_the_pool() -> None:
    calls: list[MarketView] = []

    def whale(view: MarketView) -> float:
        calls.append(view)
        return 2e6  # buys A with 2M B every step

    env = LeveragedSwapEnv(traders=(whale,))
    env.reset(seed=0)
    info = env.step(0)[4]
    assert len(calls) == 1 and calls[0].step == 0 and calls[0].fee == 0.003
    assert info["pool_price"] > info["external_price"] * 1.01


# --- the leverage cap (curriculum hook) -------------------------------------------------------


def test_leverage_cap_is_enforced_and_can_change() -> None:
    def pre_trade_target(env: LeveragedSwapEnv, action: int) -> float:
        before, got = aimed(env, action)
        return 0.0 if got == before else got  # 0: no trade

    env = LeveragedSwapEnv(max_leverage=5.0, fee=0.0005)
    env.reset(seed=6)
    targets = [pre_trade_target(env, 1) for _ in range(30)]  # keep buying
    assert max(targets) <= 5.0 * (1 + 1e-12) and max(targets) > 4.99
    assert targets.count(0.0) > 5  # once at the cap (or above it, by drift) a buy is a hold
    env.set_leverage_cap(50.0)
    obs, _ = env.reset()
    assert obs[13] == pytest.approx(50.0 * 0.005)
    targets = [pre_trade_target(env, 1) for _ in range(12)]
    assert 49.99 < max(targets) <= 50.0 * (1 + 1e-12)
    assert env.leverage_cap == 50.0
    with pytest.raises(ValueError, match="max_leverage"):
        env.set_leverage_cap(200.0)


# --- the external price stream ----------------------------------------------------------------


@pytest.mark.parametrize("process", [GBM(sigma=0.8), MertonJumpDiffusion(), GARCH11()])
def test_price_stream_has_the_process_variance(process: Any) -> None:
    rows = 64
    rngs = [np.random.default_rng(s) for s in range(rows)]
    h = np.full(rows, mk.stream_start(process))
    ratios, _ = mk.draw_block(process, rngs, h, HOURLY_DT, noise=False)
    row_var = np.mean(np.log(ratios) ** 2, axis=1)  # independent rows: an honest standard error
    want = mk.initial_variance(process) * HOURLY_DT
    se = row_var.std(ddof=1) / math.sqrt(rows)
    assert abs(row_var.mean() - want) < 4 * se


def test_draw_block_does_not_depend_on_the_batch() -> None:
    for process in (GBM(), MertonJumpDiffusion(), GARCH11()):
        h = np.full(3, mk.stream_start(process))
        many, nz = mk.draw_block(
            process, [np.random.default_rng(s) for s in (1, 2, 3)], h, HOURLY_DT, noise=True
        )
        for i, s in enumerate((1, 2, 3)):
            hi = np.full(1, mk.stream_start(process))
            one, nz1 = mk.draw_block(process, [np.random.default_rng(s)], hi, HOURLY_DT, True)
            assert np.array_equal(many[i], one[0]) and hi[0] == h[i]
            assert nz is not None and nz1 is not None and np.array_equal(nz[i], nz1[0])


def test_replayed_series_is_the_external_price() -> None:
    series = 100.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 1500)))
    env = LeveragedSwapEnv(
        process=ReplayPrices(series), initial_price=100.0, initial_capital=1000.0, horizon=10_000
    )
    env.reset(seed=0)
    for t in range(1, 3000):  # twice around the series: it cycles
        ext = env.step(0)[4]["external_price"]
        want = 100.0 * series[t % 1499] / series[0] * (series[-1] / series[0]) ** (t // 1499)
        assert ext == pytest.approx(want, rel=1e-9)
    with pytest.raises(ValueError, match="prices"):
        ReplayPrices([1.0])
    with pytest.raises(ValueError, match="prices"):
        ReplayPrices([1.0, -2.0])


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("horizon", 0),
        ("dt", -1.0),
        ("initial_price", 0.0),
        ("pool_reserve_a", -5.0),
        ("fee", 0.5),
        ("initial_capital", 1e9),
        ("initial_margin_fraction", 1.5),
        ("max_leverage", 0.0),
        ("max_leverage", 200.0),
        ("maintenance_rate", 0.0),
        ("liquidation_penalty_rate", 0.5),
        ("insurance_fund", -1.0),
        ("ruin_fraction", 1.0),
        ("reward_weights", (1.0, -1.0, 0.0)),
        ("reward_weights", (1.0, 1.0)),
        ("volatility_decay", 1.0),
        ("action_mode", "continuous"),
        ("leverage_step", 0.0),
        ("margin_step", 2.0),
        ("process", "gbm"),
        ("process", GARCH11(dt=1 / 365)),
        ("noise_traders", 0.1),
        ("adversary", 3.0),
        ("terminate_on_liquidation", 1),
    ],
)
def test_bad_config_raises_naming_the_parameter(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        LeveragedSwapConfig(**{field: value})


def test_bad_constructor_arguments() -> None:
    with pytest.raises(TypeError, match="unknown LeveragedSwapConfig fields"):
        LeveragedSwapEnv(leverage=5.0)
    with pytest.raises(ValueError, match="render_mode"):
        LeveragedSwapEnv(render_mode="human")
    with pytest.raises(ValueError, match="max_leverage"):
        gym.make(ENV_ID, max_leverage=-3.0)
    with pytest.raises(ValueError, match="std"):
        NoiseTraders(std=0.0)
    with pytest.raises(ValueError, match="budget"):
        LiquidationHunter(budget=0.0)


@pytest.mark.parametrize("action", [8, -1, 1.5, "1", True, None, np.array([1, 2])])
def test_invalid_discrete_action_raises(action: Any) -> None:
    env = LeveragedSwapEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be an integer"):
        env.step(action)


@pytest.mark.parametrize(
    "action", [[1.5, 0.0], [0.0, -1.1], [float("nan"), 0.0], [0.5], [0.1, 0.2, 0.3], 0.5]
)
def test_invalid_box_action_raises(action: Any) -> None:
    env = LeveragedSwapEnv(action_mode="box")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be 2 finite numbers"):
        env.step(np.asarray(action, dtype=np.float32))


def test_step_before_reset_raises() -> None:
    with pytest.raises(RuntimeError, match="reset"):
        LeveragedSwapEnv().step(0)

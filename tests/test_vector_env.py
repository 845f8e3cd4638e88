"""LeveragedSwapVectorEnv: Gymnasium's vector API and checks, and bit-identical trajectories with
``SyncVectorEnv`` of single environments seeded the same way, autoresets included.

"Identical" is ``numpy.array_equal`` and Gymnasium's ``data_equivalence(..., exact=True)``: both
environments use the same correctly rounded operations in the same order.
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import batch_space
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from levpaper.env import (
    ENV_ID,
    LeveragedSwapEnv,
    LiquidationHunter,
    MarketView,
    NoiseTraders,
    ReplayPrices,
    market_config,
)
from levpaper.processes import GARCH11, MertonJumpDiffusion, RegimeSwitchingGBM
from levpaper.vector_env import LeveragedSwapVectorEnv


def sync_of(n: int, **kwargs: Any) -> SyncVectorEnv:
    return SyncVectorEnv([lambda: gym.make(ENV_ID, **kwargs) for _ in range(n)])


def assert_same_transition(a: tuple[Any, ...], b: tuple[Any, ...], where: str) -> None:
    assert np.array_equal(a[0], b[0]), f"observations differ at {where}"
    for k in range(1, len(a) - 1):
        assert np.array_equal(a[k], b[k]), f"item {k} differs at {where}"
        assert a[k].dtype == b[k].dtype
    assert data_equivalence(a[-1], b[-1], exact=True), f"infos differ at {where}"


def run_both(n: int, steps: int, seed: int, **kwargs: Any) -> int:
    """Step the vector env and SyncVectorEnv with the same actions; return the autoresets."""
    sync = sync_of(n, **kwargs)
    vec = LeveragedSwapVectorEnv(n, **kwargs)
    assert_same_transition(sync.reset(seed=seed), vec.reset(seed=seed), "reset")
    sync.action_space.seed(seed)
    ended = 0
    for t in range(steps):
        actions = sync.action_space.sample()
        a, b = sync.step(actions), vec.step(actions)
        assert_same_transition(a, b, f"step {t}")
        ended += int(np.sum(a[2] | a[3]))
    return ended


# --- Gymnasium's vector API -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["discrete", "box"])
def test_spaces_metadata_and_make_vec(mode: str) -> None:
    n = 6
    envs = gym.make_vec(ENV_ID, num_envs=n, action_mode=mode)
    assert isinstance(envs, LeveragedSwapVectorEnv) and envs.num_envs == n
    single = LeveragedSwapEnv(action_mode=mode)
    assert envs.single_observation_space == single.observation_space
    assert envs.single_action_space == single.action_space
    assert envs.observation_space == batch_space(single.observation_space, n)
    assert envs.action_space == batch_space(single.action_space, n)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert envs.spec is not None and envs.spec.id == ENV_ID


@pytest.mark.parametrize("mode", ["discrete", "box"])
def test_outputs_have_the_vector_api_types(mode: str) -> None:
    n = 5
    envs = LeveragedSwapVectorEnv(n, action_mode=mode, horizon=30)
    obs, info = envs.reset(seed=0)
    assert obs.dtype == np.float32 and obs in envs.observation_space
    envs.action_space.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(200):
            obs, reward, term, trunc, info = envs.step(envs.action_space.sample())
            assert obs in envs.observation_space
            assert reward.shape == (n,) and reward.dtype == np.float64
            assert term.dtype == np.bool_ and trunc.dtype == np.bool_
            for key, value in LeveragedSwapEnv().reset(seed=0)[1].items():
                assert info[key].shape == (n,) and info[f"_{key}"].all()
                assert info[key].dtype == np.asarray(value).dtype
    # returned arrays are the caller's: a second step does not change them
    before = obs.copy(), reward.copy(), info["equity"].copy()
    envs.step(envs.action_space.sample())
    assert np.array_equal(before[0], obs) and np.array_equal(before[1], reward)
    assert np.array_equal(before[2], info["equity"])


# --- identical to N single environments --------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"action_mode": "discrete", "horizon": 60},
        {"action_mode": "box", "horizon": 60, "max_leverage": 150.0},
        {
            "action_mode": "discrete",
            "noise_traders": NoiseTraders(0.002),
            "adversary": LiquidationHunter(budget=5e5),
            "terminate_on_liquidation": False,
            "insurance_fund": 10.0,
        },
        {"action_mode": "box", "process": GARCH11(), "horizon": 100},
        {"action_mode": "discrete", "process": MertonJumpDiffusion(), "horizon": 100},
        {"process": ReplayPrices(np.linspace(100.0, 130.0, 700)), "noise_traders": NoiseTraders()},
        {"process": ReplayPrices(np.linspace(100.0, 80.0, 300)), "action_mode": "box"},
        # issue 16: the markets where skill can pay, and the log-wealth reward
        {
            "action_mode": "box",
            "reward": "log_wealth",
            "horizon": 100,
            "max_leverage": 20.0,
            "process": RegimeSwitchingGBM(p_enter=0.01, p_exit=0.02),
        },
        {
            "action_mode": "discrete",
            "reward": "log_wealth",
            "horizon": 100,
            "process": GARCH11(mu=0.3),
            "noise_traders": NoiseTraders(),
        },
        {
            "action_mode": "discrete",
            "reward": "log_wealth",
            "process": ReplayPrices(np.linspace(100.0, 130.0, 700)),
        },
        {
            "action_mode": "box",
            "reward": "log_wealth",
            "initial_margin_fraction": 1.0,
            "process": RegimeSwitchingGBM(),
            "noise_traders": NoiseTraders(),
            "horizon": 60,
            "adversary": LiquidationHunter(budget=5e5),
            "terminate_on_liquidation": False,
        },
    ],
)
def test_identical_to_sync_vector_env_with_autoresets(kwargs: dict[str, Any]) -> None:
    # 1200 steps cross a block of the price stream (1024 steps) in every copy
    assert run_both(5, 1200, seed=17, **kwargs) > 5


def test_identical_with_array_hooks() -> None:
    seen: list[Any] = []

    def trader(view: MarketView) -> Any:
        seen.append(view.reserve_a)
        return 1e4 * np.sin(view.reserve_b)  # works on floats and on arrays

    assert run_both(3, 300, seed=2, traders=(trader,), horizon=80) > 0
    assert any(isinstance(v, np.ndarray) for v in seen) and any(isinstance(v, float) for v in seen)


def test_large_batch_matches_single_envs() -> None:
    n, seed = 512, 100
    vec = LeveragedSwapVectorEnv(n, horizon=200)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 8, size=(1100, n))
    picks = [0, 137, 511]
    singles = [LeveragedSwapEnv(horizon=200) for _ in picks]
    obs = vec.reset(seed=seed)[0]
    done = [False] * len(picks)
    for i, env in zip(picks, singles, strict=True):
        assert np.array_equal(env.reset(seed=seed + i)[0], obs[i])
    for t in range(actions.shape[0]):
        obs, reward, term, trunc, _ = vec.step(actions[t])
        for j, (i, env) in enumerate(zip(picks, singles, strict=True)):
            if done[j]:  # NEXT_STEP: this step was the reset
                o, r, d = env.reset()[0], 0.0, False
            else:
                o, r, te, tr, _ = env.step(int(actions[t, i]))
                d = te or tr
            assert np.array_equal(o, obs[i]) and r == reward[i], (t, i)
            assert d == (term[i] or trunc[i])
            done[j] = d


def test_same_seed_same_trajectory() -> None:
    runs = []
    for seed in (3, 3, 4):
        envs = LeveragedSwapVectorEnv(64, horizon=50, noise_traders=NoiseTraders())
        envs.action_space.seed(0)
        out = [envs.reset(seed=seed)[0]]
        for _ in range(120):
            obs, reward, term, trunc, _ = envs.step(envs.action_space.sample())
            out += [obs, reward, term, trunc]
        runs.append(out)
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0], runs[2], strict=True))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"process": RegimeSwitchingGBM(p_enter=0.05, p_exit=0.05), "reward": "log_wealth"}],
)
def test_reset_seeds_and_partial_reset_match_sync(kwargs: dict[str, Any]) -> None:
    n = 4
    sync, vec = sync_of(n, horizon=40, **kwargs), LeveragedSwapVectorEnv(n, horizon=40, **kwargs)
    seeds: list[int | None] = [5, 9, 2, 7]
    assert_same_transition(sync.reset(seed=seeds), vec.reset(seed=seeds), "reset")
    sync.action_space.seed(1)
    for t in range(120):
        actions = sync.action_space.sample()
        assert_same_transition(sync.step(actions), vec.step(actions), f"step {t}")
        if t == 50:  # unseeded reset: the streams go on
            assert_same_transition(sync.reset(), vec.reset(), "unseeded reset")
        if t == 80:
            mask = np.array([True, False, True, False])
            a = sync.reset(seed=[1, None, 3, None], options={"reset_mask": mask.copy()})
            b = vec.reset(seed=[1, None, 3, None], options={"reset_mask": mask.copy()})
            assert_same_transition(a, b, "partial reset")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"action_mode": "box", "horizon": 300},
        {"action_mode": "box", "process": GARCH11(mu=0.3), "reward": "log_wealth"},
        {"action_mode": "discrete", "process": MertonJumpDiffusion(), "horizon": 500},
        {"action_mode": "box", "process": RegimeSwitchingGBM(p_enter=0.01, p_exit=0.02)},
        {"process": ReplayPrices(np.linspace(100.0, 130.0, 700)), "noise_traders": NoiseTraders()},
        {"noise_traders": NoiseTraders(0.002), "adversary": LiquidationHunter(budget=5e5)},
    ],
)
def test_copies_seeded_alike_share_a_stream_and_part_exactly(kwargs: dict[str, Any]) -> None:
    """Copies given the same seed draw their price blocks once (one shared generator) and part
    when their episodes end at different steps or one is reseeded: every copy still matches
    its own single environment bit for bit (as ES evaluates many candidates on one seed)."""
    n = 6
    seeds: list[int | None] = [3, 3, 3, 8, 8, 3]
    sync, vec = sync_of(n, **kwargs), LeveragedSwapVectorEnv(n, **kwargs)
    assert_same_transition(sync.reset(seed=seeds), vec.reset(seed=seeds), "reset")
    sync.action_space.seed(4)
    for t in range(2300):  # two refills of every stream (1024-step blocks), at different steps
        actions = sync.action_space.sample()
        assert_same_transition(sync.step(actions), vec.step(actions), f"step {t}")
        if t == 700:  # one member of each group reseeded alone, another joins seed 8
            mask = np.array([False, True, False, True, False, True])
            again = [None, 3, None, 11, None, 8]
            a = sync.reset(seed=again, options={"reset_mask": mask.copy()})
            b = vec.reset(seed=again, options={"reset_mask": mask.copy()})
            assert_same_transition(a, b, "partial reset")


def test_leverage_cap_hook_matches_sync() -> None:
    n = 3
    sync, vec = sync_of(n, max_leverage=5.0), LeveragedSwapVectorEnv(n, max_leverage=5.0)
    sync.reset(seed=0)
    vec.reset(seed=0)
    sync.call("set_leverage_cap", 40.0)
    vec.set_leverage_cap(40.0)
    assert np.array_equal(vec.leverage_cap, np.full(n, 40.0))
    actions = np.ones(n, dtype=np.int64)
    for t in range(20):
        assert_same_transition(sync.step(actions), vec.step(actions), f"step {t}")
    vec.set_leverage_cap(np.array([2.0, 3.0, 4.0]))
    assert vec.reset(seed=0)[0][:, 13] == pytest.approx(np.array([2.0, 3.0, 4.0]) * 0.005)
    with pytest.raises(ValueError, match="max_leverage"):
        vec.set_leverage_cap(0.0)
    with pytest.raises(ValueError, match="shape"):
        vec.set_leverage_cap(np.ones(5))


def test_next_step_autoreset_semantics() -> None:
    envs = LeveragedSwapVectorEnv(2, horizon=3)
    first, _ = envs.reset(seed=0)
    for _ in range(3):
        _, _, term, trunc, _ = envs.step(np.array([1, 2]))
    assert trunc.all() and not term.any()
    obs, reward, term, trunc, info = envs.step(np.array([7, 7]))  # ignored: this is the reset
    assert np.array_equal(reward, [0.0, 0.0]) and not (term.any() or trunc.any())
    assert np.array_equal(obs[:, 11], [1.0, 1.0])  # time left: a fresh episode
    assert np.array_equal(info["profit"], [0.0, 0.0])
    assert np.array_equal(obs[:, [0, 1, 2, 3, 4, 7, 12]], first[:, [0, 1, 2, 3, 4, 7, 12]])


def test_record_episode_statistics_wrapper() -> None:
    kwargs: dict[str, Any] = {"horizon": 25}
    a = RecordEpisodeStatistics(sync_of(3, **kwargs))
    b = RecordEpisodeStatistics(LeveragedSwapVectorEnv(3, **kwargs))
    a.reset(seed=4)
    b.reset(seed=4)
    a.action_space.seed(4)
    for _ in range(100):
        actions = a.action_space.sample()
        a.step(actions)
        b.step(actions)
    assert len(a.return_queue) == len(b.return_queue) > 5
    assert list(a.return_queue) == list(b.return_queue)
    assert list(a.length_queue) == list(b.length_queue)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actions", [np.array([0, 8, 1]), np.array([-1, 0, 0]), np.array([0, 1]), np.zeros(3)]
)
def test_invalid_discrete_actions_raise(actions: Any) -> None:
    envs = LeveragedSwapVectorEnv(3)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be integers"):
        envs.step(actions)


@pytest.mark.parametrize(
    "actions", [np.full((3, 2), 1.5), np.full((3, 2), np.nan), np.zeros((3, 3)), np.zeros(3)]
)
def test_invalid_box_actions_raise(actions: Any) -> None:
    envs = LeveragedSwapVectorEnv(3, action_mode="box")
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be finite numbers"):
        envs.step(actions)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="num_envs"):
        LeveragedSwapVectorEnv(0)
    with pytest.raises(ValueError, match="max_leverage"):
        LeveragedSwapVectorEnv(2, max_leverage=1e6)
    with pytest.raises(TypeError, match="unknown LeveragedSwapConfig fields"):
        LeveragedSwapVectorEnv(2, levrage=3.0)
    with pytest.raises(ValueError, match="render_mode"):
        LeveragedSwapVectorEnv(2, render_mode="human")
    envs = LeveragedSwapVectorEnv(2)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="seed"):
        envs.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="reset_mask"):
        envs.reset(options={"reset_mask": np.zeros(2, dtype=np.bool_)})


def test_render_ansi() -> None:
    envs = LeveragedSwapVectorEnv(2, render_mode="ansi")
    envs.reset(seed=0)
    lines = envs.render()
    assert lines is not None and len(lines) == 2 and lines[0].startswith("t=0 ")
    assert LeveragedSwapVectorEnv(2).render() is None


@pytest.mark.parametrize("name", ["regimes", "garch_drift", "replay_holdout"])
def test_market_presets_match_sync(name: str) -> None:
    cfg = market_config(name, reward="log_wealth", horizon=200, action_mode="box")
    assert run_both(3, 1100, seed=5, config=cfg) >= 3

"""levpaper.pettingzoo_env: PettingZoo's own API and seed tests pass (also through its AEC
conversion); the parallel env equals SharedPoolEnv with one market step for step; agents leave
when their episode ends; seeding; bad arguments."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from pettingzoo.utils import parallel_to_aec

from levpaper.env import LeveragedSwapConfig, NoiseTraders
from levpaper.pettingzoo_env import SharedPoolParallelEnv, parallel_env
from levpaper.shared_env import SharedPoolEnv

# a thin pool (a 100x position of C0 is 5% of its B reserve) with noise: liquidations are common
THIN = LeveragedSwapConfig(
    action_mode="box",
    horizon=60,
    pool_reserve_a=2000.0,
    initial_capital=2500.0,
    noise_traders=NoiseTraders(0.002),
)


@pytest.mark.parametrize("k", [1, 4])
def test_pettingzoo_parallel_api_test_passes_without_warnings(k: int) -> None:
    env = SharedPoolParallelEnv(k, THIN)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the API test reports most problems as warnings
        parallel_api_test(env, num_cycles=2 * THIN.horizon)
    assert env.agents == []  # the episodes ended inside num_cycles


def test_pettingzoo_seed_test_and_aec_conversion() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_seed_test(lambda: SharedPoolParallelEnv(3, THIN))  # same seed, same run
        api_test(parallel_to_aec(SharedPoolParallelEnv(3, THIN)), num_cycles=2 * THIN.horizon)


def _actions(rng: np.random.Generator, k: int) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, (k, 2)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 7])
def test_equals_shared_pool_env_step_for_step(seed: int) -> None:
    k = 4
    par, shared = SharedPoolParallelEnv(k, THIN), SharedPoolEnv(1, k, THIN)
    obs, infos = par.reset(seed=seed)
    ref_obs, ref_info = shared.reset(seed=seed)
    for i, agent in enumerate(par.possible_agents):
        np.testing.assert_array_equal(obs[agent], ref_obs[0, i])
        assert infos[agent]["wealth"] == ref_info["wealth"][0, i]
    rng = np.random.default_rng(seed)
    left_early, steps = 0, 0
    while par.agents:
        a = _actions(rng, k)
        live = list(par.agents)
        assert live == [f"account_{i}" for i in range(k) if shared.active[0, i]]
        obs, rew, term, trunc, infos = par.step({agent: a[int(agent[8:])] for agent in live})
        masked = np.where(shared.active[0][:, None], a, 0.0)  # ended accounts' actions: ignored
        ref_obs, ref_rew, ref_term, ref_trunc, ref_info = shared.step(masked[None])
        steps += 1
        assert set(obs) == set(rew) == set(term) == set(trunc) == set(infos) == set(live)
        for agent in live:
            i = int(agent[8:])
            np.testing.assert_array_equal(obs[agent], ref_obs[0, i])
            assert rew[agent] == ref_rew[0, i]
            assert term[agent] == ref_term[0, i] and trunc[agent] == ref_trunc[0, i]
            assert infos[agent]["position"] == ref_info["position"][0, i]
            assert infos[agent]["pool_price"] == ref_info["pool_price"][0]
            left_early += term[agent] and steps < THIN.horizon
        np.testing.assert_array_equal(par.state(), ref_obs[0].reshape(-1))
        assert par.agents == [f"account_{i}" for i in range(k) if shared.active[0, i]]
    assert not shared.active.any() and steps <= THIN.horizon
    assert left_early >= 1  # some agent left before the others (liquidated or ruined)


def test_seeding_is_deterministic() -> None:
    def rollout(env: SharedPoolParallelEnv, seed: int | None) -> list[float]:
        env.reset(seed=seed)
        rng = np.random.default_rng(3)
        out: list[float] = []
        while env.agents:
            a = _actions(rng, 3)
            _, rew, *_ = env.step({agent: a[i] for i, agent in enumerate(env.agents)})
            out += rew.values()
        return out

    env = SharedPoolParallelEnv(3, THIN)
    first = rollout(env, 5)
    assert rollout(SharedPoolParallelEnv(3, THIN), 5) == first  # a new env, the same seed
    assert rollout(env, 5) == first  # the same env, reseeded
    assert rollout(env, 6) != first
    assert rollout(env, None) != rollout(env, None)  # no seed: the price stream goes on


def test_spaces_metadata_and_defaults() -> None:
    env = parallel_env(2)
    assert env.config.action_mode == "box" and env.max_num_agents == 2
    assert env.render_mode is None and env.render() is None
    space = env.observation_space("account_1")
    assert space is env.observation_space("account_1") and space.shape == (14,)
    assert space is not env.observation_space("account_0")  # one object per agent
    assert env.action_space("account_0").shape == (2,)
    assert env.state_space.shape == (28,)
    obs, infos = env.reset(seed=1)
    assert all(space.contains(o) for o in obs.values())
    assert env.state_space.contains(env.state())
    assert set(infos["account_0"]) >= {"profit", "wealth", "liquidated", "insurance_fund"}


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="n_accounts"):
        SharedPoolParallelEnv(0)
    with pytest.raises(ValueError, match="render_mode"):
        SharedPoolParallelEnv(2, render_mode="human")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="action_mode"):
        SharedPoolParallelEnv(2, dataclasses.replace(THIN, action_mode="discrete"))
    env = SharedPoolParallelEnv(2, THIN)
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    with pytest.raises(RuntimeError, match="reset"):
        env.state()
    env.reset(seed=0)
    zero = np.zeros(2, dtype=np.float32)
    with pytest.raises(ValueError, match=r"missing \['account_1'\]"):
        env.step({"account_0": zero})
    with pytest.raises(ValueError, match="not live"):
        env.step({"account_0": zero, "account_1": zero, "account_9": zero})
    with pytest.raises(ValueError, match="shape"):
        env.step({"account_0": zero, "account_1": np.zeros(3)})
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        env.step({"account_0": zero, "account_1": np.array([2.0, 0.0])})
    while env.agents:
        env.step(dict.fromkeys(env.agents, zero))
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})

"""levpaper.sb3: the SB3 VecEnv adapter of the vector environment keeps SB3's contract
(same-step autoreset, ``terminal_observation``, ``TimeLimit.truncated``, seeding) and yields
the episodes of N single environments, bit for bit.

Without stable-baselines3 (it is the optional ``rl`` extra, not in the lock file) the adapter is
checked against a local reference of SB3's ``DummyVecEnv`` step (``_ReferenceDummyVecEnv``, its
semantics written out from SB3 2.x); with it installed, also against SB3's own ``DummyVecEnv``,
SB3's ``check_env`` on the single environment, and a short PPO run through the adapter. The SB3
part runs in an environment holding the ``rl`` extra, which ``make test`` does not install
(from PyPI it is CUDA PyTorch, about 5 GB; PyTorch's CPU index was unreachable here)::

    .venv/bin/uv venv .venv-rl
    .venv/bin/uv pip install -p .venv-rl -r requirements/lock.txt "stable-baselines3>=2.3,<3"
    .venv/bin/uv pip install -p .venv-rl --no-deps -e .
    .venv-rl/bin/python -m pytest -p no:cacheprovider tests/test_sb3.py
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from levpaper.env import LeveragedSwapConfig, LeveragedSwapEnv
from levpaper.processes import GBM
from levpaper.sb3 import INFO_KEYS, SB3VecEnvAdapter, make_sb3_vec_env

# a short horizon and a high volatility, so that both ends occur: the horizon (truncated) for
# flat copies and ruin (terminated) before it at 100x
CFG = LeveragedSwapConfig(action_mode="box", horizon=12, process=GBM(mu=0.0, sigma=3.0))
N = 6


class _ReferenceDummyVecEnv:
    """SB3's ``DummyVecEnv.step_wait``/``reset`` semantics over single environments."""

    def __init__(self, envs: list[LeveragedSwapEnv]) -> None:
        self.envs = envs
        self.seeds: list[int | None] = [None] * len(envs)

    def seed(self, seed: int) -> None:
        self.seeds = [seed + i for i in range(len(self.envs))]

    def reset(self) -> np.ndarray:
        obs = [e.reset(seed=s)[0] for e, s in zip(self.envs, self.seeds, strict=True)]
        self.seeds = [None] * len(self.envs)
        return np.stack(obs)

    def step(self, actions: np.ndarray) -> tuple[Any, Any, Any, list[dict[str, Any]]]:
        obs, rews, dones, infos = [], [], [], []
        for e, a in zip(self.envs, actions, strict=True):
            o, r, term, trunc, info = e.step(a)
            info = dict(info)
            done = term or trunc
            info["TimeLimit.truncated"] = trunc and not term
            if done:
                info["terminal_observation"] = o
                o, _ = e.reset()
            obs.append(o)
            rews.append(r)
            dones.append(done)
            infos.append(info)
        return np.stack(obs), np.array(rews, dtype=np.float32), np.array(dones), infos


def _compare(adapter: Any, reference: Any, steps: int = 40) -> tuple[int, int]:
    """Drive both with the same random actions; return (terminated, truncated) counts."""
    rng = np.random.default_rng(1)
    adapter.seed(11)
    reference.seed(11)
    np.testing.assert_array_equal(adapter.reset(), reference.reset())
    n_term = n_trunc = 0
    for _ in range(steps):
        act = rng.uniform(-1, 1, size=(N, 2)).astype(np.float32)
        act[:, 0] = np.where(rng.random(N) < 0.5, 1.0, act[:, 0])  # often 100x: ruins occur
        act[: N // 2, 0] = 0.0  # and flat copies, which reach the horizon
        o1, r1, d1, i1 = adapter.step(act)
        o2, r2, d2, i2 = reference.step(act)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        assert o1.dtype == np.float32 and r1.dtype == np.float32 and d1.dtype == np.bool_
        assert o1.flags.c_contiguous
        for a, b in zip(i1, i2, strict=True):
            assert ("terminal_observation" in a) == ("terminal_observation" in b)
            if "terminal_observation" in a:
                assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"]
                np.testing.assert_array_equal(a["terminal_observation"], b["terminal_observation"])
                n_trunc += bool(a["TimeLimit.truncated"])
                n_term += not a["TimeLimit.truncated"]
            for k in INFO_KEYS:
                assert a[k] == pytest.approx(float(b[k]), rel=0, abs=0)
    return n_term, n_trunc


def test_adapter_matches_the_reference_dummy_vec_env() -> None:
    adapter = SB3VecEnvAdapter(N, CFG)
    reference = _ReferenceDummyVecEnv([LeveragedSwapEnv(CFG) for _ in range(N)])
    n_term, n_trunc = _compare(adapter, reference)
    assert n_term > 0 and n_trunc > 0  # both ends were exercised


def test_adapter_contract_details() -> None:
    adapter = SB3VecEnvAdapter(3, CFG)
    assert adapter.observation_space.shape == (14,) and adapter.action_space.shape == (2,)
    with pytest.raises(RuntimeError):
        adapter.step_wait()
    assert adapter.seed(5) == [5, 6, 7]
    first = adapter.reset()
    again = SB3VecEnvAdapter(3, CFG)
    again.seed(5)
    np.testing.assert_array_equal(first, again.reset())
    # the seeds are used once: a second reset continues the generators
    adapter.step(np.zeros((3, 2), dtype=np.float32))
    assert adapter.get_attr("num_envs") == [3, 3, 3]
    assert adapter.env_is_wrapped(object) == [False] * 3
    adapter.env_method("set_leverage_cap", 5.0)
    assert adapter.env.leverage_cap.tolist() == [5.0] * 3
    with pytest.raises(ValueError, match="info_keys"):
        SB3VecEnvAdapter(2, CFG, info_keys=("nope",))
    with pytest.raises(ValueError, match="set_attr"):
        adapter.set_attr("x", 1)


def test_make_sb3_vec_env_without_sb3_says_what_to_install() -> None:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="rl"):
            make_sb3_vec_env(2, CFG)
    else:
        from stable_baselines3.common.vec_env import VecEnv

        assert isinstance(make_sb3_vec_env(2, CFG), VecEnv)


def test_adapter_matches_sb3_dummy_vec_env_and_ppo_runs() -> None:
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env
    from stable_baselines3.common.vec_env import DummyVecEnv, VecCheckNan, VecMonitor

    check_env(LeveragedSwapEnv(CFG))
    dummy = DummyVecEnv([lambda: LeveragedSwapEnv(CFG) for _ in range(N)])
    n_term, n_trunc = _compare(make_sb3_vec_env(N, CFG), dummy)
    assert n_term > 0 and n_trunc > 0
    venv = VecMonitor(VecCheckNan(make_sb3_vec_env(4, CFG), raise_exception=True))
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    assert model.num_timesteps >= 256


def test_sb3_policy_wraps_a_model_and_the_ppo_experiment_is_declared() -> None:
    from levpaper.sb3 import SB3Policy, ppo_experiment

    class Model:  # what SB3's predict returns: (actions, state)
        def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[Any, None]:
            return np.full((obs.shape[0], 2), 0.5, dtype=np.float32), None

    obs = SB3VecEnvAdapter(3, CFG).reset()
    np.testing.assert_array_equal(SB3Policy(Model()).act(obs), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="model"):
        SB3Policy(object())
    exp = ppo_experiment(n_seeds=10, steps=10**6)
    assert exp.n_runs == 10 and exp.config["steps"] == 10**6

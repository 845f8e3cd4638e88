r"""The vector environment for Stable-Baselines3 (the optional ``rl`` extra).

Stable-Baselines3 (SB3) trains on its own ``VecEnv`` class and rejects Gymnasium vector
environments. :class:`SB3VecEnvAdapter` drives one
:class:`levpaper.vector_env.LeveragedSwapVectorEnv` through SB3's ``VecEnv`` interface, and
:func:`make_sb3_vec_env` returns it as a subclass of ``stable_baselines3.common.vec_env.VecEnv``
(importing SB3 only then: ``levpaper`` does not depend on it or on PyTorch).

Autoreset convention
    The vector environment resets a finished copy one step *later*
    (``gymnasium.vector.AutoresetMode.NEXT_STEP``: the step after the end ignores the copy's
    action and returns its first observation). SB3 resets in the *same* step: ``step_wait``
    returns, for a copy whose episode ended, ``done = terminated or truncated``, the first
    observation of its next episode as the observation, the last observation of the finished
    episode in ``infos[i]["terminal_observation"]``, and ``infos[i]["TimeLimit.truncated"] =
    truncated and not terminated`` (so that PPO bootstraps the value at the horizon but not at a
    ruin). The adapter does this by resetting the finished copies at once
    (``reset(options={"reset_mask": done})``, without a seed: each copy's generator goes on),
    so the vector environment never takes its NEXT_STEP autoreset step and no action is
    ignored. The episodes are those of SB3's ``DummyVecEnv`` of single
    :class:`levpaper.env.LeveragedSwapEnv` copies seeded ``seed + i`` (``tests/test_sb3.py``
    checks this bit for bit).

Seeding
    As SB3's: :meth:`SB3VecEnvAdapter.seed` stores ``seed + i`` for copy ``i``, used by the
    next :meth:`~SB3VecEnvAdapter.reset` only.

Observations and rewards
    Observations are C-contiguous float32 arrays of shape ``(N, 14)`` (the vector environment's
    are column-major), rewards float32 of shape ``(N,)`` (as ``DummyVecEnv``), dones bool.
    ``infos[i]`` holds the copy's ``info`` entries of ``info_keys`` as Python scalars.

Examples
--------
>>> venv = SB3VecEnvAdapter(3, action_mode="box", horizon=2)
>>> _ = venv.seed(0)
>>> obs = venv.reset()
>>> obs.shape, obs.flags.c_contiguous
((3, 14), True)
>>> for _ in range(2):
...     obs, rewards, dones, infos = venv.step(np.zeros((3, 2), dtype=np.float32))
>>> dones.tolist(), sorted(infos[0])[:2]
([True, True, True], ['TimeLimit.truncated', 'leverage'])
>>> infos[0]["terminal_observation"].shape, infos[0]["TimeLimit.truncated"]
((14,), True)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from levpaper.env import LeveragedSwapConfig, make_config
from levpaper.vector_env import LeveragedSwapVectorEnv

__all__ = [
    "INFO_KEYS",
    "SB3Policy",
    "SB3VecEnvAdapter",
    "make_sb3_vec_env",
    "ppo_experiment",
    "ppo_run",
]

StepReturn = tuple[
    npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.bool_], list[dict[str, Any]]
]

INFO_KEYS: tuple[str, ...] = ("wealth", "leverage", "liquidated")
"""The ``info`` entries copied into each copy's SB3 ``infos[i]`` by default."""


class SB3VecEnvAdapter:
    """SB3's ``VecEnv`` interface over one
    :class:`~levpaper.vector_env.LeveragedSwapVectorEnv` (module docstring).

    Duck-typed, so that it works and is tested without SB3; :func:`make_sb3_vec_env` makes it a
    ``VecEnv`` subclass for SB3's algorithms.

    Parameters
    ----------
    num_envs : int
        Copies, >= 1.
    config : LeveragedSwapConfig, optional
        The environment (``action_mode="box"`` for PPO's continuous actions).
    info_keys : sequence of str, default :data:`INFO_KEYS`
        Keys of the vector environment's ``info`` copied into ``infos[i]``.
    **overrides
        Fields of the config, as for :class:`~levpaper.vector_env.LeveragedSwapVectorEnv`.

    Raises
    ------
    ValueError
        Naming the bad argument.
    """

    def __init__(
        self,
        num_envs: int,
        config: LeveragedSwapConfig | None = None,
        *,
        info_keys: Sequence[str] = INFO_KEYS,
        **overrides: Any,
    ) -> None:
        cfg = make_config(config, overrides)
        self.env = LeveragedSwapVectorEnv(num_envs, cfg)
        self.num_envs = self.env.num_envs
        self.observation_space: gym.spaces.Space[Any] = self.env.single_observation_space
        self.action_space: gym.spaces.Space[Any] = self.env.single_action_space
        keys = tuple(str(k) for k in info_keys)
        self.info_keys = keys
        self.render_mode: str | None = None
        self.metadata: dict[str, Any] = {"render_modes": []}
        self.reset_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self._seeds: list[int | None] = [None] * self.num_envs
        self._options: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self._actions: npt.NDArray[Any] | None = None
        self._started = False
        # validate the keys against one reset's info (then forget it: reset() starts afresh)
        probe = LeveragedSwapVectorEnv(1, cfg).reset(seed=0)[1]
        bad = [k for k in keys if k not in probe]
        if bad:
            raise ValueError(f"info_keys must be keys of the environment's info, got {bad!r}")

    # -- SB3 VecEnv API ---------------------------------------------------------------------

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed copy ``i`` with ``seed + i`` at the next :meth:`reset` (SB3's convention)."""
        if seed is None:
            return [None] * self.num_envs
        self._seeds = [int(seed) + i for i in range(self.num_envs)]
        return list(self._seeds)

    def set_options(self, options: list[dict[str, Any]] | dict[str, Any] | None = None) -> None:
        """Accepted for SB3; the environment takes no reset options but ``reset_mask``."""
        if options:
            raise ValueError(f"options are not supported, got {options!r}")

    def reset(self) -> npt.NDArray[np.float32]:
        """Reset every copy (with the seeds of :meth:`seed`, once) and return the observations."""
        seeds = list(self._seeds) if any(s is not None for s in self._seeds) else None
        obs, info = self.env.reset(seed=seeds)
        self._seeds = [None] * self.num_envs
        self._started = True
        self.reset_infos = self._infos(info, np.ones(self.num_envs, dtype=np.bool_))
        return np.ascontiguousarray(obs)

    def step_async(self, actions: npt.ArrayLike) -> None:
        """Store the actions, shape ``(N, 2)`` (box) or ``(N,)`` (discrete)."""
        self._actions = np.asarray(actions)

    def step_wait(
        self,
    ) -> StepReturn:
        """Step every copy with the stored actions; reset the finished ones in the same step."""
        if self._actions is None or not self._started:
            raise RuntimeError("call reset() and step_async() before step_wait()")
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        infos = self._infos(info, np.ones(self.num_envs, dtype=np.bool_))
        out = np.ascontiguousarray(obs)
        if dones.any():
            idx = np.flatnonzero(dones)
            for i in idx.tolist():
                infos[i]["terminal_observation"] = out[i].copy()
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            new_obs, reset_info = self.env.reset(options={"reset_mask": dones})
            out[idx] = new_obs[idx]
            fresh = self._infos(reset_info, dones)
            for i in idx.tolist():
                self.reset_infos[i] = fresh[i]
        return out, reward.astype(np.float32), dones, infos

    def step(self, actions: npt.ArrayLike) -> StepReturn:
        """:meth:`step_async` then :meth:`step_wait`."""
        self.step_async(actions)
        return self.step_wait()

    def close(self) -> None:
        """Nothing to release (one process, numpy arrays)."""

    def _indices(self, indices: int | Iterable[int] | None) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return [int(i) for i in indices]

    def get_attr(self, attr_name: str, indices: int | Iterable[int] | None = None) -> list[Any]:
        """The vector environment's attribute ``attr_name``, once per index."""
        owner = self if attr_name == "render_mode" else self.env
        value = getattr(owner, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(
        self, attr_name: str, value: Any, indices: int | Iterable[int] | None = None
    ) -> None:
        """Not supported: the copies share one state; use :meth:`env_method`."""
        raise ValueError(f"set_attr is not supported (attr_name={attr_name!r})")

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: int | Iterable[int] | None = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Call the vector environment's method once (e.g. ``set_leverage_cap``) for all copies;
        the result is repeated per index."""
        if indices is not None and sorted(self._indices(indices)) != list(range(self.num_envs)):
            raise ValueError("env_method acts on every copy at once: indices must be None")
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result] * self.num_envs

    def env_is_wrapped(
        self, wrapper_class: type[Any], indices: int | Iterable[int] | None = None
    ) -> list[bool]:
        """False for every copy (no Gymnasium wrappers: no ``Monitor``, so SB3 warns and use
        ``VecMonitor`` instead)."""
        return [False for _ in self._indices(indices)]

    def has_attr(self, attr_name: str) -> bool:
        """Whether the vector environment has ``attr_name``."""
        return hasattr(self.env, attr_name)

    def get_images(self) -> Sequence[None]:
        """No images: the environment renders text only."""
        return [None] * self.num_envs

    # -- helpers ------------------------------------------------------------------------------

    def _infos(self, info: dict[str, Any], mask: npt.NDArray[np.bool_]) -> list[dict[str, Any]]:
        cols = {k: np.asarray(info[k]).tolist() for k in self.info_keys}
        return [
            {k: cols[k][i] for k in self.info_keys} if mask[i] else {} for i in range(self.num_envs)
        ]


def make_sb3_vec_env(
    num_envs: int,
    config: LeveragedSwapConfig | None = None,
    *,
    info_keys: Sequence[str] = INFO_KEYS,
    **overrides: Any,
) -> Any:
    """An :class:`SB3VecEnvAdapter` that is a ``stable_baselines3.common.vec_env.VecEnv``
    (importing stable-baselines3 now).

    Raises
    ------
    ImportError
        If stable-baselines3 is not installed (``pip install "levpaper[rl]"``).

    Notes
    -----
    With the extra installed (``tests/test_sb3.py`` runs this)::

        venv = make_sb3_vec_env(16, action_mode="box")
        PPO("MlpPolicy", VecMonitor(venv), seed=0).learn(100_000)
    """
    try:
        vec_env = importlib.import_module("stable_baselines3.common.vec_env")
    except ImportError as exc:
        raise ImportError(
            "make_sb3_vec_env needs stable-baselines3 "
            '(the optional extra: pip install "levpaper[rl]")'
        ) from exc
    cls = type("LeveragedSwapSB3VecEnv", (SB3VecEnvAdapter, vec_env.VecEnv), {})
    return cls(num_envs, config, info_keys=info_keys, **overrides)


class SB3Policy:
    """A trained SB3 model as a batched :class:`levpaper.agents.Policy` (deterministic actions),
    for :func:`levpaper.training.evaluate`."""

    def __init__(self, model: Any) -> None:
        if not callable(getattr(model, "predict", None)):
            raise ValueError(f"model must have a predict(obs) method, got {model!r}")
        self.model = model

    def act(self, obs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Box actions for ``obs`` of shape (N, 14)."""
        batch = np.ascontiguousarray(np.atleast_2d(obs))
        action = self.model.predict(batch, deterministic=True)[0]
        return np.asarray(action, dtype=np.float64).reshape(batch.shape[0], -1)


def ppo_run(config: dict[str, Any], cell: dict[str, Any], seed: Any) -> dict[str, Any]:
    """One PPO training run (SB3 ``MlpPolicy``, CPU, one torch thread) through
    :func:`make_sb3_vec_env` on ``config["market"]`` (:func:`levpaper.experiments.book.rl_env`),
    ``config["steps"]`` environment steps with ``config["n_envs"]`` copies, then the
    deterministic policy evaluated on ``config["eval_episodes"]`` held-out episodes from
    ``config["eval_start"]``, as :func:`levpaper.experiments.book.rl_run` records it
    (``<market>_log_growth``, ``_liquidated``, ``_mean_leverage``). The training time is not
    recorded: a record must be a pure function of the run's cell and seed.

    Needs the ``rl`` extra; a run function of :func:`ppo_experiment`.
    """
    torch = importlib.import_module("torch")
    ppo = importlib.import_module("stable_baselines3").PPO
    from levpaper.experiments.book import rl_env
    from levpaper.training import evaluate, held_out_seeds

    torch.set_num_threads(1)
    market = str(cell.get("market", config["market"]))
    env = rl_env(market)
    venv = make_sb3_vec_env(int(config["n_envs"]), env)
    model = ppo("MlpPolicy", venv, seed=int(seed), device="cpu", verbose=0,
                **dict(config.get("ppo", {})))  # fmt: skip
    model.learn(int(config["steps"]))
    seeds = held_out_seeds(int(config["eval_episodes"]), start=int(config["eval_start"]))
    out = evaluate(SB3Policy(model), env, seeds).outcomes
    return {
        f"{market}_log_growth": out.log_growth,
        f"{market}_liquidated": out.liquidated,
        f"{market}_mean_leverage": out.mean_leverage,
    }


def ppo_experiment(n_seeds: int = 10, steps: int = 1_000_000, name: str = "rl_ppo") -> Any:
    """The PPO experiment of issue 16: ``n_seeds`` seeds of ``steps`` environment steps on the
    strong-drift market (the market of ``rl_schemes``), evaluated as ``rl_schemes`` is.

    Registered with the book; its run function needs the ``rl`` extra (Stable-Baselines3 and
    torch), which the book's environment does not install, so the experiment declares it in
    the ``requires`` field of :class:`~levpaper.experiments.Experiment`: the book reads the
    committed artifact without it, and ``levpaper experiments run rl_ppo`` (or ``verify``) asks
    for the extra.

    Examples
    --------
    >>> ppo_experiment().n_runs
    10
    """
    from levpaper.experiments.book import RL_SEED
    from levpaper.experiments.core import Experiment

    return Experiment(
        name, "levpaper.sb3:ppo_run", [{"arm": "ppo", "market": "strong_drift"}],
        n_seeds=n_seeds, base_seed=RL_SEED, seeding="offset",
        config={"market": "strong_drift", "steps": int(steps), "n_envs": 16,
                "ppo": {"n_steps": 256, "batch_size": 256}, "eval_episodes": 200,
                "eval_start": RL_SEED},
        description="issue 16: PPO (SB3) through the VecEnv adapter, strong-drift market",
        requires=(("stable_baselines3", "rl"), ("torch", "rl")),
    )  # fmt: skip

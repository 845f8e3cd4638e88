r"""PPO with the ES learners' margin interface: deposits only (the optional ``rl`` extra).

The environment's box action moves margin by :math:`a_1 \in [-1, 1]`: negative withdraws
(:math:`-1` all that may be withdrawn), positive deposits. The book's ES learners can only
deposit: their margin output is :math:`\mathrm{expit}(z_1) \in (0, 1)`
(:func:`levpaper.agents.box_action`). An SB3 agent trained through
:func:`levpaper.sb3.make_sb3_vec_env` has the signed interface, and in the book's strong-drift
market PPO's deterministic policy learns to withdraw all margin at the first step and stay flat
(the ``rl_ppo`` experiment, section 3.3.1). This module gives it the ES learners' interface:

- :func:`map_margin` sends the policy's :math:`a_1` as the deposit :math:`(a_1 + 1) / 2`;
- :class:`DepositMarginAdapter` is :class:`levpaper.sb3.SB3VecEnvAdapter` with the margin
  component of every action mapped so (same observations, rewards, autoreset and seeding);
  :func:`make_deposit_vec_env` makes it an SB3 ``VecEnv``;
- :class:`DepositSB3Policy` evaluates a model trained on it with the same mapping;
- :func:`ppo_deposit_run` and :func:`ppo_deposit_experiment` are ``rl_ppo`` on this interface
  (the ``rl_ppo_deposit`` experiment).

Examples
--------
>>> venv = DepositMarginAdapter(2, action_mode="box", horizon=2)
>>> _ = venv.seed(0)
>>> _ = venv.reset()
>>> obs, rewards, dones, infos = venv.step(np.array([[0.0, -1.0], [0.0, 1.0]], np.float32))
>>> obs.shape
(2, 14)
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import numpy.typing as npt

from levpaper.sb3 import SB3Policy, SB3VecEnvAdapter

__all__ = [
    "DepositMarginAdapter",
    "DepositSB3Policy",
    "make_deposit_vec_env",
    "map_margin",
    "ppo_deposit_experiment",
    "ppo_deposit_run",
]


def map_margin(actions: npt.ArrayLike) -> npt.NDArray[Any]:
    """Box actions ``(N, 2)`` with the margin component ``a`` clipped to [-1, 1] and sent as
    the deposit ``(a + 1) / 2``; the target-leverage component unchanged. A discrete action
    (``ndim < 2``) is returned unchanged.

    Examples
    --------
    >>> map_margin([[0.5, -1.0], [0.5, 0.0], [0.5, 3.0]]).tolist()
    [[0.5, 0.0], [0.5, 0.5], [0.5, 1.0]]
    """
    a = np.asarray(actions)
    if a.ndim < 2:
        return a
    out = np.array(a, dtype=np.float64)
    out[:, 1] = (np.clip(out[:, 1], -1.0, 1.0) + 1.0) / 2.0
    return out


class DepositMarginAdapter(SB3VecEnvAdapter):
    """:class:`levpaper.sb3.SB3VecEnvAdapter` whose box actions' margin component is mapped by
    :func:`map_margin` before the environment sees it (module docstring)."""

    def step_async(self, actions: npt.ArrayLike) -> None:
        """Store the actions with the margin component mapped to a deposit."""
        super().step_async(map_margin(actions))


def make_deposit_vec_env(num_envs: int, config: Any = None, **overrides: Any) -> Any:
    """A :class:`DepositMarginAdapter` that is a ``stable_baselines3.common.vec_env.VecEnv``
    (importing stable-baselines3 now), as :func:`levpaper.sb3.make_sb3_vec_env`.

    Raises
    ------
    ImportError
        If stable-baselines3 is not installed (``pip install "levpaper[rl]"``).
    """
    try:
        vec_env = importlib.import_module("stable_baselines3.common.vec_env")
    except ImportError as exc:
        raise ImportError(
            "make_deposit_vec_env needs stable-baselines3 "
            '(the optional extra: pip install "levpaper[rl]")'
        ) from exc
    cls = type("LeveragedSwapDepositVecEnv", (DepositMarginAdapter, vec_env.VecEnv), {})
    return cls(num_envs, config, **overrides)


class DepositSB3Policy(SB3Policy):
    """:class:`levpaper.sb3.SB3Policy` of a model trained on :class:`DepositMarginAdapter`:
    its deterministic actions with the margin component mapped by :func:`map_margin`."""

    def act(self, obs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Box actions for ``obs`` of shape (N, 14), margin as a deposit in [0, 1]."""
        return np.asarray(map_margin(super().act(obs)), dtype=np.float64)


def ppo_deposit_run(config: dict[str, Any], cell: dict[str, Any], seed: Any) -> dict[str, Any]:
    """:func:`levpaper.sb3.ppo_run` with the deposit-only margin interface: trained through
    :func:`make_deposit_vec_env`, evaluated with :class:`DepositSB3Policy`; the same record
    (``<market>_log_growth``, ``_liquidated``, ``_mean_leverage``).

    Needs the ``rl`` extra; the run function of :func:`ppo_deposit_experiment`.
    """
    # A near-copy of sb3.ppo_run with the adapter and policy swapped. Parametrising ppo_run
    # would change levpaper.sb3's code, which the key of every book experiment covers
    # (levpaper.experiments.book imports it), and so stale all their artifacts; the fix is a
    # key that covers only the modules a run function itself reaches (library_modules).
    torch = importlib.import_module("torch")
    ppo = importlib.import_module("stable_baselines3").PPO
    from levpaper.experiments.book import rl_env
    from levpaper.training import evaluate, held_out_seeds

    torch.set_num_threads(1)
    market = str(cell.get("market", config["market"]))
    env = rl_env(market)
    venv = make_deposit_vec_env(int(config["n_envs"]), env)
    model = ppo("MlpPolicy", venv, seed=int(seed), device="cpu", verbose=0,
                **dict(config.get("ppo", {})))  # fmt: skip
    model.learn(int(config["steps"]))
    seeds = held_out_seeds(int(config["eval_episodes"]), start=int(config["eval_start"]))
    out = evaluate(DepositSB3Policy(model), env, seeds).outcomes
    return {
        f"{market}_log_growth": out.log_growth,
        f"{market}_liquidated": out.liquidated,
        f"{market}_mean_leverage": out.mean_leverage,
    }


def ppo_deposit_experiment(n_seeds: int = 10, steps: int = 1_000_000) -> Any:
    """``rl_ppo`` (:func:`levpaper.sb3.ppo_experiment`: the same market, seeds, PPO settings
    and held-out episodes) on the deposit-only margin interface: ``rl_ppo_deposit``.

    Examples
    --------
    >>> from levpaper.sb3 import ppo_experiment
    >>> new, old = ppo_deposit_experiment(), ppo_experiment()
    >>> new.name, new.function, new.config == old.config, new.n_seeds == old.n_seeds
    ('rl_ppo_deposit', 'levpaper.ppo:ppo_deposit_run', True, True)
    """
    import dataclasses

    from levpaper.sb3 import ppo_experiment

    base = ppo_experiment(n_seeds, steps)
    return dataclasses.replace(
        base,
        name="rl_ppo_deposit",
        function="levpaper.ppo:ppo_deposit_run",
        description="issue 16: PPO (SB3) with the ES learners' deposit-only margin interface",
    )

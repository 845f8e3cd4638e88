r"""The shared pool of section 3.3 as a PettingZoo ``ParallelEnv``: ``K`` margin accounts, one pool.

:class:`SharedPoolParallelEnv` is :class:`levpaper.shared_env.SharedPoolEnv` with one market
(``num_pools=1``) seen through PettingZoo's parallel API, the interface multi-agent RL
libraries expect. Each of the ``K`` agents ``"account_0"`` .. ``"account_{K-1}"`` is one
margin account on the pool; its observation is the 14 features of the single environment
(:class:`levpaper.env.LeveragedSwapEnv`), its action the box action (target leverage as a
fraction of the cap, margin change, both in [-1, 1]), its reward E10 of the ledger. The order of
events in a step, the rotating order of trades, the position limit and the liquidation cascade
are those of :class:`~levpaper.shared_env.SharedPoolEnv`; trajectories equal it step for step
under the same seed and actions (a test checks it).

An agent that is liquidated (if ``terminate_on_liquidation``), ruined (``terminated``) or at the
horizon (``truncated``) leaves ``agents`` after the step that ended it, as PettingZoo requires;
the market goes on for the others. ``step`` needs one action for each agent in ``agents`` and no
other. The environment is not registered with Gymnasium; it needs the ``multiagent`` extra
(PettingZoo), as in ``pip install "levpaper[multiagent] @ git+<repository>"``.

Examples
--------
>>> import numpy as np
>>> from levpaper.pettingzoo_env import SharedPoolParallelEnv
>>> env = SharedPoolParallelEnv(3, horizon=24)
>>> obs, infos = env.reset(seed=0)
>>> env.agents
['account_0', 'account_1', 'account_2']
>>> obs["account_0"].shape, env.action_space("account_0").shape
((14,), (2,))
>>> actions = {a: np.array([0.05, 0.0], dtype=np.float32) for a in env.agents}  # 5x long
>>> obs, rewards, terminations, truncations, infos = env.step(actions)
>>> sorted(rewards) == env.agents, infos["account_1"]["position"] > 0
(True, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pettingzoo import ParallelEnv  # type: ignore[import-untyped]

from levpaper._validate import positive_int
from levpaper.env import LeveragedSwapConfig
from levpaper.shared_env import SharedPoolEnv

__all__ = ["SharedPoolParallelEnv", "parallel_env"]

ObsArray = npt.NDArray[np.float32]


class SharedPoolParallelEnv(ParallelEnv):  # type: ignore[misc]
    """``n_accounts`` leveraged traders on one pool, as a PettingZoo ``ParallelEnv``.

    Parameters
    ----------
    n_accounts : int
        ``K``, the agents (margin accounts), >= 1.
    config : LeveragedSwapConfig, optional
        With ``action_mode="box"`` (the default when no config is given); keyword ``overrides``
        replace its fields, as for :class:`~levpaper.shared_env.SharedPoolEnv`.
    render_mode : None
        The only mode: the environment draws nothing.

    Attributes
    ----------
    possible_agents : list of str
        ``["account_0", ..., "account_{K-1}"]``.
    agents : list of str
        The agents whose episode is going on, in the same order.
    shared : SharedPoolEnv
        The underlying one-market environment.
    state_space : gymnasium.spaces.Box
        Shape ``(K * 14,)``: every account's observation, concatenated (see :meth:`state`).

    Raises
    ------
    ValueError
        On a bad ``n_accounts``, a ``render_mode`` other than None, or a configuration
        :class:`~levpaper.shared_env.SharedPoolEnv` rejects.
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 (PettingZoo reads the class attribute)
        "name": "levpaper_shared_pool_v0",
        "render_modes": [],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        n_accounts: int,
        config: LeveragedSwapConfig | None = None,
        *,
        render_mode: None = None,
        **overrides: Any,
    ) -> None:
        k = positive_int("n_accounts", n_accounts)
        if render_mode is not None:
            raise ValueError(f"render_mode must be None (nothing is drawn), got {render_mode!r}")
        if config is None:
            config = LeveragedSwapConfig(action_mode=overrides.pop("action_mode", "box"))
        self.shared = SharedPoolEnv(1, k, config, **overrides)
        self.render_mode = None
        self.possible_agents: list[str] = [f"account_{i}" for i in range(k)]
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        obs_space, act_space = (
            self.shared.single_observation_space,
            self.shared.single_action_space,
        )
        # one space object per agent, returned as is (PettingZoo: the same object every call)
        self.observation_spaces = {a: _copy_box(obs_space) for a in self.possible_agents}
        self.action_spaces = {a: _copy_box(act_space) for a in self.possible_agents}
        low = np.tile(np.asarray(obs_space.low, dtype=np.float32), k)
        high = np.tile(np.asarray(obs_space.high, dtype=np.float32), k)
        self.state_space = type(obs_space)(low, high, dtype=np.float32)
        self._obs: ObsArray | None = None

    @property
    def config(self) -> LeveragedSwapConfig:
        """The configuration of the pool and the accounts."""
        return self.shared.config

    def observation_space(self, agent: str) -> Any:
        """The observation space of ``agent``: a Box of shape (14,), float32."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> Any:
        """The action space of ``agent``: a Box of shape (2,) in [-1, 1], float32."""
        return self.action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, ObsArray], dict[str, dict[str, Any]]]:
        """Start an episode; ``seed`` seeds the pool's price stream (``None``: continue it, or
        fresh entropy on the first reset). ``options`` is accepted and ignored."""
        obs, info = self.shared.reset(seed=seed)
        self.agents = list(self.possible_agents)
        self._obs = obs[0]
        return self._per_agent(obs[0]), self._infos(info, self.agents)

    def step(
        self, actions: dict[str, npt.ArrayLike]
    ) -> tuple[
        dict[str, ObsArray],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        """Advance the market one step with one action of shape (2,) for each agent in
        ``agents``; returns observations, rewards, terminations, truncations and infos of
        those agents. The agents that ended leave ``agents``.

        Raises
        ------
        ValueError
            If ``actions`` misses an agent of ``agents``, names another one, or holds an
            action that is not two numbers in [-1, 1].
        RuntimeError
            Before :meth:`reset`, or when every agent's episode has ended.
        """
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        if not self.agents:
            raise RuntimeError("every agent's episode has ended: call reset()")
        live = self.agents
        if set(actions) != set(live):
            missing = sorted(set(live) - set(actions), key=self._index.__getitem__)
            extra = sorted(set(actions) - set(live))
            raise ValueError(
                "actions must hold one action for each agent in env.agents; "
                f"missing {missing}, not live {extra}"
            )
        a = np.zeros((1, len(self.possible_agents), 2))
        for agent in live:
            act = np.asarray(actions[agent], dtype=np.float64)
            if act.shape != (2,):
                raise ValueError(f"actions[{agent!r}] must have shape (2,), got {act.shape}")
            a[0, self._index[agent]] = act
        obs, reward, terminated, truncated, info = self.shared.step(a)
        self._obs = obs[0]
        idx = [self._index[agent] for agent in live]
        out_obs = {agent: obs[0, i] for agent, i in zip(live, idx, strict=True)}
        rewards = {agent: float(reward[0, i]) for agent, i in zip(live, idx, strict=True)}
        terms = {agent: bool(terminated[0, i]) for agent, i in zip(live, idx, strict=True)}
        truncs = {agent: bool(truncated[0, i]) for agent, i in zip(live, idx, strict=True)}
        infos = self._infos(info, live)
        self.agents = [agent for agent in live if not (terms[agent] or truncs[agent])]
        return out_obs, rewards, terms, truncs, infos

    def state(self) -> ObsArray:
        """Every account's current observation, concatenated, shape (K * 14,) (for centralised
        critics)."""
        if self._obs is None:
            raise RuntimeError("call reset() before state()")
        return np.asarray(self._obs.reshape(-1), dtype=np.float32)

    def render(self) -> None:
        """Draw nothing (``render_mode`` is None)."""
        return None

    def close(self) -> None:
        """Nothing to release."""

    def _per_agent(self, obs: ObsArray) -> dict[str, ObsArray]:
        return {agent: obs[self._index[agent]] for agent in self.agents}

    def _infos(self, info: dict[str, Any], agents: list[str]) -> dict[str, dict[str, Any]]:
        """Per-agent infos: the account's entries of the shared info (profit,
        liquidation_penalty, volatility_penalty, equity, wealth, position, leverage,
        liquidated) and the pool's (pool_price, external_price, insurance_fund, bad_debt,
        reserve_a, reserve_b), as Python scalars."""
        out: dict[str, dict[str, Any]] = {}
        for agent in agents:
            i = self._index[agent]
            entry: dict[str, Any] = {}
            for key, value in info.items():
                arr = np.asarray(value)
                entry[key] = (arr[0, i] if arr.ndim == 2 else arr[0]).item()
            out[agent] = entry
        return out


def _copy_box(space: Any) -> Any:
    return type(space)(space.low, space.high, shape=space.shape, dtype=space.dtype)


def parallel_env(
    n_accounts: int = 2, config: LeveragedSwapConfig | None = None, **overrides: Any
) -> SharedPoolParallelEnv:
    """PettingZoo's conventional constructor: :class:`SharedPoolParallelEnv` with ``n_accounts``
    agents (default 2).

    >>> env = parallel_env(4, horizon=10)
    >>> env.possible_agents[-1], env.max_num_agents
    ('account_3', 4)
    """
    return SharedPoolParallelEnv(n_accounts, config, **overrides)

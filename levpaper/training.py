r"""Training and honest evaluation of the RL agent (sections 3.2-3.3, ledger rows E11-E12).

The learner
    Evolution strategies (OpenAI-ES, Salimans et al. 2017) over the
    :class:`levpaper.agents.LinearPolicy` (20 parameters: a target leverage linear in 10 features
    of the observation, and a margin deposit logistic in another linear form), numpy only.
    Each iteration draws ``population / 2`` Gaussian directions :math:`\varepsilon_i` and
    evaluates the antithetic pairs :math:`\theta \pm \sigma\varepsilon_i` on ``episodes`` episodes
    each, all candidates on the *same* episode seeds (common random numbers: differences of
    fitness are differences of policy, not of luck), fresh seeds every iteration. Fitness is the
    mean discounted return of an episode, the Monte Carlo estimate of E11's
    :math:`V^\pi(S_0) = E[\sum_t \gamma^t r_t]` with the environment's reward (E10). Fitnesses are
    replaced by centred ranks in :math:`[-1/2, 1/2]` and :math:`\theta` moves along
    :math:`\sum_i \text{rank}_i\,\varepsilon_i / (n\sigma)` with Adam. All candidates of an
    iteration run in one :class:`levpaper.vector_env.LeveragedSwapVectorEnv` of
    ``population * episodes`` copies. :func:`train` is ``train(config, seed) -> TrainResult``,
    deterministic for a seed, with a per-iteration ``tqdm`` progress bar (``progress=False``
    silences it).

    With ``policy="mlp"`` the search runs over :class:`levpaper.agents.MLPPolicy` instead: one
    hidden layer of ``hidden`` tanh units over the same 10 features, the same two outputs
    (:math:`16 \cdot 10 + 2 \cdot 16 + 2 = 194` parameters at 16 units), every other step
    unchanged. The linear default draws the same random numbers as before the option existed,
    so its results are unchanged bit for bit.

Curriculum (section 3.3)
    With ``curriculum=True`` the leverage cap rises geometrically from ``curriculum_start``
    (5x) to the environment's ``max_leverage`` (100x) over the first ``curriculum_fraction`` of
    the iterations (:func:`curriculum_cap`, applied with ``set_leverage_cap``); otherwise it is
    at ``max_leverage`` from the start. The policy does not see the cap (it targets a leverage in
    absolute units), so it transfers unchanged.

Adversarial training
    With ``adversary=True`` a :class:`levpaper.env.LiquidationHunter` with budget
    ``adversary_budget`` (B per step) trades every training pool toward the agent's liquidation
    price. :func:`evaluate` takes ``adversary=`` to evaluate any policy with or without it.

Multi-agent training
    With ``n_agents = K > 1``, ``K`` learners train at once as the ``K`` margin accounts of one
    pool: a :class:`levpaper.shared_env.SharedPoolEnv` with one market per (candidate, episode),
    in which candidate ``i`` of every learner trades against candidate ``i`` of the others, on
    the same episode seeds. The learners' trades reach the pool one after the other in a
    rotating order, and one learner's liquidation sale moves the mark of the others within the
    step (see that module). Each learner's fitness is its own discounted return; the
    learners do not share weights or rewards. :func:`evaluate_shared` evaluates such a group
    together on held-out episodes. The adversary is not available with several learners.

Evaluation
    :func:`evaluate` runs a policy on held-out seeds (training draws its episode seeds below
    :data:`HELD_OUT_SEED`; evaluate on seeds at or above it) and returns per-episode outcomes and
    :class:`Metrics`: mean log growth of wealth :math:`\ln(W_T/C_0)` (wealth floored at
    :math:`10^{-6} C_0`), probability of liquidation, 95th percentile of the maximum drawdown of
    wealth, and the Monte Carlo :math:`V^\pi` (mean discounted return), each with a 95%
    confidence interval. :func:`summarise` pools several trained policies (training seeds)
    evaluated on the same episodes; :func:`results_table` trains at least 5 seeds per
    configuration and tabulates agents against every baseline, with and without attack.

Confidence intervals
    Means (log growth, liquidation probability, :math:`V^\pi`): normal approximation,
    :math:`\bar x \pm 1.96\,\mathrm{se}` with :math:`\mathrm{se}^2 = s^2_\text{seeds}/S +
    s^2_\text{episodes}/E`, the variance of the per-seed means across the ``S`` training seeds
    plus the variance across the ``E`` episodes of the seed-averaged outcome (conservative: the
    first term also holds some episode noise); for one policy (``S = 1``) the usual
    :math:`s/\sqrt E`. Probabilities are clipped to [0, 1]. The 95th percentile of drawdown:
    the order-statistic interval of :func:`levpaper.risk.quantile_ci` on all ``S * E``
    episodes (it ignores the clustering by training seed).

An external learner
    ``examples/sb3_ppo.py`` trains stable-baselines3's PPO (an optional extra, not a dependency)
    on the unchanged environment, ``gym.make("levpaper/LeveragedSwap-v0", action_mode="box")``.

Examples
--------
>>> cfg = TrainConfig(iterations=2, population=4, episodes=2,
...                   env=LeveragedSwapConfig(action_mode="box", horizon=24))
>>> result = train(cfg, seed=0, progress=False)
>>> result.history.shape, result.policy.weights.shape
((2, 1), (2, 10))
>>> ev = evaluate(FixedLeverage(1.0), cfg.env, held_out_seeds(8))
>>> ev.metrics.log_growth.lower <= ev.metrics.log_growth.value <= ev.metrics.log_growth.upper
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special, stats
from tqdm import tqdm

from levpaper._validate import FloatArray, in_range, positive, positive_int
from levpaper.agents import (
    N_FEATURES,
    FixedLeverage,
    KellyLeverage,
    LinearPolicy,
    MLPPolicy,
    Policy,
    RandomPolicy,
    VolatilityAdjustedLeverage,
    box_action,
    features,
    mlp_outputs,
    mlp_size,
)
from levpaper.env import LeveragedSwapConfig, LiquidationHunter
from levpaper.processes import GBM, MertonJumpDiffusion
from levpaper.risk import quantile_ci
from levpaper.shared_env import SharedPoolEnv
from levpaper.vector_env import LeveragedSwapVectorEnv

__all__ = [
    "HELD_OUT_SEED",
    "Estimate",
    "Evaluation",
    "Metrics",
    "Outcomes",
    "TrainConfig",
    "TrainResult",
    "baseline_policies",
    "config_hash",
    "curriculum_cap",
    "evaluate",
    "evaluate_shared",
    "format_table",
    "held_out_seeds",
    "load_policy",
    "results_table",
    "save_policy",
    "summarise",
    "train",
]

HELD_OUT_SEED = 2**30
"""Training draws its episode seeds in ``[0, HELD_OUT_SEED)``; evaluation seeds start here."""

_Z95 = 1.959963984540054
_WEALTH_FLOOR = 1e-6


def _default_env() -> LeveragedSwapConfig:
    return LeveragedSwapConfig(action_mode="box", horizon=168)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (with the seed).

    Parameters
    ----------
    env : LeveragedSwapConfig, default ``LeveragedSwapConfig(action_mode="box", horizon=168)``
        The environment (one week of hourly steps, 100x cap, driftless GBM at 80% volatility by
        default); ``action_mode`` must be ``"box"``.
    iterations : int, default 40
        ES iterations, >= 1.
    population : int, default 16
        Candidates per iteration, even, >= 2 (antithetic pairs).
    episodes : int, default 16
        Episodes per candidate per iteration, >= 1.
    noise_std : float, default 0.2
        ES perturbation :math:`\\sigma` of the weights, > 0.
    learning_rate : float, default 0.05
        Adam step, > 0.
    init_std : float, default 0.5
        Standard deviation of the initial weights (a random linear policy), >= 0.
    init_leverage : float, default 0.0
        Added to the bias weight of the target-leverage row of the initial weights, so that the
        initial policy targets about this leverage (signed, > 0 long), in
        [-env.max_leverage, env.max_leverage]. With the default weights (``init_std`` 0.5) a
        random policy asks for a few times leverage and, at a learning rate of 0.05, the search
        stays there: neither the curriculum's cap nor the liquidation hunter then ever binds.
    gamma : float, default 0.999
        Discount of the objective (E11), in (0, 1].
    band : float, default 0.1
        The policy's no-trade band (:func:`levpaper.agents.box_action`), in [0, 1).
    curriculum : bool, default False
        Raise the cap from ``curriculum_start`` to ``env.max_leverage`` (:func:`curriculum_cap`).
    curriculum_start : float, default 5.0
        First cap, in (0, env.max_leverage].
    curriculum_fraction : float, default 0.5
        Part of the iterations over which the cap rises, in (0, 1].
    adversary : bool, default False
        Train against a :class:`levpaper.env.LiquidationHunter`.
    adversary_budget : float, default 1e7
        Its budget per step, in B, > 0: the default pool holds 2.5e8 B, and a 1e7 B sale moves
        its price about 7.5%, enough to reach the liquidation price of a fresh long above 13x.
    n_agents : int, default 1
        Learners sharing one pool (see the module docstring), >= 1; not with ``adversary``.
    policy : {"linear", "mlp"}, default "linear"
        The policy class searched: :class:`levpaper.agents.LinearPolicy` (20 parameters) or
        :class:`levpaper.agents.MLPPolicy` (one hidden layer of ``hidden`` tanh units). The
        linear default draws exactly the random numbers it drew before the option existed.
    hidden : int, default 16
        Hidden units of the MLP, >= 1 (ignored by the linear policy).

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> TrainConfig(population=5)
    Traceback (most recent call last):
    ...
    ValueError: population must be even and >= 2, got 5
    """

    env: LeveragedSwapConfig = dataclasses.field(default_factory=_default_env)
    iterations: int = 40
    population: int = 16
    episodes: int = 16
    noise_std: float = 0.2
    learning_rate: float = 0.05
    init_std: float = 0.5
    init_leverage: float = 0.0
    gamma: float = 0.999
    band: float = 0.1
    curriculum: bool = False
    curriculum_start: float = 5.0
    curriculum_fraction: float = 0.5
    adversary: bool = False
    adversary_budget: float = 1e7
    n_agents: int = 1
    policy: str = "linear"
    hidden: int = 16

    def __post_init__(self) -> None:
        if not isinstance(self.env, LeveragedSwapConfig):
            raise ValueError(f"env must be a LeveragedSwapConfig, got {self.env!r}")
        if self.env.action_mode != "box":
            raise ValueError(f"env.action_mode must be 'box', got {self.env.action_mode!r}")
        positive_int("iterations", self.iterations)
        positive_int("population", self.population)
        if self.population % 2 or self.population < 2:
            raise ValueError(f"population must be even and >= 2, got {self.population}")
        positive_int("episodes", self.episodes)
        positive("noise_std", self.noise_std)
        positive("learning_rate", self.learning_rate)
        in_range("init_std", self.init_std, 0.0, math.inf)
        top = float(self.env.max_leverage)
        in_range("init_leverage", self.init_leverage, -top, top)
        in_range("gamma", self.gamma, 0.0, 1.0, low_closed=False)
        in_range("band", self.band, 0.0, 1.0, high_closed=False)
        for name in ("curriculum", "adversary"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        in_range("curriculum_start", self.curriculum_start, 0.0, self.env.max_leverage,
                 low_closed=False)  # fmt: skip
        in_range("curriculum_fraction", self.curriculum_fraction, 0.0, 1.0, low_closed=False)
        positive("adversary_budget", self.adversary_budget)
        positive_int("n_agents", self.n_agents)
        if self.adversary and self.n_agents > 1:
            raise ValueError("adversary is not available with n_agents > 1")
        if self.policy not in ("linear", "mlp"):
            raise ValueError(f"policy must be 'linear' or 'mlp', got {self.policy!r}")
        mlp_size(self.hidden)

    @property
    def n_params(self) -> int:
        """Parameters of one policy, ``2 * N_FEATURES`` (linear) or ``mlp_size(hidden)``."""
        return 2 * N_FEATURES if self.policy == "linear" else mlp_size(self.hidden)

    def make_policy(self, weights: npt.ArrayLike) -> LinearPolicy | MLPPolicy:
        """The policy of this configuration with ``weights`` (shape (2, N_FEATURES) for the
        linear policy, (n_params,) for the MLP), the environment's maintenance rate and
        ``band``.

        Examples
        --------
        >>> TrainConfig(policy="mlp", hidden=4).make_policy(np.zeros(50)).hidden
        4
        """
        m = self.env.maintenance_rate
        if self.policy == "linear":
            return LinearPolicy(np.asarray(weights), maintenance_rate=m, band=self.band)
        return MLPPolicy(np.asarray(weights), hidden=self.hidden, maintenance_rate=m,
                         band=self.band)  # fmt: skip


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {"__type__": type(obj).__qualname__}
        for f in dataclasses.fields(obj):
            out[f.name] = _jsonable(getattr(obj, f.name))
        return out
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return {"__type__": type(obj).__qualname__}  # a non-dataclass hook: its type only


def config_hash(config: TrainConfig) -> str:
    """SHA-256 of the config's canonical JSON (sorted keys; dataclasses as their fields, a
    non-dataclass hook as its type name).

    Examples
    --------
    >>> config_hash(TrainConfig()) == config_hash(TrainConfig())
    True
    >>> config_hash(TrainConfig()) == config_hash(TrainConfig(iterations=41))
    False
    """
    text = json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def curriculum_cap(config: TrainConfig, iteration: int) -> float:
    """The leverage cap at ``iteration`` (0-based): ``env.max_leverage`` without curriculum;
    with it, geometric from ``curriculum_start`` to ``env.max_leverage`` over the first
    ``curriculum_fraction`` of the iterations, then constant.

    Examples
    --------
    >>> cfg = TrainConfig(iterations=11, curriculum=True, curriculum_fraction=1.0)
    >>> [round(curriculum_cap(cfg, i), 1) for i in (0, 5, 10)]
    [5.0, 22.4, 100.0]
    """
    top = float(config.env.max_leverage)
    if not config.curriculum:
        return top
    span = config.curriculum_fraction * (config.iterations - 1)
    frac = 1.0 if span <= 0 else min(iteration / span, 1.0)
    return float(config.curriculum_start * (top / config.curriculum_start) ** frac)


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    config : TrainConfig
    seed : int
    policies : tuple of LinearPolicy or MLPPolicy
        One per agent (the ES mean after the last iteration).
    initial_policies : tuple of LinearPolicy or MLPPolicy
        The random initial policies.
    history : ndarray, shape (n_iterations, n_agents)
        Mean fitness (discounted return per episode) of the population at each iteration.
    caps : ndarray, shape (n_iterations,)
        The leverage cap at each iteration.
    """

    config: TrainConfig
    seed: int
    policies: tuple[LinearPolicy | MLPPolicy, ...]
    initial_policies: tuple[LinearPolicy | MLPPolicy, ...]
    history: FloatArray
    caps: FloatArray

    @property
    def policy(self) -> LinearPolicy | MLPPolicy:
        """The first agent's policy."""
        return self.policies[0]


def _env_config(config: TrainConfig) -> LeveragedSwapConfig:
    env = config.env
    if config.adversary:
        return dataclasses.replace(env, adversary=LiquidationHunter(budget=config.adversary_budget))
    return env


def _candidate_actions(
    weights: FloatArray, obs: npt.NDArray[np.float32], episodes: int, m: float, band: float
) -> FloatArray:
    """Actions of ``P`` candidates (``weights`` of shape (P, 2, F)), each on its block of
    ``episodes`` consecutive copies."""
    p = weights.shape[0]
    phi = features(obs, m).reshape(N_FEATURES, p, episodes)
    z = np.einsum("pjf,fpe->jpe", weights, phi).reshape(2, p * episodes)
    return box_action(z[0], special.expit(z[1]), obs, m, band)


def _mlp_candidate_actions(
    params: FloatArray,
    obs: npt.NDArray[np.float32],
    episodes: int,
    m: float,
    band: float,
    hidden: int,
) -> FloatArray:
    """As :func:`_candidate_actions` for ``P`` MLPs (``params`` of shape (P, D))."""
    p = params.shape[0]
    phi = features(obs, m).reshape(N_FEATURES, p, episodes)
    z = mlp_outputs(params, phi, hidden).reshape(2, p * episodes)
    return box_action(z[0], special.expit(z[1]), obs, m, band)


def _actions(config: TrainConfig, weights: FloatArray, obs: npt.NDArray[np.float32]) -> FloatArray:
    m, band = config.env.maintenance_rate, config.band
    if config.policy == "linear":
        return _candidate_actions(weights, obs, config.episodes, m, band)
    return _mlp_candidate_actions(weights, obs, config.episodes, m, band, config.hidden)


def _rollout(
    env: LeveragedSwapVectorEnv | SharedPoolEnv,
    weights: FloatArray,
    seeds: list[int],
    config: TrainConfig,
    cap: float,
) -> FloatArray:
    """Discounted return of every copy of every agent's env, shape (K, N)."""
    k_agents = weights.shape[0]
    env.set_leverage_cap(cap)
    obs = env.reset(seed=list[int | None](seeds))[0]
    ret = np.zeros((k_agents, len(seeds)))
    disc = 1.0
    if isinstance(env, SharedPoolEnv):
        for _ in range(config.env.horizon):
            act = np.stack(
                [_actions(config, weights[k], obs[:, k]) for k in range(k_agents)], axis=1
            )
            obs, reward, _, _, _ = env.step(act)
            ret += disc * reward.T  # 0 for accounts whose episode has ended
            disc *= config.gamma
            if not env.active.any():
                break
        return ret
    alive = np.ones(len(seeds), dtype=np.bool_)
    for _ in range(config.env.horizon):
        act = _actions(config, weights[0], obs)
        obs, reward, term, trunc, _ = env.step(act)
        ret[0] += np.where(alive, disc * reward, 0.0)
        alive &= ~(term | trunc)
        disc *= config.gamma
        if not alive.any():
            break
    return ret


def _centred_ranks(x: FloatArray) -> FloatArray:
    """Ranks of ``x`` scaled to [-1/2, 1/2], ties sharing their average rank (so that equal
    fitnesses, e.g. every candidate held at the cap, give a zero gradient, not a random one)."""
    ranks = np.asarray(stats.rankdata(x, method="average"), dtype=np.float64)
    return (ranks - 1.0) / (x.size - 1) - 0.5


def train(config: TrainConfig, seed: int, *, progress: bool = True) -> TrainResult:
    """Train ``config.n_agents`` linear policies with evolution strategies (module docstring).

    Parameters
    ----------
    config : TrainConfig
    seed : int
        Seeds the initial weights, the ES directions and the episode seeds; the result is a
        deterministic function of ``(config, seed)``.
    progress : bool, default True
        Show a ``tqdm`` bar (one tick per iteration); ``False`` for notebooks and tests.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If ``config`` is not a TrainConfig or ``seed`` is negative.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {config!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    k_agents, pop, eps_n = config.n_agents, config.population, config.episodes
    n = pop * eps_n
    pshape = (2, N_FEATURES) if config.policy == "linear" else (config.n_params,)
    shape = (k_agents, *pshape)
    theta = rng.normal(0.0, config.init_std, size=shape) if config.init_std > 0 else np.zeros(shape)
    if config.policy == "linear":
        theta[:, 0, 0] += config.init_leverage  # row 0: the target leverage; feature 0: bias
    else:
        theta[:, -2] += config.init_leverage  # b_2[0]: the offset of the target leverage
    theta0 = theta.copy()
    env: LeveragedSwapVectorEnv | SharedPoolEnv
    if k_agents > 1:
        env = SharedPoolEnv(n, k_agents, _env_config(config))
    else:
        env = LeveragedSwapVectorEnv(n, _env_config(config))
    adam_m = np.zeros(shape)
    adam_v = np.zeros(shape)
    b1, b2 = 0.9, 0.999
    history = np.empty((config.iterations, k_agents))
    caps = np.empty(config.iterations)
    bar = tqdm(range(config.iterations), disable=not progress, desc="ES", leave=False)
    for it in bar:
        cap = curriculum_cap(config, it)
        caps[it] = cap
        base = int(rng.integers(0, HELD_OUT_SEED - eps_n))
        seeds = [base + e for e in range(eps_n)] * pop
        half = rng.standard_normal((k_agents, pop // 2, *pshape))
        eps = np.concatenate([half, -half], axis=1)
        cand = theta[:, None] + config.noise_std * eps
        ret = _rollout(env, cand, seeds, config, cap)
        fitness = ret.reshape(k_agents, pop, eps_n).mean(axis=2)
        history[it] = fitness.mean(axis=1)
        ranks = np.stack([_centred_ranks(f) for f in fitness])
        if config.policy == "linear":
            grad = np.einsum("kp,kpij->kij", ranks, eps) / (pop * config.noise_std)
        else:
            grad = np.einsum("kp,kpd->kd", ranks, eps) / (pop * config.noise_std)
        adam_m = b1 * adam_m + (1 - b1) * grad
        adam_v = b2 * adam_v + (1 - b2) * grad * grad
        mhat = adam_m / (1 - b1 ** (it + 1))
        vhat = adam_v / (1 - b2 ** (it + 1))
        theta = theta + config.learning_rate * mhat / (np.sqrt(vhat) + 1e-8)
        if progress:
            bar.set_postfix(fitness=f"{history[it].mean():.4f}", cap=f"{cap:.0f}")
    bar.close()
    return TrainResult(
        config=config,
        seed=int(seed),
        policies=tuple(config.make_policy(w) for w in theta),
        initial_policies=tuple(config.make_policy(w) for w in theta0),
        history=history,
        caps=caps,
    )


# -- saving -------------------------------------------------------------------------------------


def save_policy(path: str | os.PathLike[str], policy: LinearPolicy, config: TrainConfig) -> None:
    """Save ``policy`` (trained with ``config``) to an ``.npz`` file with the config's hash.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> cfg = TrainConfig()
    >>> pol = LinearPolicy(np.ones((2, 10)))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_policy(pathlib.Path(d) / "p.npz", pol, cfg)
    ...     back = load_policy(pathlib.Path(d) / "p.npz", cfg)
    >>> bool(np.array_equal(back.weights, pol.weights))
    True
    """
    if not isinstance(policy, LinearPolicy):
        raise ValueError(f"policy must be a LinearPolicy, got {policy!r}")
    np.savez(
        path,
        weights=policy.weights,
        maintenance_rate=np.float64(policy.maintenance_rate),
        band=np.float64(policy.band),
        config_hash=np.str_(config_hash(config)),
        config_json=np.str_(json.dumps(_jsonable(config), sort_keys=True)),
    )


def load_policy(path: str | os.PathLike[str], config: TrainConfig) -> LinearPolicy:
    """Load a policy saved by :func:`save_policy`.

    Raises
    ------
    ValueError
        If the file's config hash is not that of ``config`` (the policy was trained with another
        configuration).
    """
    with np.load(path, allow_pickle=False) as data:
        stored = str(data["config_hash"])
        expected = config_hash(config)
        if stored != expected:
            raise ValueError(
                f"config does not match the saved policy: hash {expected[:12]} != {stored[:12]}"
            )
        return LinearPolicy(
            np.array(data["weights"]),
            maintenance_rate=float(data["maintenance_rate"]),
            band=float(data["band"]),
        )


# -- evaluation ---------------------------------------------------------------------------------


class Estimate(NamedTuple):
    """A point estimate and its 95% confidence interval."""

    value: float
    lower: float
    upper: float


@dataclass(frozen=True, eq=False)
class Outcomes:
    """Per-episode outcomes of one policy, arrays of shape ``(E,)``.

    Attributes
    ----------
    log_growth : ndarray
        :math:`\\ln(\\max(W_T, 10^{-6}C_0)/C_0)`, :math:`W_T` the wealth at the episode's end.
    liquidated : ndarray of bool
        Whether a liquidation happened in the episode.
    max_drawdown : ndarray
        :math:`\\max_t (1 - W_t/\\max_{s \\le t} W_s)`, with :math:`W_0 = C_0`.
    discounted_return : ndarray
        :math:`\\sum_t \\gamma^t r_t` (E11).
    mean_leverage : ndarray, optional
        Mean absolute account leverage over the episode's steps (after each step's price move),
        when measured (:func:`evaluate` and :func:`evaluate_shared` measure it).
    """

    log_growth: FloatArray
    liquidated: npt.NDArray[np.bool_]
    max_drawdown: FloatArray
    discounted_return: FloatArray
    mean_leverage: FloatArray | None = None


@dataclass(frozen=True)
class Metrics:
    """The evaluation metrics, each with a 95% confidence interval (module docstring)."""

    log_growth: Estimate
    liquidation_probability: Estimate
    drawdown_p95: Estimate
    value: Estimate
    n_policies: int
    n_episodes: int


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What :func:`evaluate` returns: the outcomes and their :class:`Metrics`."""

    outcomes: Outcomes
    metrics: Metrics


def held_out_seeds(n: int, start: int = 0) -> list[int]:
    """``n`` evaluation seeds, ``HELD_OUT_SEED + start + i``, never used in training.

    Examples
    --------
    >>> held_out_seeds(2) == [HELD_OUT_SEED, HELD_OUT_SEED + 1]
    True
    """
    positive_int("n", n)
    return [HELD_OUT_SEED + int(start) + i for i in range(n)]


def _check_evaluation(
    env: LeveragedSwapConfig, seeds: Sequence[int], gamma: float
) -> tuple[list[int], float]:
    if not isinstance(env, LeveragedSwapConfig) or env.action_mode != "box":
        raise ValueError("env must be a LeveragedSwapConfig with action_mode='box'")
    seed_list = [int(s) for s in seeds]
    if len(seed_list) < 2:
        raise ValueError(f"seeds must hold at least 2 seeds, got {len(seed_list)}")
    return seed_list, float(in_range("gamma", gamma, 0.0, 1.0, low_closed=False))


def evaluate(
    policy: Policy,
    env: LeveragedSwapConfig,
    seeds: Sequence[int],
    *,
    gamma: float = 0.999,
    adversary: LiquidationHunter | None = None,
) -> Evaluation:
    """Run ``policy`` for one episode per seed (in one vector environment) and measure it.

    Parameters
    ----------
    policy : Policy
        Anything with ``act(obs) -> actions`` (box actions).
    env : LeveragedSwapConfig
        The environment, ``action_mode="box"``.
    seeds : sequence of int
        One episode per seed (held-out: see :func:`held_out_seeds`); at least 2.
    gamma : float, default 0.999
        Discount of :math:`V^\\pi`, in (0, 1].
    adversary : LiquidationHunter, optional
        Replaces the environment's adversary (evaluation under attack).

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        Naming the bad argument.
    """
    seed_list, g = _check_evaluation(env, seeds, gamma)
    if not callable(getattr(policy, "act", None)):
        raise ValueError(f"policy must have an act(obs) method, got {policy!r}")
    cfg = env if adversary is None else dataclasses.replace(env, adversary=adversary)
    envs = LeveragedSwapVectorEnv(len(seed_list), cfg)
    obs, info = envs.reset(seed=list[int | None](seed_list))
    track = _Tracker(info["wealth"], float(cfg.initial_capital), g)
    alive = np.ones(len(seed_list), dtype=np.bool_)
    for _ in range(cfg.horizon):
        obs, reward, term, trunc, info = envs.step(policy.act(obs))
        track.update(alive, info, reward)
        alive &= ~(term | trunc)
        if not alive.any():
            break
    outcomes = track.outcomes()
    return Evaluation(outcomes, summarise([outcomes]))


def evaluate_shared(
    policies: Sequence[Policy],
    env: LeveragedSwapConfig,
    seeds: Sequence[int],
    *,
    gamma: float = 0.999,
) -> tuple[Evaluation, ...]:
    """Run ``K`` policies together as the ``K`` accounts of one pool
    (:class:`levpaper.shared_env.SharedPoolEnv`), one market per seed, and measure each.

    Parameters
    ----------
    policies : sequence of Policy
        One per account, ``K >= 1`` (e.g. the ``policies`` of a multi-agent :class:`TrainResult`).
    env : LeveragedSwapConfig
        The market, ``action_mode="box"``, without ``traders`` or ``adversary`` hooks.
    seeds : sequence of int
        One market per seed (held-out: :func:`held_out_seeds`); at least 2.
    gamma : float, default 0.999
        Discount of :math:`V^\\pi`, in (0, 1].

    Returns
    -------
    tuple of Evaluation
        One per policy, on the same markets: outcome ``e`` of policy ``k`` is its account in
        market ``e``.

    Raises
    ------
    ValueError
        Naming the bad argument.

    Examples
    --------
    >>> env = LeveragedSwapConfig(action_mode="box", horizon=24)
    >>> evs = evaluate_shared([FixedLeverage(2.0), FixedLeverage(50.0)], env, held_out_seeds(4))
    >>> [e.metrics.n_episodes for e in evs]
    [4, 4]
    """
    seed_list, g = _check_evaluation(env, seeds, gamma)
    pols = list(policies)
    if not pols or not all(callable(getattr(p, "act", None)) for p in pols):
        raise ValueError("policies must be a non-empty sequence of objects with act(obs)")
    envs = SharedPoolEnv(len(seed_list), len(pols), env)
    obs, info = envs.reset(seed=list[int | None](seed_list))
    track = _Tracker(info["wealth"], float(env.initial_capital), g)
    for _ in range(env.horizon):
        alive = envs.active.copy()
        act = np.stack([p.act(obs[:, k]) for k, p in enumerate(pols)], axis=1)
        obs, reward, _, _, info = envs.step(act)
        track.update(alive, info, reward)
        if not envs.active.any():
            break
    out = track.outcomes()
    evals = []
    for k in range(len(pols)):
        o_k = Outcomes(
            out.log_growth[:, k].copy(),
            out.liquidated[:, k].copy(),
            out.max_drawdown[:, k].copy(),
            out.discounted_return[:, k].copy(),
            None if out.mean_leverage is None else out.mean_leverage[:, k].copy(),
        )
        evals.append(Evaluation(o_k, summarise([o_k])))
    return tuple(evals)


class _Tracker:
    """Per-episode outcomes accumulated over the steps (arrays of any shape)."""

    def __init__(self, wealth0: npt.ArrayLike, c0: float, gamma: float) -> None:
        self.wealth = np.array(wealth0, dtype=np.float64)
        self.c0, self.gamma = c0, gamma
        self.peak = np.maximum(self.wealth, c0)
        self.drawdown = np.zeros_like(self.wealth)
        self.liquidated = np.zeros(self.wealth.shape, dtype=np.bool_)
        self.ret = np.zeros_like(self.wealth)
        self.lev_sum = np.zeros_like(self.wealth)
        self.steps = np.zeros_like(self.wealth)
        self.disc = 1.0

    def update(
        self, alive: npt.NDArray[np.bool_], info: dict[str, Any], reward: FloatArray
    ) -> None:
        """One step: ``alive`` marks the episodes that were going on before it."""
        w = np.where(alive, info["wealth"], self.wealth)
        self.wealth = w
        np.maximum(self.peak, w, out=self.peak)
        np.maximum(self.drawdown, 1.0 - w / self.peak, out=self.drawdown)
        self.liquidated |= alive & info["liquidated"]
        self.ret += np.where(alive, self.disc * reward, 0.0)
        self.lev_sum += np.where(alive, np.abs(info["leverage"]), 0.0)
        self.steps += alive
        self.disc *= self.gamma

    def outcomes(self) -> Outcomes:
        floor = _WEALTH_FLOOR * self.c0
        return Outcomes(
            log_growth=np.log(np.maximum(self.wealth, floor) / self.c0),
            liquidated=self.liquidated,
            max_drawdown=self.drawdown,
            discounted_return=self.ret,
            mean_leverage=self.lev_sum / np.maximum(self.steps, 1.0),
        )


def _mean_ci(x: FloatArray, clip: tuple[float, float] | None = None) -> Estimate:
    """Grand mean of ``x`` of shape (S, E) with the normal interval of the module docstring."""
    s, e = x.shape
    mean = float(x.mean())
    var_seeds = float(x.mean(axis=1).var(ddof=1)) / s if s > 1 else 0.0
    var_eps = float(x.mean(axis=0).var(ddof=1)) / e if e > 1 else 0.0
    half = _Z95 * math.sqrt(var_seeds + var_eps)
    lo, hi = mean - half, mean + half
    if clip is not None:
        lo, hi = max(lo, clip[0]), min(hi, clip[1])
    return Estimate(mean, lo, hi)


def summarise(outcomes: Sequence[Outcomes]) -> Metrics:
    """:class:`Metrics` of one or more policies (e.g. training seeds) evaluated on the same
    episodes, with the confidence intervals of the module docstring.

    Raises
    ------
    ValueError
        If ``outcomes`` is empty or the episode counts differ.
    """
    if not outcomes:
        raise ValueError("outcomes must not be empty")
    sizes = {o.log_growth.size for o in outcomes}
    if len(sizes) != 1:
        raise ValueError(f"outcomes must have the same number of episodes, got {sorted(sizes)}")
    lg = np.stack([o.log_growth for o in outcomes])
    liq = np.stack([o.liquidated for o in outcomes]).astype(np.float64)
    dd = np.stack([o.max_drawdown for o in outcomes])
    val = np.stack([o.discounted_return for o in outcomes])
    q = quantile_ci(dd.ravel(), q=0.95)
    return Metrics(
        log_growth=_mean_ci(lg),
        liquidation_probability=_mean_ci(liq, (0.0, 1.0)),
        drawdown_p95=Estimate(q.value, q.lower, q.upper),
        value=_mean_ci(val),
        n_policies=len(outcomes),
        n_episodes=lg.shape[1],
    )


# -- the results table --------------------------------------------------------------------------

_VARIANTS: dict[str, Callable[[TrainConfig], TrainConfig]] = {
    "agent": lambda c: dataclasses.replace(c, curriculum=False, adversary=False, n_agents=1),
    "agent (curriculum)": lambda c: dataclasses.replace(
        c, curriculum=True, adversary=False, n_agents=1
    ),
    "agent (adversarial)": lambda c: dataclasses.replace(
        c, curriculum=False, adversary=True, n_agents=1
    ),
    "agent (multi-agent)": lambda c: dataclasses.replace(
        c, curriculum=False, adversary=False, n_agents=max(c.n_agents, 3)
    ),
}


def baseline_policies(config: TrainConfig, rng_seed: int) -> dict[str, Callable[[], Policy]]:
    """The baselines of :func:`results_table`, as it builds them: name -> factory of a fresh policy.

    Random (seeded with ``rng_seed``), fixed 1x, 5x and 100x, Kelly (when the environment's
    process is a GBM or a Merton jump diffusion, from its drift and volatility) and the
    volatility-adjusted leverage of ledger row E12 (``book/ledger.toml``), all with the
    environment's maintenance rate (and its ``dt`` and ``max_leverage`` where they apply).

    Examples
    --------
    >>> list(baseline_policies(TrainConfig(), 0))
    ['random', 'fixed 1x', 'fixed 5x', 'fixed 100x', 'Kelly', 'L* (E12)']
    >>> baseline_policies(TrainConfig(), 0)["fixed 5x"]().leverage
    5.0
    """
    env = config.env
    m = env.maintenance_rate
    out: dict[str, Callable[[], Policy]] = {
        "random": lambda: RandomPolicy(np.random.default_rng(rng_seed)),
        "fixed 1x": lambda: FixedLeverage(1.0, maintenance_rate=m),
        "fixed 5x": lambda: FixedLeverage(5.0, maintenance_rate=m),
        "fixed 100x": lambda: FixedLeverage(100.0, maintenance_rate=m),
    }
    if isinstance(env.process, GBM | MertonJumpDiffusion):
        proc = env.process
        out["Kelly"] = lambda: KellyLeverage(
            proc.mu, proc.sigma, max_leverage=env.max_leverage, maintenance_rate=m
        )
    out["L* (E12)"] = lambda: VolatilityAdjustedLeverage(
        dt=env.dt, max_leverage=env.max_leverage, maintenance_rate=m
    )
    return out


def _row(name: str, training: str, attack: bool, metrics: Metrics) -> dict[str, Any]:
    return {
        "policy": name,
        "training": training,
        "attack": attack,
        "log_growth": metrics.log_growth,
        "p_liquidation": metrics.liquidation_probability,
        "drawdown_p95": metrics.drawdown_p95,
        "value": metrics.value,
        "n_policies": metrics.n_policies,
        "n_episodes": metrics.n_episodes,
    }


def results_table(
    config: TrainConfig,
    *,
    train_seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_eval: int = 200,
    variants: Sequence[str] = ("agent", "agent (curriculum)", "agent (adversarial)"),
    attack_budget: float | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train every agent variant on each training seed, evaluate it and every baseline on the
    same ``n_eval`` held-out episodes, without and with a liquidation hunter; one row each.

    Parameters
    ----------
    config : TrainConfig
        The base configuration; each variant changes ``curriculum``, ``adversary``, ``n_agents``.
    train_seeds : sequence of int, default (0, 1, 2, 3, 4)
        At least 5 training seeds.
    n_eval : int, default 200
        Held-out evaluation episodes (:func:`held_out_seeds`), >= 2.
    variants : sequence of str
        Among ``"agent"``, ``"agent (curriculum)"``, ``"agent (adversarial)"``,
        ``"agent (multi-agent)"`` (its first agent is evaluated alone).
    attack_budget : float, optional
        Budget of the evaluation attacker; default ``config.adversary_budget``.
    progress : bool, default True
        Progress bars of the training runs.

    Returns
    -------
    list of dict
        Keys ``policy``, ``training`` (``"-"`` for baselines), ``attack``, ``log_growth``,
        ``p_liquidation``, ``drawdown_p95``, ``value`` (each an :class:`Estimate`),
        ``n_policies``, ``n_episodes``. See :func:`format_table`.
    """
    seeds = [int(s) for s in train_seeds]
    if len(seeds) < 5 or len(set(seeds)) != len(seeds):
        raise ValueError(f"train_seeds must hold at least 5 distinct seeds, got {seeds!r}")
    unknown = [v for v in variants if v not in _VARIANTS]
    if unknown:
        raise ValueError(f"variants must be among {sorted(_VARIANTS)}, got {unknown!r}")
    budget = config.adversary_budget if attack_budget is None else attack_budget
    hunter = LiquidationHunter(budget=float(positive("attack_budget", budget)))
    eval_seeds = held_out_seeds(positive_int("n_eval", n_eval))
    env = config.env
    rows: list[dict[str, Any]] = []
    attacks: tuple[tuple[bool, LiquidationHunter | None], ...] = ((False, None), (True, hunter))
    for variant in variants:
        cfg = _VARIANTS[variant](config)
        policies = [train(cfg, s, progress=progress).policy for s in seeds]
        for attacked, adv in attacks:
            outs = [
                evaluate(p, env, eval_seeds, gamma=cfg.gamma, adversary=adv).outcomes
                for p in policies
            ]
            rows.append(_row(variant, _describe(cfg), attacked, summarise(outs)))
    for name, make in baseline_policies(config, seeds[0]).items():
        for attacked, adv in attacks:
            ev = evaluate(make(), env, eval_seeds, gamma=config.gamma, adversary=adv)
            rows.append(_row(name, "-", attacked, ev.metrics))
    return rows


def _describe(cfg: TrainConfig) -> str:
    parts = [f"ES {cfg.iterations}x{cfg.population}x{cfg.episodes}"]
    if cfg.curriculum:
        parts.append(f"cap {cfg.curriculum_start:g}->{cfg.env.max_leverage:g}")
    if cfg.adversary:
        parts.append(f"hunter {cfg.adversary_budget:g}")
    if cfg.n_agents > 1:
        parts.append(f"{cfg.n_agents} agents")
    return ", ".join(parts)


def format_table(rows: Sequence[dict[str, Any]], digits: int = 3) -> str:
    """The rows of :func:`results_table` as a Markdown table (value [lower, upper]).

    Examples
    --------
    >>> e = Estimate(0.1, 0.0, 0.2)
    >>> row = {"policy": "fixed 1x", "training": "-", "attack": False, "log_growth": e,
    ...        "p_liquidation": e, "drawdown_p95": e, "value": e}
    >>> print(format_table([row], digits=1).splitlines()[2])
    | fixed 1x | - | no | 0.1 [0.0, 0.2] | 0.1 [0.0, 0.2] | 0.1 [0.0, 0.2] | 0.1 [0.0, 0.2] |
    """
    keys = ("log_growth", "p_liquidation", "drawdown_p95", "value")
    head = "| policy | training | attack | mean log growth | P(liquidation) | p95 drawdown | V^pi |"
    lines = [head, "|" + "---|" * 7]
    for r in rows:
        cells = [
            f"{r[k].value:.{digits}f} [{r[k].lower:.{digits}f}, {r[k].upper:.{digits}f}]"
            for k in keys
        ]
        attack = "yes" if r["attack"] else "no"
        lines.append(f"| {r['policy']} | {r['training']} | {attack} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

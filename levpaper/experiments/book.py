"""The book's experiments: the heavy runs of chapters 3 and 5, declared once, here.

Each is an :class:`~levpaper.experiments.Experiment`. Chapter 5's market experiments run on one
market, :func:`ch5_market`, with :data:`CH5_RUNS` (1000) paired runs a cell (issue 14): enough for
a 99th percentile from the ten largest runs and a paired bootstrap interval on every ratio
(:func:`levpaper.stats.paired_summary`). The chapter 3 experiments keep the sizes their pages
used when they ran their own loops.

Chapter 5 (seed 20260500, ``seeding="spawn"``: run ``k`` of every arm has the seed
``SeedSequence(20260500).spawn(n)[k]``, as :func:`levpaper.market.run_many`):

* ``ch5_stress_table`` (sections 5.1 and 5.3): the six scenarios of
  :func:`levpaper.market.standard_scenarios` x the five controls of
  :func:`levpaper.market.standard_controls` (30 000 runs);
* ``ch5_dynamic_maintenance`` (5.1): the dynamic maintenance rate (E17) at the second
  sensitivity of :data:`CH5_ETAS` in three scenarios (no control and ``eta = 0.5`` are cells of
  the stress table: same market, same seeds);
* ``ch5_breaker_sweep`` (5.3): the circuit breaker (E19) at the thresholds of
  :data:`CH5_BREAKER_THETAS` in three scenarios (no control and ``theta = 2`` are in the stress
  table);
* ``ch5_entropy`` (5.2): the jump crash at pool correlation 0.9 and 0 x three target
  entropies of the exposure (E18), 8 runs a cell on its own four-pool market;
* ``ch5_mechanics`` (5.4): the uncontrolled market of the stress table in the baseline and
  the jump crash with one venue mechanic changed a cell: liquidation checks
  :data:`CH5_MONITOR_SUBSTEPS` times a step, the barrier tested within the step, the
  open-interest caps of :data:`CH5_OI_CAPS`, arbitrage between liquidations (the hourly arm
  is the stress table's);
* ``ch5_venue`` (5.4): the controls of the stress table but the entropy arm, in the three
  scenarios of section 5.1, at a venue's defaults (:func:`ch5_venue_market`).

Chapter 3 (seed 20260300, ``seeding="offset"``: training seed ``20260300 + k``):

* ``ch3_lstar_agent`` (section 3.2): the default ES learner, evaluated on the page's 400
  held-out episodes;
* ``ch3_default`` (3.3): the default learner with and without the curriculum;
* ``ch3_schemes`` (3.3): the learner starting at 20x in the drift market, plain, with the
  curriculum and adversarial, each evaluated calm and under the liquidation hunter;
* ``ch3_shared_pool`` (3.3): one learner alone and three learners sharing a thin pool.

Section 4.4 (seed 20260400, real prices: the bundled BTC/USD candles,
:func:`levpaper.data.load_btc_usd_hourly`):

* ``ch4_real_market`` (4.4, the market of 4.3): one week on bootstrapped real prices of
  2018-2022 against GBM paths at the history's volatility, paired (run ``k`` of both arms has
  the same traders);
* ``ch4_real_stress`` (4.4, the stress table's baseline cell): likewise, 1000 paired runs, for
  the 95th percentile of bad debt;
* ``ch4_real_backtest`` (4.4, the held-out backtest): the ES learner trained on
  block-bootstrapped 2018-2020 prices and evaluated on every week of 2021-2022.

* ``ch3_oracle`` (3.2): the oracle of :mod:`levpaper.oracle` and the baselines (Kelly,
  :math:`L^*`, fixed leverage) in the regime-switching and drifting GARCH markets, and the
  oracle in the vector environment, 10 seeds of 400 paths of a week (:func:`oracle_run`).

The run functions :func:`market_run`, :func:`train_run`, :func:`oracle_run`,
:func:`real_market_run` and :func:`real_backtest_run` are pure functions of
``(config, cell, seed)``; :func:`market_summary`, :func:`train_results` and
:func:`eval_outcomes` turn the table of :func:`levpaper.experiments.load` back into what the
pages computed before.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from levpaper import oracle as orc
from levpaper._validate import FloatArray
from levpaper.agents import FixedLeverage, Policy
from levpaper.env import (
    LeveragedSwapConfig,
    LiquidationHunter,
    MarketView,
    ReplayPrices,
    market_config,
)
from levpaper.experiments.core import Experiment, grid
from levpaper.market import (
    BASELINE,
    Control,
    MarketConfig,
    RunResult,
    run_scenario,
    standard_controls,
    standard_scenarios,
)
from levpaper.processes import GBM
from levpaper.risk import p95_bad_debt, p95_liquidation_volume
from levpaper.shared_env import SharedPoolEnv
from levpaper.training import (
    Outcomes,
    TrainConfig,
    TrainResult,
    evaluate,
    held_out_seeds,
    train,
)

if TYPE_CHECKING:
    import pandas as pd

CH3_SEED = 20260300
RL_SEED = 20260316
#: The strong-drift market of the training-scheme experiments, with Kelly leverage
#: mu/sigma^2 = 16x, so a 5x cap binds and leverage pays.
STRONG_DRIFT = GBM(mu=1.0, sigma=0.25)
CH5_SEED = 20260500
#: The fields of a market run's record (those :func:`levpaper.market.run_many` collects).
MARKET_FIELDS = (
    "bad_debt",
    "liquidation_volume",
    "liquidations",
    "max_cascade",
    "cascade_total",
    "pause_steps",
    "false_pauses",
    "mean_log_growth",
)
_OUTCOME_FIELDS = ("log_growth", "liquidated", "max_drawdown", "discounted_return")


# --- run functions ---------------------------------------------------------------------------


def market_run(config: Mapping[str, Any], cell: Mapping[str, Any], seed: Any) -> dict[str, Any]:
    """One market run (:func:`levpaper.market.run_scenario`) and its summary numbers.

    ``config["market"]`` is the :class:`~levpaper.market.MarketConfig`; the scenario and the
    control come from the cell (keys ``scenario``, ``control``) or else from the config (default
    the baseline, no control); every other cell key that is not None replaces that field of
    the market configuration (e.g. ``breaker_theta``, ``correlation``).

    Returns
    -------
    dict
        The per-run numbers of :func:`levpaper.market.run_many`: ``bad_debt``,
        ``liquidation_volume``, ``liquidations``, ``max_cascade``, ``cascade_total``,
        ``pause_steps``, ``false_pauses``, ``mean_log_growth``.

    Examples
    --------
    >>> cfg = {"market": MarketConfig(n_traders=50, n_steps=20)}
    >>> rec = market_run(cfg, {"control": Control("none")}, np.random.SeedSequence(0))
    >>> tuple(rec) == MARKET_FIELDS
    True
    """
    market = config["market"]
    scenario = cell.get("scenario", config.get("scenario", BASELINE))
    control = cell.get("control", config.get("control"))
    overrides = {
        k: v for k, v in cell.items() if k not in ("scenario", "control") and v is not None
    }
    if overrides:
        market = dataclasses.replace(market, **overrides)
    return _market_record(run_scenario(market, scenario, control, seed))


def _market_record(r: RunResult) -> dict[str, Any]:
    return {
        "bad_debt": float(r.bad_debt),
        "liquidation_volume": float(r.liquidation_volume),
        "liquidations": int(r.n_liquidations),
        "max_cascade": int(r.max_cascade),
        "cascade_total": int(r.cascade.sum()),
        "pause_steps": int(r.paused.sum()),
        "false_pauses": int(r.false_pauses),
        "mean_log_growth": float(r.mean_log_growth),
    }


def train_run(config: Mapping[str, Any], cell: Mapping[str, Any], seed: Any) -> dict[str, Any]:
    """One training run (:func:`levpaper.training.train`) and its held-out evaluation.

    The training configuration is ``config["train"]`` with every cell key but ``arm`` replaced
    (e.g. ``curriculum=True``). For each condition in ``config["evaluate"]`` (``"calm"``, or
    ``"attack"``: against a :class:`~levpaper.env.LiquidationHunter` with the configuration's
    budget) the first agent's policy is evaluated on ``config["eval_episodes"]`` held-out
    episodes from ``config["eval_start"]`` with the configuration's discount.

    Returns
    -------
    dict
        ``weights`` and ``initial_weights`` of shape (n_agents, 2, F), ``history`` of shape
        (iterations, n_agents), and per condition ``<condition>_log_growth``,
        ``_liquidated``, ``_max_drawdown``, ``_discounted_return`` (one entry per episode).

    Examples
    --------
    >>> tiny = TrainConfig(iterations=2, population=2, episodes=2,
    ...                    env=LeveragedSwapConfig(action_mode="box", horizon=8))
    >>> cfg = {"train": tiny, "evaluate": ["calm"], "eval_episodes": 3, "eval_start": 0}
    >>> rec = train_run(cfg, {"arm": "none"}, 5)
    >>> rec["weights"].shape[:2], rec["history"].shape, rec["calm_log_growth"].shape
    ((1, 2), (2, 1), (3,))
    """
    base: TrainConfig = config["train"]
    overrides = {k: v for k, v in cell.items() if k != "arm"}
    cfg = dataclasses.replace(base, **overrides) if overrides else base
    res = train(cfg, int(seed), progress=False)
    rec: dict[str, Any] = {
        "weights": np.stack([p.weights for p in res.policies]),
        "initial_weights": np.stack([p.weights for p in res.initial_policies]),
        "history": res.history,
    }
    conditions = config.get("evaluate", ())
    if conditions:
        seeds = held_out_seeds(int(config["eval_episodes"]), start=int(config["eval_start"]))
        for cond in conditions:
            if cond not in ("calm", "attack"):
                raise ValueError(f"evaluate conditions must be 'calm' or 'attack', got {cond!r}")
            adv = LiquidationHunter(budget=cfg.adversary_budget) if cond == "attack" else None
            out = evaluate(res.policy, cfg.env, seeds, gamma=cfg.gamma, adversary=adv).outcomes
            for f in _OUTCOME_FIELDS:
                rec[f"{cond}_{f}"] = getattr(out, f)
    return rec


def rl_env(market: str, **overrides: Any) -> LeveragedSwapConfig:
    """The environment of the ``rl_*`` experiments: ``market`` (a name of
    :func:`levpaper.env.market_config`, or ``"strong_drift"``: :data:`STRONG_DRIFT`) with box
    actions, one week of hourly steps, the log-wealth reward and the whole capital as margin
    (so that account and wealth leverage coincide, as in :mod:`levpaper.oracle`), unless
    ``overrides`` say otherwise.

    Examples
    --------
    >>> cfg = rl_env("regimes")
    >>> cfg.reward, cfg.horizon, cfg.initial_margin_fraction
    ('log_wealth', 168, 1.0)
    """
    kw: dict[str, Any] = {"action_mode": "box", "horizon": 168, "reward": "log_wealth",
                          "initial_margin_fraction": 1.0, **overrides}  # fmt: skip
    if market == "strong_drift":
        return LeveragedSwapConfig(process=STRONG_DRIFT, **kw)
    return market_config(market, **kw)


def replay_windows(env: LeveragedSwapConfig) -> list[LeveragedSwapConfig]:
    """The consecutive, non-overlapping windows of ``env.horizon`` steps of a replayed series,
    one configuration each (a :class:`~levpaper.env.ReplayPrices` replays its series from the
    start in every copy, so a held-out evaluation on real prices is one episode per window).

    Examples
    --------
    >>> env = rl_env("replay_holdout")
    >>> wins = replay_windows(env)
    >>> len(wins) == env.process.ratios.size // 168, wins[0].process.ratios.size
    (True, 168)
    """
    proc = env.process
    if not isinstance(proc, ReplayPrices):
        raise ValueError(f"env.process must be a ReplayPrices, got {proc!r}")
    h = env.horizon
    out = []
    for w in range(proc.ratios.size // h):
        prices = np.concatenate([[1.0], np.cumprod(proc.ratios[w * h : (w + 1) * h])])
        out.append(dataclasses.replace(env, process=ReplayPrices(prices, dt=env.dt)))
    return out


@dataclasses.dataclass(eq=False)
class MeteredHunter:
    """A :class:`~levpaper.env.LiquidationHunter` that adds up the B notional it trades
    (``volume``, summed over the copies and steps it is called on) and counts its calls."""

    hunter: LiquidationHunter
    volume: float = 0.0
    calls: int = 0

    def __call__(self, view: MarketView) -> Any:
        order = self.hunter(view)
        self.volume += float(np.abs(order).sum())
        self.calls += int(np.size(np.asarray(view.position)))
        return order


def _evaluate_into(
    rec: dict[str, Any], prefix: str, policy: Policy, env: LeveragedSwapConfig,
    seeds: list[int], gamma: float, budget: float | None, stride: int = 1,
) -> None:  # fmt: skip
    meter = None if budget is None else MeteredHunter(LiquidationHunter(budget=budget))
    cfg = env if meter is None else dataclasses.replace(env, adversary=meter)
    if isinstance(env.process, ReplayPrices):  # one episode per window of the series
        outs = [
            evaluate(policy, w, seeds[:2], gamma=gamma).outcomes
            for w in replay_windows(cfg)[::stride]
        ]
        out = Outcomes(
            *(np.array([getattr(o, f)[0] for o in outs]) for f in (*_OUTCOME_FIELDS,
                                                                   "mean_leverage"))
        )  # fmt: skip
    else:
        out = evaluate(policy, cfg, seeds, gamma=gamma).outcomes
    rec[f"{prefix}_log_growth"] = out.log_growth
    rec[f"{prefix}_liquidated"] = out.liquidated
    rec[f"{prefix}_mean_leverage"] = out.mean_leverage
    if meter is not None:
        rec[f"{prefix}_hunter_volume"] = meter.volume / max(meter.calls, 1)


def rl_run(config: Mapping[str, Any], cell: Mapping[str, Any], seed: Any) -> dict[str, Any]:
    """One ES training run on a market of :func:`rl_env` and its held-out evaluations.

    The cell names the ``market`` and optionally the ``reward`` (default ``"log_wealth"``);
    every other key but ``arm`` replaces that field of ``config["train"]`` (``policy``,
    ``curriculum``, ``adversary``, ...). The trained policy is evaluated on
    ``config["eval_episodes"]`` held-out episodes from ``config["eval_start"]`` in each market of
    ``config["eval_markets"]`` (in-regime: the training market; out-of-regime: the others; a
    replayed market once per window of :func:`replay_windows`, every
    ``config.get("replay_stride", 1)``-th window), with the log-wealth reward; with
    ``config["attack"]`` also under a metered liquidation hunter of the training budget, and
    with ``config["fixed_control"]`` a
    :class:`~levpaper.agents.FixedLeverage` long at the agent's mean leverage in the training
    market (calm) is evaluated on the same episodes, calm and under attack.

    Returns
    -------
    dict
        ``weights`` (flat), ``history`` (iterations,), ``steps_per_iteration``, ``caps``, and
        per evaluation ``<market>[_attack|_fixed|_fixed_attack]_log_growth``, ``_liquidated``,
        ``_mean_leverage`` (one entry per episode) and, under attack, ``_hunter_volume`` (mean
        B traded by the hunter per copy and step).

    Examples
    --------
    >>> tiny = TrainConfig(iterations=2, population=2, episodes=2, init_std=0.1)
    >>> cfg = {"train": tiny, "env": {"horizon": 8}, "eval_markets": ["regimes"],
    ...        "eval_episodes": 3, "eval_start": 0}
    >>> rec = rl_run(cfg, {"arm": "mlp", "market": "regimes", "policy": "mlp"}, 5)
    >>> rec["weights"].shape, rec["history"].shape, rec["regimes_log_growth"].shape
    ((194,), (2,), (3,))
    """
    market = str(cell["market"])
    reward = str(cell.get("reward", "log_wealth"))
    env_over = dict(config.get("env", {}))
    overrides = {k: v for k, v in cell.items() if k not in ("arm", "market", "reward")}
    env = rl_env(market, reward=reward, **env_over)
    cfg = dataclasses.replace(config["train"], env=env, **overrides)
    res = train(cfg, int(seed), progress=False)
    rec: dict[str, Any] = {
        "weights": np.asarray(res.policy.weights).ravel(),
        "history": res.history[:, 0],
        "caps": res.caps,
        "steps_per_iteration": float(cfg.population * cfg.episodes * env.horizon),
    }
    seeds = held_out_seeds(int(config["eval_episodes"]), start=int(config["eval_start"]))
    budget = cfg.adversary_budget if config.get("attack") else None
    for m in config["eval_markets"]:
        # evaluation always scores log wealth; the training reward is the cell's
        env_m = rl_env(str(m), **env_over)
        stride = int(config.get("replay_stride", 1))
        _evaluate_into(rec, str(m), res.policy, env_m, seeds, cfg.gamma, None, stride)
        if budget is not None and m == market:
            _evaluate_into(rec, f"{m}_attack", res.policy, env_m, seeds, cfg.gamma, budget)
    if config.get("fixed_control"):
        env_m = rl_env(market, **env_over)
        lev = max(float(np.mean(rec[f"{market}_mean_leverage"])), 1e-3)
        fixed = FixedLeverage(lev, maintenance_rate=env.maintenance_rate, band=cfg.band)
        rec["fixed_leverage"] = lev
        _evaluate_into(rec, f"{market}_fixed", fixed, env_m, seeds, cfg.gamma, None)
        if budget is not None:
            _evaluate_into(rec, f"{market}_fixed_attack", fixed, env_m, seeds, cfg.gamma, budget)
    return rec


def pool_outcomes(
    policies: Sequence[Policy], env: LeveragedSwapConfig, seeds: Sequence[int]
) -> dict[str, Any]:
    """Run ``K`` policies as the accounts of one pool per seed
    (:class:`~levpaper.shared_env.SharedPoolEnv`) and measure the pool.

    Returns
    -------
    dict
        ``log_growth`` (E, K), ``liquidated`` (E, K), ``n_liquidated`` (E,): accounts liquidated
        in the episode; ``joint_liquidations`` (E,): the largest number of accounts liquidated in
        one step; ``max_impact`` and ``mean_impact`` (E,): the largest and the mean
        :math:`|P_\text{pool}/P_\text{ext} - 1|` after the steps.

    Examples
    --------
    >>> env = rl_env("strong_drift", horizon=12)
    >>> out = pool_outcomes([FixedLeverage(50.0), FixedLeverage(5.0)], env, held_out_seeds(3))
    >>> out["log_growth"].shape, out["joint_liquidations"].shape
    ((3, 2), (3,))
    """
    pols = list(policies)
    seed_list = [int(s) for s in seeds]
    envs = SharedPoolEnv(len(seed_list), len(pols), env)
    obs, info = envs.reset(seed=list[int | None](seed_list))
    c0 = float(env.initial_capital)
    wealth = np.array(info["wealth"], dtype=np.float64)
    liq = np.zeros(wealth.shape, dtype=np.bool_)
    joint = np.zeros(len(seed_list), dtype=np.int64)
    max_imp = np.zeros(len(seed_list))
    sum_imp = np.zeros(len(seed_list))
    steps = 0
    for _ in range(env.horizon):
        alive = envs.active.copy()
        act = np.stack([p.act(obs[:, k]) for k, p in enumerate(pols)], axis=1)
        obs, _, _, _, info = envs.step(act)
        wealth = np.where(alive, info["wealth"], wealth)
        now = alive & np.asarray(info["liquidated"], dtype=np.bool_)
        liq |= now
        joint = np.maximum(joint, now.sum(axis=1))
        imp = np.abs(np.asarray(info["pool_price"]) / np.asarray(info["external_price"]) - 1.0)
        np.maximum(max_imp, imp, out=max_imp)
        sum_imp += imp
        steps += 1
        if not envs.active.any():
            break
    return {
        "log_growth": np.log(np.maximum(wealth, 1e-6 * c0) / c0),
        "liquidated": liq,
        "n_liquidated": liq.sum(axis=1),
        "joint_liquidations": joint,
        "max_impact": max_imp,
        "mean_impact": sum_imp / max(steps, 1),
    }


def rl_pool_run(config: Mapping[str, Any], cell: Mapping[str, Any], seed: Any) -> dict[str, Any]:
    """``K = config["n_agents"]`` learners trained together in one pool (``arm="together"``)
    or each alone (``arm="alone"``: ``K`` single-agent runs with seeds ``seed * K + k``), then
    the ``K`` policies evaluated together in one pool (:func:`pool_outcomes`) on
    ``config["eval_episodes"]`` held-out markets of ``config["market"]`` (:func:`rl_env` with
    ``config["env"]``).

    Examples
    --------
    >>> tiny = TrainConfig(iterations=1, population=2, episodes=2)
    >>> cfg = {"train": tiny, "market": "strong_drift", "env": {"horizon": 6}, "n_agents": 2,
    ...        "eval_episodes": 3, "eval_start": 0}
    >>> rl_pool_run(cfg, {"arm": "alone"}, 1)["n_liquidated"].shape
    (3,)
    """
    k = int(config["n_agents"])
    env = rl_env(str(config["market"]), **dict(config.get("env", {})))
    base = dataclasses.replace(config["train"], env=env)
    if cell["arm"] == "together":
        policies = list(train(dataclasses.replace(base, n_agents=k), int(seed),
                              progress=False).policies)  # fmt: skip
    elif cell["arm"] == "alone":
        policies = [train(base, int(seed) * k + i, progress=False).policy for i in range(k)]
    else:
        raise ValueError(f"arm must be 'together' or 'alone', got {cell['arm']!r}")
    seeds = held_out_seeds(int(config["eval_episodes"]), start=int(config["eval_start"]))
    rec = pool_outcomes(policies, env, seeds)
    rec["weights"] = np.stack([np.asarray(p.weights).ravel() for p in policies])
    return rec


@functools.lru_cache(maxsize=4)
def _closes(first: int, last: int) -> FloatArray:
    """The hourly closes of the bundled candles in the years ``first`` to ``last`` (read once
    per process; read-only)."""
    from levpaper.data import load_btc_usd_hourly

    close = load_btc_usd_hourly().years(first, last).close
    close.flags.writeable = False
    return close


def _history(config: Mapping[str, Any]) -> FloatArray:
    """The closes of the years ``config["years"]`` (inclusive)."""
    first, last = config["years"]
    return _closes(int(first), int(last))


def real_market_run(
    config: Mapping[str, Any], cell: Mapping[str, Any], seed: Any
) -> dict[str, Any]:
    """One market run on real or GBM external prices at the volatility of a real history.

    ``config["market"]`` is the :class:`~levpaper.market.MarketConfig`; its ``sigma`` is
    replaced by the annualised volatility of the hourly closes of ``config["years"]``. Cell
    ``prices="bootstrap"``: the external prices are one path of a
    :class:`~levpaper.replay.BlockBootstrap` of that history with blocks of
    ``config["block"]`` hours (drawn from the first child of ``seed``), the same in every pool,
    passed to :func:`levpaper.market.run_scenario` as ``paths``; ``prices="gbm"``: the
    market's own GBM paths. The traders come from ``seed`` in both, so the two arms are paired.

    Returns
    -------
    dict
        The record of :func:`market_run`.

    Examples
    --------
    >>> cfg = {"market": MarketConfig(n_traders=50, n_steps=24), "years": [2021, 2021],
    ...        "block": 24}
    >>> a = real_market_run(cfg, {"prices": "bootstrap"}, np.random.SeedSequence(0))
    >>> b = real_market_run(cfg, {"prices": "gbm"}, np.random.SeedSequence(0))
    >>> tuple(a) == MARKET_FIELDS == tuple(b)
    True
    """
    from levpaper.replay import BlockBootstrap

    boot = BlockBootstrap(_history(config), block=int(config["block"]))
    market = dataclasses.replace(config["market"], sigma=boot.annual_volatility)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    prices = cell["prices"]
    if prices == "bootstrap":
        paths = boot.market_paths(market, np.random.default_rng(ss.spawn(1)[0]))
    elif prices == "gbm":
        paths = None
    else:
        raise ValueError(f"cell prices must be 'bootstrap' or 'gbm', got {prices!r}")
    return _market_record(run_scenario(market, BASELINE, None, ss, paths=paths))


def real_backtest_run(
    config: Mapping[str, Any], cell: Mapping[str, Any], seed: Any
) -> dict[str, Any]:
    """Train the ES learner on bootstrapped real prices, backtest it on held-out weeks.

    The training environment is ``config["train"].env`` with the external price one
    :class:`~levpaper.replay.BlockBootstrap` path (blocks of ``config["block"]`` hours) of
    ``config["boot_years"]`` years of hours drawn from the closes of ``config["fit"]``
    (years, inclusive) and replayed with a uniform start per seeded episode
    (:meth:`~levpaper.replay.BlockBootstrap.replay`); :func:`levpaper.training.train` runs
    with the integer ``seed`` (the path is drawn from ``default_rng([seed, 1])``). The trained
    policy is then run by :func:`levpaper.replay.backtest` on every week (``horizon`` hours)
    of the closes of ``config["holdout"]`` (:func:`levpaper.replay.windows`).

    Returns
    -------
    dict
        ``weights`` (2, F), ``history`` (iterations,), and per held-out week ``log_growth``,
        ``liquidated``, ``max_drawdown``, ``discounted_return``.

    Examples
    --------
    >>> tiny = TrainConfig(iterations=2, population=2, episodes=2,
    ...                    env=LeveragedSwapConfig(action_mode="box", horizon=24))
    >>> cfg = {"train": tiny, "fit": [2020, 2020], "holdout": [2021, 2021], "block": 24,
    ...        "boot_years": 1}
    >>> rec = real_backtest_run(cfg, {"arm": "agent"}, 3)
    >>> rec["weights"].shape[0], rec["log_growth"].shape
    (2, (364,))
    """
    from levpaper.processes import HOURS_PER_YEAR
    from levpaper.replay import BlockBootstrap, backtest, windows

    base: TrainConfig = config["train"]
    env = base.env
    boot = BlockBootstrap(_history({"years": config["fit"]}), block=int(config["block"]))
    n_steps = int(config["boot_years"]) * HOURS_PER_YEAR
    replay = boot.replay(n_steps, np.random.default_rng([int(seed), 1]), horizon=env.horizon)
    cfg = dataclasses.replace(base, env=dataclasses.replace(env, process=replay))
    res = train(cfg, int(seed), progress=False)
    weeks = windows(_history({"years": config["holdout"]}), env.horizon, s0=env.initial_price)
    out = backtest(res.policy, env, weeks, gamma=cfg.gamma)
    rec: dict[str, Any] = {"weights": res.policies[0].weights, "history": res.history[:, 0]}
    for f in _OUTCOME_FIELDS:
        rec[f] = getattr(out, f)
    return rec


ORACLE_POLICIES = (
    "oracle", "oracle_env", "kelly_band", "lstar_0.01_band", "lstar_0.02", "lstar_0.02_band",
    "fixed_1_band",
)  # fmt: skip
r"""The arms of ``ch3_oracle``: ``oracle_env`` is the oracle run in the vector environment,
``_band`` a no-trade band of 20%, ``lstar_K`` the paper's :math:`L^*` with :math:`\kappa = K`."""


def oracle_policy(name: str, problem: orc.DecisionProblem, sol: orc.OracleSolution) -> Any:
    """The policy of an arm of ``ch3_oracle`` (see :data:`ORACLE_POLICIES`)."""
    band = 0.2 if name.endswith("_band") else 0.0
    core = name.removesuffix("_band")
    if core.startswith("oracle"):
        return orc.OraclePolicy(sol)
    if core == "kelly":
        return orc.KellyRule(problem.mu, cap=problem.cap, band=band)
    if core.startswith("lstar_"):
        return orc.PaperRule(float(core[6:]), dt=problem.dt, cap=problem.cap, band=band)
    if core.startswith("fixed_"):
        return orc.ConstantLeverage(float(core[6:]), band=band)
    raise ValueError(f"policy must be one of {ORACLE_POLICIES}, got {name!r}")


def oracle_run(config: Mapping[str, Any], cell: Mapping[str, Any], seed: Any) -> dict[str, Any]:
    r"""One arm of ``ch3_oracle`` on ``n_paths`` paths of ``horizon`` hours.

    The market is :func:`levpaper.env.market_config` ``(cell["market"])`` with the whole capital
    as margin; the decision problem is :meth:`levpaper.oracle.DecisionProblem.from_config` with
    the grid ``leverage_grid(grid_cap, grid_step)`` and solved over the horizon. The arm runs in
    the problem's continuous model (:func:`levpaper.oracle.simulate_policy`, exact returns; the
    generator seeded ``seed``, so every arm of a seed sees the same prices) or, for
    ``oracle_env``, in the vector environment (:func:`levpaper.oracle.simulate_in_env`).

    Returns
    -------
    dict
        ``log_growth`` (mean over the paths of :math:`\ln(W_T/W_0)`), ``cv_log_growth`` (the
        same with the price's log returns as control variates: per regime for regime switching,
        summed for GARCH), their standard errors ``se`` and ``cv_se``, ``liquidation_rate``, and
        ``dp_value`` (the DP's value from flat, stationary start).
    """
    from levpaper.evaluation import control_variate_mean

    horizon = int(config["horizon"])
    cfg = market_config(cell["market"], initial_margin_fraction=1.0, horizon=horizon)
    grid = orc.leverage_grid(float(config["grid_cap"]), float(config["grid_step"]))
    problem = orc.DecisionProblem.from_config(cfg, grid=grid, n_buckets=int(config["n_buckets"]))
    sol = orc.solve_finite_horizon(problem, horizon)
    policy = oracle_policy(cell["policy"], problem, sol)
    n = int(config["n_paths"])
    if cell["policy"] == "oracle_env":
        ev = orc.simulate_in_env(cfg, policy, n, seed=int(seed), problem=problem)
    else:
        ev = orc.simulate_policy(
            problem, policy, n, horizon, np.random.default_rng(int(seed)), continuous=True
        )
    garch = problem.garch_variances is not None
    controls = ev.price_log_return.sum(axis=1) if garch else ev.price_log_return
    means = problem.price_log_return_mean(horizon, by_state=not garch)
    cv = control_variate_mean(ev.log_growth, controls, means)
    return {
        "log_growth": ev.mean,
        "se": ev.se,
        "cv_log_growth": cv.estimate,
        "cv_se": (cv.high - cv.estimate) / 1.959963984540054,
        "liquidation_rate": ev.liquidation_rate,
        "dp_value": sol.start_value,
    }


# --- reading the tables back -----------------------------------------------------------------


def market_summary(table: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per group of ``by`` (in order of appearance), the summary of
    :func:`levpaper.market.run_many`: ``p95_bad_debt``, ``p95_liquidation_volume`` and
    ``mean_<field>`` of every field of :data:`MARKET_FIELDS`, over the group's runs in replicate
    order (the same numbers, bit for bit, as ``run_many`` on the same runs).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"arm": ["a", "a", "b", "b"], "replicate": [0, 1, 0, 1],
    ...                   **{f: [1.0, 3.0, 0.0, 2.0] for f in MARKET_FIELDS}})
    >>> market_summary(t, ["arm"])["mean_bad_debt"].tolist()
    [2.0, 1.0]
    """
    import pandas as pd

    rows = []
    for key, sub in table.groupby(list(by), sort=False, dropna=False):
        sub = sub.sort_values("replicate")
        cols = {f: sub[f].to_numpy(dtype=np.float64) for f in MARKET_FIELDS}
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        row["p95_bad_debt"] = p95_bad_debt(cols["bad_debt"]).value
        row["p95_liquidation_volume"] = p95_liquidation_volume(cols["liquidation_volume"]).value
        for f, col in cols.items():
            row[f"mean_{f}"] = float(col.mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index(list(by))


def _arms(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {str(arm): sub.sort_values("replicate") for arm, sub in table.groupby("arm", sort=False)}


def train_results(table: pd.DataFrame, base: TrainConfig) -> dict[str, list[TrainResult]]:
    """The :class:`~levpaper.training.TrainResult` of every run of a training experiment,
    per arm in seed order, rebuilt from the stored weights and histories (``caps`` recomputed
    from the configuration). ``base`` is the experiment's ``config["train"]``; each arm's
    configuration is ``base`` with the cell's overrides, read from the table's columns."""
    from levpaper.training import curriculum_cap

    out: dict[str, list[TrainResult]] = {}
    skip = {"run", "cell", "replicate", "seed", "arm", "weights", "initial_weights", "history"}
    for arm, sub in _arms(table).items():
        results = []
        for _, row in sub.iterrows():
            overrides = {
                k: _py(row[k]) for k in sub.columns if k not in skip and k in _train_fields()
            }
            cfg = dataclasses.replace(base, **overrides)
            results.append(
                TrainResult(
                    config=cfg,
                    seed=int(row["seed"]),
                    policies=tuple(cfg.make_policy(w) for w in row["weights"]),
                    initial_policies=tuple(cfg.make_policy(w) for w in row["initial_weights"]),
                    history=np.asarray(row["history"]),
                    caps=np.array([curriculum_cap(cfg, i) for i in range(cfg.iterations)]),
                )
            )
        out[arm] = results
    return out


def _train_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def eval_outcomes(table: pd.DataFrame, condition: str) -> dict[str, list[Outcomes]]:
    """Per arm in seed order, the stored held-out :class:`~levpaper.training.Outcomes` of
    ``condition`` (``"calm"`` or ``"attack"``)."""
    return {
        arm: [
            Outcomes(**{f: np.asarray(row[f"{condition}_{f}"]) for f in _OUTCOME_FIELDS})
            for _, row in sub.iterrows()
        ]
        for arm, sub in _arms(table).items()
    }


# --- the declarations ------------------------------------------------------------------------

_CH5_SCENARIOS = ("baseline", "vol_spike", "jump_crash")


def _scenarios(n_steps: int, names: Sequence[str]) -> list[Any]:
    by = {s.name: s for s in standard_scenarios(n_steps)}
    return [by[n] for n in names]


#: Runs per cell of the powered experiments of chapter 5 (issue 14), enough for a 99th
#: percentile from the 10 largest runs and a paired bootstrap interval on every ratio.
CH5_RUNS = 1000
#: Breaker thresholds of ``ch5_breaker_sweep`` besides the stress table's 2.
CH5_BREAKER_THETAS = (1.5, 3.0)
#: Sensitivity of the dynamic maintenance rate in ``ch5_dynamic_maintenance`` besides 0.5.
CH5_ETAS = (1.25,)


def ch5_market() -> MarketConfig:
    """The one market of chapter 5's powered experiments (the stress table, the
    dynamic-maintenance comparison and the circuit-breaker sweep): 300 traders over two pools
    of 10 million B a side, 48 hourly steps (two days), traders who do not re-enter after a
    close (``cooldown=None``), :math:`\\eta = 0.5`, breaker threshold 2, conservation checked
    after every step of every run. Sized so that the 30 000 runs of the stress table
    regenerate within 15 minutes on a 2-core machine (``benchmarks/bench_stress.py``).

    Examples
    --------
    >>> cfg = ch5_market()
    >>> cfg.n_pools, cfg.n_traders, cfg.n_steps, cfg.check_conservation
    (2, 300, 48, True)
    """
    return MarketConfig(
        n_traders=300, n_steps=48, n_pools=2, pool_liquidity=10e6, cooldown=None, eta=0.5,
        breaker_theta=2.0, check_conservation=True,
    )  # fmt: skip


def _ch5() -> list[Experiment]:
    st = ch5_market()
    en = MarketConfig(n_traders=400, n_steps=120, n_pools=4, pool_liquidity=5e6, cooldown=None)
    three = _scenarios(st.n_steps, _CH5_SCENARIOS)
    # the arms at the market's own breaker_theta and eta, and the uncontrolled arm, are cells of
    # ch5_stress_table (same market, same seeds): the sweeps hold only the other values
    sweep_cells = grid(
        scenario=three,
        control=[Control("circuit_breaker", circuit_breaker=True)],
        breaker_theta=list(CH5_BREAKER_THETAS),
    )
    dm_cells = grid(
        scenario=three,
        control=[Control("dynamic_maintenance", dynamic_maintenance=True)],
        eta=list(CH5_ETAS),
    )
    entropy_arms = [
        Control("H = 0", entropy=0.0),
        Control("H = 0.7", entropy=0.7),
        Control("H = ln 4", entropy=float(np.log(4))),
    ]
    fn = "levpaper.experiments.book:market_run"
    return [
        Experiment(
            "ch5_dynamic_maintenance", fn, dm_cells, n_seeds=CH5_RUNS, base_seed=CH5_SEED,
            config={"market": st},
            description="section 5.1: dynamic maintenance rate (E17) at a second sensitivity "
                        "eta (no control and eta = 0.5 are in ch5_stress_table)",
        ),
        Experiment(
            "ch5_entropy", fn, grid(correlation=[0.9, 0.0], control=entropy_arms),
            n_seeds=8, base_seed=CH5_SEED,
            config={"market": en, "scenario": standard_scenarios(en.n_steps)[1]},
            description="section 5.2: target exposure entropy (E18) in the jump crash",
        ),
        Experiment(
            "ch5_breaker_sweep", fn, sweep_cells, n_seeds=CH5_RUNS, base_seed=CH5_SEED,
            config={"market": st},
            description="section 5.3: circuit breaker (E19) at two more thresholds (no "
                        "control and theta = 2 are in ch5_stress_table)",
        ),
        Experiment(
            "ch5_stress_table", fn,
            grid(scenario=list(standard_scenarios(st.n_steps)),
                 control=list(standard_controls(st.n_pools))),
            n_seeds=CH5_RUNS, base_seed=CH5_SEED, config={"market": st},
            description="section 5.3: every scenario x every control on two pools",
        ),
    ]  # fmt: skip


def _ch3() -> list[Experiment]:
    drift = LeveragedSwapConfig(action_mode="box", horizon=168, process=GBM(mu=2.0, sigma=0.8))
    small = TrainConfig(iterations=20, population=10, episodes=10)
    base = dataclasses.replace(
        small, env=drift, learning_rate=0.5, noise_std=1.0, init_leverage=20.0
    )
    thin = dataclasses.replace(drift, pool_reserve_a=2000.0, initial_capital=2500.0)
    evals = {"eval_episodes": 400, "eval_start": CH3_SEED}
    fn = "levpaper.experiments.book:train_run"
    return [
        Experiment(
            "ch3_lstar_agent", fn, [{"arm": "agent"}], n_seeds=5, base_seed=CH3_SEED,
            config={"train": TrainConfig(), "evaluate": ["calm"], **evals}, seeding="offset",
            description="section 3.2: the default ES learner, held-out evaluation",
        ),
        Experiment(
            "ch3_default", fn,
            [{"arm": "none", "curriculum": False}, {"arm": "curriculum", "curriculum": True}],
            n_seeds=5, base_seed=CH3_SEED, config={"train": small},
            seeding="offset",
            description="section 3.3: the default learner with and without the curriculum",
        ),
        Experiment(
            "ch3_schemes", fn,
            [{"arm": "none", "curriculum": False, "adversary": False},
             {"arm": "curriculum", "curriculum": True, "adversary": False},
             {"arm": "adversarial", "curriculum": False, "adversary": True}],
            n_seeds=20, base_seed=CH3_SEED,
            config={"train": base, "evaluate": ["calm", "attack"], **evals}, seeding="offset",
            description="section 3.3: curriculum and adversarial training in the drift market",
        ),
        Experiment(
            "ch3_shared_pool", fn,
            [{"arm": "alone", "n_agents": 1}, {"arm": "together", "n_agents": 3}],
            n_seeds=10, base_seed=CH3_SEED,
            config={"train": dataclasses.replace(base, env=thin)}, seeding="offset",
            description="section 3.3: one learner alone and three learners in one thin pool",
        ),
    ]  # fmt: skip


def _rl() -> list[Experiment]:
    """Issue 16: the learners at scale and the training schemes where they can matter."""
    # the machine's share of 2 cores fixes the sizes: 20 iterations of 12 x 8 week-long
    # episodes (322,560 environment steps) per run, 200 held-out episodes per evaluation
    es = TrainConfig(iterations=20, population=12, episodes=8, learning_rate=0.05,
                     noise_std=0.2, init_std=0.1)  # fmt: skip
    # where leverage pays the search must travel to ~16x: a larger step
    es_far = dataclasses.replace(es, learning_rate=0.5, noise_std=1.0)
    evals = {"eval_episodes": 200, "eval_start": RL_SEED}
    learner_cells = [
        {"arm": f"{pol} {mk}", "market": mk, "policy": pol, "reward": "log_wealth"}
        for mk in ("garch_drift", "regimes")
        for pol in ("linear", "mlp")
    ]
    scheme_cells = [
        {"arm": "none", "market": "strong_drift", "curriculum": False, "adversary": False},
        {"arm": "curriculum", "market": "strong_drift", "curriculum": True, "adversary": False},
        {"arm": "adversarial", "market": "strong_drift", "curriculum": False, "adversary": True},
    ]
    pool_train = TrainConfig(iterations=10, population=8, episodes=4, learning_rate=0.5,
                             noise_std=1.0, init_std=0.1)  # fmt: skip
    thin = {"pool_reserve_a": 2000.0, "initial_capital": 2500.0}
    return [
        Experiment(
            "rl_learners", "levpaper.experiments.book:rl_run", learner_cells,
            n_seeds=10, base_seed=RL_SEED, seeding="offset",
            config={"train": es, "eval_markets": ["garch_drift", "regimes", "replay_holdout"],
                    "replay_stride": 5, **evals},
            description="issue 16: ES linear and MLP on GARCH with drift and regimes, "
            "held-out in-regime and out-of-regime",
        ),
        Experiment(
            "rl_schemes", "levpaper.experiments.book:rl_run", scheme_cells,
            n_seeds=10, base_seed=RL_SEED, seeding="offset",
            config={"train": es_far, "eval_markets": ["strong_drift"], "attack": True,
                    "fixed_control": True, **evals},
            description="issue 16: curriculum and adversarial training where the cap binds and "
            "leverage pays, with a fixed-leverage control at the same mean leverage",
        ),
        Experiment(
            "rl_pool", "levpaper.experiments.book:rl_pool_run",
            [{"arm": "alone"}, {"arm": "together"}],
            n_seeds=10, base_seed=RL_SEED, seeding="offset",
            config={"train": pool_train, "market": "strong_drift", "env": thin, "n_agents": 8,
                    **evals},
            description="issue 16: eight learners trained in one thin pool against eight "
            "trained alone, evaluated together",
        ),
    ]  # fmt: skip


CH4_SEED = 20260400


def _real() -> list[Experiment]:
    week = MarketConfig(n_traders=500, n_steps=168, pool_liquidity=20e6, cooldown=None)
    stress = MarketConfig(
        n_traders=300, n_steps=96, n_pools=4, pool_liquidity=5e6, cooldown=None, eta=0.5,
        breaker_theta=2.0,
    )  # fmt: skip
    arms = grid(prices=["bootstrap", "gbm"])
    history = {"years": [2018, 2022], "block": 168}
    learner = TrainConfig(
        env=LeveragedSwapConfig(action_mode="box", horizon=168), iterations=30, population=10,
        episodes=10,
    )  # fmt: skip
    fn = "levpaper.experiments.book:real_market_run"
    return [
        Experiment(
            "ch4_real_market", fn, arms, n_seeds=200, base_seed=CH4_SEED,
            config={"market": week, **history},
            description="section 4.4: the market of 4.3 on bootstrapped real weeks and on GBM",
        ),
        Experiment(
            "ch4_real_stress", fn, arms, n_seeds=1000, base_seed=CH4_SEED + 1,
            config={"market": stress, **history},
            description="section 4.4: the stress table's baseline cell on real prices and GBM",
        ),
        Experiment(
            "ch4_real_backtest", "levpaper.experiments.book:real_backtest_run",
            [{"arm": "agent"}], n_seeds=10, base_seed=CH4_SEED, seeding="offset",
            config={"train": learner, "fit": [2018, 2020], "holdout": [2021, 2022],
                    "block": 168, "boot_years": 5},
            description="section 4.4: ES learner trained on bootstrapped 2018-2020, 2021-22 weeks",
        ),
    ]  # fmt: skip


def _oracle() -> list[Experiment]:
    config = {"horizon": 168, "n_paths": 400, "grid_cap": 10.0, "grid_step": 0.2, "n_buckets": 9}
    return [
        Experiment(
            "ch3_oracle", "levpaper.experiments.book:oracle_run",
            grid(market=["regimes", "garch_drift"], policy=list(ORACLE_POLICIES)),
            n_seeds=10, base_seed=CH3_SEED, config=config, seeding="offset",
            description="section 3.2: the oracle against Kelly, L* and fixed leverage",
        ),
    ]  # fmt: skip


def book_experiments() -> list[Experiment]:
    """Every experiment of the book, sorted by name."""
    from levpaper.sb3 import ppo_experiment  # SB3 itself is imported only when a run starts

    exps = _ch3() + _ch5() + _ch5_mechanics(ch5_market()) + _oracle() + _real() + _rl()
    exps.append(ppo_experiment())
    return sorted(exps, key=lambda e: e.name)


#: Liquidation checks per hourly price step in ``ch5_mechanics`` (1 h, 15, 5 and 1 minutes).
CH5_MONITOR_SUBSTEPS = (4, 12, 60)
#: Open-interest caps of ``ch5_mechanics``, each side's open interest as a fraction of the
#: pool's B reserve.
CH5_OI_CAPS = (0.05, 0.02, 0.01)
#: The scenarios of ``ch5_mechanics``' sensitivity cells.
_CH5_SENSITIVITY_SCENARIOS = ("baseline", "jump_crash")


def ch5_venue_market() -> MarketConfig:
    """:func:`ch5_market` with the venue defaults of :meth:`levpaper.market.MarketConfig.venue`
    (maintenance at half the initial margin, 1.25% penalty, open-interest and position caps,
    funding, a barrier test within the hour, impact-aware sizing, staggered entries and a
    burn-in of one day).

    Examples
    --------
    >>> v = ch5_venue_market()
    >>> v.n_traders, v.barrier_bridge, v.impact_sizing, v.stagger, v.burn_in
    (300, True, True, True, 24)
    """
    st = ch5_market()
    return MarketConfig.venue(
        n_traders=st.n_traders, n_steps=st.n_steps, n_pools=st.n_pools,
        pool_liquidity=st.pool_liquidity, cooldown=st.cooldown, eta=st.eta,
        breaker_theta=st.breaker_theta, check_conservation=True,
    )  # fmt: skip


def _ch5_mechanics(st: MarketConfig) -> list[Experiment]:
    none = Control("none")
    keys = ("monitor_substeps", "barrier_bridge", "oi_cap", "arbitrage_between_liquidations")
    variants: list[dict[str, Any]] = [{"monitor_substeps": k} for k in CH5_MONITOR_SUBSTEPS]
    variants += [{"barrier_bridge": True}] + [{"oi_cap": c} for c in CH5_OI_CAPS]
    variants += [{"arbitrage_between_liquidations": True}]
    cells = [
        {"scenario": sc, "control": none, **{k: v.get(k) for k in keys}}
        for sc in _scenarios(st.n_steps, _CH5_SENSITIVITY_SCENARIOS)
        for v in variants
    ]
    venue = ch5_venue_market()
    controls = [c for c in standard_controls(venue.n_pools) if c.name != "entropy"]
    fn = "levpaper.experiments.book:market_run"
    return [
        Experiment(
            "ch5_mechanics", fn, cells, n_seeds=CH5_RUNS, base_seed=CH5_SEED,
            config={"market": st},
            description="section 5.4: bad debt and cascades against the liquidation clock, the "
                        "open-interest cap and arbitrage between liquidations (the plain arm "
                        "is ch5_stress_table's)",
        ),
        Experiment(
            "ch5_venue", fn,
            grid(scenario=_scenarios(venue.n_steps, _CH5_SCENARIOS), control=controls),
            n_seeds=CH5_RUNS, base_seed=CH5_SEED, config={"market": venue},
            description="section 5.4: the controls of the stress table at a venue's defaults",
        ),
    ]  # fmt: skip

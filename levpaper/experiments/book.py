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
  entropies of the exposure (E18), 8 runs a cell on its own four-pool market.

Chapter 3 (seed 20260300, ``seeding="offset"``: training seed ``20260300 + k``):

* ``ch3_lstar_agent`` (section 3.2): the default ES learner, evaluated on the page's 400
  held-out episodes;
* ``ch3_default`` (3.3): the default learner with and without the curriculum;
* ``ch3_schemes`` (3.3): the learner starting at 20x in the drift market, plain, with the
  curriculum and adversarial, each evaluated calm and under the liquidation hunter;
* ``ch3_shared_pool`` (3.3): one learner alone and three learners sharing a thin pool.

The run functions :func:`market_run` and :func:`train_run` are pure functions of
``(config, cell, seed)``; :func:`market_summary`, :func:`train_results` and
:func:`eval_outcomes` turn the table of :func:`levpaper.experiments.load` back into what the
pages computed before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from levpaper.agents import LinearPolicy
from levpaper.env import LeveragedSwapConfig, LiquidationHunter
from levpaper.experiments.core import Experiment, grid
from levpaper.market import (
    BASELINE,
    Control,
    MarketConfig,
    run_scenario,
    standard_controls,
    standard_scenarios,
)
from levpaper.processes import GBM
from levpaper.risk import p95_bad_debt, p95_liquidation_volume
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
    r = run_scenario(market, scenario, control, seed)
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
            m = cfg.env.maintenance_rate

            def pol(w: Any, m: float = m, band: float = cfg.band) -> LinearPolicy:
                return LinearPolicy(np.asarray(w), maintenance_rate=m, band=band)

            results.append(
                TrainResult(
                    config=cfg,
                    seed=int(row["seed"]),
                    policies=tuple(pol(w) for w in row["weights"]),
                    initial_policies=tuple(pol(w) for w in row["initial_weights"]),
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


#: Runs per cell of the powered experiments of chapter 5 (issue 14): enough for a 99th
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


def book_experiments() -> list[Experiment]:
    """Every experiment of the book, sorted by name."""
    return sorted(_ch3() + _ch5(), key=lambda e: e.name)

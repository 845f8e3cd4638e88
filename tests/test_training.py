"""levpaper.training: ES training is deterministic for a seed and improves its objective; saved
policies reload to the same actions and refuse another config; evaluation's confidence intervals;
curriculum, adversarial and multi-agent options; the results table on a tiny budget."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from levpaper.agents import FixedLeverage, LinearPolicy
from levpaper.env import LeveragedSwapConfig, LiquidationHunter
from levpaper.processes import GBM
from levpaper.training import (
    HELD_OUT_SEED,
    TrainConfig,
    config_hash,
    curriculum_cap,
    evaluate,
    evaluate_shared,
    format_table,
    held_out_seeds,
    load_policy,
    results_table,
    save_policy,
    summarise,
    train,
)
from levpaper.vector_env import LeveragedSwapVectorEnv

DRIFT_ENV = LeveragedSwapConfig(action_mode="box", horizon=48, process=GBM(mu=2.0, sigma=0.8))
TINY = TrainConfig(env=dataclasses.replace(DRIFT_ENV, horizon=12), iterations=3, population=4,
                   episodes=3)  # fmt: skip


def test_train_is_deterministic_for_a_seed() -> None:
    a = train(TINY, 7, progress=False)
    b = train(TINY, 7, progress=False)
    np.testing.assert_array_equal(a.policy.weights, b.policy.weights)
    np.testing.assert_array_equal(a.history, b.history)
    c = train(TINY, 8, progress=False)
    assert not np.array_equal(a.policy.weights, c.policy.weights)
    assert a.history.shape == (3, 1) and np.all(np.isfinite(a.history))


def test_training_improves_its_objective() -> None:
    """The trained policy's E11 objective (discounted return) beats its random initial policy on
    the same held-out episodes by more than 2 paired standard errors."""
    cfg = TrainConfig(env=DRIFT_ENV, iterations=40, population=8, episodes=16)
    result = train(cfg, 0, progress=False)
    seeds = held_out_seeds(256)
    before = evaluate(result.initial_policies[0], DRIFT_ENV, seeds, gamma=cfg.gamma)
    after = evaluate(result.policy, DRIFT_ENV, seeds, gamma=cfg.gamma)
    d = after.outcomes.discounted_return - before.outcomes.discounted_return
    assert d.mean() > 2.0 * d.std(ddof=1) / np.sqrt(d.size)


def test_save_load_round_trip_and_hash_check(tmp_path: Path) -> None:
    result = train(TINY, 1, progress=False)
    path = tmp_path / "policy.npz"
    save_policy(path, result.policy, TINY)
    back = load_policy(path, TINY)
    envs = LeveragedSwapVectorEnv(6, TINY.env)
    obs, _ = envs.reset(seed=HELD_OUT_SEED)
    for _ in range(5):
        act = result.policy.act(obs)
        np.testing.assert_array_equal(back.act(obs), act)
        obs, *_ = envs.step(act)
    other = dataclasses.replace(TINY, iterations=4)
    assert config_hash(other) != config_hash(TINY)
    with pytest.raises(ValueError, match="config does not match"):
        load_policy(path, other)
    with pytest.raises(ValueError, match="policy"):
        save_policy(path, FixedLeverage(1.0), TINY)  # type: ignore[arg-type]


def test_config_hash_sees_the_environment() -> None:
    a = TrainConfig(env=DRIFT_ENV)
    b = TrainConfig(env=dataclasses.replace(DRIFT_ENV, process=GBM(mu=1.0, sigma=0.8)))
    assert config_hash(a) != config_hash(b)
    assert config_hash(a) == config_hash(TrainConfig(env=DRIFT_ENV))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"population": 3}, "population"),
        ({"iterations": 0}, "iterations"),
        ({"gamma": 0.0}, "gamma"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"band": 1.0}, "band"),
        ({"curriculum_start": 500.0}, "curriculum_start"),
        ({"adversary_budget": 0.0}, "adversary_budget"),
        ({"env": LeveragedSwapConfig()}, "action_mode"),
    ],
)
def test_bad_config_names_the_parameter(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_train_and_evaluate_arguments() -> None:
    with pytest.raises(ValueError, match="seed"):
        train(TINY, -1, progress=False)
    with pytest.raises(ValueError, match="seeds"):
        evaluate(FixedLeverage(1.0), TINY.env, [HELD_OUT_SEED])
    with pytest.raises(ValueError, match="env"):
        evaluate(FixedLeverage(1.0), LeveragedSwapConfig(), held_out_seeds(4))


def test_evaluation_intervals_contain_the_estimates() -> None:
    env = dataclasses.replace(DRIFT_ENV, horizon=24)
    seeds = held_out_seeds(64)
    for pol in (FixedLeverage(1.0), FixedLeverage(100.0)):
        m = evaluate(pol, env, seeds).metrics
        for est in (m.log_growth, m.liquidation_probability, m.drawdown_p95, m.value):
            assert est.lower <= est.value <= est.upper
        assert 0.0 <= m.liquidation_probability.lower <= m.liquidation_probability.upper <= 1.0
    high = evaluate(FixedLeverage(100.0), env, seeds).metrics
    low = evaluate(FixedLeverage(1.0), env, seeds).metrics
    assert high.liquidation_probability.value > 0.9 and low.liquidation_probability.value == 0.0
    assert high.log_growth.upper < low.log_growth.lower


def test_summarise_pools_policies() -> None:
    env = dataclasses.replace(DRIFT_ENV, horizon=24)
    seeds = held_out_seeds(32)
    outs = [evaluate(FixedLeverage(lev), env, seeds).outcomes for lev in (1.0, 2.0, 3.0)]
    m = summarise(outs)
    assert m.n_policies == 3 and m.n_episodes == 32
    mean = np.mean([o.discounted_return.mean() for o in outs])
    assert m.value.value == pytest.approx(mean)
    single = summarise(outs[:1]).value
    assert m.value.upper - m.value.lower > 0 and single.upper - single.lower > 0
    with pytest.raises(ValueError, match="outcomes"):
        summarise([])


def test_curriculum_schedule_and_training() -> None:
    cfg = dataclasses.replace(TINY, iterations=5, curriculum=True, curriculum_fraction=0.5)
    caps = [curriculum_cap(cfg, i) for i in range(5)]
    assert caps[0] == 5.0 and caps[2:] == [100.0] * 3 and caps[0] < caps[1] < caps[2]
    assert curriculum_cap(TINY, 0) == 100.0
    result = train(cfg, 0, progress=False)
    np.testing.assert_allclose(result.caps, caps)
    # the cap binds: a policy that asks for high leverage sees other returns under the curriculum
    wild = dataclasses.replace(cfg, init_std=5.0)
    capped = train(wild, 0, progress=False).history
    free = train(dataclasses.replace(wild, curriculum=False), 0, progress=False).history
    assert capped[0, 0] != free[0, 0]


def test_liquidation_hunter_attack_and_adversarial_training() -> None:
    env = dataclasses.replace(DRIFT_ENV, horizon=24)
    seeds = held_out_seeds(64)
    pol = FixedLeverage(20.0)
    calm = evaluate(pol, env, seeds).metrics.liquidation_probability.value
    attacked = evaluate(pol, env, seeds, adversary=LiquidationHunter(budget=5e6))
    assert attacked.metrics.liquidation_probability.value > calm + 0.5
    base = dataclasses.replace(TINY, init_std=5.0)  # high leverage: within the hunter's reach
    cfg = dataclasses.replace(base, adversary=True, adversary_budget=5e7)
    a, b = train(cfg, 0, progress=False), train(base, 0, progress=False)
    assert not np.array_equal(a.history, b.history)  # the hunter is in the training pools


def test_multi_agent_training_shares_one_pool() -> None:
    thin = dataclasses.replace(TINY.env, pool_reserve_a=2000.0, initial_capital=2500.0)
    cfg = dataclasses.replace(TINY, env=thin, n_agents=2, init_std=3.0)
    result = train(cfg, 0, progress=False)
    assert len(result.policies) == 2 and result.history.shape == (3, 2)
    assert all(isinstance(p, LinearPolicy) for p in result.policies)
    again = train(cfg, 0, progress=False)
    np.testing.assert_array_equal(result.history, again.history)
    np.testing.assert_array_equal(result.policies[1].weights, again.policies[1].weights)
    # one policy alone in the shared environment is the single-agent evaluation (at 10x the
    # position limit of the shared pool does not bind)
    seeds = held_out_seeds(16)
    alone = evaluate_shared([FixedLeverage(10.0)], thin, seeds)[0].outcomes
    single = evaluate(FixedLeverage(10.0), thin, seeds).outcomes
    np.testing.assert_allclose(alone.log_growth, single.log_growth, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(alone.liquidated, single.liquidated)
    # a second account in the pool changes the first one's outcomes (its trades move the pool)
    pair = evaluate_shared([FixedLeverage(10.0), FixedLeverage(50.0)], thin, seeds)
    assert len(pair) == 2 and pair[1].metrics.n_episodes == 16
    assert not np.allclose(pair[0].outcomes.log_growth, alone.log_growth)
    with pytest.raises(ValueError, match="adversary"):
        TrainConfig(adversary=True, n_agents=2)
    with pytest.raises(ValueError, match="policies"):
        evaluate_shared([], thin, seeds)


def test_results_table_tiny_budget() -> None:
    rows = results_table(TINY, n_eval=8, variants=("agent", "agent (curriculum)"),
                         progress=False)  # fmt: skip
    names = [r["policy"] for r in rows]
    assert names.count("agent") == 2 and names.count("Kelly") == 2
    assert {"random", "fixed 1x", "fixed 5x", "fixed 100x", "L* (E12)"} <= set(names)
    assert len(rows) == 2 * (2 + 6)
    assert all(r["n_policies"] == (5 if r["policy"].startswith("agent") else 1) for r in rows)
    text = format_table(rows)
    assert text.count("\n") == len(rows) + 1
    with pytest.raises(ValueError, match="train_seeds"):
        results_table(TINY, train_seeds=(0, 1, 2), progress=False)
    with pytest.raises(ValueError, match="variants"):
        results_table(TINY, variants=("nope",), progress=False)


def test_init_leverage_starts_the_search_at_a_leverage() -> None:
    cfg = dataclasses.replace(TINY, init_std=0.0, init_leverage=20.0)
    start = train(cfg, 0, progress=False).initial_policies[0].weights
    expected = np.zeros_like(start)
    expected[0, 0] = 20.0  # the bias weight of the target-leverage row
    np.testing.assert_array_equal(start, expected)
    with pytest.raises(ValueError, match="init_leverage"):
        TrainConfig(init_leverage=150.0)


def test_tied_fitnesses_give_no_gradient() -> None:
    from levpaper.training import _centred_ranks

    np.testing.assert_array_equal(_centred_ranks(np.full(6, 0.3)), np.zeros(6))
    x = np.array([0.2, -1.0, 0.5, 0.2])
    np.testing.assert_allclose(_centred_ranks(x), [0.0, -0.5, 0.5, 0.0])  # 0.2s share rank 2.5

"""levpaper.training with the MLP policy: the linear default is unchanged bit for bit, the MLP
search is deterministic for a seed, learns where leverage pays, and the returned MLPPolicy acts
as the network the search evaluated."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from scipy import special

from levpaper.agents import N_FEATURES, MLPPolicy, box_action, features, mlp_size
from levpaper.env import LeveragedSwapConfig, LeveragedSwapEnv
from levpaper.processes import GBM
from levpaper.training import TrainConfig, evaluate, evaluate_shared, held_out_seeds, train

DRIFT = LeveragedSwapConfig(action_mode="box", horizon=24, process=GBM(mu=2.0, sigma=0.8))
#: A market where leverage pays clearly (Kelly leverage mu/sigma^2 = 22x): the simple case.
EASY = LeveragedSwapConfig(action_mode="box", horizon=48, process=GBM(mu=2.0, sigma=0.3))

#: SHA-256 of the weights and histories of two small linear runs, computed with the code of
#: commit a472cd2 (before the MLP option): the linear default must not change.
LINEAR_DIGEST = "94067082832bbff4a0e5c8f79d0ec7f2f9d1be0a0e0152732be0f06a8cee0e6d"


def test_linear_default_is_bit_identical_to_before_the_mlp_option() -> None:
    h = hashlib.sha256()
    configs = (
        TrainConfig(iterations=3, population=4, episodes=3, env=DRIFT, init_leverage=20.0,
                    curriculum=True),
        TrainConfig(iterations=2, population=4, episodes=2, env=DRIFT, n_agents=2),
    )  # fmt: skip
    for cfg in configs:
        assert cfg.policy == "linear"
        r = train(cfg, 7, progress=False)
        for p in r.policies:
            h.update(np.ascontiguousarray(p.weights).tobytes())
        h.update(np.ascontiguousarray(r.history).tobytes())
    assert h.hexdigest() == LINEAR_DIGEST


def test_mlp_training_is_deterministic_for_a_seed() -> None:
    cfg = TrainConfig(iterations=3, population=4, episodes=3, env=DRIFT, policy="mlp", hidden=8)
    a = train(cfg, 3, progress=False)
    b = train(cfg, 3, progress=False)
    c = train(cfg, 4, progress=False)
    assert isinstance(a.policy, MLPPolicy) and a.policy.hidden == 8
    assert a.policy.params.shape == (mlp_size(8),) == (cfg.n_params,)
    np.testing.assert_array_equal(a.policy.params, b.policy.params)
    np.testing.assert_array_equal(a.history, b.history)
    assert not np.array_equal(a.policy.params, c.policy.params)
    assert not np.array_equal(a.policy.params, a.initial_policies[0].params)


def test_mlp_learns_where_leverage_pays() -> None:
    """In every one of three seeds the trained MLP's objective beats its initial network on the
    same 200 held-out episodes by more than 3 paired standard errors."""
    cfg = TrainConfig(iterations=20, population=8, episodes=8, env=EASY, policy="mlp",
                      hidden=16, learning_rate=0.5, noise_std=1.0, init_std=0.1)  # fmt: skip
    seeds = held_out_seeds(200)
    for seed in range(3):
        r = train(cfg, seed, progress=False)
        before = evaluate(r.initial_policies[0], EASY, seeds, gamma=cfg.gamma).outcomes
        after = evaluate(r.policy, EASY, seeds, gamma=cfg.gamma).outcomes
        d = after.discounted_return - before.discounted_return
        assert d.mean() > 3.0 * d.std(ddof=1) / np.sqrt(d.size), seed


def test_mlp_policy_is_the_network_the_search_evaluated() -> None:
    rng = np.random.default_rng(0)
    hidden = 5
    theta = rng.normal(size=mlp_size(hidden))
    pol = MLPPolicy(theta, hidden=hidden, band=0.0)
    env = LeveragedSwapEnv(action_mode="box")
    obs = np.stack([env.reset(seed=s)[0] for s in range(4)])
    phi = features(obs)
    w1 = theta[: hidden * N_FEATURES].reshape(hidden, N_FEATURES)
    w2 = theta[hidden * N_FEATURES : hidden * N_FEATURES + 2 * hidden].reshape(2, hidden)
    z = w2 @ np.tanh(w1 @ phi) + theta[-2:, None]
    expected = box_action(z[0], special.expit(z[1]), obs, 0.005, 0.0)
    np.testing.assert_allclose(pol.act(obs), expected, rtol=1e-12, atol=1e-15)


def test_mlp_multi_agent_and_init_leverage() -> None:
    cfg = TrainConfig(iterations=2, population=2, episodes=2, env=DRIFT, policy="mlp", hidden=4,
                      n_agents=3, init_std=0.0, init_leverage=5.0)  # fmt: skip
    r = train(cfg, 0, progress=False)
    assert len(r.policies) == 3 and r.history.shape == (2, 3)
    obs = LeveragedSwapEnv(action_mode="box", max_leverage=100.0).reset(seed=0)[0]
    # zero initial weights but the output offset: every initial network targets 5x
    assert r.initial_policies[0].act(obs)[0, 0] == pytest.approx(0.05)
    evs = evaluate_shared(r.policies, DRIFT, held_out_seeds(3))
    assert [e.metrics.n_episodes for e in evs] == [3, 3, 3]


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"policy": "cnn"}, "policy"), ({"policy": "mlp", "hidden": 0}, "hidden")]
)
def test_bad_policy_options_name_the_parameter(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_mlp_policy_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="params"):
        MLPPolicy(np.zeros(7), hidden=2)
    with pytest.raises(ValueError, match="params"):
        MLPPolicy(np.full(mlp_size(2), np.nan), hidden=2)
    with pytest.raises(ValueError, match="hidden"):
        MLPPolicy(np.zeros(3), hidden=0)
    assert dataclasses.replace(TrainConfig(), policy="mlp").n_params == mlp_size(16)

"""levpaper.ppo: the deposit-only margin interface is the signed one with the margin component
mapped to (a + 1) / 2, it never withdraws, and rl_ppo_deposit is rl_ppo on it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from levpaper.env import LeveragedSwapConfig
from levpaper.experiments import get
from levpaper.experiments.core import library_modules
from levpaper.ppo import DepositMarginAdapter, DepositSB3Policy, make_deposit_vec_env, map_margin
from levpaper.processes import GBM
from levpaper.sb3 import SB3Policy, SB3VecEnvAdapter

CFG = LeveragedSwapConfig(action_mode="box", horizon=12, process=GBM(mu=0.0, sigma=3.0))
N = 6


def test_deposit_adapter_is_the_signed_one_with_mapped_actions() -> None:
    deposit, signed, raw = (DepositMarginAdapter(N, CFG), SB3VecEnvAdapter(N, CFG),
                            SB3VecEnvAdapter(N, CFG))  # fmt: skip
    for venv in (deposit, signed, raw):
        venv.seed(3)
        venv.reset()
    rng = np.random.default_rng(0)
    differs = False
    for _ in range(30):
        a = rng.uniform(-1.0, 1.0, size=(N, 2)).astype(np.float32)
        a[: N // 2, 1] = -1.0  # signed: withdraw all that may be; deposit: no change
        got = deposit.step(a)
        want = signed.step(map_margin(a))
        for x, y in zip(got[:3], want[:3], strict=True):
            np.testing.assert_array_equal(x, y)
        differs |= not np.array_equal(raw.step(a)[0], got[0])
    assert differs  # the same actions unmapped withdraw margin: other observations


def test_map_margin_range_and_the_policy() -> None:
    a = np.stack([np.zeros(101), np.linspace(-2.0, 2.0, 101)], axis=1)
    m = map_margin(a)
    assert (m[:, 1] >= 0.0).all() and (m[:, 1] <= 1.0).all() and (m[:, 0] == 0.0).all()
    assert map_margin(np.array([3, 1])).tolist() == [3, 1]  # discrete actions pass

    class Model:
        def predict(self, obs: Any, deterministic: bool = True) -> tuple[Any, None]:
            return np.tile([0.25, -1.0], (len(obs), 1)), None

    obs = np.zeros((2, 14), dtype=np.float32)
    assert DepositSB3Policy(Model()).act(obs).tolist() == [[0.25, 0.0]] * 2
    assert SB3Policy(Model()).act(obs).tolist() == [[0.25, -1.0]] * 2


def test_rl_ppo_deposit_is_rl_ppo_on_the_deposit_interface() -> None:
    new, old = get("rl_ppo_deposit"), get("rl_ppo")
    assert (new.config, new.cells, new.n_seeds, new.base_seed, new.seeding, new.requires) == (
        old.config, old.cells, old.n_seeds, old.base_seed, old.seeding, old.requires)  # fmt: skip
    assert new.function == "levpaper.ppo:ppo_deposit_run" and new.key() != old.key()
    # the book's run functions do not depend on this module: their keys ignore it
    assert "levpaper.ppo" not in library_modules("levpaper.experiments.book")


def test_make_deposit_vec_env_is_an_sb3_vec_env_or_says_what_to_install() -> None:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="levpaper\\[rl\\]"):
            make_deposit_vec_env(2, CFG)
        return
    from stable_baselines3.common.vec_env import VecEnv

    venv = make_deposit_vec_env(2, CFG)
    assert isinstance(venv, VecEnv) and isinstance(venv, DepositMarginAdapter)

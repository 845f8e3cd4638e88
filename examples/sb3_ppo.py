"""Train stable-baselines3's PPO on the unchanged environment (an optional extra).

``levpaper`` does not depend on stable-baselines3 or PyTorch; its own learner is the numpy
evolution-strategies trainer of :mod:`levpaper.training`. This example shows that an external
library trains on ``levpaper/LeveragedSwap-v0`` as it is (SB3's ``check_env`` on the Gymnasium
environment; training on the vector environment through :mod:`levpaper.sb3`), and compares
the result with the flat policy on the same held-out seeds. Install the extra in a separate
environment first::

    pip install "stable-baselines3>=2.3"
    python examples/sb3_ppo.py --timesteps 20000

It is not run by the tests.
"""

from __future__ import annotations

import argparse
import sys

import gymnasium as gym
import numpy as np

import levpaper  # noqa: F401  (registers levpaper/LeveragedSwap-v0)
from levpaper.env import ENV_ID
from levpaper.sb3 import make_sb3_vec_env
from levpaper.training import HELD_OUT_SEED


def episode_return(env: gym.Env, act, seed: int) -> float:  # type: ignore[type-arg, no-untyped-def]
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        total += float(reward)
        done = terminated or truncated
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--episodes", type=int, default=20, help="held-out evaluation episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--envs", type=int, default=16, help="copies of the vector env")
    args = parser.parse_args()
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_checker import check_env
    except ImportError:
        print(
            "stable-baselines3 is not installed: it is an optional extra, not a levpaper "
            'dependency. Run `pip install "stable-baselines3>=2.3"` in a separate environment.',
            file=sys.stderr,
        )
        return 1
    kwargs = {"action_mode": "box", "horizon": 168}
    env = gym.make(ENV_ID, **kwargs)
    check_env(env.unwrapped)
    # training on 16 copies of the numpy vector environment through the SB3 VecEnv adapter
    venv = make_sb3_vec_env(args.envs, **kwargs)
    model = PPO("MlpPolicy", venv, seed=args.seed, verbose=0)
    model.learn(total_timesteps=args.timesteps, progress_bar=False)

    def ppo(obs: np.ndarray) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    def flat(obs: np.ndarray) -> np.ndarray:
        return np.zeros(2, dtype=np.float32)

    eval_env = gym.make(ENV_ID, **kwargs)
    seeds = [HELD_OUT_SEED + i for i in range(args.episodes)]
    for name, act in (("PPO", ppo), ("flat", flat)):
        returns = np.array([episode_return(eval_env, act, s) for s in seeds])
        half = 1.96 * returns.std(ddof=1) / np.sqrt(returns.size)
        print(
            f"{name:5s} mean return {returns.mean():+.4f} +/- {half:.4f} ({returns.size} episodes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

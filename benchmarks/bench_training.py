"""Training throughput in environment steps per second: the numpy ES learner and SB3's PPO,
side by side (issue 16, item 7).

* **ES** (:func:`levpaper.training.train`): the linear and the MLP policy, one process, one
  thread, on the vector environment with ``population * episodes`` copies (``N`` below) over
  week-long episodes of the ``garch_drift`` market with the log-wealth reward; the clock covers
  everything a training iteration does (the ES noise, the policy evaluation of every candidate
  at every step, the environment, the ranks and the Adam update). Steps counted: ``iterations *
  N * horizon`` (no episode of these runs ends early).
* **ES on 2 cores**: the same training in 2 processes at once (two seeds, as the experiments
  layer trains them on its 2 workers), each warmed up and then started together; the row's
  figure is the sum of the two processes' steps per second.
* **PPO** (stable-baselines3 2.x, ``MlpPolicy``, CPU, one torch thread) through
  :func:`levpaper.sb3.make_sb3_vec_env` with 16 copies, ``model.learn`` timed (rollouts with the
  network's forward pass plus the gradient epochs). SB3 and PyTorch are the optional ``rl``
  extra, not in the lock file: the PPO row is measured in this process if SB3 imports, else with
  the Python named by the environment variable ``LEVPAPER_RL_PYTHON`` (a virtual environment
  holding levpaper and the extra), else it is reported as not measured.

The issue's goal is ES >= 5 million steps per second on 2 cores. ``main()`` prints the numbers
and writes them with the machine's load average to ``benchmarks/results/training.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import datetime  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from levpaper.env import market_config  # noqa: E402
from levpaper.training import TrainConfig, train  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "training.json"
HORIZON = 168
ES_SIZES = ((16, 16), (64, 64))  # (population, episodes): N = 256 and 4096 copies
ES_ITERATIONS = 2
PPO_ENVS = 16
PPO_STEPS = 16_384
GOAL_ES = 5e6

PPO_SCRIPT = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
from stable_baselines3 import PPO
from levpaper.env import market_config
from levpaper.sb3 import make_sb3_vec_env
n_envs, steps = int(sys.argv[1]), int(sys.argv[2])
env = market_config("garch_drift", action_mode="box", horizon=168, reward="log_wealth")
model = PPO("MlpPolicy", make_sb3_vec_env(n_envs, env), n_steps=256, batch_size=256, seed=0,
            device="cpu", verbose=0)
model.learn(2048)  # warm-up: allocations, first graph
t0 = time.perf_counter()
model.learn(steps, reset_num_timesteps=False)
dt = time.perf_counter() - t0
import stable_baselines3
print(json.dumps({"steps_per_s": steps / dt, "sb3": stable_baselines3.__version__,
                  "torch": torch.__version__}))
"""


def bench_es(policy: str, population: int, episodes: int) -> float:
    """Environment steps per second of :func:`train` (best of 2)."""
    env = market_config("garch_drift", action_mode="box", horizon=HORIZON, reward="log_wealth")
    cfg = TrainConfig(env=env, iterations=ES_ITERATIONS, population=population,
                      episodes=episodes, policy=policy, init_std=0.1)  # fmt: skip
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        train(cfg, 0, progress=False)
        best = min(best, time.perf_counter() - t0)
    return ES_ITERATIONS * population * episodes * HORIZON / best


def _es_worker(policy: str, population: int, episodes: int, seed: int, barrier: Any,
               out: Any) -> None:  # fmt: skip
    env = market_config("garch_drift", action_mode="box", horizon=HORIZON, reward="log_wealth")
    cfg = TrainConfig(env=env, iterations=ES_ITERATIONS, population=population,
                      episodes=episodes, policy=policy, init_std=0.1)  # fmt: skip
    train(cfg, seed, progress=False)  # warm-up
    barrier.wait()
    t0 = time.perf_counter()
    train(cfg, seed, progress=False)
    out.put(ES_ITERATIONS * population * episodes * HORIZON / (time.perf_counter() - t0))


def bench_es_parallel(policy: str, population: int, episodes: int, processes: int = 2) -> float:
    """Summed environment steps per second of ``processes`` concurrent :func:`train` runs."""
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_es_worker, args=(policy, population, episodes, k, barrier, out))
             for k in range(processes)]  # fmt: skip
    for p in procs:
        p.start()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return float(sum(rates))


def bench_ppo() -> dict[str, Any] | None:
    """PPO's steps per second (module docstring), or None when SB3 is not available."""
    args = [str(PPO_ENVS), str(PPO_STEPS)]
    try:
        import stable_baselines3  # noqa: F401

        python = sys.executable
    except ImportError:
        python = os.environ.get("LEVPAPER_RL_PYTHON", "")
        if not python:
            return None
    proc = subprocess.run([python, "-c", PPO_SCRIPT, *args], capture_output=True, text=True,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        print(f"PPO failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    load_before = [round(v, 2) for v in os.getloadavg()]
    print(f"load average {load_before} (other processes on the machine inflate the timings)")
    rows: list[dict[str, Any]] = []
    for policy in ("linear", "mlp"):
        for pop, eps in ES_SIZES:
            sps = bench_es(policy, pop, eps)
            rows.append({"learner": f"ES {policy}", "copies": pop * eps, "steps_per_s": sps})
            print(f"ES {policy:6s} N={pop * eps:5d}: {sps:12,.0f} env steps/s "
                  f"({sps / GOAL_ES:.3f} of the 5M/s goal)")  # fmt: skip
        pop, eps = ES_SIZES[-1]
        sps = bench_es_parallel(policy, pop, eps)
        rows.append({"learner": f"ES {policy}, 2 processes", "copies": pop * eps,
                     "steps_per_s": sps})  # fmt: skip
        print(f"ES {policy:6s} N={pop * eps:5d} x 2 processes: {sps:12,.0f} env steps/s "
              f"({sps / GOAL_ES:.3f} of the 5M/s goal on 2 cores)")  # fmt: skip
    ppo = bench_ppo()
    if ppo is None:
        print("PPO: not measured (stable-baselines3 not importable and LEVPAPER_RL_PYTHON unset)")
    else:
        rows.append({"learner": "PPO (SB3)", "copies": PPO_ENVS, "steps_per_s": ppo["steps_per_s"],
                     "versions": {k: ppo[k] for k in ("sb3", "torch")}})  # fmt: skip
        best_es = max(r["steps_per_s"] for r in rows if r["learner"].startswith("ES"))
        print(
            f"PPO (SB3) N={PPO_ENVS:5d}: {ppo['steps_per_s']:12,.0f} env steps/s; "
            f"ES/PPO = {best_es / ppo['steps_per_s']:,.0f}x"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "rows": rows,
        "goal_es_steps_per_s": GOAL_ES,
        "load_average": {"before": load_before, "after": [round(v, 2) for v in os.getloadavg()]},
    }, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()

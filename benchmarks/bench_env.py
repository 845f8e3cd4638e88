"""Environment steps per second: LeveragedSwapEnv (single, through ``gym.make``) and its vector
version at N = 4096 against two trading environments of the Gymnasium ecosystem.

Every environment runs on the same synthetic hourly price series (GBM, 80% annual volatility,
written to a temporary ``.npy`` file) with a random policy whose actions are drawn before the
clock starts, resetting whenever an episode ends (resets count in the time):

* ``levpaper/LeveragedSwap-v0`` through ``gym.make`` (its wrappers included), replaying the
  series (:class:`levpaper.env.ReplayPrices`) with the discrete actions;
* :class:`levpaper.vector_env.LeveragedSwapVectorEnv` through ``gym.make_vec`` at N = 4096 on the
  same series; for information also with the default GBM stream and with box actions;
* the peers gym-anytrading (``stocks-v0``) and Gym-Trading-Env (``TradingEnv``, positions
  -1/0/1), each through its own registered ``gym.make``, installed at pinned versions in their own
  virtualenv under ``benchmarks/.peers/env`` and timed in a subprocess with that Python.

The goals of the issue: single env >= 3x Gym-Trading-Env and >= 0.5x gym-anytrading (although it
does far more per step: a fee-aware arbitrage with a square root, a margin account, a liquidation
check, a 14-feature observation); vector env >= 10 million env-steps per second and >= 150x
Gym-Trading-Env. Timings are best-of-N wall clock on one thread; the load average is recorded
because other processes on the machine inflate them. ``main()`` prints the numbers and ratios and
writes them with the machine's description to ``benchmarks/results/env.json``, which the book's
reproducibility appendix displays (it never re-runs the benchmark).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import levpaper.env  # noqa: E402, F401  (registers the environment)
from benchmarks._peers import peer_python  # noqa: E402
from levpaper.env import ENV_ID, ReplayPrices  # noqa: E402
from levpaper.processes import GBM  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "env.json"
SEED = 20_260_101
N_PRICES = 50_001  # hourly, about 5.7 years
N_VECTOR = 4096
SINGLE_STEPS = 200_000
PEER_STEPS = 100_000
VECTOR_STEPS = 200
REPEATS = 5
PEERS = {
    "gym-anytrading": "2.0.0",
    "gym-trading-env": "0.3.5",
}
# the peers' shared dependencies, pinned to the versions the project itself uses
PEER_PINS = ["gymnasium==1.4.0", "numpy==2.4.6", "pandas==3.1.1"]
GOALS = {
    "single_vs_gym_trading_env": 3.0,
    "single_vs_gym_anytrading": 0.5,
    "vector_env_steps_per_s": 10e6,
    "vector_vs_gym_trading_env": 150.0,
}

# Runs in the peers' virtualenv: argv = peer, prices.npy, steps, repeats, seed; prints JSON.
PEER_SCRIPT = r"""
import json, sys, time
from importlib.metadata import version
import numpy as np, pandas as pd, gymnasium as gym

peer, path = sys.argv[1], sys.argv[2]
n_steps, repeats, seed = (int(v) for v in sys.argv[3:6])
prices = np.load(path)
n = len(prices)
if peer == "gym-anytrading":
    import gym_anytrading  # registers stocks-v0
    df = pd.DataFrame({"Open": prices, "High": prices, "Low": prices, "Close": prices,
                       "Volume": np.ones(n)})
    env = gym.make("stocks-v0", df=df, window_size=30, frame_bound=(30, n))
else:
    import gym_trading_env  # registers TradingEnv
    index = pd.date_range("2020-01-01", periods=n, freq="h")
    df = pd.DataFrame({"open": prices, "high": prices, "low": prices, "close": prices,
                       "volume": np.ones(n)}, index=index)
    df["feature_close"] = df["close"].pct_change().fillna(0.0)
    env = gym.make("TradingEnv", df=df, positions=[-1, 0, 1], trading_fees=0.0005,
                   borrow_interest_rate=0.0, verbose=0)
actions = np.random.default_rng(seed).integers(0, env.action_space.n, n_steps).tolist()
best = float("inf")
for _ in range(repeats):
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"steps_per_s": n_steps / best, "version": version(peer),
                  "wrappers": str(env)}))
"""


def synthetic_prices() -> np.ndarray:
    """The shared series: GBM, sigma 0.8, hourly, from 2500."""
    path = GBM(sigma=0.8).simulate(1, N_PRICES - 1, np.random.default_rng(SEED), s0=2500.0)
    return path[0]


def bench_peer(python: Path, peer: str, prices_path: Path) -> dict[str, Any] | None:
    """Steps per second of one peer, or ``None`` if it fails."""
    proc = subprocess.run(
        [str(python), "-c", PEER_SCRIPT, peer, str(prices_path), str(PEER_STEPS), "3", str(SEED)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"peer {peer} failed:\n{proc.stderr[-2000:]}")
        return None
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def bench_single(prices: np.ndarray) -> float:
    """Steps per second of the single env through ``gym.make``, random discrete actions."""
    env = gym.make(ENV_ID, process=ReplayPrices(prices), initial_price=float(prices[0]))
    actions = np.random.default_rng(SEED).integers(0, 8, SINGLE_STEPS).tolist()
    best = float("inf")
    for _ in range(REPEATS):
        env.reset(seed=SEED)
        step, reset = env.step, env.reset
        t0 = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = step(a)
            if terminated or truncated:
                reset()
        best = min(best, time.perf_counter() - t0)
    return SINGLE_STEPS / best


def bench_vector(**kwargs: Any) -> float:
    """Env-steps per second of the vector env at ``N_VECTOR`` copies, random actions."""
    envs = gym.make_vec(ENV_ID, num_envs=N_VECTOR, **kwargs)
    space = envs.action_space
    space.seed(SEED)
    actions = [space.sample() for _ in range(64)]
    envs.reset(seed=SEED)
    for i in range(100):  # warm up: fill the price blocks, reach a steady mix of episodes
        envs.step(actions[i % 64])
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for i in range(VECTOR_STEPS):
            envs.step(actions[i % 64])
        best = min(best, time.perf_counter() - t0)
    return N_VECTOR * VECTOR_STEPS / best


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
    }


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def main() -> None:
    load_before = load_average()
    prices = synthetic_prices()
    print(
        f"series: {N_PRICES} hourly GBM prices (sigma 0.8), random policy, best of {REPEATS}, "
        f"load average {load_before}",
        flush=True,
    )
    single = bench_single(prices)
    vector = bench_vector(process=ReplayPrices(prices), initial_price=float(prices[0]))
    vector_gbm = bench_vector()
    vector_box = bench_vector(
        process=ReplayPrices(prices), initial_price=float(prices[0]), action_mode="box"
    )
    peers: dict[str, dict[str, Any]] = {}
    python = peer_python("env", [f"{n}=={v}" for n, v in PEERS.items()] + PEER_PINS)
    if python is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "prices.npy"
            np.save(path, prices)
            for peer in PEERS:
                result = bench_peer(python, peer, path)
                if result is not None:
                    peers[peer] = result
    load_after = load_average()

    print(f"  LeveragedSwapEnv via gym.make             {single / 1e3:10.1f} k steps/s")
    print(f"  LeveragedSwapVectorEnv N={N_VECTOR} (series)   {vector / 1e6:10.2f} M env-steps/s")
    print(
        f"  LeveragedSwapVectorEnv N={N_VECTOR} (GBM)      {vector_gbm / 1e6:10.2f} M env-steps/s"
    )
    print(
        f"  LeveragedSwapVectorEnv N={N_VECTOR} (box)      {vector_box / 1e6:10.2f} M env-steps/s"
    )
    for name, result in peers.items():
        print(
            f"  {name + ' ' + result['version']:<42}{result['steps_per_s'] / 1e3:10.1f} k steps/s"
        )

    ratios: dict[str, float | None] = {
        "single_vs_gym_trading_env": None,
        "single_vs_gym_anytrading": None,
        "vector_env_steps_per_s": vector,
        "vector_vs_gym_trading_env": None,
    }
    if "gym-trading-env" in peers:
        gte = peers["gym-trading-env"]["steps_per_s"]
        ratios["single_vs_gym_trading_env"] = single / gte
        ratios["vector_vs_gym_trading_env"] = vector / gte
    if "gym-anytrading" in peers:
        ratios["single_vs_gym_anytrading"] = single / peers["gym-anytrading"]["steps_per_s"]
    met = {k: (v is not None and v >= GOALS[k]) for k, v in ratios.items()}
    print("ratios (goal):")
    for key, value in ratios.items():
        shown = (
            "n/a" if value is None else (f"{value / 1e6:.2f} M" if value > 1e4 else f"{value:.2f}x")
        )
        goal = GOALS[key]
        goal_shown = f"{goal / 1e6:.0f} M" if goal > 1e4 else f"{goal:g}x"
        print(f"  {key:28s} {shown:>10}  (goal {goal_shown}: {'met' if met[key] else 'MISSED'})")

    record = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average": {"before": load_before, "after": load_after},
        "method": {
            "series": f"{N_PRICES} hourly GBM prices, sigma 0.8, seed {SEED}",
            "policy": "uniform random actions drawn before timing; reset when an episode ends",
            "timing": f"best of {REPEATS} (peers: 3) wall-clock runs, one thread",
            "single_steps": SINGLE_STEPS,
            "peer_steps": PEER_STEPS,
            "vector_envs": N_VECTOR,
            "vector_steps": VECTOR_STEPS,
        },
        "steps_per_s": {
            "levpaper_single_gym_make": single,
            "levpaper_vector_4096_series": vector,
            "levpaper_vector_4096_gbm": vector_gbm,
            "levpaper_vector_4096_box": vector_box,
            **{name: r["steps_per_s"] for name, r in peers.items()},
        },
        "peer_versions": {name: r["version"] for name, r in peers.items()},
        "ratios": ratios,
        "goals": GOALS,
        "goals_met": met,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

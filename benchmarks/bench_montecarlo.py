"""Monte Carlo throughput of the price processes against the bare normal fill rate.

Every simulated path-step needs at least one standard normal, so the speed at which
``Generator.standard_normal`` fills a preallocated float64 buffer is the ceiling for any simulator
built on numpy's generator. This benchmark measures, in one run on one machine, path-steps per
second of :class:`~levpaper.processes.GBM`, :class:`~levpaper.processes.MertonJumpDiffusion` and
:class:`~levpaper.processes.GARCH11` (4096 paths x 720 hourly steps, 30 days) and of the
liquidation-probability estimator, and prints each as a ratio to the fill rate of the same
number of normals. The goal for the simulators is at least 0.5. Best of several repetitions.

Run with ``python -m benchmarks montecarlo``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from levpaper.first_passage import first_passage_monte_carlo, liquidation_barrier
from levpaper.processes import GARCH11, GBM, MertonJumpDiffusion

N_PATHS = 4096
N_STEPS = 720
REPEATS = 7
GOAL = 0.5


def best_seconds(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    fn()  # warm up: first-touch page faults, imports, caches
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    rng = np.random.default_rng(20240601)
    cells = N_PATHS * N_STEPS
    buffer = np.empty(cells)

    def fill() -> None:
        rng.standard_normal(out=buffer)

    fill_rate = cells / best_seconds(fill)
    print(f"numpy {np.__version__}, {N_PATHS} paths x {N_STEPS} steps = {cells:,} path-steps")
    print(f"{'bare standard_normal fill':<38} {fill_rate / 1e6:8.1f} M/s   ratio 1.00")

    barrier = float(liquidation_barrier(25, 0.005))
    horizon = N_STEPS / (365 * 24)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("GBM.simulate", lambda: GBM().simulate(N_PATHS, N_STEPS, rng)),
        ("GBM.simulate(log=True)", lambda: GBM().simulate(N_PATHS, N_STEPS, rng, log=True)),
        (
            "MertonJumpDiffusion.simulate",
            lambda: MertonJumpDiffusion().simulate(N_PATHS, N_STEPS, rng),
        ),
        ("GARCH11.simulate", lambda: GARCH11().simulate(N_PATHS, N_STEPS, rng)),
        (
            "first_passage_monte_carlo (discrete)",
            lambda: first_passage_monte_carlo(barrier, horizon, 0.8, N_PATHS, rng, bridge=False),
        ),
        (
            "first_passage_monte_carlo (bridge)",
            lambda: first_passage_monte_carlo(barrier, horizon, 0.8, N_PATHS, rng, bridge=True),
        ),
    ]
    for name, fn in cases:
        rate = cells / best_seconds(fn)
        ratio = rate / fill_rate
        flag = "meets" if ratio >= GOAL else "below"
        print(f"{name:<38} {rate / 1e6:8.1f} M/s   ratio {ratio:4.2f} ({flag} goal {GOAL})")


if __name__ == "__main__":
    main()

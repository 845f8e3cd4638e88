"""Trader-steps per second of the multi-agent market (:mod:`levpaper.market`).

10,000 traders (half hold, half rebalance daily; leverage log-uniform on [2, 100]) on one pool,
720 hourly steps (30 days), with the conservation check every step, in two scenarios: the
baseline GBM and the jump crash (-30% at step 360, thousands of liquidations in one step).
The goal of the issue is the whole run in at most 60 seconds on the 2-core machine. Wall clock
(``time.perf_counter``) of one run each, single-threaded numpy.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

from levpaper.market import BASELINE, MarketConfig, Scenario, run_scenario  # noqa: E402

N_TRADERS = 10_000
N_STEPS = 720
GOAL_SECONDS = 60.0


def main() -> None:
    cfg = MarketConfig(n_traders=N_TRADERS, n_steps=N_STEPS)
    for scenario in (BASELINE, Scenario("jump_crash", crash_step=N_STEPS // 2)):
        start = time.perf_counter()
        res = run_scenario(cfg, scenario, seed=0)
        seconds = time.perf_counter() - start
        rate = N_TRADERS * N_STEPS / seconds
        print(
            f"{scenario.name:>11}: {N_TRADERS} traders x {N_STEPS} steps in {seconds:.2f} s, "
            f"{rate:,.0f} trader-steps/s, {seconds / GOAL_SECONDS:.3f} of the 60 s goal "
            f"({res.n_liquidations} liquidations, largest cascade {res.max_cascade}, "
            f"max residual {res.residual.max():.1e})",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Trader-steps per second of the multi-agent market (:mod:`levpaper.market`).

10,000 traders (half hold, half rebalance daily; leverage log-uniform on [2, 100]) on one pool,
720 hourly steps (30 days), with the conservation check every step, in two scenarios: the
baseline GBM and the jump crash (-30% at step 360, thousands of liquidations in one step).
Goals (issue 14): at least 9M trader-steps/s with the venue mechanics off (``mechanics off``);
the whole run in at most 60 seconds on the 2-core machine. The same runs are timed with the
venue preset :meth:`levpaper.market.MarketConfig.venue` (caps, impact-aware sizing, staggered
traders, Brownian-bridge liquidation checks, funding: ``venue``) and with every mechanic on
(the preset plus four liquidation checks per step, arbitrage between liquidations and a
liquidation hunter that attacks only when it does not lose: ``all``). Wall clock
(``time.perf_counter``) and CPU time (``time.process_time``) of one run each, single-threaded
numpy; the load average of the machine (``os.getloadavg``) is printed with each run, since the
machine is shared and a loaded machine stretches the wall clock more than the CPU time.
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
GOAL_RATE = 9e6


def configs() -> dict[str, MarketConfig]:
    """The three configurations timed: mechanics off, the venue preset, every mechanic on."""
    size = {"n_traders": N_TRADERS, "n_steps": N_STEPS}
    return {
        "mechanics off": MarketConfig(**size),
        "venue": MarketConfig.venue(**size),
        "all": MarketConfig.venue(
            **size,
            monitor_substeps=4,
            arbitrage_between_liquidations=True,
            hunter_budget=1e6,
            hunter_profitable_only=True,
        ),
    }


def main() -> None:
    for label, cfg in configs().items():
        for scenario in (BASELINE, Scenario("jump_crash", crash_step=N_STEPS // 2)):
            start, cpu = time.perf_counter(), time.process_time()
            res = run_scenario(cfg, scenario, seed=0)
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
            rate = N_TRADERS * N_STEPS / seconds
            goal = f", {rate / GOAL_RATE:.2f} of the 9M/s goal" if label == "mechanics off" else ""
            print(
                f"{label:>13} {scenario.name:>10}: {N_TRADERS} traders x {N_STEPS} steps in "
                f"{seconds:.2f} s, {rate:,.0f} trader-steps/s{goal} (CPU {cpu:.2f} s: "
                f"{N_TRADERS * N_STEPS / cpu:,.0f}/s), "
                f"{seconds / GOAL_SECONDS:.3f} of the 60 s goal ({res.n_liquidations} "
                f"liquidations, largest cascade {res.max_cascade}, max residual "
                f"{res.residual.max():.1e}; load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )


if __name__ == "__main__":
    main()

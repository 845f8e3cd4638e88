"""Time to regenerate the whole stress table of section 5.3 (``ch5_stress_table``: 6 scenarios x
5 controls x 1000 paired runs = 30 000 market runs of
:func:`levpaper.experiments.book.ch5_market`, conservation checked in every run) with the
experiments layer, as ``levpaper experiments run ch5_stress_table`` does it: a Dask
``LocalCluster`` of 2 worker processes (127.0.0.1), into a temporary artifacts directory
(``force``), so the committed artifact is not touched.

The goal of issue 14: at most 15 minutes on this project's 2-core machine. The machine is
shared, so the load average before and after is recorded, with the time a run takes on a
worker (the manifest's ``run_seconds`` over the runs; about 30 ms on an idle core). It also
prints what the committed artifact's manifest recorded (its wall time and scheduler). ``main()``
writes the numbers to ``benchmarks/results/stress.json``. ``LEVPAPER_BENCH_STRESS_SEEDS=N``
times the first ``N`` seeds of every cell instead (a quick check of the benchmark itself).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import dataclasses  # noqa: E402
import datetime  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from levpaper.experiments import artifact_paths, get, run  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "stress.json"
NAME = "ch5_stress_table"
WORKERS = 2
GOAL_SECONDS = 15 * 60


def main() -> None:
    from distributed import Client, LocalCluster

    exp = get(NAME)
    seeds = int(os.environ.get("LEVPAPER_BENCH_STRESS_SEEDS", exp.n_seeds))
    if seeds != exp.n_seeds:
        exp = dataclasses.replace(exp, n_seeds=seeds)
    committed = artifact_paths(NAME)[1]
    stored = json.loads(committed.read_text()) if committed.is_file() else None
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address="127.0.0.1:0", worker_dashboard_address=None,
        ) as cluster:  # fmt: skip
            with Client(cluster) as client:  # workers import the library before the clock
                client.run(importlib.import_module, exp.function.split(":")[0])
            startup = time.perf_counter() - start
            run(exp, scheduler=cluster.scheduler_address, root=tmp, force=True,
                progress=False)  # fmt: skip
        wall = time.perf_counter() - start
        inside = float(json.loads(artifact_paths(NAME, tmp)[1].read_text())["run_seconds"])
    load_after = os.getloadavg()
    n = exp.n_runs
    per_run = inside / n
    # what the whole experiment would take at this pace (equal to wall when seeds = 1000)
    projected = startup + (wall - startup) * get(NAME).n_runs / n
    print(f"{NAME}: {n} runs ({len(exp.cells)} cells x {seeds} seeds) on a LocalCluster of "
          f"{WORKERS} workers: {wall:.1f} s including {startup:.1f} s cluster start-up, "
          f"{n / wall:.1f} runs/s, {1e3 * per_run:.1f} ms inside a run")  # fmt: skip
    met = "met" if projected <= GOAL_SECONDS else "NOT met"
    print(f"  the whole experiment ({get(NAME).n_runs} runs) at this pace: {projected / 60:.1f} "
          f"min (goal <= {GOAL_SECONDS / 60:.0f} min: {met}); load average "
          f"{load_before[0]:.2f} -> {load_after[0]:.2f}")  # fmt: skip
    if stored is not None:
        print(f"  committed artifact: {stored['n_runs']} runs in {stored['wall_seconds']:.0f} s "
              f"({stored['scheduler']}), {stored['run_seconds'] / stored['n_runs'] * 1e3:.1f} ms "
              "inside a run")  # fmt: skip
    out = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "load_average": {
            "before": [round(v, 2) for v in load_before],
            "after": [round(v, 2) for v in load_after],
        },
        "experiment": NAME,
        "runs": n,
        "seeds_per_cell": seeds,
        "workers": WORKERS,
        "seconds": {"wall": wall, "cluster_startup": startup, "inside_runs": inside},
        "runs_per_s": n / wall,
        "ms_per_run_inside": 1e3 * per_run,
        "projected_seconds_full": projected,
        "goal_seconds": GOAL_SECONDS,
        "goal_met": projected <= GOAL_SECONDS,
        "committed_artifact": None
        if stored is None
        else {k: stored[k] for k in ("n_runs", "wall_seconds", "run_seconds", "scheduler")},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Run every benchmark module ``benchmarks/bench_*.py`` (each defines ``main()``) in name order.

Usage: ``make bench`` or ``python -m benchmarks [NAME ...]`` to run only the named ones
(``python -m benchmarks amm`` runs ``bench_amm``). Benchmarks print throughput and ratios
against their peers; they are measurements, never pass/fail tests.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    wanted = {f"bench_{a.removeprefix('bench_')}" for a in argv}
    for name in names:
        if wanted and name not in wanted:
            continue
        print(f"=== {name} ===", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])

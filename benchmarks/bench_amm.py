"""Pool-swaps per second: the batched pool against the scalar pool and a peer implementation.

Three ways to run exact-in constant-product swaps (fee 0.3% kept in the pool) in 4096 pools:

* ``PoolBatch.swap`` -- one call swaps in every pool (per-pool amounts and directions), on the
  fast path (``check=False``) and with full input validation (``check=True``);
* ``ConstantProductPool.swap`` -- the scalar path, one Python call per pool;
* the peer, uniswappy (a Python model of Uniswap v2 on integer base units), installed at a pinned
  version in its own virtualenv under ``benchmarks/.peers/`` and timed in a subprocess with that
  environment's Python, so that nothing it pulls in reaches the project's environment.

Timings are best-of-N wall clock (``time.perf_counter``) on one thread: elementwise numpy ufuncs
run single-threaded, and the BLAS/OpenMP pools are pinned to one thread before numpy is imported.
The goal of the issue is 20 million pool-swaps per second batched on one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks._peers import peer_python  # noqa: E402
from levpaper.pool import ConstantProductPool, amount_out  # noqa: E402
from levpaper.pool_batch import PoolBatch  # noqa: E402

N_POOLS = 4096
FEE = 0.003
GOAL = 20e6
PEER = "uniswappy"
PEER_VERSION = "1.7.9"
PEER_POOLS = 64

# Runs in the peer's virtualenv: argv = n_pools, repeats. Prints one JSON line.
PEER_SCRIPT = r"""
import json, sys, time
from importlib.metadata import version
from uniswappy import ERC20, Join, UniswapExchangeData, UniswapFactory

n, repeats = int(sys.argv[1]), int(sys.argv[2])
user = "bench"
factory = UniswapFactory("bench factory", "0x0")
pools = []
for i in range(n):
    a, b = ERC20(f"A{i}", f"0xa{i}"), ERC20(f"B{i}", f"0xb{i}")
    lp = factory.deploy(UniswapExchangeData(tkn0=a, tkn1=b, symbol=f"LP{i}", address=f"0xc{i}"))
    reserve_a = 1000.0 * (1 + i % 7)
    Join().apply(lp, user, reserve_a, 2500.0 * reserve_a)
    pools.append((lp, a, b, reserve_a * 1e-6, 2500.0 * reserve_a * 1e-6))
# a reference swap, checked by the caller against levpaper's closed form
ref_lp, ref_a, _, _, _ = pools[0]
ref_in = (ref_lp.get_reserve(ref_a), ref_lp.get_reserve(pools[0][2]))
ref_out = ref_lp.swap_exact_tokens_for_tokens(1.0, 0, ref_a, user)
best = float("inf")
for r in range(repeats):
    t0 = time.perf_counter()
    for lp, a, b, da, db in pools:
        lp.swap_exact_tokens_for_tokens(da, 0, a, user)
        lp.swap_exact_tokens_for_tokens(db, 0, b, user)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"swaps_per_s": 2 * n / best, "version": version("uniswappy"),
                  "ref_reserves": ref_in, "ref_out": ref_out}))
"""


def best_seconds(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best over ``repeat`` runs of the mean time of one of ``number`` consecutive calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def _workload(
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    reserve_a = 10.0 ** rng.uniform(3.0, 6.0, N_POOLS)
    reserve_b = 2500.0 * reserve_a
    a_in = rng.random(N_POOLS) < 0.5
    # one swap of 1e-6 of the input reserve per pool, then the same size the other way, so the
    # pools stay where they are however many repeats run
    there = np.where(a_in, reserve_a, reserve_b) * 1e-6
    back = np.where(a_in, reserve_b, reserve_a) * 1e-6
    return reserve_a, reserve_b, a_in, there, back


def bench_batched(check: bool) -> float:
    """Pool-swaps per second of ``PoolBatch.swap``."""
    reserve_a, reserve_b, a_in, there, back = _workload(np.random.default_rng(0))
    batch = PoolBatch(reserve_a, reserve_b, FEE)
    not_a_in = ~a_in

    def step() -> None:
        batch.swap(there, a_in, check=check)
        batch.swap(back, not_a_in, check=check)

    seconds = best_seconds(step, number=200, repeat=7)
    return 2 * N_POOLS / seconds


def bench_scalar() -> float:
    """Pool-swaps per second of ``ConstantProductPool.swap``, one call per pool."""
    reserve_a, reserve_b, a_in, there, back = _workload(np.random.default_rng(0))
    pools = [
        ConstantProductPool(float(x), float(y), FEE)
        for x, y in zip(reserve_a, reserve_b, strict=True)
    ]
    rows = [
        (p, float(d1), float(d2), "A" if a else "B", "B" if a else "A")
        for p, d1, d2, a in zip(pools, there, back, a_in, strict=True)
    ]

    def step() -> None:
        for pool, d1, d2, t1, t2 in rows:
            pool.swap(d1, t1)  # type: ignore[arg-type]
            pool.swap(d2, t2)  # type: ignore[arg-type]

    seconds = best_seconds(step, number=2, repeat=5)
    return 2 * N_POOLS / seconds


def bench_peer() -> float | None:
    """Pool-swaps per second of the peer, or ``None`` if it cannot be installed or run."""
    python = peer_python(PEER, [f"{PEER}=={PEER_VERSION}"])
    if python is None:
        return None
    proc = subprocess.run(
        [str(python), "-c", PEER_SCRIPT, str(PEER_POOLS), "5"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"peer {PEER} failed:\n{proc.stderr[-2000:]}")
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    x, y = result["ref_reserves"]
    ours = amount_out(1.0, x, y, FEE)
    agree = abs(ours - result["ref_out"]) / ours
    print(
        f"peer {PEER} {result['version']}: reference swap 1 A into ({x:g}, {y:g}) -> "
        f"{result['ref_out']:.12g} B; levpaper {ours:.12g} B (relative difference {agree:.1e})"
    )
    return float(result["swaps_per_s"])


def main() -> None:
    print(f"{N_POOLS} pools, fee {FEE}, float64, one thread, best-of timing")
    batched = bench_batched(check=False)
    checked = bench_batched(check=True)
    scalar = bench_scalar()
    print(f"  PoolBatch.swap (check=False)     {batched / 1e6:10.1f} M pool-swaps/s")
    print(f"  PoolBatch.swap (check=True)      {checked / 1e6:10.1f} M pool-swaps/s")
    print(f"  ConstantProductPool.swap         {scalar / 1e6:10.3f} M pool-swaps/s")
    peer = bench_peer()
    if peer is not None:
        print(f"  {PEER} swap_exact_tokens_for_tokens {peer / 1e6:8.4f} M pool-swaps/s")
    print("ratios:")
    print(f"  batched / scalar   {batched / scalar:10.1f}x")
    if peer is not None:
        print(f"  batched / {PEER}  {batched / peer:10.0f}x")
    verdict = "meets" if batched >= GOAL else "MISSES"
    print(f"  batched / goal     {batched / GOAL:10.2f}x  ({verdict} the 20 M/s goal)")


if __name__ == "__main__":
    main()

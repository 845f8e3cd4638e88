"""The command line of the experiments layer (``python -m levpaper.experiments``, and
``levpaper experiments ...`` through the project's console script).

Commands::

    run NAME [NAME ...] | --all [--scheduler ADDR | --serial] [--workers N] [--force]
    list
    verify [NAME ...] [-k K] [--seed S]

Errors are one line on stderr and a non-zero return, never a traceback (the traceback of a
failed run is part of its report).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

import numpy as np

from levpaper.experiments.core import (
    REGENERATE_ALL,
    RunFailed,
    default_root,
    regenerate_command,
    run,
    status,
    verify_sample,
)
from levpaper.experiments.registry import experiments, get


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m levpaper.experiments",
        description="Run, list and verify the book's experiments (cached artifacts).",
    )
    p.add_argument("--root", default=None, help="artifacts directory (default: artifacts/)")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="compute missing or stale artifacts")
    r.add_argument("names", nargs="*", metavar="NAME")
    r.add_argument("--all", action="store_true", help="every registered experiment")
    where = r.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help="address of an existing Dask scheduler (tcp://host:port)",
    )
    where.add_argument("--serial", action="store_true", help="in this process, no Dask")
    r.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of the local cluster (default: one per core)",
    )
    r.add_argument("--force", action="store_true", help="recompute even a current artifact")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.add_parser("list", help="each experiment, its size and whether its artifact is current")
    v = sub.add_parser("verify", help="recompute a random sample of stored runs, bit for bit")
    v.add_argument("names", nargs="*", metavar="NAME")
    v.add_argument("-k", type=int, default=3, help="runs per experiment (default 3)")
    v.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    return p  # fmt: skip


@contextlib.contextmanager
def _shared_cluster(workers: int | None) -> Iterator[str]:
    """One local cluster for several experiments (started once, not per experiment)."""
    from distributed import LocalCluster

    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", worker_dashboard_address=None,
    )  # fmt: skip
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def _cmd_run(args: argparse.Namespace) -> int:
    if args.all == bool(args.names):
        raise ValueError("run needs experiment names or --all, not both")
    exps = experiments() if args.all else [get(n) for n in args.names]
    if args.workers is not None and (args.serial or args.scheduler):
        raise ValueError("--workers applies to the local cluster only")
    todo = [s.name for s in status([e.name for e in exps], root=args.root)
            if args.force or s.state != "current"]  # fmt: skip
    for e in exps:
        if e.name not in todo:
            print(f"{e.name}: current, nothing to compute", file=sys.stderr)
    blocked = []
    if args.all:  # with --all, an experiment whose extra is missing is reported, not fatal
        for e in exps:
            if e.name in todo and e.missing():
                todo.remove(e.name)
                blocked.append(e.name)
                extras = ",".join(sorted({x for _, x in e.missing()}))
                print(f"{e.name}: not current and needs levpaper[{extras}]; skipped",
                      file=sys.stderr)  # fmt: skip
    if not todo:
        return 1 if blocked else 0
    with contextlib.ExitStack() as stack:
        if args.serial:
            scheduler: str | None = "serial"
        elif args.scheduler:
            scheduler = args.scheduler
        else:
            scheduler = stack.enter_context(_shared_cluster(args.workers))
        for name in todo:
            rep = run(name, scheduler=scheduler, root=args.root, force=args.force,
                      progress=not args.quiet)  # fmt: skip
            print(f"{rep.name}: {rep.computed} runs computed, {rep.reused} reused, "
                  f"{rep.seconds:.1f} s -> {rep.artifact}", file=sys.stderr)  # fmt: skip
    return 1 if blocked else 0


def _cmd_list(args: argparse.Namespace) -> int:
    rows = status(root=args.root)
    print(f"{'experiment':<26}{'cells':>6}{'seeds':>6}{'runs':>6}  {'state':<8}{'hash':<14}"
          "journal")  # fmt: skip
    for s in rows:
        print(f"{s.name:<26}{s.n_cells:>6}{s.n_seeds:>6}{s.n_runs:>6}  {s.state:<8}"
              f"{s.key[:12]:<14}{s.journal or '-'}")  # fmt: skip
    stale = [s.name for s in rows if s.state != "current"]
    if stale:
        print(f"not current: {', '.join(stale)}; regenerate with `{REGENERATE_ALL}`")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    names = args.names or [e.name for e in experiments()]
    rng = np.random.default_rng(args.seed)
    bad = 0
    for name in names:
        if not args.names and get(name).missing():  # every experiment: skip what needs an extra
            extras = ",".join(sorted({x for _, x in get(name).missing()}))
            print(f"{name}: skipped, its run function needs levpaper[{extras}]")
            continue
        check = verify_sample(name, args.k, rng, root=args.root)
        print(f"{name}: runs {list(check.runs)} {'match' if check.ok else 'DIFFER'}")
        for m in check.mismatches:
            print(f"  {m}")
        bad += not check.ok
    if bad:
        print(f"error: {bad} artifact(s) differ from their code; regenerate with "
              f"`{REGENERATE_ALL}`", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Examples
    --------
    >>> main(["run", "no_such_experiment"])  # doctest: +SKIP
    error: unknown experiment 'no_such_experiment'; known: ch3_default, ...
    2
    """
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse printed its one-line error (or the help)
        return int(exc.code or 0)
    if args.root is None:
        args.root = str(default_root())
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "list":
            return _cmd_list(args)
        return _cmd_verify(args)
    except RunFailed as exc:
        for f in exc.failures:
            print(f"--- run {f.run} failed (seed {f.seed}):\n{f.traceback}", file=sys.stderr)
        first = str(exc).splitlines()[0]
        print(f"error: {first} (finished runs are kept; rerun to retry the failed ones: "
              f"`{regenerate_command(exc.name)}`)", file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; finished runs are kept in the journal, rerun to resume",
              file=sys.stderr)  # fmt: skip
        return 130
    except (ValueError, OSError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2

"""The ``levpaper`` command: reproduce the book, run the experiments and benchmarks, show versions.

========================  ==========================================================================
``levpaper reproduce``    re-execute the book's notebooks in place (:mod:`levpaper.reproduce`)
``levpaper experiments``  the experiments layer; its arguments go to ``levpaper.experiments.main``
``levpaper bench``        run benchmarks (``python -m benchmarks NAME ...`` in the checkout)
``levpaper info``         versions, where the package, its data and the artifacts are
========================  ==========================================================================

``reproduce`` and ``bench`` work on a checkout of the repository (the working directory or a
parent of it, or ``--root``); an installed wheel holds neither notebooks nor benchmarks. Every
error is one line on stderr and a non-zero exit status (2 for a usage error), never a traceback.

Examples
--------
>>> main(["info"])  # doctest: +ELLIPSIS
levpaper 0.1.0
python 3.11...
>>> main(["bench", "--root", "/"])  # prints "levpaper bench: no levpaper checkout ..." to stderr
1
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import NoReturn

from levpaper.reproduce import find_checkout

__all__ = ["CommandError", "main"]

PROG = "levpaper"
EXPERIMENTS = "levpaper.experiments"
COMMANDS = ("reproduce", "experiments", "bench", "info")


class CommandError(Exception):
    """An error of a subcommand, reported as one line with exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the message and where to find help)."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see {self.prog} --help)", 2)


def _parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="The executable edition of the paper: reproduce the book, run the "
        "experiments and benchmarks, show versions and locations.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version('levpaper')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def root_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--root",
            type=Path,
            default=None,
            help="the repository checkout (default: the working directory or a parent of it)",
        )

    p = sub.add_parser(
        "reproduce",
        help="re-execute the book's notebooks in place",
        description="Re-execute notebooks of the book in place, in table-of-contents order, "
        "and record their timings in book/execution.json (needs a checkout and the book "
        "extra). `make reproduce` runs this, then rebuilds the book.",
    )
    p.add_argument(
        "notebooks", nargs="*", type=Path, metavar="NOTEBOOK", help="only these (.ipynb paths)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    root_option(p)

    sub.add_parser(
        "experiments",
        add_help=False,
        help="the experiments layer (see `levpaper experiments --help`)",
        description="Every argument is passed on to the experiments layer, levpaper.experiments.",
    )

    p = sub.add_parser(
        "bench",
        help="run benchmarks",
        description="Run the benchmarks of the checkout (python -m benchmarks NAME ...); "
        "without a NAME, all of them.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="e.g. amm, montecarlo, env")
    root_option(p)

    p = sub.add_parser(
        "info",
        help="versions and locations",
        description="Print the versions of levpaper, Python and the main dependencies, where "
        "the package and its bundled data are, and where a checkout keeps its artifacts "
        "($LEVPAPER_ARTIFACTS if set), benchmark results and built book.",
    )
    root_option(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``levpaper`` command with ``argv`` (default ``sys.argv[1:]``); return the exit
    status. Errors are printed as one line to stderr, never as a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else ""
    try:
        if command == "experiments":  # everything after it belongs to the experiments layer
            return _experiments(args[1:])
        try:
            ns = _parser().parse_args(args)
        except SystemExit as exc:  # --help or --version: argparse printed them
            return _status(exc.code)
        if ns.command == "reproduce":
            return _reproduce(ns.root, ns.notebooks, not ns.quiet)
        if ns.command == "bench":
            return _bench(ns.root, ns.names)
        return _info(ns.root)
    except CommandError as exc:
        _fail(command, str(exc))
        return exc.code
    except KeyboardInterrupt:
        _fail(command, "interrupted")
        return 130
    except Exception as exc:  # one line, never a traceback
        _fail(command, _describe(exc))
        return 1


def _fail(command: str, message: str) -> None:
    where = f"{PROG} {command}" if command in COMMANDS else PROG
    print(f"{where}: {message}", file=sys.stderr)


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(exc, ValueError | FileNotFoundError | NotADirectoryError):
        return text or type(exc).__name__
    name = getattr(exc, "ename", None) or type(exc).__name__  # nbclient's CellExecutionError
    detail = getattr(exc, "evalue", None) or text
    return f"{name}: {detail}" if detail else name


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _missing_extra(exc: ModuleNotFoundError, extra: str) -> CommandError:
    return CommandError(
        f"needs {exc.name}, which is not installed (install levpaper with its {extra!r} "
        f"extra, levpaper[{extra}])",
        1,
    )


# -- subcommands ------------------------------------------------------------------------------


def _reproduce(root: Path | None, paths: list[Path], progress: bool) -> int:
    from levpaper.reproduce import reproduce

    checkout = find_checkout(root)
    try:
        done = reproduce(checkout, paths, progress=progress)
    except ModuleNotFoundError as exc:
        raise _missing_extra(exc, "book") from None
    print(f"executed {len(done)} notebook(s) in place; timings in book/execution.json")
    return 0


def _experiments(args: list[str]) -> int:
    try:
        module = importlib.import_module(EXPERIMENTS)
    except ModuleNotFoundError as exc:
        if exc.name != EXPERIMENTS:
            raise _missing_extra(exc, "experiments") from None
        if args in (["-h"], ["--help"]):
            print(f"usage: {PROG} experiments [ARGUMENT ...]\n")
            print("Passes its arguments to the experiments layer, which is not part of this")
            print("installation of levpaper.")
            return 0
        raise CommandError(
            f"the experiments layer ({EXPERIMENTS}) is not installed in this version of levpaper",
            2,
        ) from None
    try:
        code = module.main(args)
    except SystemExit as exc:  # an argparse inside the experiments layer
        return _status(exc.code)
    return _status(code)


def _bench(root: Path | None, names: list[str]) -> int:
    checkout = find_checkout(root)
    folder = checkout / "benchmarks"
    known = sorted(p.stem.removeprefix("bench_") for p in folder.glob("bench_*.py"))
    if not known:
        raise CommandError(f"no benchmarks in {folder}")
    unknown = [n for n in names if n.removeprefix("bench_") not in known]
    if unknown:
        raise CommandError(f"unknown benchmark {', '.join(unknown)}; one of {', '.join(known)}", 2)
    done = subprocess.run([sys.executable, "-m", "benchmarks", *names], cwd=checkout, check=False)
    if done.returncode:
        raise CommandError(f"the benchmarks exited with status {done.returncode}")
    return 0


def _info(root: Path | None) -> int:
    import levpaper

    print(f"levpaper {levpaper.__version__}")
    print(f"python {platform.python_version()} ({sys.executable})")
    for dist in ("numpy", "scipy", "gymnasium", "dask", "distributed", "pettingzoo"):
        print(f"{dist} {_version(dist) if find_spec(dist) is not None else 'not installed'}")
    package = Path(levpaper.__file__).resolve().parent
    print(f"package: {package}")
    data = resources.files("levpaper") / "data"
    files = sorted(
        f.name
        for f in (data.iterdir() if data.is_dir() else ())
        if f.is_file() and not f.name.endswith((".py", ".pyc"))
    )
    print(f"data: {data} ({', '.join(files)})" if files else "data: none bundled")
    # the experiments layer's artifacts directory: $LEVPAPER_ARTIFACTS, else the checkout's
    override = os.environ.get("LEVPAPER_ARTIFACTS")
    if override:
        print(f"artifacts: {Path(override).resolve()} (from LEVPAPER_ARTIFACTS)")
    try:
        checkout: Path | None = find_checkout(root)
    except FileNotFoundError:
        if root is not None:
            raise
        checkout = None
    if checkout is None:
        print("checkout: none (the artifacts, notebooks and benchmarks live in a clone)")
        return 0
    print(f"checkout: {checkout}")
    rows = [
        ("artifacts", "artifacts"),
        ("benchmark results", "benchmarks/results"),
        ("notebook timings", "book/execution.json"),
        ("built book", "_build/html/index.html"),
    ]
    for label, rel in rows[1:] if override else rows:
        path = checkout / rel
        print(f"{label}: {path}{'' if path.exists() else ' (not there yet)'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Re-execute the book's notebooks in place, in table-of-contents order (``levpaper reproduce``).

Each notebook runs with the ``python3`` kernel of the current environment, in its own directory,
as nbval and the book build run it, and is marked ``mystnb.execution_mode: off`` so the build
renders its stored outputs. The time each took goes to ``book/execution.json``, which the
Reproducibility appendix shows; that appendix itself runs last and is not timed.

This works on a checkout of the repository (the notebooks are not in the wheel):
:func:`find_checkout` finds it from the working directory. Executing needs the ``book`` extra
(nbformat, nbclient, PyYAML); the module itself imports without it.

Examples
--------
>>> from pathlib import Path
>>> toc_files({"root": "intro", "parts": [{"chapters": [{"file": "book/ch1/index"}]}]})
['intro', 'book/ch1/index']
>>> find_checkout(Path("/"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
levpaper.reproduce.CheckoutNotFoundError: no levpaper checkout at or above / (run inside ...
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import time
import tomllib
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

__all__ = [
    "LAST",
    "CheckoutNotFoundError",
    "execute",
    "find_checkout",
    "notebooks",
    "reproduce",
    "toc_files",
]

LAST = "book/appendix/reproducibility.ipynb"
"""The notebook that runs last (it displays the others' timings)."""


class CheckoutNotFoundError(FileNotFoundError):
    """No checkout of the levpaper repository where one was looked for."""


def _is_checkout(path: Path) -> bool:
    project = path / "pyproject.toml"
    if not (project.is_file() and (path / "_toc.yml").is_file()):
        return False
    try:
        name = tomllib.loads(project.read_text())["project"]["name"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, OSError):
        return False
    return bool(name == "levpaper")


def find_checkout(start: Path | None = None) -> Path:
    """The root of the levpaper checkout that holds ``start`` (default: the working directory).

    A checkout is a directory with ``_toc.yml`` and a ``pyproject.toml`` of the project
    ``levpaper``, at ``start`` or above it.

    Raises
    ------
    CheckoutNotFoundError
        If neither ``start`` nor a parent of it is one.
    """
    here = (Path.cwd() if start is None else Path(start)).resolve()
    for path in (here, *here.parents):
        if _is_checkout(path):
            return path
    raise CheckoutNotFoundError(
        f"no levpaper checkout at or above {here} (run inside a clone of the repository, "
        "or pass --root)"
    )


def toc_files(node: object) -> list[str]:
    """Every ``root`` and ``file`` entry of a Jupyter Book table of contents, in order."""
    out: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                out.append(str(node[key]))
        for value in node.values():
            if isinstance(value, list | dict):
                out += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            out += toc_files(item)
    return out


def notebooks(root: Path) -> list[Path]:
    """The notebooks of the book at ``root`` in table-of-contents order, :data:`LAST` last."""
    import yaml  # type: ignore[import-untyped]  # the book extra

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    paths = [root / f"{name}.ipynb" for name in toc_files(toc)]
    found = [p for p in paths if p.exists()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix() == LAST)


def execute(path: Path) -> tuple[float, int]:
    """Execute one notebook in place, mark it ``execution_mode: off``; return (seconds, number
    of code cells)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    # Stored outputs are the book's: tell the build (execution mode "auto") not to re-run it.
    nb.metadata.setdefault("mystnb", {})["execution_mode"] = "off"
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]
    return seconds, sum(c.cell_type == "code" for c in nb.cells)


def reproduce(root: Path, paths: Sequence[Path] = (), *, progress: bool = True) -> list[Path]:
    """Execute ``paths`` (default: every notebook of the book at ``root``) in place and record
    their timings in ``book/execution.json``; returns the notebooks executed.

    Raises
    ------
    ValueError
        If a path is not a notebook file inside ``root`` (``paths``).
    """
    from tqdm import tqdm

    root = root.resolve()
    todo = [Path(p).resolve() for p in paths] or notebooks(root)
    for p in todo:
        if not (p.is_file() and p.suffix == ".ipynb" and p.is_relative_to(root)):
            raise ValueError(f"paths: not a notebook file of the checkout {root}: {p}")
    record_path = root / "book" / "execution.json"
    old = json.loads(record_path.read_text()) if record_path.exists() else {"notebooks": []}
    rows: dict[str, dict[str, Any]] = {r["notebook"]: r for r in old["notebooks"]}
    bar = tqdm(todo, unit="notebook", desc="executing", disable=not progress)
    for path in bar:
        rel = path.relative_to(root).as_posix()
        bar.set_postfix_str(rel)
        if rel == LAST:
            _write_record(root, record_path, rows)
        seconds, cells = execute(path)
        if rel != LAST:
            rows[rel] = {"notebook": rel, "code cells": cells, "seconds": round(seconds, 1)}
    if not any(p.relative_to(root).as_posix() == LAST for p in todo):
        _write_record(root, record_path, rows)
    return todo


def _write_record(root: Path, record_path: Path, rows: dict[str, dict[str, Any]]) -> None:
    order = [p.relative_to(root).as_posix() for p in notebooks(root)]
    record = {
        "executed_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "levpaper": version("levpaper"),
        "notebooks": [rows[n] for n in order if n in rows],
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")

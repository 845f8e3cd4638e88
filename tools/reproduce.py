"""Re-execute every notebook of the book in place, in table-of-contents order.

Run through ``make reproduce`` (which then rebuilds the book). Each notebook runs with the
kernel of the project's virtual environment, in its own directory, as nbval and the build run
it. The time each took goes to ``book/execution.json``, which the Reproducibility appendix
shows; that appendix itself runs last and is not timed. Pass notebook paths to run only those.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
LAST = "book/appendix/reproducibility.ipynb"


def toc_files(node: object) -> list[str]:
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


def notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    paths = [ROOT / f"{name}.ipynb" for name in toc_files(toc)]
    found = [p for p in paths if p.exists()]
    return sorted(found, key=lambda p: p.relative_to(ROOT).as_posix() == LAST)


def execute(path: Path) -> tuple[float, int]:
    nb = nbformat.read(path, as_version=4)
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
    nbformat.write(nb, path)
    return seconds, sum(c.cell_type == "code" for c in nb.cells)


def main(argv: list[str]) -> None:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        print("\nusage: python tools/reproduce.py [NOTEBOOK.ipynb ...]")
        return
    missing = [a for a in argv if not Path(a).is_file()]
    if missing:
        raise SystemExit(f"not a notebook file: {', '.join(missing)}")
    todo = [Path(a).resolve() for a in argv] or notebooks()
    record_path = ROOT / "book" / "execution.json"
    old = json.loads(record_path.read_text()) if record_path.exists() else {"notebooks": []}
    rows = {r["notebook"]: r for r in old["notebooks"]}
    bar = tqdm(todo, unit="notebook", desc="executing")
    for path in bar:
        rel = path.relative_to(ROOT).as_posix()
        bar.set_postfix_str(rel)
        if rel == LAST:
            _write_record(record_path, rows)
        seconds, cells = execute(path)
        if rel != LAST:
            rows[rel] = {"notebook": rel, "code cells": cells, "seconds": round(seconds, 1)}
    if not any(p.relative_to(ROOT).as_posix() == LAST for p in todo):
        _write_record(record_path, rows)


def _write_record(record_path: Path, rows: dict[str, dict[str, object]]) -> None:
    order = [p.relative_to(ROOT).as_posix() for p in notebooks()]
    record = {
        "executed_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "levpaper": version("levpaper"),
        "notebooks": [rows[n] for n in order if n in rows],
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The equation ledger (book/ledger.toml) is true: every name, label and test it cites exists."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from levpaper.ledger import STATUSES, load_ledger

ROOT = Path(__file__).resolve().parents[1]
LEDGER = load_ledger(ROOT / "book" / "ledger.toml")
SCIENCE = ROOT.parent / "shared" / "SCIENCE.md"


def _book_text() -> str:
    parts = []
    for path in (ROOT / "book").rglob("*"):
        if path.suffix == ".md":
            parts.append(path.read_text())
        elif path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            parts += ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    return "\n".join(parts)


def test_ledger_has_rows_e1_to_e19_in_order() -> None:
    assert [r.id for r in LEDGER] == [f"E{i}" for i in range(1, 20)]
    assert all(r.status in STATUSES for r in LEDGER)


@pytest.mark.skipif(not SCIENCE.exists(), reason="shared/SCIENCE.md is not beside this checkout")
def test_ledger_sections_match_science_md() -> None:
    rows = re.findall(r"^\| (E\d+) \| ([\d.]+) \|", SCIENCE.read_text(), flags=re.M)
    assert [(r.id, r.section) for r in LEDGER] == rows


@pytest.mark.parametrize("name", sorted({n for r in LEDGER for n in r.implementation}))
def test_implementation_imports(name: str) -> None:
    module, _, attr = name.rpartition(".")
    assert hasattr(importlib.import_module(module), attr), name


@pytest.mark.parametrize("node", sorted({t for r in LEDGER for t in r.tests}))
def test_cited_test_exists(node: str) -> None:
    file, _, func = node.partition("::")
    source = (ROOT / file).read_text()
    assert re.search(rf"^def {re.escape(func)}\(", source, flags=re.M), node


@pytest.mark.parametrize("label", sorted({d for r in LEDGER for d in r.derivation}))
def test_derivation_label_is_defined_in_the_book(label: str) -> None:
    assert f"({label})=" in _book_text(), label


def test_closed_rows_are_complete() -> None:
    for r in LEDGER:
        if r.status != "pending":
            assert r.derivation and r.implementation and r.tests, r.id


def test_bad_status_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "ledger.toml"
    bad.write_text(
        '[[equation]]\nid = "E1"\nsection = "2.1"\npaper = "x"\nstatus = "fine"\nfinding = "y"\n'
    )
    with pytest.raises(ValueError, match="status"):
        load_ledger(bad)
    bad.write_text(
        '[[equation]]\nid = "E1"\nsection = "2.1"\npaper = "x"\nstatus = "wrong"\nfinding = "y"\n'
    )
    with pytest.raises(ValueError, match="lacks"):
        load_ledger(bad)

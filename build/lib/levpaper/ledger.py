"""The equation ledger: every equation of the paper, its status, and where it is checked.

The ledger's data live in ``book/ledger.toml`` (one table per equation). The book's appendices
render it with :func:`ledger_markdown` and :func:`errata_markdown`, and ``tests/test_ledger.py``
holds it to the code: each implementation must import, each test must exist, each derivation
label must be defined in the book.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STATUSES", "LedgerRow", "errata_markdown", "ledger_markdown", "load_ledger"]

#: Allowed values of ``LedgerRow.status``, with the text the book shows for each.
STATUSES: dict[str, str] = {
    "holds": "holds",
    "qualified": "holds, with a qualification",
    "incomplete": "incomplete: completed here",
    "wrong": "wrong: corrected here",
    "pending": "not yet verified in this edition",
}


@dataclass(frozen=True)
class LedgerRow:
    """One equation of the paper.

    Attributes
    ----------
    id : str
        Ledger id, ``"E1"`` to ``"E19"``.
    section : str
        Section of the paper that states it.
    paper : str
        The equation as the paper prints it (LaTeX).
    status : str
        One of the keys of :data:`STATUSES`.
    finding : str
        What the book shows, in one or two sentences (MyST markdown).
    derivation : tuple of str
        Labels of the book's derivations (``{ref}`` targets).
    implementation : tuple of str
        Dotted names of the ``levpaper`` functions or classes that implement it.
    tests : tuple of str
        Pytest node ids (``tests/test_x.py::test_y``) that hold the code to the formula.
    erratum : str
        For ``wrong``, ``incomplete`` and ``qualified`` rows, the correction (MyST markdown).
    """

    id: str
    section: str
    paper: str
    status: str
    finding: str
    derivation: tuple[str, ...] = ()
    implementation: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    erratum: str = ""


def load_ledger(path: str | Path) -> list[LedgerRow]:
    """Read the ledger TOML file at ``path``, in ledger order.

    Raises
    ------
    ValueError
        If a row has an unknown status, or a verified row lacks a derivation,
        an implementation or a test.
    """
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    rows = []
    for entry in data["equation"]:
        row = LedgerRow(
            id=entry["id"],
            section=entry["section"],
            paper=entry["paper"],
            status=entry["status"],
            finding=entry["finding"],
            derivation=tuple(entry.get("derivation", ())),
            implementation=tuple(entry.get("implementation", ())),
            tests=tuple(entry.get("tests", ())),
            erratum=entry.get("erratum", ""),
        )
        if row.status not in STATUSES:
            raise ValueError(f"status of {row.id} must be one of {sorted(STATUSES)}")
        if row.status != "pending" and not (row.derivation and row.implementation and row.tests):
            raise ValueError(f"{row.id} is marked {row.status!r} but lacks derivation/code/test")
        if row.status in ("wrong", "incomplete", "qualified") and not row.erratum:
            raise ValueError(f"{row.id} is marked {row.status!r} but has no erratum text")
        rows.append(row)
    return rows


def _cell(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def ledger_markdown(rows: list[LedgerRow], repository_url: str, branch: str = "main") -> str:
    """Render the ledger as a MyST table with links to derivations, code and tests."""
    lines = [
        "| id | paper | equation as printed | status | derivation | implementation | test |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        derivation = ", ".join(f"{{ref}}`{label}`" for label in r.derivation) or "-"
        impl = ", ".join(f"{{py:obj}}`~{name}`" for name in r.implementation) or "-"
        tests = []
        for node in r.tests:
            file, _, name = node.partition("::")
            tests.append(f"[`{name or file}`]({repository_url}/blob/{branch}/{file})")
        cells = [
            r.id,
            r.section,
            f"${r.paper}$",
            STATUSES[r.status],
            derivation,
            impl,
            ", ".join(tests) or "-",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def errata_markdown(rows: list[LedgerRow]) -> str:
    """Render every row that the book corrects or qualifies as a MyST section."""
    parts = []
    for r in rows:
        if r.status not in ("wrong", "incomplete", "qualified"):
            continue
        where = ", ".join(f"{{ref}}`{label}`" for label in r.derivation)
        parts.append(
            f"**{r.id} (paper section {r.section}), {STATUSES[r.status]}.** "
            f"The paper: ${r.paper}$.\n\n{r.erratum}\n\nEvidence: {where}."
        )
    return "\n\n".join(parts) if parts else "No equation of the paper has been corrected yet."

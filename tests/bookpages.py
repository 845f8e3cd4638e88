"""The book's pages in table-of-contents order, shared by the book and browser tests."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_docnames() -> list[str]:
    """Root, then every chapter followed by its sections, as ``_toc.yml`` lists them."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entry: dict[str, object]) -> None:  # a file, then its sections, at any depth
        names.append(str(entry["file"]))
        for sub in entry.get("sections", []):  # type: ignore[attr-defined]
            walk(sub)

    for part in toc["parts"]:
        for chapter in part["chapters"]:
            walk(chapter)
    return names

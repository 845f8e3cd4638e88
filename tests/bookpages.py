"""The book's pages in table-of-contents order, shared by the book and browser tests."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_docnames() -> list[str]:
    """Root, then every chapter followed by its sections, as ``_toc.yml`` lists them."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            names += [chapter["file"]] + [s["file"] for s in chapter.get("sections", [])]
    return names

"""The PDF edition (`make pdf`, built by `make test` after the HTML book): the whole book in one
file, _build/latex/levpaper.pdf. pypdf reads it back and the tests check that it holds every page
of the table of contents, typeset math and no raw TeX or unresolved reference, every glued number
as its notebook stored it, every figure, and the bibliography.

Text is checked in the prose only: what is drawn in a monospace font (code cells, their printed
outputs, inline code) is left out, since code may legitimately contain ``\\frac`` or ``{glue``.
pypdf drops many inter-word spaces of justified text, so text is compared with all whitespace
removed."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bookpages import toc_docnames

ROOT = Path(__file__).resolve().parents[1]
PDF = ROOT / "_build" / "latex" / "levpaper.pdf"
DOCS = toc_docnames()

pytestmark = pytest.mark.pdf

# Left in the prose by math that was not typeset, or by a reference LaTeX could not resolve.
RAW = ("\\(", "\\)", "\\[", "$$", "\\frac", "\\begin{", ":math:", "??")
# What a glue role leaves when it is not replaced by its value.
GLUE_LEFTOVERS = ("{glue", "glue:text", ".ipynb::")
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`]+)`")
MATH_FONT = re.compile(r"^(CM|MSBM|MSAM|LM|Latin ?Modern ?Math)", re.I)
QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "‐": "-", "‑": "-", "−": "-"})


def squash(text: str) -> str:
    """Compare text as pypdf extracts it: no whitespace, ligatures split, quotes plain."""
    text = unicodedata.normalize("NFKC", text).translate(QUOTES)
    return re.sub(r"\s+", "", text).casefold()


@dataclass
class Book:
    pages: int
    prose: str  # text drawn in non-monospace fonts, all pages
    math_chars: int  # characters drawn in the math fonts
    images: list[tuple[int, int]] = field(default_factory=list)  # (width, height) per placement


@pytest.fixture(scope="module")
def book() -> Book:
    if not PDF.exists():
        reason = (
            f"{PDF.relative_to(ROOT)} is not built: `make pdf` builds it (make test does, after "
            "the HTML book), with Debian's TeX Live, which tools/install_tex.sh installs as root"
        )
        if os.environ.get("CI"):
            pytest.fail(f"PDF check cannot run under CI: {reason}")
        pytest.skip(reason)
    from pypdf import PdfReader

    reader = PdfReader(PDF)
    prose: list[str] = []
    fonts: Counter[str] = Counter()

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        name = str(font.get("/BaseFont", "")).split("+")[-1] if font else ""
        fonts[name] += len(text.strip())
        prose.append(" " if "mono" in name.lower() else text)

    images: list[tuple[int, int]] = []
    for page in reader.pages:
        page.extract_text(visitor_text=visit)
        xobjects = page.get("/Resources", {}).get("/XObject", {})
        for ref in xobjects.values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                images.append((int(obj["/Width"]), int(obj["/Height"])))
    math_chars = sum(n for name, n in fonts.items() if MATH_FONT.match(name))
    return Book(len(reader.pages), squash("".join(prose)), math_chars, images)


def _source(doc: str) -> tuple[Path, list[dict[str, Any]]]:
    """A TOC page's path and its cells (a Markdown page is one markdown cell)."""
    notebook = ROOT / f"{doc}.ipynb"
    if notebook.exists():
        return notebook, json.loads(notebook.read_text())["cells"]
    page = ROOT / f"{doc}.md"
    return page, [{"cell_type": "markdown", "source": page.read_text(), "metadata": {}}]


def _markdown(doc: str) -> str:
    return "\n".join("".join(c["source"]) for c in _source(doc)[1] if c["cell_type"] == "markdown")


def _title(doc: str) -> str:
    m = re.search(r"^# (.+)$", _markdown(doc), flags=re.M)
    assert m, f"{doc} has no title"
    return re.sub(r"[*`]", "", m.group(1)).strip()


def _glued(notebook: Path) -> dict[str, str]:
    """The text/plain of every value glued in a notebook's stored outputs, by name."""
    values = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            plain = output.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
            if "name" in scrap and plain is not None:
                values[scrap["name"]] = "".join(plain)
    return values


def _glue_roles() -> list[tuple[str, str, str, str]]:
    """(page, key, format, expected text) of every ``{glue:text}`` role in the book's prose,
    formatted as myst-nb formats it, from the stored outputs of the notebook it names."""
    from myst_nb.core.variables import format_plain_text

    roles = []
    cache: dict[Path, dict[str, str]] = {}
    for doc in DOCS:
        path, _ = _source(doc)
        for content in GLUE_ROLE.findall(_markdown(doc)):
            # the role's own parsing: "[path::]key[:format]"
            parts = content.rsplit(":", 1)
            key, fmt = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "s")
            source = path
            if "::" in key:
                rel, key = key.split("::", 1)
                source = (path.parent / rel).resolve()
            if source not in cache:
                cache[source] = _glued(source)
            assert key in cache[source], f"{doc}: {key!r} is not glued in {source.name}"
            roles.append((doc, key, fmt, format_plain_text(cache[source][key], fmt)))
    return roles


def test_page_count_is_sane(book: Book) -> None:
    # at least a few pages per page of the table of contents, and not a runaway layout
    assert 4 * len(DOCS) <= book.pages <= 1000, book.pages


@pytest.mark.parametrize("doc", DOCS)
def test_every_page_of_the_toc_is_in_the_pdf(book: Book, doc: str) -> None:
    assert squash(_title(doc)) in book.prose, f"title of {doc} not in the PDF: {_title(doc)!r}"


def test_no_raw_tex_or_unresolved_reference(book: Book) -> None:
    found = {raw: book.prose.count(squash(raw)) for raw in RAW}
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def test_math_is_typeset(book: Book) -> None:
    displays = sum(_markdown(doc).count("$$") // 2 for doc in DOCS)
    assert displays > 20, displays
    # Computer Modern math glyphs: about ten or more per display equation of the book
    assert book.math_chars >= 10 * displays, (book.math_chars, displays)


def test_glued_numbers_render(book: Book) -> None:
    roles = _glue_roles()
    assert len(roles) > 100, len(roles)
    assert sum("::" in r for r in GLUE_ROLE.findall(" ".join(map(_markdown, DOCS)))) > 5
    for leftover in GLUE_LEFTOVERS:
        assert squash(leftover) not in book.prose, f"glue role left as text: {leftover!r}"
    missing = [r for r in roles if squash(r[3]) not in book.prose]
    assert not missing, missing[:10]


def test_every_figure_is_in_the_pdf(book: Book) -> None:
    figures = 0
    captions = []
    for doc in DOCS:
        _, cells = _source(doc)
        for cell in cells:
            figures += sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
            caption = cell["metadata"].get("mystnb", {}).get("figure", {}).get("caption")
            if caption:
                captions.append(caption)
        figures += len(re.findall(r"!\[|```\{(?:image|figure)\}", _markdown(doc)))
    assert figures >= 10 and captions, (figures, len(captions))
    assert len(book.images) >= figures, (len(book.images), figures)
    assert all(w >= 200 and h >= 100 for w, h in book.images), book.images
    for caption in captions:
        # the caption's opening words, up to its first markup
        words = re.split(r"[$`{*\[]", caption)[0].split()[:6]
        assert squash(" ".join(words)) in book.prose, f"figure caption not in the PDF: {caption!r}"


def test_bibliography_is_in_the_pdf(book: Book) -> None:
    from pybtex.database import parse_file

    entries = parse_file(str(ROOT / "book" / "references.bib")).entries
    assert entries
    for key, entry in entries.items():
        title = entry.fields["title"].replace("{", "").replace("}", "")
        assert squash(title) in book.prose, f"reference {key} ({title!r}) not in the PDF"

"""The book's structure: the table of contents mirrors the paper, every page is real, every
notebook is stored with its outputs, and nbval catches a stored number changed by hand."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bookpages import toc_docnames

import levpaper

ROOT = Path(__file__).resolve().parents[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())

# The paper's numbered chapters and sections (titles as the paper gives them).
PAPER_CHAPTERS = {
    1: "Introduction",
    2: "Intertoken swaps and leverage",
    3: "AI agent design",
    4: "Quantitative risk and reward",
    5: "Risk management",
    6: "Broader implications",
    7: "Conclusion",
}
PAPER_SECTIONS = {
    "2.1": "Intertoken swap dynamics",
    "2.2": "Leverage mechanics",
    "3.1": "Advanced reinforcement learning model",
    "3.2": "Volatility-adjusted leverage",
    "3.3": "Training innovations",
    "4.1": "Return potential",
    "4.2": "Liquidation probability",
    "4.3": "Systemic volatility",
    "5.1": "Dynamic liquidation thresholds",
    "5.2": "Portfolio entropy metric",
    "5.3": "Ecosystem circuit breakers",
}
# Sections the book adds after the paper's own in a chapter (the paper has no such section); they
# continue the chapter's numbering and must come after every section of the paper.
BOOK_SECTIONS = {
    "4.4": "On real prices",
    "5.4": "The verdicts under a venue's mechanics",
}
APPENDICES = ["Equation ledger", "Errata", "Reproducibility", "How to cite", "References"]
PLACEHOLDER = re.compile(r"\b(TODO|FIXME|TBD|placeholder|coming soon|lorem ipsum)\b", re.I)


def page_path(name: str) -> Path:
    for ext in (".ipynb", ".md"):
        if (ROOT / f"{name}{ext}").exists():
            return ROOT / f"{name}{ext}"
    raise FileNotFoundError(name)


def page_text(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
    return path.read_text()


def title(path: Path) -> str:
    m = re.search(r"^# (.+)$", page_text(path), flags=re.M)
    assert m, f"{path} has no title"
    return m.group(1).strip()


def all_pages() -> list[Path]:
    return [page_path(n) for n in toc_docnames()]


def notebooks() -> list[Path]:
    return [p for p in all_pages() if p.suffix == ".ipynb"]


def test_chapters_and_sections_carry_the_papers_numbers_in_order() -> None:
    body = TOC["parts"][0]
    assert not body.get("numbered"), "titles carry the paper's numbers; no automatic numbering"
    chapter_numbers = []
    for chapter in body["chapters"]:
        m = re.fullmatch(r"(\d)\. (.+)", title(page_path(chapter["file"])))
        assert m, f"chapter title must read 'N. Title': {chapter['file']}"
        number = int(m.group(1))
        assert m.group(2) == PAPER_CHAPTERS[number]
        chapter_numbers.append(number)
        section_numbers = []
        for section in chapter.get("sections", []):
            s = re.fullmatch(r"(\d)\.(\d) (.+)", title(page_path(section["file"])))
            assert s, f"section title must read 'N.k Title': {section['file']}"
            assert int(s.group(1)) == number
            key = f"{s.group(1)}.{s.group(2)}"
            expected = PAPER_SECTIONS.get(key) or BOOK_SECTIONS[key]
            assert s.group(3).lower().startswith(expected.lower())
            if key in BOOK_SECTIONS:  # after every section the paper has in this chapter
                paper = [int(k.split(".")[1]) for k in PAPER_SECTIONS if k.startswith(f"{number}.")]
                assert int(s.group(2)) > max(paper), f"{key} must follow the paper's sections"
            section_numbers.append(int(s.group(2)))
        assert section_numbers == sorted(set(section_numbers))
    assert chapter_numbers == sorted(set(chapter_numbers))
    assert chapter_numbers[:2] == [1, 2]


def test_appendices_are_in_order() -> None:
    titles = [title(page_path(c["file"])) for c in TOC["parts"][1]["chapters"]]
    assert [t for t in titles if t in APPENDICES] == APPENDICES
    assert TOC["parts"][1].get("numbered") is not True


@pytest.mark.parametrize("path", all_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_page_is_real(path: Path) -> None:
    text = page_text(path)
    assert not PLACEHOLDER.search(text), PLACEHOLDER.search(text)
    assert len(re.findall(r"\w+", text)) > 40, f"{path} is too short to be a real page"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_is_stored_with_its_outputs(path: Path) -> None:
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, f"{path}: cells never executed; run `make reproduce`"
    assert counts == list(range(1, len(code) + 1)), f"{path}: executed out of order"
    assert nb["metadata"].get("mystnb", {}).get("execution_mode") == "off"
    for cell in code:
        assert not [o for o in cell["outputs"] if o["output_type"] == "error"], path


def test_nbval_fails_when_a_stored_number_is_changed(tmp_path: Path) -> None:
    source = ROOT / "book" / "ch2" / "amm.ipynb"
    nb = json.loads(source.read_text())
    tampered = None
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            key = "application/papermill.record/text/plain"
            if key in data and re.fullmatch(r"\d+\.\d+", data[key]):
                data[key] = str(float(data[key]) + 0.01)
                tampered = data[key]
                break
        if tampered:
            break
    assert tampered, "no glued number found to tamper with"
    target = tmp_path / "amm.ipynb"
    target.write_text(json.dumps(nb))
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "--nbval-current-env",
        "-p",
        "no:cacheprovider",
        "--nbval-sanitize-with",
        "nbval_sanitize.cfg",
        "amm.ipynb",
    ]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 failed" in result.stdout, result.stdout[-2000:]
    assert tampered in result.stdout


_RULE = re.compile(r"^-{3,}$")
# a numpydoc entry: ``name``, ``name : type``, ``a, b : type``, ``*args``, ``**kwargs``
_ENTRY = re.compile(r"^\*{0,2}\w+(,\s*\*{0,2}\w+)*(\s+:(\s.*)?)?$")


def parameter_prose(doc: str) -> list[str]:
    """Lines at the indentation of a ``Parameters`` section's entries that are not entries:
    napoleon would read each as one more parameter name (its roles printed raw)."""
    lines = inspect.cleandoc(doc).splitlines()
    bad, inside = [], False
    for i, line in enumerate(lines):
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if _RULE.match(nxt) and line.strip():
            inside = line.strip() in {"Parameters", "Other Parameters", "Attributes"}
            continue
        if not inside or not line.strip() or line[0].isspace() or _RULE.match(line.strip()):
            continue
        if not _ENTRY.match(line.strip()):
            bad.append(line.strip())
    return bad


def test_no_prose_inside_a_parameter_list() -> None:
    """Every docstring of the library keeps its parameter lists to entries: prose belongs in
    the description or in an entry's own text. (Found by this test: a paragraph after
    ``RegimeSwitchingGBM``'s parameters printed raw ``:math:`` roles in the PDF.)"""
    assert parameter_prose("S.\n\nParameters\n----------\nx : float\n    X.\n\nProse.\n") == [
        "Prose."
    ]
    assert parameter_prose("S.\n\nParameters\n----------\na, b : int\n    T.\n*args\n") == []
    found = {}
    for info in pkgutil.walk_packages(levpaper.__path__, "levpaper."):
        module = importlib.import_module(info.name)
        objects = [module, *vars(module).values()]
        objects += [m for o in list(objects) if inspect.isclass(o) for m in vars(o).values()]
        for obj in objects:
            target = obj.fget if isinstance(obj, property) else obj
            mod = getattr(target, "__module__", None) or getattr(target, "__name__", None)
            doc = getattr(target, "__doc__", None)
            if (mod != info.name and target is not module) or not isinstance(doc, str):
                continue
            if bad := parameter_prose(doc):
                found[f"{info.name}.{getattr(target, '__qualname__', '')}"] = bad
    assert not found, found

"""The equation ledger: every equation of the paper, its status, and where it is checked.

The ledger's data live in ``book/ledger.toml`` (one table per equation). The book's appendices
render it with :func:`ledger_markdown` and :func:`errata_markdown`, and ``tests/test_ledger.py``
holds it to the code: each implementation must import, each test must exist, each derivation
label must be defined in the book.

No number in the ledger's prose is typed by hand. The ``finding`` and ``erratum`` texts quote the
values that the chapter notebooks glue (myst_nb ``glue``) through *glue references*::

    {glue:ch4/liquidation_probability::liq_correct_100_1d:.3f}

that is ``{glue:NOTEBOOK::NAME}`` or ``{glue:NOTEBOOK::NAME:SPEC}``, where ``NOTEBOOK`` is the
notebook's path relative to ``book/`` (the ``.ipynb`` suffix may be left out), ``NAME`` the glued
variable and ``SPEC`` a Python format specification (``.3f``, ``,.0f``, ``d``). Without a spec
the value appears as the notebook stores it (a glued string without its quotes).
:func:`load_ledger` replaces every reference by the value stored in the notebook's outputs
(:func:`resolve_glue`), so the appendices show what the chapters computed when they were last
executed, and an unknown notebook or name is an error. :func:`typed_numbers` finds the numbers
that a text types by hand; ``tests/test_ledger.py`` requires it to find none in the ledger.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "ALLOWED_LITERALS",
    "GLUE_REFERENCE",
    "STATUSES",
    "LedgerRow",
    "errata_markdown",
    "glue_references",
    "ledger_markdown",
    "load_ledger",
    "read_glue",
    "resolve_glue",
    "typed_numbers",
]

#: Allowed values of ``LedgerRow.status``, with the text the book shows for each.
STATUSES: dict[str, str] = {
    "holds": "holds",
    "qualified": "holds, with a qualification",
    "incomplete": "incomplete: completed here",
    "wrong": "wrong: corrected here",
    "pending": "not yet verified in this edition",
}

#: A glue reference, ``{glue:NOTEBOOK::NAME}`` or ``{glue:NOTEBOOK::NAME:SPEC}``.
GLUE_REFERENCE = re.compile(
    r"\{glue:(?P<notebook>[\w./-]+?)::(?P<name>[A-Za-z_]\w*)(?::(?P<spec>[^{}]*))?\}"
)
_GLUE_START = "{glue:"

#: Numbers that prose may type, and why (see :func:`typed_numbers`): the paper's own values where
#: the prose quotes the paper (its example of a 1% adverse move, and of a 2% (0.02) rise that
#: earns 100C * 0.02 = 2C) and the statistical levels of the book's method (95% confidence
#: intervals, the 95th percentile of the stress tables, the 99% VaR of E12). Inside math the
#: paper's leverage cap 100 (its min(100, M/VaR)) is allowed too.
ALLOWED_LITERALS: frozenset[str] = frozenset(
    {"1%", "2%", "0.02", "100C", "2C", "95%", "95th", "99%"}
)
_MATH_ALLOWED = frozenset({"100"})

_ROLE = re.compile(r"\{[\w:.-]+\}`[^`]*`")
_CODE = re.compile(r"`[^`]*`")
_HEADING_NUMBER = re.compile(r"^(#+\s+)\d+(?:\.\d+)*\.?", flags=re.M)
_SECTION = re.compile(
    r"\b(?:[Ss]ections?|[Cc]hapters?)\s+\d+(?:\.\d+)?"
    r"(?:(?:,\s*|\s+and\s+|\s+to\s+|\s+or\s+)\d+(?:\.\d+)?)*"
)
_LEDGER_ID = re.compile(r"\bE\d{1,2}\b")
_VERSION = re.compile(r"\b\d+\.\d+\.\d+\b")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$", flags=re.S)
_NUMBER = re.compile(
    r"(?<![\w.])(?:\d{1,3}(?:(?:,|\{,\})\d{3})+|\d+)(?:\.\d+)?(?:\\?%|x\b|th\b|C\b)?"
)
_LEVERAGE_LABEL = re.compile(r"\d+x")
_RELATION = re.compile(r"(?:=|<|>|\\approx|\\le|\\ge|\\leq|\\geq)\s*-?\s*$")


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
        What the book shows, in one or two sentences (MyST markdown, with glue references).
    derivation : tuple of str
        Labels of the book's derivations (``{ref}`` targets).
    implementation : tuple of str
        Dotted names of the ``levpaper`` functions or classes that implement it.
    tests : tuple of str
        Pytest node ids (``tests/test_x.py::test_y``) that hold the code to the formula.
    erratum : str
        For ``wrong``, ``incomplete`` and ``qualified`` rows, the correction (MyST markdown,
        with glue references).
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


def glue_references(text: str) -> Iterator[re.Match[str]]:
    """The glue references of ``text``, in order.

    Raises
    ------
    ValueError
        If ``text`` contains ``{glue:`` that does not start a well-formed reference.

    Examples
    --------
    >>> [m["name"] for m in glue_references("a {glue:ch2/amm::x:.2f} b {glue:ch3/mdp::y}")]
    ['x', 'y']
    >>> list(glue_references("{glue:ch2/amm:x}"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: text: malformed glue reference '{glue:ch2/amm:x}' (expected ...)
    """
    start = 0
    while (at := text.find(_GLUE_START, start)) >= 0:
        match = GLUE_REFERENCE.match(text, at)
        if match is None:
            end = text.find("}", at)
            bad = text[at : end + 1 if end >= 0 else len(text)]
            raise ValueError(
                f"text: malformed glue reference {bad!r} (expected {{glue:NOTEBOOK::NAME}} or "
                "{glue:NOTEBOOK::NAME:SPEC})"
            )
        yield match
        start = match.end()


def read_glue(notebook: str | Path) -> dict[str, str]:
    """The values a notebook glues: each glued name with its stored ``text/plain``.

    myst_nb's ``glue`` stores a value as a ``display_data`` output whose metadata
    ``scrapbook.name`` is the name and whose data hold ``<mime_prefix>text/plain``.

    Raises
    ------
    ValueError
        If ``notebook`` does not exist or is not a notebook.
    """
    path = Path(notebook)
    if not path.is_file():
        raise ValueError(f"notebook: {path} does not exist")
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"notebook: {path} is not a Jupyter notebook ({err})") from None
    values: dict[str, str] = {}
    for cell in cells:
        for output in cell.get("outputs", ()):
            scrap = output.get("metadata", {}).get("scrapbook")
            if not scrap:
                continue
            text = output.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
            if text is not None:
                values[scrap["name"]] = "".join(text) if isinstance(text, list) else text
    return values


def _format(stored: str, spec: str | None, where: str) -> str:
    try:
        value = ast.literal_eval(stored)
    except (ValueError, SyntaxError):
        value = None
    if spec is None:
        return value if isinstance(value, str) else stored
    if value is None:
        raise ValueError(f"{where}: stored value {stored!r} is not a Python literal")
    try:
        return format(value, spec)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: cannot format {value!r} with {spec!r} ({err})") from None


def resolve_glue(
    text: str, book_dir: str | Path, cache: dict[Path, dict[str, str]] | None = None
) -> str:
    """Replace every glue reference in ``text`` by the value its notebook stores.

    Parameters
    ----------
    text : str
        Prose with references ``{glue:NOTEBOOK::NAME}`` or ``{glue:NOTEBOOK::NAME:SPEC}``
        (module docstring).
    book_dir : str or Path
        The directory the notebook paths are relative to (``book/``).
    cache : dict, optional
        Notebook path to its :func:`read_glue` values, filled as notebooks are read.

    Raises
    ------
    ValueError
        For a malformed reference, a notebook that does not exist, a name the notebook does not
        glue, or a value the spec cannot format; the message quotes the reference.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> book = Path(tempfile.mkdtemp())
    >>> out = {"output_type": "display_data", "data": {"application/papermill.record/text/plain":
    ...        "0.906501"}, "metadata": {"scrapbook": {"name": "p_day",
    ...        "mime_prefix": "application/papermill.record/"}}}
    >>> nb = {"cells": [{"cell_type": "code", "source": "", "outputs": [out]}]}
    >>> _ = (book / "ch4").mkdir(), (book / "ch4" / "liq.ipynb").write_text(json.dumps(nb))
    >>> resolve_glue("it is {glue:ch4/liq::p_day:.3f}", book)
    'it is 0.907'
    >>> resolve_glue("{glue:ch4/liq::p_week:.3f}", book)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: glue reference '{glue:ch4/liq::p_week:.3f}': ... 'p_week' (it glues: p_day)
    """
    root = Path(book_dir)
    store = {} if cache is None else cache
    parts, start = [], 0
    for match in glue_references(text):
        ref = match.group(0)
        relative = match["notebook"]
        if not relative.endswith(".ipynb"):
            relative += ".ipynb"
        path = root / relative
        if path not in store:
            if not path.is_file():
                raise ValueError(f"glue reference {ref!r}: no notebook {relative} in {root}")
            store[path] = read_glue(path)
        values = store[path]
        if match["name"] not in values:
            close = difflib.get_close_matches(match["name"], values, n=5, cutoff=0.6)
            if close:
                hint = f"closest: {', '.join(close)}"
            elif len(values) <= 10:
                hint = f"it glues: {', '.join(sorted(values)) or 'nothing'}"
            else:
                hint = f"it glues {len(values)} names, none of them close"
            raise ValueError(
                f"glue reference {ref!r}: {relative} glues no value named {match['name']!r} "
                f"({hint})"
            )
        parts += [
            text[start : match.start()],
            _format(values[match["name"]], match["spec"], f"glue reference {ref!r}"),
        ]
        start = match.end()
    parts.append(text[start:])
    return "".join(parts)


def typed_numbers(text: str, allowed: frozenset[str] = ALLOWED_LITERALS) -> list[str]:
    r"""The numbers that ``text`` (MyST markdown) types by hand, in order.

    A digit sequence in prose is a typed number unless it is one of these:

    1. inside a glue reference (``{glue:...}``), a MyST role with its backquoted content
       (``{ref}``, ``{glue:text}``), or an inline code span (``Discrete(8)`` in backquotes);
    2. a ledger id (``E12``), a section or chapter number after the word *section(s)* or
       *chapter(s)* (``sections 3.2 and 3.3``), the number of a heading (``# 7. Conclusion``),
       or a software version (``1.2.0``);
    3. inside math (``$...$``), an integer of a formula (``\sigma^2/8``, ``(1+r)``,
       ``e^{2\nu b}``): one of at most two digits, without a thousands separator, that is not
       stated as a value right after ``=``, ``<``, ``>``, ``\approx``, ``\le`` or ``\ge``; 0
       and 1 anywhere in math (``\beta > -1``); and the paper's cap 100 (``\min(100, \cdot)``);
    4. an integer leverage at which a result is reported (``25x``, ``2x-100x``): an input of
       the computation, like the paper's 100x (a leverage that is a result, ``1.3x``, is not
       an integer and must be glued);
    5. one of ``allowed`` (:data:`ALLOWED_LITERALS`): the paper's own values where the prose
       quotes the paper, and the statistical levels of the book's method;
    6. outside math, a calendar year (``2018``, ``2018-2020``: the dates of a data set) and the
       name of a hash function (``sha256``, ``SHA-256``).

    Every other number, with its ``%``, ``x``, ``th`` or ``C`` suffix, is returned.

    Examples
    --------
    >>> typed_numbers("at 100x a fall of 0.5% liquidates, see section 2.2 and E8")
    ['0.5%']
    >>> typed_numbers(r"loses $\sigma^2/8$ a year, $m = {glue:ch2/leverage::lev_m_pct:.1f}\%$")
    []
    >>> typed_numbers(r"$T = 720$ steps and $\gamma = 0.99$ in $(1+r)^2$")
    ['720', '0.99']
    >>> typed_numbers(r"at 25x about 1.3x, $g \approx -3{,}000$ in $720$ steps")
    ['1.3x', '3{,}000', '720']
    >>> typed_numbers("candles of 2018-2022, fitted to 2018-2020; a SHA-256 hash; 2018.5")
    ['2018.5']
    """
    t = GLUE_REFERENCE.sub(" ", text)
    t = _ROLE.sub(" ", t)
    t = _CODE.sub(" ", t)
    t = _HEADING_NUMBER.sub(r"\1", t)
    t = _SECTION.sub(" ", t)
    t = _LEDGER_ID.sub(" ", t)
    t = _VERSION.sub(" ", t)
    found: list[str] = []
    position = 0
    for math in _MATH.finditer(t):
        found += _text_numbers(t[position : math.start()], allowed)
        found += _math_numbers(math.group(0), allowed)
        position = math.end()
    return found + _text_numbers(t[position:], allowed)


# A calendar year or range of years in prose (not followed by a decimal part), or a hash name.
_YEAR_OR_HASH = re.compile(
    r"(?<![\d.])(?:19|20)\d\d(?:-(?:19|20)\d\d)?(?!\.?\d)|\b(?:sha256|SHA-256)\b"
)


def _is_allowed(token: str, allowed: frozenset[str]) -> bool:
    return token in allowed or token.replace("\\%", "%") in allowed


def _text_numbers(text: str, allowed: frozenset[str]) -> list[str]:
    text = _YEAR_OR_HASH.sub(" ", text)
    return [
        m.group(0)
        for m in _NUMBER.finditer(text)
        if not (_is_allowed(m.group(0), allowed) or _LEVERAGE_LABEL.fullmatch(m.group(0)))
    ]


def _math_numbers(math: str, allowed: frozenset[str]) -> list[str]:
    found = []
    for number in _NUMBER.finditer(math):
        token = number.group(0)
        if _is_allowed(token, allowed | _MATH_ALLOWED) or _LEVERAGE_LABEL.fullmatch(token):
            continue
        formula_integer = len(token) <= 2 and not _RELATION.search(math[: number.start()])
        if token.isdigit() and (token in ("0", "1") or formula_integer):
            continue
        found.append(token)
    return found


def load_ledger(path: str | Path, *, resolve: bool = True) -> list[LedgerRow]:
    """Read the ledger TOML file at ``path``, in ledger order.

    Parameters
    ----------
    path : str or Path
        The ledger file (``book/ledger.toml``).
    resolve : bool, default True
        Replace the glue references of ``finding`` and ``erratum`` by the values the notebooks
        store (:func:`resolve_glue`, paths relative to the ledger's directory). ``False`` keeps
        the references, as typed in the file.

    Raises
    ------
    ValueError
        If a row has an unknown status, or a verified row lacks a derivation, an implementation
        or a test, or (with ``resolve``) a glue reference does not resolve.
    """
    ledger_path = Path(path)
    data = tomllib.loads(ledger_path.read_text(encoding="utf-8"))
    cache: dict[Path, dict[str, str]] = {}
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
        if resolve:
            try:
                row = replace(
                    row,
                    finding=resolve_glue(row.finding, ledger_path.parent, cache),
                    erratum=resolve_glue(row.erratum, ledger_path.parent, cache),
                )
            except ValueError as err:
                raise ValueError(f"{row.id}: {err}") from None
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

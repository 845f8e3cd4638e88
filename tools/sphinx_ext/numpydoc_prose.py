"""Sphinx extension: prose after a numpydoc parameter list belongs to the description.

A paragraph written at the section's own indentation after the last entry of a
``Parameters`` (or ``Other Parameters``) section is prose about the parameters, but napoleon
reads each of its lines as one more parameter name, so its roles (``:math:``) are printed raw.
Before napoleon sees the docstring (``autodoc-process-docstring``, priority 100), this moves
such paragraphs in front of the section's header, where they render as text.
"""

from __future__ import annotations

import re
from typing import Any

_RULE = re.compile(r"^\s*-{3,}\s*$")
# an entry: ``name``, ``name : type``, ``a, b : type``, ``*args``, ``**kwargs``
_ENTRY = re.compile(r"^\*{0,2}\w+(,\s*\*{0,2}\w+)*(\s+:(\s.*)?)?$")
_SECTIONS = {"Parameters", "Other Parameters"}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def move_prose(lines: list[str]) -> None:
    """Move, in place, the prose paragraphs that end a parameter section before its header.

    >>> doc = ["Summary.", "", "Parameters", "----------", "x : float", "    The x.", "",
    ...        "Prose :math:`x`.", "", "Raises", "------", "ValueError"]
    >>> move_prose(doc)
    >>> doc[:4]
    ['Summary.', '', 'Prose :math:`x`.', '']
    >>> doc[4:8]
    ['Parameters', '----------', 'x : float', '    The x.']
    """
    i = 0
    while i < len(lines) - 1:
        if lines[i].strip() not in _SECTIONS or not _RULE.match(lines[i + 1]):
            i += 1
            continue
        base = _indent(lines[i])
        end = i + 2
        while end < len(lines) and not (
            lines[end].strip() and end + 1 < len(lines) and _RULE.match(lines[end + 1])
        ):
            end += 1
        start = next(
            (
                k + 1
                for k in range(i + 2, end - 1)
                if not lines[k].strip()
                and lines[k + 1].strip()
                and _indent(lines[k + 1]) == base
                and not _ENTRY.match(lines[k + 1].strip())
            ),
            None,
        )
        entries_after = start is not None and any(
            not lines[k - 1].strip()
            and _indent(lines[k]) == base
            and _ENTRY.match(lines[k].strip())
            for k in range(start + 1, end)
        )
        if start is None or entries_after:  # only a paragraph that ends the section is moved
            i = end
            continue
        prose = lines[start:end]
        while prose and not prose[-1].strip():
            prose.pop()
        del lines[start:end]
        if lines[start - 1].strip():
            lines.insert(start, "")
        lines[i:i] = [*prose, ""]
        i = end


def _process(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    move_prose(lines)


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _process, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

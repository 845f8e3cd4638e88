"""The experiments layer: declared grids, cached artifacts, resumable runs on Dask.

See the package docstring (:mod:`levpaper.experiments`) for the model. This module holds the
machinery: the :class:`Experiment` declaration, its hash, the per-run seeds, the journal of
finished runs, the artifact files, and :func:`run`, :func:`load`, :func:`status` and
:func:`verify_sample`.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import datetime as _dt
import hashlib
import importlib
import importlib.util
import inspect
import io
import itertools
import json
import math
import os
import re
import shutil
import sys
import textwrap
import time
import traceback
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from levpaper._validate import one_of

if TYPE_CHECKING:
    import pandas as pd

Seeding = Literal["spawn", "offset"]
Record = dict[str, npt.NDArray[Any]]
RunFunction = Callable[[Mapping[str, Any], Mapping[str, Any], Any], Mapping[str, Any]]

#: Columns of :func:`load` that a cell key or a record field may not use.
RESERVED = ("run", "cell", "replicate", "seed")
#: The command that regenerates every artifact (named in the errors about stale artifacts).
REGENERATE_ALL = "make experiments"
#: The floating-point profile the committed artifacts were computed under, as environment
#: variables read when numpy starts (the Makefile exports them for every target). numpy picks
#: its SIMD loops and OpenBLAS its kernels by the CPU at run time; the AVX-512 loops of exp, log
#: and friends, and OpenBLAS's AVX-512 kernels, round differently in the last bit, so without
#: these a record recomputed on another CPU can differ from the stored one by an ulp.
#: ``OPENBLAS_CORETYPE`` applies to x86-64 only (Haswell kernels need AVX2 and FMA).
ARITHMETIC: dict[str, str] = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _integer(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high)``; ``ValueError`` naming ``name`` otherwise.

    A bool is not an integer here. (:func:`levpaper._validate.positive_int` raises ``TypeError``
    for a non-integer; the layer's contract is one ``ValueError`` for every bad argument.)
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value >= high):
        bound = f"be >= {low}" if high is None else f"lie in [{low}, {high})"
        raise ValueError(f"{name} must {bound}, got {value!r}")
    return int(value)


def arithmetic_unpinned(environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables of ``ARITHMETIC`` that ``environ`` (default ``os.environ``) does not
    set to their pinned value: empty when records computed here are bit-comparable with the
    committed artifacts. ``OPENBLAS_CORETYPE`` is only required on x86-64.

    Examples
    --------
    >>> arithmetic_unpinned(ARITHMETIC)
    []
    >>> arithmetic_unpinned({"OPENBLAS_CORETYPE": "Haswell"})
    ['NPY_DISABLE_CPU_FEATURES']
    """
    import platform

    env = os.environ if environ is None else environ
    need = dict(ARITHMETIC)
    if platform.machine().lower() not in ("x86_64", "amd64"):
        need.pop("OPENBLAS_CORETYPE")
    return [k for k, v in need.items() if " ".join(str(env.get(k, "")).split()) != v]


def _arithmetic_hint() -> str:
    """A sentence for a mismatch or a run under an unpinned profile; empty when pinned."""
    loose = arithmetic_unpinned()
    if not loose:
        return ""
    pins = " ".join(f'{k}="{ARITHMETIC[k]}"' for k in loose)
    return (
        f"this process does not pin the arithmetic the artifacts were computed with ({pins} "
        "not set; `make` sets them): numpy's and OpenBLAS's CPU-specific kernels can change "
        "the last bit of a record"
    )


def regenerate_command(name: str) -> str:
    """The command line that regenerates the artifact of experiment ``name``.

    Examples
    --------
    >>> regenerate_command("ch5_stress_table")
    'python -m levpaper.experiments run ch5_stress_table'
    """
    return f"python -m levpaper.experiments run {name}"


class StaleArtifact(ValueError):
    """An artifact whose stored hash differs from its experiment's current hash (or is missing)."""


class MissingExtra(ValueError):
    """An experiment's run function needs a module of an optional extra that is not installed
    (the ``requires`` field of :class:`Experiment`)."""


class RunFailed(RuntimeError):
    """Some runs of an experiment raised; the others are in the journal.

    Attributes
    ----------
    failures : tuple of Failure
    """

    def __init__(self, name: str, failures: Sequence[Failure]) -> None:
        self.name = name
        self.failures = tuple(failures)
        lines = [f"{len(self.failures)} run(s) of experiment {name!r} failed:"]
        lines += [f"  {f.describe()}" for f in self.failures]
        super().__init__("\n".join(lines))


# --- canonical JSON --------------------------------------------------------------------------


def canonical(obj: Any, where: str = "config") -> Any:
    """``obj`` as plain JSON data: dataclasses become their fields plus ``"__type__"``, tuples
    and arrays lists, numpy scalars Python scalars; a non-finite float becomes
    ``{"__float__": "nan"}`` (or ``"inf"``, ``"-inf"``).

    Raises
    ------
    ValueError
        Naming the place (``where``) of a value that has no canonical form.

    Examples
    --------
    >>> from levpaper.market import Control
    >>> canonical({"b": (1, 2.5), "a": Control("cb", circuit_breaker=True)})["a"]["__type__"]
    'levpaper.market.Control'
    >>> canonical({"f": print})
    Traceback (most recent call last):
    ...
    ValueError: config['f'] has no canonical JSON form: <built-in function print>
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {"__type__": f"{type(obj).__module__}.{type(obj).__qualname__}"}
        for f in dataclasses.fields(obj):
            out[f.name] = canonical(getattr(obj, f.name), f"{where}.{f.name}")
        return out
    if isinstance(obj, Mapping):
        res: dict[str, Any] = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} has a key that is not a string: {k!r}")
            res[k] = canonical(v, f"{where}[{k!r}]")
        return res
    if isinstance(obj, list | tuple):
        return [canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        return canonical(obj.tolist(), where)
    if isinstance(obj, np.generic):
        return canonical(obj.item(), where)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    raise ValueError(f"{where} has no canonical JSON form: {obj!r}")


def canonical_json(obj: Any) -> str:
    """Sorted-key, compact JSON of :func:`canonical` ``(obj)``.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": (0.1, None)})
    '{"a":[0.1,null],"b":1}'
    """
    return json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def label(value: Any) -> Any:
    """How a cell value shows in :func:`load`'s table: a scalar as itself, an object with a
    string ``name`` (a scenario, a control) as that name, anything else as its canonical JSON.

    Examples
    --------
    >>> from levpaper.market import Scenario
    >>> label(Scenario("jump_crash", crash_step=5)), label(0.5), label((1, 2))
    ('jump_crash', 0.5, '[1,2]')
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    return canonical_json(value)


def grid(**axes: Sequence[Any]) -> tuple[dict[str, Any], ...]:
    """The cells of the Cartesian product of ``axes`` (the last axis varies fastest).

    Examples
    --------
    >>> grid(a=(1, 2), b=("x", "y"))  # doctest: +NORMALIZE_WHITESPACE
    ({'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'})
    >>> grid(a=())
    Traceback (most recent call last):
    ...
    ValueError: axis 'a' of the grid is empty
    """
    for name, values in axes.items():
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise ValueError(f"axis {name!r} of the grid must be a sequence, got {values!r}")
        if len(values) == 0:
            raise ValueError(f"axis {name!r} of the grid is empty")
    names = list(axes)
    return tuple(
        dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())
    )


# --- the declaration -------------------------------------------------------------------------


def import_function(path: str) -> RunFunction:
    """The function at ``"package.module:qualname"``.

    Raises
    ------
    ValueError
        If the path is malformed, the module cannot be imported or the name is not callable.

    Examples
    --------
    >>> import_function("levpaper.experiments.toy:toy_run").__name__
    'toy_run'
    >>> import_function("levpaper.experiments.toy:nothing")
    Traceback (most recent call last):
    ...
    ValueError: function 'levpaper.experiments.toy:nothing': module levpaper.experiments.toy has no attribute 'nothing'
    """  # noqa: E501
    if not isinstance(path, str) or not _FUNCTION.match(path):
        raise ValueError(f"function must be an import path 'package.module:name', got {path!r}")
    module_name, qualname = path.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"function {path!r}: cannot import {module_name}: {exc}") from None
    where = module_name
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"function {path!r}: module {where} has no attribute {part!r}")
        obj = getattr(obj, part)
        where = f"{where}.{part}"
    if not callable(obj):
        raise ValueError(f"function {path!r} is not callable")
    fn: RunFunction = obj
    return fn


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` without the docstrings of its module, classes and functions (in place)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            if isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest(text: str, filename: str = "<source>") -> str:
    """SHA-256 of the code of the Python source ``text``: its syntax tree without docstrings,
    comments, layout or line numbers. Editing prose (a docstring, a comment) or reformatting
    leaves it unchanged; any change to what the code computes changes it.

    Examples
    --------
    >>> a = code_digest("def f(x):\\n    'Twice x.'\\n    return 2 * x  # double")
    >>> a == code_digest("def f(x):\\n    return 2*x")
    True
    >>> a == code_digest("def f(x):\\n    return 3 * x")
    False
    """
    tree = _strip_docstrings(ast.parse(text, filename=filename))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


# Parsed library modules by the SHA-256 of their bytes: (imported levpaper modules, code digest).
_PARSED: dict[str, tuple[tuple[str, ...], str]] = {}


def _module_facts(name: str) -> tuple[tuple[str, ...], str] | None:
    """The ``levpaper`` modules that module ``name`` imports and its :func:`code_digest`, or
    None if it is not a Python source file. Cached by the file's content."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    raw = Path(spec.origin).read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    hit = _PARSED.get(sha)
    if hit is not None:
        return hit
    text = raw.decode()
    tree = ast.parse(text, filename=spec.origin)
    deps: list[str] = []
    for node in ast.walk(tree):
        found: list[str] = []
        if isinstance(node, ast.Import):
            found = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found = [node.module]
            found += [f"{node.module}.{a.name}" for a in node.names
                      if _is_module(f"{node.module}.{a.name}")]  # fmt: skip
        for dep in found:
            if dep.startswith("levpaper.") and not dep.startswith("levpaper.experiments"):
                if dep not in deps and _is_module(dep):
                    deps.append(dep)
    facts = (tuple(deps), code_digest(text, spec.origin))
    _PARSED[sha] = facts
    return facts


def library_modules(module: str) -> list[str]:
    """The ``levpaper`` modules that ``module`` imports, directly or through each other (read
    from their import statements), without the package's ``__init__`` (which imports
    everything) and without :mod:`levpaper.experiments` itself; sorted.

    The key of an experiment covers their code (:func:`code_digest`), so that a change to the
    library code a run function calls (say :mod:`levpaper.market`) makes its artifact stale and
    ``make experiments`` recomputes it, while an edit of a docstring or a comment does not.

    Examples
    --------
    >>> "levpaper.market" in library_modules("levpaper.experiments.book")
    True
    >>> library_modules("levpaper.experiments.toy")
    []
    """
    seen: set[str] = set()
    todo = [module]
    while todo:
        facts = _module_facts(todo.pop())
        if facts is None:
            continue
        for dep in facts[0]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return sorted(seen)


def _module_digest(name: str) -> str:
    facts = _module_facts(name)
    assert facts is not None
    return facts[1]


def local_dependencies(fn: Callable[..., Any]) -> dict[str, str]:
    """The module-level definitions (functions, classes, assignments) of ``fn``'s module that
    ``fn`` names, directly or through each other, with their source, sorted by name.

    Names are read from the syntax tree, so a definition counts when its name appears in the
    body of ``fn`` or of another dependency; imported names do not (the library modules are
    covered by :meth:`Experiment.modules`).

    Examples
    --------
    >>> from levpaper.experiments.toy import toy_run
    >>> sorted(local_dependencies(toy_run)) == sorted(set(local_dependencies(toy_run)))
    True
    """
    module = inspect.getmodule(fn)
    path = inspect.getsourcefile(module) if module is not None else None
    if path is None:
        return {}
    text = Path(path).read_text()
    defs: dict[str, ast.AST] = {}
    for node in ast.parse(text, filename=path).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Name):
                        defs[sub.id] = node
    root = getattr(fn, "__name__", "")
    seen: set[str] = set()
    todo = [root]
    while todo:
        found = defs.get(todo.pop())
        if found is None:
            continue
        for sub in ast.walk(found):
            if isinstance(sub, ast.Name) and sub.id in defs and sub.id not in seen | {root}:
                seen.add(sub.id)
                todo.append(sub.id)
    return {name: ast.get_source_segment(text, defs[name]) or "" for name in sorted(seen)}


@dataclass(frozen=True, eq=False)
class Experiment:
    """A named grid of runs: every cell (configuration x arms) with every seed.

    Run ``r`` is cell ``r // n_seeds`` with replicate ``k = r % n_seeds``; it computes
    ``function(config, cell, seed_k)`` and returns a small record (a mapping from field names to
    numbers, booleans or numeric arrays). The seed of replicate ``k`` depends on ``base_seed``
    and ``k`` only, never on which process ran it, and is the same in every cell (common random
    numbers: run ``k`` of every arm sees the same traders and paths):

    * ``seeding="spawn"``: ``numpy.random.SeedSequence(base_seed, spawn_key=(k,))``, the
      ``k``-th child of ``SeedSequence(base_seed).spawn(n)`` (as :func:`levpaper.market.run_many`
      seeds its run ``k``);
    * ``seeding="offset"``: the integer ``base_seed + k`` (as the training runs of chapter 3
      are seeded).

    Parameters
    ----------
    name : str
        Lower-case identifier; the artifact is ``artifacts/<name>.npz`` and ``.json``.
    function : str
        Import path ``"package.module:name"`` of the run function, so that Dask worker
        processes can import it. It must be a pure function of ``(config, cell, seed)``.
    cells : sequence of mapping
        The arms, all with the same string keys; values may be scalars or dataclasses
        (:func:`canonical`). Build a product with :func:`grid`.
    n_seeds : int
        Replicates per cell, >= 1.
    base_seed : int
        >= 0.
    config : mapping, optional
        What every cell shares (dataclasses allowed).
    seeding : {"spawn", "offset"}, default "spawn"
    description : str, optional
        One line for ``list`` and the manifest.
    requires : tuple of (module, extra) pairs, optional
        Modules the run function imports beyond levpaper's own dependencies, each with the
        optional extra that installs it (``(("stable_baselines3", "rl"),)``). Without them
        :func:`run` and :func:`verify_sample` raise :class:`MissingExtra` before computing
        anything; the artifact's hash and :func:`load` do not need them.

    Raises
    ------
    ValueError
        Naming the malformed part of the declaration.

    Examples
    --------
    >>> exp = Experiment("toy", "levpaper.experiments.toy:toy_run", grid(scale=(1.0, 2.0)),
    ...                  n_seeds=3, base_seed=7)
    >>> exp.n_runs, exp.cell_of(4), exp.replicate_of(4)
    (6, {'scale': 2.0}, 1)
    >>> child = np.random.SeedSequence(7).spawn(3)[1]  # as run_many seeds its run 1
    >>> bool(np.array_equal(exp.seed(4).generate_state(4), child.generate_state(4)))
    True
    >>> Experiment("toy", "levpaper.experiments.toy:toy_run", [{"a": 1}, {"b": 2}], 1, 0)
    Traceback (most recent call last):
    ...
    ValueError: cells[1] has keys ['b'], expected ['a'] (every cell must have the same keys)
    """

    name: str
    function: str
    cells: Sequence[Mapping[str, Any]]
    n_seeds: int
    base_seed: int
    config: Mapping[str, Any] = field(default_factory=dict)
    seeding: Seeding = "spawn"
    description: str = ""
    requires: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"name must match [a-z][a-z0-9_]*, got {self.name!r}")
        import_function(self.function)
        if isinstance(self.cells, Mapping | str) or not isinstance(self.cells, Sequence):
            raise ValueError(f"cells must be a sequence of mappings, got {type(self.cells)}")
        if len(self.cells) == 0:
            raise ValueError("cells must not be empty")
        keys: list[str] | None = None
        seen: dict[str, int] = {}
        for i, cell in enumerate(self.cells):
            if not isinstance(cell, Mapping):
                raise ValueError(f"cells[{i}] must be a mapping, got {cell!r}")
            these = list(cell)
            if keys is None:
                keys = these
            elif sorted(these) != sorted(keys):
                raise ValueError(
                    f"cells[{i}] has keys {sorted(these)}, expected {sorted(keys)} "
                    "(every cell must have the same keys)"
                )
            for k in these:
                if not isinstance(k, str) or not _FIELD.match(k) or k in RESERVED:
                    raise ValueError(
                        f"cells[{i}] key {k!r} must be an identifier other than {RESERVED}"
                    )
            text = canonical_json(canonical(cell, f"cells[{i}]"))
            if text in seen:
                raise ValueError(f"cells[{i}] repeats cells[{seen[text]}]")
            seen[text] = i
        object.__setattr__(self, "cells", tuple(dict(c) for c in self.cells))
        _integer("n_seeds", self.n_seeds, 1)
        _integer("base_seed", self.base_seed, 0)
        if not isinstance(self.config, Mapping):
            raise ValueError(f"config must be a mapping, got {self.config!r}")
        canonical(self.config)
        one_of("seeding", self.seeding, ("spawn", "offset"))
        req = tuple(self.requires)
        if not all(isinstance(r, tuple) and len(r) == 2 and all(isinstance(x, str) for x in r)
                   for r in req):  # fmt: skip
            raise ValueError(f"requires must be (module, extra) pairs, got {self.requires!r}")
        object.__setattr__(self, "requires", req)

    def missing(self) -> list[tuple[str, str]]:
        """The ``(module, extra)`` pairs of ``requires`` that cannot be imported here."""
        return [(m, x) for m, x in self.requires if importlib.util.find_spec(m) is None]

    def check_requires(self) -> None:
        """Raise :class:`MissingExtra` if a module of ``requires`` is not installed."""
        gone = self.missing()
        if gone:
            extras = sorted({x for _, x in gone})
            raise MissingExtra(
                f"experiment {self.name!r} needs {', '.join(m for m, _ in gone)}, not installed: "
                f"pip install 'levpaper[{','.join(extras)}]'"
            )

    # -- indices and seeds

    @property
    def n_runs(self) -> int:
        """Cells times seeds."""
        return len(self.cells) * int(self.n_seeds)

    @property
    def cell_keys(self) -> tuple[str, ...]:
        """The keys of every cell, in the order of the first."""
        return tuple(self.cells[0])

    def _check_run(self, run: int) -> int:
        return _integer("run", run, 0, self.n_runs)

    def cell_of(self, run: int) -> dict[str, Any]:
        """The cell of run ``run``."""
        return dict(self.cells[self._check_run(run) // self.n_seeds])

    def replicate_of(self, run: int) -> int:
        """The replicate index ``k`` of run ``run`` (its seed's index)."""
        return self._check_run(run) % int(self.n_seeds)

    def seed(self, run: int) -> np.random.SeedSequence | int:
        """The seed passed to the run function for run ``run`` (class docstring)."""
        k = self.replicate_of(run)
        if self.seeding == "offset":
            return int(self.base_seed) + k
        return np.random.SeedSequence(int(self.base_seed), spawn_key=(k,))

    def seed_label(self, run: int) -> str:
        """The seed of run ``run`` as text (the ``seed`` column of :func:`load`).

        Examples
        --------
        >>> exp = Experiment("toy", "levpaper.experiments.toy:toy_run", [{}], 2, 5)
        >>> exp.seed_label(1)
        'SeedSequence(5, spawn_key=(1,))'
        """
        s = self.seed(run)
        if isinstance(s, int):
            return str(s)
        return f"SeedSequence({self.base_seed}, spawn_key=({self.replicate_of(run)},))"

    # -- identity

    def declaration(self) -> dict[str, Any]:
        """The canonical declaration that the hash covers (with the version and the code)."""
        return {
            "name": self.name,
            "function": self.function,
            "config": canonical(self.config),
            "cells": [canonical(c, f"cells[{i}]") for i, c in enumerate(self.cells)],
            "n_seeds": int(self.n_seeds),
            "base_seed": int(self.base_seed),
            "seeding": self.seeding,
        }

    def source(self) -> str:
        """The source code of the run function (``inspect.getsource``), followed by that of
        every module-level definition of its module it uses, directly or through each other
        (:func:`levpaper.experiments.local_dependencies`): a helper or a constant next to the
        run function is part of its code."""
        fn = import_function(self.function)
        parts = [inspect.getsource(fn)]
        parts += [f"# {name}\n{text}" for name, text in local_dependencies(fn).items()]
        return "\n".join(parts)

    def modules(self) -> dict[str, str]:
        """:func:`code_digest` of every library module the run function's module imports
        (:func:`library_modules`), by module name."""
        module = self.function.split(":")[0]
        return {m: _module_digest(m) for m in library_modules(module)}

    def key(self) -> str:
        """SHA-256 of the canonical declaration, ``levpaper.__version__``, the code of the run
        function and its helpers (:meth:`source`) and of the library modules it depends on
        (:meth:`modules`), code read as :func:`code_digest` does (without docstrings, comments
        or layout): the artifact is current when its manifest holds this key.

        Examples
        --------
        >>> a = Experiment("toy", "levpaper.experiments.toy:toy_run", [{}], 2, 5)
        >>> b = Experiment("toy", "levpaper.experiments.toy:toy_run", [{}], 3, 5)
        >>> len(a.key()), a.key() == b.key()
        (64, False)
        """
        from levpaper import __version__

        text = json.dumps(
            {
                "declaration": self.declaration(),
                "levpaper": __version__,
                "source": code_digest(textwrap.dedent(self.source()), self.function),
                "modules": self.modules(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(text.encode()).hexdigest()


# --- executing one run -----------------------------------------------------------------------


def normalise_record(record: Any) -> Record:
    """A run function's record as a dict of numpy arrays (0-d for scalars).

    Raises
    ------
    ValueError
        If it is not a non-empty mapping from identifiers to numbers, booleans or numeric arrays.

    Examples
    --------
    >>> r = normalise_record({"x": 1.5, "n": 3, "ok": True, "v": [1.0, 2.0]})
    >>> {k: (v.dtype.str, v.shape) for k, v in r.items()}
    {'x': ('<f8', ()), 'n': ('<i8', ()), 'ok': ('|b1', ()), 'v': ('<f8', (2,))}
    >>> normalise_record({"s": "text"})
    Traceback (most recent call last):
    ...
    ValueError: record field 's' must be numeric or boolean, got dtype <U4
    """
    if not isinstance(record, Mapping) or not record:
        raise ValueError(f"a run function must return a non-empty mapping, got {record!r}")
    out: Record = {}
    for k, v in record.items():
        if not isinstance(k, str) or not _FIELD.match(k) or k in RESERVED:
            raise ValueError(f"record field {k!r} must be an identifier other than {RESERVED}")
        if isinstance(v, bool | np.bool_):
            arr = np.asarray(v, dtype=np.bool_)
        elif isinstance(v, int) and not isinstance(v, bool):
            arr = np.asarray(v, dtype=np.int64)
        elif isinstance(v, float):
            arr = np.asarray(v, dtype=np.float64)
        else:
            arr = np.array(v)
        if arr.dtype.kind not in "biuf":
            raise ValueError(
                f"record field {k!r} must be numeric or boolean, got dtype {arr.dtype}"
            )
        out[k] = np.array(arr, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
    return out


def execute(
    function: str, config: Mapping[str, Any], cell: Mapping[str, Any], seed: Any
) -> tuple[str, Any, float]:
    """Run one run (in whichever process): ``("ok", record, seconds)`` or
    ``("error", traceback_text, seconds)``. Exceptions of the run function never escape.

    Examples
    --------
    >>> status, rec, _ = execute("levpaper.experiments.toy:toy_run", {}, {"scale": 2.0}, 3)
    >>> status, sorted(rec)
    ('ok', ['draw', 'path'])
    >>> execute("levpaper.experiments.toy:toy_run", {"fail_seed": 3}, {}, 3)[0]
    'error'
    """
    start = time.perf_counter()
    try:
        fn = import_function(function)
        record = normalise_record(fn(config, cell, seed))
    except Exception:
        return "error", traceback.format_exc(), time.perf_counter() - start
    return "ok", record, time.perf_counter() - start


@dataclass(frozen=True)
class Failure:
    """A run that raised: its index, cell, seed and traceback."""

    run: int
    cell: dict[str, Any]
    seed: str
    traceback: str

    def describe(self) -> str:
        """One line: run, cell, seed and the exception's last line."""
        cell = ", ".join(f"{k}={label(v)!r}" for k, v in self.cell.items())
        last = self.traceback.strip().splitlines()[-1] if self.traceback.strip() else "?"
        return f"run {self.run} (cell {cell or '-'}; seed {self.seed}): {last}"


# --- files: deterministic npz, journal, artifact ---------------------------------------------


def write_npz(path: Path, arrays: Mapping[str, npt.NDArray[Any]], *, sync: bool = True) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` whose bytes depend only on the data (fixed
    member dates, sorted names), atomically (a temporary file renamed over ``path``), and with
    ``sync`` flushed to the disk (``fsync``) before the rename. Without it the file still
    survives the death of the writing process, which is what the journal needs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    _atomic_write(path, buf.getvalue(), sync=sync)


def _atomic_write(path: Path, data: bytes, *, sync: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        if sync:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_npz(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Every array of an ``.npz`` file (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def default_root() -> Path:
    """The artifacts directory: ``$LEVPAPER_ARTIFACTS`` if set, else ``artifacts/`` at the top
    of the source checkout that holds this package."""
    env = os.environ.get("LEVPAPER_ARTIFACTS")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2] / "artifacts"


def _root(root: str | os.PathLike[str] | None) -> Path:
    return default_root() if root is None else Path(root).resolve()


def artifact_paths(name: str, root: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """``(data, manifest)`` paths of experiment ``name``'s artifact."""
    base = _root(root)
    return base / f"{name}.npz", base / f"{name}.json"


def _journal_dir(exp: Experiment, key: str, root: Path) -> Path:
    return root / ".work" / f"{exp.name}-{key[:16]}"


def _journal_runs(journal: Path) -> dict[int, Path]:
    out: dict[int, Path] = {}
    if journal.is_dir():
        for p in journal.glob("run-*.npz"):
            m = re.fullmatch(r"run-(\d+)\.npz", p.name)
            if m:
                out[int(m.group(1))] = p
    return out


def _read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pack(exp: Experiment, records: Sequence[Record]) -> dict[str, npt.NDArray[Any]]:
    """The artifact's arrays: run index, cell index, replicate and one entry per field
    (stacked over runs when every run has the same shape and dtype, else one per run)."""
    fields = list(records[0])
    for r, rec in enumerate(records):
        if list(rec) != fields:
            raise ValueError(
                f"experiment {exp.name!r}: run {r} returned fields {list(rec)}, run 0 {fields}"
            )
    clash = set(fields) & set(exp.cell_keys)
    if clash:
        raise ValueError(f"experiment {exp.name!r}: record fields {sorted(clash)} are cell keys")
    n = len(records)
    runs = np.arange(n, dtype=np.int64)
    arrays: dict[str, npt.NDArray[Any]] = {
        "run": runs,
        "cell": runs // exp.n_seeds,
        "replicate": runs % exp.n_seeds,
    }
    for f in fields:
        values = [rec[f] for rec in records]
        kinds = {v.dtype.kind for v in values}
        if len(kinds) > 1:
            raise ValueError(f"experiment {exp.name!r}: field {f!r} changes dtype across runs")
        if len({(v.dtype.str, v.shape) for v in values}) == 1:
            arrays[f"rec.{f}"] = np.stack(values)
        else:
            for r, v in enumerate(values):
                arrays[f"ragged.{f}.{r:06d}"] = v
    return arrays


def _unpack(arrays: Mapping[str, npt.NDArray[Any]], n: int) -> dict[str, list[Any] | Any]:
    out: dict[str, Any] = {}
    ragged: dict[str, list[Any]] = {}
    for key in sorted(arrays):
        if key.startswith("rec."):
            out[key[4:]] = arrays[key]
        elif key.startswith("ragged."):
            _, f, _r = key.split(".")
            ragged.setdefault(f, []).append(arrays[key])
    for f, vals in ragged.items():
        if len(vals) != n:
            raise ValueError(f"artifact field {f!r} has {len(vals)} runs, expected {n}")
        out[f] = vals
    return out


def _record_of(fields: Mapping[str, Any], r: int) -> Record:
    return {f: np.asarray(v[r]) for f, v in fields.items()}


def _schema(arrays: Mapping[str, npt.NDArray[Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(arrays):
        if key.startswith("rec."):
            a = arrays[key]
            out[key[4:]] = {"dtype": a.dtype.str, "shape": list(a.shape[1:])}
        elif key.startswith("ragged."):
            f = key.split(".")[1]
            out.setdefault(f, {"dtype": arrays[key].dtype.str, "shape": "varies by run"})
    return out


# --- executors -------------------------------------------------------------------------------

Outcome = tuple[int, str, Any, float]


def _connect(scheduler: str | None, workers: int | None) -> tuple[str, Any, Any]:
    """``(kind, client, cluster)``: ``("serial", None, None)`` or a connected Dask client."""
    if scheduler == "serial":
        return "serial", None, None
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is locked
        raise ValueError(f"scheduler {scheduler!r} needs dask distributed: {exc}") from None
    if scheduler is None or scheduler == "local":
        n = _integer("workers", workers, 1) if workers is not None else (os.cpu_count() or 1)
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address=None,
        )
        return "local", Client(cluster), cluster  # type: ignore[no-untyped-call]
    if not isinstance(scheduler, str) or not re.match(r"^[a-z+]+://", scheduler):
        raise ValueError(
            f"scheduler must be None, 'local', 'serial' or an address like tcp://host:port, "
            f"got {scheduler!r}"
        )
    try:
        client = Client(scheduler, timeout="5s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"scheduler {scheduler}: cannot connect ({exc})") from None
    return "address", client, None


@contextlib.contextmanager
def _executor(
    scheduler: str | None, workers: int | None
) -> Iterator[tuple[str, Callable[[Experiment, str, Sequence[int]], Iterable[Outcome]]]]:
    kind, client, cluster = _connect(scheduler, workers)

    def serial(exp: Experiment, key: str, runs: Sequence[int]) -> Iterator[Outcome]:
        for r in runs:
            yield (r, *execute(exp.function, exp.config, exp.cell_of(r), exp.seed(r)))

    def dask(exp: Experiment, key: str, runs: Sequence[int]) -> Iterator[Outcome]:
        from distributed import as_completed

        # import the run function's module on every worker first (once, not in the first run)
        client.run(importlib.import_module, exp.function.split(":")[0])
        futures = {}
        for r in runs:
            fut = client.submit(
                execute,
                exp.function,
                exp.config,
                exp.cell_of(r),
                exp.seed(r),
                key=f"{exp.name}-{key[:12]}-run-{r}",
                pure=False,
            )
            futures[fut] = r
        try:
            for fut in as_completed(futures):  # type: ignore[no-untyped-call]
                r = futures[fut]
                try:
                    result = fut.result()
                except Exception:  # the task was lost (e.g. KilledWorker): a failed run
                    yield r, "error", traceback.format_exc(), math.nan
                else:
                    yield (r, *result)
        finally:
            client.cancel(list(futures))

    if kind != "serial":
        kind = f"dask, {len(client.scheduler_info()['workers'])} workers"
    try:
        yield kind, serial if kind == "serial" else dask
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


# --- run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    """What :func:`run` did."""

    name: str
    key: str
    n_runs: int
    computed: int
    reused: int
    seconds: float
    scheduler: str
    artifact: Path


def _resolve(experiment: str | Experiment) -> Experiment:
    if isinstance(experiment, Experiment):
        return experiment
    from levpaper.experiments.registry import get

    return get(experiment)


def run(
    experiment: str | Experiment,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    root: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> RunReport:
    """Compute every missing run of ``experiment`` and write its artifact.

    A current artifact (its manifest holds :meth:`Experiment.key`) is kept and nothing is
    computed, unless ``force``. Otherwise the runs already in the journal (a work directory
    under ``<root>/.work``, one file per finished run, written as each result arrives) are
    kept and only the missing ones are submitted; the artifact is written once every run is
    in, and the journal is then removed.

    Parameters
    ----------
    experiment : str or Experiment
        A registered name (:func:`levpaper.experiments.experiments`) or a declaration.
    scheduler : None, "local", "serial" or str
        None or ``"local"``: a Dask ``LocalCluster`` on 127.0.0.1 with ``workers`` worker
        processes (default one per core); ``"serial"``: in this process, no Dask; an address
        (``tcp://host:port``): that Dask scheduler.
    workers : int, optional
        Workers of the local cluster.
    root : path, optional
        Artifacts directory (default :func:`default_root`).
    force : bool, default False
        Recompute everything (the journal of this key is discarded first).
    progress : bool, default True
        A ``tqdm`` bar with the estimated time left, on stderr.

    Returns
    -------
    RunReport

    Raises
    ------
    ValueError
        An unknown experiment, a bad argument or an unreachable scheduler (before anything is
        written).
    RunFailed
        If some runs raised: each is reported with its cell, seed and traceback; every other
        run is in the journal, and the artifact is not written.

    Examples
    --------
    A second run reuses the stored runs; :func:`load` reads them and :func:`verify_sample`
    recomputes a sample of them:

    >>> import tempfile
    >>> exp = Experiment("toy", "levpaper.experiments.toy:toy_run", grid(scale=(1.0, 2.0)), 3, 7)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     first = run(exp, scheduler="serial", root=tmp, progress=False)
    ...     second = run(exp, scheduler="serial", root=tmp, progress=False)
    ...     table = load(exp, root=tmp)
    ...     check = verify_sample(exp, 2, np.random.default_rng(1), root=tmp)
    >>> first.computed, second.computed, second.reused
    (6, 0, 6)
    >>> list(table.columns)
    ['run', 'cell', 'replicate', 'seed', 'scale', 'draw', 'path']
    >>> check.ok, len(check.runs)
    (True, 2)
    """
    exp = _resolve(experiment)
    if not isinstance(force, bool):
        raise ValueError(f"force must be a bool, got {force!r}")
    base = _root(root)
    key = exp.key()
    data_path, manifest_path = artifact_paths(exp.name, base)
    start = time.perf_counter()
    if not force and _state(exp, key, base)[0] == "current":
        return RunReport(exp.name, key, exp.n_runs, 0, exp.n_runs, 0.0, "none", data_path)
    exp.check_requires()
    if hint := _arithmetic_hint():
        import warnings

        warnings.warn(
            f"{hint}; the artifact of {exp.name!r} may not verify where they are set",
            RuntimeWarning,
            stacklevel=2,
        )
    with _executor(scheduler, workers) as (kind, mapper):
        journal = _journal_dir(exp, key, base)
        if force and journal.exists():
            shutil.rmtree(journal)
        journal.mkdir(parents=True, exist_ok=True)
        for old in journal.glob("fail-*.json"):
            old.unlink()
        done: dict[int, Path] = {}
        for r, p in _journal_runs(journal).items():
            try:
                read_npz(p)
            except Exception:  # a damaged file: compute that run again
                p.unlink()
                continue
            if r < exp.n_runs:
                done[r] = p
        missing = [r for r in range(exp.n_runs) if r not in done]
        failures: list[Failure] = []
        bar = _bar(exp, len(done), progress)
        try:
            for r, status, payload, seconds in mapper(exp, key, missing):
                if status == "ok":
                    payload = dict(payload)
                    payload["__seconds__"] = np.asarray(seconds, dtype=np.float64)
                    write_npz(journal / f"run-{r:06d}.npz", payload, sync=False)
                else:
                    fail = Failure(r, exp.cell_of(r), exp.seed_label(r), str(payload))
                    failures.append(fail)
                    text = json.dumps(
                        {"run": r, "cell": canonical(fail.cell), "seed": fail.seed,
                         "traceback": fail.traceback},
                        indent=1,
                    )  # fmt: skip
                    _atomic_write(journal / f"fail-{r:06d}.json", text.encode())
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        if failures:
            raise RunFailed(exp.name, sorted(failures, key=lambda f: f.run))
        files = _journal_runs(journal)
        records: list[Record] = []
        cpu = 0.0
        for r in range(exp.n_runs):
            rec = read_npz(files[r])
            cpu += float(rec.pop("__seconds__", np.nan))
            records.append(rec)
        arrays = _pack(exp, records)
        write_npz(data_path, arrays)
        wall = time.perf_counter() - start
        manifest = {
            "name": exp.name,
            "description": exp.description,
            "key": key,
            "levpaper": _version(),
            "function": exp.function,
            "library_modules": exp.modules(),
            "declaration": exp.declaration(),
            "n_cells": len(exp.cells),
            "n_seeds": int(exp.n_seeds),
            "n_runs": exp.n_runs,
            "schema": _schema(arrays),
            "data_file": data_path.name,
            "data_sha256": _sha256(data_path),
            "computed_runs": len(missing),
            "wall_seconds": round(wall, 3),
            "run_seconds": round(cpu, 3),
            "scheduler": kind,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "numpy": np.__version__,
            "command": regenerate_command(exp.name),
        }
        _atomic_write(manifest_path, (json.dumps(manifest, indent=1) + "\n").encode())
        shutil.rmtree(journal, ignore_errors=True)
    return RunReport(
        exp.name, key, exp.n_runs, len(missing), len(done), time.perf_counter() - start, kind,
        data_path,
    )  # fmt: skip


def _version() -> str:
    from levpaper import __version__

    return __version__


def _bar(exp: Experiment, initial: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(
        total=exp.n_runs, initial=initial, desc=exp.name, unit="run", file=sys.stderr,
        dynamic_ncols=True, smoothing=0.1,
    )  # fmt: skip


# --- status, load, verify --------------------------------------------------------------------


def _state(exp: Experiment, key: str, root: Path) -> tuple[str, dict[str, Any] | None]:
    data_path, manifest_path = artifact_paths(exp.name, root)
    manifest = _read_manifest(manifest_path)
    if manifest is None or not data_path.is_file():
        return "missing", manifest
    if manifest.get("key") != key:
        return "stale", manifest
    if manifest.get("data_sha256") != _sha256(data_path):
        return "altered", manifest
    return "current", manifest


@dataclass(frozen=True)
class Status:
    """One line of :func:`status`.

    ``state`` is ``"current"`` (the artifact's hash is the experiment's), ``"stale"`` (the
    declaration, the code or the version changed), ``"altered"`` (the data file is not the one
    the manifest describes) or ``"missing"``; ``journal`` counts runs finished towards the
    current hash but not yet in an artifact (a sweep that was interrupted).
    """

    name: str
    n_cells: int
    n_seeds: int
    n_runs: int
    state: str
    key: str
    journal: int
    description: str


def status(
    names: Sequence[str] | None = None, *, root: str | os.PathLike[str] | None = None
) -> list[Status]:
    """The state of every registered experiment (or of ``names``).

    Examples
    --------
    >>> [s.name for s in status()][:2]
    ['ch3_default', 'ch3_lstar_agent']
    """
    from levpaper.experiments.registry import experiments, get

    base = _root(root)
    exps = experiments() if names is None else [get(n) for n in names]
    out = []
    for exp in exps:
        key = exp.key()
        state, _ = _state(exp, key, base)
        journal = len(_journal_runs(_journal_dir(exp, key, base)))
        out.append(
            Status(exp.name, len(exp.cells), int(exp.n_seeds), exp.n_runs, state, key,
                   journal, exp.description)
        )  # fmt: skip
    return out


def _current(exp: Experiment, base: Path) -> dict[str, Any]:
    state, manifest = _state(exp, exp.key(), base)
    if state == "missing":
        raise StaleArtifact(
            f"experiment {exp.name!r} has no artifact in {base}: generate it with "
            f"`{REGENERATE_ALL}` or `{regenerate_command(exp.name)}`"
        )
    if state == "stale":
        assert manifest is not None
        raise StaleArtifact(
            f"artifact {exp.name!r} is stale: stored hash {str(manifest.get('key'))[:12]}, "
            f"the experiment's declaration, code (its run function and the library modules it "
            f"imports) and version now hash to {exp.key()[:12]}; "
            f"regenerate it with `{REGENERATE_ALL}` or `{regenerate_command(exp.name)}`"
        )
    assert manifest is not None
    return manifest


def load(
    experiment: str | Experiment, *, root: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """The results of ``experiment``: one row per run, sorted by run index.

    Columns: ``run``, ``cell``, ``replicate``, ``seed`` (as text), one column per cell key
    (:func:`label` of its value) and one per record field (numbers; an array field is a column
    of arrays). ``DataFrame.attrs["manifest"]`` holds the manifest.

    Raises
    ------
    StaleArtifact
        If the artifact is missing or its hash is not the experiment's (the message names the
        command that regenerates it).
    """
    import pandas as pd

    exp = _resolve(experiment)
    base = _root(root)
    manifest = _current(exp, base)
    data_path, _ = artifact_paths(exp.name, base)
    arrays = read_npz(data_path)
    n = exp.n_runs
    if arrays["run"].shape != (n,) or not np.array_equal(arrays["run"], np.arange(n)):
        raise ValueError(f"artifact {data_path} does not hold runs 0..{n - 1}")
    cols: dict[str, Any] = {
        "run": arrays["run"],
        "cell": arrays["cell"],
        "replicate": arrays["replicate"],
        "seed": [exp.seed_label(r) for r in range(n)],
    }
    for k in exp.cell_keys:
        cols[k] = [label(exp.cells[c][k]) for c in arrays["cell"]]
    for f, v in _unpack(arrays, n).items():
        if isinstance(v, list) or v.ndim > 1:
            cols[f] = pd.Series(list(v), dtype=object)
        else:
            cols[f] = v
    df = pd.DataFrame(cols)
    df.attrs["manifest"] = manifest
    return df


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_sample` found: the runs recomputed and every difference."""

    name: str
    runs: tuple[int, ...]
    mismatches: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """No difference."""
        return not self.mismatches


def _same(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def verify_sample(
    experiment: str | Experiment,
    k: int = 3,
    rng: np.random.Generator | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    runs: Sequence[int] | None = None,
) -> Verification:
    """Recompute ``k`` runs of the stored artifact, drawn with ``rng``, in this process and
    compare every field bit for bit (dtype, shape and bytes); also check that the data file is
    the one its manifest describes.

    Parameters
    ----------
    experiment : str or Experiment
    k : int, default 3
        Runs to recompute (all of them if the experiment has fewer), >= 1.
    rng : numpy.random.Generator, optional
        Draws the runs; default ``numpy.random.default_rng(0)``.
    root : path, optional
    runs : sequence of int, optional
        Recompute exactly these runs instead of a random sample.

    Raises
    ------
    StaleArtifact
        If the artifact is missing or stale (naming the command that regenerates it).
    MissingExtra
        If the run function needs an extra that is not installed (the ``requires`` field of
        :class:`Experiment`).

    Examples
    --------
    A sample that matches is in the example of :func:`run`. Without an artifact there is
    nothing to check, and the error says how to make it:

    >>> exp = Experiment("toy", "levpaper.experiments.toy:toy_run", [{}], 2, 5)
    >>> verify_sample(exp, root="no-such-directory")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    levpaper.experiments.core.StaleArtifact: experiment 'toy' has no artifact in .../no-such-...
    """
    exp = _resolve(experiment)
    _integer("k", k, 1)
    gen = np.random.default_rng(0) if rng is None else rng
    if not isinstance(gen, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, got {rng!r}")
    base = _root(root)
    manifest = _current(exp, base)
    exp.check_requires()
    data_path, _ = artifact_paths(exp.name, base)
    mismatches: list[str] = []
    if manifest.get("data_sha256") != _sha256(data_path):
        mismatches.append(f"{data_path.name} is not the file its manifest describes (sha256)")
    arrays = read_npz(data_path)
    fields = _unpack(arrays, exp.n_runs)
    if runs is None:
        chosen = gen.choice(exp.n_runs, size=min(k, exp.n_runs), replace=False)
        picked = sorted(int(r) for r in chosen)
    else:
        picked = sorted({exp._check_run(r) for r in runs})
    for r in picked:
        stored = _record_of(fields, r)
        status_, got, _ = execute(exp.function, exp.config, exp.cell_of(r), exp.seed(r))
        where = f"run {r} (cell {exp.cell_of(r)!r}, seed {exp.seed_label(r)})"
        if status_ != "ok":
            mismatches.append(f"{where} raised on recomputation:\n{got}")
            continue
        if sorted(got) != sorted(stored):
            mismatches.append(f"{where}: fields {sorted(got)} recomputed, {sorted(stored)} stored")
            continue
        for f in sorted(got):
            if not _same(got[f], stored[f]):
                mismatches.append(
                    f"{where}: field {f!r} stored {_brief(stored[f])}, recomputed {_brief(got[f])}"
                )
    if mismatches and (hint := _arithmetic_hint()):
        mismatches.append(hint)
    return Verification(exp.name, tuple(picked), tuple(mismatches))


def _brief(a: npt.NDArray[Any]) -> str:
    if a.ndim == 0:
        return repr(a.item())
    return f"{a.dtype}{list(a.shape)} sha256 {hashlib.sha256(a.tobytes()).hexdigest()[:12]}"

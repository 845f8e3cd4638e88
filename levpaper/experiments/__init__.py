"""Experiments as declared grids with cached, verifiable artifacts, run on Dask.

An *experiment* (:class:`Experiment`) is a named grid, cells (configuration x arms) times
seeds, and a pure run function of one cell and one seed, given by its import path, that
returns a small record. :func:`run` computes it and writes one artifact, ``artifacts/<name>.npz``
(the records, sorted by run index, byte-identical whoever computed them) and
``artifacts/<name>.json`` (the manifest: the hash, the schema, counts, wall time and the command
that regenerates it). The artifact is keyed by a SHA-256 of the canonical declaration,
``levpaper.__version__``, the run function's code and that of the library modules it imports,
read without docstrings or comments (:func:`code_digest`): a second :func:`run` with nothing
changed computes nothing, and an edit of a docstring does not make an artifact stale.

Runs go to Dask ``distributed``: a ``LocalCluster`` bound to 127.0.0.1 with one worker process
per core by default, an existing cluster by scheduler address, or this process
(``scheduler="serial"``). The seed of a run depends only on the experiment's seed and the run's
replicate index (:meth:`Experiment.seed`), so the three give the same bytes. Finished runs are
journalled to disk as they arrive (``artifacts/.work/``, not committed), so a sweep that is
killed resumes without recomputing them; a run that raises is reported with its cell, seed and
traceback while the others complete.

The book's pages read results with :func:`load` (a ``pandas.DataFrame``, one row per run);
:func:`verify_sample` recomputes a random sample of stored runs and compares them bit for bit
(the test suite does this for every committed artifact). The experiments of the book are in
:mod:`levpaper.experiments.book`. Command line: ``python -m levpaper.experiments run NAME|--all``,
``list``, ``verify`` (:func:`main`); ``make experiments`` regenerates every artifact.

Examples
--------
>>> import tempfile
>>> exp = Experiment("toy", "levpaper.experiments.toy:toy_run", grid(scale=(1.0, 10.0)),
...                  n_seeds=2, base_seed=1)
>>> with tempfile.TemporaryDirectory() as tmp:
...     _ = run(exp, scheduler="serial", root=tmp, progress=False)
...     table = load(exp, root=tmp)
>>> table[["scale", "replicate"]].to_dict("list")
{'scale': [1.0, 1.0, 10.0, 10.0], 'replicate': [0, 1, 0, 1]}
>>> bool(table.draw[2] == 10 * table.draw[0])  # common random numbers across cells
True
"""

from levpaper.experiments.cli import main
from levpaper.experiments.core import (
    ARITHMETIC,
    Experiment,
    Failure,
    MissingExtra,
    RunFailed,
    RunReport,
    StaleArtifact,
    Status,
    Verification,
    arithmetic_unpinned,
    artifact_paths,
    canonical_json,
    code_digest,
    default_root,
    grid,
    load,
    local_dependencies,
    regenerate_command,
    run,
    status,
    verify_sample,
)
from levpaper.experiments.registry import experiments, get

__all__ = [
    "ARITHMETIC",
    "Experiment",
    "Failure",
    "MissingExtra",
    "RunFailed",
    "RunReport",
    "StaleArtifact",
    "Status",
    "Verification",
    "arithmetic_unpinned",
    "artifact_paths",
    "canonical_json",
    "code_digest",
    "default_root",
    "experiments",
    "get",
    "grid",
    "load",
    "local_dependencies",
    "main",
    "regenerate_command",
    "run",
    "status",
    "verify_sample",
]

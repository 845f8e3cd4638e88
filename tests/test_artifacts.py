"""Every committed artifact (artifacts/*.npz + .json) is current and reproducible.

For each registered experiment the test requires a current artifact (its stored hash is the
hash of the declaration, ``levpaper.__version__`` and the run function's code; otherwise it
fails naming the command that regenerates it), then recomputes a random sample of its runs in
this process and requires the stored records bit for bit (levpaper.experiments.verify_sample).

The sample is drawn with the date as seed (``YYYYMMDD``, UTC, printed on failure), so each
day checks other runs; the number of runs per experiment is 3, fewer for an experiment whose
runs took more than about a second each when it was generated (the manifest's ``run_seconds``),
so that the whole file takes seconds. The tamper and stale-hash tests work on temporary copies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from levpaper.experiments import StaleArtifact, artifact_paths, experiments, get, verify_sample
from levpaper.experiments.core import Experiment, read_npz, write_npz

DAY_SEED = int(dt.datetime.now(dt.UTC).strftime("%Y%m%d"))
BUDGET_SECONDS = 3.0  # per experiment, estimated from the manifest


def sample_size(name: str) -> int:
    manifest = json.loads(artifact_paths(name)[1].read_text())
    per_run = manifest["run_seconds"] / manifest["n_runs"]
    return int(max(1, min(3, BUDGET_SECONDS // max(per_run, 1e-9))))


@pytest.mark.parametrize("name", [e.name for e in experiments()])
def test_committed_artifact_reproduces(name: str) -> None:
    if get(name).missing():  # rl_ppo: its run function needs the rl extra, not in the CI lock
        pytest.skip(f"{name} needs {get(name).missing()}; verified where the extra is installed")
    k = sample_size(name) if artifact_paths(name)[1].is_file() else 3
    check = verify_sample(name, k, np.random.default_rng([DAY_SEED, len(name)]))
    assert check.ok, (
        f"artifact {name} differs from its code (sample seed {DAY_SEED}, runs {check.runs}):\n"
        + "\n".join(check.mismatches)
        + "\nregenerate it with `make experiments`"
    )


def copy_artifact(name: str, tmp: Path) -> Path:
    for p in artifact_paths(name):
        shutil.copy(p, tmp / p.name)
    return tmp


SMALL = "ch5_dynamic_maintenance"  # cheap runs


def test_an_edited_record_fails(tmp_path: Path) -> None:
    root = copy_artifact(SMALL, tmp_path)
    data, manifest = artifact_paths(SMALL, root)
    arrays = read_npz(data)
    arrays["rec.bad_debt"] = arrays["rec.bad_debt"].copy()
    arrays["rec.bad_debt"][7] = np.nextafter(arrays["rec.bad_debt"][7], np.inf)  # one ulp
    write_npz(data, arrays)
    # with the manifest's checksum left alone, the edit is caught by the checksum ...
    check = verify_sample(SMALL, root=root, runs=[7])
    assert not check.ok and "not the file its manifest describes" in check.mismatches[0]
    # ... and with the checksum updated too, by the recomputation of the record
    meta = json.loads(manifest.read_text())
    meta["data_sha256"] = hashlib.sha256(data.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(meta))
    check = verify_sample(SMALL, root=root, runs=[6, 7])
    assert len(check.mismatches) == 1
    assert "run 7 " in check.mismatches[0] and "field 'bad_debt'" in check.mismatches[0]
    # the untouched run 6 matches
    assert verify_sample(SMALL, root=root, runs=[6]).ok


def test_changed_code_makes_the_artifact_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_artifact(SMALL, tmp_path)
    original = Experiment.source
    # a change of code, not of a comment: the key reads code as code_digest does (no comments)
    monkeypatch.setattr(Experiment, "source", lambda self: original(self) + "\nEDITED = 1\n")
    with pytest.raises(StaleArtifact) as info:
        verify_sample(get(SMALL), root=root)
    msg = str(info.value)
    assert "is stale" in msg and "make experiments" in msg
    assert f"python -m levpaper.experiments run {SMALL}" in msg


def test_the_test_run_pins_the_arithmetic_of_the_artifacts() -> None:
    # make exports levpaper.experiments.ARITHMETIC for every target; without it the spot checks
    # above pass or fail by the CPU (AVX-512 loops round differently in the last bit)
    from levpaper.experiments import arithmetic_unpinned

    if os.environ.get("CI") != "true" and arithmetic_unpinned():
        pytest.skip(f"not run through make: {arithmetic_unpinned()} unset")
    assert arithmetic_unpinned() == []


def test_a_mismatch_outside_the_pinned_arithmetic_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_artifact(SMALL, tmp_path)
    data, manifest = artifact_paths(SMALL, root)
    arrays = read_npz(data)
    arrays["rec.bad_debt"] = arrays["rec.bad_debt"] + 1.0
    write_npz(data, arrays)
    meta = json.loads(manifest.read_text())
    meta["data_sha256"] = hashlib.sha256(data.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(meta))
    monkeypatch.delenv("NPY_DISABLE_CPU_FEATURES", raising=False)
    check = verify_sample(SMALL, root=root, runs=[3])
    assert not check.ok and "NPY_DISABLE_CPU_FEATURES" in check.mismatches[-1]
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "X86_V3 X86_V4 AVX512_ICL AVX512_SPR")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    check = verify_sample(SMALL, root=root, runs=[3])
    assert not check.ok and not any("arithmetic" in m for m in check.mismatches)

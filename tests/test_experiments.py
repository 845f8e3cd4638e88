"""The experiments layer (levpaper.experiments): caching, bit-identical results on every
scheduler, resuming after a killed worker or a killed client, failed runs, bad input.

The resume tests use a real Dask LocalCluster of 2 worker processes bound to 127.0.0.1 and the
toy run function (levpaper.experiments.toy), whose runs are made to last with ``sleep``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from levpaper.experiments import (
    Experiment,
    MissingExtra,
    RunFailed,
    StaleArtifact,
    artifact_paths,
    grid,
    load,
    main,
    run,
    status,
    verify_sample,
)
from levpaper.experiments.core import _journal_dir, _journal_runs

TOY = "levpaper.experiments.toy:toy_run"


def toy(name: str = "toy", n_seeds: int = 10, **config: object) -> Experiment:
    return Experiment(name, TOY, grid(scale=(1.0, 2.0, 3.0, 4.0)), n_seeds, 11, config=config)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", worker_dashboard_address=None,
    ) as lc:  # fmt: skip
        yield str(lc.scheduler_address)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The serial artifact of the toy experiment (sleep is not part of the record)."""
    root = tmp_path_factory.mktemp("serial")
    run(toy(sleep=0.0), scheduler="serial", root=root, progress=False)
    return artifact_paths("toy", root)[0].read_bytes()


def journal_of(exp: Experiment, root: Path) -> Path:
    return _journal_dir(exp, exp.key(), root)


def test_second_run_computes_nothing(tmp_path: Path) -> None:
    exp = toy(n_seeds=3)
    first = run(exp, scheduler="serial", root=tmp_path, progress=False)
    data, manifest = artifact_paths("toy", tmp_path)
    before = (data.read_bytes(), manifest.read_bytes())
    second = run(exp, scheduler="serial", root=tmp_path, progress=False)
    assert (first.computed, second.computed, second.reused) == (12, 0, 12)
    assert (data.read_bytes(), manifest.read_bytes()) == before
    meta = json.loads(manifest.read_text())
    assert meta["key"] == exp.key() and meta["n_runs"] == 12
    assert meta["schema"] == {"draw": {"dtype": "<f8", "shape": []},
                              "path": {"dtype": "<f8", "shape": [4]}}  # fmt: skip
    assert meta["command"] == "python -m levpaper.experiments run toy"
    assert not journal_of(exp, tmp_path).exists()  # the journal is gone once finalised


def test_load_one_row_per_run_sorted(tmp_path: Path) -> None:
    exp = toy(n_seeds=3)
    run(exp, scheduler="serial", root=tmp_path, progress=False)
    t = load(exp, root=tmp_path)
    assert t["run"].tolist() == list(range(12))
    assert t["scale"].tolist() == [1.0] * 3 + [2.0] * 3 + [3.0] * 3 + [4.0] * 3
    assert t["seed"][4] == "SeedSequence(11, spawn_key=(1,))"
    # run k of every cell has the same seed (common random numbers)
    np.testing.assert_array_equal(t.draw[4], 2.0 * t.draw[1])
    assert t.path[0].shape == (4,)


def test_seed_is_the_spawned_child() -> None:
    exp = toy(n_seeds=5)
    children = np.random.SeedSequence(11).spawn(5)
    for r in (0, 7, 19):
        seed = exp.seed(r)
        assert isinstance(seed, np.random.SeedSequence)
        np.testing.assert_array_equal(seed.generate_state(8), children[r % 5].generate_state(8))
    off = Experiment("off", TOY, [{}], 3, 100, seeding="offset")
    assert [off.seed(r) for r in range(3)] == [100, 101, 102]


def test_stale_after_a_change(tmp_path: Path) -> None:
    run(toy(n_seeds=2), scheduler="serial", root=tmp_path, progress=False)
    changed = toy(n_seeds=3)
    with pytest.raises(StaleArtifact, match=r"python -m levpaper\.experiments run toy"):
        load(changed, root=tmp_path)
    rep = run(changed, scheduler="serial", root=tmp_path, progress=False)
    assert rep.computed == 12


def test_kill_a_worker_mid_sweep(tmp_path: Path, cluster: str, reference: bytes) -> None:
    from distributed import Client

    with Client(cluster) as c:
        pids = list(c.run(os.getpid).values())
    exp = toy(sleep=0.1)
    journal = journal_of(exp, tmp_path)
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_journal_runs(journal)) < 6:
            time.sleep(0.02)
        os.kill(pids[0], signal.SIGKILL)
        killed.append(len(_journal_runs(journal)))

    th = threading.Thread(target=killer)
    th.start()
    rep = run(exp, scheduler=cluster, root=tmp_path, progress=False)
    th.join()
    assert killed and killed[0] < 40  # the worker died mid-sweep
    assert rep.computed == 40
    assert artifact_paths("toy", tmp_path)[0].read_bytes() == reference


def test_kill_the_client_and_resume(tmp_path: Path, cluster: str, reference: bytes) -> None:
    """The sweep runs in a subprocess on its own LocalCluster (the default scheduler) and is
    killed, client and workers; the resumed sweep runs on another cluster. The artifact is the
    serial one, bit for bit: the runs of both clusters are what the serial run computes."""
    exp = toy(sleep=0.1)
    journal = journal_of(exp, tmp_path)
    script = textwrap.dedent(f"""
        from levpaper.experiments import Experiment, grid, run
        exp = Experiment("toy", {TOY!r}, grid(scale=(1.0, 2.0, 3.0, 4.0)), 10, 11,
                         config={{"sleep": 0.1}})
        if __name__ == "__main__":
            run(exp, scheduler="local", workers=2, root={str(tmp_path)!r}, progress=False)
    """)
    path = tmp_path / "sweep.py"
    path.write_text(script)
    proc = subprocess.Popen([sys.executable, str(path)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(_journal_runs(journal)) < 8:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its cluster's worker processes
        proc.wait()
    finished = len(_journal_runs(journal))
    assert 8 <= finished < 40
    assert not artifact_paths("toy", tmp_path)[0].exists()
    rep = run(exp, scheduler=cluster, root=tmp_path, progress=False)
    assert (rep.reused, rep.computed) == (finished, 40 - finished)  # finished runs kept
    assert artifact_paths("toy", tmp_path)[0].read_bytes() == reference
    t = load(exp, root=tmp_path)
    assert t["run"].tolist() == list(range(40))  # none lost, none twice


def test_failed_run_reported_others_complete(tmp_path: Path, cluster: str) -> None:
    exp = toy(n_seeds=4, fail_seed=2)
    with pytest.raises(RunFailed) as info:
        run(exp, scheduler=cluster, root=tmp_path, progress=False)
    failures = info.value.failures
    assert [f.run for f in failures] == [2, 6, 10, 14]  # replicate 2 of each of the 4 cells
    assert failures[1].cell == {"scale": 2.0}
    assert failures[1].seed == "SeedSequence(11, spawn_key=(2,))"
    assert "toy_run fails on purpose" in failures[1].traceback
    assert "Traceback" in failures[1].traceback
    assert "cell scale=2.0" in str(info.value)
    assert sorted(_journal_runs(journal_of(exp, tmp_path))) == [r for r in range(16) if r % 4 != 2]
    assert not artifact_paths("toy", tmp_path)[0].exists()
    assert json.loads((journal_of(exp, tmp_path) / "fail-000006.json").read_text())["run"] == 6


def test_unreachable_scheduler_touches_nothing(tmp_path: Path) -> None:
    run(toy(n_seeds=2), scheduler="serial", root=tmp_path, progress=False)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    changed = toy(n_seeds=3)
    with pytest.raises(ValueError, match=r"scheduler tcp://127\.0\.0\.1:9: cannot connect"):
        run(changed, scheduler="tcp://127.0.0.1:9", root=tmp_path, progress=False)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    with pytest.raises(ValueError, match="scheduler must be"):
        run(changed, scheduler="nowhere", root=tmp_path, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cells": []}, "cells must not be empty"),
        ({"cells": [{"a": 1}, {"b": 1}]}, r"cells\[1\] has keys \['b'\], expected \['a'\]"),
        ({"cells": [{"a": 1}, {"a": 1}]}, r"cells\[1\] repeats cells\[0\]"),
        ({"cells": [{"run": 1}]}, "key 'run' must be an identifier other than"),
        ({"cells": [{"a": print}]}, r"cells\[0\]\['a'\] has no canonical JSON form"),
        ({"cells": {"a": 1}}, "cells must be a sequence of mappings"),
        ({"n_seeds": 0}, "n_seeds must be >= 1"),
        ({"base_seed": -1}, "base_seed must be >= 0"),
        ({"function": "levpaper.nothing:f"}, "cannot import levpaper.nothing"),
        ({"function": "not a path"}, "function must be an import path"),
        ({"name": "Bad Name"}, "name must match"),
        ({"seeding": "random"}, "seeding must be one of \\('spawn', 'offset'\\)"),
    ],
)
def test_malformed_declaration(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"name": "toy", "function": TOY, "cells": [{"a": 1}],
                               "n_seeds": 2, "base_seed": 0, **kwargs}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        Experiment(**args)  # type: ignore[arg-type]


def test_record_errors_are_run_failures(tmp_path: Path) -> None:
    exp = Experiment("bad", TOY, [{}], 1, 0, config={"bad_record": True})
    with pytest.raises(RunFailed, match="record field 'draw' must be numeric or boolean"):
        run(exp, scheduler="serial", root=tmp_path, progress=False)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path), "run", "no_such_experiment"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown experiment 'no_such_experiment'")
    assert main(["--root", str(tmp_path), "run"]) == 2
    assert "names or --all" in capsys.readouterr().err
    assert main(["--root", str(tmp_path), "verify", "ch5_stress_table"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "python -m levpaper.experiments run ch5_stress_table" in err[0]
    assert not any(tmp_path.iterdir())  # nothing written
    assert main(["--root", str(tmp_path), "list"]) == 0
    out = capsys.readouterr().out
    assert "ch5_stress_table" in out and "missing" in out and "make experiments" in out


def test_a_missing_extra_stops_before_any_work(tmp_path: Path) -> None:
    exp = toy(n_seeds=2)
    needy = dataclasses.replace(exp, requires=(("no_such_module_xyz", "rl"),))
    assert needy.key() == exp.key() and needy.missing() == [("no_such_module_xyz", "rl")]
    with pytest.raises(MissingExtra, match=r"no_such_module_xyz.*levpaper\[rl\]"):
        run(needy, scheduler="serial", root=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())  # nothing written, not even a journal
    run(exp, scheduler="serial", root=tmp_path, progress=False)
    assert len(load(needy, root=tmp_path)) == exp.n_runs  # reading needs no extra
    with pytest.raises(MissingExtra):
        verify_sample(needy, 1, np.random.default_rng(0), root=tmp_path)
    with pytest.raises(ValueError, match="requires must be"):
        dataclasses.replace(exp, requires=("torch",))


def test_status_and_verify_a_stored_artifact(tmp_path: Path) -> None:
    exp = toy(n_seeds=3)
    run(exp, scheduler="serial", root=tmp_path, progress=False)
    check = verify_sample(exp, 2, np.random.default_rng(0), root=tmp_path)
    assert check.ok and len(check.runs) == 2
    assert [s.state for s in status(root=tmp_path)] == ["missing"] * len(status(root=tmp_path))


def test_key_covers_the_library_code_the_run_function_imports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from levpaper.experiments import core, get

    exp = get("ch5_stress_table")
    assert "levpaper.market" in exp.modules() and "levpaper.training" in exp.modules()
    before = exp.key()
    digest = core._module_digest
    monkeypatch.setattr(
        core, "_module_digest", lambda m: "edited" if m == "levpaper.market" else digest(m)
    )
    assert exp.key() != before  # editing market.py makes the artifact stale
    assert toy().modules() == {}  # the toy imports no library module


def test_key_ignores_docstrings_comments_and_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prose is not code: rewording a docstring or a comment, or reformatting, keeps the key
    (of the run function and of a library module); changing what the code computes does not."""
    import levpaper.processes
    from levpaper.experiments import Experiment, code_digest

    def write(body: str) -> None:
        (tmp_path / "prose_mod.py").write_text(textwrap.dedent(body))
        sys.modules.pop("prose_mod", None)
        importlib.invalidate_caches()

    monkeypatch.syspath_prepend(str(tmp_path))
    write("""
        def run(config, cell, seed):
            \"\"\"One record.\"\"\"
            return {"v": 2.0}  # two
        """)
    exp = Experiment("prose", "prose_mod:run", [{}], 2, 1)
    before = exp.key()
    write("""
        def run(config, cell, seed):
            \"\"\"A record of one number, reworded.\"\"\"
            # a new comment
            return {"v": 2.0}
        """)
    assert exp.key() == before
    write("""
        def run(config, cell, seed):
            return {"v": 3.0}
        """)
    assert exp.key() != before
    path = Path(levpaper.processes.__file__)
    text = path.read_text()
    doc = '"""' + text.split('"""')[1] + '"""'  # the module docstring
    assert code_digest(text) == code_digest(text.replace(doc, '"""Reworded."""', 1))
    assert code_digest(text) != code_digest(text.replace("np.sqrt(", "np.exp(", 1))


def test_key_covers_the_helpers_next_to_the_run_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A helper or constant the run function uses (directly or through another helper) is part
    of its code; an unrelated definition of the same module is not."""
    from levpaper.experiments import Experiment
    from levpaper.experiments.core import local_dependencies

    def write(scale: str, other: str) -> None:
        (tmp_path / "helpers_mod.py").write_text(
            textwrap.dedent(f"""
            SCALE = {scale}
            OTHER = {other}

            def _inner(x):
                return SCALE * x

            def _outer(x):
                return _inner(x) + 1

            def run(config, cell, seed):
                return {{"v": float(_outer(1))}}
            """)
        )
        sys.modules.pop("helpers_mod", None)

    monkeypatch.syspath_prepend(str(tmp_path))
    write("2.0", "1")
    exp = Experiment("helpers", "helpers_mod:run", [{}], 2, 1)
    from helpers_mod import run as fn

    assert list(local_dependencies(fn)) == ["SCALE", "_inner", "_outer"]
    before = exp.key()
    write("2.0", "5")  # not used by run: same key
    assert exp.key() == before
    write("3.0", "1")  # used through _outer -> _inner: a new key
    assert exp.key() != before

"""The ``levpaper`` command (levpaper.cli): --help of each subcommand, info, reproduce and bench
on a checkout (a small fake one), the experiments dispatch, bad arguments and a missing
checkout; every error is one line on stderr with a non-zero status, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

import levpaper
from levpaper import cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "levpaper"  # the console script of the environment


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, start: str) -> None:
    assert err.count("\n") == 1 and err.startswith(start), err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["reproduce", "experiments", "bench", "info"])
def test_each_subcommand_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, err = run(capsys, command, "--help")
    assert code == 0 and not err
    assert "usage:" in out and command in out


def test_top_level_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("reproduce", "experiments", "bench", "info"):
        assert command in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"levpaper {levpaper.__version__}"


def test_info_in_the_checkout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEVPAPER_ARTIFACTS", raising=False)
    code, out, err = run(capsys, "info", "--root", str(ROOT))
    assert code == 0 and not err
    lines = out.splitlines()
    assert lines[0] == f"levpaper {levpaper.__version__}"
    assert f"numpy {np.__version__}" in lines
    assert f"package: {Path(levpaper.__file__).parent}" in lines
    assert f"checkout: {ROOT}" in lines
    assert f"artifacts: {ROOT / 'artifacts'}" in {line.split(" (")[0] for line in lines}
    assert any(line.startswith("data: ") for line in lines)


def test_info_names_the_artifacts_directory_from_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEVPAPER_ARTIFACTS", str(tmp_path))
    code, out, _ = run(capsys, "info", "--root", str(ROOT))
    assert code == 0
    artifacts = [line for line in out.splitlines() if line.startswith("artifacts:")]
    assert artifacts == [f"artifacts: {tmp_path.resolve()} (from LEVPAPER_ARTIFACTS)"]


def test_info_outside_a_checkout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "info")
    assert code == 0 and "checkout: none" in out
    code, out, err = run(capsys, "info", "--root", str(tmp_path))  # asked for: an error
    assert code == 1
    assert_one_line_error(err, "levpaper info: no levpaper checkout")


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        ([], "levpaper: the following arguments are required"),
        (["frobnicate"], "levpaper: argument COMMAND: invalid choice"),
        (["info", "--bogus"], "levpaper info: unrecognized arguments: --bogus"),
        (["reproduce", "--bogus"], "levpaper reproduce: unrecognized arguments"),
        (["bench", "no_such_bench", "--root", str(ROOT)], "levpaper bench: unknown benchmark"),
    ],
)
def test_bad_arguments_are_one_line_with_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], start: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and not out
    assert_one_line_error(err, start)


def test_a_file_that_is_not_a_notebook_of_the_checkout(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "reproduce", "--root", str(ROOT), str(ROOT / "README.md"))
    assert code == 1
    assert_one_line_error(err, "levpaper reproduce: paths: not a notebook file")


@pytest.mark.parametrize("command", ["reproduce", "bench"])
def test_missing_checkout(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, command)
    assert code == 1 and not out
    assert_one_line_error(err, f"levpaper {command}: no levpaper checkout at or above {tmp_path}")


def test_an_unexpected_error_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(root: Path | None) -> int:
        raise KeyError("first line\nsecond line")

    monkeypatch.setattr(cli, "_info", broken)
    code, _, err = run(capsys, "info")
    assert code == 1
    assert_one_line_error(err, "levpaper info: KeyError: 'first line")


# -- a small checkout: reproduce and bench on it ------------------------------------------------


def fake_checkout(root: Path) -> Path:
    (root / "book").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "levpaper"\n')
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)")]
    nbformat.write(nb, root / "intro.ipynb")
    bench = root / "benchmarks"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    (bench / "bench_fast.py").write_text("")
    (bench / "__main__.py").write_text(
        textwrap.dedent(
            """
            import sys
            print("benchmarks called with", sys.argv[1:])
            sys.exit(3 if "fail" in sys.argv else 0)
            """
        )
    )
    (bench / "bench_fail.py").write_text("")
    return root


def test_reproduce_executes_the_book_in_place(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = fake_checkout(tmp_path / "clone")
    monkeypatch.chdir(root / "book")  # found from a folder inside the checkout
    code, out, err = run(capsys, "reproduce", "--quiet")
    assert code == 0, err
    assert "executed 1 notebook" in out
    nb = nbformat.read(root / "intro.ipynb", as_version=4)
    assert nb.cells[0].outputs[0]["text"] == "42\n"
    assert nb.metadata["mystnb"]["execution_mode"] == "off"
    record = json.loads((root / "book" / "execution.json").read_text())
    assert [r["notebook"] for r in record["notebooks"]] == ["intro.ipynb"]
    # a failing cell: one line naming the error
    nb.cells[0].source = "1 / 0"
    nbformat.write(nb, root / "intro.ipynb")
    code, _, err = run(capsys, "reproduce", "--quiet", str(root / "intro.ipynb"))
    assert code == 1
    assert_one_line_error(err, "levpaper reproduce: ZeroDivisionError: division by zero")


def test_bench_runs_python_m_benchmarks_in_the_checkout(
    capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = fake_checkout(tmp_path / "clone")
    assert cli.main(["bench", "fast", "--root", str(root)]) == 0
    assert "benchmarks called with ['fast']" in capfd.readouterr().out
    assert cli.main(["bench", "--root", str(root)]) == 0  # no NAME: all of them
    assert "benchmarks called with []" in capfd.readouterr().out
    assert cli.main(["bench", "fail", "--root", str(root)]) == 1
    assert_one_line_error(capfd.readouterr().err, "levpaper bench: the benchmarks exited with")


# -- experiments: everything after the word goes to levpaper.experiments.main ------------------


def fake_experiments(result: Any) -> tuple[types.ModuleType, list[list[str]]]:
    calls: list[list[str]] = []
    module = types.ModuleType("levpaper.experiments")

    def main(argv: list[str] | None = None) -> int:
        calls.append(list(argv or []))
        if isinstance(result, BaseException):
            raise result
        return int(result)

    module.main = main  # type: ignore[attr-defined]
    return module, calls


def test_experiments_forwards_every_argument(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, calls = fake_experiments(3)
    monkeypatch.setitem(sys.modules, "levpaper.experiments", module)
    assert run(capsys, "experiments", "run", "--all", "--workers", "2")[0] == 3
    assert run(capsys, "experiments", "--help")[0] == 3
    assert calls == [["run", "--all", "--workers", "2"], ["--help"]]


@pytest.mark.parametrize(
    ("result", "code", "start"),
    [
        (SystemExit(2), 2, None),
        (RuntimeError("boom\nline two"), 1, "levpaper experiments: RuntimeError: boom"),
        (ValueError("name: no experiment 'x'"), 1, "levpaper experiments: name: no experiment"),
    ],
)
def test_experiments_errors_are_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    result: BaseException,
    code: int,
    start: str | None,
) -> None:
    module, _ = fake_experiments(result)
    monkeypatch.setitem(sys.modules, "levpaper.experiments", module)
    got, _, err = run(capsys, "experiments", "list")
    assert got == code
    if start is not None:
        assert_one_line_error(err, start)


def test_experiments_layer_not_installed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "levpaper.experiments", None)  # import fails
    code, out, err = run(capsys, "experiments", "run", "--all")
    assert code == 2 and not out
    assert_one_line_error(err, "levpaper experiments: the experiments layer")
    code, out, _ = run(capsys, "experiments", "--help")
    assert code == 0 and out.startswith("usage: levpaper experiments")


def test_experiments_without_dask(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def import_module(name: str) -> types.ModuleType:
        raise ModuleNotFoundError("No module named 'distributed'", name="distributed")

    monkeypatch.setattr(cli.importlib, "import_module", import_module)
    code, _, err = run(capsys, "experiments", "list")
    assert code == 1
    assert_one_line_error(err, "levpaper experiments: needs distributed")
    assert "levpaper[experiments]" in err


# -- the console script itself ------------------------------------------------------------------


def test_console_script_is_installed_and_never_prints_a_traceback(tmp_path: Path) -> None:
    assert SCRIPT.is_file(), "no levpaper script: reinstall with `make env`"
    done = subprocess.run(
        [SCRIPT, "bench", "amm"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 1 and not done.stdout
    assert_one_line_error(done.stderr, "levpaper bench: no levpaper checkout")

"""Installed, not only cloned: build the wheel, install it into a fresh virtual environment
outside the repository (dependencies pinned to the lock), and run there, from a folder outside
the repository: every ```python block of README.md's "Using the library" section (extracted
here, so the README cannot drift), ``gym.make("levpaper/LeveragedSwap-v0")`` with Gymnasium's
``check_env``, ``levpaper --help`` and ``levpaper info``, and the real-data loader when the wheel
has ``levpaper.data`` (then its data file must be in the wheel).

The wheel is built without build isolation (the project's environment has setuptools, locked)
and the installs come from uv's cache (``make env`` fills it), so the test works offline; if
either fails offline it is retried online (an isolated build, the package index).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import levpaper

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"
LOCK = ROOT / "requirements" / "lock.txt"
# what a wheel is built from: the project's metadata and the package
SOURCES = ("pyproject.toml", "README.md", "LICENSE")


def readme_library_blocks(text: str | None = None) -> list[str]:
    """The ```python blocks of README.md's "Using the library" section, in order."""
    text = (ROOT / "README.md").read_text() if text is None else text
    match = re.search(r"^## Using the library\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, 'README.md has no "## Using the library" section'
    return re.findall(r"^```python\n(.*?)^```", match.group(1), flags=re.M | re.S)


def test_readme_blocks_are_extracted() -> None:
    blocks = readme_library_blocks()
    assert len(blocks) >= 3
    assert any("gym.make(" in b for b in blocks) and any(
        "ParallelEnv" in b or "pettingzoo" in b for b in blocks
    )
    fake = "## Using the library\n```python\na = 1\n```\n```bash\nls\n```\n"
    fake += "## Next\n```python\nb\n```\n"
    assert readme_library_blocks(fake) == ["a = 1\n"]


def _source_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files of the wheel's sources: what a clone of the
    current work would hold (a file nobody added to git would be missing from a clone)."""
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        done = subprocess.run(
            [git, "ls-files", "--cached", "--others", "--exclude-standard", "--", *SOURCES,
             "levpaper"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return [f for f in done.stdout.splitlines() if (ROOT / f).is_file()]
    return [*SOURCES] + [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "levpaper").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]


def _env(venv: Path) -> dict[str, str]:
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env  # bytecode is written: the first run compiles the imports, the next ones reuse


def _uv(*attempts: list[str | Path], cwd: Path) -> None:
    """uv from the project's environment with the first of ``attempts`` (argument lists) that
    works: offline from uv's cache first, then online."""
    errors = []
    for args in attempts:
        cmd = [str(UV), *map(str, args)]
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        errors.append(f"{' '.join(cmd)}:\n{done.stderr}")
    pytest.fail("\n".join(errors))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(wheel, venv, an empty working folder), all outside the repository."""
    assert UV.is_file(), f"no uv at {UV}: run `make env`"
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT)
    src = base / "src"
    for rel in _source_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    build: list[str | Path] = ["build", "--wheel", "--out-dir", base / "dist", src]
    # with the environment's setuptools (locked) offline; else an isolated build
    _uv([*build, "--no-build-isolation", "--python", sys.executable, "--offline"], build, cwd=base)
    (wheel,) = (base / "dist").glob("levpaper-*.whl")
    venv = base / "venv"
    _uv(["venv", "--python", sys.executable, venv], cwd=base)
    # the core dependencies (and the multiagent extra the README's PettingZoo block needs),
    # pinned to the lock
    python = venv / "bin" / "python"
    install: list[str | Path] = ["pip", "install", "--python", python, f"{wheel}[multiagent]"]
    _uv([*install, "-c", LOCK, "--offline"], [*install, "-c", LOCK], cwd=base)
    work = base / "elsewhere"
    work.mkdir()
    return wheel, venv, work


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def _has_data_module(names: set[str]) -> bool:
    return bool({"levpaper/data.py", "levpaper/data/__init__.py"} & names)


def test_wheel_contents(installed: tuple[Path, Path, Path]) -> None:
    wheel, _, _ = installed
    names = _wheel_names(wheel)
    assert wheel.name == f"levpaper-{levpaper.__version__}-py3-none-any.whl"
    assert {"levpaper/__init__.py", "levpaper/py.typed", "levpaper/cli.py"} <= names
    assert not any(n.startswith(("tests/", "book/", "benchmarks/", "tools/")) for n in names)
    (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as zf:
        assert "levpaper = levpaper.cli:main" in zf.read(entry_points).decode()
    if _has_data_module(names):  # levpaper.data is there: so must its data file be
        assert "levpaper/data/btc_usd_hourly.csv" in names, "the wheel misses the bundled CSV"


DRIVER = textwrap.dedent(
    """
    import importlib.util, json, sys, warnings

    import levpaper

    out = {"file": levpaper.__file__, "pettingzoo_on_import": "pettingzoo" in sys.modules}
    for i, code in enumerate(json.loads(open(sys.argv[1]).read())):
        exec(compile(code, f"README.md, Using the library, python block {i + 1}", "exec"), {})
    out["blocks"] = i + 1

    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    env = gym.make("levpaper/LeveragedSwap-v0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    out["check_env_warnings"] = [str(w.message) for w in caught]
    if importlib.util.find_spec("levpaper.data") is not None:
        from levpaper.data import load_btc_usd_hourly

        out["data_rows"] = len(load_btc_usd_hourly())

    # the console script's entry point, without a checkout around: one line, status 1
    import contextlib, importlib.metadata, io

    (script,) = importlib.metadata.entry_points(group="console_scripts", name="levpaper")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        out["reproduce_status"] = script.load()(["reproduce"])
    out["reproduce_stderr"] = err.getvalue()
    print(json.dumps(out))
    """
)


def _run(cmd: list[str | Path], venv: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=_env(venv), capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip


def test_readme_env_check_and_data_from_the_installed_wheel(
    installed: tuple[Path, Path, Path],
) -> None:
    wheel, venv, work = installed
    blocks = readme_library_blocks()
    (work / "blocks.json").write_text(json.dumps(blocks))
    (work / "driver.py").write_text(DRIVER)
    done = _run([venv / "bin" / "python", "driver.py", "blocks.json"], venv, work)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).is_relative_to(venv)  # the installed copy, not the checkout's
    assert not out["pettingzoo_on_import"]  # an extra: `import levpaper` does not need it
    assert out["blocks"] == len(blocks)
    assert out["check_env_warnings"] == []
    if _has_data_module(_wheel_names(wheel)):
        assert out["data_rows"] > 1000
    assert out["reproduce_status"] == 1
    assert out["reproduce_stderr"].startswith("levpaper reproduce: no levpaper checkout")
    assert out["reproduce_stderr"].count("\n") == 1


def test_console_script_from_the_installed_wheel(installed: tuple[Path, Path, Path]) -> None:
    _, venv, work = installed
    script = venv / "bin" / "levpaper"
    done = _run([script, "--help"], venv, work)
    assert done.returncode == 0 and "reproduce" in done.stdout and "info" in done.stdout
    done = _run([script, "info"], venv, work)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"levpaper {levpaper.__version__}"
    (package,) = (line.removeprefix("package: ") for line in lines if line.startswith("package:"))
    assert Path(package).is_relative_to(venv)
    assert "checkout: none (the artifacts, notebooks and benchmarks live in a clone)" in lines

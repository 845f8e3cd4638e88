"""The lock file and Binder's environment.yml pin the same versions of the same packages."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Optional extras that the lock leaves out on purpose (PyTorch-based deep RL).
UNLOCKED_EXTRAS = {"rl"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(path: Path = ROOT / "requirements" / "lock.txt") -> dict[str, str]:
    text = path.read_text()
    return {canonical(n): v for n, v in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)}


def direct_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [
        s
        for name, extra in project["optional-dependencies"].items()
        for s in extra
        if name not in UNLOCKED_EXTRAS
    ]
    return {canonical(re.split(r"[<>=!~\[; ]", s, maxsplit=1)[0]) for s in specs}


def environment_pins(path: Path = ROOT / "environment.yml") -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pins: dict[str, str] = {}
    for dep in env["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            m = re.match(r"^([A-Za-z0-9_.\-]+)\s*={1,2}\s*(\S+)$", entry)
            if m:
                pins[canonical(m.group(1))] = m.group(2)
    return pins


def mismatches(env_path: Path = ROOT / "environment.yml") -> dict[str, tuple[str, str | None]]:
    lock, env = lock_pins(), environment_pins(env_path)
    env.pop("python")
    return {n: (v, lock.get(n)) for n, v in env.items() if lock.get(n) != v}


def test_environment_yml_pins_the_locked_versions() -> None:
    assert environment_pins()["python"].startswith("3.11")
    assert not mismatches(), f"environment.yml disagrees with the lock: {mismatches()}"


def test_environment_yml_lists_every_direct_dependency() -> None:
    env = environment_pins()
    assert direct_dependencies() <= set(env), direct_dependencies() - set(env)


def test_lock_covers_every_direct_dependency() -> None:
    assert direct_dependencies() <= set(lock_pins())


def test_installed_versions_are_the_locked_ones() -> None:
    lock = lock_pins()
    wrong = {n: (version(n), lock[n]) for n in direct_dependencies() if version(n) != lock[n]}
    assert not wrong, f"installed != locked (run `make book` or `make test` to sync): {wrong}"


def test_a_changed_pin_is_detected(tmp_path: Path) -> None:
    numpy = lock_pins()["numpy"]
    text = (ROOT / "environment.yml").read_text()
    assert f"numpy=={numpy}" in text
    tampered = tmp_path / "environment.yml"
    tampered.write_text(text.replace(f"numpy=={numpy}", "numpy==1.0.0"))
    assert mismatches(tampered) == {"numpy": ("1.0.0", numpy)}

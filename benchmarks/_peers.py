"""Peer implementations in their own virtual environments, shared by the benchmarks.

A peer is installed at pinned versions into ``benchmarks/.peers/<name>`` (git-ignored) on first
use and timed in a subprocess with that environment's Python, so that its dependencies never
touch the project's locked ``.venv``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / ".peers"


def peer_python(name: str, pins: list[str]) -> Path | None:
    """Python of the virtualenv ``.peers/<name>`` holding ``pins``; ``None`` if it can't be made.

    The environment is (re)created when the stamp of exactly these pins is missing.
    """
    env = PEERS_DIR / name
    python = env / "bin" / "python"
    stamp = env / (".installed-" + "-".join(sorted(pins)).replace("==", "_"))
    if stamp.exists() and python.exists():
        return python
    print(f"creating {env} with {' '.join(pins)} (first run only)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
            check=True,
            stderr=subprocess.DEVNULL,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"peer environment {name} unavailable: {exc}")
        return None
    stamp.touch()
    return python

"""A toy run function for the documentation and the tests of :mod:`levpaper.experiments`.

It lives in the library (not in a test module) so that Dask worker processes can import it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np


def toy_run(config: Mapping[str, Any], cell: Mapping[str, Any], seed: Any) -> dict[str, Any]:
    """A few normal draws from ``seed``, scaled by ``cell["scale"]`` (default 1).

    ``config`` may hold ``sleep`` (seconds to wait, to make a run last), ``fail_seed``: the
    run raises when its seed is that integer (or a ``SeedSequence`` with spawn key
    ``(fail_seed,)``), and ``bad_record``: return a record the layer must reject (text).

    Examples
    --------
    >>> rec = toy_run({}, {"scale": 2.0}, 3)
    >>> sorted(rec), rec["path"].shape
    (['draw', 'path'], (4,))
    >>> toy_run({"fail_seed": 1}, {}, np.random.SeedSequence(0, spawn_key=(1,)))
    Traceback (most recent call last):
    ...
    RuntimeError: toy_run fails on purpose for seed 1
    """
    fail = config.get("fail_seed")
    index = seed.spawn_key[-1] if isinstance(seed, np.random.SeedSequence) else seed
    if fail is not None and index == fail:
        raise RuntimeError(f"toy_run fails on purpose for seed {fail}")
    if config.get("bad_record"):
        return {"draw": "not a number"}
    if config.get("sleep"):
        time.sleep(float(config["sleep"]))
    rng = np.random.default_rng(seed)
    scale = float(cell.get("scale", 1.0))
    return {"draw": scale * float(rng.normal()), "path": scale * rng.normal(size=4).cumsum()}

"""Input checks shared by the library: every public entry point rejects bad input with a
``ValueError`` that names the parameter and the allowed range, before it changes any state."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def as_float_array(name: str, value: npt.ArrayLike) -> FloatArray:
    """Convert ``value`` to a float64 array, or raise ``TypeError`` naming ``name``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or an array of them, got {value!r}") from exc
    return arr


def finite(name: str, value: npt.ArrayLike) -> FloatArray:
    """Return ``value`` as floats; raise ``ValueError`` if any element is NaN or infinite."""
    arr = as_float_array(name, value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr


def positive(name: str, value: npt.ArrayLike) -> FloatArray:
    """Return ``value`` as floats; raise ``ValueError`` unless every element is finite and > 0."""
    arr = finite(name, value)
    if not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return arr


def fee_rate(name: str, value: npt.ArrayLike) -> FloatArray:
    """Return a fee as floats; raise ``ValueError`` unless every element lies in [0, 1)."""
    arr = finite(name, value)
    if not np.all((arr >= 0) & (arr < 1)):
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return arr


def scalar_or_array(arr: FloatArray) -> float | FloatArray:
    """Return a Python float for 0-d results, the array otherwise."""
    return float(arr) if arr.ndim == 0 else arr


def nonnegative(name: str, value: npt.ArrayLike) -> FloatArray:
    """Return ``value`` as floats; raise ``ValueError`` unless every element is finite and >= 0."""
    arr = finite(name, value)
    if not np.all(arr >= 0):
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return arr


def probability(name: str, value: npt.ArrayLike) -> FloatArray:
    """Return ``value`` as floats; raise ``ValueError`` unless every element lies in [0, 1]."""
    arr = finite(name, value)
    if not np.all((arr >= 0) & (arr <= 1)):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return arr


def in_range(
    name: str,
    value: npt.ArrayLike,
    low: float,
    high: float,
    *,
    low_closed: bool = True,
    high_closed: bool = True,
) -> FloatArray:
    """Return ``value`` as floats; raise ``ValueError`` unless every element lies in the interval
    from ``low`` to ``high`` (each end closed or open as flagged). NaN is always rejected."""
    arr = as_float_array(name, value)
    above = (arr >= low) if low_closed else (arr > low)
    below = (arr <= high) if high_closed else (arr < high)
    if not np.all(above & below):
        interval = f"{'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return arr


def positive_int(name: str, value: int) -> int:
    """Return ``value`` as an ``int``; raise ``TypeError`` unless it is an integer (not a bool) and
    ``ValueError`` unless it is >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)


def path_grid(n_paths: int, n_steps: int, s0: float) -> tuple[int, int, float]:
    """The arguments of a ``simulate(n_paths, n_steps, rng, *, s0)``: two counts >= 1 and a start
    price > 0 (``TypeError``/``ValueError`` naming the argument otherwise)."""
    return (
        positive_int("n_paths", n_paths),
        positive_int("n_steps", n_steps),
        float(positive("s0", s0)),
    )


def one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """Return ``value``; raise ``ValueError`` unless it is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed!r}, got {value!r}")
    return value

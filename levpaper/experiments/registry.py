"""The registry of named experiments: the book's (:mod:`levpaper.experiments.book`)."""

from __future__ import annotations

from functools import cache

from levpaper.experiments.core import Experiment


@cache
def _registry() -> dict[str, Experiment]:
    from levpaper.experiments.book import book_experiments
    from levpaper.ppo import ppo_deposit_experiment

    # rl_ppo_deposit is declared outside levpaper.experiments.book so that its module is not
    # among the library modules of the book's run functions (their keys, and so their
    # artifacts, do not depend on it)
    exps = [*book_experiments(), ppo_deposit_experiment()]
    return {e.name: e for e in sorted(exps, key=lambda e: e.name)}


def experiments() -> list[Experiment]:
    """Every registered experiment, sorted by name.

    Examples
    --------
    >>> "ch5_stress_table" in [e.name for e in experiments()]
    True
    """
    return list(_registry().values())


def get(name: str) -> Experiment:
    """The registered experiment ``name``.

    Raises
    ------
    ValueError
        If no experiment has that name (the message lists the known names).

    Examples
    --------
    >>> get("ch5_stress_table").n_runs
    30000
    >>> get("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown experiment 'nope'; known: ch3_default, ...
    """
    reg = _registry()
    if not isinstance(name, str) or name not in reg:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(reg)}")
    return reg[name]

r"""Real prices through the simulator: replayed windows and block-bootstrap episodes.

One history gives one path; the simulator's verdicts need many. This module draws them in two
documented ways:

* **Windows** (:func:`windows`): the history cut into consecutive non-overlapping windows of
  ``n_steps`` hours, each rescaled to start at a chosen price. Every window is real; there are
  only as many as the history holds (52 a year at one week).
* **Moving-block bootstrap** (:class:`BlockBootstrap`): a path is a concatenation of blocks of
  ``block`` consecutive one-hour returns of the history, each block starting at a uniformly
  drawn hour (Künsch 1989). Within a block the real dependence (volatility clustering, jumps,
  intraday patterns) is kept; across blocks it is broken, so a block should be at least as long
  as the dependence that matters (a day to a week). Paths of any number and length can be drawn.

:class:`BlockBootstrap` has the ``simulate(n_paths, n_steps, rng, *, s0, log)`` interface of the
book's processes (:mod:`levpaper.processes`), so anything that takes simulated paths takes it;
:meth:`BlockBootstrap.replay` turns a long drawn path into a
:class:`levpaper.env.ReplayPrices`, the environment's external price, whose seeded episodes
start at uniformly drawn hours (so a learner sees a new stretch of bootstrapped history in every
episode); :meth:`BlockBootstrap.market_paths` draws the external prices of a
:class:`levpaper.market.Market` (every pool follows the same drawn path: one real series, fully
correlated pools), which :func:`levpaper.market.run_scenario` and
:func:`levpaper.market.run_many` take as ``paths``; :func:`backtest` runs a policy through the
environment on each window of a history.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from levpaper._market_kernel import ReplayPrices
from levpaper._validate import FloatArray, path_grid, positive, positive_int
from levpaper.agents import Policy
from levpaper.env import LeveragedSwapConfig, LeveragedSwapEnv
from levpaper.market import MarketConfig
from levpaper.processes import HOURLY_DT
from levpaper.training import Outcomes

__all__ = ["BlockBootstrap", "backtest", "windows"]


def _prices(prices: npt.ArrayLike, minimum: int = 2) -> FloatArray:
    arr = positive("prices", prices)
    if arr.ndim != 1 or arr.size < minimum:
        raise ValueError(f"prices must be a 1-d series of at least {minimum} prices")
    return arr


@dataclass(frozen=True, eq=False)
class BlockBootstrap:
    """Moving-block bootstrap of a price history's one-step log returns (module docstring).

    Parameters
    ----------
    prices : array_like
        The history, 1-d, at least ``block + 1`` prices, finite and > 0.
    block : int, default 168
        Block length in steps, >= 1 (168: one week of hours).
    dt : float, default :data:`~levpaper.processes.HOURLY_DT`
        Step of the history in years.

    Raises
    ------
    ValueError
        If the history is shorter than one block or a parameter is out of range.

    Examples
    --------
    >>> hist = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 1000)))
    >>> boot = BlockBootstrap(np.concatenate([[100.0], hist]), block=24)
    >>> paths = boot.simulate(3, 48, np.random.default_rng(1), s0=2500.0)
    >>> paths.shape, float(paths[0, 0])
    ((3, 49), 2500.0)
    """

    prices: FloatArray
    block: int = 168
    dt: float = HOURLY_DT

    def __post_init__(self) -> None:
        b = positive_int("block", self.block)
        arr = _prices(self.prices, b + 1)
        object.__setattr__(self, "prices", arr)
        object.__setattr__(self, "dt", float(positive("dt", self.dt)))

    @property
    def log_returns(self) -> FloatArray:
        """The history's one-step log returns."""
        return np.diff(np.log(self.prices))

    @property
    def annual_volatility(self) -> float:
        """Annualised standard deviation of the history's one-step log returns."""
        return float(self.log_returns.std() / math.sqrt(self.dt))

    def simulate(
        self,
        n_paths: int,
        n_steps: int,
        rng: np.random.Generator,
        *,
        s0: float = 1.0,
        log: bool = False,
    ) -> FloatArray:
        """Bootstrapped paths, shape ``(n_paths, n_steps + 1)``, column 0 = ``s0``.

        Each path is built from :math:`\\lceil n/b \\rceil` blocks of ``block`` consecutive
        returns starting at uniformly drawn hours, cut to ``n_steps`` returns. The block starts
        are the only draws from ``rng``, in path order.
        """
        n, steps, start = path_grid(n_paths, n_steps, s0)
        r = self.log_returns
        k = -(-steps // self.block)
        starts = rng.integers(0, r.size - self.block + 1, size=(n, k))
        idx = (starts[:, :, None] + np.arange(self.block)).reshape(n, k * self.block)[:, :steps]
        out = np.empty((n, steps + 1))
        out[:, 0] = math.log(start)
        np.cumsum(r[idx], axis=1, out=out[:, 1:])
        out[:, 1:] += math.log(start)
        if not log:
            np.exp(out, out=out)
            out[:, 0] = start
        return out

    def replay(
        self, n_steps: int, rng: np.random.Generator, *, horizon: int | None = None
    ) -> ReplayPrices:
        """One bootstrapped path of ``n_steps`` returns as the environment's external price.

        With ``horizon`` (the episode length), every seeded reset of an environment starts the
        path at a uniformly drawn one of its ``n_steps - horizon + 1`` hours that leave a whole
        episode (:class:`levpaper.env.ReplayPrices` with ``start="uniform"``), so one long path
        gives many different episodes; without, every seeded reset replays it from its start.
        Unseeded resets continue the stream where the last episode left it.

        Raises
        ------
        ValueError
            If ``horizon`` exceeds ``n_steps``.

        Examples
        --------
        >>> from levpaper.env import LeveragedSwapEnv
        >>> hist = np.linspace(100.0, 120.0, 500)
        >>> replay = BlockBootstrap(hist, 24).replay(2000, np.random.default_rng(0), horizon=50)
        >>> env = LeveragedSwapEnv(process=replay, horizon=50)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, replay.start
        ((14,), 'uniform')
        """
        path = self.simulate(1, n_steps, rng)[0]
        if horizon is None:
            return ReplayPrices(path, dt=self.dt)
        return ReplayPrices(path, dt=self.dt, start="uniform", horizon=horizon)

    def market_paths(self, config: MarketConfig, rng: np.random.Generator) -> FloatArray:
        """External prices for :class:`levpaper.market.Market`: one drawn path of
        ``config.n_steps`` returns from ``config.price0``, the same for every pool.

        Raises
        ------
        ValueError
            If ``config.dt`` differs from the history's step.
        """
        if not math.isclose(config.dt, self.dt):
            raise ValueError(f"config.dt must equal the history's dt {self.dt!r}")
        path = self.simulate(1, config.n_steps, rng, s0=config.price0)
        return np.repeat(path, config.n_pools, axis=0)


def windows(
    prices: npt.ArrayLike, n_steps: int, *, s0: float = 1.0, stride: int | None = None
) -> FloatArray:
    """Consecutive windows of ``n_steps`` returns of a history, each rescaled to start at ``s0``.

    Window ``k`` is ``prices[k * stride : k * stride + n_steps + 1] * s0 / prices[k * stride]``;
    ``stride`` defaults to ``n_steps`` (non-overlapping windows sharing their end points).

    Returns
    -------
    ndarray, shape (n_windows, n_steps + 1)

    Raises
    ------
    ValueError
        If the history is shorter than one window.

    Examples
    --------
    >>> windows([1.0, 2.0, 4.0, 2.0, 1.0], 2, s0=10.0).tolist()
    [[10.0, 20.0, 40.0], [10.0, 5.0, 2.5]]
    """
    n = positive_int("n_steps", n_steps)
    arr = _prices(prices, n + 1)
    step = n if stride is None else positive_int("stride", stride)
    starts = np.arange(0, arr.size - n, step)
    idx = starts[:, None] + np.arange(n + 1)
    w = arr[idx]
    return np.asarray(w / w[:, :1] * float(positive("s0", s0)), dtype=np.float64)


def backtest(
    policy: Policy, config: LeveragedSwapConfig, paths: npt.ArrayLike, *, gamma: float = 0.999
) -> Outcomes:
    """Run ``policy`` through the environment once on each price path (one episode each).

    Each row of ``paths`` becomes the external price (:class:`levpaper.env.ReplayPrices`) of a
    single :class:`levpaper.env.LeveragedSwapEnv` with ``config`` and ``horizon`` = the row's
    number of returns, and the policy plays one episode from ``reset(seed=0)`` (the seed drives
    only the noise traders, if any). The outcomes are measured as by
    :func:`levpaper.training.evaluate` (log growth of wealth floored at :math:`10^{-6} C_0`,
    liquidation, maximum drawdown, discounted return). The rows are typically the windows of a
    hold-out period (:func:`windows`).

    Returns
    -------
    Outcomes
        One entry per path.

    Raises
    ------
    ValueError
        If ``paths`` is not 2-d with at least 2 columns, or ``config`` is not in box mode.

    Examples
    --------
    >>> from levpaper.agents import FixedLeverage
    >>> cfg = LeveragedSwapConfig(action_mode="box")
    >>> paths = windows(np.linspace(100.0, 90.0, 49), 24)
    >>> out = backtest(FixedLeverage(100.0), cfg, paths)
    >>> out.liquidated.tolist()
    [True, True]
    """
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"paths must have shape (n_paths, n_steps + 1), got {arr.shape}")
    if config.action_mode != "box":
        raise ValueError(f"config.action_mode must be 'box', got {config.action_mode!r}")
    n = arr.shape[0]
    growth, liq, dd, ret = np.empty(n), np.zeros(n, dtype=np.bool_), np.zeros(n), np.zeros(n)
    c0 = float(config.initial_capital)
    for k, path in enumerate(arr):
        cfg = dataclasses.replace(config, process=ReplayPrices(path, dt=config.dt),
                                  horizon=path.size - 1)  # fmt: skip
        env = LeveragedSwapEnv(cfg)
        obs, info = env.reset(seed=0)
        wealth = peak = float(info["wealth"])
        peak = max(peak, c0)
        disc = 1.0
        while True:
            obs, reward, term, trunc, info = env.step(np.asarray(policy.act(obs))[0])
            wealth = float(info["wealth"])
            peak = max(peak, wealth)
            dd[k] = max(dd[k], 1.0 - wealth / peak)
            liq[k] |= bool(info["liquidated"])
            ret[k] += disc * float(reward)
            disc *= gamma
            if term or trunc:
                break
        growth[k] = math.log(max(wealth, 1e-6 * c0) / c0)
    return Outcomes(log_growth=growth, liquidated=liq, max_drawdown=dd, discounted_return=ret)

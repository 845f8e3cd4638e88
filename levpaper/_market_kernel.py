"""Internal glue of the environments: the external price stream, seeds and leverage caps.

The arithmetic is in :mod:`levpaper.kernel`, the observation and action tables in
:mod:`levpaper.spaces` (both public).

The single environment steps in Python floats, the vector environment in float64 arrays; both
use only ``+ - * /``, ``sqrt``, ``min``/``max``, ``abs`` and comparisons in the step, all of which
IEEE 754 rounds the same way in Python and in numpy, so the two give bit-identical trajectories.
``exp`` (and ``log``) appear only here, in :func:`draw_block`, which both environments call with the
same numpy code on the same per-environment generator.

The external price moves by a stream of one-step gross returns drawn in blocks of
:data:`BLOCK` steps from the environment's own generator and consumed one per step, across
episodes, so that an episode that ends early wastes nothing and an autoreset costs no draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from levpaper._validate import FloatArray, in_range, one_of, positive, positive_int
from levpaper.processes import GARCH11, GBM, HOURLY_DT, MertonJumpDiffusion, RegimeSwitchingGBM

__all__ = [
    "BLOCK",
    "PriceProcess",
    "ReplayPrices",
    "current_regime",
    "draw_block",
    "initial_regime",
    "initial_variance",
    "leverage_caps",
    "log_wealth_reward",
    "seed_list",
    "stream_start",
]


class ReplayPrices:
    """A given price series as the external price: its one-step gross returns, replayed in order
    and cycling, one per step (the stream goes on across episodes until a seeded reset).

    Where a seeded reset starts the stream is the ``start`` policy: ``"fixed"`` at the first
    return of the series (every seeded episode sees the same history), ``"uniform"`` at a
    return drawn uniformly from the episode's generator among the ``n - horizon + 1`` positions
    that leave ``horizon`` returns before the end of the series (``n`` returns; all ``n`` if
    ``horizon`` is None, an episode then possibly wrapping round to the start). The draw is the
    generator's first, so the single and the vector environment start a copy seeded alike at
    the same position. A block bootstrap of a history replayed with a uniform start
    (:meth:`levpaper.replay.BlockBootstrap.replay`) gives episodes made of blocks of real
    hours.

    Parameters
    ----------
    prices : array_like
        At least 2 prices, finite and > 0.
    dt : float, default :data:`levpaper.processes.HOURLY_DT`
        Step of the series in years (for the initial volatility estimate).
    start : {"fixed", "uniform"}, default "fixed"
        Start of the stream at a seeded reset.
    horizon : int or None, default None
        With ``start="uniform"``: returns an episode needs, in ``[1, n]``.

    Raises
    ------
    ValueError
        If ``prices`` has fewer than 2 entries or one is not finite and > 0, ``start`` is not a
        policy, or ``horizon`` exceeds the series' returns.

    Examples
    --------
    >>> replay = ReplayPrices([100.0, 101.0, 99.99])
    >>> replay.ratios.tolist(), replay.start_position(np.random.default_rng(0))
    ([1.01, 0.99], 0)
    >>> rng = np.random.default_rng(0)
    >>> [ReplayPrices(np.arange(1.0, 12.0), start="uniform", horizon=4).start_position(rng)
    ...  for _ in range(5)]
    [5, 4, 3, 1, 2]
    """

    def __init__(
        self,
        prices: npt.ArrayLike,
        dt: float = HOURLY_DT,
        *,
        start: str = "fixed",
        horizon: int | None = None,
    ) -> None:
        arr = positive("prices", prices).ravel()
        if arr.size < 2:
            raise ValueError(f"prices must hold at least 2 prices, got {arr.size}")
        self.ratios: FloatArray = arr[1:] / arr[:-1]
        self.ratios.flags.writeable = False
        self.variance: float = float(np.mean(np.log(self.ratios) ** 2)) / float(positive("dt", dt))
        self.start: str = one_of("start", start, ("fixed", "uniform"))
        n = self.ratios.size
        h = n if horizon is None else positive_int("horizon", horizon)
        if h > n:
            raise ValueError(f"horizon must be <= the series' {n} returns, got {h}")
        self.horizon: int | None = None if horizon is None else h
        self._n_starts = n - h + 1 if horizon is not None else n

    def start_position(self, rng: np.random.Generator | None) -> int:
        """Position of the first return of a seeded episode: 0 (``"fixed"``), or uniform among
        the allowed starts, one draw of ``rng.integers`` (``"uniform"``)."""
        if self.start == "fixed" or rng is None:
            return 0
        return int(rng.integers(0, self._n_starts))

    def __repr__(self) -> str:
        return f"ReplayPrices(<{self.ratios.size + 1} prices>, start={self.start!r})"


PriceProcess = GBM | MertonJumpDiffusion | GARCH11 | RegimeSwitchingGBM | ReplayPrices

BLOCK = 1024
"""Steps of the external price drawn at a time per environment."""


def seed_list(seed: int | Sequence[int | None] | None, n: int) -> list[int | None]:
    """Seeds of ``n`` copies as ``SyncVectorEnv`` derives them: ``seed + i`` for an int, the
    list itself (of length ``n``), or ``None`` for every copy.

    Examples
    --------
    >>> seed_list(5, 3), seed_list(None, 2)
    ([5, 6, 7], [None, None])
    """
    if seed is None:
        return [None] * n
    if isinstance(seed, int | np.integer):
        return [int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"seed must be an int or a list of {n} seeds, got {len(seeds)}")
    return seeds


def leverage_caps(cap: float | npt.ArrayLike, n: int, maintenance_rate: float) -> FloatArray:
    """A leverage cap for all ``n`` copies (a scalar) or one each (shape ``(n,)``), checked to lie
    in (0, 1/maintenance_rate)."""
    arr = np.asarray(cap, dtype=np.float64)
    if arr.shape not in ((), (n,)):
        raise ValueError(f"cap must be a scalar or have shape ({n},), got {arr.shape}")
    return in_range(
        "max_leverage", arr, 0.0, 1.0 / maintenance_rate, low_closed=False, high_closed=False
    )


# --- the external price stream ----------------------------------------------------------------


def initial_variance(process: PriceProcess) -> float:
    """Per-year variance of the process's returns, the starting point of the EWMA estimate."""
    if isinstance(process, GBM):
        return process.sigma**2
    if isinstance(process, MertonJumpDiffusion):
        return process.total_volatility**2
    if isinstance(process, ReplayPrices):
        return process.variance
    if isinstance(process, RegimeSwitchingGBM):
        return float(process.stationary_distribution @ process.sigma**2)
    return process.annual_volatility**2


def stream_start(process: PriceProcess, rng: np.random.Generator | None = None) -> float:
    """State of a stream at its start: the GARCH conditional variance per step, the position in a
    replayed series (:meth:`ReplayPrices.start_position`, drawn from ``rng``), ``-1`` for a
    regime-switching process (its first regime not drawn yet: :func:`draw_block` draws it, or
    :func:`initial_regime` earlier), or 0."""
    if isinstance(process, RegimeSwitchingGBM):
        return -1.0
    if isinstance(process, ReplayPrices):
        return float(process.start_position(rng))
    return process.unconditional_variance if isinstance(process, GARCH11) else 0.0


def initial_regime(process: RegimeSwitchingGBM, rng: np.random.Generator) -> float:
    """The first regime of a fresh stream, drawn from the chain's stationary law with one uniform
    of ``rng``: the draw :func:`draw_block` makes for a stream whose state is ``-1``, made at
    seeding instead, so that the environments can show the regime before the first block.

    Examples
    --------
    >>> initial_regime(RegimeSwitchingGBM(), np.random.default_rng(0))
    0.0
    """
    return float(rng.random() < process.stationary_distribution[1])


def current_regime(
    regimes: npt.NDArray[np.int8], pos: npt.ArrayLike, end: npt.ArrayLike, state: FloatArray
) -> npt.NDArray[np.int64]:
    """The regime of the next step of each stream: ``regimes`` (flat) at the read position
    ``pos`` while it is before the block's end ``end``, else the carried ``state`` (the regime of
    the next block's first step, already drawn)."""
    p = np.asarray(pos, dtype=np.int64)
    inside = p < np.asarray(end)
    got = regimes.take(np.where(inside, p, 0))
    return np.where(inside, got, state).astype(np.int64)


def log_wealth_reward(wealth: FloatArray, previous: FloatArray, floor: float) -> FloatArray:
    r"""The ``log_wealth`` reward :math:`\ln(\max(W_t, \epsilon)/\max(W_{t-1}, \epsilon))` with
    ``floor`` :math:`\epsilon`, on arrays (the single environment calls it on arrays of one, so
    that both environments take the logarithm with the same numpy code).

    Examples
    --------
    >>> log_wealth_reward(np.array([11.0, 0.0]), np.array([10.0, 10.0]), 1e-5).round(6)
    array([  0.09531 , -13.815511])
    """
    ratio = np.maximum(wealth, floor)
    ratio /= np.maximum(previous, floor)
    return np.asarray(np.log(ratio), dtype=np.float64)


def _garch_returns(z: FloatArray, h: FloatArray, process: GARCH11) -> None:
    r"""Turn the normals ``z`` (rows, steps) into GARCH(1,1) log returns in place.

    :math:`e = \sqrt{h} z`, :math:`r = (e - h/2) + \mu\Delta t`, :math:`h \leftarrow (\omega +
    \alpha e^2) + \beta h`; ``h`` (one per row) is carried to the next block. One row runs in
    Python floats, several rows vectorised over rows; the operations and their order are the same,
    so a row's result does not depend on how many rows are drawn with it.
    """
    a, b, w = process.alpha, process.beta, process.omega
    mdt = process.mu * process.dt
    if z.shape[0] == 1:
        row = z[0].tolist()
        hv = float(h[0])
        for j, zj in enumerate(row):
            e = math.sqrt(hv) * zj
            row[j] = (e - 0.5 * hv) + mdt
            hv = (w + a * (e * e)) + b * hv
        z[0] = row
        h[0] = hv
        return
    for j in range(z.shape[1]):
        e = np.sqrt(h) * z[:, j]
        z[:, j] = (e - 0.5 * h) + mdt
        h[:] = (w + a * (e * e)) + b * h


def _regime_path(
    u: FloatArray, state: FloatArray, process: RegimeSwitchingGBM
) -> npt.NDArray[np.intp]:
    """The regimes of a block's steps from the switch uniforms ``u`` (rows, BLOCK) and the first
    regimes ``state``; ``state`` becomes the regime after the block (the next block's first)."""
    k, n = u.shape
    path = np.empty((k, n), dtype=np.intp)
    cur = state.astype(np.intp)
    for j in range(n):
        path[:, j] = cur
        flip = np.where(cur == 0, u[:, j] < process.p_enter, u[:, j] < process.p_exit)
        cur = np.where(flip, 1 - cur, cur)
    state[:] = cur
    return path


def draw_block(
    process: PriceProcess,
    rngs: Sequence[np.random.Generator],
    state: FloatArray,
    dt: float,
    noise: bool,
    regimes_out: npt.NDArray[np.int8] | None = None,
) -> tuple[FloatArray, FloatArray | None]:
    r"""Draw the next :data:`BLOCK` steps of each generator's stream.

    Each generator ``rngs[i]`` draws its own row, in this order: the normals of the price (GBM,
    GARCH) or the normals then the jumps (Merton: a Poisson count for the block, uniform cells,
    normal sizes, as :meth:`levpaper.processes.MertonJumpDiffusion.simulate` does per block; a
    :class:`levpaper.processes.RegimeSwitchingGBM`: one uniform for the first regime if the
    stream's state is ``-1``, then ``BLOCK`` uniforms for the switches, then the normals), then
    ``BLOCK`` normals for the noise traders if ``noise``. The log returns are then computed for all
    rows at once and exponentiated with numpy. A :class:`ReplayPrices` draws nothing for the price:
    its rows are the series' next ``BLOCK`` gross returns.

    Parameters
    ----------
    process : GBM, MertonJumpDiffusion or GARCH11
        The law of the external price; its annualised parameters are applied with step ``dt``.
    rngs : sequence of numpy.random.Generator
        One generator per row.
    state : ndarray, shape (len(rngs),)
        Per row: the GARCH conditional variance, the position in a replayed series, or the regime
        of the block's first step (``-1``: not drawn yet); updated in place to the next block's
        (unused for GBM and Merton). Regimes: switch ``j`` (uniform ``j``) leads into step
        ``j + 1``, the last one into the next block's first step, so the state after a block is
        the regime of the step after it.
    dt : float
        Step in years.
    noise : bool
        Also draw the noise traders' normals.
    regimes_out : ndarray of int8, shape (len(rngs), BLOCK), optional
        Filled with the regime of each step (regime-switching process only).

    Returns
    -------
    ratios : ndarray, shape (len(rngs), BLOCK)
        Gross returns :math:`P_{t+1}/P_t` of the external price.
    noise_z : ndarray or None
        Standard normals for the noise traders, same shape, or ``None``.

    Examples
    --------
    >>> rngs = [np.random.default_rng(0), np.random.default_rng(1)]
    >>> ratios, z = draw_block(GBM(sigma=0.8), rngs, np.zeros(2), 1 / 8760, noise=False)
    >>> ratios.shape, z is None
    ((2, 1024), True)
    >>> bool(np.all(np.abs(ratios - 1) < 0.1))
    True
    """
    k = len(rngs)
    if isinstance(process, ReplayPrices):
        n = process.ratios.size
        start = state.astype(np.int64)
        ratios = process.ratios[(start[:, None] + np.arange(BLOCK)) % n]
        state[:] = (start + BLOCK) % n
        nz = np.empty((k, BLOCK), dtype=np.float64) if noise else None
        if nz is not None:
            for i, rng in enumerate(rngs):
                rng.standard_normal(out=nz[i])
        return ratios, nz
    z = np.empty((k, BLOCK), dtype=np.float64)
    nz = np.empty((k, BLOCK), dtype=np.float64) if noise else None
    jumps = (
        np.zeros((k, BLOCK), dtype=np.float64) if isinstance(process, MertonJumpDiffusion) else None
    )
    regime = isinstance(process, RegimeSwitchingGBM)
    u = np.empty((k, BLOCK), dtype=np.float64) if regime else None
    for i, rng in enumerate(rngs):
        if u is not None:
            assert isinstance(process, RegimeSwitchingGBM)
            if state[i] < 0:
                state[i] = initial_regime(process, rng)
            rng.random(out=u[i])
        rng.standard_normal(out=z[i])
        if jumps is not None:
            assert isinstance(process, MertonJumpDiffusion)
            rate = process.intensity * dt * BLOCK
            n_jumps = int(rng.poisson(rate)) if rate > 0 else 0
            if n_jumps:
                cells = rng.integers(0, BLOCK, size=n_jumps)
                sizes = process.jump_mean + process.jump_std * rng.standard_normal(n_jumps)
                np.add.at(jumps[i], cells, sizes)
        if nz is not None:
            rng.standard_normal(out=nz[i])
    if isinstance(process, GARCH11):
        _garch_returns(z, state, process)
    elif isinstance(process, RegimeSwitchingGBM):
        assert u is not None
        path = _regime_path(u, state, process)
        if regimes_out is not None:
            regimes_out[:] = path
        sig = process.sigma
        z *= (sig * math.sqrt(dt))[path]
        z += ((process.mu - 0.5 * sig * sig) * dt)[path]
    else:
        if isinstance(process, GBM):
            drift = process.log_drift * dt
        else:
            drift = (
                process.mu - 0.5 * process.sigma**2 - process.intensity * process.compensator
            ) * dt
        z *= process.sigma * math.sqrt(dt)
        z += drift
        if jumps is not None:
            z += jumps
    np.exp(z, out=z)
    return z, nz


# --- the agent's action on arrays (the vector and the shared-pool environments) ----------------


def margin_change(
    mf: FloatArray, e: FloatArray, nn: FloatArray, w: FloatArray, cap: FloatArray | float
) -> FloatArray:
    """Margin moved into the account by margin fractions ``mf``: ``mf`` of the wallet ``w`` when
    > 0, ``|mf|`` of the withdrawable margin ``max(e - nn / cap, 0)`` out when < 0 (the single
    environment's ``_apply_action``, by cases there)."""
    wd = nn / cap
    np.subtract(e, wd, out=wd)
    np.maximum(wd, 0.0, out=wd)
    wd *= np.minimum(mf, 0.0)
    dm = np.maximum(mf, 0.0)
    dm *= w
    dm += wd
    return dm


def cap_target(tgt: FloatArray, lev: FloatArray, cap: FloatArray | float) -> FloatArray:
    """The target leverage ``tgt`` with the cap binding only increases: ``|tgt|`` cut to
    ``max(cap, |lev|)`` on the current side and to ``cap`` on the other."""
    lim = np.sign(tgt)
    lim *= lev
    np.maximum(lim, 0.0, out=lim)
    np.maximum(cap, lim, out=lim)
    final = np.abs(tgt)
    np.minimum(final, lim, out=final)
    np.copysign(final, tgt, out=final)
    return final

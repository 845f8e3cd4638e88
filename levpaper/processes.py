r"""Price processes for the external fair price of token A (sections 4.2 and 4.3).

Three models, each a frozen dataclass whose ``simulate`` method draws many paths at once from an
explicit :class:`numpy.random.Generator`:

* :class:`GBM` -- geometric Brownian motion, :math:`dP = \mu P\,dt + \sigma P\,dW`, simulated
  exactly: log increments :math:`(\mu - \sigma^2/2)\,\Delta t + \sigma\sqrt{\Delta t}\,Z`.
* :class:`MertonJumpDiffusion` -- GBM plus compound-Poisson jumps in the log price (Merton 1976),
  with intensity :math:`\lambda` per year and normal log jump sizes
  :math:`Y \sim N(\mu_J, \sigma_J^2)`; the drift is compensated so that
  :math:`E[P_T] = P_0 e^{\mu T}` still holds.
* :class:`GARCH11` -- GARCH(1,1) volatility clustering in discrete time (Bollerslev 1986), one
  step per ``dt``.

Conventions shared by the whole library: time in years, ``mu`` and ``sigma`` annualised, hourly
steps by default (:data:`HOURLY_DT` :math:`= 1/8760`). A simulation returns an array of shape
``(n_paths, n_steps + 1)`` whose column 0 is the start price ``s0``.

The defaults are crypto-like: every model has an annualised volatility of about 0.8 and zero drift
(crypto volatility is typically 0.5 to 1.0). Each class also states its exact moments, which the
tests hold the simulators to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from levpaper._validate import (
    FloatArray,
    finite,
    nonnegative,
    positive,
    positive_int,
)

__all__ = [
    "DEFAULT_GARCH_ALPHA",
    "DEFAULT_GARCH_BETA",
    "DEFAULT_GARCH_OMEGA",
    "GARCH11",
    "GBM",
    "HOURLY_DT",
    "HOURS_PER_YEAR",
    "LogReturnMoments",
    "MertonJumpDiffusion",
]

HOURS_PER_YEAR: int = 365 * 24
"""Hours in a (365-day) year: crypto markets never close."""

HOURLY_DT: float = 1.0 / HOURS_PER_YEAR
"""One hour in years, the default time step."""

DEFAULT_GARCH_ALPHA: float = 0.05
"""Default GARCH(1,1) reaction to the last squared shock."""

DEFAULT_GARCH_BETA: float = 0.94
"""Default GARCH(1,1) persistence of the last conditional variance."""

DEFAULT_GARCH_OMEGA: float = 0.8**2 * HOURLY_DT * (1.0 - DEFAULT_GARCH_ALPHA - DEFAULT_GARCH_BETA)
"""Default GARCH(1,1) constant, per hourly step: unconditional annualised volatility 0.8."""

# Paths are generated in row blocks of about this many float64 values (256 KiB), so that the
# normal fill, scaling, cumulative sum and exponential of a block run while it is in cache. The
# block size depends only on ``n_steps``, never on the machine, so results are reproducible.
_BLOCK_ELEMENTS = 1 << 15


class LogReturnMoments(NamedTuple):
    """Mean, variance, skewness and excess kurtosis of the log return :math:`\\ln(P_T/P_0)`."""

    mean: float
    variance: float
    skewness: float
    excess_kurtosis: float


def _check_grid(n_paths: int, n_steps: int, dt: float) -> tuple[int, int, float]:
    return (
        positive_int("n_paths", n_paths),
        positive_int("n_steps", n_steps),
        float(positive("dt", dt)),
    )


def _check_horizon(horizon: float) -> float:
    return float(positive("horizon", horizon))


def _block_rows(n_steps: int) -> int:
    return max(1, _BLOCK_ELEMENTS // (n_steps + 1))


@dataclass(frozen=True)
class GBM:
    r"""Geometric Brownian motion :math:`dP = \mu P\,dt + \sigma P\,dW` (section 4.2).

    Parameters
    ----------
    mu : float, default 0.0
        Annualised drift :math:`\mu`, finite.
    sigma : float, default 0.8
        Annualised volatility :math:`\sigma`, finite and > 0.

    Raises
    ------
    ValueError
        If ``mu`` is not finite or ``sigma`` is not finite and > 0.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> paths = GBM(mu=0.0, sigma=0.8).simulate(n_paths=3, n_steps=24, rng=rng, s0=2500.0)
    >>> paths.shape, float(paths[0, 0])
    ((3, 25), 2500.0)
    >>> m = GBM(sigma=0.8).log_return_moments(horizon=1.0)
    >>> round(m.mean, 2), round(m.variance, 2)
    (-0.32, 0.64)
    """

    mu: float = 0.0
    sigma: float = 0.8

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", float(finite("mu", self.mu)))
        object.__setattr__(self, "sigma", float(positive("sigma", self.sigma)))

    @property
    def log_drift(self) -> float:
        r"""Drift of the log price, :math:`\nu = \mu - \sigma^2/2` per year."""
        return self.mu - 0.5 * self.sigma**2

    def log_return_moments(self, horizon: float) -> LogReturnMoments:
        r"""Exact moments of :math:`\ln(P_T/P_0) \sim N(\nu T, \sigma^2 T)`.

        Parameters
        ----------
        horizon : float
            :math:`T` in years, > 0.

        Returns
        -------
        LogReturnMoments
            Mean :math:`\nu T`, variance :math:`\sigma^2 T`, skewness 0, excess kurtosis 0.

        Raises
        ------
        ValueError
            If ``horizon`` is not finite and > 0.
        """
        t = _check_horizon(horizon)
        return LogReturnMoments(self.log_drift * t, self.sigma**2 * t, 0.0, 0.0)

    def price_mean_variance(self, s0: float, horizon: float) -> tuple[float, float]:
        r"""Exact mean and variance of :math:`P_T`: :math:`P_0 e^{\mu T}` and
        :math:`P_0^2 e^{2\mu T}(e^{\sigma^2 T} - 1)`.

        Examples
        --------
        >>> mean, var = GBM(mu=0.1, sigma=0.8).price_mean_variance(1.0, 1.0)
        >>> round(mean, 6), round(var, 6)
        (1.105171, 1.094964)
        """
        p0 = float(positive("s0", s0))
        t = _check_horizon(horizon)
        mean = p0 * math.exp(self.mu * t)
        return mean, mean**2 * math.expm1(self.sigma**2 * t)

    def simulate(
        self,
        n_paths: int,
        n_steps: int,
        rng: np.random.Generator,
        *,
        s0: float = 1.0,
        dt: float = HOURLY_DT,
        log: bool = False,
    ) -> FloatArray:
        r"""Exact GBM paths on the grid :math:`t_k = k\,\Delta t`, :math:`k = 0, \dots, n`.

        The log increments are :math:`(\mu - \sigma^2/2)\Delta t + \sigma\sqrt{\Delta t} Z_k` with
        :math:`Z_k` i.i.d. standard normal, so the grid values have exactly the law of the
        continuous process (no discretisation error). The normals are drawn row by row in the
        order of the output array; everything else is done in place in float64.

        Parameters
        ----------
        n_paths, n_steps : int
            Number of paths and of steps per path, >= 1.
        rng : numpy.random.Generator
            Source of all randomness.
        s0 : float, default 1.0
            Start price, > 0.
        dt : float, default :data:`HOURLY_DT`
            Step in years, > 0.
        log : bool, default False
            Return :math:`\ln P_t` instead of :math:`P_t`.

        Returns
        -------
        ndarray, shape (n_paths, n_steps + 1)
            Prices (or log prices); column 0 is ``s0`` (or ``ln s0``).

        Raises
        ------
        ValueError
            If a count is < 1 or ``s0``/``dt`` is not finite and > 0.
        TypeError
            If a count is not an integer.
        """
        n_paths, n_steps, dt = _check_grid(n_paths, n_steps, dt)
        start = float(positive("s0", s0))
        out = np.empty((n_paths, n_steps + 1), dtype=np.float64)
        self.fill(out, rng, s0=start, dt=dt, log=log)
        return out

    def fill(
        self, out: FloatArray, rng: np.random.Generator, *, s0: float, dt: float, log: bool
    ) -> None:
        """Write paths into the C-contiguous ``out`` in place, block by block: :meth:`simulate`
        without the allocation (the same draws, so the same paths for the same ``rng``), for a
        caller that reuses one buffer (:func:`levpaper.first_passage.first_passage_monte_carlo`).

        ``out`` has shape ``(n_paths, n_steps + 1)``; ``s0`` and ``dt`` are not validated here.

        Examples
        --------
        >>> gbm, buf = GBM(sigma=0.8), np.empty((3, 5))
        >>> gbm.fill(buf, np.random.default_rng(0), s0=2.0, dt=HOURLY_DT, log=False)
        >>> bool(np.array_equal(buf, gbm.simulate(3, 4, np.random.default_rng(0), s0=2.0)))
        True
        """
        scale = self.sigma * math.sqrt(dt)
        drift = self.log_drift * dt
        rows = _block_rows(out.shape[1] - 1)
        for start in range(0, out.shape[0], rows):
            block = out[start : start + rows]
            rng.standard_normal(out=block)
            block *= scale
            block += drift
            block[:, 0] = math.log(s0)
            np.cumsum(block, axis=1, out=block)
            if not log:
                np.exp(block, out=block)
                block[:, 0] = s0  # exactly, not exp(log(s0))


@dataclass(frozen=True)
class MertonJumpDiffusion:
    r"""Merton (1976) jump diffusion: GBM plus compound-Poisson jumps in the log price.

    .. math::
        \ln\frac{P_{t+\Delta t}}{P_t} = (\mu - \tfrac12\sigma^2 - \lambda k)\Delta t
        + \sigma\sqrt{\Delta t}\,Z + \sum_{j=1}^{N_{\Delta t}} Y_j,
        \qquad N_{\Delta t} \sim \mathrm{Poisson}(\lambda\Delta t),\ Y_j \sim N(\mu_J, \sigma_J^2),

    with compensator :math:`k = E[e^Y] - 1 = e^{\mu_J + \sigma_J^2/2} - 1`, so that
    :math:`E[P_T] = P_0 e^{\mu T}`. Simulation on a grid is exact.

    The defaults (about one jump every 18 days, typically a 3% drop with 8% spread) give a total
    annualised volatility :math:`\sqrt{\sigma^2 + \lambda(\sigma_J^2 + \mu_J^2)} \approx 0.80`.

    Parameters
    ----------
    mu : float, default 0.0
        Annualised drift of the price, finite.
    sigma : float, default 0.7
        Annualised volatility of the diffusion part, > 0.
    intensity : float, default 20.0
        Jump intensity :math:`\lambda` in jumps per year, >= 0 (0 gives GBM).
    jump_mean : float, default -0.03
        Mean :math:`\mu_J` of the log jump size, finite.
    jump_std : float, default 0.08
        Standard deviation :math:`\sigma_J` of the log jump size, >= 0.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range (``intensity < 0``, ``sigma <= 0``, ...).

    Examples
    --------
    >>> model = MertonJumpDiffusion()
    >>> round(model.total_volatility, 3)
    0.797
    >>> paths = model.simulate(n_paths=2, n_steps=720, rng=np.random.default_rng(1), s0=100.0)
    >>> paths.shape
    (2, 721)
    """

    mu: float = 0.0
    sigma: float = 0.7
    intensity: float = 20.0
    jump_mean: float = -0.03
    jump_std: float = 0.08

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", float(finite("mu", self.mu)))
        object.__setattr__(self, "sigma", float(positive("sigma", self.sigma)))
        object.__setattr__(self, "intensity", float(nonnegative("intensity", self.intensity)))
        object.__setattr__(self, "jump_mean", float(finite("jump_mean", self.jump_mean)))
        object.__setattr__(self, "jump_std", float(nonnegative("jump_std", self.jump_std)))

    @property
    def compensator(self) -> float:
        r"""Mean relative jump :math:`k = e^{\mu_J + \sigma_J^2/2} - 1`."""
        return math.expm1(self.jump_mean + 0.5 * self.jump_std**2)

    @property
    def total_volatility(self) -> float:
        r"""Annualised volatility of the log price, :math:`\sqrt{\sigma^2 + \lambda E[Y^2]}`."""
        return math.sqrt(self.sigma**2 + self.intensity * (self.jump_std**2 + self.jump_mean**2))

    def log_return_moments(self, horizon: float) -> LogReturnMoments:
        r"""Exact moments of :math:`\ln(P_T/P_0)` from its cumulants.

        .. math::
            \kappa_1 &= (\mu - \tfrac12\sigma^2 - \lambda k)T + \lambda T \mu_J, \\
            \kappa_2 &= \sigma^2 T + \lambda T(\sigma_J^2 + \mu_J^2), \\
            \kappa_3 &= \lambda T(\mu_J^3 + 3\mu_J\sigma_J^2), \\
            \kappa_4 &= \lambda T(\mu_J^4 + 6\mu_J^2\sigma_J^2 + 3\sigma_J^4),

        skewness :math:`\kappa_3/\kappa_2^{3/2}`, excess kurtosis :math:`\kappa_4/\kappa_2^2`.

        Examples
        --------
        >>> m = MertonJumpDiffusion().log_return_moments(1.0)
        >>> round(m.variance, 4), round(m.skewness, 3), round(m.excess_kurtosis, 3)
        (0.636, -0.024, 0.008)
        """
        t = _check_horizon(horizon)
        lam, mj, sj = self.intensity, self.jump_mean, self.jump_std
        k1 = (self.mu - 0.5 * self.sigma**2 - lam * self.compensator) * t + lam * t * mj
        k2 = self.sigma**2 * t + lam * t * (sj**2 + mj**2)
        k3 = lam * t * (mj**3 + 3.0 * mj * sj**2)
        k4 = lam * t * (mj**4 + 6.0 * mj**2 * sj**2 + 3.0 * sj**4)
        return LogReturnMoments(k1, k2, k3 / k2**1.5, k4 / k2**2)

    def simulate(
        self,
        n_paths: int,
        n_steps: int,
        rng: np.random.Generator,
        *,
        s0: float = 1.0,
        dt: float = HOURLY_DT,
        log: bool = False,
    ) -> FloatArray:
        r"""Exact jump-diffusion paths on the grid :math:`t_k = k\,\Delta t`.

        Per block of paths: the diffusion part as in :meth:`GBM.simulate`, then the jumps. The
        number of jumps in a block is Poisson with mean :math:`\lambda\Delta t` times the number of
        (path, step) cells and each jump falls in a uniformly chosen cell, which is the same law
        as independent Poisson counts per cell but costs only one draw per jump.

        Parameters and return value as for :meth:`GBM.simulate`.

        Raises
        ------
        ValueError
            If a count is < 1 or ``s0``/``dt`` is not finite and > 0.
        """
        n_paths, n_steps, dt = _check_grid(n_paths, n_steps, dt)
        s0 = float(positive("s0", s0))
        scale = self.sigma * math.sqrt(dt)
        drift = (self.mu - 0.5 * self.sigma**2 - self.intensity * self.compensator) * dt
        rate = self.intensity * dt
        out = np.empty((n_paths, n_steps + 1), dtype=np.float64)
        rows = _block_rows(n_steps)
        for start in range(0, n_paths, rows):
            block = out[start : start + rows]
            rng.standard_normal(out=block)
            block *= scale
            block += drift
            n_cells = block.shape[0] * n_steps
            n_jumps = int(rng.poisson(rate * n_cells)) if rate > 0 else 0
            if n_jumps:
                cells = rng.integers(0, n_cells, size=n_jumps)
                sizes = self.jump_mean + self.jump_std * rng.standard_normal(n_jumps)
                row, col = np.divmod(cells, n_steps)
                np.add.at(block, (row, col + 1), sizes)
            block[:, 0] = math.log(s0)
            np.cumsum(block, axis=1, out=block)
            if not log:
                np.exp(block, out=block)
                block[:, 0] = s0
        return out


@dataclass(frozen=True)
class GARCH11:
    r"""GARCH(1,1) log returns: volatility clustering in discrete time, one step per ``dt``.

    .. math::
        r_t = \mu\,\Delta t - \tfrac12 h_t + \varepsilon_t, \qquad
        \varepsilon_t = \sqrt{h_t}\,Z_t, \qquad
        h_{t+1} = \omega + \alpha\,\varepsilon_t^2 + \beta\,h_t,

    where :math:`r_t = \ln(P_{t+1}/P_t)` and :math:`h_t` is the conditional variance per step.
    The :math:`-h_t/2` term makes :math:`E[P_{t+1}/P_t \mid h_t] = e^{\mu\Delta t}`, as in GBM.
    Stationarity needs :math:`\alpha + \beta < 1`; the unconditional variance per step is then
    :math:`\bar h = \omega/(1 - \alpha - \beta)`.

    The defaults (persistence 0.99, a half-life of about 69 hours) have unconditional
    annualised volatility :math:`\sqrt{\bar h/\Delta t} = 0.8` at hourly steps; use
    :meth:`from_annual_volatility` for another target or step.

    Parameters
    ----------
    omega : float, default :data:`DEFAULT_GARCH_OMEGA`
        Constant :math:`\omega > 0`, a variance per step.
    alpha : float, default 0.05
        Reaction to the last squared shock, >= 0.
    beta : float, default 0.94
        Persistence of the last conditional variance, >= 0.
    mu : float, default 0.0
        Annualised drift, finite.
    dt : float, default :data:`HOURLY_DT`
        Step in years, > 0 (used for the drift and for annualising).

    Raises
    ------
    ValueError
        If ``omega <= 0``, ``alpha < 0``, ``beta < 0`` or ``alpha + beta >= 1`` (not stationary),
        naming the parameter.

    Examples
    --------
    >>> model = GARCH11()
    >>> round(model.annual_volatility, 6), round(model.persistence, 2)
    (0.8, 0.99)
    >>> GARCH11(alpha=0.1, beta=0.9)
    Traceback (most recent call last):
    ...
    ValueError: alpha + beta must be < 1 (stationarity), got 1.0
    """

    omega: float = DEFAULT_GARCH_OMEGA
    alpha: float = DEFAULT_GARCH_ALPHA
    beta: float = DEFAULT_GARCH_BETA
    mu: float = 0.0
    dt: float = HOURLY_DT

    def __post_init__(self) -> None:
        object.__setattr__(self, "omega", float(positive("omega", self.omega)))
        object.__setattr__(self, "alpha", float(nonnegative("alpha", self.alpha)))
        object.__setattr__(self, "beta", float(nonnegative("beta", self.beta)))
        object.__setattr__(self, "mu", float(finite("mu", self.mu)))
        object.__setattr__(self, "dt", float(positive("dt", self.dt)))
        if not self.alpha + self.beta < 1.0:
            raise ValueError(
                f"alpha + beta must be < 1 (stationarity), got {self.alpha + self.beta!r}"
            )

    @classmethod
    def from_annual_volatility(
        cls,
        volatility: float = 0.8,
        alpha: float = DEFAULT_GARCH_ALPHA,
        beta: float = DEFAULT_GARCH_BETA,
        *,
        mu: float = 0.0,
        dt: float = HOURLY_DT,
    ) -> GARCH11:
        r"""The model with :math:`\omega = \sigma^2\,\Delta t\,(1 - \alpha - \beta)`, whose
        unconditional annualised volatility is ``volatility``.

        Examples
        --------
        >>> round(GARCH11.from_annual_volatility(0.5, dt=1 / 365).annual_volatility, 6)
        0.5
        """
        vol = float(positive("volatility", volatility))
        step = float(positive("dt", dt))
        a = float(nonnegative("alpha", alpha))
        b = float(nonnegative("beta", beta))
        if not a + b < 1.0:
            raise ValueError(f"alpha + beta must be < 1 (stationarity), got {a + b!r}")
        return cls(omega=vol**2 * step * (1.0 - a - b), alpha=a, beta=b, mu=mu, dt=step)

    @property
    def persistence(self) -> float:
        r""":math:`\alpha + \beta`, the rate at which a variance shock decays per step."""
        return self.alpha + self.beta

    @property
    def unconditional_variance(self) -> float:
        r"""Unconditional variance per step, :math:`\bar h = \omega/(1-\alpha-\beta)`."""
        return self.omega / (1.0 - self.persistence)

    @property
    def annual_volatility(self) -> float:
        r"""Unconditional annualised volatility :math:`\sqrt{\bar h / \Delta t}`."""
        return math.sqrt(self.unconditional_variance / self.dt)

    @property
    def kurtosis(self) -> float:
        r"""Unconditional kurtosis of :math:`\varepsilon_t`,
        :math:`3(1 - (\alpha+\beta)^2)/(1 - (\alpha+\beta)^2 - 2\alpha^2)`; ``inf`` when the
        fourth moment does not exist. Normal shocks have 3.

        Examples
        --------
        >>> round(GARCH11().kurtosis, 3)
        4.007
        """
        p2 = self.persistence**2
        denom = 1.0 - p2 - 2.0 * self.alpha**2
        return 3.0 * (1.0 - p2) / denom if denom > 0 else math.inf

    def variance_moments(
        self, n_steps: int, h0: float | None = None
    ) -> tuple[FloatArray, FloatArray]:
        r"""Exact :math:`E[h_t]` and :math:`E[h_t^2]`, :math:`t = 0, \dots, n-1`, from :math:`h_0`.

        From :math:`h_{t+1} = \omega + (\alpha Z_t^2 + \beta) h_t` with :math:`Z_t` independent
        of :math:`h_t`:

        .. math::
            E[h_{t+1}] &= \omega + (\alpha + \beta) E[h_t], \\
            E[h_{t+1}^2] &= \omega^2 + 2\omega(\alpha+\beta) E[h_t]
                + (3\alpha^2 + 2\alpha\beta + \beta^2) E[h_t^2].

        Hence :math:`E[\varepsilon_t^2] = E[h_t]` and :math:`E[\varepsilon_t^4] = 3 E[h_t^2]`.

        Parameters
        ----------
        n_steps : int
            Number of steps, >= 1.
        h0 : float, optional
            Initial conditional variance, > 0; default the unconditional variance.

        Returns
        -------
        (ndarray, ndarray)
            :math:`E[h_t]` and :math:`E[h_t^2]`, each of shape ``(n_steps,)``.
        """
        n = positive_int("n_steps", n_steps)
        h = self.unconditional_variance if h0 is None else float(positive("h0", h0))
        m1 = np.empty(n)
        m2 = np.empty(n)
        m1[0], m2[0] = h, h * h
        a, b, w = self.alpha, self.beta, self.omega
        c2 = 3.0 * a * a + 2.0 * a * b + b * b
        for t in range(1, n):
            m2[t] = w * w + 2.0 * w * (a + b) * m1[t - 1] + c2 * m2[t - 1]
            m1[t] = w + (a + b) * m1[t - 1]
        return m1, m2

    def simulate(
        self,
        n_paths: int,
        n_steps: int,
        rng: np.random.Generator,
        *,
        s0: float = 1.0,
        h0: float | None = None,
        log: bool = False,
    ) -> FloatArray:
        r"""GARCH(1,1) price paths on the model's grid; see :meth:`simulate_with_variance`.

        Examples
        --------
        >>> paths = GARCH11().simulate(4, 48, np.random.default_rng(2), s0=100.0)
        >>> paths.shape, float(paths[1, 0])
        ((4, 49), 100.0)
        """
        n_paths = positive_int("n_paths", n_paths)
        n_steps = positive_int("n_steps", n_steps)
        start = float(positive("s0", s0))
        h_start = self.unconditional_variance if h0 is None else float(positive("h0", h0))
        return self._run(n_paths, n_steps, rng, s0=start, h0=h_start, log=log, variance=None)

    def simulate_with_variance(
        self,
        n_paths: int,
        n_steps: int,
        rng: np.random.Generator,
        *,
        s0: float = 1.0,
        h0: float | None = None,
        log: bool = False,
    ) -> tuple[FloatArray, FloatArray]:
        r"""GARCH(1,1) price paths and their conditional variances.

        The recursion runs step by step, vectorised over paths. All normals are drawn first, in
        one fill of shape ``(n_steps + 1, n_paths)`` (time-major, so each step is contiguous).

        Parameters
        ----------
        n_paths, n_steps : int
            Number of paths and of steps, >= 1.
        rng : numpy.random.Generator
            Source of all randomness.
        s0 : float, default 1.0
            Start price, > 0.
        h0 : float, optional
            Conditional variance of the first step, > 0; default the unconditional variance
            (so that :math:`E[h_t] = \bar h` at every step).
        log : bool, default False
            Return log prices.

        Returns
        -------
        paths : ndarray, shape (n_paths, n_steps + 1)
            Prices (or log prices), column 0 the start.
        variance : ndarray, shape (n_paths, n_steps)
            :math:`h_t`, the conditional variance of the step from :math:`t` to :math:`t+1`.

        Raises
        ------
        ValueError
            If a count is < 1 or ``s0``/``h0`` is not finite and > 0.
        """
        n_paths = positive_int("n_paths", n_paths)
        n_steps = positive_int("n_steps", n_steps)
        s0 = float(positive("s0", s0))
        h_start = self.unconditional_variance if h0 is None else float(positive("h0", h0))
        variance = np.empty((n_steps, n_paths))
        paths = self._run(n_paths, n_steps, rng, s0=s0, h0=h_start, log=log, variance=variance)
        return paths, np.ascontiguousarray(variance.T)

    def _run(
        self,
        n_paths: int,
        n_steps: int,
        rng: np.random.Generator,
        *,
        s0: float,
        h0: float,
        log: bool,
        variance: FloatArray | None,
    ) -> FloatArray:
        """The recursion in time-major layout, returned as its path-major transposed view."""
        steps = rng.standard_normal((n_steps + 1, n_paths))  # row t + 1: Z_t, then ln P_{t+1}
        steps[0] = math.log(s0)
        h = np.full(n_paths, h0)
        eps = np.empty(n_paths)
        half = np.empty(n_paths)
        a, b, w, mdt = self.alpha, self.beta, self.omega, self.mu * self.dt
        for t in range(n_steps):
            if variance is not None:
                variance[t] = h
            x = steps[t + 1]
            np.sqrt(h, out=eps)
            eps *= x  # eps_t = sqrt(h_t) Z_t
            np.multiply(h, 0.5, out=half)
            np.subtract(eps, half, out=x)  # r_t = eps_t - h_t / 2 (+ mu dt)
            if mdt:
                x += mdt
            x += steps[t]  # ln P_{t+1} = ln P_t + r_t, summed here while both rows are hot
            h *= b
            eps *= eps
            eps *= a
            h += eps
            h += w  # h_{t+1} = omega + alpha eps_t^2 + beta h_t
        if not log:
            np.exp(steps, out=steps)
            steps[0] = s0
        # The path-major result is the transpose of the time-major buffer: a view, no copy
        # (a Fortran-ordered array of shape (n_paths, n_steps + 1)).
        return steps.T


# -- regime switching (issue 16: markets where skill can pay) -----------------------------------

__all__ += ["CALM", "TURBULENT", "RegimeArray", "RegimeSwitchingGBM"]

RegimeArray = np.ndarray[tuple[int, int], np.dtype[np.int8]]
"""Regime paths, int8 of shape ``(n_paths, n_steps)``."""

CALM: int = 0
"""Index of the calm regime of :class:`RegimeSwitchingGBM`."""

TURBULENT: int = 1
"""Index of the turbulent regime of :class:`RegimeSwitchingGBM`."""


@dataclass(frozen=True)
class RegimeSwitchingGBM:
    r"""GBM whose drift and volatility follow a two-state Markov chain, calm (0) and turbulent (1).

    The regime :math:`s_k \in \{0, 1\}` of step :math:`k` (from :math:`t_k` to :math:`t_{k+1}`)
    sets that step's law:

    .. math::
        \ln\frac{P_{k+1}}{P_k} = (\mu_{s_k} - \tfrac12\sigma_{s_k}^2)\,\Delta t
        + \sigma_{s_k}\sqrt{\Delta t}\,Z_k, \qquad
        P(s_{k+1} = 1 \mid s_k = 0) = p_\uparrow, \quad P(s_{k+1} = 0 \mid s_k = 1) = p_\downarrow,

    so that :math:`E[P_{k+1}/P_k \mid s_k] = e^{\mu_{s_k}\Delta t}` as in :class:`GBM`. The chain's
    stationary law is :math:`\pi_1 = p_\uparrow/(p_\uparrow + p_\downarrow)`, its autocorrelation
    per step :math:`\lambda = 1 - p_\uparrow - p_\downarrow`, and a regime lasts on average
    :math:`1/p_\uparrow` (calm) and :math:`1/p_\downarrow` (turbulent) steps. Simulation on the
    grid is exact.

    The defaults have a stationary turbulent share of 0.189, a stationary drift of 0.411, a
    diffusive volatility :math:`\sqrt{\pi_0\sigma_0^2 + \pi_1\sigma_1^2}` of 0.793 (close to the
    other models' 0.8), and Kelly leverages :math:`\mu_s/\sigma_s^2` of 2.4 (calm) and -0.18
    (turbulent): a trader who knows the regime can beat any constant leverage.

    Parameters
    ----------
    mu_calm, mu_turbulent : float, default 0.6 and -0.4
        Annualised drift in each regime, finite.
    sigma_calm, sigma_turbulent : float, default 0.5 and 1.5
        Annualised volatility in each regime, > 0.
    p_enter : float, default 1/720
        Per-step probability of switching from calm to turbulent, in (0, 1) (a calm spell lasts
        30 days of hourly steps on average).
    p_exit : float, default 1/168
        Per-step probability of switching from turbulent to calm, in (0, 1) (a turbulent spell
        lasts a week on average).
    dt : float, default :data:`HOURLY_DT`
        Step in years, > 0.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> model = RegimeSwitchingGBM()
    >>> np.round(model.stationary_distribution, 3)
    array([0.811, 0.189])
    >>> paths, regimes = model.simulate_with_regimes(3, 24, np.random.default_rng(0), s0=100.0)
    >>> paths.shape, regimes.shape, float(paths[0, 0])
    ((3, 25), (3, 24), 100.0)
    >>> RegimeSwitchingGBM(p_enter=0.0)
    Traceback (most recent call last):
    ...
    ValueError: p_enter must lie in (0.0, 1.0), got 0.0
    """

    mu_calm: float = 0.6
    mu_turbulent: float = -0.4
    sigma_calm: float = 0.5
    sigma_turbulent: float = 1.5
    p_enter: float = 1.0 / 720.0
    p_exit: float = 1.0 / 168.0
    dt: float = HOURLY_DT

    def __post_init__(self) -> None:
        for name in ("mu_calm", "mu_turbulent"):
            object.__setattr__(self, name, float(finite(name, getattr(self, name))))
        for name in ("sigma_calm", "sigma_turbulent", "dt"):
            object.__setattr__(self, name, float(positive(name, getattr(self, name))))
        for name in ("p_enter", "p_exit"):
            value = getattr(self, name)
            p = float(finite(name, value))
            if not 0.0 < p < 1.0:
                raise ValueError(f"{name} must lie in (0.0, 1.0), got {value!r}")
            object.__setattr__(self, name, p)

    @property
    def mu(self) -> FloatArray:
        """Annualised drift per regime (calm, then turbulent), shape (2,)."""
        return np.array([self.mu_calm, self.mu_turbulent])

    @property
    def sigma(self) -> FloatArray:
        """Annualised volatility per regime (calm, then turbulent), shape (2,)."""
        return np.array([self.sigma_calm, self.sigma_turbulent])

    @property
    def transition_matrix(self) -> FloatArray:
        r"""Per-step transition matrix :math:`T_{ij} = P(s_{k+1} = j \mid s_k = i)`, shape (2, 2).

        Examples
        --------
        >>> RegimeSwitchingGBM(p_enter=0.1, p_exit=0.3).transition_matrix
        array([[0.9, 0.1],
               [0.3, 0.7]])
        """
        a, b = self.p_enter, self.p_exit
        return np.array([[1.0 - a, a], [b, 1.0 - b]])

    @property
    def stationary_distribution(self) -> FloatArray:
        r"""The chain's stationary law, shape (2,).

        It is :math:`(p_\downarrow, p_\uparrow)/(p_\uparrow + p_\downarrow)`.
        """
        total = self.p_enter + self.p_exit
        return np.array([self.p_exit / total, self.p_enter / total])

    def log_return_mean_variance(self, n_steps: int) -> tuple[float, float]:
        r"""Exact mean and variance of :math:`\ln(P_n/P_0)` over ``n_steps`` steps from the
        stationary law.

        With :math:`\nu_s = (\mu_s - \sigma_s^2/2)\Delta t`, :math:`\pi` the stationary law and
        :math:`\lambda = 1 - p_\uparrow - p_\downarrow`:

        .. math::
            E &= n\,(\pi_0\nu_0 + \pi_1\nu_1), \\
            \mathrm{Var} &= n\,\Delta t\,(\pi_0\sigma_0^2 + \pi_1\sigma_1^2)
            + \pi_0\pi_1(\nu_1 - \nu_0)^2
              \Big(n + 2\sum_{d=1}^{n-1}(n - d)\lambda^d\Big),

        the second term the variance of the summed regime drifts (the chain's covariance at lag
        :math:`d` is :math:`\pi_0\pi_1\lambda^d`).

        Parameters
        ----------
        n_steps : int
            :math:`n \ge 1`.

        Returns
        -------
        (float, float)

        Raises
        ------
        ValueError
            If ``n_steps`` < 1.

        Examples
        --------
        >>> model = RegimeSwitchingGBM(mu_calm=0.0, mu_turbulent=0.0, sigma_calm=0.8,
        ...                            sigma_turbulent=0.8)
        >>> mean, var = model.log_return_mean_variance(8760)
        >>> round(mean, 6), round(var, 6)  # GBM(0, 0.8) over a year
        (-0.32, 0.64)
        """
        n = positive_int("n_steps", n_steps)
        pi = self.stationary_distribution
        nu = (self.mu - 0.5 * self.sigma**2) * self.dt
        lam = 1.0 - self.p_enter - self.p_exit
        mean = n * float(pi @ nu)
        d = np.arange(1, n, dtype=np.float64)
        lag_sum = n + 2.0 * float(np.sum((n - d) * lam**d))
        var = (
            n * self.dt * float(pi @ self.sigma**2) + pi[0] * pi[1] * (nu[1] - nu[0]) ** 2 * lag_sum
        )
        return mean, float(var)

    def simulate_regimes(
        self,
        n_paths: int,
        n_steps: int,
        rng: np.random.Generator,
        *,
        regime0: int | None = None,
    ) -> RegimeArray:
        r"""Regime paths :math:`s_0, \dots, s_{n-1}`, shape ``(n_paths, n_steps)``, int8.

        :math:`s_0` is ``regime0``, or drawn from the stationary law when ``None``; then one
        uniform per path and step decides each switch. The uniforms come from ``rng`` in one
        fill of shape ``(n_paths, n_steps)`` (column 0 for :math:`s_0`).

        Raises
        ------
        ValueError
            If a count is < 1 or ``regime0`` is not 0, 1 or None.
        """
        n_paths = positive_int("n_paths", n_paths)
        n_steps = positive_int("n_steps", n_steps)
        if regime0 is not None and regime0 not in (CALM, TURBULENT):
            raise ValueError(f"regime0 must be 0 (calm), 1 (turbulent) or None, got {regime0!r}")
        u = rng.random((n_paths, n_steps))
        out = np.empty((n_paths, n_steps), dtype=np.int8)
        if regime0 is None:
            out[:, 0] = u[:, 0] < self.stationary_distribution[1]
        else:
            out[:, 0] = regime0
        for k in range(1, n_steps):
            prev = out[:, k - 1]
            flip = np.where(prev == CALM, u[:, k] < self.p_enter, u[:, k] < self.p_exit)
            out[:, k] = np.where(flip, 1 - prev, prev)
        return out

    def simulate_with_regimes(
        self,
        n_paths: int,
        n_steps: int,
        rng: np.random.Generator,
        *,
        s0: float = 1.0,
        regime0: int | None = None,
        log: bool = False,
    ) -> tuple[FloatArray, RegimeArray]:
        r"""Price paths and the regime of each step.

        The regimes are drawn first (:meth:`simulate_regimes`), then the normals in one fill of
        shape ``(n_paths, n_steps)``; the log increment of step :math:`k` uses :math:`s_k`.

        Parameters
        ----------
        n_paths, n_steps : int
            Number of paths and of steps per path, >= 1.
        rng : numpy.random.Generator
            Source of all randomness.
        s0 : float, default 1.0
            Start price, > 0.
        regime0 : {0, 1, None}, default None
            Regime of the first step; ``None`` draws it from the stationary law.
        log : bool, default False
            Return log prices.

        Returns
        -------
        paths : ndarray, shape (n_paths, n_steps + 1)
            Prices (or log prices), column 0 the start.
        regimes : ndarray of int8, shape (n_paths, n_steps)
            :math:`s_k`, the regime of the step from :math:`t_k` to :math:`t_{k+1}`.

        Raises
        ------
        ValueError
            If a count is < 1, ``s0`` is not finite and > 0 or ``regime0`` is not 0, 1 or None.
        """
        start = float(positive("s0", s0))
        regimes = self.simulate_regimes(n_paths, n_steps, rng, regime0=regime0)
        z = rng.standard_normal(regimes.shape)
        sig = self.sigma[regimes]
        steps = (self.mu[regimes] - 0.5 * sig * sig) * self.dt + sig * math.sqrt(self.dt) * z
        out = np.empty((regimes.shape[0], regimes.shape[1] + 1))
        out[:, 0] = math.log(start)
        np.cumsum(steps, axis=1, out=out[:, 1:])
        out[:, 1:] += math.log(start)
        if not log:
            np.exp(out, out=out)
            out[:, 0] = start
        return out, regimes

    def simulate(
        self,
        n_paths: int,
        n_steps: int,
        rng: np.random.Generator,
        *,
        s0: float = 1.0,
        regime0: int | None = None,
        log: bool = False,
    ) -> FloatArray:
        """Price paths only; see :meth:`simulate_with_regimes` (the same draws).

        Examples
        --------
        >>> RegimeSwitchingGBM().simulate(2, 10, np.random.default_rng(1)).shape
        (2, 11)
        """
        return self.simulate_with_regimes(n_paths, n_steps, rng, s0=s0, regime0=regime0, log=log)[0]

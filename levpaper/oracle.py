r"""The optimum to measure a learner against: the leveraged-trading problem discretised and solved
by dynamic programming (issue 16; ledger rows E5-E8 for the costs and liquidation, E14 for the
growth it maximises).

The decision problem
    A trader with wealth :math:`W` holds an exposure :math:`\ell W` to token A (:math:`\ell` the
    leverage of wealth; the whole wealth is the margin, so account and wealth leverage coincide)
    and the rest in B at the risk-free rate :math:`r_f`. The market is in one of :math:`K`
    states :math:`s` (a :class:`levpaper.processes.RegimeSwitchingGBM` regime, a GARCH variance
    bucket, or the single state of a GBM) that follow a Markov chain :math:`T_{ss'}` and set the
    law of the next step's log return, :math:`N((\mu_s - \sigma_s^2/2)\Delta t,
    \sigma_s^2\Delta t)`. The state of the decision problem is :math:`(s, \ell)`; the action is
    a target leverage :math:`a` on a grid (long only by default; a signed grid allows shorts).
    One step:

    1. **Rebalance** to :math:`a` through the pool (fee :math:`f`, B reserve :math:`y`, at the
       external price; the book's cost model, E5): raising the exposure by :math:`\Delta` (in B
       at the spot price) costs :math:`\Delta\,[1/((1-f)(1-\Delta/y)) - 1]`, lowering it
       :math:`\Delta\,[1 - (1-f)/(1+(1-f)\Delta/y)]` (the execution prices
       :math:`S(1/(1-f) + N/y)` and :math:`S(1-f)/(1 + (1-f)\Delta/y)` of exact-in trades;
       :func:`trade_cost`). The trade is sized so that the leverage *after* its cost is exactly
       :math:`a`. The pool's depth enters as :math:`d = W/y` (``depth``), held constant so that
       the problem stays scale-free (exact at the start, an approximation as wealth drifts far).
       Arbitrage then returns the pool to the external price at no cost to the trader.
    2. **One price step** with gross return :math:`R` in state :math:`s`; wealth is multiplied by
       :math:`R_f + a(R - R_f)`, :math:`R_f = e^{r_f\Delta t}`, and the leverage drifts to
       :math:`aR/(R_f + a(R - R_f))`. The regime then moves to :math:`s' \sim T_{s\cdot}`.
    3. **Liquidation** (E7, E8) when the equity falls to :math:`m` times the notional at the end
       of the step: for a long above 1x when :math:`R \le R_f(1 - 1/a)/(1 - m)`, for a short when
       :math:`R \ge R_f(1 + 1/|a|)/(1 + m)`, so that the per-step probability is
       :math:`\Phi(z_\text{liq})` (long) or :math:`1 - \Phi(z_\text{liq})` (short) with
       :math:`z_\text{liq} = (\ln R_\text{liq} - (\mu_s - \sigma_s^2/2)\Delta t)/
       (\sigma_s\sqrt{\Delta t})` (:func:`liquidation_probability`). Liquidation is absorbing:
       the trader keeps :math:`\max(mN - pN - c(N), 0)` (penalty rate :math:`p` and the cost
       :math:`c` of closing the notional :math:`N` at the liquidation price), floored at
       ``wealth_floor`` of the wealth, and stops trading. With the book's :math:`m = 0.5\%` and
       :math:`p = 1.25\%` nothing is left.

    The reward is the step's log-wealth growth, so the value is the expected log growth
    :math:`E[\ln W_T/W_0]`: the certainty-equivalent growth of a log-utility (Kelly) trader,
    reported per year as :math:`E[\ln W_T/W_0]/(T\Delta t)`.

Discretisation
    The survival part of each step's return is integrated by Gauss-Legendre quadrature of the
    normal density on the survival interval of the standard normal, cut at :math:`\pm 8`; its
    weights are rescaled to the exact survival probability, so every (state, action) has a proper
    finite law: the liquidation atom with its closed-form probability plus ``n_nodes`` return
    nodes. The drifted leverage falls between grid points; the value there is interpolated
    linearly on a state grid (the action grid extended to :math:`1/m`, the leverage at which a
    survivor's equity reaches the maintenance margin). Because the reward is additive in log
    wealth, the value of an action splits into the rebalancing cost, which is exact at any
    current leverage, and a continuation :math:`G(s, x)` that depends only on the leverage
    :math:`x` after the trade, tabulated on the state grid: :math:`V(s, \ell) = \max(G(s, \ell),
    \max_a [\ln(1 - \kappa(\ell, a)) + G(s, a)])`, the first term holding the position (the
    no-trade region a fee makes optimal; beyond the cap too, as in the environment, unless
    ``hold_beyond_cap=False``). The oracle's policy (:class:`OraclePolicy`) is greedy in that
    form at the trader's actual leverage.

Formulations
    :func:`solve_finite_horizon` -- backward induction over :math:`T` steps, exact for the
    discretised problem (no tolerance): the environment's episode (168 or 720 hourly steps,
    terminated by liquidation) and the training module's metric, the mean of :math:`\ln(W_T/C_0)`,
    so a learner's score is directly a fraction of this value.
    :func:`solve_discounted` -- the infinite-horizon discounted problem by value iteration to a
    stated sup-norm tolerance (iterations and residual reported): a stationary policy.
    The average-reward criterion is not used: with absorbing liquidation every policy that risks
    liquidation is eventually absorbed, so its long-run growth per step is 0 and the criterion
    cannot rank such policies.

Baselines
    :class:`ConstantLeverage`, the time-varying Kelly rule :class:`KellyRule`
    (:math:`(\mu_s - r_f)/\sigma_t^2` clipped to the cap), and :class:`PaperRule`, the paper's
    :math:`L^*` (E12), :func:`levpaper.risk.vol_adjusted_leverage` (the one implementation; it
    scales as :math:`1/\sigma` below the volatility where one hour's 99% VaR of 1x is 1% and as
    :math:`1/\sigma^2` above it, with no drift in it).
    :func:`simulate_policy` runs any of them in the discretised model (the DP's own chain: the
    quadrature nodes, the regime chain, targets snapped to the action grid) or in the continuous
    model (exact normal returns, the GARCH recursion itself, continuous targets), and returns the
    mean log growth with its Monte Carlo standard error.

Examples
--------
>>> from levpaper.processes import GBM
>>> problem = DecisionProblem.from_gbm(GBM(mu=0.6, sigma=0.5), fee=0.0, depth=0.0,
...                                    leverage_grid=leverage_grid(5.0, 0.1))
>>> sol = solve_finite_horizon(problem, horizon=24)
>>> float(sol.target(0, 0.0))  # the Kelly leverage mu / sigma^2
2.4
>>> round(sol.growth_per_year, 4)  # mu^2 / (2 sigma^2)
0.72
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from levpaper._validate import FloatArray, finite, in_range, nonnegative, positive, positive_int
from levpaper.env import WEALTH_FLOOR, LeveragedSwapConfig
from levpaper.processes import GARCH11, GBM, HOURLY_DT, RegimeSwitchingGBM
from levpaper.risk import vol_adjusted_leverage

__all__ = [
    "ConstantLeverage",
    "DecisionProblem",
    "KellyRule",
    "MarketState",
    "OraclePolicy",
    "OracleSolution",
    "PaperRule",
    "PolicyEvaluation",
    "StatePolicy",
    "leverage_grid",
    "liquidation_probability",
    "paper_leverage",
    "simulate_in_env",
    "simulate_policy",
    "solve_discounted",
    "solve_finite_horizon",
    "trade_cost",
]

IntArray = npt.NDArray[np.intp]
_Z_MAX = 8.0
_FIXED_POINT_ITERATIONS = 60


def leverage_grid(
    cap: float = 100.0, step: float = 0.1, *, fine_until: float = 10.0, coarse_step: float = 2.5,
    signed: bool = False,
) -> FloatArray:  # fmt: skip
    """A target-leverage grid: ``step`` apart up to ``fine_until``, ``coarse_step`` apart up to
    ``cap`` (log growth falls fast beyond a few times leverage, so the high end needs few points);
    mirrored to negative leverage (shorts) when ``signed``.

    Examples
    --------
    >>> leverage_grid(2.0, 0.5)
    array([0. , 0.5, 1. , 1.5, 2. ])
    >>> leverage_grid(20.0, 1.0, fine_until=3.0, coarse_step=5.0)
    array([ 0.,  1.,  2.,  3.,  8., 13., 18., 20.])
    >>> leverage_grid(1.0, 1.0, signed=True)
    array([-1.,  0.,  1.])
    """
    top = float(positive("cap", cap))
    h = float(positive("step", step))
    fine = min(float(positive("fine_until", fine_until)), top)
    coarse = float(positive("coarse_step", coarse_step))
    pts = np.round(np.arange(0.0, fine + 0.5 * h, h), 12)
    pts = pts[pts <= fine + 1e-12]
    tail = np.round(np.arange(pts[-1] + coarse, top, coarse), 12)
    grid = np.unique(np.concatenate([pts, tail, [top]]))
    if signed:
        grid = np.unique(np.concatenate([-grid[::-1], grid])) + 0.0  # no -0.0
    return np.asarray(grid, dtype=np.float64)


def trade_cost(
    current: npt.ArrayLike,
    target: npt.ArrayLike,
    fee: float = 0.003,
    depth: float = 0.0,
) -> FloatArray:
    r"""Cost :math:`\kappa` (fraction of wealth) of trading from leverage ``current`` to ``target``
    through a constant-product pool at the external price (E5).

    Exposures are valued at the spot price :math:`S`. Raising the exposure by :math:`\Delta`
    (units of wealth) pays :math:`N = \Delta/((1-f)(1-\Delta d))` of B exact in, the cost
    :math:`N - \Delta`; lowering it sells A worth :math:`\Delta` exact in for
    :math:`(1-f)\Delta/(1+(1-f)\Delta d)` of B, the cost the difference. The trade is sized so
    that the leverage after the cost is ``target``: :math:`\Delta = |a(1-\kappa) - \ell|`, solved
    exactly without impact (:math:`\kappa = \varphi(a - \ell)/(1 + \varphi a)` buying,
    :math:`\varphi = f/(1-f)`; :math:`f(\ell - a)/(1 - fa)` selling), then by Newton's method
    for the impact (from that start, two or three iterations to rounding error).

    Parameters
    ----------
    current, target : array_like
        Leverage of wealth before and after the trade (signed), broadcast together.
    fee : float, default 0.003
        Pool fee :math:`f` in [0, 0.1].
    depth : float, default 0.0
        Wealth over the pool's B reserve, :math:`d = W/y \ge 0` (0: no price impact).

    Returns
    -------
    ndarray
        :math:`\kappa \in [0, 1]`; 1 where the costs would take the whole wealth (a trader far
        above 1/(f + d) leverage cannot close).

    Raises
    ------
    ValueError
        If an argument is out of range or a trade would take the pool's whole reserve.

    Examples
    --------
    >>> round(float(trade_cost(0.0, 1.0, fee=0.003)), 12)  # exactly f from flat to 1x
    0.003
    >>> float(trade_cost(2.0, 2.0, fee=0.003))
    0.0
    """
    cur = finite("current", current)
    tgt = finite("target", target)
    f = float(in_range("fee", fee, 0.0, 0.1))
    d = float(nonnegative("depth", depth))
    cur, tgt = np.broadcast_arrays(cur, tgt)
    g = 1.0 - f
    if d * float(np.max(np.abs(tgt - cur), initial=0.0)) * 1.01 >= 1.0:
        raise ValueError(f"depth too large: a trade would take the pool's reserve, got {depth!r}")
    # start from the exact solution without impact (d = 0): buying, kappa = phi (a - l)/(1 + phi a)
    # with phi = f/g; selling, kappa = f (l - a)/(1 - f a); then the impact's small correction
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = f / g
        kappa = np.where(
            tgt > cur, phi * (tgt - cur) / (1.0 + phi * tgt), f * (cur - tgt) / (1.0 - f * tgt)
        )
    kappa = np.clip(np.nan_to_num(kappa, nan=1.0), 0.0, 1.0)
    if d == 0.0:
        return np.asarray(kappa, dtype=np.float64)
    for _ in range(_FIXED_POINT_ITERATIONS):  # Newton on F(kappa) = cost(Delta(kappa)) - kappa
        delta = tgt * (1.0 - kappa) - cur
        size = np.abs(delta)
        buy = delta > 0
        u = 1.0 - size * d
        v = 1.0 + g * size * d
        cost = np.where(buy, size * (1.0 / (g * u) - 1.0), size * (1.0 - g / v))
        slope = np.where(buy, 1.0 / (g * u * u) - 1.0, 1.0 - g / (v * v))
        dfdk = -slope * tgt * np.sign(delta) - 1.0
        new = np.clip(kappa - (cost - kappa) / dfdk, 0.0, 1.0)
        done = float(np.max(np.abs(new - kappa), initial=0.0)) <= 1e-14
        kappa = new
        if done:
            break
    return np.asarray(kappa, dtype=np.float64)


def _liquidation_ratio(a: FloatArray, m: float, rf_factor: float) -> FloatArray:
    """Gross return at which equity reaches m times the notional: > 0 for longs above 1x and for
    shorts, NaN where no liquidation is possible (0 <= a <= 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        long = rf_factor * (1.0 - 1.0 / a) / (1.0 - m)
        short = rf_factor * (1.0 + 1.0 / np.abs(a)) / (1.0 + m)
    return np.where(a > 1.0, long, np.where(a < 0.0, short, np.nan))


def liquidation_probability(
    leverage: npt.ArrayLike,
    mu: npt.ArrayLike,
    sigma: npt.ArrayLike,
    dt: float = HOURLY_DT,
    maintenance_rate: float = 0.005,
    risk_free: float = 0.0,
) -> FloatArray:
    r"""Probability that one step's log-normal return takes a position at leverage ``leverage``
    (of wealth, after the rebalance) to its maintenance margin (E8, checked at the step's end).

    :math:`\Phi(z)` for a long above 1x and :math:`1 - \Phi(z)` for a short, with
    :math:`z = (\ln R_\text{liq} - (\mu - \sigma^2/2)\Delta t)/(\sigma\sqrt{\Delta t})`,
    :math:`R_\text{liq} = R_f(1-1/a)/(1-m)` (long) or :math:`R_f(1+1/|a|)/(1+m)` (short); 0 for
    :math:`0 \le a \le 1`.

    Examples
    --------
    >>> from levpaper.leverage import liquidation_move
    >>> p = float(liquidation_probability(100.0, 0.0, 0.8))  # 100x long, one hour at 80%
    >>> z = (math.log(1 - liquidation_move(100, 0.005)) + 0.32 / 8760) / (0.8 / math.sqrt(8760))
    >>> bool(abs(p - stats.norm.cdf(z)) < 1e-12), round(p, 3)
    (True, 0.279)
    >>> float(liquidation_probability(1.0, 0.0, 0.8))
    0.0
    """
    a = finite("leverage", leverage)
    mu_ = finite("mu", mu)
    sig = positive("sigma", sigma)
    h = float(positive("dt", dt))
    m = float(in_range("maintenance_rate", maintenance_rate, 0.0, 0.5, low_closed=False,
                       high_closed=False))  # fmt: skip
    rf = math.exp(float(finite("risk_free", risk_free)) * h)
    ratio = _liquidation_ratio(a, m, rf)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (np.log(ratio) - (mu_ - 0.5 * sig * sig) * h) / (sig * math.sqrt(h))
    p = np.where(a > 1.0, special.ndtr(z), np.where(a < 0.0, special.ndtr(-z), 0.0))
    return np.asarray(np.nan_to_num(p, nan=0.0), dtype=np.float64)


def paper_leverage(sigma: npt.ArrayLike, kappa: float, dt: float, cap: float) -> FloatArray:
    r"""The paper's :math:`L^*` (E12) at the annualised volatility ``sigma``, clipped to
    :math:`[0, \text{cap}]`: :func:`levpaper.risk.vol_adjusted_leverage` (99% VaR), the one
    implementation.

    Examples
    --------
    >>> round(float(paper_leverage(0.8, 0.02, HOURLY_DT, 100.0)), 3)
    1.268
    """
    return vol_adjusted_leverage(sigma, kappa, dt, max_leverage=cap)


def _stationary(transition: FloatArray) -> FloatArray:
    k = transition.shape[0]
    a = np.vstack([transition.T - np.eye(k), np.ones((1, k))])
    b = np.zeros(k + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return np.asarray(pi / pi.sum(), dtype=np.float64)


ContinuousProcess = GBM | RegimeSwitchingGBM | GARCH11


@dataclass(frozen=True, eq=False)
class DecisionProblem:
    r"""The discretised decision problem of the module docstring.

    Build it from a price process with :meth:`from_gbm`, :meth:`from_regimes` or
    :meth:`from_garch`, or directly from per-state parameters.

    Parameters
    ----------
    mu, sigma : array_like, shape (K,)
        Annualised drift (finite) and volatility (> 0) of the step's return in each state.
    transition : array_like, shape (K, K)
        Per-step transition matrix of the states (rows sum to 1).
    dt : float, default :data:`levpaper.processes.HOURLY_DT`
        Step in years.
    leverage_grid : array_like, default :func:`leverage_grid` ``()`` (0 to 100x)
        The target leverages, sorted, distinct, with :math:`|a| < 1/m`; its largest magnitude is
        the cap. Must contain 0 (flat).
    fee : float, default 0.003
        Pool fee, in [0, 0.1].
    depth : float, default 4e-5
        Wealth over the pool's B reserve (the environment's 10,000 B against 2.5e8 B), >= 0.
    maintenance_rate : float, default 0.005
        :math:`m`, in (0, 0.5).
    liquidation_penalty_rate : float, default 0.0125
        Penalty :math:`p` on the notional at liquidation, in [0, 0.5).
    risk_free : float, default 0.0
        Annualised :math:`r_f` earned (or paid) on the B balance.
    wealth_floor : float, default 1e-6
        Smallest wealth kept at a liquidation, as a fraction of the wealth before it, in (0, 1)
        (the training module's floor on the final wealth).
    n_nodes : int, default 48
        Gauss-Legendre nodes for the survival part of each step's return, >= 2.
    process : GBM, RegimeSwitchingGBM or GARCH11, optional
        The continuous process the problem discretises (set by the constructors; used by
        :func:`simulate_policy` for the continuous model).
    garch_variances : array_like, optional
        Per-step variances of the states (set by :meth:`from_garch`).
    hold_beyond_cap : bool, default True
        Whether a position whose leverage has drifted beyond the grid's range (the cap) may be
        held, as in the environment, where the cap binds only increases; ``False`` makes the cap
        a hard constraint (every step ends the trade within the grid's range).

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.
    """

    mu: FloatArray
    sigma: FloatArray
    transition: FloatArray
    dt: float = HOURLY_DT
    leverage_grid: FloatArray = field(default_factory=lambda: leverage_grid())
    fee: float = 0.003
    depth: float = 4e-5
    maintenance_rate: float = 0.005
    liquidation_penalty_rate: float = 0.0125
    risk_free: float = 0.0
    wealth_floor: float = 1e-6
    n_nodes: int = 48
    process: ContinuousProcess | None = None
    garch_variances: FloatArray | None = None
    hold_beyond_cap: bool = True

    def __post_init__(self) -> None:
        mu = np.atleast_1d(finite("mu", self.mu)).astype(np.float64)
        sig = np.atleast_1d(positive("sigma", self.sigma)).astype(np.float64)
        if mu.ndim != 1 or sig.shape != mu.shape:
            raise ValueError(f"mu and sigma must have the same shape (K,), got {mu.shape}, "
                             f"{sig.shape}")  # fmt: skip
        k = mu.size
        t = np.atleast_2d(finite("transition", self.transition)).astype(np.float64)
        if t.shape != (k, k) or np.any(t < 0) or not np.allclose(t.sum(axis=1), 1.0, atol=1e-9):
            raise ValueError(f"transition must be a ({k}, {k}) stochastic matrix, got {t!r}")
        positive("dt", self.dt)
        in_range("fee", self.fee, 0.0, 0.1)
        nonnegative("depth", self.depth)
        m = float(in_range("maintenance_rate", self.maintenance_rate, 0.0, 0.5, low_closed=False,
                           high_closed=False))  # fmt: skip
        in_range("liquidation_penalty_rate", self.liquidation_penalty_rate, 0.0, 0.5,
                 high_closed=False)  # fmt: skip
        finite("risk_free", self.risk_free)
        in_range("wealth_floor", self.wealth_floor, 0.0, 1.0, low_closed=False, high_closed=False)
        positive_int("n_nodes", self.n_nodes)
        if self.n_nodes < 2:
            raise ValueError(f"n_nodes must be >= 2, got {self.n_nodes}")
        grid = np.asarray(finite("leverage_grid", self.leverage_grid), dtype=np.float64)
        if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0) or 0.0 not in grid:
            raise ValueError("leverage_grid must be a sorted 1-d array of distinct leverages "
                             f"containing 0, got {self.leverage_grid!r}")  # fmt: skip
        if not np.max(np.abs(grid)) < 1.0 / m:
            raise ValueError(f"leverage_grid must lie within (-1/m, 1/m) = +-{1.0 / m:g}, got "
                             f"{np.max(np.abs(grid))!r}")  # fmt: skip
        for name, value in (("mu", mu), ("sigma", sig), ("transition", t), ("leverage_grid", grid)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "dt", float(self.dt))

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def from_gbm(cls, process: GBM, **kwargs: object) -> DecisionProblem:
        """One state: the GBM's drift and volatility (keywords as for the class).

        Examples
        --------
        >>> DecisionProblem.from_gbm(GBM(mu=0.3, sigma=0.8)).transition
        array([[1.]])
        """
        if not isinstance(process, GBM):
            raise ValueError(f"process must be a GBM, got {process!r}")
        return cls(np.array([process.mu]), np.array([process.sigma]), np.ones((1, 1)),
                   process=process, **kwargs)  # type: ignore[arg-type]  # fmt: skip

    @classmethod
    def from_regimes(cls, process: RegimeSwitchingGBM, **kwargs: object) -> DecisionProblem:
        """Two states, the calm and turbulent regimes, with the process's step ``dt``.

        Examples
        --------
        >>> DecisionProblem.from_regimes(RegimeSwitchingGBM()).mu
        array([ 0.6, -0.4])
        """
        if not isinstance(process, RegimeSwitchingGBM):
            raise ValueError(f"process must be a RegimeSwitchingGBM, got {process!r}")
        return cls(process.mu, process.sigma, process.transition_matrix, dt=process.dt,
                   process=process, **kwargs)  # type: ignore[arg-type]  # fmt: skip

    @classmethod
    def from_garch(
        cls, process: GARCH11, n_buckets: int = 9, *, top: float = 4.0, **kwargs: object
    ) -> DecisionProblem:
        r"""States that are buckets of the GARCH(1,1) conditional variance :math:`h`.

        Bucket centres :math:`h_i` are geometric from just above the variance's floor
        :math:`\omega/(1-\beta)` to ``top`` times the unconditional variance; bucket edges are the
        geometric midpoints. From :math:`h_i`, :math:`h' = \omega + \beta h_i + \alpha h_i Z^2`,
        so the transition probabilities are differences of the :math:`\chi^2_1` distribution
        function, in closed form. Each state's return is normal with the process's drift and
        variance :math:`h_i` per step. The discretisation treats the step's return and the next
        bucket as independent (in the process a large :math:`|Z|` also raises :math:`h'`).

        Examples
        --------
        >>> p = DecisionProblem.from_garch(GARCH11(), n_buckets=5)
        >>> np.round(p.sigma, 2)
        array([0.33, 0.49, 0.73, 1.08, 1.6 ])
        >>> bool(np.allclose(p.transition.sum(axis=1), 1.0))
        True
        """
        if not isinstance(process, GARCH11):
            raise ValueError(f"process must be a GARCH11, got {process!r}")
        n = positive_int("n_buckets", n_buckets)
        if n < 2:
            raise ValueError(f"n_buckets must be >= 2, got {n_buckets}")
        hi = float(positive("top", top)) * process.unconditional_variance
        lo = process.omega / (1.0 - process.beta) * 1.02
        if not hi > lo:
            raise ValueError(f"top must put the highest bucket above the floor, got {top!r}")
        h = np.geomspace(lo, hi, n)
        edges = np.sqrt(h[:-1] * h[1:])
        base = process.omega + process.beta * h
        with np.errstate(divide="ignore"):
            x = (edges[None, :] - base[:, None]) / (process.alpha * h[:, None])
        cdf = stats.chi2.cdf(np.maximum(x, 0.0), df=1)
        cdf = np.concatenate([np.zeros((n, 1)), cdf, np.ones((n, 1))], axis=1)
        trans = np.diff(cdf, axis=1)
        sigma = np.sqrt(h / process.dt)
        return cls(np.full(n, process.mu), sigma, trans, dt=process.dt, process=process,
                   garch_variances=h, **kwargs)  # type: ignore[arg-type]  # fmt: skip

    @classmethod
    def from_config(
        cls,
        config: LeveragedSwapConfig,
        *,
        grid: FloatArray | None = None,
        n_buckets: int = 9,
        n_nodes: int = 48,
    ) -> DecisionProblem:
        r"""The decision problem of an environment configuration: the same market.

        Taken from ``config``: the price process (GBM, regime switching or GARCH, whose buckets
        are :meth:`from_garch`'s), ``dt``, the fee, the depth :math:`d = C_0/y_0` (capital over
        the pool's B reserve), the maintenance rate, the liquidation penalty, the leverage cap
        (``grid`` defaults to :func:`leverage_grid` ``(config.max_leverage)``), no interest, and
        the wealth floor :data:`levpaper.env.WEALTH_FLOOR` of the ``log_wealth`` reward. The
        problem's leverage is of wealth, the environment's of the account, so the whole capital
        must be margin (``initial_margin_fraction=1``), and nothing else may trade the pool.

        How the two still differ (exactly):

        * marks: the environment marks at the pool price, which arbitrage leaves at the edge of
          its no-arbitrage band :math:`[gP, P/g]` around the external price :math:`P`; the
          problem marks at :math:`P`. With ``fee=0`` the two coincide.
        * trade sizing: the environment's target leverage sizes the notional paid before costs,
          the problem's target is the leverage after them (:func:`trade_cost`); with ``fee=0``
          they differ by the impact only, :math:`O(d\Delta^2)`.
        * depth: held at :math:`C_0/y_0` in the problem; in the environment wealth moves while
          the pool's reserves stay near :math:`y_0`.
        * the floor: the environment floors wealth at :math:`\epsilon C_0`, the problem a
          liquidation's remainder at :math:`\epsilon` times the wealth before it; the
          environment also ends an episode below ``ruin_fraction`` of :math:`C_0`, which a
          position below the liquidation line cannot reach.
        * GARCH: the problem's state is the variance bucket and the return's law is that of the
          bucket's centre (:meth:`from_garch`).

        Raises
        ------
        ValueError
            If ``config`` is not a LeveragedSwapConfig, its process is not a GBM, a
            RegimeSwitchingGBM or a GARCH11, ``initial_margin_fraction`` is not 1, or it has
            noise traders, traders or an adversary.

        Examples
        --------
        >>> from levpaper.env import market_config
        >>> p = DecisionProblem.from_config(market_config("regimes", initial_margin_fraction=1.0))
        >>> p.depth, p.cap, p.fee
        (4e-05, 100.0, 0.003)
        """
        if not isinstance(config, LeveragedSwapConfig):
            raise ValueError(f"config must be a LeveragedSwapConfig, got {config!r}")
        if config.initial_margin_fraction != 1.0:
            raise ValueError(
                "initial_margin_fraction must be 1 (leverage of wealth = of the account), got "
                f"{config.initial_margin_fraction!r}"
            )
        if config.noise_traders is not None or config.traders or config.adversary is not None:
            raise ValueError("noise_traders, traders and adversary must be absent")
        kw: dict[str, object] = {
            "fee": config.fee,
            "depth": config.initial_capital / config.reserve_b,
            "maintenance_rate": config.maintenance_rate,
            "liquidation_penalty_rate": config.liquidation_penalty_rate,
            "risk_free": 0.0,
            "wealth_floor": WEALTH_FLOOR,
            "n_nodes": n_nodes,
            "leverage_grid": leverage_grid(config.max_leverage) if grid is None else grid,
        }
        proc = config.process
        if isinstance(proc, GBM):
            return cls.from_gbm(proc, dt=config.dt, **kw)
        if isinstance(proc, RegimeSwitchingGBM):
            return cls.from_regimes(proc, **kw)
        if isinstance(proc, GARCH11):
            return cls.from_garch(proc, n_buckets, **kw)  # type: ignore[arg-type]
        kind = type(proc).__name__
        raise ValueError(f"config.process must be a GBM, RegimeSwitchingGBM or GARCH11, got {kind}")

    # -- derived quantities ---------------------------------------------------------------------

    @property
    def n_states(self) -> int:
        """Number of market states :math:`K`."""
        return int(self.mu.size)

    @property
    def cap(self) -> float:
        """Largest leverage magnitude on the grid."""
        return float(np.max(np.abs(self.leverage_grid)))

    @property
    def stationary_distribution(self) -> FloatArray:
        """Stationary law of the market states (the start law of :func:`simulate_policy`)."""
        return _stationary(self.transition)

    @property
    def state_grid(self) -> FloatArray:
        """Leverages at which the value is tabulated.

        The action grid extended to :math:`\\pm 1/m` on each side it covers (survivors' leverage
        drifts up to :math:`1/m`).
        """
        m = self.maintenance_rate
        grid = self.leverage_grid
        parts = [grid]
        if grid[-1] > 1.0:
            parts.append(np.linspace(grid[-1], 1.0 / m, 25)[1:])
        else:
            parts.append(np.linspace(grid[-1], 1.0, 5)[1:])
        if grid[0] < 0.0:
            parts.append(-np.linspace(-grid[0], 1.0 / m, 25)[1:])
        return np.unique(np.concatenate(parts))

    def price_log_return_mean(self, n_steps: int, *, by_state: bool = True) -> FloatArray:
        r"""Exact mean of :attr:`PolicyEvaluation.price_log_return` over ``n_steps`` steps from
        the start law of :func:`simulate_policy` (the control variates' means).

        By state (shape (K,)): :math:`n\pi_k(\mu_k - \sigma_k^2/2)\Delta t` for GBM and regime
        switching from the stationary law. Summed (``by_state=False``, shape (1,)):
        :math:`E[\ln(P_n/P_0)]`, also for GARCH started at its unconditional variance
        :math:`\bar h` (where :math:`E[h_t]` stays), :math:`n(\mu\Delta t - \bar h/2)`.

        Raises
        ------
        ValueError
            If the problem has no process, ``n_steps`` < 1, or ``by_state`` for GARCH (its
            buckets' means have no closed form).

        Examples
        --------
        >>> p = DecisionProblem.from_gbm(GBM(mu=0.1, sigma=0.5))
        >>> np.round(p.price_log_return_mean(8760), 6)  # (mu - sigma^2/2) per year
        array([-0.025])
        """
        n = positive_int("n_steps", n_steps)
        proc = self.process
        if isinstance(proc, GARCH11):
            if by_state:
                raise ValueError("by_state must be False for GARCH (no closed form per bucket)")
            return np.array([n * (proc.mu * proc.dt - 0.5 * proc.unconditional_variance)])
        if not isinstance(proc, GBM | RegimeSwitchingGBM):
            raise ValueError("the problem has no process (build it from one)")
        per = n * self.stationary_distribution * (self.mu - 0.5 * self.sigma**2) * self.dt
        return np.asarray(per if by_state else per.sum(keepdims=True), dtype=np.float64)

    def liquidation_probabilities(self, leverage: FloatArray | None = None) -> FloatArray:
        """Per-step liquidation probability of every (state, leverage after the trade), shape
        (K, L), at ``leverage`` (default :attr:`state_grid`)."""
        lev = self.state_grid if leverage is None else np.asarray(leverage, dtype=np.float64)
        return liquidation_probability(
            lev[None, :], self.mu[:, None], self.sigma[:, None], self.dt,
            self.maintenance_rate, self.risk_free,
        )  # fmt: skip

    def residual_log(self, leverage: FloatArray | None = None) -> FloatArray:
        """ln of the wealth kept at a liquidation (fraction of the wealth before the step), per
        leverage after the trade (default :attr:`state_grid`), shape (L,)."""
        lev = self.state_grid if leverage is None else np.asarray(leverage, dtype=np.float64)
        return _residual_log_at(self, lev)

    def step_law(
        self, leverage: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The discretised law of one step from each leverage after the trade (default
        :attr:`state_grid`): ``(weights, growth, drifted)``, each of shape (K, L, n_nodes): the
        probability of each return node (summing to one minus the liquidation probability), the
        wealth factor :math:`R_f + a(R - R_f)` and the drifted leverage
        :math:`aR/(R_f + a(R - R_f))` at the node."""
        lev = self.state_grid if leverage is None else np.asarray(leverage, dtype=np.float64)
        x, w = np.polynomial.legendre.leggauss(self.n_nodes)
        a = lev[None, :, None]
        mu = self.mu[:, None, None]
        sig = self.sigma[:, None, None]
        h = self.dt
        rf = math.exp(self.risk_free * h)
        nu = (mu - 0.5 * sig * sig) * h
        ratio = _liquidation_ratio(lev, self.maintenance_rate, rf)[None, :, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            zb = (np.log(ratio) - nu) / (sig * math.sqrt(h))
        zb = np.clip(np.nan_to_num(zb, nan=0.0), -_Z_MAX, _Z_MAX)
        lo = np.where(a > 1.0, zb, -_Z_MAX) + 0.0 * sig
        hi = np.where(a < 0.0, zb, _Z_MAX) + 0.0 * sig
        half = 0.5 * (hi - lo)
        z = lo + half * (x + 1.0)
        raw = half * w * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        survive = 1.0 - self.liquidation_probabilities(lev)[:, :, None]
        total = raw.sum(axis=2, keepdims=True)
        weights = np.where(total > 0, raw * survive / np.where(total > 0, total, 1.0), 0.0)
        big_r = np.exp(nu + sig * math.sqrt(h) * z)
        growth = rf + a * (big_r - rf)
        growth = np.where(weights > 0, growth, 1.0)
        drifted = a * big_r / growth
        return weights, growth, drifted


def _bracket(grid: FloatArray, x: FloatArray) -> tuple[IntArray, FloatArray]:
    """Left neighbour index on the sorted ``grid`` and the linear weight of the right one."""
    idx = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)
    lam = np.clip((x - grid[idx]) / (grid[idx + 1] - grid[idx]), 0.0, 1.0)
    return np.asarray(idx, dtype=np.intp), np.asarray(lam, dtype=np.float64)


class _Bellman:
    r"""The pieces of the Bellman operator that do not depend on the value function.

    The continuation :math:`G(s, x)` is tabulated at every leverage :math:`x` of the state grid
    (after the trade); the actions are a trade to a grid target :math:`a` (cost
    :math:`\ln(1-\kappa(\ell, a))`, then :math:`G(s, a)`) or holding (no cost,
    :math:`G(s, \ell)`), the no-trade region a fee makes optimal."""

    def __init__(self, problem: DecisionProblem) -> None:
        self.problem = problem
        grid = problem.leverage_grid
        states = problem.state_grid
        self.states = states
        self.action_idx = np.searchsorted(states, grid)  # the grid is part of the state grid
        self.cost_log = _cost_log(problem, states[:, None], grid[None, :])  # (S, A)
        weights, growth, drifted = problem.step_law(states)
        self.weights = weights
        self.reward = (weights * np.log(growth)).sum(axis=2) + (
            problem.liquidation_probabilities(states) * problem.residual_log(states)[None, :]
        )  # (K, S): expected log growth of the step
        self.idx, self.lam = _bracket(states, drifted)

    def continuation(self, value: FloatArray, gamma: float) -> FloatArray:
        """:math:`G(s, x)` for the next-step value ``value`` (K, S), shape (K, S)."""
        nxt = self.problem.transition @ value  # (K, S): E[V(s', .) | s]
        k = np.arange(nxt.shape[0])[:, None, None]
        interp = (1.0 - self.lam) * nxt[k, self.idx] + self.lam * nxt[k, self.idx + 1]
        return np.asarray(self.reward + gamma * (self.weights * interp).sum(axis=2))

    def maximise(self, cont: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Value (K, S) and the optimal target leverage (K, S) for the continuation ``cont``
        (K, S); holding wins ties."""
        q = self.cost_log[None, :, :] + cont[:, self.action_idx][:, None, :]
        best = np.argmax(q, axis=2)
        trade = np.take_along_axis(q, best[..., None], axis=2)[..., 0]
        hold = cont >= trade
        if not self.problem.hold_beyond_cap:
            grid = self.problem.leverage_grid
            hold &= ((self.states >= grid[0]) & (self.states <= grid[-1]))[None, :]
        value = np.where(hold, cont, trade)
        target = np.where(hold, self.states[None, :], self.problem.leverage_grid[best])
        return value, target


@dataclass(frozen=True, eq=False)
class OracleSolution:
    """What :func:`solve_finite_horizon` and :func:`solve_discounted` return.

    Attributes
    ----------
    problem : DecisionProblem
    values : ndarray, shape (K, S)
        Optimal value (expected log growth to the horizon, or discounted) at the start, per
        market state and leverage of ``state_grid``.
    continuation : ndarray, shape (T, K, S)
        :math:`G_t(s, x)` per step at every leverage :math:`x` of ``state_grid`` after the
        trade (one step, ``T = 1``, for the discounted problem).
    policy : ndarray, shape (T, K, S)
        The optimal target leverage per step, state and current leverage (the policy table).
    state_grid : ndarray, shape (S,)
    horizon : int or None
        Steps of the finite-horizon problem; ``None`` for the discounted one.
    gamma : float
        Discount (1 for the finite horizon).
    iterations : int
        Backward steps or value iterations done.
    residual : float
        Sup-norm change of the value in the last iteration (0 for the finite horizon: exact).
    converged : bool
        Whether the residual reached the tolerance (always for the finite horizon).
    """

    problem: DecisionProblem
    values: FloatArray
    continuation: FloatArray
    policy: FloatArray
    state_grid: FloatArray
    horizon: int | None
    gamma: float
    iterations: int
    residual: float
    converged: bool

    def value(self, regime: int, leverage: float = 0.0) -> float:
        """Optimal value from market state ``regime`` at leverage ``leverage`` (interpolated)."""
        return float(np.interp(leverage, self.state_grid, self.values[int(regime)]))

    @property
    def start_value(self) -> float:
        """Value from flat, averaged over the stationary law of the market states."""
        pi = self.problem.stationary_distribution
        return float(sum(pi[s] * self.value(s, 0.0) for s in range(pi.size)))

    @property
    def growth_per_year(self) -> float:
        r"""Certainty-equivalent growth per year of the optimal policy from flat (stationary
        start): :math:`V/(T\Delta t)`, or :math:`(1-\gamma)V/\Delta t` when discounted."""
        dt = self.problem.dt
        if self.horizon is not None:
            return self.start_value / (self.horizon * dt)
        return (1.0 - self.gamma) * self.start_value / dt

    def target(self, regime: int, leverage: float, step: int = 0) -> float:
        """The oracle's target leverage at ``(regime, leverage)`` and step ``step``."""
        pol = OraclePolicy(self)
        state = MarketState(
            step, np.array([int(regime)]), self.problem.sigma[[int(regime)]],
            np.array([float(leverage)]),
        )  # fmt: skip
        return float(pol(state)[0])


def solve_finite_horizon(problem: DecisionProblem, horizon: int) -> OracleSolution:
    """Backward induction over ``horizon`` steps (exact for the discretised problem).

    Parameters
    ----------
    problem : DecisionProblem
    horizon : int
        :math:`T \\ge 1` steps.

    Returns
    -------
    OracleSolution
        ``values`` at step 0; ``continuation`` and ``policy`` for every step.

    Raises
    ------
    ValueError
        If ``problem`` is not a DecisionProblem or ``horizon`` < 1.
    """
    if not isinstance(problem, DecisionProblem):
        raise ValueError(f"problem must be a DecisionProblem, got {problem!r}")
    t_max = positive_int("horizon", horizon)
    bell = _Bellman(problem)
    k, s = problem.n_states, bell.states.size
    value = np.zeros((k, s))
    conts = np.empty((t_max, k, s))
    policy = np.empty((t_max, k, s))
    for t in range(t_max - 1, -1, -1):
        conts[t] = bell.continuation(value, 1.0)
        value, policy[t] = bell.maximise(conts[t])
    return OracleSolution(problem, value, conts, policy, bell.states, t_max, 1.0, t_max, 0.0, True)


def solve_discounted(
    problem: DecisionProblem,
    gamma: float,
    *,
    tol: float = 1e-10,
    max_iterations: int = 1_000_000,
) -> OracleSolution:
    r"""Value iteration for the infinite-horizon discounted problem.

    Iterates :math:`V_{k+1} = \max_a[\ln(1-\kappa) + G_{V_k}]` from :math:`V_0 = 0` until the
    sup-norm change :math:`\|V_{k+1} - V_k\|_\infty \le` ``tol``; then
    :math:`\|V_{k+1} - V^*\|_\infty \le \gamma\,\text{tol}/(1-\gamma)` (the operator is a
    :math:`\gamma`-contraction).

    Parameters
    ----------
    problem : DecisionProblem
    gamma : float
        Discount per step, in (0, 1).
    tol : float, default 1e-10
        Stopping tolerance on the sup-norm residual, > 0.
    max_iterations : int, default 1_000_000
        Give up after this many iterations (``converged`` is then False), >= 1.

    Returns
    -------
    OracleSolution

    Raises
    ------
    ValueError
        Naming the bad argument.

    Examples
    --------
    >>> p = DecisionProblem.from_gbm(GBM(mu=0.6, sigma=0.5), fee=0.0, depth=0.0,
    ...                              leverage_grid=leverage_grid(5.0, 0.1))
    >>> sol = solve_discounted(p, gamma=0.99, tol=1e-12)
    >>> sol.converged, sol.residual <= 1e-12, round(sol.growth_per_year, 4)
    (True, True, 0.72)
    """
    if not isinstance(problem, DecisionProblem):
        raise ValueError(f"problem must be a DecisionProblem, got {problem!r}")
    g = float(in_range("gamma", gamma, 0.0, 1.0, low_closed=False, high_closed=False))
    eps = float(positive("tol", tol))
    n_max = positive_int("max_iterations", max_iterations)
    bell = _Bellman(problem)
    value = np.zeros((problem.n_states, bell.states.size))
    residual = math.inf
    it = 0
    cont = bell.continuation(value, g)
    target = np.zeros(value.shape)
    while it < n_max:
        cont = bell.continuation(value, g)
        new, target = bell.maximise(cont)
        residual = float(np.max(np.abs(new - value)))
        value = new
        it += 1
        if residual <= eps:
            break
    policy = target[None]
    return OracleSolution(problem, value, cont[None], policy, bell.states, None, g, it, residual,
                          residual <= eps)  # fmt: skip


# -- policies and the Monte Carlo evaluator -------------------------------------------------------


class MarketState(NamedTuple):
    """What a :class:`StatePolicy` sees before a step (arrays of shape ``(n,)``).

    Attributes
    ----------
    step : int
        Steps taken so far.
    regime : ndarray of int
        Market state index (regime, or GARCH bucket nearest to the conditional variance).
    sigma : ndarray
        Annualised volatility of the coming step (the state's, or GARCH's :math:`\\sqrt{h_t/\\Delta
        t}`).
    leverage : ndarray
        Current leverage of wealth.
    """

    step: int
    regime: IntArray
    sigma: FloatArray
    leverage: FloatArray


class StatePolicy(Protocol):
    """A policy of the decision problem: target leverages for a batch of :class:`MarketState`."""

    def __call__(self, state: MarketState) -> FloatArray: ...


def _band(target: FloatArray, current: FloatArray, band: float) -> FloatArray:
    """Hold the current leverage when the target is inside the no-trade band (as
    :func:`levpaper.agents.box_action`)."""
    if band <= 0.0:
        return target
    hold = np.abs(target - current) <= band * np.maximum(np.abs(target), np.abs(current))
    return np.where(hold, current, target)


@dataclass(frozen=True)
class ConstantLeverage:
    """Target a constant leverage of wealth, with the no-trade band ``band`` in [0, 1).

    Examples
    --------
    >>> st = MarketState(0, np.array([0, 0]), np.array([0.8, 0.8]), np.array([0.0, 1.95]))
    >>> ConstantLeverage(2.0, band=0.1)(st)
    array([2.  , 1.95])
    """

    leverage: float
    band: float = 0.0

    def __post_init__(self) -> None:
        finite("leverage", self.leverage)
        in_range("band", self.band, 0.0, 1.0, high_closed=False)

    def __call__(self, state: MarketState) -> FloatArray:
        """Targets for ``state``."""
        target = np.full(state.leverage.shape, float(self.leverage))
        return _band(target, state.leverage, self.band)


@dataclass(frozen=True)
class KellyRule:
    r"""The time-varying Kelly rule :math:`(\mu_s - r_f)/\sigma_t^2`, clipped to
    ``[floor, cap]`` (``floor`` 0: long only), with a no-trade band.

    Parameters
    ----------
    mu : array_like
        Annualised drift per market state (a scalar for one drift in every state).
    cap : float
        Largest leverage, > 0.
    risk_free : float, default 0.0
    floor : float, default 0.0
        Smallest leverage (``-cap`` allows shorts), <= 0.
    band : float, default 0.0

    Examples
    --------
    >>> st = MarketState(0, np.array([0, 1]), np.array([0.5, 1.5]), np.zeros(2))
    >>> KellyRule([0.6, -0.4], cap=2.0)(st)
    array([2., 0.])
    """

    mu: npt.ArrayLike
    cap: float
    risk_free: float = 0.0
    floor: float = 0.0
    band: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", np.atleast_1d(finite("mu", self.mu)))
        positive("cap", self.cap)
        finite("risk_free", self.risk_free)
        in_range("floor", self.floor, -math.inf, 0.0)
        in_range("band", self.band, 0.0, 1.0, high_closed=False)

    def __call__(self, state: MarketState) -> FloatArray:
        """Targets for ``state``."""
        mu = np.asarray(self.mu)
        drift = mu[state.regime] if mu.size > 1 else np.full(state.regime.shape, mu[0])
        target = np.clip((drift - self.risk_free) / state.sigma**2, self.floor, self.cap)
        return _band(target, state.leverage, self.band)


@dataclass(frozen=True)
class PaperRule:
    """The paper's :math:`L^*` (E12, :func:`paper_leverage`) at the step's volatility.

    Examples
    --------
    >>> st = MarketState(0, np.array([0]), np.array([0.8]), np.zeros(1))
    >>> np.round(PaperRule(kappa=0.02, dt=HOURLY_DT, cap=100.0)(st), 3)
    array([1.268])
    """

    kappa: float = 0.02
    dt: float = HOURLY_DT
    cap: float = 100.0
    band: float = 0.0

    def __post_init__(self) -> None:
        positive("kappa", self.kappa)
        positive("dt", self.dt)
        positive("cap", self.cap)
        in_range("band", self.band, 0.0, 1.0, high_closed=False)

    def __call__(self, state: MarketState) -> FloatArray:
        """Targets for ``state``."""
        target = paper_leverage(state.sigma, self.kappa, self.dt, self.cap)
        return _band(target, state.leverage, self.band)


class OraclePolicy:
    """The optimal policy of an :class:`OracleSolution`, greedy at the actual leverage
    :math:`\\ell`: hold (target :math:`\\ell`, value :math:`G_t(s, \\ell)` interpolated) or trade
    to :math:`\\arg\\max_a [\\ln(1 - \\kappa(\\ell, a)) + G_t(s, a)]`, whichever is larger (module
    docstring). For the discounted solution the same :math:`G` serves every step; for the
    finite-horizon one, ``state.step`` must be below the horizon."""

    def __init__(self, solution: OracleSolution) -> None:
        if not isinstance(solution, OracleSolution):
            raise ValueError(f"solution must be an OracleSolution, got {solution!r}")
        self.solution = solution

    def __call__(self, state: MarketState) -> FloatArray:
        """Targets for ``state``."""
        sol = self.solution
        p = sol.problem
        if sol.horizon is None:
            cont = sol.continuation[0]
        elif 0 <= state.step < sol.horizon:
            cont = sol.continuation[state.step]
        else:
            raise ValueError(f"step must lie in [0, {sol.horizon}), got {state.step!r}")
        grid = p.leverage_grid
        states = sol.state_grid
        lev = np.asarray(state.leverage, dtype=np.float64)
        rows = cont[state.regime]  # (n, S)
        cost = _cost_log(p, lev[:, None], grid[None, :])
        q = cost + rows[:, np.searchsorted(states, grid)]
        best = np.argmax(q, axis=1)
        trade = q[np.arange(lev.size), best]
        idx, lam = _bracket(states, np.clip(lev, states[0], states[-1]))
        n = np.arange(lev.size)
        hold = (1.0 - lam) * rows[n, idx] + lam * rows[n, idx + 1]
        lo, hi = (states[0], states[-1]) if p.hold_beyond_cap else (grid[0], grid[-1])
        inside = (lev >= lo) & (lev <= hi)
        keep = inside & (hold >= trade)
        return np.asarray(np.where(keep, lev, grid[best]), dtype=np.float64)


class PolicyEvaluation(NamedTuple):
    """What :func:`simulate_policy` returns.

    Attributes
    ----------
    mean : float
        Mean log growth :math:`E[\\ln W_T/W_0]` over the paths.
    se : float
        Its Monte Carlo standard error, :math:`s/\\sqrt n`.
    growth_per_year : float
        The mean per year, divided by :math:`T\\Delta t`.
    se_per_year : float
        Its standard error per year.
    liquidation_rate : float
        Share of paths liquidated.
    log_growth : ndarray, shape (n_paths,)
        Per-path log growth (for paired comparisons on common random numbers).
    price_log_return : ndarray, shape (n_paths, K)
        Per path and market state :math:`k`, the log return of the (external) price over the
        path's steps in state :math:`k` (for GARCH, in bucket :math:`k`): over the whole horizon
        in :func:`simulate_policy`, until the episode's end in :func:`simulate_in_env` (the whole
        horizon when no episode ends early); control variates of known means
        (:meth:`DecisionProblem.price_log_return_mean`); NaN in the discretised model, whose
        return nodes depend on the action.
    """

    mean: float
    se: float
    growth_per_year: float
    se_per_year: float
    liquidation_rate: float
    log_growth: FloatArray
    price_log_return: FloatArray


def simulate_policy(
    problem: DecisionProblem,
    policy: StatePolicy,
    n_paths: int,
    n_steps: int,
    rng: np.random.Generator,
    *,
    continuous: bool = False,
    regime0: int | None = None,
) -> PolicyEvaluation:
    """Monte Carlo of ``policy`` from flat over ``n_steps`` steps.

    Discretised model (``continuous=False``): the DP's own chain, whose expected log growth is
    the DP's value. The leverage lives on :attr:`DecisionProblem.state_grid`; the market state
    follows ``problem.transition``; a target equal to the current leverage holds (no trade), any
    other is clipped to the action grid's range and snapped to the nearest grid leverage; the
    rebalance costs :func:`trade_cost`; then the position is liquidated with the closed-form
    probability or moves to one of the quadrature nodes with its weight, and the drifted leverage
    is rounded at random to one of its two neighbours on the state grid with the weights of the
    DP's linear interpolation. Continuous model: the same costs and liquidation rule on exact
    normal log returns of ``problem.process``; targets are clipped to the grid's range (holding
    above it is allowed, as in the environment) and not snapped; for a GARCH process the
    conditional variance follows its recursion and the policy sees the nearest bucket
    (``regime``) and the true volatility (``sigma``).

    Per step, the random numbers are one uniform per path for the regime switch, then one normal
    per path for the return (continuous), or two uniforms, for the return node and the rounding
    (discretised), so policies evaluated with the same seed share their market paths (common
    random numbers) until their liquidations.

    Parameters
    ----------
    problem : DecisionProblem
    policy : StatePolicy
    n_paths, n_steps : int
        Paths (>= 2) and steps (>= 1).
    rng : numpy.random.Generator
    continuous : bool, default False
    regime0 : int, optional
        Start state; default drawn from the stationary law (for GARCH, continuous: the
        unconditional variance).

    Returns
    -------
    PolicyEvaluation

    Raises
    ------
    ValueError
        Naming the bad argument (``continuous=True`` needs ``problem.process``).

    Examples
    --------
    >>> p = DecisionProblem.from_gbm(GBM(mu=0.6, sigma=0.5), fee=0.0, depth=0.0)
    >>> ev = simulate_policy(p, ConstantLeverage(1.0), 1000, 24, np.random.default_rng(0))
    >>> abs(ev.growth_per_year - 0.475) < 3 * ev.se_per_year
    True
    """
    if not isinstance(problem, DecisionProblem):
        raise ValueError(f"problem must be a DecisionProblem, got {problem!r}")
    if not callable(policy):
        raise ValueError(f"policy must be callable on a MarketState, got {policy!r}")
    n = positive_int("n_paths", n_paths)
    if n < 2:
        raise ValueError(f"n_paths must be >= 2, got {n_paths}")
    t_max = positive_int("n_steps", n_steps)
    k = problem.n_states
    if regime0 is not None and not 0 <= int(regime0) < k:
        raise ValueError(f"regime0 must lie in [0, {k}), got {regime0!r}")
    proc = problem.process
    if continuous and proc is None:
        raise ValueError("continuous=True needs problem.process (build the problem from one)")
    grid = problem.leverage_grid
    states = problem.state_grid
    m = problem.maintenance_rate
    dt = problem.dt
    rf = math.exp(problem.risk_free * dt)
    weights, growth_nodes, drifted_nodes = problem.step_law(states)
    p_liq = problem.liquidation_probabilities(states)
    # per (state, leverage after the trade): cumulative law over [liquidation, node 0, ...]
    law = np.concatenate([p_liq[..., None], weights], axis=2)
    cum = np.cumsum(law, axis=2)
    cum[..., -1] = np.inf
    resid = problem.residual_log(states)
    cum_t = np.cumsum(problem.transition, axis=1)
    cum_t[:, -1] = np.inf
    regime = np.empty(n, dtype=np.intp)
    if regime0 is None:
        u = rng.random(n)
        regime[:] = np.searchsorted(np.cumsum(problem.stationary_distribution)[:-1], u, "right")
    else:
        regime[:] = int(regime0)
    garch = continuous and isinstance(proc, GARCH11)
    h = np.empty(n)
    if garch:
        assert isinstance(proc, GARCH11)
        h[:] = proc.unconditional_variance if regime0 is None else problem.sigma[regime] ** 2 * dt
        if problem.garch_variances is not None:
            regime = _nearest_bucket(problem.garch_variances, h)
    flat = int(np.searchsorted(states, 0.0))
    x_idx = np.full(n, flat, dtype=np.intp)  # discretised: the leverage's state-grid index
    lev = np.zeros(n)
    logw = np.zeros(n)
    logp = np.zeros((n, k))
    rows = np.arange(n)
    alive = np.ones(n, dtype=np.bool_)
    liquidated = np.zeros(n, dtype=np.bool_)
    for t in range(t_max):
        sigma = np.sqrt(h / dt) if garch else problem.sigma[regime]
        target = np.asarray(policy(MarketState(t, regime.copy(), sigma, lev.copy())), dtype=float)
        if target.shape != (n,) or not np.all(np.isfinite(target)):
            raise ValueError(f"policy must return {n} finite target leverages")
        hold = target == lev
        if not problem.hold_beyond_cap:
            hold &= (lev >= grid[0]) & (lev <= grid[-1])
        clipped = np.clip(target, grid[0], grid[-1])
        if continuous:
            target = np.where(hold, lev, clipped)
        else:
            pos = np.clip(np.searchsorted(grid, clipped), 1, grid.size - 1)
            pick = np.where(clipped - grid[pos - 1] <= grid[pos] - clipped, pos - 1, pos)
            a_x = np.where(hold, x_idx, np.searchsorted(states, grid[pick]))
            target = states[a_x]
        step_log = _cost_log(problem, lev, target)
        u_regime = rng.random(n)
        if continuous:
            z = rng.standard_normal(n)
            mu_s = np.full(n, proc.mu) if garch else problem.mu[regime]  # type: ignore[union-attr]
            var = h if garch else sigma**2 * dt
            big_r = np.exp((mu_s * dt - 0.5 * var) + np.sqrt(var) * z)
            ratio = _liquidation_ratio(target, m, rf)
            liq = np.where(target > 1.0, big_r <= ratio, np.where(target < 0.0, big_r >= ratio,
                                                                   False))  # fmt: skip
            gross = rf + target * (big_r - rf)
            res = _residual_log_at(problem, target)
            if garch:
                assert isinstance(proc, GARCH11)
                h = proc.omega + proc.alpha * var * z * z + proc.beta * h
        else:
            u = rng.random(n)
            u_round = rng.random(n)
            j = (cum[regime, a_x] <= u[:, None]).sum(axis=1)
            liq = j == 0
            node = np.maximum(j - 1, 0)
            gross = np.where(liq, 1.0, growth_nodes[regime, a_x, node])
            res = resid[a_x]
            left, lam = _bracket(states, drifted_nodes[regime, a_x, node])
            x_idx = np.where(liq, flat, left + (u_round < lam))
        liq_now = alive & liq
        safe = np.where(liq, 1.0, gross)
        step_log = step_log + np.where(liq, res, np.log(np.maximum(safe, 1e-300)))
        logw = np.where(alive, logw + step_log, logw)
        if continuous:  # the price goes on after a liquidation: the control covers every step
            logp[rows, regime] += np.log(big_r)
        liquidated |= liq_now
        alive &= ~liq
        if continuous:
            lev = np.where(alive, target * big_r / safe, 0.0)
        else:
            lev = np.where(alive, states[x_idx], 0.0)
        if garch:
            assert problem.garch_variances is not None
            regime = _nearest_bucket(problem.garch_variances, h)
        else:
            regime = (cum_t[regime] <= u_regime[:, None]).sum(axis=1).astype(np.intp)
    scale = 1.0 / (t_max * dt)
    mean = float(logw.mean())
    se = float(logw.std(ddof=1) / math.sqrt(n))
    if not continuous:  # the nodes depend on the action: no price path of its own
        logp[:] = np.nan
    return PolicyEvaluation(
        mean, se, mean * scale, se * scale, float(liquidated.mean()), logw, logp
    )


def simulate_in_env(
    config: LeveragedSwapConfig,
    policy: StatePolicy,
    n_episodes: int,
    seed: int,
    *,
    problem: DecisionProblem | None = None,
) -> PolicyEvaluation:
    r"""Run ``policy`` in the vector environment: one episode of ``config.horizon`` steps from a
    fresh seed in each of ``n_episodes`` copies (copy ``i`` seeded ``seed + i``).

    Each step the policy sees the copy's step, its market state (``info["regime"]`` for regime
    switching; for GARCH the bucket of the conditional variance, which the wrapper rebuilds
    exactly from the external price's returns and the stream's start at the unconditional
    variance), that state's volatility (GARCH: the true :math:`\sqrt{h_t/\Delta t}`) and the
    account's leverage; its target becomes the box action ``(target / cap, 0)``, clipped to
    [-1, 1]. The reward is forced to ``"log_wealth"``, box actions; a copy's log growth is the sum
    of its rewards until its episode ends (liquidation or the horizon).

    Parameters
    ----------
    config : LeveragedSwapConfig
        The market; see :meth:`DecisionProblem.from_config` for what it must satisfy.
    policy : StatePolicy
    n_episodes : int
        Copies (>= 2), one episode each.
    seed : int
    problem : DecisionProblem, optional
        The problem whose states the policy reads (default ``from_config(config)``).

    Returns
    -------
    PolicyEvaluation

    Raises
    ------
    ValueError
        Naming the bad argument.

    Examples
    --------
    >>> from levpaper.env import market_config
    >>> cfg = market_config("regimes", initial_margin_fraction=1.0, horizon=24, max_leverage=5.0)
    >>> ev = simulate_in_env(cfg, ConstantLeverage(0.0), 4, seed=0)
    >>> ev.mean, ev.liquidation_rate
    (0.0, 0.0)
    """
    from levpaper.vector_env import LeveragedSwapVectorEnv

    prob = DecisionProblem.from_config(config) if problem is None else problem
    if not isinstance(prob, DecisionProblem):
        raise ValueError(f"problem must be a DecisionProblem, got {problem!r}")
    if not callable(policy):
        raise ValueError(f"policy must be callable on a MarketState, got {policy!r}")
    n = positive_int("n_episodes", n_episodes)
    if n < 2:
        raise ValueError(f"n_episodes must be >= 2, got {n_episodes}")
    cfg = dataclasses.replace(config, reward="log_wealth", action_mode="box")
    envs = LeveragedSwapVectorEnv(n, cfg)
    _, info = envs.reset(seed=int(seed))
    proc = cfg.process
    garch = isinstance(proc, GARCH11)
    h = np.full(n, proc.unconditional_variance if isinstance(proc, GARCH11) else 0.0)
    dt = cfg.dt
    cap = float(cfg.max_leverage)
    logw = np.zeros(n)
    logp = np.zeros((n, prob.n_states))
    rows = np.arange(n)
    alive = np.ones(n, dtype=np.bool_)
    liquidated = np.zeros(n, dtype=np.bool_)
    pext = info["external_price"].copy()
    for t in range(cfg.horizon):
        if garch:
            assert prob.garch_variances is not None
            regime = _nearest_bucket(prob.garch_variances, h)
            sigma = np.sqrt(h / dt)
        else:
            regime = np.asarray(info.get("regime", np.zeros(n)), dtype=np.intp)
            sigma = prob.sigma[regime]
        lev = np.where(alive, info["leverage"], 0.0)
        target = np.asarray(policy(MarketState(t, regime, sigma, lev)), dtype=np.float64)
        action = np.column_stack([np.clip(target / cap, -1.0, 1.0), np.zeros(n)])
        _, reward, term, trunc, info = envs.step(action)
        logw += np.where(alive, reward, 0.0)
        liquidated |= alive & info["liquidated"]
        r = np.log(info["external_price"] / pext)
        logp[rows, regime] += np.where(alive, r, 0.0)
        if garch:
            assert isinstance(proc, GARCH11)
            e = r - proc.mu * dt + 0.5 * h
            h = (proc.omega + proc.alpha * (e * e)) + proc.beta * h
        pext = info["external_price"].copy()
        alive &= ~(term | trunc)
        if not alive.any():
            break
    scale = 1.0 / (cfg.horizon * dt)
    mean = float(logw.mean())
    se = float(logw.std(ddof=1) / math.sqrt(n))
    return PolicyEvaluation(
        mean, se, mean * scale, se * scale, float(liquidated.mean()), logw, logp
    )


def _cost_log(problem: DecisionProblem, current: FloatArray, target: FloatArray) -> FloatArray:
    r""":math:`\ln(1 - \kappa)`, floored at ``ln(wealth_floor)`` (costs that take everything)."""
    kappa = trade_cost(current, target, problem.fee, problem.depth)
    return np.asarray(np.log(np.maximum(1.0 - kappa, problem.wealth_floor)), dtype=np.float64)


def _nearest_bucket(centres: FloatArray, h: FloatArray) -> IntArray:
    """Index of the GARCH bucket whose centre is nearest to ``h`` in log space."""
    edges = np.sqrt(centres[:-1] * centres[1:])
    return np.asarray(np.searchsorted(edges, h), dtype=np.intp)


def _residual_log_at(problem: DecisionProblem, target: FloatArray) -> FloatArray:
    """ln of the wealth kept at a liquidation of a position at leverage ``target``: the equity
    at the maintenance margin less the penalty and the closing fee (no impact), floored."""
    m = problem.maintenance_rate
    rf = math.exp(problem.risk_free * problem.dt)
    ratio = np.nan_to_num(_liquidation_ratio(target, m, rf), nan=1.0)
    notional = np.abs(target) * ratio
    close = trade_cost(np.sign(target) * notional, 0.0 * target, problem.fee, 0.0)
    kept = (m - problem.liquidation_penalty_rate) * notional - close
    return np.asarray(np.log(np.maximum(kept, problem.wealth_floor)), dtype=np.float64)

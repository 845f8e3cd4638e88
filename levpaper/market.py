r"""The multi-agent market of sections 4.3, 5, 6 and 7: cascades, risk controls, stress tests.

Hundreds to thousands of leveraged traders (isolated-margin positions, heterogeneous leverage,
side and margin, rule-based or trained policies) trade against one or several constant-product
pools of a risky token :math:`A_j` against the numeraire B, as in the book's margin engine
(:mod:`levpaper.margin`, ledger rows E7 and E8 in ``book/ledger.toml``, whose conventions are kept
exactly):
:math:`C = N/L` at open, maintenance :math:`m` on the current notional, liquidation when
:math:`E < m q P_\text{mark}`, worst margin ratio first, closed through the pool, a penalty
:math:`\rho` of the notional closed to the insurance fund (capped at the equity left), a shortfall
paid by the fund and, when it is empty, recorded as bad debt. Arbitrageurs bring every pool to
its external price with the fee-aware closed form ``levpaper.kernel.arbitrage`` (rule
``"optimal"`` of :func:`levpaper.pool.arbitrage_trade`).

**Order of events in step** :math:`t = 1, \dots, T` (the external paths are generated up front
from a seeded generator, so every arm of a comparison sees the same paths and traders). The venue
mechanics of :class:`MarketConfig` (all off by default; :meth:`MarketConfig.venue` turns on the
venue's) act where the items in italics say:

1. *Scenario*: a liquidity withdrawal removes a fraction of every pool's reserves (LPs burn
   their shares pro rata; the price is unchanged).

   *Finer liquidation clock* (``monitor_substeps`` :math:`k > 1`, ``barrier_bridge``): the
   external prices inside the step (:func:`monitor_points`: the Brownian bridge from
   :math:`p_{t-1}` to :math:`p_t` at :math:`k - 1` interior times and, with the bridge test,
   each interval's minimum and maximum, :func:`bridge_extremes`; a crash jump comes after them,
   at the end of the step) are visited in time order: at each the arbitrageurs trade the pools
   to it and, unless a pause covers step :math:`t`, the liquidation cascade of item 6 runs at
   the mark (the maintenance rate in force from step :math:`t - 1`). These draws come from the
   run's generator after the population and the paths.
2. *External price* :math:`p_t` and *arbitrage*: arbitrageurs trade each pool to :math:`p_t`.
3. *Volatility and controls*: the pool's log return :math:`r_t` (post-arbitrage spot against the
   previous step's) updates the EWMA variance
   :math:`\hat\sigma_t^2 = \lambda\hat\sigma_{t-1}^2 + (1-\lambda) r_t^2` (annualised with
   ``dt``; :func:`levpaper.risk.ewma_volatility`). The circuit breaker (E19) triggers when
   :math:`\hat\sigma_t > \theta\,\mathrm{EMA}_{t-1}` with
   :math:`\mathrm{EMA}_t = a\hat\sigma_t + (1-a)\mathrm{EMA}_{t-1}` (exactly
   :func:`levpaper.risk.circuit_breaker`); a trigger pauses steps :math:`t, \dots,
   t + d - 1`. The dynamic maintenance rate (E17) is
   :math:`m_t = \min(m_0(1 + \eta\hat\sigma_t), 0.99)`.

   *Funding* (``funding_rate > 0``, at the steps :math:`t` divisible by ``funding_every``,
   paused or not): per pool, at the mark, the paying side pays ``funding_rate`` times the basis
   (the open-interest imbalance or the mark's premium over :math:`p_t`) times each position's
   notional out of its margin; the other side receives the total pro rata to notional
   (:meth:`levpaper.market_book.MarketBook.pay_funding`).
4. *Trader actions* (skipped while paused): flat positions whose cool-down has passed open;
   rebalancing policies resize to their target leverage at the mark; a trained policy (a
   vectorised callable, e.g. a policy of the Gymnasium environment adapted by
   :func:`env_policy`) sets targets every step. All orders of a pool in a step are netted and
   cleared at one uniform price, the execution price of the net swap through the pool (fee
   included); the matched part crosses inside the batch.

   *Staggered entries and rebalancing* (``stagger``): trader :math:`i` first opens at step
   :math:`\phi_i` and rebalances when :math:`t \equiv \phi_i` (mod ``rebalance_every``), its
   phase :math:`\phi_i` drawn at construction. *Impact-aware sizing* (``impact_sizing``): an
   opening's size, and a resize's growth, is what the trader's notional buys or sells through
   the pool alone (:func:`levpaper.kernel.trade_notional`), not the notional over the mid
   price. *Caps* (``position_cap``, then ``oi_cap``, fractions of the pool's B reserve, at the
   mark): growing orders are cut before the netting (:func:`levpaper.market_book.limit_orders`:
   a position to its cap, then each side's growth pro rata to the side's room; an opening's
   margin in proportion) and the cut notional recorded.
5. *Mark*: the pool's spot price, or its TWAP (mean of the post-arbitrage spot prices of the
   last ``twap_window`` steps, this one included). Liquidation sales inside a step have no time
   weight, so they do not move a TWAP mark until the next step.
6. *Liquidation cascade* (deferred while paused): positions below maintenance at the mark are
   closed through the pool one by one, worst margin ratio first, the mark recomputed after each,
   until none is below maintenance.

   *Arbitrage between liquidations* (``arbitrage_between_liquidations``): after each close the
   arbitrageurs bring the pool back to :math:`p_t` (to the sub-step's price in item 1's checks).
   *Liquidation hunter* (``hunter_budget``; spot mark only, not in item 1's checks): before the
   cascade of a pool it pushes the spot past the nearest liquidation price of the side it can
   push more cheaply, if that trades at most its budget
   (:meth:`levpaper.market_book.MarketBook.hunt_target`; with ``hunter_profitable_only`` only if
   the whole attack, evaluated on a copy of the book, does not lose), the cascade runs from the
   spot it leaves (what it triggers counts as primary), and then it trades its A back; its
   profit over the attack is recorded.
7. *Arbitrage* restores each pool to :math:`p_t`.
8. *Accounting*: per-token conservation (below), checked every step when
   ``check_conservation`` is set. With ``burn_in`` :math:`b > 0` the bad debt and the traders'
   wealth after step :math:`b` are recorded: the run's statistics count steps :math:`t > b` only.

Step 0 (in the constructor) is item 4 alone, at ``price0``: every trader opens (with
``stagger``, those of phase 0), the caps and the impact-aware sizing applying as in any step.

**Cascade size.** At the start of step 6 the *primary* set is the positions below maintenance at
the mark then (made liquidatable by the external move, the trader actions, a change of
:math:`m_t` or the end of a pause). A liquidation of a position outside the primary set was
triggered by earlier liquidation sales of the same step; the *cascade size* of a step is the
number of such *induced* liquidations. Positions are ordered by liquidation price, which for one
side is the order of the margin ratio at any mark, so the primary set is a prefix of each side's
order and the induced count is what the engine closes beyond it.

**False pause.** A pause episode (a maximal run of paused steps, starting at step :math:`t_0`)
is *false* when the external price of every pool stays within ``stress_move`` (in log) of its
level at :math:`t_0 - 1` over steps :math:`t_0, \dots, t_0 + h` (:math:`h` =
``false_pause_horizon``): no crash or large move came that the pause could have softened. The
test depends on the external path only, so it is the same in every arm.

**Conservation** (per token, to ``conservation_tol`` relative). Token :math:`A_j`: pool reserve
+ positions' signed sizes + arbitrageurs' balance + LPs' withdrawals = the initial reserve.
Token B: pools' reserves + positions' cash :math:`C - sn` + traders' wallets + insurance fund +
arbitrageurs' balance + LPs' withdrawals - bad debt = initial reserves + wallets + fund. The
hunter's balances of A and B count with the arbitrageurs'; funding moves B between positions'
margins, and the check also asks that the funding paid equal the funding received (relative to
the B at the start). Fees stay in the reserves; they are also counted separately. The value
identity (traders + pools + arbitrageurs + fund + LPs - bad debt) follows by pricing each token.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from scipy import optimize

from levpaper import kernel
from levpaper._validate import FloatArray, in_range, one_of, positive, positive_int
from levpaper.agents import Policy as AgentPolicy
from levpaper.market_book import MarketBook, limit_orders
from levpaper.processes import HOURLY_DT
from levpaper.risk import (
    exposure_entropy,
    p95_bad_debt,
    p95_liquidation_volume,
    vol_adjusted_leverage,
)
from levpaper.spaces import OBS_HIGH, OBS_LOW, ObservationScale, fill_observation

__all__ = [
    "AGENT",
    "BASELINE",
    "HOLD",
    "REBALANCE",
    "VOL_ADJUSTED",
    "Control",
    "EnvPolicy",
    "Market",
    "MarketConfig",
    "MarketState",
    "MarketView",
    "Population",
    "RunResult",
    "Scenario",
    "bridge_extremes",
    "conservation_residuals",
    "entropy_weights",
    "env_policy",
    "external_paths",
    "make_population",
    "monitor_points",
    "run_many",
    "run_scenario",
    "standard_controls",
    "standard_scenarios",
    "stress_table",
    "variance_amplification",
]

MarkKind = Literal["spot", "twap"]
FundingBasis = Literal["imbalance", "premium"]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_A = TypeVar("_A", bound="np.ndarray[Any, Any]")

HOLD, REBALANCE, VOL_ADJUSTED, AGENT = 0, 1, 2, 3
"""Policy ids, in this order (0 to 3) -- hold until closed; constant leverage rebalanced every
``rebalance_every`` steps; volatility-adjusted leverage (E12) rebalanced likewise; a trained agent
(a callable, every step)."""

_N_OBS = 14  # columns of the environment's observation (levpaper.env.LeveragedSwapEnv)


def _int(name: str, value: object, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketConfig:
    r"""Parameters of a market run.

    The venue mechanics (from ``oi_cap`` on) are off by default (a run with all of them off is
    bit for bit the run without them); :meth:`venue` turns them on with the values a venue
    uses. Where each acts in a step is in the order of events of :mod:`levpaper.market`.

    Parameters
    ----------
    n_traders : int, default 1000
    n_steps : int, default 720
        Steps of ``dt`` (720 hourly steps = 30 days).
    dt : float, default :data:`levpaper.processes.HOURLY_DT`
    n_pools : int, default 1
        Pools (tokens :math:`A_j`), each of the same depth and start price.
    price0 : float, default 2500
    pool_liquidity : float, default 100e6
        B reserve of each pool at the start (A reserve ``pool_liquidity / price0``).
    fee : float, default 0.003
    sigma, mu : float, default 0.8, 0.0
        Annualised volatility and drift of the external GBM prices.
    correlation : float, default 0.9
        Correlation of the pools' external log returns, in [0, 1].
    leverage_range : tuple of float, default (2, 100)
        Leverage is log-uniform on this range, within :math:`[1, L_{\max}]`.
    long_fraction : float, default 0.5
    margin_scale : float, default 20
        Median margin of a trader's first position, in B (lognormal, log-sd 0.5).
    stake : float, default 0.25
        Fraction of its wallet a trader puts up as margin at each open, in (0, 1].
    policy_mix : tuple of float, default (0.5, 0.5, 0.0, 0.0)
        Fractions of hold, rebalance, vol-adjusted and agent traders (sum 1).
    rebalance_every : int, default 24
    cooldown : int or None, default 24
        Steps after a position closes before it reopens; None: never.
    max_leverage, maintenance_rate, liquidation_penalty : float
        100, 0.005, 0.0125 (:class:`levpaper.margin.MarginConfig`).
    insurance_fund : float, default 0
    mark : {"spot", "twap"}, default "spot"
    twap_window : int, default 6
    ewma_lambda : float, default 0.94
    breaker_theta : float, default 3.0
    breaker_alpha : float, default 0.1
    pause_steps : int, default 3
    eta : float, default 1.25
        Sensitivity of the dynamic maintenance rate (E17), per unit of annualised volatility.
    kappa : float, default 0.5
        Risk budget of the volatility-adjusted leverage (E12).
    stress_move : float, default 0.05
    false_pause_horizon : int, default 24
    check_conservation : bool, default True
    conservation_tol : float, default 1e-9

    oi_cap : float or None, default None
        Open-interest cap of each side of each pool, as a fraction of the pool's B reserve: the
        notional at the mark of a side's open positions may not exceed ``oi_cap * y`` after a
        step's orders. Orders that would grow a side beyond it are scaled down *pro rata* (every
        growing order of the side by the same factor; an opening posts margin in proportion, so
        it keeps its leverage); the rejected notional is recorded (``RunResult.rejected``).
    position_cap : float or None, default None
        Notional cap of one position at the mark, as a fraction of the pool's B reserve; a growing
        order is cut to the cap (first, before ``oi_cap``), the rest recorded as rejected.
    impact_sizing : bool, default False
        Size orders against the execution price the trader would get alone through the pool
        (:func:`levpaper.kernel.trade_notional`: a long pays ``L C`` of B in, a short takes ``L
        C`` of B out), not the mid price ``y/x``; resizes that grow a position likewise.
    stagger : bool, default False
        Each trader draws a phase :math:`\phi_i` uniform on ``0 .. rebalance_every - 1`` (from the
        run's generator): it first opens at step :math:`\phi_i` and rebalances at the steps
        :math:`t > 0` with :math:`t \equiv \phi_i` (mod ``rebalance_every``), instead of every
        trader at step 0 and every ``rebalance_every`` steps together.
    burn_in : int, default 0
        Steps ``0 .. burn_in`` are excluded from the run's statistics (``RunResult.counted``
        says which steps count): liquidations, volume, cascades and bad debt are those of the
        counted steps, log growth is measured from the wealth after step ``burn_in``.
    monitor_substeps : int, default 1
        Liquidation checks per step: with :math:`k > 1` the external log price between
        :math:`p_{t-1}` and :math:`p_t` is filled in by a Brownian bridge at :math:`k - 1`
        interior times (the step's diffusion; a scenario's crash jump comes at the end of the
        step), and at each the pool is arbitraged to it and the cascade runs.
    barrier_bridge : bool, default False
        Also check whether the barrier was touched *within* each (sub-)interval: the minimum and
        the maximum of the bridge of :math:`\ln p` between its ends are drawn (one uniform each,
        inverse of :math:`P(\min < \ln a) = \exp(-2\ln(a/P_0)\ln(a/P_1)/(\sigma^2\Delta t))`),
        and the pool is arbitraged to them (in random order) with a liquidation check at each.
        A position whose barrier :math:`a` lies between the path's extreme and its ends is
        liquidated exactly when its crossing probability exceeds the uniform; one uniform per
        pool and direction, since the paths that touch a lower barrier touch every higher one.
    arbitrage_between_liquidations : bool, default False
        In the cascade, arbitrageurs bring the pool back to the external price after each
        liquidation close (each liquidation its own transaction, back-run by arbitrage).
    funding_rate : float, default 0.0
        Funding coefficient per payment (0: no funding). The rate of a payment is
        ``funding_rate`` times the basis; the paying side pays the rate times each of its
        positions' notional at the mark and the other side receives the total pro rata to
        notional, so funding only moves margin between positions.
    funding_basis : {"imbalance", "premium"}, default "imbalance"
        ``"imbalance"``: :math:`(OI_L - OI_S)/(OI_L + OI_S)`, the larger side pays the smaller
        (GMX v2's funding fee); ``"premium"``: :math:`(P_\text{mark} - p_t)/p_t`, longs pay
        when the pool trades above the external price (the premium index of order-book perps:
        Binance, dYdX). No payment when a side has no open interest.
    funding_every : int, default 1
        Steps between payments (8 on Binance's 8-hour clock at hourly steps; 1 on GMX, dYdX and
        Hyperliquid, which pay hourly or continuously).
    hunter_budget : float or None, default None
        A liquidation hunter (adversary) with this budget in B per attack: before the cascade it
        trades the pool to ``(1 -/+ hunter_overshoot)`` times the nearest liquidation price of
        a side (selling A against longs, buying against shorts; the side whose push is cheaper),
        if the push's notional is within the budget, and after the cascade it trades the same A
        back. Its profit and loss per step is recorded (``RunResult.hunter_pnl``).
    hunter_overshoot : float, default 0.001
    hunter_profitable_only : bool, default False
        The hunter attacks only when the attack's profit is >= 0; the step is deterministic
        given the state, so it evaluates the attack exactly on a copy of the book first.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> MarketConfig(n_traders=10).n_traders
    10
    >>> MarketConfig(stake=1.5)
    Traceback (most recent call last):
    ...
    ValueError: stake must lie in (0.0, 1.0], got 1.5
    """

    n_traders: int = 1000
    n_steps: int = 720
    dt: float = HOURLY_DT
    n_pools: int = 1
    price0: float = 2500.0
    pool_liquidity: float = 100e6
    fee: float = 0.003
    sigma: float = 0.8
    mu: float = 0.0
    correlation: float = 0.9
    leverage_range: tuple[float, float] = (2.0, 100.0)
    long_fraction: float = 0.5
    margin_scale: float = 20.0
    stake: float = 0.25
    policy_mix: tuple[float, float, float, float] = (0.5, 0.5, 0.0, 0.0)
    rebalance_every: int = 24
    cooldown: int | None = 24
    max_leverage: float = 100.0
    maintenance_rate: float = 0.005
    liquidation_penalty: float = 0.0125
    insurance_fund: float = 0.0
    mark: MarkKind = "spot"
    twap_window: int = 6
    ewma_lambda: float = 0.94
    breaker_theta: float = 3.0
    breaker_alpha: float = 0.1
    pause_steps: int = 3
    eta: float = 1.25
    kappa: float = 0.5
    stress_move: float = 0.05
    false_pause_horizon: int = 24
    check_conservation: bool = True
    conservation_tol: float = 1e-9
    oi_cap: float | None = None
    position_cap: float | None = None
    impact_sizing: bool = False
    stagger: bool = False
    burn_in: int = 0
    monitor_substeps: int = 1
    barrier_bridge: bool = False
    arbitrage_between_liquidations: bool = False
    funding_rate: float = 0.0
    funding_basis: FundingBasis = "imbalance"
    funding_every: int = 1
    hunter_budget: float | None = None
    hunter_overshoot: float = 0.001
    hunter_profitable_only: bool = False

    def __post_init__(self) -> None:
        positive_int("n_traders", self.n_traders)
        positive_int("n_steps", self.n_steps)
        positive_int("n_pools", self.n_pools)
        for name in ("dt", "price0", "pool_liquidity", "sigma", "margin_scale", "kappa"):
            positive(name, getattr(self, name))
        in_range("fee", self.fee, 0.0, 1.0, high_closed=False)
        in_range("mu", self.mu, -math.inf, math.inf, low_closed=False, high_closed=False)
        in_range("correlation", self.correlation, 0.0, 1.0)
        lo, hi = (float(v) for v in self.leverage_range)
        in_range("max_leverage", self.max_leverage, 1.0, math.inf, high_closed=False)
        in_range("maintenance_rate", self.maintenance_rate, 0.0, 1.0, high_closed=False)
        if not (1.0 <= lo <= hi <= self.max_leverage and hi * self.maintenance_rate < 1.0):
            raise ValueError(
                f"leverage_range must satisfy 1 <= low <= high <= max_leverage and "
                f"high * maintenance_rate < 1, got {self.leverage_range!r}"
            )
        in_range("long_fraction", self.long_fraction, 0.0, 1.0)
        in_range("stake", self.stake, 0.0, 1.0, low_closed=False)
        mix = np.asarray(self.policy_mix, dtype=np.float64)
        if mix.shape != (4,) or np.any(mix < 0) or not abs(mix.sum() - 1.0) < 1e-12:
            raise ValueError(f"policy_mix must be 4 fractions >= 0 summing to 1, got {mix!r}")
        positive_int("rebalance_every", self.rebalance_every)
        if self.cooldown is not None:
            _int("cooldown", self.cooldown, 1)
        in_range("liquidation_penalty", self.liquidation_penalty, 0.0, 1.0, high_closed=False)
        in_range("insurance_fund", self.insurance_fund, 0.0, math.inf, high_closed=False)
        one_of("mark", self.mark, ("spot", "twap"))
        positive_int("twap_window", self.twap_window)
        in_range("ewma_lambda", self.ewma_lambda, 0.0, 1.0, high_closed=False)
        positive("breaker_theta", self.breaker_theta)
        in_range("breaker_alpha", self.breaker_alpha, 0.0, 1.0, low_closed=False)
        positive_int("pause_steps", self.pause_steps)
        in_range("eta", self.eta, 0.0, math.inf, high_closed=False)
        positive("stress_move", self.stress_move)
        positive_int("false_pause_horizon", self.false_pause_horizon)
        positive("conservation_tol", self.conservation_tol)
        for name in ("oi_cap", "position_cap", "hunter_budget"):
            if getattr(self, name) is not None:
                positive(name, getattr(self, name))
        _int("burn_in", self.burn_in, 0)
        if self.burn_in >= self.n_steps:
            raise ValueError(f"burn_in must be < n_steps, got {self.burn_in!r}")
        positive_int("monitor_substeps", self.monitor_substeps)
        in_range("funding_rate", self.funding_rate, 0.0, 1.0, high_closed=False)
        one_of("funding_basis", self.funding_basis, ("imbalance", "premium"))
        positive_int("funding_every", self.funding_every)
        in_range("hunter_overshoot", self.hunter_overshoot, 0.0, 0.5, high_closed=False)

    @property
    def needs_rng(self) -> bool:
        """Whether a run draws from the run's generator beyond the population and the paths
        (``stagger``, ``monitor_substeps > 1``, ``barrier_bridge``)."""
        return self.stagger or self.monitor_substeps > 1 or self.barrier_bridge

    @classmethod
    def venue(cls, **overrides: Any) -> MarketConfig:
        r"""The defaults a perpetual venue would recognise, each with its source; ``overrides``
        replace any field.

        * ``max_leverage = 100``, ``maintenance_rate = 0.5 / max_leverage = 0.005``: the
          maintenance margin is half the initial margin at the maximum leverage (Hyperliquid's
          rule, documented on its margining page; Binance's first BTCUSDT tier has 125x and a
          maintenance rate of 0.40%, half its 0.8% initial margin).
        * ``liquidation_penalty = 0.0125``: the 1.25% liquidation fee of Perpetual Protocol v1,
          a virtual-AMM perpetual venue (the model of this paper); Binance's liquidation
          clearance fee on its main pairs has been of the same order.
        * ``oi_cap = 0.5``: each side's open interest at most half the pool's B reserve. Venues
          cap open interest per market and side (GMX v2's ``maxOpenInterest`` and its reserve
          factor, a fraction of the pool's backing; Gains Network's per-pair limits); the
          level is this model's choice of that order, not a published figure.
        * ``position_cap = 0.01``: one position at most 1% of the pool's depth (venues' position
          limits and leverage tiers: Binance lowers the maximum leverage as the notional grows,
          Hyperliquid's margin tables likewise); the level is this model's choice.
        * ``funding_rate = 3e-5`` per hourly payment at full imbalance, basis ``"imbalance"``,
          paid every step: GMX v2's funding (the larger side pays the smaller, in proportion to
          the imbalance), about 26% a year at full imbalance, the order GMX's markets show.
        * ``barrier_bridge = True``: venues check liquidations on every oracle update (seconds),
          so a touch of the barrier within the hour counts.
        * ``impact_sizing = True``: a venue quotes the execution price (impact and fee) before an
          order, and traders size on the quote.
        * ``stagger = True``, ``burn_in = min(rebalance_every, n_steps // 2)``: traders arrive
          and rebalance at their own hours; the first cycle, while they arrive, is not counted.

        Arbitrage between liquidations, the hunter and the finer clock stay off: they are
        behaviours to vary, not venue rules.

        Examples
        --------
        >>> v = MarketConfig.venue(n_traders=10)
        >>> v.maintenance_rate == 0.5 / v.max_leverage, v.oi_cap, v.burn_in, v.n_traders
        (True, 0.5, 24, 10)
        """
        base: dict[str, Any] = {
            "max_leverage": 100.0,
            "liquidation_penalty": 0.0125,
            "oi_cap": 0.5,
            "position_cap": 0.01,
            "funding_rate": 3e-5,
            "funding_basis": "imbalance",
            "funding_every": 1,
            "barrier_bridge": True,
            "impact_sizing": True,
            "stagger": True,
        }
        base.update(overrides)
        base.setdefault("maintenance_rate", 0.5 / float(base["max_leverage"]))
        n_steps = int(base.get("n_steps", cls.n_steps))
        cycle = int(base.get("rebalance_every", cls.rebalance_every))
        base.setdefault("burn_in", min(cycle, n_steps // 2))
        return cls(**base)


@dataclass(frozen=True)
class Scenario:
    """A stress scenario, applied on top of the GBM paths (same draws in every scenario).

    Parameters
    ----------
    name : str
    crash_step : int or None
        Step at which every external price jumps by ``-crash_size`` (a log jump of
        ``log(1 - crash_size)``), on top of the GBM.
    crash_size : float, default 0.30
    vol_factor : float, default 1.0
        Multiplies the diffusion of the log increments at steps ``vol_start`` to
        ``vol_start + vol_length - 1`` (the drift is adjusted so the price stays a martingale
        for ``mu = 0``).
    vol_start, vol_length : int
    withdrawal_step : int or None
        Step at which LPs withdraw ``withdrawal_fraction`` of every pool's reserves.
    withdrawal_fraction : float, default 0.8
    correlated_traders : bool, default False
        Every trader long, leverage in the top tenth of ``leverage_range`` (log scale).
    mark : {"spot", "twap"} or None
        Overrides ``MarketConfig.mark``.

    Examples
    --------
    >>> Scenario("crash", crash_step=5).crash_size
    0.3
    >>> Scenario("bad", crash_size=1.0)
    Traceback (most recent call last):
    ...
    ValueError: crash_size must lie in [0.0, 1.0), got 1.0
    """

    name: str = "baseline"
    crash_step: int | None = None
    crash_size: float = 0.30
    vol_factor: float = 1.0
    vol_start: int = 0
    vol_length: int = 0
    withdrawal_step: int | None = None
    withdrawal_fraction: float = 0.8
    correlated_traders: bool = False
    mark: MarkKind | None = None

    def __post_init__(self) -> None:
        if self.crash_step is not None:
            _int("crash_step", self.crash_step, 1)
        in_range("crash_size", self.crash_size, 0.0, 1.0, high_closed=False)
        positive("vol_factor", self.vol_factor)
        _int("vol_start", self.vol_start, 0)
        _int("vol_length", self.vol_length, 0)
        if self.withdrawal_step is not None:
            _int("withdrawal_step", self.withdrawal_step, 1)
        in_range("withdrawal_fraction", self.withdrawal_fraction, 0.0, 1.0, high_closed=False)
        if self.mark is not None:
            one_of("mark", self.mark, ("spot", "twap"))


BASELINE = Scenario()


def standard_scenarios(n_steps: int) -> tuple[Scenario, ...]:
    """The scenarios of the stress table, placed relative to ``n_steps``.

    Baseline; jump crash (-30% in one step at ``n_steps // 2``); volatility spike (x5 for
    ``n_steps // 10`` steps from ``n_steps // 3``); liquidity withdrawal (-80% depth at
    ``n_steps // 4``); correlated traders; and the jump crash with a TWAP mark.

    Examples
    --------
    >>> [s.name for s in standard_scenarios(720)]  # doctest: +NORMALIZE_WHITESPACE
    ['baseline', 'jump_crash', 'vol_spike', 'liquidity_withdrawal', 'correlated_traders',
     'jump_crash_twap']
    """
    n = _int("n_steps", n_steps, 10)
    crash = Scenario("jump_crash", crash_step=n // 2)
    return (
        BASELINE,
        crash,
        Scenario("vol_spike", vol_factor=5.0, vol_start=n // 3, vol_length=max(n // 10, 1)),
        Scenario("liquidity_withdrawal", withdrawal_step=n // 4),
        Scenario("correlated_traders", correlated_traders=True),
        replace(crash, name="jump_crash_twap", mark="twap"),
    )


@dataclass(frozen=True)
class Control:
    r"""A risk control (section 5), or a combination.

    Parameters
    ----------
    name : str
    dynamic_maintenance : bool
        E17: :math:`m_t = m_0(1 + \eta\hat\sigma_t)` instead of :math:`m_0`.
    circuit_breaker : bool
        E19: pause trading and liquidations for ``pause_steps`` when the breaker triggers.
    entropy : float or None
        E18: target entropy :math:`H` (nats) of every trader's exposure over the pools; None
        puts all of a trader's exposure in its home pool (:math:`H = 0`).
    vol_leverage : bool
        E12: hold and rebalance traders become volatility-adjusted (their leverage is capped by
        :math:`L^*(t)`, :func:`levpaper.risk.vol_adjusted_leverage`).

    Examples
    --------
    >>> Control("cb", circuit_breaker=True).circuit_breaker
    True
    """

    name: str = "none"
    dynamic_maintenance: bool = False
    circuit_breaker: bool = False
    entropy: float | None = None
    vol_leverage: bool = False

    def __post_init__(self) -> None:
        if self.entropy is not None:
            in_range("entropy", self.entropy, 0.0, math.inf, high_closed=False)


def standard_controls(n_pools: int = 1) -> tuple[Control, ...]:
    """None, dynamic maintenance (E17), circuit breaker (E19), volatility-adjusted leverage
    (E12) and, with several pools, maximal-entropy exposure :math:`H = \\ln n` (E18).

    Examples
    --------
    >>> [c.name for c in standard_controls(4)]
    ['none', 'dynamic_maintenance', 'circuit_breaker', 'vol_leverage', 'entropy']
    """
    n = positive_int("n_pools", n_pools)
    out = [
        Control("none"),
        Control("dynamic_maintenance", dynamic_maintenance=True),
        Control("circuit_breaker", circuit_breaker=True),
        Control("vol_leverage", vol_leverage=True),
    ]
    if n > 1:
        out.append(Control("entropy", entropy=math.log(n)))
    return tuple(out)


# --- population and paths -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Population:
    """The traders: one row each.

    Attributes
    ----------
    side : ndarray of int8
        +1 long, -1 short (the same in every pool).
    leverage : ndarray
        Target leverage at open, in :math:`[1, L_{\\max}]`.
    wealth : ndarray
        Initial wallet in B, > 0.
    policy : ndarray of int8
        ``HOLD``, ``REBALANCE``, ``VOL_ADJUSTED`` or ``AGENT``.
    home : ndarray of int64
        Home pool (all exposure there when the entropy control is off).
    """

    side: npt.NDArray[np.int8]
    leverage: FloatArray
    wealth: FloatArray
    policy: npt.NDArray[np.int8]
    home: IntArray

    def __post_init__(self) -> None:
        n = self.side.shape[0]
        for name in ("leverage", "wealth", "policy", "home"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {getattr(self, name).shape}")
        if not np.all((self.side == 1) | (self.side == -1)):
            raise ValueError("side must be +1 or -1")
        if not np.all(np.isfinite(self.leverage) & (self.leverage >= 1.0)):
            raise ValueError("leverage must be finite and >= 1")
        if not np.all(np.isfinite(self.wealth) & (self.wealth > 0)):
            raise ValueError("wealth must be finite and > 0")
        if not np.all((self.policy >= 0) & (self.policy <= 3)):
            raise ValueError("policy must be 0, 1, 2 or 3")

    def __len__(self) -> int:
        return int(self.side.shape[0])


def make_population(
    config: MarketConfig, scenario: Scenario, rng: np.random.Generator
) -> Population:
    """Draw the traders of ``config`` (the same draws whatever the scenario or control).

    Examples
    --------
    >>> pop = make_population(MarketConfig(n_traders=5), BASELINE, np.random.default_rng(0))
    >>> len(pop), bool(np.all((pop.leverage >= 2) & (pop.leverage <= 100)))
    (5, True)
    """
    n = config.n_traders
    u_side, u_lev, u_pol = rng.random(n), rng.random(n), rng.random(n)
    z_margin = rng.standard_normal(n)
    home = rng.integers(0, config.n_pools, size=n).astype(np.int64)
    lo, hi = (math.log(float(v)) for v in config.leverage_range)
    if scenario.correlated_traders:
        side = np.ones(n, dtype=np.int8)
        lev = np.exp(hi - 0.1 * (hi - lo) * u_lev)
    else:
        side = np.where(u_side < config.long_fraction, 1, -1).astype(np.int8)
        lev = np.exp(lo + (hi - lo) * u_lev)
    lev = np.clip(lev, float(config.leverage_range[0]), float(config.leverage_range[1]))
    wealth = config.margin_scale / config.stake * np.exp(0.5 * z_margin)
    edges = np.cumsum(np.asarray(config.policy_mix))
    policy = np.minimum(np.searchsorted(edges, u_pol, side="right"), 3).astype(np.int8)
    return Population(side=side, leverage=lev, wealth=wealth, policy=policy, home=home)


def external_paths(
    config: MarketConfig, scenario: Scenario, rng: np.random.Generator
) -> FloatArray:
    r"""External prices of every pool, shape ``(n_pools, n_steps + 1)``, column 0 = ``price0``.

    Log increments :math:`(\mu - s_t^2/2)\Delta t + s_t\sqrt{\Delta t}\,Z_{j,t}` with
    :math:`s_t = \sigma` times the scenario's volatility factor in its window and :math:`Z`
    equicorrelated across pools; the crash adds :math:`\ln(1 - c)` at its step. The normals are
    drawn the same way for every scenario (common random numbers).

    Examples
    --------
    >>> cfg = MarketConfig(n_steps=4)
    >>> p = external_paths(cfg, Scenario("c", crash_step=2), np.random.default_rng(0))
    >>> p.shape, float(p[0, 0])
    ((1, 5), 2500.0)
    """
    n_p, n_t, dt = config.n_pools, config.n_steps, config.dt
    common = rng.standard_normal(n_t)
    own = rng.standard_normal((n_p, n_t))
    rho = config.correlation
    z = math.sqrt(rho) * common + math.sqrt(1.0 - rho) * own
    s = np.full(n_t, config.sigma)
    if scenario.vol_length > 0:
        a = scenario.vol_start
        s[max(a - 1, 0) : max(a - 1 + scenario.vol_length, 0)] *= scenario.vol_factor
    inc = (config.mu - 0.5 * s * s) * dt + s * math.sqrt(dt) * z
    if scenario.crash_step is not None and scenario.crash_step <= n_t:
        inc[:, scenario.crash_step - 1] += math.log1p(-scenario.crash_size)
    out = np.empty((n_p, n_t + 1))
    out[:, 0] = 0.0
    np.cumsum(inc, axis=1, out=out[:, 1:])
    return np.asarray(config.price0 * np.exp(out), dtype=np.float64)


def entropy_weights(n_pools: int, target: float, home: npt.ArrayLike) -> FloatArray:
    r"""Exposure weights over ``n_pools`` with entropy ``target`` for each trader.

    :math:`w = (1-a)\,e_\text{home} + a/n`, with :math:`a \in [0, 1]` solved so that
    :math:`H(w) = ` ``target`` (:math:`H` rises from 0 at :math:`a = 0` to :math:`\ln n` at
    :math:`a = 1`). Shape ``(n_pools, n_traders)``.

    Raises
    ------
    ValueError
        If ``target`` is outside :math:`[0, \ln n]`.

    Examples
    --------
    >>> w = entropy_weights(4, math.log(4), [0, 2])
    >>> np.round(w[:, 0], 6).tolist()
    [0.25, 0.25, 0.25, 0.25]
    >>> round(float(exposure_entropy(entropy_weights(3, 0.5, [1])[:, 0])), 9)
    0.5
    """
    n = positive_int("n_pools", n_pools)
    h = float(in_range("target", target, 0.0, math.log(n) + 1e-12))
    idx = np.asarray(home, dtype=np.int64)
    if idx.ndim != 1 or np.any((idx < 0) | (idx >= n)):
        raise ValueError(f"home must be pool indices in [0, {n}), got {home!r}")

    def weights(a: float) -> FloatArray:
        w = np.full(n, a / n)
        w[0] += 1.0 - a
        return w

    if h <= 0.0 or n == 1:
        a = 0.0
    elif h >= math.log(n):
        a = 1.0
    else:
        a = float(
            optimize.brentq(lambda v: float(exposure_entropy(weights(v))) - h, 0.0, 1.0, xtol=1e-15)
        )
    base = weights(a)
    out = np.empty((n, idx.shape[0]))
    for j in range(n):
        out[j] = base[(j - idx) % n]
    return out


# --- the market ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MarketView:
    """What a trained policy sees at a step (read-only arrays; pool axis first).

    Attributes
    ----------
    step : int
    mark : ndarray, shape (n_pools,)
    sigma : ndarray, shape (n_pools,)
        Annualised EWMA volatility of the pool.
    maintenance : ndarray, shape (n_pools,)
    side : ndarray, shape (n_pools, n_traders)
    is_open : ndarray, shape (n_pools, n_traders)
    size : ndarray, shape (n_pools, n_traders)
    margin : ndarray, shape (n_pools, n_traders)
    equity : ndarray, shape (n_pools, n_traders)
    leverage : ndarray, shape (n_pools, n_traders)
        :math:`qP/E` at the mark, 0 when flat or without equity.
    wallet : ndarray, shape (n_traders,)
    reserve_a : ndarray, shape (n_pools,)
        The pools' reserves of A (after this step's arbitrage).
    reserve_b : ndarray, shape (n_pools,)
        The pools' reserves of B.
    initial_wealth : ndarray, shape (n_traders,)
        Each trader's wallet at the start (``Population.wealth``).
    """

    step: int
    mark: FloatArray
    sigma: FloatArray
    maintenance: FloatArray
    side: npt.NDArray[np.int8]
    is_open: BoolArray
    size: FloatArray
    margin: FloatArray
    equity: FloatArray
    leverage: FloatArray
    wallet: FloatArray
    reserve_a: FloatArray
    reserve_b: FloatArray
    initial_wealth: FloatArray


Policy = Callable[[MarketView], npt.ArrayLike]
"""A trained policy: returns target leverage per (pool, trader) or per trader (NaN keeps the
position as it is, 0 closes it, and a flat trader opens at any target > 0 once its cool-down has
passed); applied every step to the traders whose policy is AGENT. :func:`env_policy` adapts a
policy of the Gymnasium environment."""


@dataclass(frozen=True, eq=False)
class EnvPolicy:
    r"""A policy of the Gymnasium environment trading in the market (built by :func:`env_policy`).

    A policy of :mod:`levpaper.agents` (for instance ``TrainResult.policy`` of
    :func:`levpaper.training.train`) acts on the 14-feature observation of
    :class:`levpaper.env.LeveragedSwapEnv` and returns box actions (target leverage as a fraction
    of the cap, margin change). Called with a :class:`MarketView`, this adapter builds that
    observation for every (pool, trader) pair (:meth:`observe`), asks the policy for its actions
    and turns them into the market's target leverage (:meth:`targets`); it is a market
    ``Policy``, applied by :class:`Market` to the traders whose policy is ``AGENT``.

    **Observation** (env column: value in the market, for trader :math:`i` in pool :math:`j`;
    :math:`P` the mark, :math:`q` the size, :math:`s` the side, :math:`E` the equity at the mark,
    :math:`N = qP`, :math:`W` the wallet, :math:`C_0` the trader's initial wallet, :math:`m` the
    ``maintenance_rate`` of the policy, :math:`m_t` the market's maintenance rate in force; each
    column clipped to the environment's bounds, then rounded to float32 as the environment does):

    ====  ====================  ===================================================================
    col   feature               market value
    ====  ====================  ===================================================================
    0     price                 :math:`P/P_0` (``price0``)
    1, 2  reserves              :math:`x_j/x_0`, :math:`y_j/y_0` (the pool's start reserves)
    3     leverage              :math:`m\,sN/E` (0 when flat)
    4     margin                :math:`E/C_0`
    5     volatility            :math:`N\hat\sigma_j\sqrt{\Delta t}/C_0`
    6     price_volatility      :math:`\hat\sigma_j`, the pool's annualised EWMA volatility
    7     side                  :math:`s` when open, 0 when flat
    8     size                  :math:`N/C_0`
    9     margin_ratio          :math:`E/\max(N, E)`
    10    liquidation_distance  :math:`s + (E - sN)/(N(1 - m_t s))`, 1 when flat
    11    time_left             :math:`(H - t)/H`, :math:`H` = ``horizon``
    12    wallet                :math:`W/C_0`
    13    leverage_cap          :math:`m L_\text{cap}`, :math:`L_\text{cap}` = ``max_leverage``
    ====  ====================  ===================================================================

    A flat trader is seen as the environment sees a flat account: holding as margin what it
    would post at its next open, ``stake`` times its wallet (column 4), the rest in the wallet
    (column 12), so a trader's first observation is the environment's reset observation with
    ``initial_margin_fraction = stake``.

    **Action.** The box action's :math:`a_0` gives the signed target leverage
    :math:`\ell^* = a_0 L_\text{cap}` (:math:`L_\text{cap}` read back from column 13, as
    :func:`levpaper.agents.box_action` does). The market fixes each trader's side, so:

    * :math:`\ell^*` on the trader's side: target :math:`|\ell^*|` (the market clips it to
      ``max_leverage`` and keeps the position when :math:`|\ell^*| m_t \ge 1`);
    * :math:`\ell^*` on the other side, or 0: target 0, which closes an open position and keeps a
      flat trader flat (the environment would reverse the position; the market cannot);
    * :math:`\ell^*` equal to the current leverage (relative difference at most ``tolerance``,
      which is how the policy's no-trade band answers "no trade"): NaN, keep the position as it
      is, so that a held position does not pay the pool fee on float32 rounding every step.

    **Approximations.** The margin action :math:`a_1` is ignored: the market's margin is fixed
    at open (``stake`` of the wallet) and it cannot move wallet into an open position or take
    margin out, so a trained policy that deposits part of its wallet every step carries less
    exposure here than in the environment. A flat trader opens (at any target > 0) only once
    its cool-down has passed (the environment ends the episode at a liquidation;
    the market reopens). The market resizes at the mark (spot or TWAP) and clears every trader's
    orders of a step together; the environment trades alone at the pool price. The market's
    EWMA volatility is of log returns after arbitrage (the environment's of simple returns at
    the end of the step), and :math:`H` is the market's length rather than the training horizon,
    unless ``horizon`` is given. Every other trader is seen only through the pool.

    Parameters
    ----------
    policy : levpaper.agents.Policy
        Anything with ``act(obs)`` mapping float32 observations ``(K, 14)`` to box actions
        ``(K, 2)`` in [-1, 1].
    config : MarketConfig
        The market the policy trades in (``price0``, ``pool_liquidity``, ``dt``, ``stake``).
    horizon : int
        :math:`H` of column 11.
    max_leverage : float
        :math:`L_\text{cap}` of column 13, with ``max_leverage * maintenance_rate < 1``.
    maintenance_rate : float
        :math:`m` with which the policy scales leverage (columns 3 and 13), in (0, 0.5).
    tolerance : float, default 1e-6
        Relative tolerance of the "keep" test, in [0, 1).
    """

    policy: AgentPolicy
    config: MarketConfig
    horizon: int
    max_leverage: float
    maintenance_rate: float
    tolerance: float = 1e-6

    def __post_init__(self) -> None:
        if not callable(getattr(self.policy, "act", None)):
            raise ValueError(f"policy must have an act(obs) method, got {self.policy!r}")
        if not isinstance(self.config, MarketConfig):
            raise ValueError(f"config must be a MarketConfig, got {self.config!r}")
        positive_int("horizon", self.horizon)
        m = float(in_range("maintenance_rate", self.maintenance_rate, 0.0, 0.5, low_closed=False,
                           high_closed=False))  # fmt: skip
        cap = float(in_range("max_leverage", self.max_leverage, 0.0, 1.0 / m, low_closed=False,
                             high_closed=False))  # fmt: skip
        object.__setattr__(self, "maintenance_rate", m)
        object.__setattr__(self, "max_leverage", cap)
        in_range("tolerance", self.tolerance, 0.0, 1.0, high_closed=False)

    def observe(self, view: MarketView) -> npt.NDArray[np.float32]:
        """The environment's observation of every (pool, trader), shape ``(n_pools, n_traders,
        14)`` (the table above)."""
        cfg, m = self.config, self.maintenance_rate
        is_open = np.asarray(view.is_open, dtype=bool)
        shape = is_open.shape
        p = np.asarray(view.mark, dtype=np.float64)[:, None]
        q = np.where(is_open, np.asarray(view.side, dtype=np.float64), 0.0)
        q *= np.where(is_open, np.asarray(view.size, dtype=np.float64), 0.0)  # signed size
        wallet = np.broadcast_to(np.asarray(view.wallet, dtype=np.float64), shape)
        equity = np.where(is_open, np.asarray(view.equity, dtype=np.float64), cfg.stake * wallet)
        wallet = np.where(is_open, wallet, (1.0 - cfg.stake) * wallet)
        sigma = np.asarray(view.sigma, dtype=np.float64)[:, None]
        qp = q * p
        notional = np.abs(qp)
        scale = ObservationScale(
            m, 1.0 / np.asarray(view.initial_wealth, dtype=np.float64), 1.0 / cfg.price0,
            cfg.price0 / cfg.pool_liquidity, 1.0 / cfg.pool_liquidity, 1.0 / cfg.dt,
            float(self.horizon), 1.0 / self.horizon,
        )  # fmt: skip
        x = np.asarray(view.reserve_a, dtype=np.float64)[:, None]
        y = np.asarray(view.reserve_b, dtype=np.float64)[:, None]
        pool = (p, x, y, sigma * sigma * cfg.dt)  # v: the EWMA variance per step
        o = np.empty((_N_OBS, *shape))
        o[5] = notional * sigma * math.sqrt(cfg.dt) * scale.inv_c0
        fill_observation(
            o, scale, pool, (q, equity - qp, wallet, equity, qp, notional), float(view.step),
            self.max_leverage, np.asarray(view.maintenance, dtype=np.float64)[:, None],
        )  # fmt: skip
        np.clip(o, OBS_LOW[:, None, None], OBS_HIGH[:, None, None], out=o)
        return np.ascontiguousarray(np.moveaxis(o, 0, -1), dtype=np.float32)

    def targets(self, view: MarketView) -> FloatArray:
        """Target leverage per (pool, trader) for the market: the action mapping above."""
        obs = self.observe(view)
        shape = obs.shape[:2]
        act = np.asarray(self.policy.act(obs.reshape(-1, _N_OBS)), dtype=np.float64)
        if act.shape != (obs.shape[0] * obs.shape[1], 2):
            raise ValueError(f"policy.act must return shape (K, 2), got {act.shape}")
        act = act.reshape(*shape, 2)
        m = self.maintenance_rate
        cap = obs[..., 13].astype(np.float64) / m
        target = np.clip(act[..., 0], -1.0, 1.0) * cap
        lev = obs[..., 3].astype(np.float64) / m
        side = np.asarray(view.side, dtype=np.float64)
        out = np.where(side * target > 0, np.abs(target), 0.0)
        keep = np.asarray(view.is_open, dtype=bool) & (
            np.abs(target - lev) <= self.tolerance * np.maximum(np.abs(target), np.abs(lev))
        )
        return np.where(keep, np.nan, out)

    def __call__(self, view: MarketView) -> FloatArray:
        """:meth:`targets` (the market ``Policy`` interface)."""
        return self.targets(view)


def env_policy(
    policy: AgentPolicy,
    config: MarketConfig,
    *,
    horizon: int | None = None,
    max_leverage: float | None = None,
    maintenance_rate: float | None = None,
    tolerance: float = 1e-6,
) -> EnvPolicy:
    r"""Adapt a policy trained in :class:`levpaper.env.LeveragedSwapEnv` to the market.

    Returns an :class:`EnvPolicy` (its docstring gives the observation, the action mapping and
    the approximations), to pass as ``policy=`` to :class:`Market`, :func:`run_scenario` or
    :func:`run_many`; it drives the traders whose policy is ``AGENT``.

    Parameters
    ----------
    policy : levpaper.agents.Policy
        E.g. ``TrainResult.policy`` (a :class:`levpaper.agents.LinearPolicy`).
    config : MarketConfig
    horizon : int, optional
        :math:`H` of the time-left feature; default ``config.n_steps``.
    max_leverage : float, optional
        The cap the policy sees; default ``config.max_leverage``.
    maintenance_rate : float, optional
        The policy's :math:`m` (its ``maintenance_rate`` attribute if it has one, else
        ``config.maintenance_rate``).
    tolerance : float, default 1e-6

    Examples
    --------
    >>> from levpaper.agents import N_FEATURES, LinearPolicy
    >>> w = np.zeros((2, N_FEATURES)); w[0, 0] = 3.0  # 3x long, whatever it sees
    >>> cfg = MarketConfig(n_traders=100, n_steps=48, policy_mix=(0.5, 0.0, 0.0, 0.5))
    >>> rng = np.random.default_rng(0)
    >>> pop = make_population(cfg, BASELINE, rng)
    >>> agent = env_policy(LinearPolicy(w, band=0.0), cfg)
    >>> mkt = Market(cfg, pop, external_paths(cfg, BASELINE, rng), policy=agent)
    >>> res = mkt.run()
    >>> i = np.flatnonzero((pop.policy == AGENT) & (pop.side == 1))  # long agents: 3x
    >>> j = np.flatnonzero((pop.policy == AGENT) & (pop.side == -1))  # short agents: flat
    >>> p = mkt.y[0] / mkt.x[0]
    >>> lev = mkt.q[0, i] * p / (mkt.c[0, i] + mkt.q[0, i] * p - mkt.n[0, i])
    >>> round(float(lev.min()), 2), round(float(lev.max()), 2), bool(np.all(mkt.q[0, j] == 0))
    (3.0, 3.0, True)
    """
    return EnvPolicy(
        policy,
        config,
        config.n_steps if horizon is None else horizon,
        config.max_leverage if max_leverage is None else max_leverage,
        float(getattr(policy, "maintenance_rate", config.maintenance_rate))
        if maintenance_rate is None
        else maintenance_rate,
        tolerance,
    )


@dataclass(frozen=True, eq=False)
class RunResult:
    """Measurements of one run (see :func:`run_scenario`).

    Attributes
    ----------
    scenario : str
    control : str
    n_liquidations : int
    liquidation_volume : float
        Notional closed by liquidations, in B.
    bad_debt : float
    insurance_fund : float
        Balance at the end.
    liquidations : ndarray of int, shape (n_steps + 1,)
        Liquidations per step (entry 0 is the start).
    cascade : ndarray of int, shape (n_steps + 1,)
        Induced liquidations per step (the cascade size, module docstring).
    paused : ndarray of bool, shape (n_steps + 1,)
    pause_episodes : int
    false_pauses : int
    log_growth : ndarray, shape (n_traders,)
        :math:`\\ln(W_T/W_0)` of each trader's wealth (wallet + positive equity at the spot).
    entropy : float
        Mean entropy of the traders' initial exposure over the pools.
    pool_price : ndarray, shape (n_pools, n_steps + 1)
        Spot at the end of each step.
    post_cascade_price : ndarray, shape (n_pools, n_steps + 1)
        Spot after the liquidation cascade, before the restoring arbitrage.
    external : ndarray, shape (n_pools, n_steps + 1)
    maintenance : ndarray, shape (n_pools, n_steps + 1)
    residual : ndarray, shape (n_steps + 1,)
        Largest relative per-token conservation residual after each step.
    events : dict of ndarray
        One entry per liquidation: step, pool, trader, side, trigger_mark, execution_price,
        size, notional, equity, penalty, bad_debt, induced.
    wealth : ndarray or None
        Traders' wealth after each step, shape (n_steps + 1, n_traders), if recorded.
    counted : ndarray of bool, shape (n_steps + 1,)
        The steps the statistics count (after ``burn_in``): ``n_liquidations``,
        ``liquidation_volume``, ``bad_debt``, :attr:`max_cascade`, :attr:`cascade_total` and
        ``log_growth`` (from the wealth after step ``burn_in``) are those of these steps.
    rejected : ndarray, shape (n_steps + 1,)
        Notional (B, at the mark) of the orders cut by ``position_cap`` and ``oi_cap``.
    funding : ndarray, shape (n_steps + 1,)
        Funding paid (B) at each step, all pools.
    hunter_pnl : ndarray, shape (n_steps + 1,)
        The liquidation hunter's profit (B) over its attacks of each step (< 0: it spent).
    hunter_attacks : ndarray of int, shape (n_steps + 1,)
        Attacks per step.
    """

    scenario: str
    control: str
    n_liquidations: int
    liquidation_volume: float
    bad_debt: float
    insurance_fund: float
    liquidations: IntArray
    cascade: IntArray
    paused: BoolArray
    pause_episodes: int
    false_pauses: int
    log_growth: FloatArray
    entropy: float
    pool_price: FloatArray
    post_cascade_price: FloatArray
    external: FloatArray
    maintenance: FloatArray
    residual: FloatArray
    events: dict[str, npt.NDArray[np.generic]] = field(repr=False)
    wealth: FloatArray | None = field(default=None, repr=False)
    counted: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    rejected: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    funding: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    hunter_pnl: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    hunter_attacks: IntArray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)

    @property
    def max_cascade(self) -> int:
        """Largest cascade of the counted steps."""
        return int(self.cascade[self.counted].max(initial=0))

    @property
    def cascade_total(self) -> int:
        """Induced liquidations over the counted steps."""
        return int(self.cascade[self.counted].sum())

    @property
    def mean_log_growth(self) -> float:
        """Mean of ``log_growth`` over traders."""
        return float(self.log_growth.mean())


_EVENT_FIELDS = (
    "step",
    "pool",
    "trader",
    "side",
    "trigger_mark",
    "execution_price",
    "size",
    "notional",
    "equity",
    "penalty",
    "bad_debt",
    "induced",
)


def _frozen(a: _A) -> _A:
    """A read-only view of ``a`` (the caller cannot write through it)."""
    v = a.view()
    v.flags.writeable = False
    return v


def _check_inputs(
    config: MarketConfig, population: Population, external: npt.ArrayLike, control: Control
) -> FloatArray:
    """Validate the arguments of :class:`Market`; return the external prices as an array."""
    cfg, ctl = config, control
    ext = positive("external", external)
    n_p, n_t, n = cfg.n_pools, cfg.n_steps, len(population)
    if ext.shape != (n_p, n_t + 1):
        raise ValueError(f"external must have shape ({n_p}, {n_t + 1}), got {ext.shape}")
    if not np.allclose(ext[:, 0], cfg.price0, rtol=1e-12):
        raise ValueError("external[:, 0] must equal price0")
    if len(population) != cfg.n_traders:
        raise ValueError(f"population must have n_traders = {cfg.n_traders} rows, got {n}")
    if np.any(population.home >= n_p):
        raise ValueError(f"population.home must be < n_pools = {n_p}")
    if ctl.entropy is not None and ctl.entropy > math.log(n_p) + 1e-12:
        raise ValueError(f"entropy must be <= ln(n_pools) = {math.log(n_p):.6g}")
    if np.any(population.leverage > cfg.max_leverage) or np.any(
        population.leverage * cfg.maintenance_rate >= 1.0
    ):
        raise ValueError("population.leverage must be <= max_leverage and < 1/maintenance")
    return ext


class MarketState:
    """The read-only state of a :class:`Market`, its base class: properties that return numpy
    views that cannot be written (pool axis first). It holds no state of its own."""

    _config: MarketConfig
    _scenario: Scenario
    _control: Control
    _t: int
    _mark_kind: MarkKind
    _external: FloatArray
    _policy: npt.NDArray[np.int8]
    _weights: FloatArray
    _wealth0: FloatArray
    _book: MarketBook
    _sigma: FloatArray
    _m: FloatArray
    _sigma_series: FloatArray
    _triggered: BoolArray

    @property
    def config(self) -> MarketConfig:
        """The :class:`MarketConfig`."""
        return self._config

    @property
    def scenario(self) -> Scenario:
        """The :class:`Scenario`."""
        return self._scenario

    @property
    def control(self) -> Control:
        """The :class:`Control` in force."""
        return self._control

    @property
    def t(self) -> int:
        """The last step done (0 after the opening step)."""
        return self._t

    @property
    def mark_kind(self) -> MarkKind:
        """``"spot"`` or ``"twap"`` (the scenario's mark, else the config's)."""
        return self._mark_kind

    @property
    def external(self) -> FloatArray:
        """External prices, shape (n_pools, n_steps + 1)."""
        return _frozen(self._external)

    @property
    def side(self) -> FloatArray:
        """Each trader's side, +1.0 long, -1.0 short, shape (n_traders,)."""
        return _frozen(self._book.side)

    @property
    def policy(self) -> npt.NDArray[np.int8]:
        """Each trader's policy id in force (``vol_leverage`` turns HOLD/REBALANCE into
        VOL_ADJUSTED)."""
        return _frozen(self._policy)

    @property
    def weights(self) -> FloatArray:
        """Exposure weights over the pools, shape (n_pools, n_traders)."""
        return _frozen(self._weights)

    @property
    def wallet(self) -> FloatArray:
        """Each trader's B outside its positions, shape (n_traders,)."""
        return _frozen(self._book.wallet)

    @property
    def initial_wealth(self) -> FloatArray:
        """Each trader's wallet at the start."""
        return _frozen(self._wealth0)

    @property
    def q(self) -> FloatArray:
        """Position sizes in A (>= 0, 0 when flat), shape (n_pools, n_traders)."""
        return _frozen(self._book.q)

    @property
    def n(self) -> FloatArray:
        """Entry notionals (cost basis) in B of the positions."""
        return _frozen(self._book.n)

    @property
    def c(self) -> FloatArray:
        """Margin (collateral) in B of the positions; equity is :math:`C + s(qP - N)`."""
        return _frozen(self._book.c)

    @property
    def is_open(self) -> BoolArray:
        """Whether each (pool, trader) position is open."""
        return _frozen(self._book.is_open)

    @property
    def x(self) -> FloatArray:
        """The pools' reserves of A, shape (n_pools,)."""
        return _frozen(self._book.x)

    @property
    def y(self) -> FloatArray:
        """The pools' reserves of B, shape (n_pools,)."""
        return _frozen(self._book.y)

    @property
    def fund(self) -> float:
        """The insurance fund's balance in B."""
        return self._book.fund

    @property
    def bad_debt(self) -> float:
        """Bad debt so far, in B."""
        return self._book.bad_debt

    @property
    def sigma(self) -> FloatArray:
        """The pools' annualised EWMA volatility, shape (n_pools,)."""
        return _frozen(self._sigma)

    @property
    def maintenance(self) -> FloatArray:
        """The maintenance rate in force per pool (E17 under ``dynamic_maintenance``)."""
        return _frozen(self._m)

    @property
    def sigma_series(self) -> FloatArray:
        """EWMA volatility after each step, shape (n_pools, n_steps + 1); filled up to :attr:`t`."""
        return _frozen(self._sigma_series)

    @property
    def triggered(self) -> BoolArray:
        """Steps at which the circuit breaker triggered, shape (n_steps + 1,)."""
        return _frozen(self._triggered)


class Market(MarketState):
    """The simulation: traders, pools, arbitrageurs, liquidation engine and insurance fund.

    Its state is private; read it through the read-only properties of :class:`MarketState`
    (numpy views that cannot be written, pool axis first), :meth:`view` (a :class:`MarketView`
    snapshot at the mark) or :meth:`result`. It changes only through :meth:`step` and
    :meth:`run`.

    Parameters
    ----------
    config : MarketConfig
    population : Population
    external : array_like, shape (n_pools, n_steps + 1)
        External prices; column 0 must be ``price0``.
    scenario : Scenario, default ``BASELINE``
    control : Control, default no control
    policy : callable, optional
        Trained policy (``Policy``); required if any trader's policy is AGENT.
    record_wealth : bool, default False
    rng : numpy.random.Generator, optional
        The run's generator, after the population and the paths were drawn from it; required
        when ``config.needs_rng`` (``stagger``, ``monitor_substeps > 1``, ``barrier_bridge``).

    Examples
    --------
    >>> cfg = MarketConfig(n_traders=200, n_steps=48)
    >>> rng = np.random.default_rng(1)
    >>> pop = make_population(cfg, BASELINE, rng)
    >>> mkt = Market(cfg, pop, external_paths(cfg, BASELINE, rng))
    >>> res = mkt.run()
    >>> bool(res.residual.max() < 1e-9), res.liquidations.shape
    (True, (49,))
    >>> mkt.t, mkt.q.shape, mkt.q.flags.writeable  # read-only state
    (48, (1, 200), False)
    """

    def __init__(
        self,
        config: MarketConfig,
        population: Population,
        external: npt.ArrayLike,
        scenario: Scenario = BASELINE,
        control: Control | None = None,
        *,
        policy: Policy | None = None,
        record_wealth: bool = False,
        rng: np.random.Generator | None = None,
    ) -> None:
        cfg = config
        if cfg.needs_rng and rng is None:
            raise ValueError(
                "rng must be given with stagger, monitor_substeps > 1 or barrier_bridge"
            )
        ctl = Control() if control is None else control
        ext = _check_inputs(cfg, population, external, ctl)
        n_p, n_t, n = cfg.n_pools, cfg.n_steps, len(population)
        policies = population.policy.copy()
        if ctl.vol_leverage:
            policies[(policies == HOLD) | (policies == REBALANCE)] = VOL_ADJUSTED
        if np.any(policies == AGENT) and policy is None:
            raise ValueError("policy must be given when some traders' policy is AGENT")
        self._config, self._scenario, self._control = cfg, scenario, ctl
        self._mark_kind: MarkKind = scenario.mark if scenario.mark is not None else cfg.mark
        self._external = ext
        self._policy_fn = policy
        self._policy = policies
        self._leverage = population.leverage.astype(np.float64)
        self._weights = entropy_weights(
            n_p, 0.0 if ctl.entropy is None else ctl.entropy, population.home
        )
        self._entropy = float(np.mean(exposure_entropy(self._weights.T)))
        self._wealth0 = population.wealth.astype(np.float64).copy()
        self._rng = rng
        reopen = np.where(self._weights > 0, 0, np.iinfo(np.int64).max).astype(np.int64)
        self._phase: IntArray | None = None
        if cfg.stagger:
            assert rng is not None
            self._phase = rng.integers(0, cfg.rebalance_every, size=n).astype(np.int64)
            reopen = np.maximum(reopen, self._phase[None, :])
        self._book = MarketBook(  # positions, pools, fund and the other accounts
            population.side.astype(np.float64), self._wealth0, n_p,
            cfg.pool_liquidity / cfg.price0, cfg.pool_liquidity, fee=cfg.fee,
            liquidation_penalty=cfg.liquidation_penalty, insurance_fund=cfg.insurance_fund,
            cooldown=cfg.cooldown,
            reopen_at=reopen,
        )  # fmt: skip
        # volatility state
        self._var = np.full(n_p, cfg.sigma**2 * cfg.dt)
        self._sigma = np.full(n_p, cfg.sigma)
        self._ema = self._sigma.copy()
        self._m = np.full(n_p, cfg.maintenance_rate)
        self._pause_until = -1
        self._t = 0
        self._prev_spot = self._book.x * 0.0 + self._book.y / self._book.x
        self._twap_buf = np.tile(self._prev_spot[:, None], (1, cfg.twap_window))
        # records
        self._pool_price = np.empty((n_p, n_t + 1))
        self._post_price = np.empty((n_p, n_t + 1))
        self._m_series = np.empty((n_p, n_t + 1))
        self._sigma_series = np.empty((n_p, n_t + 1))
        self._liq_count = np.zeros(n_t + 1, dtype=np.int64)
        self._cascade = np.zeros(n_t + 1, dtype=np.int64)
        self._paused = np.zeros(n_t + 1, dtype=bool)
        self._triggered = np.zeros(n_t + 1, dtype=bool)
        self._residual = np.zeros(n_t + 1)
        self._events: list[tuple[float, ...]] = []
        self._liq_volume = 0.0
        self._wealth = np.empty((n_t + 1, n)) if record_wealth else None
        self._rejected, self._funding = np.zeros(n_t + 1), np.zeros(n_t + 1)
        self._hunter_pnl = np.zeros(n_t + 1)
        self._hunter_attacks = np.zeros(n_t + 1, dtype=np.int64)
        self._burn_debt, self._burn_wealth = 0.0, self._wealth0
        # step 0: everyone opens
        self._actions(0)
        self._bookkeeping(0)

    def equity(self) -> FloatArray:
        """Equity :math:`C + s(qP - N)` of every position at the mark, per (pool, trader)."""
        return self._book.equity(self._marks())

    def view(self) -> MarketView:
        """A snapshot of the state at the mark: what a trained policy sees (copies)."""
        return self._view(self._t, self._marks())

    def trader_wealth(self) -> FloatArray:
        """Each trader's wallet plus the positive part of its positions' equity at the spot."""
        return self._book.trader_wealth()

    # -- the step ------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance one step (module docstring, order of events).

        Raises
        ------
        RuntimeError
            If the run is over, or the conservation check fails.
        """
        t = self._t + 1
        if t > self._config.n_steps:
            raise RuntimeError("the run is over")
        self._t = t
        self._withdrawal(t)
        if self._config.monitor_substeps > 1 or self._config.barrier_bridge:
            self._monitor(t)
        ext = self._external[:, t]
        self._book.arbitrage(ext)
        self._volatility_and_controls(t)
        paused = t <= self._pause_until
        self._paused[t] = paused
        cfg = self._config
        if cfg.funding_rate > 0.0 and t % cfg.funding_every == 0:
            self._funding[t] = self._book.funding(cfg.funding_rate, cfg.funding_basis,
                                                  self._marks(), ext)  # fmt: skip
        if not paused:
            self._actions(t)
            self._liquidate(t, ext, hunt=self._config.hunter_budget is not None)
        self._post_price[:, t] = self._book.y / self._book.x
        self._book.arbitrage(ext)
        self._bookkeeping(t)

    def run(self) -> RunResult:
        """Run the remaining steps and measure (see :class:`RunResult`)."""
        while self._t < self._config.n_steps:
            self.step()
        return self.result()

    def result(self) -> RunResult:
        """The measurements so far (a full run: :meth:`run`)."""
        cfg = self._config
        counted = np.arange(cfg.n_steps + 1) > cfg.burn_in
        episodes = _episodes(self._paused)
        false = sum(
            1
            for start in episodes
            if _is_false_pause(self._external, start, cfg.false_pause_horizon, cfg.stress_move)
        )
        return RunResult(
            scenario=self._scenario.name,
            control=self._control.name,
            n_liquidations=int(self._liq_count[counted].sum()),
            liquidation_volume=self._liq_volume,
            bad_debt=self._book.bad_debt - self._burn_debt,
            insurance_fund=self._book.fund,
            liquidations=self._liq_count.copy(),
            cascade=self._cascade.copy(),
            paused=self._paused.copy(),
            pause_episodes=len(episodes),
            false_pauses=false,
            log_growth=np.log(self.trader_wealth() / self._burn_wealth),
            entropy=self._entropy,
            pool_price=self._pool_price.copy(),
            post_cascade_price=self._post_price.copy(),
            external=self._external.copy(),
            maintenance=self._m_series.copy(),
            residual=self._residual.copy(),
            events=_event_columns(self._events),
            wealth=None if self._wealth is None else self._wealth.copy(),
            counted=counted,
            rejected=self._rejected.copy(),
            funding=self._funding.copy(),
            hunter_pnl=self._hunter_pnl.copy(),
            hunter_attacks=self._hunter_attacks.copy(),
        )

    # -- phases of a step ----------------------------------------------------------------------

    def _withdrawal(self, t: int) -> None:
        """Scenario: LPs burn ``withdrawal_fraction`` of every pool's reserves."""
        if self._scenario.withdrawal_step == t:
            self._book.withdraw(self._scenario.withdrawal_fraction)

    def _volatility_and_controls(self, t: int) -> None:
        """EWMA volatility of the post-arbitrage spot, circuit breaker (E19), m_t (E17), TWAP."""
        cfg, ctl = self._config, self._control
        spot = self._book.y / self._book.x
        r = np.log(spot / self._prev_spot)
        self._prev_spot = spot.copy()
        lam = cfg.ewma_lambda
        self._var = lam * self._var + (1.0 - lam) * r * r
        self._sigma = np.sqrt(self._var / cfg.dt)
        if ctl.circuit_breaker and np.any(self._sigma > cfg.breaker_theta * self._ema):
            self._triggered[t] = True
            self._pause_until = max(self._pause_until, t + cfg.pause_steps - 1)
        a = cfg.breaker_alpha
        self._ema = a * self._sigma + (1.0 - a) * self._ema
        if ctl.dynamic_maintenance:
            self._m = np.minimum(cfg.maintenance_rate * (1.0 + cfg.eta * self._sigma), 0.99)
        self._twap_buf[:, :-1] = self._twap_buf[:, 1:]
        self._twap_buf[:, -1] = spot

    def _actions(self, t: int) -> None:
        """Trader actions: targets, then per pool the opens and resizes cleared at one price."""
        cfg = self._config
        marks = self._marks()
        tgt = self._targets(t, marks)
        rebalance_now: bool | BoolArray = t > 0 and t % cfg.rebalance_every == 0
        if self._phase is not None:
            rebalance_now = (t > 0) & ((t - self._phase) % cfg.rebalance_every == 0)
        snapshot = self._book.wallet.copy()
        capped = cfg.oi_cap is not None or cfg.position_cap is not None
        for j in range(cfg.n_pools):
            want, opening, margin = self._orders(j, t, tgt[j], float(marks[j]), snapshot,
                                                 rebalance_now)  # fmt: skip
            if capped:
                bk = self._book
                want, scale, rej = limit_orders(want, bk.q[j], bk.side, bk.is_open[j],
                                                float(marks[j]), float(bk.y[j]), cfg.oi_cap,
                                                cfg.position_cap)  # fmt: skip
                margin = margin * scale
                opening &= margin > 0
                self._rejected[t] += rej
            if want.any():
                self._book.fill(j, t, want, opening, margin, self._book.clear(j, want))

    def _liquidate(self, t: int, ext: FloatArray, hunt: bool = False) -> None:
        """Liquidation cascade of every pool (:meth:`levpaper.market_book.MarketBook.cascade`),
        wrapped in the hunter's attack when ``hunt``; ``ext`` the external prices in force."""
        cfg, bk = self._config, self._book
        marks = self._marks()
        spot_mark = self._mark_kind == "spot"
        between = cfg.arbitrage_between_liquidations
        for j in range(cfg.n_pools):
            if not bk.is_open[j].any():
                continue
            m, mark = float(self._m[j]), float(marks[j])
            arb = float(ext[j]) if between else None
            target = None
            if hunt and spot_mark:
                target = bk.hunt(j, t, m, float(cfg.hunter_budget or 0.0), cfg.hunter_overshoot,
                                 cfg.hunter_profitable_only, arb)  # fmt: skip
            if target is None:
                evs = bk.cascade(j, t, m, mark, spot_mark, arb)
            else:
                evs, pnl = bk.hunted_cascade(j, t, m, target, arb)
                self._hunter_pnl[t] += pnl
                self._hunter_attacks[t] += 1
            if not evs:
                continue
            self._liq_count[t] += len(evs)
            self._cascade[t] += sum(ev[9] for ev in evs)
            for ev in evs:
                if t > cfg.burn_in:
                    self._liq_volume += ev[5]
                self._events.append((t, j, *ev[:9], float(ev[9])))

    def _bookkeeping(self, t: int) -> None:
        """Records of step ``t`` and the conservation check."""
        spot = self._book.y / self._book.x
        self._pool_price[:, t] = spot
        if t == 0:
            self._post_price[:, 0] = spot
        self._m_series[:, t] = self._m
        self._sigma_series[:, t] = self._sigma
        if self._wealth is not None:
            self._wealth[t] = self.trader_wealth()
        if t == self._config.burn_in and t > 0:
            self._burn_debt, self._burn_wealth = self._book.bad_debt, self.trader_wealth()
        if self._config.check_conservation:
            r = self._book.conservation()
            self._residual[t] = r
            if not r <= self._config.conservation_tol:
                raise RuntimeError(f"conservation residual {r:.3g} at step {t} exceeds tolerance")

    def _monitor(self, t: int) -> None:
        """Liquidation checks inside the step: the pool arbitraged to each point of
        :func:`monitor_points` and, unless a pause covers step ``t``, the cascade there."""
        assert self._rng is not None
        for point in _step_points(self._config, self._scenario, self._external, t, self._rng):
            self._book.arbitrage(point)
            if t > self._pause_until:
                self._liquidate(t, point)

    # -- pieces of the phases ------------------------------------------------------------------

    def _marks(self) -> FloatArray:
        if self._mark_kind == "spot":
            return np.asarray(self._book.y / self._book.x, dtype=np.float64)
        return np.asarray(self._twap_buf.mean(axis=1), dtype=np.float64)

    def _view(self, t: int, marks: FloatArray) -> MarketView:
        bk = self._book
        eq = bk.equity(marks)
        with np.errstate(divide="ignore", invalid="ignore"):
            lev = np.where(bk.is_open & (eq > 0), bk.q * marks[:, None] / eq, 0.0)
        return MarketView(
            t, marks.copy(), self._sigma.copy(), self._m.copy(), bk.side.astype(np.int8),
            bk.is_open.copy(), bk.q.copy(), bk.c.copy(), eq, lev, bk.wallet.copy(), bk.x.copy(),
            bk.y.copy(), self._wealth0.copy(),
        )  # fmt: skip

    def _targets(self, t: int, marks: FloatArray) -> FloatArray:
        """Target leverage per (pool, trader); NaN keeps the position as it is."""
        cfg = self._config
        tgt = np.broadcast_to(self._leverage, self._book.q.shape).copy()
        vol = self._policy == VOL_ADJUSTED
        if vol.any():
            lstar = vol_adjusted_leverage(
                self._sigma, cfg.kappa, cfg.dt, max_leverage=cfg.max_leverage
            )
            tgt[:, vol] = np.minimum(tgt[:, vol], lstar[:, None])
        agent = self._policy == AGENT
        if agent.any():
            assert self._policy_fn is not None
            view = self._view(t, marks)
            out = np.broadcast_to(np.asarray(self._policy_fn(view), dtype=np.float64), tgt.shape)
            a = np.clip(out[:, agent], 0.0, cfg.max_leverage)
            a = np.where(a * self._m[:, None] >= 1.0, np.nan, a)
            tgt[:, agent] = a
        return tgt

    def _orders(
        self, j: int, t: int, tgt: FloatArray, mark: float, snapshot: FloatArray,
        rebalance_now: bool | BoolArray,
    ) -> tuple[FloatArray, BoolArray, FloatArray]:  # fmt: skip
        """Pool ``j``'s signed A orders (buy > 0), which traders open and their margins."""
        cfg, pol, bk = self._config, self._policy, self._book
        side = bk.side
        agent = pol == AGENT  # a trained policy may open below 1x
        opening = (~bk.is_open[j]) & (t >= bk.reopen_at[j]) & (snapshot > 0)
        opening &= np.isfinite(tgt) & ((tgt >= 1.0) | (agent & (tgt > 0.0)))
        margin = np.where(opening, cfg.stake * snapshot * self._weights[j], 0.0)
        opening &= margin > 0
        x, y = float(bk.x[j]), float(bk.y[j])
        spot = y / x
        impact = cfg.impact_sizing
        g = kernel.fee_factor(cfg.fee)
        want = np.zeros(bk.q.shape[1])
        if impact:  # the A a trader alone gets for (long) or sells for (short) L C of B
            want[opening] = kernel.trade_notional(side[opening] * margin[opening] * tgt[opening],
                                                  x, y, g)[0]  # fmt: skip
        else:
            want[opening] = side[opening] * margin[opening] * tgt[opening] / spot
        resize = bk.is_open[j] & np.isfinite(tgt)
        resize &= agent | (rebalance_now & ((pol == REBALANCE) | (pol == VOL_ADJUSTED)))
        if resize.any():
            q, eq = bk.q[j], bk.c[j] + side * (bk.q[j] * mark - bk.n[j])
            q_star = np.where(eq > 0, tgt * np.maximum(eq, 0.0) / mark, 0.0)
            q_star = np.where(agent, q_star, np.where(eq > 0, q_star, q))
            delta = np.where(resize, q_star - q, 0.0)
            if impact:  # a growth of (q* - q) P of B, sized at its execution price
                grow = np.abs(
                    kernel.trade_notional(side * np.maximum(delta, 0.0) * mark, x, y, g)[0]
                )
                delta = np.where(delta > 0, grow, delta)
            want += side * delta
        return want, opening, margin


def _event_columns(rows: list[tuple[float, ...]]) -> dict[str, npt.NDArray[np.generic]]:
    """The liquidation events as columns (:attr:`RunResult.events`)."""
    ev = np.asarray(rows, dtype=np.float64).reshape(-1, len(_EVENT_FIELDS))
    events: dict[str, npt.NDArray[np.generic]] = {}
    for k, name in enumerate(_EVENT_FIELDS):
        col = ev[:, k]
        if name in ("step", "pool", "trader", "side"):
            events[name] = col.astype(np.int64)
        elif name == "induced":
            events[name] = col.astype(bool)
        else:
            events[name] = col
    return events


def _episodes(paused: BoolArray) -> list[int]:
    """Start steps of the maximal runs of True in ``paused``."""
    p = np.asarray(paused, dtype=bool)
    starts = np.flatnonzero(p & ~np.r_[False, p[:-1]])
    return [int(s) for s in starts]


def _is_false_pause(external: FloatArray, start: int, horizon: int, move: float) -> bool:
    ref = external[:, start - 1]
    window = external[:, start : start + horizon + 1]
    return bool(np.all(np.abs(np.log(window / ref[:, None])) < move))


def _step_points(
    config: MarketConfig, scenario: Scenario, external: FloatArray, t: int,
    rng: np.random.Generator,
) -> list[FloatArray]:  # fmt: skip
    """The prices of step ``t``'s liquidation checks inside the step (:func:`monitor_points`):
    the bridge of the step's diffusion (the scenario's volatility window as
    :func:`external_paths` places it), a crash jump after it."""
    a, n = scenario.vol_start, scenario.vol_length
    window = n > 0 and max(a - 1, 0) <= t - 1 < max(a - 1 + n, 0)
    s = config.sigma * (scenario.vol_factor if window else 1.0)
    jump = math.log1p(-scenario.crash_size) if scenario.crash_step == t else 0.0
    before = external[:, t] * math.exp(-jump)
    points = monitor_points(external[:, t - 1], before, s * s * config.dt,
                            config.monitor_substeps, config.barrier_bridge, config.correlation,
                            rng)  # fmt: skip
    if jump != 0.0:
        points.append(before)
    return points


def bridge_extremes(
    x0: FloatArray, x1: FloatArray, variance: float, u_min: FloatArray, u_max: FloatArray
) -> tuple[FloatArray, FloatArray]:
    r"""Minimum and maximum of a Brownian bridge of :math:`\ln p` from ``x0`` to ``x1``.

    For a bridge of variance :math:`v = \sigma^2\Delta t` and a barrier :math:`b` below both
    ends, :math:`P(\min < b) = \exp(-2(x_0 - b)(x_1 - b)/v)`; inverting it at a uniform
    :math:`u` gives :math:`\min = \big(x_0 + x_1 - \sqrt{(x_1 - x_0)^2 - 2v\ln u}\big)/2`,
    and the maximum symmetrically. So :math:`\min < \ln a` exactly when the crossing probability
    :math:`\exp(-2\ln(a/P_0)\ln(a/P_1)/v)` exceeds :math:`u`.

    Examples
    --------
    >>> lo, hi = bridge_extremes(np.zeros(1), np.zeros(1), 1e-4, np.array([0.5]), np.array([0.5]))
    >>> round(float(lo[0]), 6), round(float(hi[0]), 6)  # sqrt(2 ln 2 v) / 2 either way
    (-0.005887, 0.005887)
    >>> b = float(lo[0]) + 1e-9  # a barrier just above the minimum: probability just above u
    >>> round(math.exp(-2 * (0 - b) * (0 - b) / 1e-4), 6)
    0.5
    """
    d2 = (x1 - x0) ** 2
    lo = 0.5 * (x0 + x1 - np.sqrt(d2 - 2.0 * variance * np.log(u_min)))
    hi = 0.5 * (x0 + x1 + np.sqrt(d2 - 2.0 * variance * np.log(u_max)))
    return lo, hi


def monitor_points(
    p0: FloatArray, p1: FloatArray, variance: float, substeps: int, extremes: bool,
    correlation: float, rng: np.random.Generator,
) -> list[FloatArray]:  # fmt: skip
    r"""External prices visited inside one step, in time order, from ``p0`` towards ``p1``.

    The step is cut into ``substeps`` intervals; the log price at the interior ends is drawn
    from the Brownian bridge of total variance ``variance`` (the normals equicorrelated across
    pools with ``correlation``); with ``extremes``, each interval adds its minimum and maximum
    (:func:`bridge_extremes`, drawn independently, in an order given by a fair coin). ``p1``
    itself is not included. Draws: ``(substeps - 1)`` common and own normals, then per interval
    two uniforms per pool and one for the order.

    Examples
    --------
    >>> pts = monitor_points(np.array([100.0]), np.array([101.0]), 1e-4, 4, True, 0.9,
    ...                      np.random.default_rng(0))
    >>> len(pts), all(p.shape == (1,) for p in pts)  # 3 interior points, 2 extremes each of 4
    (11, True)
    >>> monitor_points(np.array([100.0]), np.array([101.0]), 1e-4, 1, False, 0.9,
    ...                np.random.default_rng(0))
    []
    """
    k, n_p = substeps, p0.shape[0]
    x_end = np.log(p1)
    ends = [np.log(p0)]
    if k > 1:
        z = math.sqrt(correlation) * rng.standard_normal((k - 1, 1))
        z = z + math.sqrt(1.0 - correlation) * rng.standard_normal((k - 1, n_p))
        for i in range(1, k):
            rest = 1.0 - (i - 1) / k  # time left from the previous end, in steps
            h = 1.0 / k
            mean = ends[-1] + (x_end - ends[-1]) * (h / rest)
            ends.append(mean + np.sqrt(variance * h * (rest - h) / rest) * z[i - 1])
    ends.append(x_end)
    out: list[FloatArray] = []
    for i in range(k):
        if extremes:
            u = rng.random((2, n_p))
            lo, hi = bridge_extremes(ends[i], ends[i + 1], variance / k, u[0], u[1])
            pair = [np.exp(lo), np.exp(hi)]
            out.extend(pair if rng.random() < 0.5 else pair[::-1])
        if i < k - 1:
            out.append(np.exp(ends[i + 1]))
    return out


# --- measurements -------------------------------------------------------------------------------


def run_scenario(
    config: MarketConfig,
    scenario: Scenario = BASELINE,
    control: Control | None = None,
    seed: int | np.random.SeedSequence = 0,
    *,
    policy: Policy | None = None,
    record_wealth: bool = False,
    paths: npt.ArrayLike | None = None,
) -> RunResult:
    """One run: traders and paths from ``seed`` (the same for every scenario and control).

    ``paths`` (shape ``(n_pools, n_steps + 1)``, column 0 = ``price0``), if given, are the
    external prices in place of :func:`external_paths` (a real or bootstrapped series,
    :meth:`levpaper.replay.BlockBootstrap.market_paths`); the traders are still drawn from
    ``seed``, so a run on given paths and a run on GBM paths with the same seed have the same
    traders, and the scenario acts on the traders only (its volatility window and crash are
    part of :func:`external_paths`).

    Examples
    --------
    >>> cfg = MarketConfig(n_traders=300, n_steps=48, leverage_range=(50.0, 100.0))
    >>> crash = Scenario("crash", crash_step=24)
    >>> a = run_scenario(cfg, crash, seed=3)
    >>> b = run_scenario(cfg, crash, seed=3)
    >>> a.n_liquidations == b.n_liquidations > 0, bool(a.residual.max() < 1e-9)
    (True, True)
    >>> fall = 2500.0 * np.exp(np.linspace(0.0, -0.2, 49))[None, :]
    >>> flat = np.full((1, 49), 2500.0)
    >>> run_scenario(cfg, seed=3, paths=fall).n_liquidations > run_scenario(
    ...     cfg, seed=3, paths=flat).n_liquidations
    True
    """
    rng = np.random.default_rng(seed)
    pop = make_population(config, scenario, rng)
    ext = external_paths(config, scenario, rng) if paths is None else paths
    mkt = Market(config, pop, ext, scenario, control, policy=policy, record_wealth=record_wealth,
                 rng=rng)  # fmt: skip
    return mkt.run()


def run_many(
    config: MarketConfig,
    scenario: Scenario,
    controls: Sequence[Control],
    n_runs: int,
    seed: int = 0,
    *,
    policy: Policy | None = None,
    paths: npt.ArrayLike | None = None,
) -> dict[str, dict[str, float | FloatArray]]:
    """``n_runs`` runs per control, run ``k`` of every control on the same traders and paths.

    ``paths`` (shape ``(n_runs, n_pools, n_steps + 1)``), if given, holds the external prices
    of each run (:func:`run_scenario`'s ``paths``).

    Returns
    -------
    dict
        Per control name: arrays per run (``bad_debt``, ``liquidation_volume``,
        ``liquidations``, ``max_cascade``, ``cascade_total``, ``pause_steps``,
        ``false_pauses``, ``mean_log_growth``; over the counted steps, ``rejected`` notional,
        ``funding`` paid and ``hunter_pnl``) and the summaries ``p95_bad_debt``,
        ``p95_liquidation_volume`` (:mod:`levpaper.risk`) and the means.

    Examples
    --------
    >>> cfg = MarketConfig(n_traders=100, n_steps=24)
    >>> out = run_many(cfg, BASELINE, standard_controls()[:2], n_runs=2)
    >>> sorted(out), out["none"]["bad_debt"].shape
    (['dynamic_maintenance', 'none'], (2,))
    """
    runs = positive_int("n_runs", n_runs)
    seeds = np.random.SeedSequence(seed).spawn(runs)
    ext: list[FloatArray | None] = [None] * runs
    if paths is not None:
        arr = np.asarray(paths, dtype=np.float64)
        shape = (runs, config.n_pools, config.n_steps + 1)
        if arr.shape != shape:
            raise ValueError(f"paths must have shape {shape}, got {arr.shape}")
        ext = list(arr)
    out: dict[str, dict[str, float | FloatArray]] = {}
    for ctl in controls:
        rows = [
            run_scenario(config, scenario, ctl, s, policy=policy, paths=e)
            for s, e in zip(seeds, ext, strict=True)
        ]
        cols: dict[str, FloatArray] = {
            "bad_debt": np.array([r.bad_debt for r in rows]),
            "liquidation_volume": np.array([r.liquidation_volume for r in rows]),
            "liquidations": np.array([r.n_liquidations for r in rows], dtype=np.float64),
            "max_cascade": np.array([r.max_cascade for r in rows], dtype=np.float64),
            "cascade_total": np.array([r.cascade_total for r in rows], dtype=np.float64),
            "pause_steps": np.array([r.paused.sum() for r in rows], dtype=np.float64),
            "false_pauses": np.array([r.false_pauses for r in rows], dtype=np.float64),
            "mean_log_growth": np.array([r.mean_log_growth for r in rows]),
            "rejected": np.array([r.rejected[r.counted].sum() for r in rows]),
            "funding": np.array([r.funding[r.counted].sum() for r in rows]),
            "hunter_pnl": np.array([r.hunter_pnl[r.counted].sum() for r in rows]),
        }
        summary: dict[str, float | FloatArray] = dict(cols)
        summary["p95_bad_debt"] = p95_bad_debt(cols["bad_debt"]).value
        summary["p95_liquidation_volume"] = p95_liquidation_volume(cols["liquidation_volume"]).value
        for name, col in cols.items():
            summary[f"mean_{name}"] = float(col.mean())
        out[ctl.name] = summary
    return out


def stress_table(
    config: MarketConfig,
    scenarios: Sequence[Scenario],
    controls: Sequence[Control],
    n_runs: int,
    seed: int = 0,
    *,
    paths: npt.ArrayLike | None = None,
) -> list[dict[str, float | str]]:
    """Every scenario x every control: one row each, common random numbers throughout.

    ``paths`` (shape ``(n_runs, n_pools, n_steps + 1)``), if given, are the external prices of
    the runs of every scenario (:func:`run_many`); the scenarios then differ in their traders
    only.

    Each row: scenario, control, p95 bad debt, p95 liquidation volume, mean liquidations, mean
    largest cascade, mean induced liquidations, mean paused steps, mean false pauses and mean
    traders' log growth.

    Examples
    --------
    >>> cfg = MarketConfig(n_traders=50, n_steps=20)
    >>> rows = stress_table(cfg, standard_scenarios(20)[:2], standard_controls()[:2], n_runs=1)
    >>> len(rows), rows[0]["scenario"], rows[1]["control"]
    (4, 'baseline', 'dynamic_maintenance')
    """
    rows: list[dict[str, float | str]] = []
    for sc in scenarios:
        res = run_many(config, sc, controls, n_runs, seed, paths=paths)
        for ctl in controls:
            r = res[ctl.name]
            rows.append(
                {
                    "scenario": sc.name,
                    "control": ctl.name,
                    "p95_bad_debt": float(r["p95_bad_debt"]),
                    "p95_liquidation_volume": float(r["p95_liquidation_volume"]),
                    "liquidations": float(r["mean_liquidations"]),
                    "max_cascade": float(r["mean_max_cascade"]),
                    "cascade_total": float(r["mean_cascade_total"]),
                    "pause_steps": float(r["mean_pause_steps"]),
                    "false_pauses": float(r["mean_false_pauses"]),
                    "log_growth": float(r["mean_mean_log_growth"]),
                }
            )
    return rows


def variance_amplification(
    config: MarketConfig,
    leverages: Sequence[float],
    seed: int = 0,
    scenario: Scenario = BASELINE,
    n_runs: int = 1,
) -> dict[str, FloatArray]:
    r"""System-level variance against leverage (E16), one homogeneous population per :math:`L`.

    For each :math:`L` every trader holds leverage :math:`L` (hold policy, stake 1, so a
    trader's wealth is its position's equity), on the same ``n_runs`` paths (common random
    numbers: run ``k`` of every :math:`L` has the seed ``SeedSequence(seed).spawn(n_runs)[k]``).
    Reports per :math:`L`, pooled over the runs:

    * ``trader_var``: variance of the traders' one-step wealth returns over the steps that start
      with the position open and above maintenance at the spot (a position below it is due for
      liquidation: an opening at high leverage in a shallow pool, whose fee and price impact
      take most of the margin, or one that the restoring arbitrage leaves below maintenance,
      since the liquidation check comes before it; the one-step return on what is left of its
      equity is not the return of a position at leverage :math:`L`), against ``l2_var``
      :math:`= L^2\,\mathrm{Var}(\Delta P/P)` of the pool's end-of-step spot returns (E16 for a
      position whose leverage stays :math:`L`). A held position's leverage drifts (up as it
      loses, down as it gains) and liquidation removes it near its barrier, so the ratio is
      not 1;
    * ``pool_amplification``: variance of the pool's post-cascade log return (after the traders'
      trades and liquidations, before the restoring arbitrage) over the variance of its
      end-of-step log return (after that arbitrage): 1 when the traders never move the pool, > 1
      when liquidation sales push it beyond the external move. (The pool's end-of-step return,
      not the external one, is the reference: the fee-aware arbitrage leaves the pool at the edge
      of its no-arbitrage band, so at 80% volatility and a 0.3% fee the pool's hourly log return
      has about 0.6 of the external one's variance with no trader at all.)

    and per :math:`L` and run (shape ``(len(leverages), n_runs)``) the same ratios for each run
    alone, ``run_ratio`` (trader_var over l2_var) and ``run_amplification``.

    Raises
    ------
    ValueError
        If ``config.n_pools`` is not 1, or ``n_runs`` < 1.

    Examples
    --------
    >>> cfg = MarketConfig(n_traders=100, n_steps=48, cooldown=None)
    >>> out = variance_amplification(cfg, [2.0, 20.0], n_runs=2)
    >>> np.round(out["trader_var"] / out["l2_var"], 1).tolist()  # leverage drifts up as it loses
    [1.0, 1.9]
    >>> out["pool_amplification"].tolist(), out["run_ratio"].shape  # deep pool: no amplification
    ([1.0, 1.0], (2, 2))
    """
    if config.n_pools != 1:
        raise ValueError(f"config.n_pools must be 1, got {config.n_pools}")
    seeds = np.random.SeedSequence(seed).spawn(positive_int("n_runs", n_runs))
    levs = np.asarray(leverages, dtype=np.float64)
    shape = (levs.shape[0], len(seeds))
    run_ratio, run_amp = np.empty(shape), np.empty(shape)
    trader_var, l2_var, amp = (np.empty(levs.shape[0]) for _ in range(3))
    for k, lev in enumerate(levs):
        cfg = replace(
            config, leverage_range=(float(lev), float(lev)), stake=1.0, policy_mix=(1, 0, 0, 0)
        )
        rets, moves, posts, pools = [], [], [], []
        for r, sd in enumerate(seeds):
            rng = np.random.default_rng(sd)  # as run_scenario
            pop = make_population(cfg, scenario, rng)
            ext = external_paths(cfg, scenario, rng)
            mkt = Market(cfg, pop, ext, scenario, record_wealth=True, rng=rng)
            size = mkt.q[0].copy()  # a held position keeps its size until it closes
            with np.errstate(divide="ignore", invalid="ignore"):  # wealth 0 after a liquidation
                res = mkt.run()
            assert res.wealth is not None
            w, spot = res.wealth, res.pool_price[0]
            # a step counts if the position is open at its start (never closed before) and above
            # maintenance at the spot (wealth = equity with stake 1)
            closed = np.zeros_like(w, dtype=bool)
            closed[res.events["step"], res.events["trader"]] = True
            live = ~np.maximum.accumulate(closed, axis=0)[:-1]
            live &= w[:-1] > cfg.maintenance_rate * size * spot[:-1, None]
            ret = w[1:][live] / w[:-1][live] - 1.0
            move = spot[1:] / spot[:-1] - 1.0
            post = np.log(res.post_cascade_price[0, 1:] / spot[:-1])
            pool = np.log(spot[1:] / spot[:-1])
            run_ratio[k, r] = np.var(ret) / (lev * lev * np.var(move))
            run_amp[k, r] = np.var(post) / np.var(pool)
            rets.append(ret)
            moves.append(move)
            posts.append(post)
            pools.append(pool)
        trader_var[k] = np.var(np.concatenate(rets))
        l2_var[k] = lev * lev * np.var(np.concatenate(moves))
        amp[k] = np.var(np.concatenate(posts)) / np.var(np.concatenate(pools))
    return {
        "leverage": levs,
        "trader_var": trader_var,
        "l2_var": l2_var,
        "pool_amplification": amp,
        "run_ratio": run_ratio,
        "run_amplification": run_amp,
    }


def conservation_residuals(
    config: MarketConfig,
    scenario: Scenario = BASELINE,
    control: Control | None = None,
    seed: int = 0,
) -> FloatArray:
    """Largest relative per-token conservation residual after every step of one run.

    Examples
    --------
    >>> r = conservation_residuals(MarketConfig(n_traders=50, n_steps=10))
    >>> r.shape, bool(r.max() < 1e-12)
    ((11,), True)
    """
    cfg = replace(config, check_conservation=True, conservation_tol=1e300)
    return run_scenario(cfg, scenario, control, seed).residual

r"""The paper's decision problem (section 3.1, ledger rows E9-E11) as a Gymnasium environment.

:class:`LeveragedSwapEnv` is one leveraged trader on the reference market of the ledger
(``book/ledger.toml``, rows E1-E8):
a constant-product pool of A against B that is the counterparty of every trade, arbitrageurs that
trade it toward an external price, a margin account marked at the pool price, a liquidation engine
with an insurance fund and bad debt. :class:`levpaper.vector_env.LeveragedSwapVectorEnv` steps
``N`` copies at once in numpy with bit-identical trajectories.

``import levpaper`` registers both under ``"levpaper/LeveragedSwap-v0"``:

>>> import gymnasium as gym
>>> import levpaper.env
>>> env = gym.make("levpaper/LeveragedSwap-v0", action_mode="box", max_leverage=5.0)
>>> obs, info = env.reset(seed=0)
>>> obs.shape, env.action_space.shape
((14,), (2,))
>>> envs = gym.make_vec("levpaper/LeveragedSwap-v0", num_envs=8)
>>> envs.reset(seed=0)[0].shape
(8, 14)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from math import copysign, sqrt
from typing import Any, Literal, NamedTuple, Protocol, SupportsFloat

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from levpaper import _market_kernel as mk
from levpaper import kernel
from levpaper._market_kernel import BLOCK, ReplayPrices
from levpaper._validate import FloatArray, in_range, nonnegative, one_of, positive, positive_int
from levpaper.processes import GARCH11, GBM, HOURLY_DT, MertonJumpDiffusion, RegimeSwitchingGBM
from levpaper.spaces import HIGH, N_DISCRETE, OBS_HIGH, OBS_LOW, TINY

__all__ = [
    "ENV_ID",
    "GARCH_DRIFT_MU",
    "MARKETS",
    "WEALTH_FLOOR",
    "ActionMode",
    "LeveragedSwapConfig",
    "LeveragedSwapEnv",
    "LiquidationHunter",
    "MarketView",
    "NoiseTraders",
    "PoolTrader",
    "ReplayPrices",
    "RewardKind",
    "market_config",
]

ENV_ID = "levpaper/LeveragedSwap-v0"
"""The id under which ``import levpaper`` registers the environment."""

ActionMode = Literal["discrete", "box"]
_MODES: tuple[str, ...] = ("discrete", "box")
RewardKind = Literal["paper", "log_wealth"]
_REWARDS: tuple[str, ...] = ("paper", "log_wealth")
WEALTH_FLOOR = 1e-6
"""Floor of the wealth in the ``log_wealth`` reward, as a fraction of :math:`C_0` (the training
module's floor on the final wealth)."""
_F32 = np.dtype(np.float32)


class MarketView(NamedTuple):
    """What a :class:`PoolTrader` sees before it trades: floats in :class:`LeveragedSwapEnv`,
    float64 arrays of shape ``(N,)`` in the vector environment.

    Attributes
    ----------
    step : int or ndarray
        Steps taken in the episode before this one.
    reserve_a : float or ndarray
        The pool's reserve of A now.
    reserve_b : float or ndarray
        The pool's reserve of B now.
    external_price : float or ndarray
        The external price after this step's move.
    position : float or ndarray
        The agent's signed size in A (> 0 long, < 0 short).
    equity : float or ndarray
        The agent's account equity at the pool price.
    liquidation_price : float or ndarray
        The pool price at which the agent's position is liquidated; 0 when it is flat or can
        never be liquidated (a long without debt).
    fee : float
        The pool's fee rate.
    """

    step: Any
    reserve_a: Any
    reserve_b: Any
    external_price: Any
    position: Any
    equity: Any
    liquidation_price: Any
    fee: float


class PoolTrader(Protocol):
    """A trader that shares the pool with the agent (a hook of :class:`LeveragedSwapConfig`).

    Called once per step with a :class:`MarketView`; returns a signed order as a notional in B:
    ``> 0`` pays that much B into the pool (buys A, exact in), ``< 0`` pays ``-order / P`` of A
    into the pool (sells A at pre-trade pool price ``P``, exact in), 0 does nothing. In the vector
    environment the view holds arrays and the result may be an array of shape ``(N,)`` or a
    scalar; write the hook with numpy ufuncs to serve both. A trader that needs randomness owns
    a seeded generator.
    """

    def __call__(self, view: MarketView) -> SupportsFloat | FloatArray: ...


@dataclass(frozen=True)
class NoiseTraders:
    """Uninformed traders: every step one net order, normal with mean 0, in B.

    The order's standard deviation is ``std`` times the pool's initial reserve of B; its normal
    draws come from the environment's own random stream, so they are reproducible from the seed.

    Parameters
    ----------
    std : float, default 0.001
        Standard deviation of the net order per step as a fraction of the initial reserve of B,
        in (0, 1).

    Examples
    --------
    >>> NoiseTraders(std=0.002).std
    0.002
    """

    std: float = 0.001

    def __post_init__(self) -> None:
        in_range("std", self.std, 0.0, 1.0, low_closed=False, high_closed=False)


@dataclass(frozen=True)
class LiquidationHunter:
    r"""An adversary that trades the pool to the agent's liquidation price when it can afford it.

    Each step, if the agent holds a position with a liquidation price :math:`P_\text{liq}`, the
    hunter computes the trade that moves the pool price to :math:`P_\text{liq}(1 \mp
    \text{overshoot})` (selling A against a long, buying against a short; the closed form of the
    fee-aware pool, :math:`u = (r-1)/\big((1+g)/2 + \sqrt{(1+g)^2/4 + g(r-1)}\big)` of the input
    reserve with :math:`r` the price ratio to cover and :math:`g = 1-f`) and places it if its
    notional is within ``budget``; otherwise it does nothing. It works on floats and on arrays.

    Parameters
    ----------
    budget : float
        Largest order per step, in B, > 0.
    overshoot : float, default 0.001
        How far past the liquidation price to push, relative, in [0, 0.5).

    Examples
    --------
    >>> hunter = LiquidationHunter(budget=1e6)
    >>> view = MarketView(0, 100.0, 250_000.0, 2500.0, 1.0, 20.0, 2490.0, 0.003)
    >>> order = float(hunter(view))
    >>> order < 0  # sells A against a long
    True
    >>> float(LiquidationHunter(budget=1.0)(view))  # cannot afford it
    0.0
    """

    budget: float
    overshoot: float = 0.001

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", float(positive("budget", self.budget)))
        in_range("overshoot", self.overshoot, 0.0, 0.5, high_closed=False)

    def __call__(self, view: MarketView) -> FloatArray:
        """The order (B notional, signed as in :class:`PoolTrader`) for ``view``."""
        x = np.asarray(view.reserve_a, dtype=np.float64)
        y = np.asarray(view.reserve_b, dtype=np.float64)
        q = np.asarray(view.position, dtype=np.float64)
        pl = np.asarray(view.liquidation_price, dtype=np.float64)
        g = 1.0 - view.fee
        half = 0.5 * (1.0 + g)
        with np.errstate(all="ignore"):
            p = y / x
            long = q > 0
            target = np.where(long, pl * (1.0 - self.overshoot), pl * (1.0 + self.overshoot))
            r = np.where(long, p / target, target / p)
            d = np.maximum(r - 1.0, 0.0)
            u = d / (half + np.sqrt(half * half + g * d))
            order = np.where(long, -(x * u) * p, y * u)
            ok = (q != 0) & (pl > 0) & (np.abs(order) <= self.budget) & np.isfinite(order)
            return np.where(ok, order, 0.0)


def _check_process(process: object, dt: float) -> None:
    kinds = GBM | MertonJumpDiffusion | GARCH11 | RegimeSwitchingGBM | ReplayPrices
    if not isinstance(process, kinds):
        raise ValueError(
            "process must be a GBM, MertonJumpDiffusion, GARCH11, RegimeSwitchingGBM or "
            f"ReplayPrices, got {type(process).__name__}"
        )
    if isinstance(process, GARCH11 | RegimeSwitchingGBM) and process.dt != dt:
        raise ValueError(
            f"process.dt must equal dt for {type(process).__name__}, got {process.dt!r} != {dt!r}"
        )


@dataclass(frozen=True)
class LeveragedSwapConfig:
    r"""Everything that defines a :class:`LeveragedSwapEnv` (and its vector version).

    Parameters
    ----------
    horizon : int, default 720
        Steps per episode (720 hourly steps = 30 days); the episode is truncated there.
    dt : float, default :data:`levpaper.processes.HOURLY_DT`
        Step in years, > 0.
    process : GBM, MertonJumpDiffusion, GARCH11, RegimeSwitchingGBM or ReplayPrices
        Law of the external price (annualised parameters), or a series to replay; default
        ``GBM(mu=0, sigma=0.8)``. A
        :class:`levpaper.processes.RegimeSwitchingGBM` puts the regime of the coming step in
        ``info["regime"]`` (0 calm, 1 turbulent), not in the observation: an agent infers it
        from prices, as a trader would; the oracle (:mod:`levpaper.oracle`) is told it.
    initial_price : float, default 2500.0
        External and pool price of A in B at reset, > 0.
    pool_reserve_a : float, default 100_000.0
        Pool reserve of A at reset, > 0 (the reserve of B is ``initial_price`` times it).
    fee : float, default 0.003
        Pool fee rate in [0, 0.1].
    initial_capital : float, default 10_000.0
        :math:`C_0`, the agent's capital in B at reset, > 0 and at most
        ``0.1 * maintenance_rate * reserve_b`` (so that no position the account can carry comes
        near the pool's depth).
    initial_margin_fraction : float, default 0.5
        Part of :math:`C_0` posted in the margin account at reset, in [0, 1]; the rest is in the
        wallet.
    max_leverage : float, default 100.0
        The leverage cap :math:`L_\text{cap}`, in (0, 1/maintenance_rate): no trade may raise the
        leverage above it (the curriculum hook; see :meth:`LeveragedSwapEnv.set_leverage_cap`).
    maintenance_rate : float, default 0.005
        :math:`m`: liquidation when equity < :math:`m` times the current notional, in (0, 0.5).
    liquidation_penalty_rate : float, default 0.0125
        Fraction of the notional traded by a liquidation paid to the insurance fund (capped by the
        equity left), in [0, 0.5).
    insurance_fund : float, default 0.0
        Insurance fund at reset, in B, >= 0.
    terminate_on_liquidation : bool, default True
        End the episode when the position is liquidated.
    ruin_fraction : float, default 0.01
        End the episode when the agent's wealth (wallet + equity) falls below this fraction of
        :math:`C_0`, in [0, 1).
    reward_weights : tuple of 3 floats, default (1.0, 1.0, 0.01)
        :math:`(w_1, w_2, w_3)` of :math:`r = w_1\,\text{Profit} - w_2\,\text{LiqPenalty} -
        w_3\,\sigma_V`, each finite and >= 0 (used by ``reward="paper"``).
    reward : {"paper", "log_wealth"}, default "paper"
        ``"paper"``: E10 with ``reward_weights``. ``"log_wealth"``: the step's log growth of
        wealth :math:`\ln(\max(W_t, \epsilon C_0)/\max(W_{t-1}, \epsilon C_0))`,
        :math:`\epsilon` = :data:`WEALTH_FLOOR`: the growth a trader keeps, a liquidation's loss
        included; an episode's sum is :math:`\ln(\max(W_T, \epsilon C_0)/C_0)`. ``info`` holds
        the E10 parts either way.
    volatility_decay : float, default 0.94
        EWMA decay :math:`\lambda` of the pool-return variance, in [0, 1).
    action_mode : {"discrete", "box"}, default "discrete"
        The action encoding (see :class:`LeveragedSwapEnv`).
    leverage_step : float, default 0.1
        Leverage change of one discrete buy/sell/leverage step, as a fraction of the cap, in (0, 1].
    margin_step : float, default 0.25
        Fraction of the wallet (add) or of the withdrawable margin (remove) moved by one discrete
        margin action, in (0, 1].
    noise_traders : NoiseTraders or None, default None
        Uninformed order flow sharing the pool.
    traders : tuple of PoolTrader, default ()
        Other traders sharing the pool, called in order every step (the multi-agent hook).
    adversary : PoolTrader or None, default None
        Trades last before the liquidation check, e.g. :class:`LiquidationHunter` (the
        adversarial-training hook).

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> cfg = LeveragedSwapConfig(max_leverage=5.0, action_mode="box")
    >>> cfg.reserve_b, cfg.horizon
    (250000000.0, 720)
    >>> LeveragedSwapConfig(max_leverage=250.0)
    Traceback (most recent call last):
    ...
    ValueError: max_leverage must lie in (0.0, 200.0), got 250.0
    """

    horizon: int = 720
    dt: float = HOURLY_DT
    process: GBM | MertonJumpDiffusion | GARCH11 | RegimeSwitchingGBM | ReplayPrices = (
        dataclasses.field(default_factory=GBM)
    )
    initial_price: float = 2500.0
    pool_reserve_a: float = 100_000.0
    fee: float = 0.003
    initial_capital: float = 10_000.0
    initial_margin_fraction: float = 0.5
    max_leverage: float = 100.0
    maintenance_rate: float = 0.005
    liquidation_penalty_rate: float = 0.0125
    insurance_fund: float = 0.0
    terminate_on_liquidation: bool = True
    ruin_fraction: float = 0.01
    reward_weights: tuple[float, float, float] = (1.0, 1.0, 0.01)
    reward: RewardKind = "paper"
    volatility_decay: float = 0.94
    action_mode: ActionMode = "discrete"
    leverage_step: float = 0.1
    margin_step: float = 0.25
    noise_traders: NoiseTraders | None = None
    traders: tuple[PoolTrader, ...] = ()
    adversary: PoolTrader | None = None

    def __post_init__(self) -> None:
        positive_int("horizon", self.horizon)
        positive("dt", self.dt)
        _check_process(self.process, self.dt)
        positive("initial_price", self.initial_price)
        positive("pool_reserve_a", self.pool_reserve_a)
        in_range("fee", self.fee, 0.0, 0.1)
        in_range("maintenance_rate", self.maintenance_rate, 0.0, 0.5, low_closed=False,
                 high_closed=False)  # fmt: skip
        positive("initial_capital", self.initial_capital)
        limit = 0.1 * self.maintenance_rate * self.reserve_b
        if not self.initial_capital <= limit:
            raise ValueError(
                f"initial_capital must be <= 0.1 * maintenance_rate * reserve_b = {limit!r}, "
                f"got {self.initial_capital!r}"
            )
        in_range("initial_margin_fraction", self.initial_margin_fraction, 0.0, 1.0)
        _check_cap(self.max_leverage, self.maintenance_rate)
        in_range("liquidation_penalty_rate", self.liquidation_penalty_rate, 0.0, 0.5,
                 high_closed=False)  # fmt: skip
        nonnegative("insurance_fund", self.insurance_fund)
        if not isinstance(self.terminate_on_liquidation, bool):
            raise ValueError(
                f"terminate_on_liquidation must be a bool, got {self.terminate_on_liquidation!r}"
            )
        in_range("ruin_fraction", self.ruin_fraction, 0.0, 1.0, high_closed=False)
        weights = tuple(self.reward_weights)
        if len(weights) != 3:
            raise ValueError(f"reward_weights must have 3 entries, got {self.reward_weights!r}")
        nonnegative("reward_weights", weights)
        object.__setattr__(self, "reward_weights", tuple(float(w) for w in weights))
        one_of("reward", self.reward, _REWARDS)
        in_range("volatility_decay", self.volatility_decay, 0.0, 1.0, high_closed=False)
        one_of("action_mode", self.action_mode, _MODES)
        in_range("leverage_step", self.leverage_step, 0.0, 1.0, low_closed=False)
        in_range("margin_step", self.margin_step, 0.0, 1.0, low_closed=False)
        if self.noise_traders is not None and not isinstance(self.noise_traders, NoiseTraders):
            raise ValueError(
                f"noise_traders must be NoiseTraders or None, got {self.noise_traders!r}"
            )
        object.__setattr__(self, "traders", tuple(self.traders))
        for hook in (*self.traders, self.adversary):
            if hook is not None and not callable(hook):
                raise ValueError(f"traders and adversary must be callable, got {hook!r}")

    @property
    def reserve_b(self) -> float:
        """Pool reserve of B at reset, ``initial_price * pool_reserve_a``."""
        return self.initial_price * self.pool_reserve_a


MARKETS: tuple[str, ...] = ("driftless", "garch_drift", "regimes", "replay", "replay_holdout")
"""The names of :func:`market_config`'s markets."""

GARCH_DRIFT_MU = 0.3
"""Annualised drift of the ``"garch_drift"`` market."""


def market_config(name: str, **overrides: Any) -> LeveragedSwapConfig:
    r"""The book's markets as environment configurations (issue 16: markets where skill can pay).

    Every market is :class:`LeveragedSwapConfig`'s defaults with its own external price:

    ``"driftless"``
        :class:`levpaper.processes.GBM` with :math:`\mu = 0`, :math:`\sigma = 0.8` (the default
        config): staying flat is optimal, no skill can pay.
    ``"garch_drift"``
        :class:`levpaper.processes.GARCH11` with its default :math:`\omega, \alpha = 0.05,
        \beta = 0.94` (annual volatility 0.8) and drift :data:`GARCH_DRIFT_MU` = 0.3: the Kelly
        leverage :math:`\mu/\sigma_t^2` moves with the clustered volatility (0.47 at the
        unconditional variance), so a trader who tracks :math:`\sigma_t` can beat any constant
        leverage.
    ``"regimes"``
        :class:`levpaper.processes.RegimeSwitchingGBM` with its defaults: calm (drift 0.6,
        volatility 0.5, Kelly 2.4) and turbulent (drift -0.4, volatility 1.5), switching after
        30 days calm and 7 days turbulent on average; the regime is in ``info["regime"]``.
    ``"replay"``, ``"replay_holdout"``
        :class:`ReplayPrices` of the bundled hourly BTC/USD closes (:mod:`levpaper.data`), the
        fit years 2018-2020 and the held-out years 2021-2022 (:func:`levpaper.data.split`).

    Parameters
    ----------
    name : str
        One of :data:`MARKETS`.
    **overrides
        Other fields of the config (``reward="log_wealth"``, ``initial_margin_fraction=1.0``,
        ``horizon=168``, ...).

    Returns
    -------
    LeveragedSwapConfig

    Raises
    ------
    ValueError
        If ``name`` is not a market or ``process`` is among the overrides.

    Examples
    --------
    >>> market_config("driftless") == LeveragedSwapConfig()
    True
    >>> cfg = market_config("garch_drift", reward="log_wealth")
    >>> cfg.process.mu, cfg.reward
    (0.3, 'log_wealth')
    >>> type(market_config("regimes").process).__name__
    'RegimeSwitchingGBM'
    """
    one_of("name", name, MARKETS)
    if "process" in overrides:
        raise ValueError("process is set by the market: do not pass it in overrides")
    dt = float(overrides.get("dt", HOURLY_DT))
    process: GBM | GARCH11 | RegimeSwitchingGBM | ReplayPrices
    if name == "driftless":
        process = GBM()
    elif name == "garch_drift":
        process = GARCH11(mu=GARCH_DRIFT_MU, dt=dt)
    elif name == "regimes":
        process = RegimeSwitchingGBM(dt=dt)
    else:
        from levpaper.data import load_btc_usd_hourly, split

        fit, holdout = split(load_btc_usd_hourly())
        process = ReplayPrices((fit if name == "replay" else holdout).close, dt=dt)
    return make_config(LeveragedSwapConfig(dt=dt, process=process), overrides)


def _check_cap(cap: float, maintenance_rate: float) -> float:
    top = 1.0 / maintenance_rate
    return float(in_range("max_leverage", cap, 0.0, top, low_closed=False, high_closed=False))


def make_config(
    config: LeveragedSwapConfig | None, overrides: dict[str, Any]
) -> LeveragedSwapConfig:
    """``config`` (default :class:`LeveragedSwapConfig()`) with fields replaced by ``overrides``.

    Raises
    ------
    TypeError
        If an override is not a field of the config.
    """
    base = LeveragedSwapConfig() if config is None else config
    if not isinstance(base, LeveragedSwapConfig):
        raise TypeError(f"config must be a LeveragedSwapConfig, got {type(base).__name__}")
    names = {f.name for f in dataclasses.fields(LeveragedSwapConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"unknown LeveragedSwapConfig fields: {unknown}")
    return dataclasses.replace(base, **overrides) if overrides else base


def box_action(action: Any) -> tuple[float, float]:
    """Return a box action as two floats in [-1, 1], or raise ``ValueError``."""
    try:
        a0, a1 = float(action[0]), float(action[1])
        ok = len(action) == 2
    except (TypeError, IndexError, ValueError):
        ok = False
    if not ok or not (-1.0 <= a0 <= 1.0 and -1.0 <= a1 <= 1.0):
        raise ValueError(f"action must be 2 finite numbers in [-1, 1], got {action!r}")
    return a0, a1


def check_discrete_action(action: object) -> int:
    """Return a discrete action as an ``int``, or raise ``ValueError``."""
    if isinstance(action, bool) or not isinstance(action, int | np.integer):
        if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
            action = action.item()
        else:
            raise ValueError(f"action must be an integer in [0, {N_DISCRETE}), got {action!r}")
    a = int(action)  # type: ignore[call-overload]
    if not 0 <= a < N_DISCRETE:
        raise ValueError(f"action must be an integer in [0, {N_DISCRETE}), got {action!r}")
    return int(a)


class LeveragedSwapEnv(gym.Env[npt.NDArray[np.float32], Any]):
    r"""One leveraged trader against a constant-product pool (the MDP of section 3.1).

    .. rubric:: Description

    The paper's agent controls a leveraged position on an intertoken swap platform: state
    :math:`S(t) = \{P, R_A, R_B, L, M, V\}`, actions :math:`\{\Delta L, \Delta M,
    \text{Buy/Sell}, \text{Adjust Position}\}`, reward :math:`r = w_1\,\text{Profit} -
    w_2\,\text{LiqPenalty} - w_3\,\sigma_V` (E9, E10). Here the platform is the reference market
    of the ledger's rows E1-E8: the pool (reserves :math:`x = R_A`, :math:`y = R_B`, fee :math:`f`,
    :math:`g = 1-f`) is the counterparty of every trade, as in a perpetual on a virtual AMM. The
    agent's account holds cash :math:`c` in B (negative when it borrows to go long) and a signed
    size :math:`Q` of A; at the pool price :math:`P = y/x` its equity is :math:`E = c + QP`, its
    notional :math:`N = |Q|P`, its signed leverage :math:`\ell = QP/E`. The rest of the agent's
    capital is in a wallet :math:`W`; its wealth is :math:`W + E`. The conventions are those of
    :mod:`levpaper.margin` and :mod:`levpaper.leverage`: initial margin :math:`C = N/L`, opening
    notional paid (long, exact in) or received (short, exact out) in B so that the entry price is
    the execution price, maintenance :math:`m` on the current notional, liquidation when
    :math:`E < mN`, penalty to the insurance fund, shortfall from the fund, then bad debt.

    .. rubric:: Action Space

    ``action_mode="discrete"``: ``Discrete(8)``. :math:`\ell` is the signed leverage at the pool
    price after the margin change, :math:`c` is ``leverage_step`` times the cap.

    .. list-table::
       :header-rows: 1

       * - Num
         - Action
         - Paper's type
         - Target signed leverage, or margin moved
       * - 0
         - hold
         - --
         - :math:`\ell` (no trade)
       * - 1
         - buy
         - Buy/Sell
         - :math:`\ell + c`
       * - 2
         - sell
         - Buy/Sell
         - :math:`\ell - c`
       * - 3
         - leverage up
         - :math:`\Delta L`
         - :math:`\ell + \mathrm{sign}(Q)c` (none flat)
       * - 4
         - leverage down
         - :math:`\Delta L`
         - :math:`\ell - \mathrm{sign}(Q)\min(|\ell|, c)`
       * - 5
         - add margin
         - :math:`\Delta M`
         - ``margin_step`` of the wallet :math:`W` in
       * - 6
         - remove margin
         - :math:`\Delta M`
         - ``margin_step`` of the withdrawable out
       * - 7
         - close
         - Adjust Position
         - 0

    ``action_mode="box"``: ``Box(-1, 1, (2,), float32)``.

    .. list-table::
       :header-rows: 1

       * - Num
         - Action
         - Paper's type
         - Meaning
       * - 0
         - target leverage
         - :math:`\Delta L`, Buy/Sell, Adj.
         - :math:`a_0 L_\text{cap}`, signed
       * - 1
         - margin change
         - :math:`\Delta M`
         - > 0: :math:`a_1 W` in; < 0: out

    A negative :math:`a_1` withdraws :math:`|a_1|` of the withdrawable margin
    :math:`\max(E - N/L_\text{cap}, 0)`. The margin change is applied first; then the position is
    traded to the target leverage :math:`\ell^*` measured at the pool price and the new equity.
    The cap binds only increases: :math:`|\ell^*|` is cut to :math:`\max(L_\text{cap}, |\ell|)` on
    the same side and to :math:`L_\text{cap}` on the other. Trading to :math:`\ell^*` buys (or
    sells) the notional :math:`(\ell^* - \ell)E` in B through the pool (exact in when buying,
    exact out when selling); a close or a change of side first closes the whole size (selling
    :math:`Q` exact in, or buying :math:`|Q|` back exact out), a negative remainder settled like a
    liquidation's, and then opens :math:`\ell^* E` on the other side. An invalid action raises
    ``ValueError``.

    .. rubric:: Observation Space

    ``Box(low, high, (14,), float32)``; each feature is clipped to its bounds. :math:`P_0`,
    :math:`x_0`, :math:`y_0` are the reset values, :math:`\hat v` the EWMA variance per step of the
    pool's simple returns, :math:`H` the horizon.

    .. list-table::
       :header-rows: 1

       * - Num
         - Observation
         - Paper
         - Definition
         - Bounds
       * - 0
         - price
         - P
         - :math:`P/P_0`
         - [0, 100]
       * - 1
         - reserve_a
         - R_A
         - :math:`x/x_0`
         - [0, 100]
       * - 2
         - reserve_b
         - R_B
         - :math:`y/y_0`
         - [0, 100]
       * - 3
         - leverage
         - L
         - :math:`m\ell` (1 = liquidation leverage)
         - [-1, 1]
       * - 4
         - margin
         - M
         - :math:`E/C_0`, the account's equity
         - [0, 100]
       * - 5
         - volatility
         - V
         - :math:`\sigma_V = N\sqrt{\hat v}/C_0`
         - [0, 100]
       * - 6
         - price_volatility
         - ..
         - :math:`\sqrt{\hat v/\Delta t}`, annualised
         - [0, 10]
       * - 7
         - side
         - ..
         - :math:`\mathrm{sign}(Q)`
         - [-1, 1]
       * - 8
         - size
         - ..
         - :math:`N/C_0`
         - [0, 1e4]
       * - 9
         - margin_ratio
         - ..
         - :math:`E/N` (1 when flat)
         - [0, 1]
       * - 10
         - liquidation_distance
         - ..
         - :math:`(P - P_\text{liq})/P`, signed
         - [0, 1]
       * - 11
         - time_left
         - ..
         - :math:`(H - t)/H`
         - [0, 1]
       * - 12
         - wallet
         - ..
         - :math:`W/C_0`
         - [0, 100]
       * - 13
         - leverage_cap
         - ..
         - :math:`m L_\text{cap}`
         - (0, 1)

    :math:`V` is the paper's portfolio volatility: one step's standard deviation of the position's
    value, in units of :math:`C_0`. The liquidation price is :math:`P_\text{liq} = -c/(Q(1 -
    m\,\mathrm{sign}(Q)))` (for a fresh position :math:`P_0(1 \mp 1/L)/(1 \mp m)`,
    :func:`levpaper.leverage.liquidation_price`); the distance is taken toward it
    (:math:`\mathrm{sign}(Q)(P - P_\text{liq})/P`) and is 1 when flat.

    .. rubric:: Transition (one step, in this order)

    1. The agent's action at the pool it observed: margin change, then the trade to :math:`\ell^*`.
    2. The external price moves one step along its stream (the configured process, gross returns
       drawn in blocks from the environment's generator); arbitrageurs trade the pool to the edge
       of its no-arbitrage band: if :math:`p > y/(gx)` they pay :math:`\Delta y = yu` of B with
       :math:`u = (r-1)/\big((1+g)/2 + \sqrt{(1+g)^2/4 + g(r-1)}\big)`, :math:`r = pgx/y`, after
       which :math:`y'/(gx') = p`; symmetrically with A if :math:`p < gy/x`
       (:func:`levpaper.pool.arbitrage_trade` with ``rule="band_edge"``).
    3. Other traders sharing the pool: the noise traders, then the ``traders`` hooks in order,
       then the ``adversary`` (each a signed order in B, see :class:`PoolTrader`).
    4. Mark to market at the pool price; if :math:`Q \neq 0` and :math:`E < mN` the position is
       liquidated: closed through the pool, a penalty ``liquidation_penalty_rate`` of the notional
       traded (capped by the equity left) to the insurance fund, a negative remainder paid by the
       fund and what it cannot pay recorded as bad debt; what is left stays in the account.
    5. The EWMA variance :math:`\hat v \leftarrow \lambda\hat v + (1-\lambda)(P/P_\text{prev}-1)^2`,
       the reward and the observation.

    .. rubric:: Rewards

    :math:`r_t = w_1\,\text{profit}_t - w_2\,\text{liquidation\_penalty}_t -
    w_3\,\text{volatility\_penalty}_t` (E10), in units of :math:`C_0`:

    * profit: the change of wealth :math:`W + E` (equity marked at the pool price) over the step;
    * liquidation_penalty: on a liquidation, the equity at the mark (floored at 0) less what is
      left after the close and the penalty: the close's fee and impact, the penalty, and (when the
      equity does not cover them) everything; 0 otherwise. It is also inside the profit: the weight
      :math:`w_2` charges it again, as the paper's penalty term;
    * volatility_penalty: :math:`\sigma_V`, observation 5 after the step.

    ``info`` carries the three parts, so that the episode's sum of ``profit`` equals the change of
    wealth over :math:`C_0`. E11's objective :math:`V^\pi(S) = E[\sum_t \gamma^t r_t]` is the
    discounted sum of these rewards.

    With ``reward="log_wealth"`` the reward is instead the step's log growth of wealth (see
    :class:`LeveragedSwapConfig`), the criterion the oracle of :mod:`levpaper.oracle` maximises.

    .. rubric:: Starting State

    Pool at :math:`(x_0, P_0 x_0)`, external price :math:`P_0`, account flat with
    ``initial_margin_fraction`` of :math:`C_0` as margin, the rest in the wallet, insurance fund at
    its configured level, :math:`\hat v` at the process's variance per step. The external price's
    random stream continues across episodes; ``reset(seed=...)`` restarts it.

    .. rubric:: Episode End

    * Termination: the position is liquidated (if ``terminate_on_liquidation``), or the wealth
      falls below ``ruin_fraction`` of :math:`C_0`.
    * Truncation: ``horizon`` steps.

    .. rubric:: Arguments

    ``gym.make("levpaper/LeveragedSwap-v0", config=..., render_mode=None, **fields)``: a
    :class:`LeveragedSwapConfig` and/or any of its fields as keywords (``action_mode="box"``,
    ``max_leverage=5.0``, ``process=ReplayPrices(prices)``, ...). ``render_mode="ansi"`` renders
    one line of text. ``gym.make_vec(..., num_envs=N)`` gives the numpy vector environment.

    Examples
    --------
    >>> env = LeveragedSwapEnv(max_leverage=10.0)
    >>> obs, info = env.reset(seed=1)
    >>> obs, reward, terminated, truncated, info = env.step(1)  # buy: 1x long
    >>> round(info["leverage"], 2), info["liquidated"]
    (1.0, False)
    >>> env.step(9)
    Traceback (most recent call last):
    ...
    ValueError: action must be an integer in [0, 8), got 9
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self,
        config: LeveragedSwapConfig | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        cfg = make_config(config, overrides)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.config = cfg
        self.render_mode = render_mode
        self.observation_space = spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)
        self.action_space: spaces.Space[Any]
        if cfg.action_mode == "discrete":
            self.action_space = spaces.Discrete(N_DISCRETE)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._discrete = cfg.action_mode == "discrete"
        # constants of the step, as Python floats
        self._g = kernel.fee_factor(cfg.fee)
        self._m = cfg.maintenance_rate
        self._c0 = float(cfg.initial_capital)
        self._x0 = float(cfg.pool_reserve_a)
        self._y0 = float(cfg.reserve_b)
        self._p0 = self._y0 / self._x0
        self._noise_scale = (
            cfg.noise_traders.std * self._y0 if cfg.noise_traders is not None else 0.0
        )
        self._hooks: tuple[Callable[[MarketView], Any], ...] = tuple(
            h for h in (*cfg.traders, cfg.adversary) if h is not None
        )
        self._cap = float(cfg.max_leverage)
        self._margin_step = float(cfg.margin_step)
        self._lev_step = float(cfg.leverage_step)
        self._pen_rate = float(cfg.liquidation_penalty_rate)
        self._lam = float(cfg.volatility_decay)
        self._oml = 1.0 - self._lam
        self._w1, self._w2, self._w3 = cfg.reward_weights
        self._log_reward = cfg.reward == "log_wealth"
        self._floor = WEALTH_FLOOR * self._c0
        self._regime = isinstance(cfg.process, RegimeSwitchingGBM)
        self._regimes = np.zeros((1, BLOCK), dtype=np.int8)
        self._terminate = cfg.terminate_on_liquidation
        self._ruin = cfg.ruin_fraction * self._c0
        self._horizon = cfg.horizon
        self._dt = float(cfg.dt)
        self._inv_c0 = 1.0 / self._c0
        self._inv_dt = 1.0 / self._dt
        self._inv_h = 1.0 / float(cfg.horizon)
        self._inv_x0, self._inv_y0 = 1.0 / self._x0, 1.0 / self._y0
        self._inv_p0 = 1.0 / self._p0
        self._rngs_ready = False
        self._ratios: list[float] = []
        self._noise: list[float] = []
        self._cursor = BLOCK
        self._stream = np.array([mk.stream_start(cfg.process)])
        self._state: list[Any] = []
        self._last: dict[str, Any] = {}

    # -- curriculum hook ----------------------------------------------------------------------

    @property
    def leverage_cap(self) -> float:
        """The leverage cap in force."""
        return self._cap

    def set_leverage_cap(self, cap: float) -> None:
        """Set the leverage cap (the curriculum hook), in (0, 1/maintenance_rate).

        It binds from the next step: trades may not raise the leverage above it; a position already
        above it is not forced down.

        Raises
        ------
        ValueError
            If ``cap`` is out of range.
        """
        self._cap = _check_cap(cap, self._m)

    # -- gymnasium API ------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """Start an episode; ``seed`` restarts the external price's random stream."""
        super().reset(seed=seed)
        if seed is not None or not self._rngs_ready:
            self._rngs_ready = True
            self._cursor = BLOCK
            self._stream[0] = mk.stream_start(self.config.process, self.np_random)
            if isinstance(self.config.process, RegimeSwitchingGBM):
                self._stream[0] = mk.initial_regime(self.config.process, self.np_random)
        cfg = self.config
        margin0 = cfg.initial_margin_fraction * self._c0
        wallet0 = self._c0 - margin0
        var0 = mk.initial_variance(cfg.process) * cfg.dt
        x, y = self._x0, self._y0
        p = y / x
        equity = margin0 + 0.0 * p
        # state: x, y, cash, Q, W, fund, bad, v, p_prev, wealth_prev, p_ext, t
        self._state = [
            x, y, margin0, 0.0, wallet0, float(cfg.insurance_fund), 0.0, var0, p,
            wallet0 + equity, float(cfg.initial_price), 0,
        ]  # fmt: skip
        return self._observe(p, equity, 0.0, 0.0, 0.0, False)

    def step(
        self, action: Any
    ) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Advance one step (see the class docstring for the order of events)."""
        if not self._state:
            raise RuntimeError("call reset() before step()")
        if self._discrete:
            k = (
                action
                if action.__class__ is int and 0 <= action < 8
                else check_discrete_action(action)
            )
            a0 = a1 = 0.0
        else:
            k = 0
            a0, a1 = box_action(action)
        x, y, cash, q, w, fund, bad, v, pprev, wprev, pext, t = self._state
        # 1. the agent: margin change, then the trade to the target leverage
        cash, w, e, lev, final = self._apply_action(k, a0, a1, y / x, cash, q, w)
        x, y, cash, q, fund, bad = self._trade(x, y, cash, q, fund, bad, e, lev, final)
        # 2. the external price moves one step along its stream; the arbitrageurs trade
        cur = self._cursor
        if cur == BLOCK:
            self._refill()
            cur = 0
        self._cursor = cur + 1
        pext = pext * self._ratios[cur]
        fx, fy = kernel.arbitrage_factors(x, y, pext, self._g)
        x = x * fx
        y = y * fy
        # 3. other traders
        if self._noise_scale or self._hooks:
            x, y = self._other_traders(cur, t, x, y, pext, q, cash)
        # 4. mark to market and liquidation
        p = y / x
        qp = q * p
        e = cash + qp
        n = abs(qp)
        liquidated = q != 0 and kernel.liquidatable(e, n, self._m)
        lp = 0.0
        if liquidated:
            x, y, cash, fund, bad, lp = self._liquidate(x, y, cash, q, fund, bad, e)
            q = 0.0
            p = y / x
            qp = q * p
            e = cash + qp
            n = abs(qp)
        # 5. volatility, reward, observation
        ret = p / pprev - 1.0
        v = self._lam * v + self._oml * (ret * ret)
        wealth = w + e
        profit = (wealth - wprev) * self._inv_c0
        sv = n * sqrt(v) * self._inv_c0
        if self._log_reward:
            reward = float(
                mk.log_wealth_reward(np.array([wealth]), np.array([wprev]), self._floor)[0]
            )
        else:
            reward = (self._w1 * profit - self._w2 * lp) - self._w3 * sv
        t = t + 1
        terminated = (liquidated and self._terminate) or wealth < self._ruin
        self._state = [x, y, cash, q, w, fund, bad, v, p, wealth, pext, t]
        obs, info = self._observe(p, e, profit, lp, sv, liquidated)
        return obs, reward, terminated, t >= self._horizon, info

    def render(self) -> str | None:
        """One line describing the state (``render_mode="ansi"``)."""
        if self.render_mode is None or not self._state:
            return None
        i = self._last
        return (
            f"t={self._state[11]} pool={i['pool_price']:.2f} ext={i['external_price']:.2f} "
            f"lev={i['leverage']:+.2f} equity={i['equity']:.2f} wealth={i['wealth']:.2f} "
            f"fund={i['insurance_fund']:.2f} bad_debt={i['bad_debt']:.2f}"
        )

    # -- the phases of a step -----------------------------------------------------------------

    def _apply_action(
        self, k: int, a0: float, a1: float, p: float, cash: float, q: float, w: float
    ) -> tuple[float, float, float, float, float]:
        """Step 1a: the margin change, then the target leverage capped as the class docstring
        says. Returns the cash, the wallet, the equity and the signed leverage after the margin
        change, and the target."""
        cap = self._cap
        qp = q * p
        e = cash + qp
        if self._discrete:
            mf = self._margin_step if k == 5 else (-self._margin_step if k == 6 else 0.0)
        else:
            mf = a1
        if mf > 0:
            dm = mf * w
        elif mf < 0:
            wd = e - abs(qp) / cap
            dm = mf * wd if wd > 0 else 0.0
        else:
            dm = 0.0
        w = w - dm
        cash = cash + dm
        e = e + dm
        lev = qp / (e if e > TINY else TINY)
        if self._discrete:  # spaces.discrete_target, by cases
            if k == 0 or k == 5 or k == 6:
                tgt = lev
            elif k == 1:
                tgt = lev + self._lev_step * cap
            elif k == 2:
                tgt = lev - self._lev_step * cap
            elif k == 7:
                tgt = 0.0
            else:
                s = 1.0 if q > 0 else (-1.0 if q < 0 else 0.0)
                c = self._lev_step * cap
                if k == 3:
                    tgt = lev + s * c
                else:
                    al = abs(lev)
                    tgt = lev - s * (al if al < c else c)
        else:
            tgt = a0 * cap
        st = 1.0 if tgt > 0 else (-1.0 if tgt < 0 else 0.0)
        alp = st * lev
        lim = cap if cap > alp else alp
        at = abs(tgt)
        return cash, w, e, lev, copysign(at if at < lim else lim, tgt)

    def _trade(
        self,
        x: float,
        y: float,
        cash: float,
        q: float,
        fund: float,
        bad: float,
        e: float,
        lev: float,
        final: float,
    ) -> tuple[float, float, float, float, float, float]:
        """Step 1b: trade the position to the target leverage ``final`` through the pool; a close
        or a change of side first closes the whole size and settles a negative remainder.
        Returns ``x, y, cash, q, fund, bad``."""
        g = self._g
        if final * lev <= 0 and q != 0:
            x, y, recv, pay = kernel.close_trade(x, y, q, g)
            cash = cash + recv - pay
            q = 0.0
            if cash < 0:
                s = kernel.settle(cash, 0.0, fund, 0.0)
                cash, fund, bad = s.cash, s.fund, bad + s.bad_debt
            dn = final * (cash if cash > 0 else 0.0)
        else:
            dn = (final - lev) * e
        if dn != 0:
            dq, db = kernel.trade_notional(dn, x, y, g)
            x = x - dq
            y = y + db
            cash = cash - db
            q = q + dq
        return x, y, cash, q, fund, bad

    def _other_traders(
        self, cur: int, t: int, x: float, y: float, pext: float, q: float, cash: float
    ) -> tuple[float, float]:
        """Step 3: the noise traders' order, then each hook's (signed orders in B)."""
        g = self._g
        if self._noise_scale:
            dx, dy = kernel.apply_orders(x, y, self._noise_scale * self._noise[cur], g)
            x, y = x + dx, y + dy
        for hook in self._hooks:
            order = float(hook(self._view(t, x, y, pext, q, cash)))
            dx, dy = kernel.apply_orders(x, y, order, g)
            x, y = x + dx, y + dy
        return x, y

    def _liquidate(
        self, x: float, y: float, cash: float, q: float, fund: float, bad: float, e: float
    ) -> tuple[float, float, float, float, float, float]:
        """Step 4: close the whole size through the pool and settle (penalty, fund, bad debt).
        Returns ``x, y, cash, fund, bad`` and the liquidation penalty of the reward."""
        x, y, recv, pay = kernel.close_trade(x, y, q, self._g)
        s = kernel.settle(cash + recv - pay, recv + pay, fund, self._pen_rate)
        lp = ((e if e > 0 else 0.0) - s.cash) * self._inv_c0
        return x, y, s.cash, s.fund, bad + s.bad_debt, lp

    # -- internals ----------------------------------------------------------------------------

    def _refill(self) -> None:
        cfg = self.config
        ratios, noise = mk.draw_block(
            cfg.process,
            [self.np_random],
            self._stream,
            cfg.dt,
            cfg.noise_traders is not None,
            self._regimes if self._regime else None,
        )
        self._ratios = ratios[0].tolist()
        if noise is not None:
            self._noise = noise[0].tolist()

    def _view(self, t: int, x: float, y: float, pext: float, q: float, cash: float) -> MarketView:
        e = cash + q * (y / x)
        if q != 0:
            s = 1.0 if q > 0 else -1.0
            pl = -cash / (q * (1.0 - self._m * s))
            pl = pl if pl > 0 else 0.0
        else:
            pl = 0.0
        return MarketView(t, x, y, pext, q, e, pl, self.config.fee)

    def _observe(
        self, p: float, e: float, profit: float, lp: float, sv: float, liquidated: bool
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        x, y, cash, q, w, fund, bad, v, _, wealth, pext, t = self._state
        inv_c0 = self._inv_c0
        m = self._m
        h0, h1, h2, _, h4, h5, h6, _, h8, _, _, _, h12, _ = HIGH
        qp = q * p
        n = abs(qp)
        lev = qp / (e if e > TINY else TINY)
        f0 = p * self._inv_p0
        f1 = x * self._inv_x0
        f2 = y * self._inv_y0
        f3 = lev * m
        f4 = e * inv_c0
        f6 = sqrt(v * self._inv_dt)
        f8 = n * inv_c0
        d9 = n if n > e else e
        f9 = e / (d9 if d9 > TINY else TINY)  # <= 1, 1 when flat
        if q != 0:
            s = 1.0 if q > 0 else -1.0
            f10 = s + cash / (n - m * qp)
            f10 = 0.0 if f10 < 0 else (1.0 if f10 > 1 else f10)
        else:
            s = 0.0
            f10 = 1.0
        f11 = (self._horizon - t) * self._inv_h
        f12 = w * inv_c0
        obs = np.array(
            [
                f0 if f0 < h0 else h0,
                f1 if f1 < h1 else h1,
                f2 if f2 < h2 else h2,
                -1.0 if f3 < -1 else (1.0 if f3 > 1 else f3),
                f4 if f4 < h4 else h4,
                sv if sv < h5 else h5,
                f6 if f6 < h6 else h6,
                s,
                f8 if f8 < h8 else h8,
                f9,
                f10,
                f11,
                f12 if f12 < h12 else h12,
                self._cap * m,
            ],
            _F32,
        )
        info = {
            "profit": profit,
            "liquidation_penalty": lp,
            "volatility_penalty": sv,
            "equity": e,
            "wealth": wealth,
            "position": q,
            "leverage": lev,
            "liquidated": liquidated,
            "bad_debt": bad,
            "insurance_fund": fund,
            "pool_price": p,
            "external_price": pext,
        }
        if self._regime:
            cur = self._cursor
            info["regime"] = int(self._regimes[0, cur] if cur < BLOCK else self._stream[0])
        self._last = info
        return obs, info


def _register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(
            id=ENV_ID,
            entry_point="levpaper.env:LeveragedSwapEnv",
            vector_entry_point="levpaper.vector_env:LeveragedSwapVectorEnv",
            nondeterministic=False,
        )


_register()

r"""Policies for the leveraged-swap environment (section 3.2): the learner's linear policy and the
baselines it is compared with (fixed leverage, Kelly, the paper's volatility-adjusted
:math:`L^*(t)` of E12, a random policy).

Every policy acts on a batch: ``act(obs)`` takes the vector environment's observations, a float32
array of shape ``(N, 14)`` (column-major in :class:`levpaper.vector_env.LeveragedSwapVectorEnv`;
only ``obs[:, k]`` is used, so the layout does not matter) and returns box actions of shape
``(N, 2)`` in :math:`[-1, 1]` (``action_mode="box"``: target leverage as a fraction of the cap,
margin change). A single environment's observation of shape ``(14,)`` is accepted as a batch of one.

All policies but :class:`RandomPolicy` choose a *target leverage* :math:`\ell^*` in units of
leverage (``5.0`` is 5x long) and a margin action; :func:`box_action` turns them into the box
action. It trades only when the target is outside a *no-trade band* around the current leverage
:math:`\ell`: :math:`|\ell^* - \ell| > b\,\max(|\ell^*|, |\ell|)` (``band`` :math:`b`), otherwise
it asks for :math:`\ell` itself (no trade). Without the band a constant-leverage policy rebalances
every step and pays the pool fee on every rebalance (at 5x and 80% volatility this costs about a
third of the margin a month). The leverage cap in force is read from the observation
(feature 13, :math:`m L_\text{cap}`), so a policy does not need to know the curriculum.

Leverages are those of the margin account, :math:`\ell = QP/E`, as in the environment, except
:class:`KellyLeverage`, which targets a leverage of total wealth (wallet + equity) as the Kelly
criterion prescribes.

Examples
--------
>>> from levpaper.vector_env import LeveragedSwapVectorEnv
>>> envs = LeveragedSwapVectorEnv(4, action_mode="box", max_leverage=100.0)
>>> obs, info = envs.reset(seed=0)
>>> obs, *_, info = envs.step(FixedLeverage(5.0).act(obs))
>>> np.round(info["leverage"])  # 5x at the open, marked after the step's price move
array([5., 5., 5., 5.])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from scipy import special

from levpaper._validate import FloatArray, finite, in_range, positive
from levpaper.leverage import kelly_leverage
from levpaper.processes import GBM, HOURLY_DT, MertonJumpDiffusion
from levpaper.risk import (
    one_step_var,  # moved to levpaper.risk; re-exported for old references
    vol_adjusted_leverage,
)

__all__ = [
    "FEATURE_NAMES",
    "N_FEATURES",
    "FixedLeverage",
    "KellyLeverage",
    "LinearPolicy",
    "MLPPolicy",
    "Policy",
    "RandomPolicy",
    "VolatilityAdjustedLeverage",
    "box_action",
    "features",
    "mlp_outputs",
    "mlp_size",
    "one_step_var",
]

ObsArray = npt.NDArray[np.float32]

FEATURE_NAMES: tuple[str, ...] = (
    "bias",
    "price_change",
    "leverage",
    "equity",
    "price_volatility",
    "side",
    "margin_ratio",
    "liquidation_distance",
    "time_left",
    "wallet",
)
"""Names of the :func:`features` rows, in order."""

N_FEATURES = len(FEATURE_NAMES)


@runtime_checkable
class Policy(Protocol):
    """A batched policy: observations ``(N, 14)`` to box actions ``(N, 2)`` in [-1, 1]."""

    def act(self, obs: ObsArray) -> FloatArray:
        """Box actions for the observations ``obs``."""
        ...


def _batch(obs: npt.ArrayLike) -> ObsArray:
    arr = np.asarray(obs, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 14:
        raise ValueError(f"obs must have shape (N, 14) or (14,), got {np.shape(obs)}")
    return arr


def _maintenance(value: float) -> float:
    return float(in_range("maintenance_rate", value, 0.0, 0.5, low_closed=False,
                          high_closed=False))  # fmt: skip


def features(obs: npt.ArrayLike, maintenance_rate: float = 0.005) -> FloatArray:
    """The learner's features, float64 of shape ``(N_FEATURES, N)`` (one row per feature).

    ======================== ===================================================
    row, name                definition (observation column)
    ======================== ===================================================
    0 bias                   1
    1 price_change           :math:`P/P_0 - 1` (0)
    2 leverage               account leverage / 10, :math:`\\ell/10` (3)
    3 equity                 :math:`E/C_0` (4)
    4 price_volatility       annualised EWMA volatility of the pool price (6)
    5 side                   :math:`\\mathrm{sign}(Q)` (7)
    6 margin_ratio           :math:`E/N`, 1 when flat (9)
    7 liquidation_distance   relative distance to the liquidation price (10)
    8 time_left              :math:`(H-t)/H` (11)
    9 wallet                 :math:`W/C_0` (12)
    ======================== ===================================================

    The leverage cap (column 13) is left out so that a policy does not change with the curriculum.

    Examples
    --------
    >>> from levpaper.env import LeveragedSwapEnv
    >>> obs, _ = LeveragedSwapEnv(action_mode="box").reset(seed=0)
    >>> np.round(features(obs)[:, 0], 2)
    array([1. , 0. , 0. , 0.5, 0.8, 0. , 1. , 1. , 1. , 0.5])
    """
    o = _batch(obs).astype(np.float64)
    m = _maintenance(maintenance_rate)
    return np.stack(
        [
            np.ones(o.shape[0]),
            o[:, 0] - 1.0,
            o[:, 3] / (10.0 * m),
            o[:, 4],
            o[:, 6],
            o[:, 7],
            o[:, 9],
            o[:, 10],
            o[:, 11],
            o[:, 12],
        ]
    )


def box_action(
    target: npt.ArrayLike,
    margin: npt.ArrayLike,
    obs: npt.ArrayLike,
    maintenance_rate: float = 0.005,
    band: float = 0.0,
) -> FloatArray:
    r"""Box actions that trade to the target leverage ``target`` (units of leverage, signed)
    unless it is inside the no-trade band, and move ``margin`` (in [-1, 1], see the environment).

    Parameters
    ----------
    target : array_like, shape (N,) or scalar
        Target account leverage :math:`\ell^*`; above the cap it is cut to the cap.
    margin : array_like, shape (N,) or scalar
        Margin action, clipped to [-1, 1].
    obs : array_like, shape (N, 14) or (14,)
        The observations (the current leverage and the cap are read from columns 3 and 13).
    maintenance_rate : float, default 0.005
        The environment's :math:`m` (the observation scales leverage by it).
    band : float, default 0.0
        Relative no-trade band :math:`b \in [0, 1)`: no trade when
        :math:`|\ell^* - \ell| \le b \max(|\ell^*|, |\ell|)`.

    Returns
    -------
    ndarray, shape (N, 2)

    Examples
    --------
    >>> from levpaper.env import LeveragedSwapEnv
    >>> obs, _ = LeveragedSwapEnv(action_mode="box", max_leverage=20.0).reset(seed=0)
    >>> box_action(5.0, 0.0, obs)  # 5x of a 20x cap
    array([[0.25, 0.  ]])
    >>> box_action(50.0, 2.0, obs)  # cut to the cap; margin clipped
    array([[1., 1.]])
    """
    o = _batch(obs)
    m = _maintenance(maintenance_rate)
    b = float(in_range("band", band, 0.0, 1.0, high_closed=False))
    n = o.shape[0]
    tgt = np.broadcast_to(finite("target", target), (n,)).astype(np.float64)
    mar = np.broadcast_to(finite("margin", margin), (n,)).astype(np.float64)
    cap_m = o[:, 13].astype(np.float64)  # m * cap
    lev_m = o[:, 3].astype(np.float64)  # m * leverage
    tgt_m = tgt * m
    if b > 0.0:
        hold = np.abs(tgt_m - lev_m) <= b * np.maximum(np.abs(tgt_m), np.abs(lev_m))
        tgt_m = np.where(hold, lev_m, tgt_m)
    out = np.empty((n, 2))
    np.clip(tgt_m / cap_m, -1.0, 1.0, out=out[:, 0])
    np.clip(mar, -1.0, 1.0, out=out[:, 1])
    return out


@dataclass(frozen=True, eq=False)
class LinearPolicy:
    r"""The learner's policy: a target leverage linear in the :func:`features`,
    :math:`\ell^* = \theta_0 \cdot \phi(s)`, and a margin deposit, the logistic function of
    another linear form, :math:`a_1 = 1/(1 + e^{-\theta_1 \cdot \phi(s)}) \in (0, 1)`: the
    fraction of the wallet moved into the margin account this step, traded through
    :func:`box_action`.

    The policy never withdraws margin. Withdrawals (:math:`a_1 < 0`) were a trap for evolution
    strategies: a random policy that withdraws keeps the equity at the notional over the cap, so
    its account runs at the cap (100x) and shrinks geometrically, and the search settled on a
    negligible position liquidated in every episode.

    Parameters
    ----------
    weights : array_like, shape (2, N_FEATURES)
        :math:`(\theta_0, \theta_1)`, finite.
    maintenance_rate : float, default 0.005
        The environment's :math:`m`.
    band : float, default 0.1
        The no-trade band of :func:`box_action`.

    Examples
    --------
    >>> w = np.zeros((2, N_FEATURES)); w[0, 0] = 3.0  # always 3x long, half the wallet in
    >>> from levpaper.env import LeveragedSwapEnv
    >>> obs, _ = LeveragedSwapEnv(action_mode="box", max_leverage=10.0).reset(seed=0)
    >>> LinearPolicy(w).act(obs)
    array([[0.3, 0.5]])
    """

    weights: FloatArray
    maintenance_rate: float = 0.005
    band: float = 0.1

    def __post_init__(self) -> None:
        w = np.array(finite("weights", self.weights), dtype=np.float64)
        if w.shape != (2, N_FEATURES):
            raise ValueError(f"weights must have shape (2, {N_FEATURES}), got {w.shape}")
        w.setflags(write=False)
        object.__setattr__(self, "weights", w)
        _maintenance(self.maintenance_rate)
        in_range("band", self.band, 0.0, 1.0, high_closed=False)

    def act(self, obs: ObsArray) -> FloatArray:
        """Box actions for ``obs`` (see the class docstring)."""
        z = self.weights @ features(obs, self.maintenance_rate)
        return box_action(z[0], special.expit(z[1]), obs, self.maintenance_rate, self.band)


def mlp_size(hidden: int) -> int:
    """Number of parameters of an :class:`MLPPolicy` with ``hidden`` tanh units:
    ``hidden * N_FEATURES`` (the first layer; the bias feature carries its offsets) plus
    ``2 * hidden + 2`` (the output layer and its offsets).

    Examples
    --------
    >>> mlp_size(16)
    194
    """
    h = int(hidden)
    if isinstance(hidden, bool) or h != hidden or h < 1:
        raise ValueError(f"hidden must be an integer >= 1, got {hidden!r}")
    return h * N_FEATURES + 2 * h + 2


def mlp_outputs(params: FloatArray, phi: FloatArray, hidden: int) -> FloatArray:
    r"""The two outputs :math:`z = W_2 \tanh(W_1 \phi) + b_2` of ``P`` MLPs on their own
    blocks of features.

    Parameters
    ----------
    params : ndarray, shape (P, mlp_size(hidden))
        Flat parameters, in the order :math:`W_1` (hidden, N_FEATURES), :math:`W_2`
        (2, hidden), :math:`b_2` (2,), each row-major.
    phi : ndarray, shape (N_FEATURES, P, E)
        The :func:`features` of ``E`` observations per MLP.
    hidden : int

    Returns
    -------
    ndarray, shape (2, P, E)
        Row 0 the target leverage, row 1 the margin logit.
    """
    p = params.shape[0]
    h, f = int(hidden), N_FEATURES
    w1 = params[:, : h * f].reshape(p, h, f)
    w2 = params[:, h * f : h * f + 2 * h].reshape(p, 2, h)
    b2 = params[:, h * f + 2 * h :]
    act = np.tanh(np.einsum("phf,fpe->hpe", w1, phi))
    out: FloatArray = np.einsum("pjh,hpe->jpe", w2, act) + b2.T[:, :, None]
    return out


@dataclass(frozen=True, eq=False)
class MLPPolicy:
    r"""A one-hidden-layer tanh network over the :func:`features`: the same two outputs as
    :class:`LinearPolicy` (the target leverage :math:`\ell^*` and the logit of the margin
    deposit), :math:`z = W_2 \tanh(W_1 \phi(s)) + b_2`, traded through :func:`box_action`.

    Parameters
    ----------
    params : array_like, shape (mlp_size(hidden),)
        Flat parameters (see :func:`mlp_outputs`), finite.
    hidden : int, default 16
        Hidden tanh units, >= 1.
    maintenance_rate : float, default 0.005
        The environment's :math:`m`.
    band : float, default 0.1
        The no-trade band of :func:`box_action`.

    Examples
    --------
    >>> theta = np.zeros(mlp_size(4)); theta[-2] = 3.0  # b_2: 3x long, half the wallet in
    >>> from levpaper.env import LeveragedSwapEnv
    >>> obs, _ = LeveragedSwapEnv(action_mode="box", max_leverage=10.0).reset(seed=0)
    >>> MLPPolicy(theta, hidden=4).act(obs)
    array([[0.3, 0.5]])
    """

    params: FloatArray
    hidden: int = 16
    maintenance_rate: float = 0.005
    band: float = 0.1

    def __post_init__(self) -> None:
        size = mlp_size(self.hidden)
        w = np.array(finite("params", self.params), dtype=np.float64)
        if w.shape != (size,):
            raise ValueError(f"params must have shape ({size},) for hidden={self.hidden}, "
                             f"got {w.shape}")  # fmt: skip
        w.setflags(write=False)
        object.__setattr__(self, "params", w)
        _maintenance(self.maintenance_rate)
        in_range("band", self.band, 0.0, 1.0, high_closed=False)

    @property
    def weights(self) -> FloatArray:
        """The flat parameters (the name :class:`LinearPolicy` uses)."""
        return self.params

    def act(self, obs: ObsArray) -> FloatArray:
        """Box actions for ``obs`` (see the class docstring)."""
        phi = features(obs, self.maintenance_rate)
        z = mlp_outputs(self.params[None, :], phi[:, None, :], self.hidden)[:, 0]
        return box_action(z[0], special.expit(z[1]), obs, self.maintenance_rate, self.band)


@dataclass(frozen=True)
class FixedLeverage:
    """Hold a constant account leverage (the paper's 1x, 5x, 100x), signed (< 0 short).

    Parameters
    ----------
    leverage : float
        Target account leverage, finite (the environment's cap binds above it).
    margin : float, default 0.0
        Margin action every step, in [-1, 1] (0 keeps the initial wallet/margin split).
    maintenance_rate : float, default 0.005
    band : float, default 0.1
        The no-trade band of :func:`box_action`.

    Examples
    --------
    >>> FixedLeverage(100.0, band=0.0).leverage
    100.0
    >>> FixedLeverage(5.0, margin=2.0)
    Traceback (most recent call last):
    ...
    ValueError: margin must lie in [-1.0, 1.0], got 2.0
    """

    leverage: float
    margin: float = 0.0
    maintenance_rate: float = 0.005
    band: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "leverage", float(finite("leverage", self.leverage)))
        in_range("margin", self.margin, -1.0, 1.0)
        _maintenance(self.maintenance_rate)
        in_range("band", self.band, 0.0, 1.0, high_closed=False)

    def act(self, obs: ObsArray) -> FloatArray:
        """Box actions for ``obs``."""
        return box_action(self.leverage, self.margin, obs, self.maintenance_rate, self.band)


@dataclass(frozen=True)
class KellyLeverage:
    r"""The Kelly leverage of wealth, :math:`L_K = (\mu - r_f)/\sigma^2` (E14), held constant.

    It targets a leverage of total wealth :math:`W + E` (the Kelly criterion's), so the account
    leverage is :math:`L_K (W + E)/E`, clipped to :math:`[-L_{\max}, L_{\max}]`. With the default
    driftless price (:math:`\mu = 0`) the Kelly leverage is 0: stay flat.

    Parameters
    ----------
    mu, sigma : float
        The price's annualised drift and volatility (:math:`\sigma > 0`), known to the policy.
    risk_free : float, default 0.0
    max_leverage : float, default 100.0
        :math:`L_{\max} > 0`.
    maintenance_rate, band : float
        As in :class:`FixedLeverage`.

    Examples
    --------
    >>> round(KellyLeverage(mu=0.5, sigma=0.8).kelly, 4)
    0.7812
    >>> KellyLeverage.for_process(GBM(mu=0.0, sigma=0.8)).kelly
    0.0
    """

    mu: float
    sigma: float
    risk_free: float = 0.0
    max_leverage: float = 100.0
    maintenance_rate: float = 0.005
    band: float = 0.1
    kelly: float = field(init=False)

    def __post_init__(self) -> None:
        kelly = float(kelly_leverage(self.mu, self.sigma, self.risk_free))
        positive("max_leverage", self.max_leverage)
        _maintenance(self.maintenance_rate)
        in_range("band", self.band, 0.0, 1.0, high_closed=False)
        object.__setattr__(self, "kelly", kelly)

    @classmethod
    def for_process(
        cls, process: GBM | MertonJumpDiffusion, max_leverage: float = 100.0, band: float = 0.1
    ) -> KellyLeverage:
        """The Kelly policy for a GBM (or the diffusive part of a Merton process: its jumps are
        ignored), with its true parameters."""
        if not isinstance(process, GBM | MertonJumpDiffusion):
            raise ValueError(f"process must be a GBM or MertonJumpDiffusion, got {process!r}")
        return cls(process.mu, process.sigma, max_leverage=max_leverage, band=band)

    def act(self, obs: ObsArray) -> FloatArray:
        """Box actions for ``obs``."""
        o = _batch(obs).astype(np.float64)
        equity = np.maximum(o[:, 4], 1e-9)
        target = np.clip(self.kelly * (o[:, 4] + o[:, 12]) / equity, -self.max_leverage,
                         self.max_leverage)  # fmt: skip
        return box_action(target, 0.0, o, self.maintenance_rate, self.band)


@dataclass(frozen=True)
class VolatilityAdjustedLeverage:
    r"""The paper's volatility-adjusted leverage (E12), clipped:

    .. math:: L^*(t) = \mathrm{clip}\Big(\frac{\kappa}{\sigma_P(t)}
              \min\big(100, \frac{M(t)}{\mathrm{VaR}(t)}\big),\ 0,\ L_{\max}\Big).

    :math:`\sigma_P(t)` is the environment's annualised EWMA volatility of the pool price
    (observation 6). :math:`\mathrm{VaR}(t)` is the one-step parametric VaR at level ``alpha``
    (:func:`levpaper.risk.one_step_var`) of a 1x position whose notional is the margin
    :math:`M(t)` (the account's equity): :math:`\mathrm{VaR} = q M`, so
    :math:`M/\mathrm{VaR} = 1/q`, the leverage at which one step's VaR consumes the margin
    (about 51 at 80% volatility, hourly). As
    :math:`1/q \propto 1/\sigma_P`, :math:`L^* \approx \kappa/(z_\alpha\sigma_P^2\sqrt{\Delta t})`
    has the Kelly shape with :math:`\kappa/(z_\alpha\sqrt{\Delta t})` in place of the drift. The
    ``min`` caps only the second factor, so :math:`L^*` exceeds 100 when :math:`\kappa >
    \sigma_P`: the clip to :math:`[0, L_{\max}]` is ours (ledger row E12, ``book/ledger.toml``).
    :meth:`leverage` is :func:`levpaper.risk.vol_adjusted_leverage`, the one implementation of
    E12 (its docstring says which reading of the paper's VaR it is), which the market's
    ``vol_leverage`` control also uses. The position is long (or short with ``side=-1``).

    Parameters
    ----------
    kappa : float, default 0.02
        :math:`\kappa > 0` (a volatility; 0.02 gives about 1.3x at 80% volatility).
    dt : float, default :data:`levpaper.processes.HOURLY_DT`
        The environment's step, > 0.
    alpha : float, default 0.99
    max_leverage : float, default 100.0
    side : {1, -1}, default 1
    maintenance_rate, band : float
        As in :class:`FixedLeverage`.

    Examples
    --------
    >>> pol = VolatilityAdjustedLeverage(kappa=0.02)
    >>> round(float(pol.leverage(0.8)), 3)
    1.268
    >>> float(pol.leverage(0.01))  # kappa > sigma: above 100 before the clip
    100.0
    """

    kappa: float = 0.02
    dt: float = HOURLY_DT
    alpha: float = 0.99
    max_leverage: float = 100.0
    side: int = 1
    maintenance_rate: float = 0.005
    band: float = 0.1

    def __post_init__(self) -> None:
        positive("kappa", self.kappa)
        positive("dt", self.dt)
        in_range("alpha", self.alpha, 0.0, 1.0, low_closed=False, high_closed=False)
        positive("max_leverage", self.max_leverage)
        if self.side not in (1, -1):
            raise ValueError(f"side must be 1 or -1, got {self.side!r}")
        _maintenance(self.maintenance_rate)
        in_range("band", self.band, 0.0, 1.0, high_closed=False)

    def leverage(self, sigma: npt.ArrayLike) -> FloatArray:
        """:math:`L^*` (>= 0) for annualised volatility ``sigma`` (0 gives :math:`L_{\\max}`)."""
        return vol_adjusted_leverage(
            sigma, self.kappa, self.dt, alpha=self.alpha, max_leverage=self.max_leverage
        )

    def act(self, obs: ObsArray) -> FloatArray:
        """Box actions for ``obs``."""
        o = _batch(obs)
        target = self.side * self.leverage(o[:, 6].astype(np.float64))
        return box_action(target, 0.0, o, self.maintenance_rate, self.band)


class RandomPolicy:
    """Uniform random box actions (target leverage uniform in ±cap, random margin moves).

    Parameters
    ----------
    rng : numpy.random.Generator
        Its only source of randomness.

    Examples
    --------
    >>> pol = RandomPolicy(np.random.default_rng(0))
    >>> pol.act(np.zeros((3, 14), dtype=np.float32)).shape
    (3, 2)
    """

    def __init__(self, rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {rng!r}")
        self.rng = rng

    def act(self, obs: ObsArray) -> FloatArray:
        """Random box actions, one row per observation."""
        n = _batch(obs).shape[0]
        return self.rng.uniform(-1.0, 1.0, size=(n, 2))

r"""The observation and the discrete actions of the environments (section 3.1, ledger row E9).

Shared by :class:`levpaper.env.LeveragedSwapEnv`,
:class:`levpaper.vector_env.LeveragedSwapVectorEnv`, :class:`levpaper.shared_env.SharedPoolEnv`
and the market's :class:`levpaper.market.EnvPolicy`:

* :data:`FEATURES` -- name and bounds of each of the 14 observation features, in order, and
  :data:`OBS_LOW`, :data:`OBS_HIGH` as float32 arrays; :func:`fill_observation` computes them from
  the pool and the accounts (with :class:`ObservationScale`, the per-environment constants);
* :data:`DISCRETE_ACTIONS` -- the names of the 8 discrete actions, and the coefficient tables
  :data:`KEEP`, :data:`BUY`, :data:`UP`, :data:`DOWN` and :data:`MARGIN` that define each action's
  target leverage and margin change (:func:`discrete_target`).

The class docstring of :class:`levpaper.env.LeveragedSwapEnv` explains each feature and action.

Examples
--------
>>> [name for name, _, _ in FEATURES][:4]
['price', 'reserve_a', 'reserve_b', 'leverage']
>>> DISCRETE_ACTIONS[1], discrete_target(1, 0.0, 5.0, 0.0)  # buy: leverage up by one step
('buy', 5.0)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from levpaper._validate import FloatArray

__all__ = [
    "BUY",
    "DISCRETE_ACTIONS",
    "DOWN",
    "FEATURES",
    "HIGH",
    "KEEP",
    "LOW",
    "MARGIN",
    "N_DISCRETE",
    "N_FEATURES",
    "OBS_HIGH",
    "OBS_LOW",
    "TINY",
    "UP",
    "ObservationScale",
    "discrete_target",
    "fill_observation",
]

TINY = 1e-300
"""Floor of the equity in the leverage ratio (a flat account without equity has leverage 0)."""

# --- observation ------------------------------------------------------------------------------

FEATURES: tuple[tuple[str, float, float], ...] = (
    ("price", 0.0, 100.0),
    ("reserve_a", 0.0, 100.0),
    ("reserve_b", 0.0, 100.0),
    ("leverage", -1.0, 1.0),
    ("margin", 0.0, 100.0),
    ("volatility", 0.0, 100.0),
    ("price_volatility", 0.0, 10.0),
    ("side", -1.0, 1.0),
    ("size", 0.0, 10_000.0),
    ("margin_ratio", 0.0, 1.0),
    ("liquidation_distance", 0.0, 1.0),
    ("time_left", 0.0, 1.0),
    ("wallet", 0.0, 100.0),
    ("leverage_cap", 0.0, 1.0),
)
"""Name, lower and upper bound of each observation feature, in order."""

N_FEATURES = len(FEATURES)
"""Number of observation features (14)."""
OBS_LOW = np.array([f[1] for f in FEATURES], dtype=np.float32)
"""Lower bounds of the features, float32, shape ``(N_FEATURES,)``."""
OBS_HIGH = np.array([f[2] for f in FEATURES], dtype=np.float32)
"""Upper bounds of the features, float32, shape ``(N_FEATURES,)``."""
LOW = tuple(float(v) for v in OBS_LOW)
"""The lower bounds as Python floats (for the scalar clip of the single environment)."""
HIGH = tuple(float(v) for v in OBS_HIGH)
"""The upper bounds as Python floats."""


class ObservationScale(NamedTuple):
    """Constants of :func:`fill_observation` (reciprocals precomputed once per environment).

    Attributes
    ----------
    maintenance_rate : float
        :math:`m` of the leverage feature (:math:`m\\ell`) and of the leverage cap's.
    inv_c0 : float or ndarray
        :math:`1/C_0`, the initial capital.
    inv_p0 : float
        Reciprocal of the reset price.
    inv_x0 : float
        Reciprocal of the reset reserve of A.
    inv_y0 : float
        Reciprocal of the reset reserve of B.
    inv_dt : float
        :math:`1/\\Delta t` (annualises the variance per step).
    horizon : float
        :math:`H`.
    inv_h : float
        :math:`1/H`.
    """

    maintenance_rate: float
    inv_c0: float | FloatArray
    inv_p0: float
    inv_x0: float
    inv_y0: float
    inv_dt: float
    horizon: float
    inv_h: float


def fill_observation(
    o: FloatArray,
    scale: ObservationScale,
    pool: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    account: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    t: FloatArray | float,
    cap: FloatArray | float,
    liquidation_rate: FloatArray | float | None = None,
) -> FloatArray:
    """Write the float64 observation features (before rounding and clipping) into ``o``.

    The order of operations is that of the single environment, so the vector environments'
    observations are bit-identical to it. Feature 5 (the volatility penalty) is left to the
    caller.

    Parameters
    ----------
    o : ndarray, shape ``(N_FEATURES, *shape)``
        Written in place (all features but 5).
    scale : ObservationScale
        The environment's constants.
    pool : tuple of ndarray
        ``(p, x, y, v)``: pool price, reserves, EWMA variance per step, broadcast to ``shape``
        (in the shared-pool environment the pool arrays have shape ``(N, 1)`` against the
        accounts' ``(N, K)``).
    account : tuple of ndarray
        ``(q, cash, wallet, equity, q p, |q p|)``, shape ``shape``.
    t : float or ndarray
        Steps taken.
    cap : float or ndarray
        The leverage cap in force.
    liquidation_rate : float or ndarray, optional
        Maintenance rate of the liquidation distance (the market's rate in force,
        :class:`levpaper.market.EnvPolicy`); default the scale's.

    Returns
    -------
    ndarray
        The signed leverage :math:`QP/E`.

    Examples
    --------
    >>> scale = ObservationScale(0.005, 1e-4, 1 / 2500, 1e-3, 1 / 2.5e6, 8760.0, 720.0, 1 / 720)
    >>> o = np.zeros((N_FEATURES, 1))
    >>> one = np.ones(1)
    >>> pool = (2500.0 * one, 1000.0 * one, 2.5e6 * one, 1e-6 * one)
    >>> account = (1.0 * one, -2000.0 * one, 0.0 * one, 500.0 * one, 2500.0 * one, 2500.0 * one)
    >>> fill_observation(o, scale, pool, account, 0.0, 100.0).tolist()  # leverage 5
    [5.0]
    >>> float(o[9, 0])  # margin ratio E/N
    0.2
    """
    p, x, y, v = pool
    q, cash, w, e, qp, nn = account
    m = scale.maintenance_rate
    lev = qp / np.maximum(e, TINY)
    s = np.sign(q, out=o[7])
    np.multiply(p, scale.inv_p0, out=o[0])
    np.multiply(x, scale.inv_x0, out=o[1])
    np.multiply(y, scale.inv_y0, out=o[2])
    np.multiply(lev, m, out=o[3])
    np.multiply(e, scale.inv_c0, out=o[4])
    # o[5], the volatility penalty, is written by the caller
    np.multiply(v, scale.inv_dt, out=o[6])
    np.sqrt(o[6], out=o[6])
    np.multiply(nn, scale.inv_c0, out=o[8])
    np.divide(e, np.maximum(np.maximum(nn, e), TINY), out=o[9])  # <= 1, 1 when flat
    m_liq = m if liquidation_rate is None else liquidation_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = cash / (nn - m_liq * qp)
    dist += s
    o[10] = np.where(q != 0, dist, 1.0)
    np.multiply(scale.horizon - np.asarray(t), scale.inv_h, out=o[11])
    np.multiply(w, scale.inv_c0, out=o[12])
    np.multiply(cap, m, out=o[13])
    return np.asarray(lev, dtype=np.float64)


# --- discrete actions -------------------------------------------------------------------------

DISCRETE_ACTIONS: tuple[str, ...] = (
    "hold",
    "buy",
    "sell",
    "leverage_up",
    "leverage_down",
    "add_margin",
    "remove_margin",
    "close",
)
"""Names of the discrete actions, in the order of their indices."""

N_DISCRETE = len(DISCRETE_ACTIONS)
"""Number of discrete actions (8)."""

# The target signed leverage of discrete action k is
#   KEEP[k] * l + BUY[k] * c + sign(Q) * (UP[k] * c - DOWN[k] * min(|l|, c)),
# with l the current signed leverage and c the leverage step; MARGIN[k] is the sign of the margin
# change (times the margin step). The single environment evaluates the same expression by cases.
KEEP = np.array([1, 1, 1, 1, 1, 1, 1, 0], dtype=np.float64)
"""Coefficient of the current leverage in each action's target (0 only for close)."""
BUY = np.array([0, 1, -1, 0, 0, 0, 0, 0], dtype=np.float64)
"""Coefficient of the leverage step, whatever the side (buy +1, sell -1)."""
UP = np.array([0, 0, 0, 1, 0, 0, 0, 0], dtype=np.float64)
"""Coefficient of the leverage step on the position's side (leverage up)."""
DOWN = np.array([0, 0, 0, 0, 1, 0, 0, 0], dtype=np.float64)
"""Coefficient of :math:`\\min(|\\ell|, c)` against the position's side (leverage down)."""
MARGIN = np.array([0, 0, 0, 0, 0, 1, -1, 0], dtype=np.float64)
"""Sign of the margin change (add margin +1, remove margin -1), times the margin step."""


def discrete_target(k: int, lev: float, step: float, side: float) -> float:
    r"""Target signed leverage of discrete action ``k``, from the tables.

    :math:`\text{KEEP}_k\,\ell + \text{BUY}_k\,c + s(\text{UP}_k\,c - \text{DOWN}_k\min(|\ell|,
    c))`, with :math:`\ell` the signed leverage after the margin change, :math:`c` the leverage
    step (``leverage_step`` times the cap) and :math:`s = \mathrm{sign}(Q)`. The environments
    evaluate the same expression (the single one by cases, the vector one with the tables).

    Parameters
    ----------
    k : int
        Action index in ``[0, N_DISCRETE)``.
    lev, step, side : float
        :math:`\ell`, :math:`c` and :math:`s`.

    Returns
    -------
    float

    Examples
    --------
    >>> [discrete_target(k, 2.0, 5.0, 1.0) for k in range(N_DISCRETE)]
    [2.0, 7.0, -3.0, 7.0, 0.0, 2.0, 2.0, 0.0]
    """
    return float(
        KEEP[k] * lev + BUY[k] * step + side * (UP[k] * step - DOWN[k] * min(abs(lev), step))
    )

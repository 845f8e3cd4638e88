r"""Several leveraged traders sharing one pool: the multi-agent environment of section 3.3.

:class:`SharedPoolEnv` steps ``N`` independent markets at once; each market is one constant-product
pool with ``K`` margin accounts on it (the *agents*), the arbitrageurs, the noise traders if
configured, the liquidation engine and the insurance fund of the pool. It is
:class:`levpaper.env.LeveragedSwapEnv` with ``K`` accounts instead of one: the same configuration
(:class:`levpaper.env.LeveragedSwapConfig`, box actions), the same observation of 14 features per
account, the same reward per account, the same external price stream per pool. With ``K = 1`` its
trajectories equal those of :class:`levpaper.vector_env.LeveragedSwapVectorEnv` seeded the same
way (to rounding; a test checks it).

**Order of events in a step** (``t`` steps taken so far):

1. *The agents act*, each at the pool it observed: the margin change, then the trade to its
   target leverage, measured at the observed mark, as in the single environment, with one more
   rule, a *position limit*: no trade takes an account's notional above
   :math:`L_{\max} C_0` (``max_leverage`` times ``initial_capital``, the position a fresh account
   opens at the cap), or above its current notional if that is larger (like the cap, the limit
   binds only increases). Without it an account that has profited from the others' price impact
   could build a position of a sizeable fraction of the pool, whose close the pool cannot take
   (the single environment has no such limit; with ``K = 1`` it rarely binds). The trades reach
   the pool one after the other in a rotating order: at step ``t`` account ``(t + j) mod K`` is
   the ``j``-th, so each agent is first equally often and none has a standing place in the
   queue. A later trade executes at the pool moved by the earlier ones (what an AMM does with the
   transactions of one block).
2. The external price moves along the pool's stream; arbitrageurs trade the pool to the edge of
   its no-arbitrage band (:func:`levpaper.pool.arbitrage_trade`, ``rule="band_edge"``).
3. Noise traders, if configured (one net order per pool).
4. *Mark and liquidation cascade*: at the pool price, every account with
   :math:`E < mN` is liquidated, one at a time, worst margin ratio :math:`E/N` first, closed
   through the pool (penalty to the pool's insurance fund, shortfall from the fund, then bad
   debt); the mark is recomputed after each close, so one agent's liquidation sale can liquidate
   the next.
5. The pool's EWMA variance, each account's reward
   :math:`r = w_1\,\text{profit} - w_2\,\text{liquidation\_penalty} - w_3\,\sigma_V` (E10) and
   observation.

**Episodes.** All ``N`` markets start and end together. An account's episode ends when it is
liquidated (if ``terminate_on_liquidation``), when its wealth falls below ``ruin_fraction`` of
:math:`C_0` (``terminated``), or at the horizon (``truncated``). There is no autoreset: the
market goes on for the others, an ended account is *inactive* (its reward is 0, its actions are
ignored; a position it still holds is closed at its next turn to act), and
:meth:`SharedPoolEnv.reset` starts the next episode of every market. Stepping when no account
is active raises ``RuntimeError``.

The ``traders`` and ``adversary`` hooks of the config are not supported (each is written for
one agent's position); noise traders are. The accounts' largest positions together,
:math:`K L_{\max} C_0`, must stay within half the pool's reserve of B.

Examples
--------
>>> from levpaper.env import LeveragedSwapConfig
>>> env = SharedPoolEnv(2, 3, LeveragedSwapConfig(action_mode="box", horizon=24))
>>> obs, info = env.reset(seed=0)
>>> obs.shape
(2, 3, 14)
>>> act = np.zeros((2, 3, 2)); act[:, :, 0] = 0.05  # every agent 5x long (cap 100x)
>>> obs, reward, terminated, truncated, info = env.step(act)
>>> reward.shape, info["pool_price"].shape
((2, 3), (2,))
>>> bool(np.all(info["position"] > 0))
True
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.utils import seeding

from levpaper import _market_kernel as mk
from levpaper import kernel
from levpaper._market_kernel import BLOCK
from levpaper._validate import FloatArray, positive_int
from levpaper.env import LeveragedSwapConfig, make_config
from levpaper.spaces import N_FEATURES, OBS_HIGH, OBS_LOW, TINY, ObservationScale, fill_observation

__all__ = ["SharedPoolEnv"]

BoolArray = npt.NDArray[np.bool_]

_ACCOUNT_KEYS = (
    "profit",
    "liquidation_penalty",
    "volatility_penalty",
    "equity",
    "wealth",
    "position",
    "leverage",
    "liquidated",
)
_POOL_KEYS = (
    "pool_price",
    "external_price",
    "insurance_fund",
    "bad_debt",
    "reserve_a",
    "reserve_b",
)


class SharedPoolEnv:
    """``n_accounts`` leveraged traders on each of ``num_pools`` pools (module docstring).

    Parameters
    ----------
    num_pools : int
        ``N``, independent markets stepped together, >= 1.
    n_accounts : int
        ``K``, margin accounts (agents) per pool, >= 1.
    config : LeveragedSwapConfig, optional
        With ``action_mode="box"``; keyword ``overrides`` replace its fields.

    Attributes
    ----------
    observation_space : gymnasium.spaces.Box
        Shape ``(N, K, 14)``, float32; ``obs[i, k]`` is account ``k`` of pool ``i``, laid out as
        the single environment's observation.
    action_space : gymnasium.spaces.Box
        Shape ``(N, K, 2)`` in [-1, 1]: target leverage as a fraction of the cap, margin change.
    active : ndarray of bool, shape (N, K)
        Accounts whose episode is going on.

    Raises
    ------
    ValueError
        On a bad size, a discrete action mode, or a ``traders``/``adversary`` hook.
    """

    def __init__(
        self,
        num_pools: int,
        n_accounts: int,
        config: LeveragedSwapConfig | None = None,
        **overrides: Any,
    ) -> None:
        n = positive_int("num_pools", num_pools)
        k = positive_int("n_accounts", n_accounts)
        cfg = make_config(config, overrides)
        if cfg.action_mode != "box":
            raise ValueError(f"action_mode must be 'box', got {cfg.action_mode!r}")
        if cfg.traders or cfg.adversary is not None:
            raise ValueError("the traders and adversary hooks are not supported with shared pools")
        if not k * cfg.max_leverage * cfg.initial_capital <= 0.5 * cfg.reserve_b:
            raise ValueError(
                "n_accounts * max_leverage * initial_capital must be <= 0.5 * reserve_b (the "
                f"accounts' largest positions together within half the pool), got {k} accounts"
            )
        self.config = cfg
        self.num_pools, self.n_accounts = n, k
        self.single_observation_space = gym.spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        low = np.broadcast_to(OBS_LOW, (n, k, N_FEATURES))
        high = np.broadcast_to(OBS_HIGH, (n, k, N_FEATURES))
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(n, k, 2), dtype=np.float32)
        self._g = kernel.fee_factor(cfg.fee)
        self._m = float(cfg.maintenance_rate)
        self._c0 = float(cfg.initial_capital)
        self._x0 = float(cfg.pool_reserve_a)
        self._y0 = float(cfg.reserve_b)
        self._margin0 = cfg.initial_margin_fraction * self._c0
        self._wallet0 = self._c0 - self._margin0
        self._var0 = mk.initial_variance(cfg.process) * cfg.dt
        self._ruin = cfg.ruin_fraction * self._c0
        self._limit = float(cfg.max_leverage) * self._c0
        self._noise_scale = cfg.noise_traders.std * self._y0 if cfg.noise_traders else 0.0
        self._scale = ObservationScale(
            self._m, 1.0 / self._c0, self._x0 / self._y0, 1.0 / self._x0, 1.0 / self._y0,
            1.0 / cfg.dt, float(cfg.horizon), 1.0 / cfg.horizon,
        )  # fmt: skip
        self._cap = np.full((n, 1), float(cfg.max_leverage))
        # pools (N,) and accounts (N, K)
        self._x, self._y = np.empty(n), np.empty(n)
        self._pext, self._v, self._pprev = np.empty(n), np.empty(n), np.empty(n)
        self._fund, self._bad = np.empty(n), np.empty(n)
        self._out_a, self._out_b = np.empty(n), np.empty(n)  # held by arbitrageurs and noise
        self._cash, self._q, self._w = np.empty((n, k)), np.empty((n, k)), np.empty((n, k))
        self._wprev = np.empty((n, k))
        self.active = np.zeros((n, k), dtype=np.bool_)
        self._t = 0
        self._obs64 = np.empty((N_FEATURES, n, k))
        # random streams, one per pool, as in the vector environment
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._stream = np.full(n, mk.stream_start(cfg.process))
        self._ratios = np.empty((n, BLOCK))
        self._noise = np.empty((n, BLOCK)) if cfg.noise_traders is not None else None
        self._pos = BLOCK
        self._started = False

    # -- curriculum hook ----------------------------------------------------------------------

    @property
    def leverage_cap(self) -> FloatArray:
        """The leverage cap of each pool's accounts, shape (N,) (a copy)."""
        return self._cap[:, 0].copy()

    def set_leverage_cap(self, cap: float | npt.ArrayLike) -> None:
        """Set the cap of every pool (a scalar) or of each (shape (N,)).

        Raises
        ------
        ValueError
            If a cap is outside (0, 1/maintenance_rate) or the shape is wrong.
        """
        self._cap[:, 0] = mk.leverage_caps(cap, self.num_pools, self._m)

    # -- API ----------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | list[int | None] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """Start an episode in every market, seeding pool ``i`` with ``seed + i`` (an int) or
        ``seed[i]`` (a list); ``None`` continues each pool's price stream."""
        n = self.num_pools
        seeds = mk.seed_list(seed, n)
        fresh = False
        for i, s in enumerate(seeds):
            if s is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(s)[0]
                self._stream[i] = mk.stream_start(self.config.process, self._rngs[i])
                fresh = True
        if fresh:  # the streams stay in step: every pool starts a new block
            self._pos = BLOCK
        cfg = self.config
        self._x[:] = self._x0
        self._y[:] = self._y0
        self._pext[:] = cfg.initial_price
        self._v[:] = self._var0
        self._pprev[:] = self._y0 / self._x0
        self._fund[:] = cfg.insurance_fund
        self._bad[:] = 0.0
        self._out_a[:] = 0.0
        self._out_b[:] = 0.0
        self._cash[:] = self._margin0
        self._q[:] = 0.0
        self._w[:] = self._wallet0
        self._wprev[:] = self._wallet0 + self._margin0
        self.active[:] = True
        self._t = 0
        self._started = True
        zero = np.zeros((n, self.n_accounts))
        p, qp, e, nn = self._mark_now()
        sv = nn * np.sqrt(self._v)[:, None] * self._scale.inv_c0
        return self._observe(p, qp, e, nn, zero, zero, sv, zero.astype(np.bool_))

    def step(
        self, actions: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float32], FloatArray, BoolArray, BoolArray, dict[str, Any]]:
        """Advance every market one step (module docstring); returns per-account arrays of
        shape (N, K): observations (N, K, 14), rewards, terminated, truncated, and ``info``."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if not self.active.any():
            raise RuntimeError("every account's episode has ended: call reset()")
        n, k = self.num_pools, self.n_accounts
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != (n, k, 2) or not (np.all(a >= -1.0) and np.all(a <= 1.0)):
            raise ValueError(f"actions must be finite numbers in [-1, 1] of shape ({n}, {k}, 2)")
        cfg = self.config
        was_active = self.active.copy()
        with np.errstate(all="ignore"):
            # 1. the agents, at the mark they observed, one after the other
            e, lev, final = self._apply_action(a, was_active)
            self._trade(e, lev, final)
            # 2. the external price and the arbitrageurs; 3. noise traders
            self._advance_price()
            # 4. mark and the liquidation cascade, worst margin ratio first
            liquidated, lp = self._liquidate()
            p, qp, e, nn = self._mark_now()
            # 5. volatility, reward, episode ends
            wealth, profit, sv, reward = self._reward(e, nn, lp, was_active)
            self._wprev[:] = wealth
            self._t += 1
            terminated = was_active & (wealth < self._ruin)
            if cfg.terminate_on_liquidation:
                terminated |= was_active & liquidated
            truncated = was_active & (self._t >= cfg.horizon)
            self.active &= ~(terminated | truncated)
        obs, info = self._observe(p, qp, e, nn, profit, lp, sv, liquidated)
        return obs, reward, terminated, truncated, info

    def conservation_residual(self) -> FloatArray:
        r"""Largest relative per-token residual of each market, shape (N,).

        Token A: pool reserve + the accounts' sizes + what arbitrageurs and noise traders took
        out = the initial reserve. Token B: pool reserve + the accounts' cash and wallets + the
        insurance fund + what arbitrageurs and noise traders took out - bad debt = the initial
        reserve + :math:`K C_0` + the initial fund. Each residual is relative to the token's
        initial total.
        """
        k, cfg = self.n_accounts, self.config
        a0 = self._x0
        b0 = self._y0 + k * self._c0 + cfg.insurance_fund
        ra = self._x + self._q.sum(axis=1) + self._out_a - a0
        rb = self._y + (self._cash + self._w).sum(axis=1) + self._fund + self._out_b - self._bad
        return np.asarray(np.maximum(np.abs(ra) / a0, np.abs(rb - b0) / b0), dtype=np.float64)

    # -- the phases of a step -----------------------------------------------------------------

    def _apply_action(
        self, a: FloatArray, was_active: BoolArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Step 1a: each active account's margin change and capped target leverage (as in the
        vector environment), then the position limit. Returns the equity and the signed leverage
        after the margin change, and the target."""
        cap = self._cap
        _, qp, e, nn = self._mark_now()
        mf = np.where(was_active, a[..., 1], 0.0)
        dm = mk.margin_change(mf, e, nn, self._w, cap)
        self._w -= dm
        self._cash += dm
        e = e + dm
        lev = qp / np.maximum(e, TINY)
        tgt = np.where(was_active, a[..., 0] * cap, 0.0)
        final = mk.cap_target(tgt, lev, cap)
        # the position limit: notional at most L_max C0, or the current one on the same side
        room = np.maximum(self._limit, np.where(final * lev > 0, nn, 0.0))
        final = np.copysign(np.minimum(np.abs(final), room / np.maximum(e, TINY)), final)
        return e, lev, final

    def _trade(self, e: FloatArray, lev: FloatArray, final: FloatArray) -> None:
        """Step 1b: the accounts' trades reach the pool in the rotating order, each closing its
        position first on a close or a change of side."""
        k = self.n_accounts
        dn = (final - lev) * e
        closing = (final * lev <= 0) & (self._q != 0)
        for j in range(k):
            acc = (self._t + j) % k
            rows = np.flatnonzero(closing[:, acc])
            if rows.size:
                left = self._close(rows, acc, 0.0)
                dn[rows, acc] = final[rows, acc] * left
            self._fill(acc, dn[:, acc])

    def _advance_price(self) -> None:
        """Steps 2 and 3: the external price moves, the arbitrageurs trade each pool to the edge
        of its band (:func:`levpaper.kernel.arbitrage`), then the noise traders."""
        if self._pos == BLOCK:
            self._refill()
        self._pext *= self._ratios[:, self._pos]
        da, db, _, _, _ = kernel.arbitrage(self._x, self._y, self._pext, self._g, True)
        self._x += da
        self._y += db
        self._out_a -= da
        self._out_b -= db
        if self._noise is not None:
            self._order(self._noise_scale * self._noise[:, self._pos])
        self._pos += 1

    def _liquidate(self) -> tuple[BoolArray, FloatArray]:
        """Step 4: the liquidation cascade. In each pool, while an account is below maintenance,
        the one with the worst margin ratio :math:`E/N` is closed and settled, and the mark is
        recomputed. Returns the liquidated mask and the liquidation penalty of the reward."""
        n, k = self.num_pools, self.n_accounts
        rate = float(self.config.liquidation_penalty_rate)
        liquidated = np.zeros((n, k), dtype=np.bool_)
        lp = np.zeros((n, k))
        for _ in range(k):
            _, _, e, nn = self._mark_now()
            below = kernel.liquidatable(e, nn, self._m)  # a flat account: never below
            rows = np.flatnonzero(below.any(axis=1))
            if not rows.size:
                break
            ratio = np.where(below[rows], e[rows] / np.maximum(nn[rows], TINY), np.inf)
            worst = np.argmin(ratio, axis=1)
            e_before = e[rows, worst]
            left = self._close_many(rows, worst, rate)
            lp[rows, worst] = (np.maximum(e_before, 0.0) - left) * self._scale.inv_c0
            liquidated[rows, worst] = True
        return liquidated, lp

    def _reward(
        self, e: FloatArray, nn: FloatArray, lp: FloatArray, was_active: BoolArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Step 5: the pool's EWMA variance and each active account's reward (E10). Returns the
        wealth, the profit, the volatility penalty and the reward."""
        cfg = self.config
        ret = self._y / self._x / self._pprev - 1.0
        self._v *= cfg.volatility_decay
        self._v += (1.0 - cfg.volatility_decay) * ret * ret
        self._pprev[:] = self._y / self._x
        wealth = self._w + e
        profit = (wealth - self._wprev) * self._scale.inv_c0
        sv = nn * np.sqrt(self._v)[:, None] * self._scale.inv_c0
        w1, w2, w3 = cfg.reward_weights
        reward = np.where(was_active, (w1 * profit - w2 * lp) - w3 * sv, 0.0)
        return wealth, profit, sv, reward

    # -- internals ----------------------------------------------------------------------------

    def _mark_now(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        p = (self._y / self._x)[:, None]
        qp = self._q * p
        e = self._cash + qp
        return p, qp, e, np.abs(qp)

    def _fill(self, acc: int, dn: FloatArray) -> None:
        """Account ``acc`` of every pool pays ``dn`` of B into its pool (> 0, exact in) or takes
        ``-dn`` out (< 0, exact out, at most half the reserve), as the single environment."""
        dq, db = kernel.trade_notional(dn, self._x, self._y, self._g)
        self._x -= dq
        self._y += db
        self._q[:, acc] += dq
        self._cash[:, acc] -= db

    def _order(self, order: FloatArray) -> None:
        """Signed orders in B of other traders (see :class:`levpaper.env.PoolTrader`)."""
        dx, dy = kernel.apply_orders(self._x, self._y, order, self._g)
        self._x += dx
        self._y += dy
        self._out_a -= dx
        self._out_b -= dy

    def _close(self, rows: npt.NDArray[np.intp], acc: int, rate: float) -> FloatArray:
        return self._close_many(rows, np.full(rows.size, acc), rate)

    def _close_many(
        self, rows: npt.NDArray[np.intp], accs: npt.NDArray[np.intp], rate: float
    ) -> FloatArray:
        """Close account ``accs[i]`` of pool ``rows[i]`` through the pool and settle
        (:func:`levpaper.kernel.settle`). Returns the cash left (>= 0)."""
        x, y = self._x[rows], self._y[rows]
        q, cash = self._q[rows, accs], self._cash[rows, accs]
        self._x[rows], self._y[rows], recv, pay = kernel.close_trade(x, y, q, self._g)
        s = kernel.settle(cash + recv - pay, recv + pay, self._fund[rows], rate)
        self._fund[rows] = s.fund
        self._bad[rows] += s.bad_debt
        self._q[rows, accs] = 0.0
        self._cash[rows, accs] = s.cash
        return np.asarray(s.cash, dtype=np.float64)

    def _refill(self) -> None:
        rngs = self._rngs
        assert all(r is not None for r in rngs)
        ratios, noise = mk.draw_block(
            self.config.process,
            [r for r in rngs if r is not None],
            self._stream,
            self.config.dt,
            self._noise is not None,
        )
        self._ratios[:] = ratios
        if noise is not None and self._noise is not None:
            self._noise[:] = noise
        self._pos = 0

    def _observe(
        self,
        p: FloatArray,
        qp: FloatArray,
        e: FloatArray,
        nn: FloatArray,
        profit: FloatArray,
        lp: FloatArray,
        sv: FloatArray,
        liquidated: BoolArray,
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        o = self._obs64
        o[5] = sv
        pool = (p, self._x[:, None], self._y[:, None], self._v[:, None])
        lev = fill_observation(
            o, self._scale, pool, (self._q, self._cash, self._w, e, qp, nn), float(self._t),
            self._cap,
        )  # fmt: skip
        obs = np.moveaxis(o, 0, -1).astype(np.float32)
        np.clip(obs, OBS_LOW, OBS_HIGH, out=obs)
        values = (profit, lp, sv, e.copy(), self._w + e, self._q.copy(), lev, liquidated)
        info: dict[str, Any] = dict(zip(_ACCOUNT_KEYS, values, strict=True))
        pools = (p[:, 0].copy(), self._pext.copy(), self._fund.copy(), self._bad.copy(),
                 self._x.copy(), self._y.copy())  # fmt: skip
        info.update(zip(_POOL_KEYS, pools, strict=True))
        return obs, info

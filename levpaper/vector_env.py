r"""``N`` copies of :class:`levpaper.env.LeveragedSwapEnv` stepped at once in numpy.

:class:`LeveragedSwapVectorEnv` keeps the state of every copy in float64 arrays of shape ``(N,)``
and runs the single environment's step (see its docstring: the order of events, the actions, the
observation table, the reward) as elementwise array operations, with the same formulas in the same
order, so that its trajectories are bit-identical to those of ``N`` single environments seeded the
same way (``gymnasium.vector.SyncVectorEnv`` of them). Each copy keeps its own
:class:`numpy.random.Generator`; ``reset(seed=s)`` seeds copy ``i`` with ``s + i``, as
``SyncVectorEnv`` does. Each copy's external price is drawn in blocks from its generator by the
same numpy code as in the single environment; a replayed series
(:class:`levpaper.env.ReplayPrices`) is shared by all copies, each reading it at its own position.

Autoreset mode: ``gymnasium.vector.AutoresetMode.NEXT_STEP`` (Gymnasium's default). A copy
whose episode ended at step ``t`` (terminated or truncated) ignores its action at step ``t + 1``
and returns the first observation of its next episode, with reward 0, ``terminated`` and
``truncated`` False and the reset ``info``.

``info`` holds one float64 (or bool) array per key of the single environment's ``info``, with the
usual ``"_key"`` masks (all True); ``"regime"`` (int64) is there when the process is a
:class:`levpaper.processes.RegimeSwitchingGBM`, as in the single environment. Observations are
float32 arrays of shape ``(N, 14)`` laid out column-major (``obs[:, k]`` is contiguous), which
saves a transpose per step; use ``numpy.ascontiguousarray`` if a consumer needs rows.

Examples
--------
>>> envs = LeveragedSwapVectorEnv(num_envs=4, max_leverage=5.0)
>>> obs, info = envs.reset(seed=0)
>>> obs.shape, envs.action_space
((4, 14), MultiDiscrete([8 8 8 8]))
>>> obs, reward, terminated, truncated, info = envs.step(np.array([1, 2, 0, 7]))
>>> np.round(info["leverage"], 2)
array([ 0.5, -0.5,  0. ,  0. ])
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from levpaper import _market_kernel as mk
from levpaper import kernel
from levpaper._market_kernel import BLOCK
from levpaper._validate import FloatArray, positive_int
from levpaper.env import WEALTH_FLOOR, LeveragedSwapConfig, MarketView, make_config
from levpaper.processes import RegimeSwitchingGBM
from levpaper.spaces import (
    BUY,
    DOWN,
    KEEP,
    MARGIN,
    N_DISCRETE,
    N_FEATURES,
    OBS_HIGH,
    OBS_LOW,
    TINY,
    UP,
    ObservationScale,
    fill_observation,
)

__all__ = ["LeveragedSwapVectorEnv"]

BoolArray = npt.NDArray[np.bool_]

_INFO_KEYS = (
    "profit",
    "liquidation_penalty",
    "volatility_penalty",
    "equity",
    "wealth",
    "position",
    "leverage",
    "liquidated",
    "bad_debt",
    "insurance_fund",
    "pool_price",
    "external_price",
)


class LeveragedSwapVectorEnv(gym.vector.VectorEnv[Any, Any, Any]):
    """``num_envs`` leveraged traders, each on its own pool, stepped together in numpy.

    Parameters
    ----------
    num_envs : int
        Number of copies, >= 1.
    config : LeveragedSwapConfig, optional
        Shared by all copies; keyword ``overrides`` replace its fields, as for the single env.
    render_mode : {None, "ansi"}
        ``"ansi"``: :meth:`render` returns one line of text per copy.
    max_episode_steps : int, optional
        Accepted for ``gymnasium.make_vec`` and ignored: the horizon is ``config.horizon``.

    Notes
    -----
    The hooks of the config (``traders``, ``adversary``) are called once per step with a
    :class:`levpaper.env.MarketView` of arrays and must return an array of orders (or a scalar).
    """

    metadata: dict[str, Any] = {  # noqa: RUF012
        "render_modes": ["ansi"],
        "render_fps": 4,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int,
        config: LeveragedSwapConfig | None = None,
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
        **overrides: Any,
    ) -> None:
        n = positive_int("num_envs", num_envs)
        cfg = make_config(config, overrides)
        if render_mode is not None and render_mode != "ansi":
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.config = cfg
        self.num_envs = n
        self.render_mode = render_mode
        self.metadata = dict(self.metadata)
        self.single_observation_space = gym.spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)
        self._discrete = cfg.action_mode == "discrete"
        if self._discrete:
            self.single_action_space = gym.spaces.Discrete(N_DISCRETE)
        else:
            self.single_action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        # constants
        self._g = kernel.fee_factor(cfg.fee)
        self._m = float(cfg.maintenance_rate)
        self._c0 = float(cfg.initial_capital)
        self._x0 = float(cfg.pool_reserve_a)
        self._y0 = float(cfg.reserve_b)
        self._p0 = self._y0 / self._x0
        self._noise_scale = cfg.noise_traders.std * self._y0 if cfg.noise_traders else 0.0
        self._hooks = tuple(h for h in (*cfg.traders, cfg.adversary) if h is not None)
        self._margin_table = MARGIN * cfg.margin_step
        self._margin0 = cfg.initial_margin_fraction * self._c0
        self._wallet0 = self._c0 - self._margin0
        self._var0 = mk.initial_variance(cfg.process) * cfg.dt
        self._lam = float(cfg.volatility_decay)
        self._oml = 1.0 - self._lam
        self._w1, self._w2, self._w3 = cfg.reward_weights
        self._log_reward = cfg.reward == "log_wealth"
        self._floor = WEALTH_FLOOR * self._c0
        self._ruin = cfg.ruin_fraction * self._c0
        self._horizon = float(cfg.horizon)
        self._pen_rate = float(cfg.liquidation_penalty_rate)
        self._dt = float(cfg.dt)
        self._inv_c0 = 1.0 / self._c0
        self._inv_dt = 1.0 / self._dt
        self._inv_h = 1.0 / self._horizon
        self._inv_x0, self._inv_y0 = 1.0 / self._x0, 1.0 / self._y0
        self._inv_p0 = 1.0 / self._p0
        # state: one row per variable (rows 0-6 are what a close touches), so that a subset of
        # copies is read and written back in one call
        z = np.zeros(n)
        self._state = np.zeros((12, n))
        (self._x, self._y, self._cash, self._q, self._w, self._fund, self._bad,
         self._v, self._pprev, self._wprev, self._pext, self._t) = self._state  # fmt: skip
        p0 = self._y0 / self._x0
        self._init = np.array(
            [self._x0, self._y0, self._margin0, 0.0, self._wallet0, float(cfg.insurance_fund),
             0.0, self._var0, p0, self._wallet0 + (self._margin0 + 0.0 * p0),
             float(cfg.initial_price), 0.0]
        )[:, None]  # fmt: skip
        self._cap = np.full(n, float(cfg.max_leverage))
        self._lev_step = cfg.leverage_step * self._cap
        self._mark: tuple[FloatArray, FloatArray, FloatArray, FloatArray] = (z, z, z, z)
        self._autoreset = np.zeros(n, dtype=np.bool_)
        self._init_streams(cfg, n)
        self._started = False
        self._obs64 = np.empty((N_FEATURES, n))
        self._scale = ObservationScale(
            self._m, self._inv_c0, self._inv_p0, self._inv_x0, self._inv_y0, self._inv_dt,
            self._horizon, self._inv_h,
        )  # fmt: skip

    def _init_streams(self, cfg: LeveragedSwapConfig, n: int) -> None:
        """The per-copy random streams and the blocks of gross returns drawn from them."""
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._stream = np.full(n, mk.stream_start(cfg.process))
        # a replayed series is shared: each copy reads it at its own position, no blocks needed
        self._replay = cfg.process if isinstance(cfg.process, mk.ReplayPrices) else None
        self._series_pos = np.zeros(n, dtype=np.int64)
        self._blocks = self._replay is None or cfg.noise_traders is not None
        self._regime = cfg.process if isinstance(cfg.process, RegimeSwitchingGBM) else None
        self._regimes = np.zeros((n, BLOCK) if self._regime else (0, BLOCK), dtype=np.int8)
        self._ratios = np.empty((n, BLOCK) if self._blocks else (0, BLOCK))
        self._noise = np.empty((n, BLOCK)) if cfg.noise_traders is not None else None
        self._row = np.arange(n, dtype=np.int64) * BLOCK
        self._row_end = self._row + BLOCK
        self._pos = self._row_end.copy()  # flat index of the next ratio; row end = exhausted

    # -- curriculum hook ----------------------------------------------------------------------

    @property
    def leverage_cap(self) -> FloatArray:
        """The leverage cap of each copy (a copy)."""
        return self._cap.copy()

    def set_leverage_cap(self, cap: float | npt.ArrayLike) -> None:
        """Set the leverage cap of every copy (a scalar) or of each (an array of shape (N,)).

        Raises
        ------
        ValueError
            If a cap is outside (0, 1/maintenance_rate) or the shape is wrong.
        """
        self._cap[:] = mk.leverage_caps(cap, self.num_envs, self._m)
        self._lev_step = self.config.leverage_step * self._cap

    # -- gymnasium API ------------------------------------------------------------------------

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """Reset every copy (or those in ``options["reset_mask"]``), seeding copy ``i`` with
        ``seed + i`` (an int) or ``seed[i]`` (a list), as ``SyncVectorEnv`` does."""
        n = self.num_envs
        seeds = mk.seed_list(seed, n)
        mask = np.ones(n, dtype=np.bool_)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.shape != (n,) or mask.dtype != np.bool_ or not mask.any():
                raise ValueError(
                    f"options['reset_mask'] must be a bool array of shape ({n},) with a True entry"
                )
        idx = np.flatnonzero(mask)
        # copies given the same seed in one call share one generator (a stream is a function of
        # its seed): drawn once for all of them in _refill, split when they part (_share)
        fresh: dict[int, tuple[np.random.Generator, float]] = {}
        for i in idx.tolist():
            s = seeds[i]
            if s is not None or self._rngs[i] is None:
                if s is not None and s in fresh:
                    self._rngs[i], self._stream[i] = fresh[s]
                else:
                    rng = seeding.np_random(s)[0]
                    start = mk.stream_start(self.config.process, rng)
                    if self._regime is not None:
                        start = mk.initial_regime(self._regime, rng)
                    self._rngs[i], self._stream[i] = rng, start
                    if s is not None:
                        fresh[s] = (rng, start)
                self._pos[i] = self._row_end[i]
                self._series_pos[i] = int(self._stream[i]) if self._replay is not None else 0
        if isinstance(seed, int | np.integer):
            super().reset(seed=int(seed))
        self._reset_state(idx)
        self._autoreset[idx] = False
        self._started = True
        p = self._y / self._x
        qp = self._q * p
        e = self._cash + qp
        nn = np.abs(qp)
        sv = nn * np.sqrt(self._v) * self._inv_c0
        zero = np.zeros(n)
        wealth = self._w + e
        obs, info = self._observe(p, qp, e, nn, zero, zero, sv, np.zeros(n, dtype=np.bool_), wealth)
        if len(idx) < n:  # as SyncVectorEnv: info only for the copies reset
            for key in [k for k in info if not k.startswith("_")]:
                info[key] = np.where(mask, info[key], np.zeros(1, dtype=info[key].dtype))
                info["_" + key] = mask.copy()
        return obs, info

    def step(
        self, actions: Any
    ) -> tuple[npt.NDArray[np.float32], FloatArray, BoolArray, BoolArray, dict[str, Any]]:
        """Step every copy (autoresetting those that ended at the previous step)."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        a = self._check_actions(actions)
        done = np.flatnonzero(self._autoreset)
        with np.errstate(all="ignore"):
            # 1. the agent (at the mark left by the previous step)
            e, lev, final = self._apply_action(a)
            self._trade(e, lev, final)
            # 2. the external price and the arbitrageurs
            noise = self._advance_price()
            fx, fy = kernel.arbitrage_factors(self._x, self._y, self._pext, self._g)
            self._x *= fx
            self._y *= fy
            # 3. other traders
            self._other_traders(noise)
            # 4. mark to market and liquidation
            p, qp, e, nn, liquidated, lp, lidx = self._liquidate()
            # 5. volatility, reward, episode ends
            wealth, profit, sv, reward = self._reward(p, e, nn, lp, lidx)
            self._t += 1.0
            terminated = wealth < self._ruin
            if self.config.terminate_on_liquidation:
                terminated |= liquidated
            truncated = self._t >= self._horizon
            self._pprev[:] = p
            self._wprev[:] = wealth
            if done.size:
                self._reset_state(done)
                self._pos[done] -= 1
                self._series_pos[done] -= 1
                self._derive(done, p, qp, e, nn)
                wealth[done] = self._wprev[done]
                for arr in (profit, lp, sv, reward):
                    arr[done] = 0.0
                liquidated[done] = False
                terminated[done] = False
                truncated[done] = False
            self._autoreset = terminated | truncated
            obs, info = self._observe(p, qp, e, nn, profit, lp, sv, liquidated, wealth)
        return obs, reward, terminated, truncated, info

    def render(self) -> tuple[str, ...] | None:
        """One line of text per copy (``render_mode="ansi"``)."""
        if self.render_mode is None:
            return None
        p = self._y / self._x
        e = self._cash + self._q * p
        return tuple(
            f"t={int(self._t[i])} pool={p[i]:.2f} ext={self._pext[i]:.2f} equity={e[i]:.2f} "
            f"fund={self._fund[i]:.2f} bad_debt={self._bad[i]:.2f}"
            for i in range(self.num_envs)
        )

    # -- the phases of a step (those of LeveragedSwapEnv.step, on arrays) ----------------------

    def _check_actions(self, actions: Any) -> npt.NDArray[Any]:
        n = self.num_envs
        if self._discrete:
            a = np.asarray(actions)
            # as unsigned, a negative action is huge: one reduction checks both ends
            if (
                a.shape != (n,)
                or a.dtype.kind not in "iu"
                or a.view(a.dtype.str.replace("i", "u")).max() >= N_DISCRETE
            ):
                raise ValueError(
                    f"actions must be integers in [0, {N_DISCRETE}) of shape ({n},), "
                    f"got {actions!r}"
                )
            return a
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != (n, 2) or not (np.all(a >= -1.0) and np.all(a <= 1.0)):
            raise ValueError(f"actions must be finite numbers in [-1, 1] of shape ({n}, 2)")
        return a

    def _apply_action(self, a: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Step 1a: the margin change, then the capped target leverage (the single
        environment's ``_apply_action``). Returns the equity and the signed leverage after the
        margin change, and the target."""
        cap, w = self._cap, self._w
        _, qp, e, nn = self._mark
        mf = self._margin_table.take(a) if self._discrete else a[:, 1].copy()
        dm = mk.margin_change(mf, e, nn, w, cap)
        w -= dm
        self._cash += dm
        e = e + dm
        lev = qp / np.maximum(e, TINY)
        if self._discrete:
            c = self._lev_step
            tgt = KEEP.take(a) * lev
            tgt += BUY.take(a) * c
            dn = DOWN.take(a) * np.minimum(np.abs(lev), c)
            dn = np.subtract(UP.take(a) * c, dn, out=dn)
            dn *= self._obs64[7]  # sign(Q) = sign of the leverage, from the last observation
            tgt += dn
        else:
            tgt = a[:, 0] * cap
        final = mk.cap_target(tgt, lev, cap)
        return e, lev, final

    def _trade(self, e: FloatArray, lev: FloatArray, final: FloatArray) -> None:
        """Step 1b: trade each position to its target (closing it first on a close or a change
        of side) through the pools (:func:`levpaper.kernel.trade_notional`)."""
        dn = final - lev
        dn *= e
        cidx = np.flatnonzero((final * lev <= 0) & (self._q != 0))
        if cidx.size:
            left = self._close(cidx, 0.0)[0]
            dn[cidx] = final[cidx] * left
        dq, db = kernel.trade_notional(dn, self._x, self._y, self._g)
        self._x -= dq
        self._q += dq
        self._y += db
        self._cash -= db

    def _advance_price(self) -> FloatArray | None:
        """Step 2a: each copy's external price by its next gross return (drawing blocks as they
        are used up). Returns the noise traders' normals of the step, or None."""
        noise = None
        if self._blocks:
            pos = self._pos
            empty = np.flatnonzero(pos == self._row_end)
            if empty.size:
                self._refill(empty)
            if self._noise is not None:
                noise = self._noise.ravel().take(pos)
            if self._replay is None:
                ratio = self._ratios.ravel().take(pos)
            pos += 1
        if self._replay is not None:
            ratio = self._replay.ratios.take(self._series_pos, mode="wrap")
            self._series_pos += 1
        self._pext *= ratio
        return noise

    def _other_traders(self, noise: FloatArray | None) -> None:
        """Step 3: the noise traders' orders, then each hook's."""
        if noise is not None:
            self._order(self._noise_scale * noise)
        for hook in self._hooks:
            view = self._view()
            order = np.broadcast_to(np.asarray(hook(view), dtype=np.float64), (self.num_envs,))
            self._order(order)

    def _liquidate(
        self,
    ) -> tuple[
        FloatArray, FloatArray, FloatArray, FloatArray, BoolArray, FloatArray, npt.NDArray[np.intp]
    ]:
        """Step 4: mark at the pool price, close and settle the copies below maintenance.
        Returns the mark ``p, qp, e, nn`` after it, the liquidated mask, the liquidation penalty
        of the reward and the liquidated copies."""
        p = self._y / self._x
        qp = self._q * p
        e = self._cash + qp
        nn = np.abs(qp)
        # a flat account has cash >= 0: never below 0 * m
        liquidated = kernel.liquidatable(e, nn, self._m)
        lp = np.zeros(self.num_envs)
        lidx = np.flatnonzero(liquidated)
        if lidx.size:
            left, pl = self._close(lidx, self._pen_rate)
            lp[lidx] = (np.maximum(e[lidx], 0.0) - left) * self._inv_c0
            p[lidx] = pl
            qp[lidx] = 0.0  # = 0 * p: flat
            e[lidx] = left  # = cash + 0
            nn[lidx] = 0.0
        return p, qp, e, nn, liquidated, lp, lidx

    def _reward(
        self,
        p: FloatArray,
        e: FloatArray,
        nn: FloatArray,
        lp: FloatArray,
        lidx: npt.NDArray[np.intp],
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Step 5: the EWMA variance and the reward (E10). Returns the wealth, the profit, the
        volatility penalty and the reward."""
        ret = p / self._pprev
        ret -= 1.0
        ret *= ret
        ret *= self._oml
        v = self._v
        v *= self._lam
        v += ret
        wealth = self._w + e
        profit = wealth - self._wprev
        profit *= self._inv_c0
        sv = np.sqrt(v)
        sv *= nn
        sv *= self._inv_c0
        if self._log_reward:
            return wealth, profit, sv, mk.log_wealth_reward(wealth, self._wprev, self._floor)
        # (w1 * profit - w2 * lp) - w3 * sv, with lp = 0 outside the liquidated copies
        reward = profit * self._w1 if self._w1 != 1.0 else profit
        reward = reward - self._w3 * sv if self._w3 != 0.0 else reward.copy()
        if lidx.size:
            reward[lidx] = (self._w1 * profit[lidx] - self._w2 * lp[lidx]) - self._w3 * sv[lidx]
        return wealth, profit, sv, reward

    # -- internals ----------------------------------------------------------------------------

    def _reset_state(self, idx: npt.NDArray[np.intp]) -> None:
        self._state[:, idx] = self._init

    def _derive(
        self,
        idx: npt.NDArray[np.intp],
        p: FloatArray,
        qp: FloatArray,
        e: FloatArray,
        nn: FloatArray,
    ) -> None:
        """Recompute the mark of the copies ``idx`` from their state."""
        pi = self._y[idx] / self._x[idx]
        qpi = self._q[idx] * pi
        p[idx] = pi
        qp[idx] = qpi
        e[idx] = self._cash[idx] + qpi
        nn[idx] = np.abs(qpi)

    def _share(self, idx: npt.NDArray[np.intp]) -> tuple[list[np.random.Generator], list[int]]:
        """The distinct generators of the copies ``idx`` and, per copy, the index of its own
        among them. Copies that share a generator (seeded alike) have read the same blocks of the
        same stream; if only some of them need the next block, they get a copy of the generator
        at its current state, so that the others still draw that block from where they are."""
        held = Counter(id(r) for r in self._rngs)
        members: dict[int, list[int]] = {}
        for i in idx.tolist():
            members.setdefault(id(self._rngs[i]), []).append(i)
        rngs: list[np.random.Generator] = []
        which = np.empty(idx.size, dtype=np.intp)
        where = {i: j for j, i in enumerate(idx.tolist())}
        for key, group in members.items():
            rng = self._rngs[group[0]]
            assert rng is not None
            if len(group) < held[key]:  # the group parts: these copies go on with a clone
                clone = np.random.Generator(type(rng.bit_generator)())
                clone.bit_generator.state = rng.bit_generator.state
                rng = clone
                for i in group:
                    self._rngs[i] = clone
            for i in group:
                which[where[i]] = len(rngs)
            rngs.append(rng)
        return rngs, which.tolist()

    def _refill(self, idx: npt.NDArray[np.intp]) -> None:
        rngs, which = self._share(idx)
        first = np.empty(len(rngs), dtype=np.intp)
        first[which[::-1]] = idx[::-1]  # a copy of each generator: its stream state
        regimes = np.empty((len(rngs), BLOCK), dtype=np.int8) if self._regime else None
        state = self._stream[first]
        ratios, noise = mk.draw_block(
            self.config.process,
            rngs,
            state,
            self.config.dt,
            self._noise is not None,
            regimes,
        )
        rows = np.asarray(which, dtype=np.intp)
        if regimes is not None:
            self._regimes[idx] = regimes[rows]
        self._stream[idx] = state[rows]
        if self._replay is None:
            self._ratios[idx] = ratios[rows]
        if noise is not None and self._noise is not None:
            self._noise[idx] = noise[rows]
        self._pos[idx] = self._row[idx]

    def _close(self, idx: npt.NDArray[np.intp], rate: float) -> tuple[FloatArray, FloatArray]:
        """Close the whole size of the copies ``idx`` through their pools and settle: a penalty of
        ``rate`` times the B traded (capped by the cash) to the fund, a negative remainder from the
        fund, then bad debt. Return the cash left (>= 0) and the new pool price."""
        sub = self._state[:4].take(idx, axis=1)
        x, y, cash, q = sub
        sub[0], sub[1], recv, pay = kernel.close_trade(x, y, q, self._g)
        sub[3] = 0.0
        cash = cash + recv - pay
        if rate or (cash < 0.0).any():
            s = kernel.settle(cash, recv + pay, self._fund[idx], rate)
            cash, self._fund[idx] = s.cash, s.fund
            self._bad[idx] += s.bad_debt
        sub[2] = cash
        self._state[:4, idx] = sub
        return cash, sub[1] / sub[0]

    def _order(self, order: FloatArray) -> None:
        """Apply signed orders in B (see :class:`levpaper.env.PoolTrader`) to the pools."""
        dx, dy = kernel.apply_orders(self._x, self._y, order, self._g)
        self._x += dx
        self._y += dy

    def _view(self) -> MarketView:
        x, y, q, cash = self._x, self._y, self._q, self._cash
        e = cash + q * (y / x)
        s = np.sign(q)
        pl = np.where(q != 0, np.maximum(-cash / (q * (1.0 - self._m * s)), 0.0), 0.0)
        return MarketView(self._t.copy(), x.copy(), y.copy(), self._pext.copy(), q.copy(), e, pl,
                          self.config.fee)  # fmt: skip

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
        wealth: FloatArray,
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """Observation and info from the mark ``p, qp, e, nn`` and the step's reward parts; keeps
        the mark for the next step."""
        self._mark = (p, qp, e, nn)
        o = self._obs64
        o[5] = sv
        lev = fill_observation(
            o, self._scale, (p, self._x, self._y, self._v),
            (self._q, self._cash, self._w, e, qp, nn), self._t, self._cap,
        )  # fmt: skip
        q = self._q
        obs = o.T.astype(np.float32)
        # clipped after rounding: the bounds are float32 numbers and rounding is monotone, so this
        # equals rounding the clipped float64 values, as the single environment does
        np.clip(obs, OBS_LOW, OBS_HIGH, out=obs)
        values = (profit, lp, sv, e.copy(), wealth, q.copy(), lev, liquidated, self._bad.copy(),
                  self._fund.copy(), p.copy(), self._pext.copy())  # fmt: skip
        masks = np.ones((len(_INFO_KEYS), self.num_envs), dtype=np.bool_)
        info: dict[str, Any] = {}
        for key, value, mask in zip(_INFO_KEYS, values, masks, strict=True):
            info[key] = value
            info["_" + key] = mask
        if self._regime is not None:
            info["regime"] = mk.current_regime(
                self._regimes, self._pos, self._row_end, self._stream
            )
            info["_regime"] = np.ones(self.num_envs, dtype=np.bool_)
        return obs, info

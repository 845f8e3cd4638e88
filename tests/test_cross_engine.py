"""One liquidation cascade through the three engines that run one: the margin engine
(``levpaper.margin.Exchange``), the multi-agent market (``levpaper.market.Market``) and the
shared-pool environment (``levpaper.shared_env.SharedPoolEnv``).

The engines share the liquidation rule and its arithmetic (``levpaper.kernel``): an account is
liquidated when :math:`E < mN` at the pool's spot price, worst margin ratio :math:`E/N` first,
the mark recomputed after each close; it is closed through the pool in full (a long sells its A
exact in, a short buys it back exact out); a penalty of the rate times the B traded, capped by
what is left, goes to the insurance fund; a shortfall is paid by the fund, the rest is bad debt.

Where their conventions differ, the tests compare under a configuration where they agree:

* *Opening.* The margin engine and the shared-pool environment open a notional :math:`N = LC`
  in B, one account after the other through the pool (exact in for a long, exact out for a
  short); the market sizes each opening in A at the spot (:math:`q = LC/P`) and clears all of a
  step's orders together at one uniform price. So the environment and the margin engine start
  from their own openings (the same ones), and the market's opening state (pool, sizes, bases,
  margins) is copied into a margin-engine position book.
* *The price drop.* The environment's arbitrageurs trade to the edge of the no-arbitrage band
  (``band_edge``), the market's make the optimal trade (``optimal``); in each comparison the
  margin engine is given the same trade, as one external swap of A.
* *Order across sides.* The market keeps one queue per side, ordered by liquidation price (the
  margin-ratio order on each side), and takes the head with the lower ratio; the other two scan
  every account for the lowest ratio. The orders agree (the last test has both sides below
  maintenance together).
* The environment liquidates at most ``n_accounts`` accounts per pool and step, here all of them;
  it does not report the order of its liquidations, but the pool it leaves is the margin
  engine's to the last bit, which a different order of closes would not give.
* *Penalty base and settlement* agree: the rate times the B traded by the close, capped by the
  account's cash after it, then the fund, then bad debt (``levpaper.kernel.settle``).

Under these configurations the engines do the same floating-point operations in the same order,
so the tests ask for bit-identical liquidations, insurance fund, bad debt and pool.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from levpaper import kernel
from levpaper.env import LeveragedSwapConfig, ReplayPrices
from levpaper.margin import Exchange, LiquidationEvent, MarginConfig
from levpaper.market import HOLD, Control, Market, MarketConfig, Population, RunResult
from levpaper.pool import ConstantProductPool
from levpaper.shared_env import SharedPoolEnv

P0, FEE, M, RHO = 2500.0, 0.003, 0.005, 0.0125


def _margin_config() -> MarginConfig:
    return MarginConfig(max_leverage=100.0, maintenance_rate=M, liquidation_penalty=RHO)


def _swap_a_in(ex: Exchange, da: float) -> None:
    """The arbitrageurs' trade of ``da`` > 0 of A into the pool, as an external swap."""
    assert da > 0.0  # a price drop: A is sold into the pool
    ex.external_swap(da, "A")


@pytest.mark.parametrize("fund", [0.0, 100.0, 1e6])  # bad debt, the fund runs dry, fund pays all
def test_shared_env_and_margin_engine_give_the_same_cascade(fund: float) -> None:
    drop = 0.985
    margin = 500.0  # initial_capital * initial_margin_fraction
    targets = np.array([-0.8, -0.7, 0.62, 0.58, 0.54])  # of the 100x cap; 0 and 1 short
    k = targets.size
    cfg = LeveragedSwapConfig(
        action_mode="box", process=ReplayPrices([P0, P0 * drop]), initial_price=P0,
        pool_reserve_a=4_000.0, fee=FEE, initial_capital=1_000.0, initial_margin_fraction=0.5,
        max_leverage=100.0, maintenance_rate=M, liquidation_penalty_rate=RHO,
        insurance_fund=fund, horizon=5,
    )  # fmt: skip
    env = SharedPoolEnv(1, k, cfg)
    env.reset(seed=0)
    act = np.zeros((1, k, 2))
    act[0, :, 0] = targets
    _, _, _, _, info = env.step(act)  # the accounts open, the price drops 1.5%, the cascade
    # the margin engine: the same openings in the same order, the same arbitrage, its engine
    ex = Exchange(
        ConstantProductPool(cfg.pool_reserve_a, cfg.reserve_b, FEE), _margin_config(),
        insurance_fund=fund,
    )  # fmt: skip
    book = ex.new_book()
    book.open(np.sign(targets), margin, np.abs(targets * cfg.max_leverage))
    ratio = ReplayPrices([P0, P0 * drop]).ratios[0]
    x, y = ex.pool.reserve_a, ex.pool.reserve_b
    da, *_ = kernel.arbitrage(x, y, P0 * ratio, kernel.fee_factor(FEE), band_edge=True)
    _swap_a_in(ex, da)
    primary = int(book.liquidatable().sum())
    events = ex.run_liquidations()
    rows = sorted(e.row for e in events)
    assert 1 <= primary < len(rows)  # a cascade: the first sales push the next longs under
    assert rows == np.flatnonzero(info["liquidated"][0]).tolist()
    assert rows == [2, 3, 4]  # the longs; the shorts gained
    # the same operations in the same order: bit-identical
    assert info["insurance_fund"][0] == ex.insurance_fund
    assert info["bad_debt"][0] == ex.bad_debt
    assert (info["reserve_a"][0], info["reserve_b"][0]) == (ex.pool.reserve_a, ex.pool.reserve_b)
    if fund < 1e6:
        assert ex.bad_debt > 0.0
    if fund == 100.0:
        assert ex.insurance_fund == 0.0 and sum(e.fund_paid for e in events) > 0.0
    if fund == 1e6:
        assert ex.bad_debt == 0.0 and sum(e.fund_paid for e in events) > 0.0


def _market(
    side: list[int], leverage: list[float], prices: list[float], fund: float, **kwargs: float
) -> Market:
    """A market of hold traders that opened ``side``/``leverage`` at step 0 (margin 500 each)."""
    n = len(side)
    base = {"pool_liquidity": 1e6, "fee": FEE, "maintenance_rate": M, "liquidation_penalty": RHO}
    cfg = MarketConfig(n_traders=n, n_steps=len(prices), insurance_fund=fund, cooldown=None,
                       **(base | kwargs))  # type: ignore[arg-type]  # fmt: skip
    pop = Population(
        side=np.asarray(side, dtype=np.int8), leverage=np.asarray(leverage),
        wealth=np.full(n, 2_000.0), policy=np.full(n, HOLD, dtype=np.int8),
        home=np.zeros(n, dtype=np.int64),
    )  # fmt: skip
    dynamic = Control(dynamic_maintenance=True) if "eta" in kwargs else Control()
    return Market(cfg, pop, np.array([[P0, *prices]]), control=dynamic)


def _copy(mkt: Market, fund: float, maintenance_rate: float = M) -> Exchange:
    """A margin engine holding the market's pool and positions now (the opening conventions
    differ, so the positions are copied rather than opened)."""
    cfg = MarginConfig(
        max_leverage=100.0, maintenance_rate=maintenance_rate, liquidation_penalty=RHO
    )
    ex = Exchange(ConstantProductPool(float(mkt.x[0]), float(mkt.y[0]), FEE), cfg,
                  insurance_fund=fund)  # fmt: skip
    book = ex.new_book()
    book.side = mkt.side.astype(np.int8)
    book.size = mkt.q[0].copy()
    book.open_notional = mkt.n[0].copy()
    book.margin = mkt.c[0].copy()
    book.realised_pnl = np.zeros(mkt.q.shape[1])
    book.is_open = mkt.is_open[0].copy()
    return ex


def _same_events(res: RunResult, events: list[LiquidationEvent]) -> None:
    ev = res.events
    assert ev["trader"].tolist() == [e.row for e in events]
    for name in ("trigger_mark", "execution_price", "notional", "equity", "penalty", "bad_debt"):
        # the same operations in the same order: bit-identical
        np.testing.assert_array_equal(ev[name], [getattr(e, name) for e in events], err_msg=name)


@pytest.mark.parametrize("fund", [0.0, 50.0, 1e6])
def test_market_and_margin_engine_give_the_same_cascade(fund: float) -> None:
    # longs and shorts of equal notional: the opening nets to nothing (no fee, no impact)
    side = [1, 1, 1, 1, -1, -1]
    leverage = [60.0, 50.0, 40.0, 30.0, 90.0, 90.0]
    price = P0 * 0.985
    mkt = _market(side, leverage, [price], fund)
    ex = _copy(mkt, fund)
    da, *_ = kernel.arbitrage(float(mkt.x[0]), float(mkt.y[0]), price, kernel.fee_factor(FEE))
    _swap_a_in(ex, da)  # the market's arbitrage (rule "optimal") at step 1
    res = mkt.run()
    events = ex.run_liquidations()
    assert res.n_liquidations >= 3 and int(res.events["induced"].sum()) >= 1  # a cascade
    _same_events(res, events)
    assert (res.insurance_fund, res.bad_debt) == (ex.insurance_fund, ex.bad_debt)
    assert res.post_cascade_price[0, 1] == ex.pool.spot_price
    if fund == 0.0:
        assert res.bad_debt > 0.0


def test_market_and_margin_engine_agree_with_both_sides_below_maintenance() -> None:
    # the market's dynamic maintenance rate (eta = 5) puts longs and shorts under m_1 = 2.4% at
    # once; the margin engine is given m_1 as its (static) maintenance rate
    side = [1, -1, 1, -1, 1, -1]
    leverage = [95.0, 90.0, 80.0, 70.0, 50.0, 55.0]
    mkt = _market(side, leverage, [P0], 0.0, pool_liquidity=1e9, eta=5.0)
    before = _copy(mkt, 0.0)  # the state before step 1, at the static rate for now
    da, db, *_ = kernel.arbitrage(float(mkt.x[0]), float(mkt.y[0]), P0, kernel.fee_factor(FEE))
    res = mkt.run()
    m1 = float(res.maintenance[0, 1])
    ex = _copy_with_rate(before, m1)
    if da > 0:
        _swap_a_in(ex, da)
    elif db > 0:
        ex.external_swap(db, "B")
    events = ex.run_liquidations()
    sides = res.events["side"].tolist()
    assert int(np.count_nonzero(np.diff(sides))) >= 3  # the two sides interleave
    _same_events(res, events)
    assert (res.insurance_fund, res.bad_debt) == (ex.insurance_fund, ex.bad_debt)


def _copy_with_rate(ex: Exchange, maintenance_rate: float) -> Exchange:
    """``ex``'s pool and single book on an exchange with another maintenance rate."""
    cfg = dataclasses.replace(ex.config, maintenance_rate=maintenance_rate)
    out = Exchange(ConstantProductPool(ex.pool.reserve_a, ex.pool.reserve_b, FEE), cfg,
                   insurance_fund=ex.insurance_fund)  # fmt: skip
    src, book = ex.books[0], out.new_book()
    for name in ("side", "size", "open_notional", "margin", "realised_pnl", "is_open"):
        setattr(book, name, getattr(src, name).copy())
    return out

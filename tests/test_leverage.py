"""Closed forms of sections 2.2 and 4.1 (E5-E8, E13, E14) vs algebra, the pool and Monte Carlo."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levpaper.leverage import (
    alternating_growth,
    bankruptcy_price,
    fee_drag,
    gross_profit,
    growth_rate,
    kelly_leverage,
    liquidation_move,
    liquidation_price,
    net_profit,
    notional,
    paper_growth,
    pool_net_profit,
    position_size,
    self_liquidating_notional,
    two_step_factor,
)
from levpaper.margin import Exchange, MarginConfig
from levpaper.pool import ConstantProductPool

SIDES = ("long", "short")
leverages = st.floats(1.0, 200.0)
prices = st.floats(1e-3, 1e6)
fees = st.floats(0.0, 0.05)


def _maintenance(lev: float, frac: float) -> float:
    """A maintenance rate in [0, 1/L), as a fraction of 1/L."""
    return frac / lev


# --- E5 -----------------------------------------------------------------------------------------


def test_notional_and_size_are_lc_and_lc_over_entry() -> None:
    assert notional(100.0, 100) == 10_000.0
    assert position_size(100.0, 100, 2_500.0) == 4.0
    np.testing.assert_allclose(notional([1.0, 2.0], [10.0, 3.0]), [10.0, 6.0])


def test_size_uses_the_execution_price_not_the_spot_price() -> None:
    pool = ConstantProductPool(1_000.0, 2_500_000.0, fee=0.003)
    spot = pool.spot_price
    ex = Exchange(pool)
    for side in SIDES:
        acct = ex.open(side, 100.0, 50.0)
        assert acct.size == pytest.approx(position_size(100.0, 50.0, acct.entry_price), rel=1e-14)
        assert acct.open_notional == 5_000.0
    long, short = ex.accounts
    assert long.entry_price > spot  # bought above spot: fee and impact
    assert long.size < 5_000.0 / spot
    assert short.entry_price < ConstantProductPool(1_000.0, 2_500_000.0).spot_price


# --- E7, E8 -------------------------------------------------------------------------------------


def test_paper_claim_one_percent_is_bankruptcy_not_liquidation() -> None:
    assert liquidation_move(100, 0.005, "long") == pytest.approx(0.005 / 0.995, rel=1e-14)
    assert liquidation_move(100, 0.005, "short") == pytest.approx(0.005 / 1.005, rel=1e-14)
    assert liquidation_move(100, 0.0) == pytest.approx(0.01, rel=1e-14)
    assert bankruptcy_price(1.0, 100, "long") == pytest.approx(0.99)
    assert liquidation_price(1.0, 100, 0.0, "long") == pytest.approx(0.99)
    assert liquidation_price(1.0, 1.0, 0.5, "long") == 0.0  # unlevered long: never


@settings(max_examples=200)
@given(
    p0=prices,
    lev=leverages,
    frac=st.floats(0.0, 0.999),
    side=st.sampled_from(SIDES),
)
def test_liquidation_and_bankruptcy_prices_solve_the_equity_equations(
    p0: float, lev: float, frac: float, side: str
) -> None:
    m = _maintenance(lev, frac)
    s = 1 if side == "long" else -1
    margin = 1.0
    q = lev * margin / p0

    def equity(p: float) -> float:
        return margin + s * q * (p - p0)

    p_liq = float(liquidation_price(p0, lev, m, side))
    p_bk = float(bankruptcy_price(p0, lev, side))
    scale = q * p0
    assert equity(p_liq) == pytest.approx(m * q * p_liq, abs=1e-12 * scale)
    assert equity(p_bk) == pytest.approx(0.0, abs=1e-12 * scale)
    # the liquidation price comes before bankruptcy on the way down (long) or up (short)
    assert s * (p_liq - p_bk) >= -1e-12 * p0
    move = float(liquidation_move(lev, m, side))
    assert abs(p_liq / p0 - 1.0) == pytest.approx(move, rel=1e-9, abs=1e-15)


def test_vectorised_liquidation_price() -> None:
    lev = np.array([2.0, 10.0, 100.0])
    np.testing.assert_allclose(
        liquidation_price(100.0, lev, 0.005, "short"), 100.0 * (1 + 1 / lev) / 1.005
    )


def test_fee_drag_is_l_times_f_of_margin_in_a_deep_pool() -> None:
    assert fee_drag(100, 0.003) == pytest.approx(0.3)
    f, lev, margin = 0.003, 100.0, 100.0
    pool = ConstantProductPool(1e12, 1e12, fee=f)  # price 1, a trade of 1e4 moves it by 1e-8
    ex = Exchange(pool)
    acct = ex.open("long", margin, lev)
    # at the pre-trade price the fee has cost L f of the margin (impact is ~1e-8 here)
    lost = 1.0 - acct.equity(mark=1.0) / margin
    assert lost == pytest.approx(lev * f, rel=1e-5)


# --- E6, E13 ------------------------------------------------------------------------------------


def test_e13_gross_and_net_profit() -> None:
    c = 1.0
    assert gross_profit(c, 100, 0.02) == pytest.approx(2.0)
    assert gross_profit(c, 100, 0.02, "short") == pytest.approx(-2.0)
    assert net_profit(c, 100, 0.02, 0.003) == pytest.approx(2.0 - 0.3 - 0.306, rel=1e-12)
    # the ledger's 1.4C charges both fees on the opening notional: off by f N r
    assert 1.4 - float(net_profit(c, 100, 0.02, 0.003)) == pytest.approx(0.003 * 100 * 0.02)
    assert net_profit(c, 100, 0.0, 0.0) == 0.0


def _pool_round_trip(margin: float, lev: float, r: float, f: float, y0: float, side: str) -> float:
    """Open on a pool at spot 2 with B reserve y0, close on the same-k pool at spot 2(1+r)."""
    s0 = 2.0
    x0 = y0 / s0
    n = margin * lev
    opened = ConstantProductPool(x0, y0, fee=f)
    k = x0 * y0
    s1 = s0 * (1.0 + r)
    closing = ConstantProductPool(math.sqrt(k / s1), math.sqrt(k * s1), fee=f)
    if side == "long":
        q = opened.swap(n, "B")
        return closing.swap(q, "A") - n
    q = opened.swap_exact_out(n, "B")
    return n - closing.swap_exact_out(q, "A")


@settings(max_examples=150)
@given(
    lev=st.floats(1.0, 100.0),
    r=st.floats(-0.5, 0.5),
    f=fees,
    depth=st.floats(10.0, 1e6),
    side=st.sampled_from(SIDES),
)
def test_pool_net_profit_matches_trading_through_the_pool(
    lev: float, r: float, f: float, depth: float, side: str
) -> None:
    margin = 1.0
    y0 = depth * margin * lev  # notional is 1/depth of the B reserve
    if side == "short":
        x1 = math.sqrt(y0 / 2.0 * y0 / (2.0 * (1 + r)))
        q = ConstantProductPool(y0 / 2.0, y0, fee=f).quote_exact_out(margin * lev, "B")
        if q >= 0.999 * x1:
            return  # the closing pool cannot sell the size back: covered by the -inf test
    expected = _pool_round_trip(margin, lev, r, f, y0, side)
    got = float(pool_net_profit(margin, lev, r, f, y0, side))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9 * margin * lev)


def test_pool_net_profit_deep_limit_and_impact_cost() -> None:
    lev, r, f = 100.0, 0.02, 0.003
    deep = float(pool_net_profit(1.0, lev, r, f))
    assert deep == pytest.approx(lev * ((1 - f) ** 2 * (1 + r) - 1), rel=1e-12)
    assert float(pool_net_profit(1.0, lev, r, f, 1e15)) == pytest.approx(deep, rel=1e-9)
    short_deep = float(pool_net_profit(1.0, lev, r, f, side="short"))
    assert short_deep == pytest.approx(lev * (1 - (1 + r) / (1 - f) ** 2), rel=1e-12)
    # shallower pool, more impact, less profit; always below the taker-fee net (no impact)
    depths = np.array([1e3, 1e4, 1e5, 1e6, 1e8]) * lev
    profits = pool_net_profit(1.0, lev, r, f, depths)
    assert np.all(np.diff(profits) > 0)
    assert np.all(profits < float(net_profit(1.0, lev, r, f)))
    # the short's size exceeds what the closing pool holds: unbounded loss
    assert pool_net_profit(1.0, 10.0, 3.0, 0.0, 11.0, "short") == -math.inf


# --- self-liquidation by the opening trade -------------------------------------------------------


@settings(max_examples=60)
@given(
    lev=st.sampled_from([5.0, 10.0, 25.0, 50.0, 100.0]),
    frac=st.floats(0.0, 0.9),
    f=st.floats(0.0, 0.003),
    side=st.sampled_from(SIDES),
    above=st.booleans(),
)
def test_self_liquidating_notional_matches_the_exchange(
    lev: float, frac: float, f: float, side: str, above: bool
) -> None:
    m = _maintenance(lev, frac)
    y0 = 1e6
    n_star = float(self_liquidating_notional(y0, lev, m, f, side))
    if n_star == 0.0 or n_star > 0.5 * y0:
        return
    n = n_star * (1.0 + 1e-4 if above else 1.0 - 1e-4)
    pool = ConstantProductPool(y0 / 3.0, y0, fee=f)
    s0 = pool.spot_price
    ex = Exchange(pool, MarginConfig(maintenance_rate=m))
    acct = ex.open(side, n / lev, lev)
    ex.move_price(s0)  # arbitrage restores the external price
    assert ex.pool.spot_price == pytest.approx(s0, rel=1e-12)
    assert acct.is_liquidatable() == above


def test_self_liquidating_notional_edge_cases() -> None:
    assert self_liquidating_notional(1e6, 1.0, 0.5, 0.003, "long") == math.inf
    assert self_liquidating_notional(1e6, 100, 0.005, 0.006, "long") == 0.0
    assert self_liquidating_notional(1e6, 100, 0.005, 0.006, "short") == 0.0
    u = float(self_liquidating_notional(1.0, 100, 0.005, 0.003))
    assert u == pytest.approx(0.995 / 0.99 - 1 / 0.997, rel=1e-12)


# --- E14 ----------------------------------------------------------------------------------------


def test_growth_rate_kelly_and_twice_kelly() -> None:
    mu, sigma = 0.3, 0.6
    kelly = float(kelly_leverage(mu, sigma))
    assert kelly == pytest.approx(mu / sigma**2)
    grid = np.linspace(-2.0, 4.0, 6001)
    g = growth_rate(grid, mu, sigma)
    assert grid[np.argmax(g)] == pytest.approx(kelly, abs=1e-3)
    assert float(growth_rate(kelly, mu, sigma)) == pytest.approx(mu**2 / (2 * sigma**2))
    assert float(growth_rate(2 * kelly, mu, sigma)) == pytest.approx(0.0, abs=1e-15)
    assert float(growth_rate(2.5 * kelly, mu, sigma)) < 0
    assert float(growth_rate(100.0, mu, sigma)) < -1_000
    assert float(kelly_leverage(0.05, 0.2, risk_free=0.03)) == pytest.approx(0.5)


@pytest.mark.parametrize("lev", [0.5, 1.0, 2.0, 0.3 / 0.64, 0.6 / 0.64, 3.0])
def test_growth_rate_against_monte_carlo(lev: float) -> None:
    """Mean log growth of hourly-rebalanced constant leverage under GBM, 1e6 hourly steps.

    Control variate: L sigma sqrt(dt) Z has mean zero and removes the Brownian part, so the
    standard error is small; the tolerance is 4 standard errors plus 1e-3 for the O(dt)
    discretisation bias (about 1e-4 here) and 1e-12 for rounding.
    """
    mu, sigma, dt = 0.3, 0.8, 1.0 / 8760.0
    z = np.random.default_rng(20240515).standard_normal(1_000_000)
    ret = np.expm1((mu - sigma**2 / 2) * dt + sigma * math.sqrt(dt) * z)
    y = np.log1p(lev * ret) - lev * sigma * math.sqrt(dt) * z
    est = y.mean() / dt
    se = y.std(ddof=1) / math.sqrt(y.size) / dt
    assert abs(est - float(growth_rate(lev, mu, sigma))) <= 4 * se + 1e-3 * lev**2 + 1e-12


@settings(max_examples=150)
@given(lev=st.floats(0.0, 200.0), r=st.floats(-0.05, 0.05), n=st.integers(0, 12))
def test_alternating_growth_is_the_product_of_the_steps(lev: float, r: float, n: int) -> None:
    wealth = 1.0
    for k in range(n):
        wealth *= 1.0 + lev * (r if k % 2 == 0 else -r)
    assert float(alternating_growth(lev, r, n)) == pytest.approx(wealth, rel=1e-9, abs=1e-12)
    assert float(two_step_factor(lev, r)) == pytest.approx((1 + lev * r) * (1 - lev * r))
    assert float(paper_growth(lev, r, n)) == pytest.approx((1 + lev * r) ** n, rel=1e-12)


def test_two_step_drag_examples_and_the_paper_g() -> None:
    assert two_step_factor(100, 0.01) == 0.0  # L r = 1: wiped out by a round trip
    assert two_step_factor(100, 0.005) == pytest.approx(0.75)
    assert paper_growth(100, 0.02, 2) == pytest.approx(9.0)
    assert alternating_growth(100, 0.02, 2) == pytest.approx(-3.0)  # without liquidation


def test_two_step_drag_on_the_exchange() -> None:
    """Hold 10x through +r then -r, rebalancing to 10x in between: equity x (1 - L^2 r^2)."""
    lev, r = 10.0, 0.02
    pool = ConstantProductPool(1e12, 1e12, fee=0.0)  # deep and fee-free: spot execution
    ex = Exchange(pool)
    acct = ex.open("long", 1_000.0, lev)
    acct.change_leverage(lev)  # the opening trade's impact, rebalanced away
    e0, p0 = acct.equity(), ex.pool.spot_price
    ex.move_price(p0 * (1 + r))
    acct.change_leverage(lev)
    ex.move_price(p0 * (1 + r) * (1 - r))
    assert acct.equity() / e0 == pytest.approx(float(two_step_factor(lev, r)), rel=1e-6)


# --- bad input ----------------------------------------------------------------------------------

BAD: list[tuple[Callable[..., Any], dict[str, Any], str]] = [
    (notional, {"margin": 0.0, "leverage": 2.0}, "margin"),
    (notional, {"margin": 1.0, "leverage": 0.5}, "leverage"),
    (position_size, {"margin": 1.0, "leverage": 2.0, "entry_price": -1.0}, "entry_price"),
    (
        liquidation_price,
        {"entry_price": 1.0, "leverage": 10.0, "maintenance_rate": 0.1},
        "maintenance_rate",
    ),
    (liquidation_price, {"entry_price": 1.0, "leverage": math.nan}, "leverage"),
    (liquidation_price, {"entry_price": 1.0, "leverage": 2.0, "side": "up"}, "side"),
    (bankruptcy_price, {"entry_price": math.inf, "leverage": 2.0}, "entry_price"),
    (liquidation_move, {"leverage": 2.0, "maintenance_rate": -0.1}, "maintenance_rate"),
    (fee_drag, {"leverage": 2.0, "fee": 1.0}, "fee"),
    (gross_profit, {"margin": 1.0, "leverage": 2.0, "price_return": -1.0}, "price_return"),
    (net_profit, {"margin": 1.0, "leverage": 2.0, "price_return": 0.1, "fee": -0.1}, "fee"),
    (
        pool_net_profit,
        {"margin": 1.0, "leverage": 2.0, "price_return": 0.1, "reserve_b": 0.0},
        "reserve_b",
    ),
    (
        pool_net_profit,
        {"margin": 1.0, "leverage": 2.0, "price_return": 0.1, "reserve_b": 2.0, "side": "short"},
        "reserve_b",
    ),
    (self_liquidating_notional, {"reserve_b": -1.0, "leverage": 2.0}, "reserve_b"),
    (growth_rate, {"leverage": 2.0, "mu": 0.1, "sigma": -0.1}, "sigma"),
    (growth_rate, {"leverage": math.inf, "mu": 0.1, "sigma": 0.1}, "leverage"),
    (kelly_leverage, {"mu": 0.1, "sigma": 0.0}, "sigma"),
    (two_step_factor, {"leverage": 2.0, "price_return": math.nan}, "price_return"),
    (paper_growth, {"leverage": 2.0, "price_return": 0.1, "n": -1}, "n"),
    (alternating_growth, {"leverage": 2.0, "price_return": 0.1, "n": 1.5}, "n"),
]


@pytest.mark.parametrize(("func", "kwargs", "name"), BAD)
def test_bad_input_names_the_parameter(
    func: Callable[..., Any], kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        func(**kwargs)


def test_rebalanced_log_wealth_at_1x_is_the_log_price_ratio() -> None:
    from levpaper.leverage import rebalanced_log_wealth

    ratios = np.random.default_rng(3).lognormal(0.0, 0.01, (50, 200))
    log_w, step = rebalanced_log_wealth(ratios, 1.0)
    np.testing.assert_allclose(log_w, np.log(ratios).sum(axis=1), rtol=1e-12, atol=1e-12)
    assert (step == -1).all()


def test_rebalanced_log_wealth_liquidates_at_the_first_step_past_the_barrier() -> None:
    from levpaper.first_passage import liquidation_barrier
    from levpaper.leverage import rebalanced_log_wealth

    barrier = float(liquidation_barrier(50.0, 0.005))
    ratios = np.ones((3, 10))
    ratios[1, 4] = barrier * 0.999  # step 5 crosses
    ratios[2, 7] = barrier * 1.001  # just inside: survives
    log_w, step = rebalanced_log_wealth(ratios, 50.0, 0.005)
    assert step.tolist() == [-1, 5, -1]
    assert np.isneginf(log_w[1]) and np.isfinite(log_w[[0, 2]]).all()
    with pytest.raises(ValueError, match="price_ratios"):
        rebalanced_log_wealth(-ratios, 50.0)


def test_rebalanced_growth_model_matches_monte_carlo() -> None:
    from levpaper.leverage import rebalanced_growth_model, rebalanced_log_wealth
    from levpaper.processes import GBM, HOURLY_DT

    n_paths, n_steps, lev, mu, sigma = 4000, 720, 25.0, 0.3, 0.8
    paths = GBM(mu=mu, sigma=sigma).simulate(n_paths, n_steps, np.random.default_rng(11))
    log_w, _ = rebalanced_log_wealth(paths[:, 1:] / paths[:, :-1], lev, 0.005)
    p_model, g_model = rebalanced_growth_model(lev, mu, sigma, 0.005, HOURLY_DT, n_steps)
    alive = np.isfinite(log_w)
    p_sim = 1 - alive.mean()
    assert abs(p_sim - p_model) < 3 * np.sqrt(p_model * (1 - p_model) / n_paths)
    growth = log_w[alive] / (n_steps * HOURLY_DT)
    assert abs(growth.mean() - g_model) < 4 * growth.std(ddof=1) / np.sqrt(alive.sum())

"""The constant-product pool (E1, E2): closed forms, invariants, arbitrage, liquidity, LP losses.

Tolerances are stated where a check is in floating point: ``EPS`` is the float64 machine epsilon.
Identities that hold exactly in real arithmetic (a fee-free round trip, k without fee) are checked
to a few ``EPS`` relative; the strict versions are checked where the real-arithmetic margin is far
above rounding.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levpaper.pool import (
    ArbitrageRule,
    ConstantProductPool,
    Token,
    amount_in_for,
    amount_out,
    arbitrage_trade,
    burn_shares,
    execution_price,
    impermanent_loss,
    initial_shares,
    lvr_rate,
    mint_shares,
    no_arbitrage_band,
    position_value,
    post_trade_price_ratio,
    price_impact,
    rebalancing_loss,
    slippage,
    spot_price,
)

EPS = float(np.finfo(np.float64).eps)
SETTINGS = settings(max_examples=250, deadline=None)

reserves = st.floats(-3.0, 12.0).map(lambda e: 10.0**e)
rel_size = st.floats(-9.0, 2.0).map(lambda e: 10.0**e)  # trade size relative to a reserve
fees = st.one_of(st.sampled_from([0.0, 0.0005, 0.003, 0.01]), st.floats(0.0, 0.9))
tokens = st.sampled_from(["A", "B"])
rules = st.sampled_from(["optimal", "band_edge"])


def state(pool: ConstantProductPool) -> tuple[float, float, float, float]:
    return (pool.reserve_a, pool.reserve_b, pool.fee, pool.total_shares)


# --- closed forms against exact rational arithmetic -----------------------------------------


@SETTINGS
@given(x=reserves, y=reserves, rel=rel_size, fee=fees)
def test_amount_out_and_in_match_exact_rationals(
    x: float, y: float, rel: float, fee: float
) -> None:
    """Both swap formulas are within 4 EPS (relative) of the exact value for the same floats."""
    dx = rel * x
    fx, fy, fdx, g = Fraction(x), Fraction(y), Fraction(dx), 1 - Fraction(fee)
    exact_out = fy * g * fdx / (fx + g * fdx)
    out = amount_out(dx, x, y, fee)
    assert abs(Fraction(out) - exact_out) <= 4 * EPS * exact_out
    dy = min(rel, 0.5) * y
    exact_in = fx * Fraction(dy) / (g * (fy - Fraction(dy)))
    paid = amount_in_for(dy, x, y, fee)
    assert abs(Fraction(paid) - exact_in) <= 4 * EPS * exact_in


def test_price_formulas_agree_with_each_other() -> None:
    x, y, f = 120.0, 300_000.0, 0.003
    dx = np.array([1e-6, 0.1, 1.0, 50.0, 1e4])
    out = amount_out(dx, x, y, f)
    np.testing.assert_allclose(execution_price(dx, x, y, f), out / dx, rtol=1e-15)
    np.testing.assert_allclose(slippage(dx, x, f), 1 - (out / dx) / (y / x), rtol=1e-12)
    # post-trade price of the token paid in (A, here): (y'/x') relative to y/x
    ratio = ((y - out) / (x + dx)) / (y / x)
    np.testing.assert_allclose(post_trade_price_ratio(dx, x, f), ratio, rtol=1e-13)
    np.testing.assert_allclose(price_impact(dx, x, f), 1 - ratio, rtol=1e-10)
    assert spot_price(x, y) == y / x
    # a vanishing trade executes at the spot price net of fee
    assert execution_price(1e-12, x, y, f) == pytest.approx((1 - f) * y / x, rel=1e-12)


def test_price_impact_is_about_twice_the_net_slippage_for_small_trades() -> None:
    x, f, dx = 1000.0, 0.003, 1e-3
    assert price_impact(dx, x, f) == pytest.approx((2 - f) * dx / x, rel=1e-5)
    assert slippage(dx, x, f) == pytest.approx(f + (1 - f) ** 2 * dx / x, rel=1e-5)


# --- invariants ----------------------------------------------------------------------------


@SETTINGS
@given(x=reserves, y=reserves, rel=rel_size, fee=fees, token=tokens)
def test_k_never_decreases_on_exact_in(
    x: float, y: float, rel: float, fee: float, token: Token
) -> None:
    """k grows by exactly f dx / (x + g dx) in real arithmetic. In float64 the paid-out reserve
    y - dy is resolved to ~EPS y, i.e. to EPS (1 + dx/x) relative to its new value, so k is
    checked never to fall by more than 4 EPS (1 + dx/x), and to rise strictly whenever the growth
    exceeds 64 EPS (1 + dx/x)."""
    pool = ConstantProductPool(x, y, fee)
    x_in = x if token == "A" else y
    dx = rel * x_in
    k0 = pool.k
    pool.swap(dx, token)
    k1 = pool.k
    growth = fee * dx / (x_in + (1 - fee) * dx)  # exact: k1/k0 - 1
    resolution = EPS * (1 + rel)
    assert k1 >= k0 * (1 - 4 * resolution)
    assert k1 / k0 - 1 == pytest.approx(growth, rel=1e-6, abs=8 * resolution)
    if growth > 64 * resolution:
        assert k1 > k0


@SETTINGS
@given(x=reserves, y=reserves, frac=st.floats(1e-9, 0.999), fee=fees, token=tokens)
def test_k_never_decreases_on_exact_out(
    x: float, y: float, frac: float, fee: float, token: Token
) -> None:
    pool = ConstantProductPool(x, y, fee)
    y_out = x if token == "A" else y
    dy = frac * y_out
    k0 = pool.k
    pool.swap_exact_out(dy, token)
    growth = fee * dy / ((1 - fee) * y_out)  # exact: k1/k0 - 1
    assert pool.k >= k0 * (1 - 4 * EPS)
    assert pool.k / k0 - 1 == pytest.approx(growth, rel=1e-6, abs=8 * EPS)
    if growth > 1e-12:
        assert pool.k > k0


@SETTINGS
@given(x=reserves, y=reserves, rel=rel_size, fee=fees, token=tokens)
def test_round_trip_swap_never_profits(
    x: float, y: float, rel: float, fee: float, token: Token
) -> None:
    """A -> B -> A (or B -> A -> B) returns at most what was paid: exactly so up to 4 EPS without
    fee, strictly with a fee >= 1e-6 (the real-arithmetic loss is then >= ~2e-6 of the amount)."""
    pool = ConstantProductPool(x, y, fee)
    other: Token = "B" if token == "A" else "A"
    dx = rel * (x if token == "A" else y)
    got = pool.swap(dx, token)
    back = pool.swap(got, other)
    assert back <= dx * (1 + 4 * EPS)
    if fee >= 1e-6:
        assert back < dx


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, float, Token]]:
    kinds = st.sampled_from(["in", "out", "arb", "add", "remove"])
    return draw(st.lists(st.tuples(kinds, st.floats(1e-6, 0.95), tokens), min_size=1, max_size=30))


@settings(max_examples=200, deadline=None)
@given(x=reserves, y=reserves, fee=fees, ops=operations(), rule=rules)
def test_reserves_stay_positive_under_any_sequence(
    x: float, y: float, fee: float, ops: list[tuple[str, float, Token]], rule: ArbitrageRule
) -> None:
    pool = ConstantProductPool(x, y, fee)
    for kind, u, token in ops:
        k0 = pool.k
        if kind == "in":
            pool.swap(u * 10 * (pool.reserve_a if token == "A" else pool.reserve_b), token)
        elif kind == "out":
            pool.swap_exact_out(u * (pool.reserve_a if token == "A" else pool.reserve_b), token)
        elif kind == "arb":
            pool.arbitrage(pool.spot_price * (0.1 + 10 * u), rule=rule)
        elif kind == "add":
            pool.add_liquidity(u * pool.reserve_a, u * pool.reserve_b * 1.5)
        else:
            pool.remove_liquidity(u * pool.total_shares)
        for v in state(pool):
            assert math.isfinite(v)
        assert pool.reserve_a > 0 and pool.reserve_b > 0 and pool.total_shares > 0
        if kind in ("in", "out", "arb"):  # trades are at most ~10x a reserve: see above
            assert pool.k >= k0 * (1 - 64 * EPS)


@SETTINGS
@given(x=reserves, y=reserves, frac=st.floats(1e-9, 0.99), fee=fees, token=tokens)
def test_exact_out_then_matching_exact_in_is_consistent(
    x: float, y: float, frac: float, fee: float, token: Token
) -> None:
    """Paying the quoted input of an exact-out swap as an exact-in swap yields the wanted amount
    and the same pool, to 1e-12 relative (the round trip of two closed forms, each within a few
    EPS, whose composition is the identity)."""
    pool = ConstantProductPool(x, y, fee)
    token_in: Token = "B" if token == "A" else "A"
    dy = frac * (x if token == "A" else y)
    paid = pool.quote_exact_out(dy, token)
    assert pool.quote(paid, token_in) == pytest.approx(dy, rel=1e-12)
    p_out, p_in = pool.copy(), pool.copy()
    assert p_out.swap_exact_out(dy, token) == paid
    p_in.swap(paid, token_in)
    assert p_in.reserve_a == pytest.approx(p_out.reserve_a, rel=1e-12)
    assert p_in.reserve_b == pytest.approx(p_out.reserve_b, rel=1e-12)


@SETTINGS
@given(x=reserves, y=reserves, rel=rel_size, fee=fees, token=tokens, m=st.floats(0.05, 20.0))
def test_a_quote_equals_the_swap_it_quotes(
    x: float, y: float, rel: float, fee: float, token: Token, m: float
) -> None:
    pool = ConstantProductPool(x, y, fee)
    before = state(pool)
    amount = rel * (x if token == "A" else y)
    q_in = pool.quote(amount, token)
    q_out = pool.quote_exact_out(min(rel, 0.9) * (x if token == "A" else y), token)
    q_arb = pool.quote_arbitrage(m * pool.spot_price)
    assert state(pool) == before  # quotes change nothing
    assert pool.copy().swap(amount, token) == q_in
    assert pool.copy().swap_exact_out(min(rel, 0.9) * (x if token == "A" else y), token) == q_out
    assert pool.copy().arbitrage(m * pool.spot_price) == q_arb
    # the pure functions agree with the pool bit for bit
    x_in, y_out = (x, y) if token == "A" else (y, x)
    assert amount_out(amount, x_in, y_out, fee) == q_in


def test_scalar_pool_matches_documented_numbers_and_keeps_old_behaviour() -> None:
    pool = ConstantProductPool(100.0, 250_000.0, fee=0.003)
    assert pool.total_shares == 5000.0
    out = pool.swap(1.0, "A")
    assert out == amount_out(1.0, 100.0, 250_000.0, 0.003)
    assert (pool.reserve_a, pool.reserve_b) == (101.0, 250_000.0 - out)
    paid = pool.swap_exact_out(10.0, "B")
    assert paid == amount_in_for(10.0, 101.0, 250_000.0 - out, 0.003)
    assert repr(ConstantProductPool(1.0, 2.0, 0.0)) == (
        "ConstantProductPool(reserve_a=1.0, reserve_b=2.0, fee=0.0)"
    )
    # numpy scalars and ints are accepted like floats
    assert ConstantProductPool(100.0, 250_000.0).quote(np.float64(1.0), "A") == out
    assert ConstantProductPool(100.0, 250_000.0).quote(1, "A") == out


def test_trades_that_would_empty_a_reserve_in_float64_are_rejected() -> None:
    pool = ConstantProductPool(1.0, 1.0, fee=0.0)
    with pytest.raises(ValueError, match="amount_in"):
        pool.swap(1e300, "A")
    assert state(pool) == (1.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="amount_out"):
        pool.swap_exact_out(1.0, "B")
    with pytest.raises(ValueError, match="amount_out"):
        pool.swap_exact_out(1.0 - 1e-300, "B")  # rounds to the reserve


# --- arbitrage -----------------------------------------------------------------------------

prices_rel = st.floats(-2.0, 2.0).map(lambda e: 10.0**e)


@SETTINGS
@given(x=reserves, y=reserves, m=prices_rel, fee=fees, rule=rules)
def test_arbitrage_lands_inside_the_fee_band(
    x: float, y: float, m: float, fee: float, rule: ArbitrageRule
) -> None:
    """After the arbitrage the external price lies in the pool's no-arbitrage band, to 1e-12
    relative; with rule="band_edge" it lies on the band's edge, to the same tolerance."""
    pool = ConstantProductPool(x, y, fee)
    p = m * pool.spot_price
    lo0, hi0 = no_arbitrage_band(x, y, fee)
    trade = pool.arbitrage(p, rule=rule)
    lo, hi = no_arbitrage_band(pool.reserve_a, pool.reserve_b, fee)
    assert lo <= p * (1 + 1e-12)
    assert p <= hi * (1 + 1e-12)
    if lo0 <= p <= hi0:
        assert trade == (0.0, 0.0, 0.0)
        assert (pool.reserve_a, pool.reserve_b) == (x, y)
        return
    assert trade.profit >= -1e-12 * pool.value(p)
    if rule == "band_edge":
        edge = hi if p > hi0 else lo
        assert edge == pytest.approx(p, rel=1e-12)
    if fee == 0.0:  # both rules: the pool ends at the external price
        assert pool.spot_price == pytest.approx(p, rel=1e-12)


@SETTINGS
@given(x=reserves, y=reserves, m=prices_rel, fee=fees, step=st.floats(1e-4, 0.2))
def test_optimal_arbitrage_maximises_profit(
    x: float, y: float, m: float, fee: float, step: float
) -> None:
    """The "optimal" trade earns at least as much as the same trade scaled by 1 +- step, and as
    the "band_edge" trade, which trades at most as much (all to 1e-12 of the pool's value)."""
    p = m * y / x
    opt = arbitrage_trade(x, y, p, fee)
    edge = arbitrage_trade(x, y, p, fee, rule="band_edge")
    assume(opt.amount_a != 0.0)
    tol = 1e-12 * (p * x + y)
    buy = opt.amount_a < 0  # the arbitrageur takes A out, paying B in
    din = opt.amount_b if buy else opt.amount_a
    x_in, y_out = (y, x) if buy else (x, y)
    for scale in (1 - step, 1 + step):
        out = amount_out(din * scale, x_in, y_out, fee)
        profit = p * out - din * scale if buy else out - p * din * scale
        assert profit <= opt.profit + tol
    assert edge.profit <= opt.profit + tol
    assert abs(edge.amount_a) <= abs(opt.amount_a) * (1 + 1e-12) + 4 * EPS * x


def test_arbitrage_examples_and_zero_inside_band() -> None:
    x, y, f = 100.0, 250_000.0, 0.003
    lo, hi = no_arbitrage_band(x, y, f)
    assert (lo, hi) == ((1 - f) * 2500.0, 2500.0 / (1 - f))
    for p in (lo, 2500.0, hi, np.nextafter(hi, 0)):
        assert arbitrage_trade(x, y, p, f) == (0.0, 0.0, 0.0)
    # buying A: closed form of the optimum, dy = y (sqrt(p g x / y) - 1) / g
    p = 2600.0
    t = arbitrage_trade(x, y, p, f)
    dy = y * (math.sqrt(p * (1 - f) * x / y) - 1) / (1 - f)
    assert t.amount_b == pytest.approx(dy, rel=1e-14)
    assert t.amount_a == pytest.approx(-amount_out(dy, y, x, f), rel=1e-14)
    assert t.profit == pytest.approx(-(t.amount_b + p * t.amount_a), rel=1e-14)
    # the arbitrage is the exact-in swap of its input: same final state bit for bit
    a, b = ConstantProductPool(x, y, f), ConstantProductPool(x, y, f)
    a.arbitrage(p)
    b.swap(t.amount_b, "B")
    assert (a.reserve_a, a.reserve_b) == (b.reserve_a, b.reserve_b)
    # vectorised over prices
    ps = np.array([2000.0, 2500.0, 2600.0])
    tv = arbitrage_trade(x, y, ps, f)
    assert isinstance(tv.profit, np.ndarray)
    for i, pi in enumerate(ps):
        assert tuple(float(v[i]) for v in tv) == arbitrage_trade(x, y, float(pi), f)


# --- liquidity -----------------------------------------------------------------------------


@SETTINGS
@given(x=reserves, y=reserves, ua=rel_size, ub=rel_size, fee=fees)
def test_add_then_remove_liquidity_returns_at_most_the_deposit(
    x: float, y: float, ua: float, ub: float, fee: float
) -> None:
    """Adding keeps the spot price (to 4 EPS) and the value of a share; removing the minted shares
    returns the tokens taken, never more than 8 EPS relative above them."""
    pool = ConstantProductPool(x, y, fee)
    p0, s0 = pool.spot_price, pool.total_shares
    per_share = pool.value() / s0
    added = pool.add_liquidity(ua * x, ub * y)
    assert added.amount_a <= ua * x and added.amount_b <= ub * y
    assert added.amount_a == ua * x or added.amount_b == ub * y  # the limiting token in full
    assert pool.spot_price == pytest.approx(p0, rel=4 * EPS)
    assert pool.value(p0) / pool.total_shares == pytest.approx(per_share, rel=8 * EPS)
    assume(added.shares < pool.total_shares)
    removed = pool.remove_liquidity(added.shares)
    assert removed.amount_a <= added.amount_a * (1 + 8 * EPS)
    assert removed.amount_b <= added.amount_b * (1 + 8 * EPS)
    # S + s - s cancels: resolved to EPS (1 + s/S) relative
    assert pool.total_shares == pytest.approx(s0, rel=8 * EPS * (1 + added.shares / s0))


def test_liquidity_pure_functions() -> None:
    assert initial_shares(4.0, 9.0) == 6.0
    m = mint_shares(10.0, 50_000.0, 100.0, 250_000.0, 5_000.0)
    assert m == (500.0, 10.0, 25_000.0)
    m = mint_shares(100.0, 25_000.0, 100.0, 250_000.0, 5_000.0)  # B limits
    assert m == (500.0, 10.0, 25_000.0)
    b = burn_shares(500.0, 110.0, 275_000.0, 5_500.0)
    assert b == (500.0, 10.0, 25_000.0)
    with pytest.raises(ValueError, match="shares"):
        burn_shares(5_500.0, 110.0, 275_000.0, 5_500.0)


# --- LP value, impermanent loss, LVR -------------------------------------------------------


@SETTINGS
@given(x=reserves, y=reserves, r=st.floats(-2.0, 2.0).map(lambda e: 10.0**e))
def test_impermanent_loss_matches_an_arbitraged_pool(x: float, y: float, r: float) -> None:
    """A fee-free pool arbitraged from P to rP is worth (1 + IL(r)) times holding, to 1e-10."""
    pool = ConstantProductPool(x, y, fee=0.0)
    p0 = pool.spot_price
    pool.arbitrage(r * p0)
    held = position_value(x, y, r * p0)
    assert pool.value(r * p0) / held - 1 == pytest.approx(impermanent_loss(r), abs=1e-10)
    assert pool.value(r * p0) == pytest.approx(2 * math.sqrt(x * y * r * p0), rel=1e-10)


def test_impermanent_loss_values() -> None:
    assert impermanent_loss(1.0) == 0.0
    assert impermanent_loss(4.0) == pytest.approx(-0.2, rel=1e-15)
    r = np.array([0.1, 0.5, 2.0, 10.0])
    np.testing.assert_allclose(impermanent_loss(r), impermanent_loss(1 / r), rtol=1e-14)
    assert np.all(impermanent_loss(r) < 0)


def test_rebalancing_loss_is_the_arbitrage_profit_and_vectorises() -> None:
    rng = np.random.default_rng(20240521)
    paths = 2500.0 * np.exp(np.cumsum(rng.normal(0, 0.02, (5, 200)), axis=1))
    paths = np.concatenate([np.full((5, 1), 2500.0), paths], axis=1)
    for fee in (0.0, 0.003):
        res = rebalancing_loss(paths, 100.0, 250_000.0, fee)
        np.testing.assert_allclose(res.loss, res.arbitrage_profit, rtol=1e-9, atol=1e-7)
        assert np.all(res.arbitrage_profit[:, 1:] >= res.arbitrage_profit[:, :-1] - 1e-9)
        # the same path through the scalar pool gives the same pool values, bit for bit
        pool = ConstantProductPool(100.0, 250_000.0, fee)
        for t in range(1, paths.shape[1]):
            pool.arbitrage(float(paths[2, t]))
            assert pool.value(float(paths[2, t])) == res.pool_value[2, t]
    with_fee = rebalancing_loss(paths, 100.0, 250_000.0, 0.003).loss[:, -1]
    no_fee = rebalancing_loss(paths, 100.0, 250_000.0, 0.0).loss[:, -1]
    assert np.all(with_fee < no_fee)  # fees kept by the pool offset part of the loss


def test_realised_lvr_matches_closed_forms_by_monte_carlo() -> None:
    """Fee-free pool under driftless-in-log GBM, n steps of length dt. Per step the arbitrage
    profit is exactly V/2 (e^{z/2} - 1)^2 with z ~ N(m, s^2), so
    E[loss_n]/V_0 = c sum_{t<n} q^t, with c = (e^{m+s^2/2} - 2 e^{m/2+s^2/8} + 1)/2 and
    q = e^{m/2+s^2/8}. The Monte Carlo mean is held to it within 4 standard errors, and the exact
    expectation to lvr_rate (sigma^2/8 per unit time) within 1% at this small step."""
    sigma, dt, n, paths = 0.8, 1.0 / 8760.0, 200, 4000
    s = sigma * math.sqrt(dt)
    m = -0.5 * s * s
    rng = np.random.default_rng(7)
    z = rng.normal(m, s, (paths, n))
    prices = 2500.0 * np.exp(np.concatenate([np.zeros((paths, 1)), np.cumsum(z, axis=1)], axis=1))
    res = rebalancing_loss(prices, 100.0, 250_000.0, 0.0)
    v0 = 500_000.0
    sample = res.loss[:, -1] / v0
    c = (math.exp(m + s * s / 2) - 2 * math.exp(m / 2 + s * s / 8) + 1) / 2
    q = math.exp(m / 2 + s * s / 8)
    exact = c * sum(q**t for t in range(n))
    se = sample.std(ddof=1) / math.sqrt(paths)
    assert abs(sample.mean() - exact) < 4 * se
    assert exact == pytest.approx(lvr_rate(sigma) * n * dt, rel=0.01)
    assert lvr_rate(0.8, 2.0) == pytest.approx(0.16, rel=1e-15)
    assert lvr_rate(0.0) == 0.0


# --- bad input -----------------------------------------------------------------------------

BAD = [0.0, -1.0, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", BAD)
def test_bad_reserves_and_amounts_raise_naming_the_parameter(bad: float) -> None:
    for name, call in [
        ("amount_in", lambda: amount_out(bad, 1.0, 1.0)),
        ("reserve_in", lambda: amount_out(1.0, bad, 1.0)),
        ("reserve_out", lambda: amount_out(1.0, 1.0, bad)),
        ("amount_out", lambda: amount_in_for(bad, 1.0, 1.0)),
        ("reserve_a", lambda: spot_price(bad, 1.0)),
        ("reserve_b", lambda: arbitrage_trade(1.0, bad, 1.0)),
        ("price", lambda: arbitrage_trade(1.0, 1.0, bad)),
        ("amount_in", lambda: price_impact(bad, 1.0)),
        ("price_ratio", lambda: impermanent_loss(bad)),
        ("reserve_a", lambda: ConstantProductPool(bad, 1.0)),
        ("reserve_b", lambda: ConstantProductPool(1.0, bad)),
        ("shares", lambda: ConstantProductPool(1.0, 1.0, shares=bad)),
        ("total_shares", lambda: mint_shares(1.0, 1.0, 1.0, 1.0, bad)),
        ("prices", lambda: rebalancing_loss([1.0, bad], 1.0, 1.0)),
    ]:
        with pytest.raises(ValueError, match=name):
            call()


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, math.nan, math.inf])
def test_fee_outside_unit_interval_raises(bad: float) -> None:
    with pytest.raises(ValueError, match="fee"):
        ConstantProductPool(1.0, 1.0, bad)
    with pytest.raises(ValueError, match="fee"):
        amount_out(1.0, 1.0, 1.0, bad)
    with pytest.raises(ValueError, match="fee"):
        arbitrage_trade(1.0, 1.0, 2.0, bad)


@pytest.mark.parametrize("bad", BAD)
def test_rejected_pool_calls_leave_the_state_unchanged(bad: float) -> None:
    pool = ConstantProductPool(100.0, 250_000.0, 0.003)
    pool.swap(1.0, "A")
    before = state(pool)
    calls = [
        ("amount_in", lambda: pool.swap(bad, "A")),
        ("amount_in", lambda: pool.swap(bad, "B")),
        ("amount_out", lambda: pool.swap_exact_out(bad, "A")),
        ("price", lambda: pool.arbitrage(bad)),
        ("amount_a", lambda: pool.add_liquidity(bad, 1.0)),
        ("amount_b", lambda: pool.add_liquidity(1.0, bad)),
        ("shares", lambda: pool.remove_liquidity(bad)),
    ]
    for name, call in calls:
        with pytest.raises(ValueError, match=name):
            call()
        assert state(pool) == before
    for call in [
        lambda: pool.swap(1.0, "C"),
        lambda: pool.swap_exact_out(pool.reserve_a, "A"),  # at the reserve
        lambda: pool.swap_exact_out(2 * pool.reserve_b, "B"),  # above it
        lambda: pool.remove_liquidity(pool.total_shares),
        lambda: pool.arbitrage(2500.0, rule="greedy"),
    ]:
        with pytest.raises(ValueError):
            call()
        assert state(pool) == before

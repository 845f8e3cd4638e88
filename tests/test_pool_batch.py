"""PoolBatch: the batched pool gives bit-identical results to the scalar pool, and validates.

"Identical" here is ``numpy.array_equal`` on float64 (bit for bit, -0.0 == 0.0): both paths run
the same closed-form kernels, built from correctly rounded IEEE operations only.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from levpaper.pool import ArbitrageRule, ConstantProductPool, Token, rebalancing_loss
from levpaper.pool_batch import PoolBatch

SETTINGS = settings(max_examples=120, deadline=None)

exps = st.floats(-3.0, 9.0)


@st.composite
def batches(draw: st.DrawFn) -> tuple[PoolBatch, list[ConstantProductPool], np.random.Generator]:
    n = draw(st.integers(1, 40))
    ea = draw(hnp.arrays(np.float64, n, elements=exps))
    eb = draw(hnp.arrays(np.float64, n, elements=exps))
    fee = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 0.0005, 0.003, 0.01, 0.3])))
    ra, rb = 10.0**ea, 10.0**eb
    pools = [
        ConstantProductPool(float(a), float(b), float(f))
        for a, b, f in zip(ra, rb, fee, strict=True)
    ]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return PoolBatch(ra, rb, fee), pools, rng


def assert_same_state(batch: PoolBatch, pools: list[ConstantProductPool]) -> None:
    assert np.array_equal(batch.reserve_a, [p.reserve_a for p in pools])
    assert np.array_equal(batch.reserve_b, [p.reserve_b for p in pools])
    assert np.array_equal(batch.total_shares, [p.total_shares for p in pools])
    assert np.array_equal(batch.fee, [p.fee for p in pools])


def token(flag: bool) -> Token:
    return "A" if flag else "B"


@SETTINGS
@given(case=batches(), check=st.booleans())
def test_batch_swaps_equal_scalar_swaps(
    case: tuple[PoolBatch, list[ConstantProductPool], np.random.Generator], check: bool
) -> None:
    batch, pools, rng = case
    n = len(pools)
    assert_same_state(batch, pools)
    for _ in range(4):
        a_in = rng.random(n) < 0.5
        rel = 10.0 ** rng.uniform(-8, 1, n)
        amount = rel * np.where(a_in, batch.reserve_a, batch.reserve_b)
        quoted = batch.quote(amount, a_in, check=check)
        out = batch.swap(amount, a_in, check=check)
        assert np.array_equal(quoted, out)
        expect = [p.swap(float(d), token(a)) for p, d, a in zip(pools, amount, a_in, strict=True)]
        assert np.array_equal(out, expect)
        assert_same_state(batch, pools)

        a_out = rng.random(n) < 0.5
        frac = rng.uniform(1e-6, 0.9, n)
        want = frac * np.where(a_out, batch.reserve_a, batch.reserve_b)
        quoted = batch.quote_exact_out(want, a_out, check=check)
        paid = batch.swap_exact_out(want, a_out, check=check)
        assert np.array_equal(quoted, paid)
        expect = [
            p.swap_exact_out(float(d), token(a)) for p, d, a in zip(pools, want, a_out, strict=True)
        ]
        assert np.array_equal(paid, expect)
        assert_same_state(batch, pools)


@SETTINGS
@given(case=batches(), flag=st.booleans())
def test_uniform_direction_equals_the_mask(
    case: tuple[PoolBatch, list[ConstantProductPool], np.random.Generator], flag: bool
) -> None:
    """A bool direction takes a faster path than a mask; the results are the same bits."""
    batch, _, rng = case
    other = batch.copy()
    n = len(batch)
    amount = 10.0 ** rng.uniform(-6, 0, n) * (batch.reserve_a if flag else batch.reserve_b)
    out = batch.swap(amount, flag, check=False)
    out2 = other.swap(amount, np.full(n, flag), check=False)
    assert np.array_equal(out, out2)
    assert np.array_equal(batch.reserve_a, other.reserve_a)
    assert np.array_equal(batch.reserve_b, other.reserve_b)
    want = 0.1 * (batch.reserve_a if flag else batch.reserve_b)
    paid = batch.swap_exact_out(want, flag)
    paid2 = other.swap_exact_out(want, np.full(n, flag))
    assert np.array_equal(paid, paid2)
    assert np.array_equal(batch.reserve_b, other.reserve_b)


@SETTINGS
@given(case=batches(), rule=st.sampled_from(["optimal", "band_edge"]))
def test_batch_arbitrage_and_liquidity_equal_scalar(
    case: tuple[PoolBatch, list[ConstantProductPool], np.random.Generator], rule: ArbitrageRule
) -> None:
    batch, pools, rng = case
    n = len(pools)
    for _ in range(3):
        price = batch.spot_price * 10.0 ** rng.uniform(-1, 1, n)
        trade = batch.arbitrage(price, rule=rule)
        expect = [p.arbitrage(float(q), rule=rule) for p, q in zip(pools, price, strict=True)]
        for i, field in enumerate(trade):
            assert np.array_equal(field, [e[i] for e in expect])
        assert_same_state(batch, pools)

        da = 10.0 ** rng.uniform(-4, 1, n) * batch.reserve_a
        db = 10.0 ** rng.uniform(-4, 1, n) * batch.reserve_b
        added = batch.add_liquidity(da, db)
        expect_add = [
            p.add_liquidity(float(a), float(b)) for p, a, b in zip(pools, da, db, strict=True)
        ]
        for i, field in enumerate(added):
            assert np.array_equal(field, [e[i] for e in expect_add])
        assert_same_state(batch, pools)

        sh = rng.uniform(0.01, 0.9, n) * batch.total_shares
        removed = batch.remove_liquidity(sh)
        expect_rm = [p.remove_liquidity(float(s)) for p, s in zip(pools, sh, strict=True)]
        for i, field in enumerate(removed):
            assert np.array_equal(field, [e[i] for e in expect_rm])
        assert_same_state(batch, pools)


def test_batch_conversions_and_values() -> None:
    pools = [ConstantProductPool(100.0, 250_000.0), ConstantProductPool(3.0, 4.0, 0.0, shares=7.0)]
    batch = PoolBatch.from_pools(pools)
    assert len(batch) == 2
    assert repr(batch) == "PoolBatch(n=2)"
    for i, p in enumerate(pools):
        q = batch.pool(i)
        assert (q.reserve_a, q.reserve_b, q.fee, q.total_shares) == (
            p.reserve_a,
            p.reserve_b,
            p.fee,
            p.total_shares,
        )
    assert np.array_equal(batch.k, [p.k for p in pools])
    assert np.array_equal(batch.spot_price, [p.spot_price for p in pools])
    assert np.array_equal(batch.value(), [p.value() for p in pools])
    assert np.array_equal(batch.value(2.0), [p.value(2.0) for p in pools])
    # scalar arguments broadcast; the state is owned (a copy of the input)
    ra = np.array([1.0, 2.0])
    b = PoolBatch(ra, 5.0, 0.003)
    ra[0] = 99.0
    assert b.reserve_a[0] == 1.0
    assert b.reserve_b.shape == (2,)
    with pytest.raises(ValueError):
        b.fee[0] = 0.5  # read-only


def test_rebalancing_loss_equals_a_batch_of_arbitrages() -> None:
    rng = np.random.default_rng(3)
    prices = 2500.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (8, 50)), axis=1))
    res = rebalancing_loss(prices, 100.0, 250_000.0, 0.003)
    batch = PoolBatch(np.full(8, 100.0), 250_000.0, 0.003)
    for t in range(1, prices.shape[1]):
        batch.arbitrage(prices[:, t])
        assert np.array_equal(batch.value(prices[:, t]), res.pool_value[:, t])


BAD = [0.0, -1.0, math.nan, math.inf]


@pytest.mark.parametrize("bad", BAD)
def test_batch_rejects_bad_input_and_keeps_its_state(bad: float) -> None:
    batch = PoolBatch([100.0, 200.0, 300.0], [1e5, 2e5, 3e5], [0.0, 0.003, 0.01])
    batch.swap(1.0, True)
    before = batch.copy()
    amounts = np.array([1.0, bad, 1.0])
    calls = [
        ("amount_in", lambda: batch.swap(amounts, True)),
        ("amount_in", lambda: batch.quote(amounts, np.array([True, False, True]))),
        ("amount_out", lambda: batch.swap_exact_out(amounts, False)),
        ("price", lambda: batch.arbitrage(amounts)),
        ("amount_a", lambda: batch.add_liquidity(amounts, 1.0)),
        ("amount_b", lambda: batch.add_liquidity(1.0, amounts)),
        ("shares", lambda: batch.remove_liquidity(amounts)),
        ("reserve_a", lambda: PoolBatch(amounts, 1.0)),
        ("reserve_b", lambda: PoolBatch(1.0, amounts)),
    ]
    for name, call in calls:
        with pytest.raises(ValueError, match=name):
            call()
        for field in ("reserve_a", "reserve_b", "total_shares"):
            assert np.array_equal(getattr(batch, field), getattr(before, field))


def test_batch_rejects_bad_fees_shapes_and_directions() -> None:
    for fee in (-0.1, 1.0, math.nan):
        with pytest.raises(ValueError, match="fee"):
            PoolBatch([1.0, 2.0], [1.0, 2.0], fee)
    with pytest.raises(ValueError, match="broadcast"):
        PoolBatch([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        PoolBatch(np.ones((2, 2)), 1.0)
    batch = PoolBatch([100.0, 200.0], [1e5, 2e5])
    before = batch.copy()
    with pytest.raises(ValueError, match="amount_in"):
        batch.swap(np.ones(3), True)
    with pytest.raises(TypeError, match="a_in"):
        batch.swap(1.0, np.array([1, 0]))
    with pytest.raises(ValueError, match="a_in"):
        batch.swap(1.0, np.array([True, False, True]))
    with pytest.raises(ValueError, match="amount_out"):
        batch.swap_exact_out(np.array([1.0, 2e5]), False)  # at the reserve of B in pool 1
    with pytest.raises(ValueError, match="amount_in"):
        batch.swap(np.array([1.0, 1e300]), True)  # would empty a reserve in float64
    with pytest.raises(ValueError, match="shares"):
        batch.remove_liquidity(batch.total_shares)
    with pytest.raises(ValueError, match="rule"):
        batch.arbitrage(1.0, rule="greedy")
    assert np.array_equal(batch.reserve_a, before.reserve_a)
    assert np.array_equal(batch.reserve_b, before.reserve_b)
    assert np.array_equal(batch.total_shares, before.total_shares)

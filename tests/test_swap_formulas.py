"""The constant-product swap of section 2.1 (ledger rows E1, E2) held to its closed forms.

Each formula is checked against an independent statement of it: the fee-adjusted invariant the
swap must keep, the reserves of a pool that actually traded, or the limit that defines it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levpaper as lp
from levpaper.pool import ConstantProductPool

reserves = st.floats(min_value=1e-3, max_value=1e12, allow_nan=False, allow_infinity=False)
fractions = st.floats(min_value=1e-9, max_value=10.0)
fees = st.sampled_from([0.0, 0.0001, 0.0005, 0.003, 0.01, 0.3])


@settings(max_examples=300, deadline=None)
@given(x=reserves, y=reserves, frac=fractions, f=fees)
def test_amount_out_keeps_fee_adjusted_invariant(x: float, y: float, frac: float, f: float) -> None:
    dx = frac * x
    dy = lp.amount_out(dx, x, y, f)
    assert 0 < dy < y
    # (x + (1-f) dx)(y - dy) = x y, the invariant counted with the input net of the fee (E1).
    assert math.isclose((x + (1 - f) * dx) * (y - dy), x * y, rel_tol=1e-9)


@settings(max_examples=300, deadline=None)
@given(x=reserves, y=reserves, frac=fractions, f=fees)
def test_k_grows_by_closed_form_factor(x: float, y: float, frac: float, f: float) -> None:
    pool = ConstantProductPool(x, y, fee=f)
    k0 = pool.k
    pool.swap(frac * x, "A")
    expected = (x + frac * x) / (x + (1 - f) * frac * x)
    assert math.isclose(pool.k / k0, expected, rel_tol=1e-9)
    assert pool.k >= k0 * (1 - 1e-12)


@settings(max_examples=300, deadline=None)
@given(x=reserves, y=reserves, share=st.floats(min_value=1e-9, max_value=0.999), f=fees)
def test_exact_out_inverts_exact_in(x: float, y: float, share: float, f: float) -> None:
    dy = share * y
    dx = lp.amount_in_for(dy, x, y, f)
    assert math.isclose(lp.amount_out(dx, x, y, f), dy, rel_tol=1e-8)
    pool = ConstantProductPool(x, y, fee=f)
    paid = pool.swap_exact_out(dy, "B")
    assert math.isclose(paid, dx, rel_tol=1e-12)
    assert math.isclose(pool.reserve_b, y - dy, rel_tol=1e-12, abs_tol=1e-12 * y)


@settings(max_examples=300, deadline=None)
@given(x=reserves, y=reserves, frac=fractions, f=fees, token=st.sampled_from(["A", "B"]))
def test_post_trade_price_matches_pool(
    x: float, y: float, frac: float, f: float, token: str
) -> None:
    pool = ConstantProductPool(x, y, fee=f)
    reserve_in = x if token == "A" else y
    before = pool.spot_price if token == "A" else 1 / pool.spot_price
    pool.swap(frac * reserve_in, token)  # type: ignore[arg-type]
    after = pool.spot_price if token == "A" else 1 / pool.spot_price
    ratio = lp.post_trade_price_ratio(frac * reserve_in, reserve_in, f)
    assert math.isclose(after / before, ratio, rel_tol=1e-9)
    assert ratio < 1


def test_execution_price_and_slippage() -> None:
    x, y, f = 1_000.0, 2_500_000.0, 0.003
    dx = np.logspace(-6, 1, 50) * x
    exec_price = lp.execution_price(dx, x, y, f)
    np.testing.assert_allclose(exec_price, y * (1 - f) / (x + (1 - f) * dx), rtol=1e-13)
    np.testing.assert_allclose(1 - exec_price / (y / x), lp.slippage(dx, x, f), rtol=1e-9)
    assert np.all(np.diff(exec_price) < 0)  # larger trades execute worse
    # Uniswap v2's example scale: selling 1% of the reserve at 0.3% costs 1.2842% vs spot.
    assert lp.slippage(10.0, 1_000.0, 0.003) == pytest.approx(0.0128420, abs=1e-7)


def test_spot_price_is_marginal_execution_price() -> None:
    x, y = 123.0, 456_789.0
    assert lp.spot_price(x, y) == y / x
    assert lp.execution_price(1e-9 * x, x, y, 0.0) == pytest.approx(y / x, rel=1e-8)
    assert lp.execution_price(1e-9 * x, x, y, 0.003) == pytest.approx(0.997 * y / x, rel=1e-8)


def test_batch_functions_match_scalar_calls() -> None:
    rng = np.random.default_rng(7)
    x, y, dx = rng.uniform(1, 1e6, (3, 64))
    batch = lp.amount_out(dx, x, y, 0.003)
    assert isinstance(batch, np.ndarray)
    for i in range(64):
        assert batch[i] == lp.amount_out(float(dx[i]), float(x[i]), float(y[i]), 0.003)


# --- bad input: ValueError naming the parameter, state unchanged (issue item 10) -------------

BAD_NUMBERS = [0.0, -1.0, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize("name", ["reserve_a", "reserve_b"])
def test_pool_rejects_bad_reserves(name: str, value: float) -> None:
    kwargs = {"reserve_a": 10.0, "reserve_b": 10.0, name: value}
    with pytest.raises(ValueError, match=name):
        ConstantProductPool(**kwargs)


@pytest.mark.parametrize("fee", [-0.001, 1.0, 1.5, math.nan, math.inf])
def test_pool_rejects_fee_outside_unit_interval(fee: float) -> None:
    with pytest.raises(ValueError, match="fee"):
        ConstantProductPool(10.0, 10.0, fee=fee)


def _state(pool: ConstantProductPool) -> tuple[float, float, float]:
    return (pool.reserve_a, pool.reserve_b, pool.fee)


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize("method", ["swap", "quote"])
def test_rejected_swap_leaves_pool_unchanged(method: str, value: float) -> None:
    pool = ConstantProductPool(100.0, 250_000.0, fee=0.003)
    before = _state(pool)
    with pytest.raises(ValueError, match="amount_in"):
        getattr(pool, method)(value, "A")
    assert _state(pool) == before


@pytest.mark.parametrize("value", [*BAD_NUMBERS, 250_000.0, 300_000.0])
def test_rejected_exact_out_leaves_pool_unchanged(value: float) -> None:
    pool = ConstantProductPool(100.0, 250_000.0, fee=0.003)
    before = _state(pool)
    with pytest.raises(ValueError, match="amount_out"):
        pool.swap_exact_out(value, "B")
    assert _state(pool) == before


def test_rejected_token_leaves_pool_unchanged() -> None:
    pool = ConstantProductPool(100.0, 250_000.0)
    before = _state(pool)
    with pytest.raises(ValueError, match="token_in"):
        pool.swap(1.0, "C")  # type: ignore[arg-type]
    assert _state(pool) == before


@pytest.mark.parametrize(
    ("func", "args", "name"),
    [
        (lp.amount_out, (1.0, 0.0, 1.0), "reserve_in"),
        (lp.amount_out, (1.0, 1.0, -1.0), "reserve_out"),
        (lp.amount_out, (math.nan, 1.0, 1.0), "amount_in"),
        (lp.amount_in_for, (2.0, 1.0, 1.0), "amount_out"),
        (lp.spot_price, (math.inf, 1.0), "reserve_a"),
        (lp.slippage, (1.0, 0.0), "reserve_in"),
    ],
)
def test_functions_name_the_bad_parameter(func, args, name) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=name):
        func(*args)


def test_bad_fee_in_function() -> None:
    with pytest.raises(ValueError, match="fee"):
        lp.amount_out(1.0, 1.0, 1.0, fee=1.0)

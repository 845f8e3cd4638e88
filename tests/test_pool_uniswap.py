"""Agreement with Uniswap v2's integer swap formulas (UniswapV2Library, fee 997/1000).

For integer reserves and amounts up to ~1e24 (18-decimal tokens), the float closed forms with
``fee=0.003`` are compared with the library's exact integer results, computed with Python ints.

What is checked, exactly. Let v be the real value (997/1000 fee) and I the integer result, so
I = floor(v) for getAmountOut and I = floor(v') + 1 for getAmountIn (v' its real input). The
float result F carries a relative error of at most ``TOL`` = 16 EPS from converting the integers to
float64 (each within EPS/2), from 1 - 0.003 != 0.997 in binary (under EPS) and from the few
correctly rounded operations. So we check

* getAmountOut: I - TOL * v <= F < I + 1 + TOL * v, i.e. F is within one unit of the integer
  (the floor) plus the float's own resolution; for results below 2**40 that resolution is below
  1/256 of a unit, so F lies within one unit of I;
* getAmountIn: I - 1 - TOL * v' <= F <= I + TOL * v'.

``tests/test_pool.py`` separately holds the float formulas to exact rational evaluations of the
same float inputs (4 EPS), which isolates the rounding of the formulas themselves.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levpaper.pool import ConstantProductPool, amount_in_for, amount_out
from levpaper.pool_batch import PoolBatch

EPS = float(np.finfo(np.float64).eps)
TOL = 16 * EPS
SETTINGS = settings(max_examples=300, deadline=None)

reserve_ints = st.integers(1_000, 10**24)
amount_ints = st.integers(1, 10**24)


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut."""
    amount_in_with_fee = amount_in * 997
    return (amount_in_with_fee * reserve_out) // (reserve_in * 1000 + amount_in_with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountIn."""
    return (reserve_in * amount_out * 1000) // ((reserve_out - amount_out) * 997) + 1


@SETTINGS
@given(amount_in=amount_ints, reserve_in=reserve_ints, reserve_out=reserve_ints)
def test_amount_out_is_within_one_unit_of_get_amount_out(
    amount_in: int, reserve_in: int, reserve_out: int
) -> None:
    integer = get_amount_out(amount_in, reserve_in, reserve_out)
    exact = Fraction(997 * amount_in * reserve_out, 1000 * reserve_in + 997 * amount_in)
    f = amount_out(float(amount_in), float(reserve_in), float(reserve_out), 0.003)
    assert integer - TOL * exact <= f < integer + 1 + TOL * exact
    # the pool's swap gives the same float, or refuses an input so large (~1e16 times the
    # reserve) that the output rounds up to the whole reserve in float64
    pool = ConstantProductPool(float(reserve_in), float(reserve_out), 0.003)
    if f < float(reserve_out):
        assert pool.quote(float(amount_in), "A") == f
    else:
        with pytest.raises(ValueError, match="amount_in"):
            pool.quote(float(amount_in), "A")


@SETTINGS
@given(reserve_in=reserve_ints, reserve_out=reserve_ints, frac=st.fractions(0, 1))
def test_amount_in_for_is_within_one_unit_of_get_amount_in(
    reserve_in: int, reserve_out: int, frac: Fraction
) -> None:
    amount = int(frac * reserve_out)
    assume(0 < amount < reserve_out)
    assume(float(amount) < float(reserve_out))
    integer = get_amount_in(amount, reserve_in, reserve_out)
    exact = Fraction(1000 * reserve_in * amount, 997 * (reserve_out - amount))
    # the float subtraction reserve_out - amount is resolved to EPS * reserve_out, which is
    # EPS * reserve_out / (reserve_out - amount) relative: the tolerance scales with it
    tol = TOL * reserve_out / (reserve_out - amount)
    f = amount_in_for(float(amount), float(reserve_in), float(reserve_out), 0.003)
    assert integer - 1 - tol * exact <= f <= integer + tol * exact


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(amount_ints, reserve_ints, reserve_ints), min_size=1, max_size=64))
def test_batch_agrees_with_get_amount_out(rows: list[tuple[int, int, int]]) -> None:
    amounts, rin, rout = (np.array([float(r[i]) for r in rows]) for i in range(3))
    batch = PoolBatch(rin, rout, 0.003)
    f = batch.quote(amounts, True, check=False)  # unchecked: also the inputs the pool refuses
    for fi, (a, x, y) in zip(f, rows, strict=True):
        integer = get_amount_out(a, x, y)
        exact = Fraction(997 * a * y, 1000 * x + 997 * a)
        assert integer - TOL * exact <= fi < integer + 1 + TOL * exact


def test_known_uniswap_values() -> None:
    """1 ETH into a 100 ETH / 250,000 DAI pool (18 decimals)."""
    e18 = 10**18
    integer = get_amount_out(e18, 100 * e18, 250_000 * e18)
    assert integer == 2467895085992653247126
    f = amount_out(1.0, 100.0, 250_000.0, 0.003)
    assert abs(f * e18 - integer) <= TOL * integer

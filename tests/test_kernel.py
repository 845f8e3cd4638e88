"""levpaper.kernel: floats and arrays give the same bits; the kernel is the pool's closed forms;
the trades and the settlement conserve value; the penalty cap and the liquidation rule."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levpaper import kernel
from levpaper.pool import amount_in_for, amount_out, arbitrage_trade

FEES = st.sampled_from([0.0, 0.0005, 0.003, 0.01, 0.1])
RESERVE = st.floats(1e-3, 1e9)
RATIO = st.floats(1e-4, 1e4)  # external price over pool price
SIGNED = st.floats(-1e6, 1e6)


def _bits(a: Any) -> bytes:
    return np.asarray(a, dtype=np.float64).tobytes()


def _same(array_result: Any, float_results: list[Any]) -> None:
    """``array_result`` (a tuple of arrays or an array) equals, bit for bit, the float results
    of the same call one element at a time."""
    if isinstance(array_result, tuple):
        for k, field in enumerate(array_result):
            want = np.array([r[k] for r in float_results], dtype=np.float64)
            assert _bits(field) == _bits(want), k
    else:
        assert _bits(array_result) == _bits(np.array(float_results, dtype=np.float64))


def _rows(seed: int, n: int = 400) -> dict[str, np.ndarray]:
    """Random pools, prices, sizes, orders and accounts, with zeros and both signs."""
    rng = np.random.default_rng(seed)
    x = 10.0 ** rng.uniform(-2, 8, n)
    y = x * 10.0 ** rng.uniform(-3, 5, n)
    g = 1.0 - rng.choice([0.0, 0.003, 0.01, 0.1], n)
    p = y / x * 10.0 ** rng.uniform(-2, 2, n)
    p[::9] = (y / x)[::9]  # inside the band
    q = x * rng.uniform(-0.5, 2.0, n)
    q[::7] = 0.0
    order = y * rng.normal(0, 0.05, n)
    order[::5] = 0.0
    dn = y * rng.uniform(-1.0, 1.0, n)  # beyond half the reserve: the cap binds
    dn[::6] = 0.0
    cash = rng.normal(0.0, 100.0, n)
    traded = rng.uniform(0.0, 1e4, n)
    fund = rng.uniform(0.0, 100.0, n)
    fund[::4] = 0.0
    return dict(x=x, y=y, g=g, p=p, q=q, order=order, dn=dn, cash=cash, traded=traded, fund=fund)


CASES: list[tuple[str, Callable[..., Any], tuple[str, ...]]] = [
    ("swap_out", kernel.swap_out, ("q", "x", "y", "g")),
    ("swap_in", kernel.swap_in, ("traded", "y", "x", "g")),
    ("arbitrage", kernel.arbitrage, ("x", "y", "p", "g")),
    ("arbitrage band_edge", lambda *a: kernel.arbitrage(*a, True), ("x", "y", "p", "g")),
    ("arbitrage_factors", kernel.arbitrage_factors, ("x", "y", "p", "g")),
    ("trade_notional", kernel.trade_notional, ("dn", "x", "y", "g")),
    ("close_trade", kernel.close_trade, ("x", "y", "q", "g")),
    ("apply_orders", kernel.apply_orders, ("x", "y", "order", "g")),
    ("liquidation_penalty", kernel.liquidation_penalty, ("traded", "cash", "g")),
    ("settle", lambda c, t, f: tuple(kernel.settle(c, t, f, 0.0125)), ("cash", "traded", "fund")),
    ("liquidatable", kernel.liquidatable, ("cash", "traded", "g")),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("name", "fn", "args"), CASES, ids=[c[0] for c in CASES])
def test_floats_and_arrays_give_the_same_bits(
    seed: int, name: str, fn: Callable[..., Any], args: tuple[str, ...]
) -> None:
    rows = _rows(seed)
    if name == "swap_in":  # exact out below the reserve
        rows["traded"] = rows["x"] * np.random.default_rng(seed).uniform(0.0, 0.99, 400)
    with np.errstate(all="ignore"):
        array_result = fn(*(rows[a] for a in args))
        float_results = [fn(*(float(rows[a][i]) for a in args)) for i in range(400)]
    if name == "liquidatable":
        assert np.asarray(array_result).tolist() == float_results
        assert all(isinstance(r, bool) for r in float_results)
    else:
        flat = float_results[0] if not isinstance(float_results[0], tuple) else float_results[0][0]
        assert isinstance(flat, float)
        _same(array_result, float_results)


# --- the kernel is the pool's closed forms -------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(dx=st.floats(1e-9, 1e9), x=RESERVE, y=RESERVE, fee=FEES)
def test_swap_out_is_amount_out(dx: float, x: float, y: float, fee: float) -> None:
    assert kernel.swap_out(dx, x, y, kernel.fee_factor(fee)) == amount_out(dx, x, y, fee)


@settings(max_examples=200, deadline=None)
@given(frac=st.floats(1e-9, 0.999), x=RESERVE, y=RESERVE, fee=FEES)
def test_swap_in_is_amount_in_for_and_inverts_swap_out(
    frac: float, x: float, y: float, fee: float
) -> None:
    g = kernel.fee_factor(fee)
    dy = frac * y
    dx = kernel.swap_in(dy, x, y, g)
    assert dx == amount_in_for(dy, x, y, fee)
    assert kernel.swap_out(dx, x, y, g) == pytest.approx(dy, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(x=RESERVE, y=RESERVE, ratio=RATIO, fee=FEES, band_edge=st.booleans())
def test_arbitrage_is_arbitrage_trade(
    x: float, y: float, ratio: float, fee: float, band_edge: bool
) -> None:
    p = y / x * ratio
    d_a, d_b, profit, out, rout = kernel.arbitrage(x, y, p, kernel.fee_factor(fee), band_edge)
    want = arbitrage_trade(x, y, p, fee, rule="band_edge" if band_edge else "optimal")
    assert (d_a, d_b, profit) == (want.amount_a, want.amount_b, want.profit)
    assert out < rout
    assert profit >= -1e-9 * (abs(d_b) + p * abs(d_a))  # >= 0 up to rounding


@settings(max_examples=200, deadline=None)
@given(x=RESERVE, y=RESERVE, ratio=st.floats(1e-3, 1e3), fee=FEES)
def test_arbitrage_factors_are_the_band_edge_arbitrage(
    x: float, y: float, ratio: float, fee: float
) -> None:
    g = kernel.fee_factor(fee)
    p = y / x * ratio
    fx, fy = kernel.arbitrage_factors(x, y, p, g)
    d_a, d_b, _, _, _ = kernel.arbitrage(x, y, p, g, True)
    assert x * fx == pytest.approx(x + d_a, rel=1e-9)
    assert y * fy == pytest.approx(y + d_b, rel=1e-9)
    lo, hi = g * y * fy / (x * fx), y * fy / (g * x * fx)
    if (fx, fy) == (1.0, 1.0):
        assert lo <= p * (1 + 1e-12) and p <= hi * (1 + 1e-12)  # inside the band: no trade
    else:
        assert min(abs(lo / p - 1), abs(hi / p - 1)) < 1e-9  # on an edge of the new band


# --- conservation ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(x=RESERVE, y=RESERVE, frac=st.floats(-1.0, 1.0), fee=FEES)
def test_trade_notional_moves_value_between_trader_and_pool(
    x: float, y: float, frac: float, fee: float
) -> None:
    g = kernel.fee_factor(fee)
    dn = frac * y
    dq, db = kernel.trade_notional(dn, x, y, g)
    assert abs(db) <= abs(dn)
    if dn < 0:  # a sale takes at most half the reserve of B out
        assert -db == min(-dn, 0.5 * y)
    else:
        assert db == dn
    assert math.copysign(1.0, dq) == math.copysign(1.0, db) or dq == db == 0.0
    assert (x - dq) * (y + db) >= x * y * (1 - 1e-12)  # k does not fall: the fee stays in


@settings(max_examples=200, deadline=None)
@given(x=RESERVE, y=RESERVE, frac=st.floats(-0.99, 10.0), fee=FEES)
def test_close_trade_returns_the_size_to_the_pool(
    x: float, y: float, frac: float, fee: float
) -> None:
    q = frac * x
    x1, y1, recv, pay = kernel.close_trade(x, y, q, kernel.fee_factor(fee))
    assert x1 == pytest.approx(x + q, rel=1e-12)
    assert y1 == pytest.approx(y - recv + pay, rel=1e-12)
    assert recv >= 0.0 and pay >= 0.0 and recv * pay == 0.0
    assert x1 * y1 >= x * y * (1 - 1e-12)


@settings(max_examples=200, deadline=None)
@given(x=RESERVE, y=RESERVE, frac=st.floats(-0.5, 0.5), fee=FEES)
def test_apply_orders_is_a_swap_in_the_order_direction(
    x: float, y: float, frac: float, fee: float
) -> None:
    order = frac * y
    dx, dy = kernel.apply_orders(x, y, order, kernel.fee_factor(fee))
    assert (x + dx) * (y + dy) >= x * y * (1 - 1e-12)
    if order > 0:
        assert dy == order and dx < 0
    elif order < 0:
        assert dx == pytest.approx(-order * x / y, rel=1e-12) and dy < 0


@settings(max_examples=300, deadline=None)
@given(cash=SIGNED, traded=st.floats(0.0, 1e7), fund=st.floats(0.0, 1e6), rate=st.floats(0, 0.5))
def test_settle_conserves_value_and_pays_in_order(
    cash: float, traded: float, fund: float, rate: float
) -> None:
    s = kernel.settle(cash, traded, fund, rate)
    # what the trader keeps + the fund - the bad debt created = what was there
    assert s.cash + s.fund - s.bad_debt == pytest.approx(
        cash + fund, abs=1e-9 * (1 + abs(cash) + fund)
    )
    assert s.cash >= 0.0 and s.fund >= 0.0 and s.bad_debt >= 0.0
    assert s.penalty == kernel.liquidation_penalty(traded, cash, rate)
    assert s.shortfall == pytest.approx(s.fund_paid + s.bad_debt, abs=1e-9 * (1 + abs(cash)))
    if s.bad_debt > 0:  # bad debt only once the fund is empty
        assert s.fund == 0.0
    if cash >= 0:  # a solvent account pays the penalty and creates no debt
        assert s.bad_debt == 0.0 and s.cash == pytest.approx(cash - s.penalty, abs=1e-12)


@pytest.mark.parametrize(
    ("traded", "equity", "want"),
    [(1_000.0, 50.0, 12.5), (1_000.0, 5.0, 5.0), (1_000.0, 0.0, 0.0), (1_000.0, -3.0, 0.0)],
)
def test_the_penalty_is_capped_by_the_equity_left(
    traded: float, equity: float, want: float
) -> None:
    assert kernel.liquidation_penalty(traded, equity, 0.0125) == want
    s = kernel.settle(equity, traded, 10.0, 0.0125)
    assert s.penalty == want and s.cash == max(equity - want, 0.0)
    assert s.fund == 10.0 + want + min(equity, 0.0)


def test_the_liquidation_rule_is_strict_and_a_flat_account_is_never_liquidated() -> None:
    assert kernel.liquidatable(0.49, 100.0, 0.005)
    assert not kernel.liquidatable(0.5, 100.0, 0.005)  # at maintenance: not liquidated
    assert not kernel.liquidatable(0.0, 0.0, 0.005)
    assert kernel.liquidatable(np.array([-1.0, 1.0]), np.array([0.0, 0.0]), 0.005).tolist() == [
        True,
        False,
    ]

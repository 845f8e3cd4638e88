"""Power-law bonding curves (E3) and the exchange between two of them (E4).

High-precision references use mpmath at 50 digits. Identities exact in real arithmetic (a mint
followed by a burn of the same amount, an A -> B -> A exchange) are checked to a stated relative
tolerance; the ordering of executed and marginal rates is checked strictly where its real margin
is far above rounding.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from levpaper.bonding import (
    MAX_SUPPLY_GROWTH,
    CurveToken,
    PowerBondingCurve,
    exchange,
    exchange_tokens,
    marginal_rate,
)

SETTINGS = settings(max_examples=250, deadline=None)
mpmath.mp.dps = 50

alphas = st.floats(-3.0, 3.0).map(lambda e: 10.0**e)
betas = st.floats(-0.95, 4.0)
supplies = st.floats(-3.0, 6.0).map(lambda e: 10.0**e)
fractions_ = st.floats(-9.0, 0.0).map(lambda e: 10.0**e)  # amount relative to the supply


def mp_reserve(alpha: float, beta: float, s: mpmath.mpf) -> mpmath.mpf:
    e = mpmath.mpf(beta) + 1
    return mpmath.mpf(alpha) * mpmath.power(s, e) / e


@SETTINGS
@given(alpha=alphas, beta=betas, s=supplies)
def test_reserve_is_the_area_under_the_price_and_connector_weight(
    alpha: float, beta: float, s: float
) -> None:
    curve = PowerBondingCurve(alpha, beta)
    area, _ = integrate.quad(lambda u: alpha * u**beta, 0.0, s, epsabs=0.0, epsrel=1e-11, limit=200)
    assert curve.reserve(s) == pytest.approx(area, rel=1e-8)
    # Bancor's connector weight: reserve / (price * supply) = 1 / (beta + 1)
    cw = curve.reserve(s) / (curve.price(s) * s)
    assert cw == pytest.approx(curve.connector_weight, rel=1e-13)
    assert curve.connector_weight == 1.0 / (beta + 1.0)
    assert curve.supply_for_reserve(curve.reserve(s)) == pytest.approx(s, rel=1e-13)


@SETTINGS
@given(alpha=alphas, beta=betas, s=supplies, u=st.floats(-9.0, 3.0).map(lambda e: 10.0**e))
def test_mint_cost_and_refund_are_accurate_to_a_few_ulps(
    alpha: float, beta: float, s: float, u: float
) -> None:
    """mint_cost and burn_refund match 50-digit differences of the reserve to 1e-13 relative,
    also for amounts 1e-9 of the supply, where R(S+dS) - R(S) in float64 would lose 9 digits."""
    curve = PowerBondingCurve(alpha, beta)
    ds = u * s
    ms, mds = mpmath.mpf(s), mpmath.mpf(ds)
    cost = mp_reserve(alpha, beta, ms + mds) - mp_reserve(alpha, beta, ms)
    assert curve.mint_cost(s, ds) == pytest.approx(float(cost), rel=1e-13)
    if ds <= s:
        refund = mp_reserve(alpha, beta, ms) - mp_reserve(alpha, beta, ms - mds)
        assert curve.burn_refund(s, ds) == pytest.approx(float(refund), rel=1e-13)
    # minting from zero supply costs the whole reserve at the new supply
    assert curve.mint_cost(0.0, ds) == pytest.approx(curve.reserve(ds), rel=1e-14)


@SETTINGS
@given(alpha=alphas, beta=betas, s=st.one_of(st.just(0.0), supplies), c_rel=fractions_)
def test_mint_for_inverts_mint_cost_and_is_bancors_purchase_return(
    alpha: float, beta: float, s: float, c_rel: float
) -> None:
    curve = PowerBondingCurve(alpha, beta)
    payment = c_rel * 1e3 * (curve.reserve(s) if s > 0 else 1.0)
    minted = curve.mint_for(s, payment)
    assert curve.mint_cost(s, minted) == pytest.approx(payment, rel=1e-12)
    if s > 0:
        # Bancor: S ((1 + c / R)^CW - 1), evaluated at 50 digits
        r = mp_reserve(alpha, beta, mpmath.mpf(s))
        bancor = s * (mpmath.power(1 + mpmath.mpf(payment) / r, curve.connector_weight) - 1)
        assert minted == pytest.approx(float(bancor), rel=1e-12)


@SETTINGS
@given(alpha=alphas, beta=betas, s=supplies, u=fractions_)
def test_mint_then_burn_never_returns_more_than_it_cost(
    alpha: float, beta: float, s: float, u: float
) -> None:
    """Exactly equal in real arithmetic (no fee on the curve); in float64 the refund is at most
    1e-12 above the cost, relative."""
    token = CurveToken(PowerBondingCurve(alpha, beta), s)
    ds = u * s
    cost = token.mint(ds)
    refund = token.burn(ds)
    assert refund <= cost * (1 + 1e-12)
    assert token.supply == pytest.approx(s, rel=1e-15)
    paid = cost
    minted = token.buy(paid)
    assert token.burn(minted) <= paid * (1 + 1e-12)


def test_known_values() -> None:
    linear = PowerBondingCurve(2.0, 1.0)
    assert linear.price(10.0) == 20.0
    assert linear.reserve(10.0) == 100.0
    assert linear.mint_cost(10.0, 1.0) == pytest.approx(21.0, rel=1e-15)
    assert linear.burn_refund(10.0, 10.0) == 100.0  # burning everything returns the reserve
    flat = PowerBondingCurve(3.0, 0.0)
    assert flat.mint_cost(5.0, 2.0) == pytest.approx(6.0, rel=1e-15)
    assert flat.connector_weight == 1.0
    sqrt_curve = PowerBondingCurve(1.0, -0.5)  # decreasing price, finite reserve 2 sqrt(S)
    assert sqrt_curve.reserve(4.0) == 4.0
    assert sqrt_curve.connector_weight == 2.0
    # vectorised over supplies, equal to elementwise calls
    s = np.array([1.0, 2.0, 5.0])
    np.testing.assert_array_equal(linear.mint_cost(s, 0.5), [linear.mint_cost(v, 0.5) for v in s])
    np.testing.assert_array_equal(linear.price(s), [linear.price(v) for v in s])


# --- E4: marginal versus executed exchange rate --------------------------------------------


@SETTINGS
@given(
    ca=alphas,
    cb=alphas,
    ba=st.floats(0.0, 4.0),
    bb=st.floats(0.0, 4.0),
    sa=supplies,
    sb=supplies,
    u=st.floats(-9.0, 0.0).map(lambda e: 10.0**e),
)
def test_executed_rate_is_worse_than_marginal_for_increasing_curves(
    ca: float, cb: float, ba: float, bb: float, sa: float, sb: float, u: float
) -> None:
    """For beta, delta >= 0 the executed rate never beats the marginal rate (to 1e-12), and is
    strictly worse when beta >= 0.01 and the burn is at least 1e-4 of A's supply: the mean price
    of A over the burnt range is then below P_A(S_A) by a factor ~(1 - beta u / 2), far above
    rounding, and the B side can only make it worse."""
    a, b = PowerBondingCurve(ca, ba), PowerBondingCurve(cb, bb)
    ex = exchange(a, sa, u * sa, b, sb)
    assert ex.marginal_rate == marginal_rate(a, sa, b, sb)
    assert ex.marginal_rate == pytest.approx((ca * sa**ba) / (cb * sb**bb), rel=1e-13)
    assert ex.executed_rate <= ex.marginal_rate * (1 + 1e-12)
    if ba >= 0.01 and u >= 1e-4:
        assert ex.executed_rate < ex.marginal_rate


@SETTINGS
@given(
    ba=st.floats(-0.95, -0.01),
    bb=st.floats(-0.95, 0.0),
    sa=supplies,
    sb=supplies,
    u=st.floats(-4.0, -0.01).map(lambda e: 10.0**e),
)
def test_executed_rate_beats_marginal_for_decreasing_curves(
    ba: float, bb: float, sa: float, sb: float, u: float
) -> None:
    """The paper's "worse" needs increasing curves: with -1 < beta, delta < 0 burning A refunds
    more than P_A(S_A) per unit and minting B gets cheaper, so the executed rate is higher."""
    a, b = PowerBondingCurve(1.5, ba), PowerBondingCurve(0.5, bb)
    ex = exchange(a, sa, u * sa, b, sb)
    assert ex.executed_rate > ex.marginal_rate


@SETTINGS
@given(ba=betas, bb=betas, sa=supplies, sb=supplies)
def test_executed_rate_tends_to_marginal_rate(ba: float, bb: float, sa: float, sb: float) -> None:
    """Burning 1e-9 of A's supply, for about 1e-9 of B's: the relative gap, about
    (beta dA/S_A + delta dB/S_B)/2 <= 4e-9 here, is checked below 1e-7."""
    a, b = PowerBondingCurve(2.0, ba), PowerBondingCurve(0.7, bb)
    rate = marginal_rate(a, sa, b, sb)
    da = 1e-9 * min(sa, sb / rate)
    ex = exchange(a, sa, da, b, sb)
    assert ex.executed_rate == pytest.approx(ex.marginal_rate, rel=1e-7)


@SETTINGS
@given(ca=alphas, cb=alphas, ba=betas, bb=betas, sa=supplies, sb=supplies, u=fractions_)
def test_exchange_round_trip_never_returns_more(
    ca: float, cb: float, ba: float, bb: float, sa: float, sb: float, u: float
) -> None:
    """A -> B -> A with the stateful tokens: exact in real arithmetic, so the A returned is at
    most 1e-9 above the A burnt, relative (the burn of nearly all of A's supply on a curve with
    beta < 0 is ill-conditioned, hence the wider tolerance), and both supplies come back to within
    1e-9 relative. A mint that would grow B's supply more than MAX_SUPPLY_GROWTH-fold (where
    float64 could no longer resolve the old supply, and a round trip could gain) is refused,
    leaving both tokens unchanged."""
    ta = CurveToken(PowerBondingCurve(ca, ba), sa)
    tb = CurveToken(PowerBondingCurve(cb, bb), sb)
    da = u * sa * 0.999
    try:
        db = exchange_tokens(ta, tb, da)
    except ValueError as exc:  # the mint would outgrow float64 (its resolution, or its range)
        assert (ta.supply, tb.supply) == (sa, sb)
        if "fold" not in str(exc):
            assert "overflows" in str(exc)
            return
        assert tb.curve.mint_for(sb, ta.curve.burn_refund(sa, da)) > (MAX_SUPPLY_GROWTH - 1) * sb
        return
    back = exchange_tokens(tb, ta, db)
    assert back <= da * (1 + 1e-9)
    assert ta.supply == pytest.approx(sa, rel=1e-9)
    assert tb.supply == pytest.approx(sb, rel=1e-9)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha", "beta", "name"),
    [
        (0.0, 1.0, "alpha"),
        (-1.0, 1.0, "alpha"),
        (math.nan, 1.0, "alpha"),
        (math.inf, 1.0, "alpha"),
        (1.0, -1.0, "beta"),
        (1.0, -2.0, "beta"),
        (1.0, math.nan, "beta"),
        (1.0, math.inf, "beta"),
    ],
)
def test_bad_curve_parameters_raise(alpha: float, beta: float, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        PowerBondingCurve(alpha, beta)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_bad_amounts_raise_and_leave_tokens_unchanged(bad: float) -> None:
    curve = PowerBondingCurve(2.0, 1.0)
    for name, call in [
        ("supply", lambda: curve.price(bad)),
        ("amount", lambda: curve.mint_cost(1.0, bad)),
        ("amount", lambda: curve.burn_refund(1.0, bad)),
        ("payment", lambda: curve.mint_for(1.0, bad)),
    ]:
        with pytest.raises(ValueError, match=name):
            call()
    if bad != 0.0:
        for call in (lambda: curve.reserve(bad), lambda: curve.mint_cost(bad, 1.0)):
            with pytest.raises(ValueError, match="supply"):
                call()
    ta, tb = CurveToken(curve, 10.0), CurveToken(PowerBondingCurve(1.0, 0.5), 4.0)
    for call in (
        lambda: ta.mint(bad),
        lambda: ta.burn(bad),
        lambda: ta.buy(bad),
        lambda: exchange_tokens(ta, tb, bad),
    ):
        with pytest.raises(ValueError):
            call()
        assert (ta.supply, tb.supply) == (10.0, 4.0)


def test_burning_more_than_the_supply_is_rejected() -> None:
    curve = PowerBondingCurve(2.0, 1.0)
    with pytest.raises(ValueError, match="amount"):
        curve.burn_refund(10.0, 10.5)
    ta, tb = CurveToken(curve, 10.0), CurveToken(curve, 4.0)
    with pytest.raises(ValueError, match="amount"):
        exchange_tokens(ta, tb, 11.0)
    with pytest.raises(ValueError, match="different"):
        exchange_tokens(ta, ta, 1.0)
    assert (ta.supply, tb.supply) == (10.0, 4.0)
    with pytest.raises(ValueError, match="supply"):
        CurveToken(curve, -1.0)
    with pytest.raises(ValueError, match="overflows"):
        curve.reserve(1e200)

"""Volatility estimators, VaR/ES, p95 measures and the risk controls of section 5 (E16-E19)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from levpaper.first_passage import first_passage_monte_carlo, liquidation_barrier
from levpaper.processes import GARCH11, GBM, HOURLY_DT
from levpaper.risk import (
    binomial_band,
    circuit_breaker,
    dynamic_maintenance_rate,
    ema,
    ewma_volatility,
    exposure_entropy,
    kupiec_test,
    leveraged_return,
    leveraged_return_moments,
    log_returns,
    one_step_var,
    p95_bad_debt,
    p95_liquidation_volume,
    path_leveraged_return,
    quantile_ci,
    rolling_volatility,
    var_breaches,
    var_es_from_sample,
    var_es_historical,
    var_es_monte_carlo,
    var_es_parametric,
    vol_adjusted_leverage,
)

Z = 3.0
finite_floats = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


# --- volatility estimators --------------------------------------------------------------------


def test_rolling_volatility_matches_a_plain_loop() -> None:
    r = np.random.default_rng(0).normal(0, 0.01, size=(3, 50))
    out = rolling_volatility(r, 10)
    assert out.shape == r.shape and np.all(np.isnan(out[:, :9]))
    for t in range(9, 50):
        np.testing.assert_allclose(out[:, t], r[:, t - 9 : t + 1].std(axis=1, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(
        rolling_volatility(r, 10, dt=HOURLY_DT)[:, 9:], out[:, 9:] / math.sqrt(HOURLY_DT)
    )


def test_ewma_matches_its_recursion_and_initial_value() -> None:
    r = np.random.default_rng(1).normal(0, 0.01, size=(2, 40))
    lam = 0.94
    for init in (None, 4e-4):
        var = r[:, 0] ** 2 if init is None else np.full(2, init)
        expected = np.empty_like(r)
        for t in range(r.shape[1]):
            var = lam * var + (1 - lam) * r[:, t] ** 2
            expected[:, t] = np.sqrt(var)
        np.testing.assert_allclose(ewma_volatility(r, lam, initial_variance=init), expected)
    assert math.isclose(float(ewma_volatility([0.02], 0.9)[0]), 0.02)  # sigma_0 = |r_0|


def test_ewma_and_rolling_recover_gbm_volatility() -> None:
    paths = GBM(sigma=0.8).simulate(100, 1000, np.random.default_rng(2))
    r = log_returns(paths)
    ew = ewma_volatility(r, 0.99, dt=HOURLY_DT)[:, -1]
    ro = rolling_volatility(r, 250, dt=HOURLY_DT)[:, -1]
    # Averages over 100 independent paths: within a few percent of 0.8.
    assert abs(float(np.sqrt((ew**2).mean())) - 0.8) < 0.02
    assert abs(float(np.sqrt((ro**2).mean())) - 0.8) < 0.02


def test_ema_recursion() -> None:
    x = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    a = 0.3
    e = x[0]
    expected = []
    for v in x:
        e = a * v + (1 - a) * e
        expected.append(e)
    np.testing.assert_allclose(ema(x, a), expected)
    np.testing.assert_allclose(ema(x, a, initial=2.0)[0], a * 3.0 + (1 - a) * 2.0)
    np.testing.assert_allclose(ema(x, 1.0), x)


# --- circuit breaker (E19) --------------------------------------------------------------------


def test_circuit_breaker_compares_with_the_previous_ema() -> None:
    sigma = np.array([1.0, 1.0, 2.5, 2.5, 1.0])
    theta, a = 2.0, 0.5
    e = ema(sigma, a)
    expected = [False] + [bool(sigma[t] > theta * e[t - 1]) for t in range(1, 5)]
    assert (
        circuit_breaker(sigma, theta, a).tolist() == expected == [False, False, True, False, False]
    )
    # EMA including sigma(t) itself would hide the spike at t = 2: 2.5 < 2 * 1.75.
    assert not sigma[2] > theta * e[2]
    assert circuit_breaker([3.0, 1.0], 2.0, 0.5, initial=1.0).tolist() == [True, False]


@settings(max_examples=100, deadline=None)
@given(
    sigma=hnp.arrays(np.float64, st.integers(2, 40), elements=st.floats(0.0, 5.0)),
    cut=st.integers(1, 39),
    theta=st.floats(1.0, 4.0),
    alpha=st.floats(0.01, 1.0),
    noise=st.floats(0.0, 5.0),
)
def test_circuit_breaker_has_no_look_ahead(
    sigma: np.ndarray, cut: int, theta: float, alpha: float, noise: float
) -> None:
    cut = min(cut, sigma.size - 1)
    changed = sigma.copy()
    changed[cut:] = noise
    a = circuit_breaker(sigma, theta, alpha)
    b = circuit_breaker(changed, theta, alpha)
    assert np.array_equal(a[:cut], b[:cut])


def test_circuit_breaker_never_pauses_at_constant_volatility() -> None:
    assert not circuit_breaker(np.full(100, 0.8), 1.01, 0.1).any()


# --- dynamic maintenance (E17) ----------------------------------------------------------------


def test_dynamic_maintenance_rate_formula_and_bounds() -> None:
    sig = np.linspace(0.0, 2.0, 9)
    m = np.asarray(dynamic_maintenance_rate(0.005, 1.25, sig))
    np.testing.assert_allclose(m, 0.005 * (1 + 1.25 * sig))
    assert np.all(np.diff(m) > 0)
    assert dynamic_maintenance_rate(0.005, 0.0, 3.0) == 0.005
    # At 50x the liquidation barrier moves toward the entry as volatility rises.
    bars = [liquidation_barrier(50, float(mi)) for mi in m]
    assert np.all(np.diff(bars) > 0)
    with pytest.raises(ValueError, match="sigma too high for leverage"):
        dynamic_maintenance_rate(0.005, 1.25, 2.0, leverage=100)
    with pytest.raises(ValueError, match="must be < 1"):
        dynamic_maintenance_rate(0.5, 10.0, 1.0)


# --- exposure entropy (E18) -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(e=hnp.arrays(np.float64, st.integers(1, 30), elements=finite_floats))
def test_entropy_is_between_zero_and_log_n(e: np.ndarray) -> None:
    if not np.any(np.abs(e) > 0):
        with pytest.raises(ValueError, match="exposures"):
            exposure_entropy(e)
        return
    h = float(exposure_entropy(e))
    assert -1e-12 <= h <= math.log(e.size) + 1e-12
    assert math.isclose(float(exposure_entropy(-3.0 * e[::-1])), h, rel_tol=1e-9, abs_tol=1e-12)


def test_entropy_extremes_and_zero_weights() -> None:
    for n in (1, 2, 7, 100):
        assert math.isclose(float(exposure_entropy(np.full(n, 2.5))), math.log(n), abs_tol=1e-12)
    assert exposure_entropy([0.0, -4.0, 0.0]) == 0.0
    p = np.array([0.5, 0.25, 0.25])
    assert math.isclose(
        float(exposure_entropy([2.0, -1.0, 1.0, 0.0])), float(-(p * np.log(p)).sum())
    )
    np.testing.assert_allclose(exposure_entropy([[1.0, 1.0], [1.0, 0.0]]), [math.log(2), 0.0])


# --- leveraged returns and E16 ----------------------------------------------------------------


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("truncate", [False, True])
def test_leveraged_return_moments_against_monte_carlo(side: str, truncate: bool) -> None:
    """E16: untruncated Var(R) = L^2 Var(dP/P); truncation at -1 lowers it. Closed forms vs the
    sample of exact terminal prices."""
    lev, sigma, t, mu = 50.0, 0.8, 1 / 365, 0.3
    paths = GBM(mu, sigma).simulate(200_000, 1, np.random.default_rng(7), dt=t)
    r = path_leveraged_return(paths, lev, side=side, truncate=truncate)
    mean, var = leveraged_return_moments(lev, sigma, t, mu=mu, side=side, truncate=truncate)
    n = r.size
    assert abs(r.mean() - mean) <= Z * r.std() / math.sqrt(n)
    d2 = (r - r.mean()) ** 2
    assert abs(d2.mean() - var) <= Z * d2.std() / math.sqrt(n)
    simple = paths[:, 1] - 1.0
    if not truncate:
        assert math.isclose(float(np.var(r)), lev**2 * float(np.var(simple)), rel_tol=1e-9)
    else:
        _, var_full = leveraged_return_moments(lev, sigma, t, mu=mu, side=side)
        assert float(var) < 0.6 * float(var_full) and r.min() == -1.0


def test_absorbing_liquidation_on_paths() -> None:
    """A path that touches the barrier and recovers stays liquidated; the share of liquidated
    paths is the discrete first-passage estimate on the same paths."""
    recover = np.array([[100.0, 99.0, 103.0]])
    assert path_leveraged_return(recover, 100, maintenance=0.005)[0] == -1.0
    assert path_leveraged_return(recover, 100)[0] == pytest.approx(3.0)
    gap = np.array([[100.0, 97.0, 97.0]])
    assert path_leveraged_return(gap, 100, maintenance=0.005, truncate=False)[0] == pytest.approx(
        -3.0
    )
    short = np.array([[100.0, 100.6, 90.0]])
    assert path_leveraged_return(short, 100, side="short", maintenance=0.005)[0] == pytest.approx(
        -0.6
    )

    lev, t, n = 25.0, 1 / 365, 20_000
    paths = GBM(sigma=0.8).simulate(n, 24, np.random.default_rng(8))
    r = path_leveraged_return(paths, lev, maintenance=0.005, truncate=False)
    bar = float(liquidation_barrier(lev, 0.005))
    liquidated = float((r <= lev * (bar - 1.0) + 1e-12).mean())
    est, _ = first_passage_monte_carlo(bar, t, 0.8, n, np.random.default_rng(8), bridge=False)
    assert math.isclose(liquidated, float(est), abs_tol=1e-12)


# --- VaR and ES -------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("truncate", [False, True])
def test_parametric_var_es_against_monte_carlo(side: str, truncate: bool) -> None:
    """At 8x over one day the 99% tail reaches the margin (0.07% of days lose more than all of
    it for a long, 0.2% for a short), so truncation changes the ES but not the VaR. The VaR must
    lie in the order-statistic 99.7% interval of the simulated quantile, the ES within 3
    asymptotic standard errors of the tail mean,
    sqrt((Var(loss | tail) + alpha (ES - VaR)^2) / (n (1 - alpha)))."""
    lev, sigma, t, alpha = 8.0, 0.8, 1 / 365, 0.99
    exact = var_es_parametric(lev, sigma, t, alpha=alpha, side=side, truncate=truncate)
    n = 400_000
    paths = GBM(sigma=sigma).simulate(n, 1, np.random.default_rng(10), dt=t)
    r = path_leveraged_return(paths, lev, side=side, truncate=truncate)
    mc = var_es_monte_carlo(paths, lev, alpha=alpha, side=side, truncate=truncate)
    q = quantile_ci(-r, alpha, confidence=0.997)
    assert q.lower <= exact.var <= q.upper
    assert math.isclose(mc.var, q.value)
    tail = -r[r <= -mc.var]
    se_es = math.sqrt((tail.var() + alpha * (mc.es - mc.var) ** 2) / (n * (1 - alpha)))
    assert abs(mc.es - exact.es) <= Z * se_es
    assert exact.var < exact.es
    other = var_es_parametric(lev, sigma, t, alpha=alpha, side=side, truncate=not truncate)
    assert math.isclose(other.var, exact.var, rel_tol=1e-12)
    capped, full = (exact, other) if truncate else (other, exact)
    assert capped.es < full.es and capped.es <= 1.0
    assert (-r).max() == 1.0 if truncate else (-r).max() > 1.0  # some days cost the whole margin


def test_var_es_capped_at_the_margin_and_historical_matches_sample() -> None:
    assert var_es_parametric(100, 0.8, 7 / 365) == (1.0, 1.0)
    untruncated = var_es_parametric(100, 0.8, 7 / 365, truncate=False)
    assert untruncated.var > 1.0 and untruncated.es > untruncated.var
    x = np.random.default_rng(12).normal(0.0, 0.01, 5000)
    h = var_es_historical(x, 30, alpha=0.975, side="short", truncate=False)
    assert h == var_es_from_sample(-30 * x, 0.975)


def test_var_backtest_breach_rate_inside_binomial_band() -> None:
    """One-hour 99% VaR of a 10x long, forecast with the true sigma, against 20,000 realised
    hours: the breach count lands in the exact 95% binomial band and Kupiec does not reject.
    Forecasting with sigma 0.6 instead of 0.8 is caught by the same check."""
    n, lev = 20_000, 10.0
    path = GBM(sigma=0.8).simulate(1, n, np.random.default_rng(13))[0]
    realised = np.asarray(leveraged_return(path[1:] / path[:-1] - 1.0, lev))
    var = var_es_parametric(lev, 0.8, HOURLY_DT, alpha=0.99).var
    breaches = int(var_breaches(realised, np.full(n, var)).sum())
    lo, hi = binomial_band(n, 0.01)
    assert lo <= breaches <= hi
    assert kupiec_test(breaches, n, 0.01)[1] > 0.05
    low_var = var_es_parametric(lev, 0.6, HOURLY_DT, alpha=0.99).var
    assert int(var_breaches(realised, np.full(n, low_var)).sum()) > hi


def test_var_backtest_on_garch_with_the_conditional_variance() -> None:
    """Returns that cluster are not i.i.d., but given h_t the next GARCH return is normal: a
    99% VaR from the true conditional variance passes the band over 20,000 hours."""
    n, lev = 20_000, 10.0
    model = GARCH11()
    paths, h = model.simulate_with_variance(1, n, np.random.default_rng(14))
    r = log_returns(paths)[0]
    realised = lev * np.expm1(r)
    z = stats.norm.ppf(0.01)
    var_conditional = -lev * np.expm1(-0.5 * h[0] + z * np.sqrt(h[0]))
    lo, hi = binomial_band(n, 0.01)
    breaches = int(var_breaches(realised, var_conditional).sum())
    assert lo <= breaches <= hi, (lo, breaches, hi)
    assert kupiec_test(breaches, n, 0.01)[1] > 0.05


def test_binomial_band_and_kupiec_against_definitions() -> None:
    n, p = 500, 0.05
    lo, hi = binomial_band(n, p, 0.95)
    assert stats.binom.cdf(lo - 1, n, p) <= 0.025 < stats.binom.cdf(lo, n, p)
    assert stats.binom.sf(hi, n, p) <= 0.025 < stats.binom.sf(hi - 1, n, p)
    x = 40
    phat = x / n
    lr = -2 * (
        (n - x) * math.log(1 - p)
        + x * math.log(p)
        - (n - x) * math.log(1 - phat)
        - x * math.log(phat)
    )
    stat, pval = kupiec_test(x, n, p)
    assert math.isclose(stat, lr) and math.isclose(pval, float(stats.chi2.sf(lr, 1)))
    assert kupiec_test(0, 100, 0.01)[0] == pytest.approx(-2 * 100 * math.log(0.99))


# --- p95 across runs --------------------------------------------------------------------------


def test_quantile_ci_covers_the_true_p95() -> None:
    """Over 1000 sets of 200 exponential runs, the order-statistic interval covers the true 95th
    percentile in a number of sets inside the binomial band of its exact coverage (which is at
    least the nominal 95%)."""
    n, reps = 200, 1000
    k = int(stats.binom.ppf(0.025, n, 0.95))
    j = int(stats.binom.ppf(0.975, n, 0.95)) + 1
    coverage = float(stats.binom.cdf(j - 1, n, 0.95) - stats.binom.cdf(k - 1, n, 0.95))
    assert coverage >= 0.95
    rng = np.random.default_rng(15)
    true_q = -math.log(0.05)
    hits = 0
    for _ in range(reps):
        q = p95_bad_debt(rng.exponential(size=n))
        hits += q.lower <= true_q <= q.upper
    lo, hi = binomial_band(reps, coverage, 0.999)
    assert lo <= hits <= hi, (lo, hits, hi)


def test_p95_measures_are_the_sample_percentile() -> None:
    x = np.random.default_rng(16).lognormal(size=999)
    assert p95_bad_debt(x).value == float(np.quantile(x, 0.95))
    q = p95_liquidation_volume(x, confidence=0.9)
    assert q.lower <= q.value <= q.upper
    with pytest.raises(ValueError, match="bad_debt"):
        p95_bad_debt([1.0, -0.5])
    with pytest.raises(ValueError, match="volume"):
        p95_liquidation_volume([np.nan])


# --- bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: var_es_parametric(10, 0.0, 1.0), "sigma"),
        (lambda: var_es_parametric(10, 0.8, 0.0), "horizon"),
        (lambda: var_es_parametric(10, 0.8, 1.0, alpha=1.0), "alpha"),
        (lambda: var_es_parametric(10, 0.8, 1.0, alpha=-0.1), "alpha"),
        (lambda: var_es_parametric(-1, 0.8, 1.0), "leverage"),
        (lambda: var_es_from_sample([0.1, 0.2], alpha=1.5), "alpha"),
        (lambda: binomial_band(100, 1.2), "p"),
        (lambda: binomial_band(100, 0.01, confidence=1.0), "confidence"),
        (lambda: kupiec_test(5, 100, -0.1), "p"),
        (lambda: kupiec_test(101, 100, 0.01), "n_breaches"),
        (lambda: quantile_ci([1.0, 2.0], q=1.0), "q"),
        (lambda: quantile_ci([1.0, 2.0], confidence=0.0), "confidence"),
        (lambda: ewma_volatility([0.1, 0.2], lam=1.0), "lam"),
        (lambda: ewma_volatility([0.1, np.inf]), "returns"),
        (lambda: ema([1.0, 2.0], alpha=0.0), "alpha"),
        (lambda: rolling_volatility([0.1, 0.2, 0.3], 1), "window"),
        (lambda: rolling_volatility([0.1, 0.2, 0.3], 4), "window"),
        (lambda: circuit_breaker([0.1, -0.2]), "sigma"),
        (lambda: circuit_breaker([0.1, 0.2], theta=0.0), "theta"),
        (lambda: circuit_breaker([0.1, 0.2], alpha=1.5), "alpha"),
        (lambda: dynamic_maintenance_rate(1.0, 1.0, 0.5), "m0"),
        (lambda: dynamic_maintenance_rate(0.005, -1.0, 0.5), "eta"),
        (lambda: dynamic_maintenance_rate(0.005, 1.0, -0.5), "sigma"),
        (lambda: leveraged_return(-1.5, 10), "price_return"),
        (lambda: path_leveraged_return([[1.0, 0.9]], 10, side="sideways"), "side"),
        (lambda: path_leveraged_return([1.0, 0.9], 10), "paths"),
        (lambda: log_returns([1.0, 0.0]), "prices"),
    ],
)
def test_bad_parameters_raise_naming_them(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()  # type: ignore[operator]


def test_vol_adjusted_leverage_pins_e12_values_and_clip() -> None:
    """E12 (book/ledger.toml): exact log-normal one-step VaR, clipped to [0, L_max]."""
    dt, z = 1 / 8760, stats.norm.ppf(0.99)

    def by_hand(s: float, kappa: float) -> float:
        q = 1.0 - math.exp(-0.5 * s * s * dt - s * math.sqrt(dt) * z)
        return kappa / s * min(100.0, 1.0 / q)

    pinned = {0.3: 100.0, 0.8: 31.68756801, 1.0: 20.32121667, 4.0: 1.30936817, 20.0: 0.0616607246}
    for s, want in pinned.items():
        got = float(vol_adjusted_leverage(s, 0.5, dt))
        assert got == pytest.approx(want, rel=1e-8)
        assert got == pytest.approx(min(by_hand(s, 0.5), 100.0), rel=1e-12)
    # not the first-order VaR z*sigma*sqrt(dt) (31.43 at 80%), nor a floor at 1x (0.06 at 2000%)
    assert (
        float(vol_adjusted_leverage(0.8, 0.5, dt)) > 0.5 / 0.8 / (z * 0.8 * math.sqrt(dt)) * 1.005
    )
    assert float(vol_adjusted_leverage(20.0, 0.5, dt)) < 0.07
    # the clip: kappa > sigma passes 100 before it; sigma = 0 gives L_max
    assert by_hand(0.3, 0.5) > 100.0
    np.testing.assert_array_equal(
        vol_adjusted_leverage([0.0, 0.01, 0.3], 0.5, dt, max_leverage=50.0), [50.0, 50.0, 50.0]
    )
    assert float(vol_adjusted_leverage(0.8, 0.5, dt, alpha=0.95)) > 31.69  # a smaller VaR
    np.testing.assert_allclose(
        one_step_var([0.3, 0.8], dt),
        [var_es_parametric(1.0, s, dt).var for s in (0.3, 0.8)],
        rtol=1e-12,
    )
    for kwargs, name in (({"sigma": -0.1}, "sigma"), ({"kappa": 0.0}, "kappa"),
                         ({"dt": 0.0}, "dt"), ({"max_leverage": 0.0}, "max_leverage"),
                         ({"alpha": 1.0}, "alpha")):  # fmt: skip
        args = {"sigma": 0.8, "kappa": 0.5, "dt": dt} | kwargs
        with pytest.raises(ValueError, match=name):
            vol_adjusted_leverage(**args)  # type: ignore[arg-type]

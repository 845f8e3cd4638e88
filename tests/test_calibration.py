"""Maximum-likelihood fits recover known parameters from simulated data within a few standard
errors; the GARCH mapping to the book's convention; model quantiles and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levpaper import calibration as cal
from levpaper.first_passage import (
    discrete_first_passage_probability,
    liquidation_barrier,
    liquidation_probability,
)
from levpaper.processes import GARCH11, GBM, HOURLY_DT, MertonJumpDiffusion


def within(fit: cal.Fit, truth: dict[str, float], k: float = 4.0) -> None:
    for name, value in truth.items():
        assert abs(fit.estimates[name] - value) < k * fit.se[name], (name, fit.estimates, fit.se)


def test_gbm_recovers_parameters_and_its_standard_errors_are_right() -> None:
    rng = np.random.default_rng(0)
    fits = [
        cal.fit_gbm(np.diff(GBM(mu=0.4, sigma=0.7).simulate(1, 20_000, rng, log=True)[0]))
        for _ in range(40)
    ]
    sig = np.array([f.estimates["sigma"] for f in fits])
    assert abs(sig.mean() - 0.7) < 4 * fits[0].se["sigma"] / math.sqrt(40)
    assert abs(sig.std(ddof=1) / fits[0].se["sigma"] - 1) < 0.35
    within(fits[0], {"mu": 0.4, "sigma": 0.7})
    assert fits[0].aic == 2 * 2 - 2 * fits[0].loglik


def test_merton_recovers_parameters() -> None:
    truth = MertonJumpDiffusion(mu=0.2, sigma=0.5, intensity=200.0, jump_mean=-0.01, jump_std=0.03)
    r = np.diff(truth.simulate(1, 40_000, np.random.default_rng(1), log=True)[0])
    fit = cal.fit_merton(r)
    within(fit, {"mu": 0.2, "sigma": 0.5, "intensity": 200.0, "jump_mean": -0.01, "jump_std": 0.03})
    assert isinstance(fit.model, MertonJumpDiffusion)
    assert fit.loglik == pytest.approx(cal.log_likelihood(fit.model, r))
    assert fit.loglik > cal.fit_gbm(r).loglik + 100  # jumps are detected


def test_garch_recovers_parameters_in_the_books_convention() -> None:
    truth = GARCH11.from_annual_volatility(0.8, alpha=0.1, beta=0.85, mu=0.5)
    r = np.diff(truth.simulate(1, 30_000, np.random.default_rng(2), log=True)[0])
    fit = cal.fit_garch(r)
    within(fit, {"alpha": 0.1, "beta": 0.85, "omega": truth.omega, "mu": 0.5})
    assert isinstance(fit.model, GARCH11) and fit.model.dt == HOURLY_DT
    # arch's own log-likelihood (constant mean, backcast start) is close to the book's recursion
    assert abs(fit.extra["arch_loglik"] - fit.loglik) < 20
    assert fit.loglik > cal.fit_gbm(r).loglik


def test_log_likelihood_of_gbm_is_the_normal_density() -> None:
    r = np.array([0.01, -0.02])
    m = GBM(mu=0.1, sigma=0.5)
    v = 0.25 * HOURLY_DT
    mean = (0.1 - 0.125) * HOURLY_DT
    expected = sum(-0.5 * math.log(2 * math.pi * v) - (x - mean) ** 2 / (2 * v) for x in r)
    assert cal.log_likelihood(m, r) == pytest.approx(expected)
    # a Merton model without jumps is GBM
    assert cal.log_likelihood(MertonJumpDiffusion(mu=0.1, sigma=0.5, intensity=0.0), r) == (
        pytest.approx(expected)
    )
    with pytest.raises(ValueError, match="returns"):
        cal.fit_gbm([0.1, np.nan] * 10)


def test_return_quantiles_against_simulation() -> None:
    rng = np.random.default_rng(4)
    probs = np.array([0.001, 0.01, 0.5, 0.99])
    for model in (MertonJumpDiffusion(intensity=300.0, jump_std=0.02), GBM(sigma=0.8)):
        q = cal.return_quantiles(model, probs, rng)
        sim = np.diff(model.simulate(50, 8000, rng, log=True), axis=1).ravel()
        assert np.allclose(q, np.quantile(sim, probs), rtol=0.05, atol=2e-5), model
    with pytest.raises(ValueError, match="probs"):
        cal.return_quantiles(GBM(), [0.0], rng)


def test_liquidation_monte_carlo_matches_the_closed_forms_under_gbm() -> None:
    model = GBM(mu=0.0, sigma=0.8)
    levs = [10.0, 50.0]
    p, se, hourly = cal.liquidation_monte_carlo(
        model, levs, "short", [24, 168], 20_000, np.random.default_rng(5)
    )
    for i, lev in enumerate(levs):
        for j, h in enumerate((24, 168)):
            exact = liquidation_probability(lev, h * HOURLY_DT, 0.8, side="short")
            assert abs(p[i, j] - exact) < 4 * se[i, j] + 1e-9
            bar = liquidation_barrier(lev, 0.005, "short")
            bgk = discrete_first_passage_probability(bar, h * HOURLY_DT, 0.8, side="short")
            assert abs(hourly[i, j] - bgk) < 0.02
    assert np.all(hourly <= p + 1e-12)


def test_liquidation_monte_carlo_jumps_and_garch_raise_short_horizon_risk() -> None:
    rng = np.random.default_rng(6)
    gbm = cal.liquidation_monte_carlo(GBM(sigma=0.8), [25.0], "long", [1, 24], 20_000, rng)[0]
    jumpy = MertonJumpDiffusion(sigma=0.4, intensity=400 / 3, jump_mean=0.0, jump_std=0.06)
    assert abs(jumpy.total_volatility - 0.8) < 0.01
    merton = cal.liquidation_monte_carlo(jumpy, [25.0], "long", [1, 24], 20_000, rng)[0]
    assert merton[0, 0] > 5 * gbm[0, 0] + 1e-4  # a 4.5% fall in one hour needs a jump
    garch = cal.liquidation_monte_carlo(GARCH11(), [5.0], "long", [24], 5_000, rng)[0]
    assert np.all(np.isfinite(garch)) and 0 <= garch[0, 0] <= 1
    with pytest.raises(ValueError, match="horizons_hours"):
        cal.liquidation_monte_carlo(GBM(), [5.0], "long", [0], 10, rng)

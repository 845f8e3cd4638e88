"""Price processes (sections 4.2, 4.3): exact simulation held to each model's exact moments.

Moments are compared in units of their Monte Carlo standard error, estimated from the same
sample; all seeds are fixed, so every run draws the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from levpaper.processes import (
    DEFAULT_GARCH_OMEGA,
    GARCH11,
    GBM,
    HOURLY_DT,
    MertonJumpDiffusion,
)

Z = 3.0  # tolerance in standard errors


def assert_within(estimate: float, expected: float, se: float, z: float = Z) -> None:
    assert se > 0
    assert abs(estimate - expected) <= z * se, (estimate, expected, se)


def sample_moment_checks(x: np.ndarray, mean: float, var: float) -> None:
    """Sample mean and variance of i.i.d. ``x`` within Z standard errors of the truth."""
    n = x.size
    assert_within(float(x.mean()), mean, float(x.std()) / math.sqrt(n))
    dev2 = (x - x.mean()) ** 2
    assert_within(float(dev2.mean()), var, float(dev2.std()) / math.sqrt(n))


# --- shapes, determinism, exactness -----------------------------------------------------------


@pytest.mark.parametrize("model", [GBM(), MertonJumpDiffusion(), GARCH11()])
def test_shape_start_and_determinism(model: GBM | MertonJumpDiffusion | GARCH11) -> None:
    a = model.simulate(7, 30, np.random.default_rng(11), s0=2500.0)
    b = model.simulate(7, 30, np.random.default_rng(11), s0=2500.0)
    c = model.simulate(7, 30, np.random.default_rng(12), s0=2500.0)
    assert a.shape == (7, 31) and a.dtype == np.float64
    assert np.all(a[:, 0] == 2500.0)
    assert np.all(a > 0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    logs = model.simulate(7, 30, np.random.default_rng(11), s0=2500.0, log=True)
    np.testing.assert_allclose(np.exp(logs), a, rtol=1e-12)


def test_gbm_is_exact_lognormal_steps_from_the_generator_stream() -> None:
    """Paths are (mu - sigma^2/2) dt + sigma sqrt(dt) Z summed, Z read row by row from the rng;
    the block-wise fill does not change the stream (here 5000 paths span several blocks)."""
    mu, sigma, dt, n, m = 0.3, 0.8, HOURLY_DT, 5000, 12
    logs = GBM(mu, sigma).simulate(n, m, np.random.default_rng(3), s0=1.0, log=True)
    z = np.random.default_rng(3).standard_normal((n, m + 1))[:, 1:]
    expected = np.cumsum((mu - 0.5 * sigma**2) * dt + sigma * math.sqrt(dt) * z, axis=1)
    np.testing.assert_allclose(logs[:, 1:], expected, rtol=0, atol=1e-12)


def test_merton_without_jumps_is_gbm() -> None:
    gbm = GBM(0.1, 0.7).simulate(300, 50, np.random.default_rng(5))
    merton = MertonJumpDiffusion(0.1, 0.7, intensity=0.0).simulate(
        300, 50, np.random.default_rng(5)
    )
    np.testing.assert_array_equal(gbm, merton)


# --- moments against theory -------------------------------------------------------------------


def test_gbm_log_return_and_price_moments() -> None:
    model = GBM(mu=0.5, sigma=0.8)
    horizon, n_steps = 7 / 365, 168
    paths = model.simulate(40_000, n_steps, np.random.default_rng(21), s0=100.0)
    x = np.log(paths[:, -1] / 100.0)
    m = model.log_return_moments(horizon)
    sample_moment_checks(x, m.mean, m.variance)
    mean, var = model.price_mean_variance(100.0, horizon)
    sample_moment_checks(paths[:, -1], mean, var)
    # Increments are independent: lag-1 autocorrelation of hourly log returns ~ N(0, 1/n).
    r = np.diff(np.log(paths), axis=1)
    r = r - r.mean()
    rho = float((r[:, 1:] * r[:, :-1]).mean() / (r * r).mean())
    assert abs(rho) < Z / math.sqrt(r.size)


def test_merton_moments_including_jump_cumulants() -> None:
    """Hourly increments are i.i.d.: their mean, variance, third and fourth cumulants match the
    closed forms (at one hour the jumps dominate the skewness and the tails)."""
    model = MertonJumpDiffusion(mu=0.2)
    m = model.log_return_moments(HOURLY_DT)
    assert m.skewness < -1.0 and m.excess_kurtosis > 30.0  # far from normal at this step
    paths = model.simulate(2_000, 720, np.random.default_rng(31), log=True)
    x = np.diff(paths, axis=1).ravel()
    n = x.size
    sample_moment_checks(x, m.mean, m.variance)
    d = x - m.mean
    k3 = m.skewness * m.variance**1.5
    assert_within(float((d**3).mean()), k3, float((d**3).std()) / math.sqrt(n))
    mu4 = (m.excess_kurtosis + 3.0) * m.variance**2  # central fourth moment
    assert_within(float((d**4).mean()), mu4, float((d**4).std()) / math.sqrt(n))
    # The drift is compensated: E[P_T] = P_0 exp(mu T) over 30 days.
    end = np.exp(paths[:, -1])
    assert_within(
        float(end.mean()), math.exp(0.2 * 720 * HOURLY_DT), float(end.std()) / math.sqrt(end.size)
    )


def test_merton_horizon_moments_scale_with_horizon() -> None:
    model = MertonJumpDiffusion()
    one, four = model.log_return_moments(0.25), model.log_return_moments(1.0)
    assert math.isclose(four.mean, 4 * one.mean) and math.isclose(four.variance, 4 * one.variance)
    assert math.isclose(four.skewness, one.skewness / 2) and math.isclose(
        four.excess_kurtosis, one.excess_kurtosis / 4
    )


def test_garch_variance_moments_and_martingale() -> None:
    """Starting far below its long-run level (h0 = hbar / 4), the conditional variance climbs back
    as E[eps_t^2] = E[h_t] and E[eps_t^4] = 3 E[h_t^2] say; E[P_T] = P_0 exp(mu T)."""
    model = GARCH11(mu=0.3)
    h0 = model.unconditional_variance / 4
    n_paths, n_steps = 20_000, 240
    paths, h = model.simulate_with_variance(n_paths, n_steps, np.random.default_rng(41), h0=h0)
    r = np.diff(np.log(paths), axis=1)
    eps = r - model.mu * model.dt + 0.5 * h
    m1, m2 = model.variance_moments(n_steps, h0)
    for t in (0, 10, 60, 239):
        e2, e4 = eps[:, t] ** 2, eps[:, t] ** 4
        assert_within(float(e2.mean()), float(m1[t]), float(e2.std()) / math.sqrt(n_paths))
        assert_within(float(e4.mean()), 3 * float(m2[t]), float(e4.std()) / math.sqrt(n_paths))
    # The recursion that produced h is the one documented.
    expected_h = model.omega + model.alpha * eps[:, :-1] ** 2 + model.beta * h[:, :-1]
    np.testing.assert_allclose(h[:, 1:], expected_h, rtol=1e-12)
    end = paths[:, -1]
    assert_within(
        float(end.mean()), math.exp(0.3 * n_steps * model.dt), float(end.std()) / math.sqrt(n_paths)
    )


def test_garch_stationary_level_kurtosis_and_clustering() -> None:
    """From the unconditional variance, every step has E[eps^2] = hbar (annualised vol 0.8);
    squared returns are autocorrelated (volatility clusters), GBM's are not."""
    model = GARCH11()
    n_paths, n_steps = 4_000, 500
    paths = model.simulate(n_paths, n_steps, np.random.default_rng(43), log=True)
    r = np.diff(paths, axis=1)
    per_path = (r**2).mean(axis=1)  # independent across paths
    _, m2 = model.variance_moments(n_steps)
    expected = model.unconditional_variance + 0.25 * float(m2.mean())  # E[r^2] = E[h] + E[h^2]/4
    assert_within(float(per_path.mean()), expected, float(per_path.std()) / math.sqrt(n_paths))
    assert abs(math.sqrt(float(per_path.mean()) / model.dt) - 0.8) < 0.02

    def sq_autocorr(x: np.ndarray) -> float:
        s = x**2 - (x**2).mean()
        return float((s[:, 1:] * s[:, :-1]).mean() / (s * s).mean())

    gbm = np.diff(GBM(sigma=0.8).simulate(n_paths, n_steps, np.random.default_rng(44), log=True))
    assert sq_autocorr(r) > 0.05
    assert abs(sq_autocorr(gbm)) < Z / math.sqrt(gbm.size)


def test_crypto_like_defaults() -> None:
    assert GBM().sigma == 0.8 and GBM().mu == 0.0
    assert abs(MertonJumpDiffusion().total_volatility - 0.8) < 0.01
    assert math.isclose(GARCH11().annual_volatility, 0.8)
    assert math.isclose(GARCH11().omega, DEFAULT_GARCH_OMEGA)
    assert HOURLY_DT == 1 / (365 * 24)
    model = GARCH11.from_annual_volatility(0.5, alpha=0.1, beta=0.85, dt=1 / 365)
    assert math.isclose(model.annual_volatility, 0.5) and math.isclose(model.persistence, 0.95)
    assert GARCH11(alpha=0.3, beta=0.69).kurtosis == math.inf  # no fourth moment


# --- bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (lambda: GBM(sigma=0.0), "sigma"),
        (lambda: GBM(sigma=-0.8), "sigma"),
        (lambda: GBM(mu=math.nan), "mu"),
        (lambda: MertonJumpDiffusion(intensity=-1.0), "intensity"),
        (lambda: MertonJumpDiffusion(sigma=0.0), "sigma"),
        (lambda: MertonJumpDiffusion(jump_std=-0.1), "jump_std"),
        (lambda: GARCH11(omega=0.0), "omega"),
        (lambda: GARCH11(alpha=-0.01), "alpha"),
        (lambda: GARCH11(beta=-0.01), "beta"),
        (lambda: GARCH11(alpha=0.1, beta=0.9), "alpha \\+ beta"),
        (lambda: GARCH11(alpha=0.5, beta=0.6), "alpha \\+ beta"),
        (lambda: GARCH11(dt=0.0), "dt"),
        (lambda: GARCH11.from_annual_volatility(0.8, alpha=0.2, beta=0.8), "alpha \\+ beta"),
        (lambda: GARCH11.from_annual_volatility(-0.8), "volatility"),
        (lambda: GBM().log_return_moments(0.0), "horizon"),
        (lambda: MertonJumpDiffusion().log_return_moments(-1.0), "horizon"),
        (lambda: GBM().price_mean_variance(0.0, 1.0), "s0"),
        (lambda: GBM().simulate(0, 10, np.random.default_rng(0)), "n_paths"),
        (lambda: GBM().simulate(10, 0, np.random.default_rng(0)), "n_steps"),
        (lambda: GBM().simulate(10, 10, np.random.default_rng(0), dt=0.0), "dt"),
        (lambda: GBM().simulate(10, 10, np.random.default_rng(0), s0=-1.0), "s0"),
        (lambda: MertonJumpDiffusion().simulate(10, 10, np.random.default_rng(0), dt=-1.0), "dt"),
        (lambda: GARCH11().simulate(10, 10, np.random.default_rng(0), h0=0.0), "h0"),
        (lambda: GARCH11().variance_moments(0), "n_steps"),
    ],
)
def test_bad_parameters_raise_naming_them(factory: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        factory()


def test_counts_must_be_integers() -> None:
    with pytest.raises(TypeError, match="n_paths"):
        GBM().simulate(10.5, 10, np.random.default_rng(0))

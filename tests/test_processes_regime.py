"""levpaper.processes.RegimeSwitchingGBM: the regime chain's stationary law and switching rates,
the conditional law of each step, and the exact mean and variance of the log return, all held to
Monte Carlo within 3 standard errors (fixed seeds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levpaper.processes import CALM, TURBULENT, RegimeSwitchingGBM

Z = 3.0
FAST = RegimeSwitchingGBM(
    mu_calm=2.0, mu_turbulent=-3.0, sigma_calm=0.4, sigma_turbulent=2.0,
    p_enter=0.05, p_exit=0.2, dt=1.0 / 365.0,
)  # fmt: skip


def within(estimate: float, expected: float, se: float) -> bool:
    return se > 0 and abs(estimate - expected) <= Z * se


def test_shapes_determinism_and_start() -> None:
    a, ra = FAST.simulate_with_regimes(5, 40, np.random.default_rng(1), s0=2500.0)
    b, rb = FAST.simulate_with_regimes(5, 40, np.random.default_rng(1), s0=2500.0)
    assert a.shape == (5, 41) and ra.shape == (5, 40) and ra.dtype == np.int8
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ra, rb)
    assert np.all(a[:, 0] == 2500.0) and np.all(a > 0)
    np.testing.assert_array_equal(FAST.simulate(5, 40, np.random.default_rng(1), s0=2500.0), a)
    logs = FAST.simulate(5, 40, np.random.default_rng(1), s0=2500.0, log=True)
    np.testing.assert_allclose(np.exp(logs), a, rtol=1e-12)
    _, fixed = FAST.simulate_with_regimes(50, 3, np.random.default_rng(2), regime0=TURBULENT)
    assert np.all(fixed[:, 0] == TURBULENT)


def test_steps_are_the_regimes_lognormal_steps_from_the_stream() -> None:
    """Increment k is (mu_s - sigma_s^2/2) dt + sigma_s sqrt(dt) Z_k with s the regime of step k
    and Z read after the regime uniforms."""
    rng = np.random.default_rng(5)
    logs, reg = FAST.simulate_with_regimes(30, 20, rng, log=True)
    rng2 = np.random.default_rng(5)
    rng2.random((30, 20))
    z = rng2.standard_normal((30, 20))
    mu, sig = FAST.mu[reg], FAST.sigma[reg]
    expected = (mu - 0.5 * sig**2) * FAST.dt + sig * math.sqrt(FAST.dt) * z
    np.testing.assert_allclose(np.diff(logs, axis=1), expected, rtol=1e-10, atol=1e-14)


def test_stationary_law_and_switching_rates() -> None:
    n_paths, n_steps = 20_000, 60
    reg = FAST.simulate_regimes(n_paths, n_steps, np.random.default_rng(7))
    pi1 = float(FAST.stationary_distribution[1])
    assert pi1 == pytest.approx(0.05 / 0.25)
    for k in (0, 30, 59):  # stationary start: the law of s_k is pi at every k
        share = float(reg[:, k].mean())
        assert within(share, pi1, math.sqrt(pi1 * (1 - pi1) / n_paths)), (k, share)
    prev, nxt = reg[:, :-1].ravel(), reg[:, 1:].ravel()
    for state, p in ((CALM, FAST.p_enter), (TURBULENT, FAST.p_exit)):
        flips = (nxt[prev == state] != state).astype(float)
        # transitions are Bernoulli(p) given the previous state, independent across steps
        assert within(float(flips.mean()), p, math.sqrt(p * (1 - p) / flips.size)), state
    t = FAST.transition_matrix
    np.testing.assert_allclose(FAST.stationary_distribution @ t, FAST.stationary_distribution)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)


def test_conditional_step_moments() -> None:
    logs, reg = FAST.simulate_with_regimes(4000, 50, np.random.default_rng(9), log=True)
    inc = np.diff(logs, axis=1)
    for s in (CALM, TURBULENT):
        x = inc[reg == s]
        nu = (FAST.mu[s] - 0.5 * FAST.sigma[s] ** 2) * FAST.dt
        var = FAST.sigma[s] ** 2 * FAST.dt
        assert within(float(x.mean()), nu, math.sqrt(var / x.size)), s
        assert within(float(x.var()), var, var * math.sqrt(2.0 / x.size)), s


def test_exact_log_return_mean_and_variance() -> None:
    n_steps, n_paths = 50, 40_000
    logs = FAST.simulate(n_paths, n_steps, np.random.default_rng(11), log=True)
    total = logs[:, -1] - logs[:, 0]
    mean, var = FAST.log_return_mean_variance(n_steps)
    assert within(float(total.mean()), mean, float(total.std()) / math.sqrt(n_paths))
    dev2 = (total - total.mean()) ** 2
    assert within(float(dev2.mean()), var, float(dev2.std()) / math.sqrt(n_paths))
    # the regime term matters here: without it the variance would be rejected
    diffusive = n_steps * FAST.dt * float(FAST.stationary_distribution @ FAST.sigma**2)
    assert not within(float(dev2.mean()), diffusive, float(dev2.std()) / math.sqrt(n_paths))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"p_enter": 1.0}, "p_enter"),
        ({"p_exit": -0.1}, "p_exit"),
        ({"sigma_calm": 0.0}, "sigma_calm"),
        ({"sigma_turbulent": math.inf}, "sigma_turbulent"),
        ({"mu_calm": math.nan}, "mu_calm"),
        ({"dt": 0.0}, "dt"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RegimeSwitchingGBM(**kwargs)


def test_bad_simulation_arguments() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="regime0"):
        FAST.simulate(2, 3, rng, regime0=2)
    with pytest.raises(ValueError, match="s0"):
        FAST.simulate(2, 3, rng, s0=0.0)
    with pytest.raises(ValueError, match="n_steps"):
        FAST.simulate(2, 0, rng)
    with pytest.raises(ValueError, match="n_steps"):
        FAST.log_return_mean_variance(0)

"""Liquidation probability (section 4.2, E15): closed forms held to Monte Carlo.

The grid of the issue: leverage 5, 10, 25, 50, 100 (maintenance 0.5%), horizons of one hour, one
day, seven and thirty days, long and short, sigma = 0.8. Continuous monitoring: the closed form
against the Brownian-bridge corrected estimator. Discrete monitoring: the BGK-corrected closed
form against the plain estimator that checks only the grid prices. Each estimate must lie within
3 standard errors. The path counts keep the whole file within seconds; the same grid with 200,000
paths per cell was run during development (BGK's own error, of order 0.004 at one day with hourly
checks at 25x to 100x, is then visible; at the counts below it is under one standard error).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from levpaper.first_passage import (
    BGK_BETA,
    bgk_barrier,
    discrete_first_passage_probability,
    first_passage_monte_carlo,
    first_passage_probability,
    liquidation_barrier,
    liquidation_probability,
    paper_liquidation_probability,
    paper_probability_for_barrier,
    terminal_probability,
)
from levpaper.processes import HOURLY_DT

LEVERAGES = np.array([5.0, 10.0, 25.0, 50.0, 100.0])
HORIZONS = {"1h": HOURLY_DT, "1d": 24 * HOURLY_DT, "7d": 168 * HOURLY_DT, "30d": 720 * HOURLY_DT}
SIGMA = 0.8
N_PATHS = 20_000
Z = 3.0


def within(estimate: np.ndarray, se: np.ndarray, exact: np.ndarray, n: int) -> np.ndarray:
    """|estimate - exact| <= Z se, the Monte Carlo's own standard error, where the event is
    common enough for that to mean something (at least 10 expected liquidations, or survivals,
    among the n paths).

    For rarer events (a 5x position over one hour: p ~ 1e-130) the sample is all zeros or a
    handful of hits and neither its spread nor a normal approximation says anything. There the
    estimate, as a count n * estimate, must lie in the same two-sided 3-sigma band (probability
    0.27% outside) of the exact Binomial(n, p) law: the law of the discrete estimator's count,
    and a bound in convex order for the bridge estimator, a conditional expectation of it.
    """
    common = n * np.minimum(exact, 1.0 - exact) >= 10
    tail = stats.norm.sf(Z)
    lo = stats.binom.ppf(tail, n, exact)
    hi = stats.binom.ppf(1.0 - tail, n, exact)
    count = n * estimate
    rare_ok = (count >= lo - 1e-9) & (count <= hi + 1e-9)
    return np.where(common, np.abs(estimate - exact) <= Z * se, rare_ok)


def check_dt(horizon: float) -> float:
    """Hourly checks, except over a one-hour horizon: one check is not what BGK approximates
    (see test_one_check_is_the_terminal_probability), so there the price is checked each minute."""
    return min(HOURLY_DT, horizon / 60)


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("horizon", list(HORIZONS), ids=list(HORIZONS))
@pytest.mark.parametrize("monitoring", ["continuous", "discrete"])
def test_closed_form_matches_monte_carlo_on_the_grid(
    side: str, horizon: str, monitoring: str
) -> None:
    t = HORIZONS[horizon]
    seed = (
        1000
        + 10 * list(HORIZONS).index(horizon)
        + (side == "short")
        + 5 * (monitoring == "discrete")
    )
    rng = np.random.default_rng(seed)
    barriers = np.asarray(liquidation_barrier(LEVERAGES, 0.005, side))
    if monitoring == "continuous":
        est, se = first_passage_monte_carlo(
            barriers, t, SIGMA, N_PATHS, rng, side=side, bridge=True
        )
        exact = np.asarray(first_passage_probability(barriers, t, SIGMA, side=side))
    else:
        dt = check_dt(t)
        est, se = first_passage_monte_carlo(
            barriers, t, SIGMA, N_PATHS, rng, side=side, dt=dt, bridge=False
        )
        exact = np.asarray(discrete_first_passage_probability(barriers, t, SIGMA, dt, side=side))
    ok = within(np.asarray(est), np.asarray(se), exact, N_PATHS)
    assert ok.all(), list(zip(LEVERAGES, exact, est, se, strict=True))


def test_bridge_estimator_is_exact_on_a_coarse_grid() -> None:
    """Conditioning on the grid makes the bridge estimator unbiased for continuous monitoring
    whatever the step: four steps over 30 days give the continuous probability, while checking
    only those four prices misses most touches."""
    barriers = np.asarray(liquidation_barrier(LEVERAGES, 0.005))
    t = 30 / 365
    exact = np.asarray(first_passage_probability(barriers, t, SIGMA, mu=0.4))
    est, se = first_passage_monte_carlo(
        barriers, t, SIGMA, 40_000, np.random.default_rng(9), mu=0.4, dt=t / 4
    )
    assert within(np.asarray(est), np.asarray(se), exact, 40_000).all()
    est_d, se_d = first_passage_monte_carlo(
        barriers, t, SIGMA, 40_000, np.random.default_rng(9), mu=0.4, dt=t / 4, bridge=False
    )
    assert np.all(np.asarray(est_d) + 3 * np.asarray(se_d) < exact)


@pytest.mark.parametrize("side", ["long", "short"])
def test_one_check_is_the_terminal_probability(side: str) -> None:
    """With a single check at the horizon the discrete probability is exactly the terminal one;
    the Monte Carlo agrees, and BGK (an approximation for many checks) is visibly off."""
    barriers = np.asarray(liquidation_barrier(np.array([50.0, 100.0]), 0.005, side))
    est, se = first_passage_monte_carlo(
        barriers, HOURLY_DT, SIGMA, 40_000, np.random.default_rng(2), side=side, bridge=False
    )
    exact = np.asarray(terminal_probability(barriers, HOURLY_DT, SIGMA, side=side))
    assert within(np.asarray(est), np.asarray(se), exact, 40_000).all()
    bgk = np.asarray(
        discrete_first_passage_probability(barriers, HOURLY_DT, SIGMA, HOURLY_DT, side=side)
    )
    assert np.all(np.abs(est - bgk) > 5 * np.asarray(se))


def test_monte_carlo_is_deterministic_and_scalar_in_scalar_out() -> None:
    b = float(liquidation_barrier(25, 0.005))
    a = first_passage_monte_carlo(b, 1 / 365, SIGMA, 500, np.random.default_rng(4))
    c = first_passage_monte_carlo(b, 1 / 365, SIGMA, 500, np.random.default_rng(4))
    assert a == c and isinstance(a[0], float) and isinstance(a[1], float)


# --- the closed forms themselves --------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    lev=st.floats(1.0, 200.0),
    frac=st.floats(0.0, 0.99),
    side=st.sampled_from(["long", "short"]),
)
def test_barrier_is_where_equity_meets_maintenance(lev: float, frac: float, side: str) -> None:
    """At B, equity C + s q (B - P0) equals m q B, with q = L C / P0 (E7, E8)."""
    m = frac / lev
    ratio = float(liquidation_barrier(lev, m, side))
    s = 1.0 if side == "long" else -1.0
    equity = 1.0 + s * lev * (ratio - 1.0)  # per unit of margin C, with P0 = 1
    assert math.isclose(equity, m * lev * ratio, rel_tol=1e-9, abs_tol=1e-12)
    assert (ratio < 1.0) if side == "long" else (ratio > 1.0)


def test_barrier_values_of_the_erratum() -> None:
    """At 100x with m = 0.5% a 0.50% fall liquidates a long (E8), not 1%."""
    assert math.isclose(1 - float(liquidation_barrier(100, 0.005)), 0.005 / 0.995)
    assert math.isclose(float(liquidation_barrier(100, 0.0)), 0.99)
    assert float(liquidation_barrier(1, 0.5)) == 0.0  # an unleveraged long is never liquidated
    assert first_passage_probability(0.0, 1.0, SIGMA) == 0.0
    assert first_passage_monte_carlo(0.0, 0.1, SIGMA, 50, np.random.default_rng(0)) == (0.0, 0.0)


@settings(max_examples=200, deadline=None)
@given(
    b=st.floats(0.01, 0.999),
    t=st.floats(1e-4, 5.0),
    sigma=st.floats(0.05, 2.0),
    mu=st.floats(-1.0, 1.0),
)
def test_short_is_the_mirror_of_the_long(b: float, t: float, sigma: float, mu: float) -> None:
    """-ln P is a Brownian motion with drift -nu: a long with barrier b and drift nu is a short
    with barrier 1/b and log drift -nu, i.e. mu' = sigma^2 - mu."""
    p_long = float(first_passage_probability(b, t, sigma, mu, "long"))
    p_short = float(first_passage_probability(1 / b, t, sigma, sigma**2 - mu, "short"))
    assert math.isclose(p_long, p_short, rel_tol=1e-9, abs_tol=1e-14)
    assert 0.0 <= p_long <= 1.0
    assert p_long >= float(terminal_probability(b, t, sigma, mu)) - 1e-15


@settings(max_examples=100, deadline=None)
@given(b=st.floats(0.05, 0.999), t=st.floats(1e-4, 5.0), sigma=st.floats(0.05, 2.0))
def test_zero_log_drift_doubles_the_terminal_probability(b: float, t: float, sigma: float) -> None:
    """Reflection principle: at nu = 0, P(tau <= T) = 2 P(X_T <= b)."""
    mu = 0.5 * sigma**2
    p = float(first_passage_probability(b, t, sigma, mu))
    terminal = float(terminal_probability(b, t, sigma, mu))
    assert math.isclose(p, 2 * terminal, rel_tol=1e-12, abs_tol=1e-300)


def test_long_run_limits() -> None:
    """As T grows the probability rises to exp(2 nu b / sigma^2) when the drift points away
    from the barrier, and to 1 when it points toward it."""
    b, sigma = 0.9, 0.5
    mu_up = 0.5  # nu = 0.375 > 0: away from a long's barrier
    limit = math.exp(2 * (mu_up - 0.5 * sigma**2) * math.log(b) / sigma**2)
    assert math.isclose(float(first_passage_probability(b, 1e4, sigma, mu_up)), limit, rel_tol=1e-9)
    assert math.isclose(float(first_passage_probability(b, 1e4, sigma, -0.5)), 1.0)
    hs = np.geomspace(1e-4, 10, 50)
    assert np.all(np.diff(np.asarray(first_passage_probability(b, hs, sigma, 0.1))) >= 0)


def test_bgk_shift_and_discrete_limit() -> None:
    b, t = float(liquidation_barrier(25, 0.005)), 7 / 365
    assert math.isclose(
        float(bgk_barrier(b, SIGMA, HOURLY_DT, "long")),
        b * math.exp(-BGK_BETA * SIGMA * math.sqrt(HOURLY_DT)),
    )
    assert math.isclose(BGK_BETA, 1.4603545088095868 / math.sqrt(2 * math.pi))
    p = float(first_passage_probability(b, t, SIGMA))
    dts = [HOURLY_DT, HOURLY_DT / 60, HOURLY_DT / 3600]
    ps = [float(discrete_first_passage_probability(b, t, SIGMA, dt)) for dt in dts]
    assert ps[0] < ps[1] < ps[2] < p and p - ps[2] < 1e-3
    assert liquidation_probability(25, t, SIGMA) == p
    assert liquidation_probability(25, t, SIGMA, dt=HOURLY_DT) == ps[0]


# --- the paper's formula (erratum) ------------------------------------------------------------


def test_paper_formula_as_printed() -> None:
    m0, lt, t, sigma, mu = 2.0, 1.5, 0.5, 0.7, 0.1
    z = (math.log(m0 / lt) - (mu - sigma**2 / 2) * t) / (sigma * math.sqrt(t))
    expected = 1 - 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert math.isclose(
        float(paper_liquidation_probability(m0, lt, t, sigma, mu)), expected, rel_tol=1e-12
    )


def test_paper_formula_understates_the_real_probability() -> None:
    """Read as ln(M0/LT) = |ln(B/P0)|, the printed formula is the upper terminal tail: for a
    long it is well below the first-passage probability everywhere on the grid (about half at
    short horizons), and at zero log drift it equals the terminal probability."""
    barriers = np.asarray(liquidation_barrier(LEVERAGES, 0.005))
    for t in HORIZONS.values():
        paper = np.asarray(paper_probability_for_barrier(barriers, t, SIGMA))
        real = np.asarray(first_passage_probability(barriers, t, SIGMA))
        assert np.all(paper <= 0.5 * real + 1e-12)
    mu0 = 0.5 * SIGMA**2
    assert math.isclose(
        float(paper_probability_for_barrier(0.95, 0.1, SIGMA, mu0)),
        float(terminal_probability(0.95, 0.1, SIGMA, mu0)),
        rel_tol=1e-12,
    )


# --- bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: first_passage_probability(0.9, 1.0, 0.0), "sigma"),
        (lambda: first_passage_probability(0.9, 1.0, -0.8), "sigma"),
        (lambda: first_passage_probability(0.9, 0.0, 0.8), "horizon"),
        (lambda: first_passage_probability(0.9, -1.0, 0.8), "horizon"),
        (lambda: first_passage_probability(1.1, 1.0, 0.8, side="long"), "barrier"),
        (lambda: first_passage_probability(0.9, 1.0, 0.8, side="short"), "barrier"),
        (lambda: first_passage_probability(0.9, 1.0, 0.8, side="up"), "side"),
        (lambda: discrete_first_passage_probability(0.9, 1e-3, 0.8, dt=1e-2), "dt"),
        (lambda: discrete_first_passage_probability(0.9, 1.0, 0.8, dt=0.0), "dt"),
        (lambda: liquidation_barrier(0.5, 0.0), "leverage"),
        (lambda: liquidation_barrier(100, 0.01), "maintenance"),
        (lambda: liquidation_barrier(10, -0.01), "maintenance"),
        (lambda: paper_liquidation_probability(0.0, 1.0, 1.0, 0.8), "m0"),
        (lambda: paper_liquidation_probability(1.0, -1.0, 1.0, 0.8), "lt"),
        (lambda: paper_probability_for_barrier(1.0, 1.0, 0.8), "barrier"),
        (lambda: first_passage_monte_carlo(0.9, 1.0, 0.8, 1, np.random.default_rng(0)), "n_paths"),
        (lambda: first_passage_monte_carlo(0.9, 0.0, 0.8, 10, np.random.default_rng(0)), "horizon"),
        (lambda: first_passage_monte_carlo(0.9, 1.0, 0.0, 10, np.random.default_rng(0)), "sigma"),
        (
            lambda: first_passage_monte_carlo([[0.9]], 1.0, 0.8, 10, np.random.default_rng(0)),
            "barrier",
        ),
    ],
)
def test_bad_parameters_raise_naming_them(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()

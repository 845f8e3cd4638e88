"""The oracle (issue 16, item 2): the dynamic programme against its closed form (no fee, GBM: the
Kelly leverage), value iteration's convergence, no baseline beating the optimum by more than its
Monte Carlo error, the same market as the environment's, and bad input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from levpaper.env import LeveragedSwapConfig, LiquidationHunter, market_config
from levpaper.evaluation import control_variate_mean
from levpaper.oracle import (
    ConstantLeverage,
    DecisionProblem,
    KellyRule,
    MarketState,
    OraclePolicy,
    PaperRule,
    StatePolicy,
    leverage_grid,
    simulate_in_env,
    simulate_policy,
    solve_discounted,
    solve_finite_horizon,
    trade_cost,
)
from levpaper.processes import GARCH11, GBM, HOURLY_DT, MertonJumpDiffusion, RegimeSwitchingGBM
from levpaper.risk import vol_adjusted_leverage

H = 0.05  # grid step of the closed-form cases


def kelly_growth(a: float, mu: float, sigma: float) -> float:
    """Per-year log growth of a constant leverage a in GBM, continuously rebalanced, no costs."""
    return a * mu - 0.5 * a * a * sigma * sigma


def exact_growth(a: float, mu: float, sigma: float, dt: float = HOURLY_DT) -> float:
    """E[ln(1 + a(R - 1))] / dt for one log-normal step R, by adaptive quadrature."""
    nu, s = (mu - 0.5 * sigma**2) * dt, sigma * math.sqrt(dt)

    def integrand(z: float) -> float:
        return math.log(1.0 + a * (math.exp(nu + s * z) - 1.0)) * stats.norm.pdf(z)

    return float(integrate.quad(integrand, -8.0, 8.0, epsabs=1e-14, limit=200)[0]) / dt


@pytest.mark.parametrize(
    ("mu", "sigma", "cap", "signed", "kelly"),
    [
        (0.6, 0.5, 5.0, False, 2.4),  # interior
        (0.6, 0.2, 5.0, False, 5.0),  # the cap binds (mu / sigma^2 = 15)
        (-0.3, 0.5, 5.0, False, 0.0),  # long only: flat
        (-0.3, 0.5, 5.0, True, -1.2),  # shorts allowed
        (0.9, 0.6, 5.0, False, 2.5),  # 2.5 is on the grid
        (0.5, 0.6, 5.0, False, 0.5 / 0.36),  # 1.3889 is not: the grid's resolution
    ],
)
def test_no_fee_gbm_optimum_is_the_kelly_leverage(
    mu: float, sigma: float, cap: float, signed: bool, kelly: float
) -> None:
    grid = leverage_grid(cap, H, signed=signed)
    problem = DecisionProblem.from_gbm(
        GBM(mu=mu, sigma=sigma), fee=0.0, depth=0.0, leverage_grid=grid, hold_beyond_cap=False
    )
    sol = solve_finite_horizon(problem, horizon=48)
    for step in (0, 47):
        for lev in (0.0, 1.0, cap):
            target = sol.target(0, lev, step)
            assert abs(target - kelly) <= H / 2 + 1e-12, (step, lev, target)
    # its growth is the exact expected log growth of hourly rebalancing at the grid's best
    # leverage, E[ln(1 + a(R - 1))] / dt (adaptive quadrature), to the Gauss-Legendre rule's error
    best = float(grid[np.argmin(np.abs(grid - kelly))])
    assert sol.growth_per_year == pytest.approx(exact_growth(best, mu, sigma), abs=1e-9)
    # the closed form a mu - a^2 sigma^2 / 2 is its continuous-time limit: O(dt) apart
    assert sol.growth_per_year == pytest.approx(kelly_growth(best, mu, sigma), rel=1e-4)
    # and the grid's resolution costs at most sigma^2 (h/2)^2 / 2 of the continuous optimum
    gap = kelly_growth(kelly, mu, sigma) - kelly_growth(best, mu, sigma)
    assert 0.0 <= gap <= 0.5 * sigma**2 * (H / 2) ** 2 + 1e-12
    disc = solve_discounted(problem, gamma=0.99, tol=1e-12)
    assert disc.converged and disc.target(0, 0.0) == sol.target(0, 0.0)
    assert disc.growth_per_year == pytest.approx(sol.growth_per_year, abs=1e-8)


def test_holding_beyond_the_cap_pays_when_the_cap_binds() -> None:
    # the environment's cap binds only increases: a long whose leverage a fall has pushed above
    # the cap may keep it, which is worth something when Kelly (15 here) is above the cap
    kw: dict[str, Any] = {"fee": 0.0, "depth": 0.0, "leverage_grid": leverage_grid(5.0, H)}
    gbm = GBM(mu=0.6, sigma=0.2)
    hard = solve_finite_horizon(DecisionProblem.from_gbm(gbm, hold_beyond_cap=False, **kw), 48)
    soft = solve_finite_horizon(DecisionProblem.from_gbm(gbm, **kw), 48)
    assert soft.target(0, 0.0) == hard.target(0, 0.0) == 5.0
    assert soft.target(0, 6.0) == 6.0 and hard.target(0, 6.0) == 5.0
    assert soft.growth_per_year > hard.growth_per_year + 0.01


def test_value_iteration_converges_to_the_stated_tolerance() -> None:
    problem = DecisionProblem.from_regimes(
        RegimeSwitchingGBM(p_enter=0.02, p_exit=0.05), leverage_grid=leverage_grid(5.0, 0.25)
    )
    gamma = 0.98
    loose = solve_discounted(problem, gamma, tol=1e-6)
    tight = solve_discounted(problem, gamma, tol=1e-13)
    for sol, tol in ((loose, 1e-6), (tight, 1e-13)):
        assert sol.converged and sol.residual <= tol
        assert 1 < sol.iterations < 1_000_000
    assert tight.iterations > loose.iterations
    # a gamma-contraction: the loose value is within gamma tol / (1 - gamma) of the fixed point
    bound = gamma * 1e-6 / (1 - gamma) + gamma * 1e-13 / (1 - gamma)
    assert np.max(np.abs(loose.values - tight.values)) <= bound
    # the residual shrinks by gamma per iteration at least, so the count is bounded
    assert loose.iterations <= math.ceil(math.log(1e-6 / 1.0) / math.log(gamma)) + 1
    stopped = solve_discounted(problem, gamma, tol=1e-13, max_iterations=5)
    assert not stopped.converged and stopped.iterations == 5 and stopped.residual > 1e-13


def regimes_problem(fee: float = 0.003, cap: float = 5.0) -> tuple[LeveragedSwapConfig, Any]:
    cfg = market_config(
        "regimes", initial_margin_fraction=1.0, horizon=168, max_leverage=cap, fee=fee
    )
    return cfg, DecisionProblem.from_config(cfg, grid=leverage_grid(cap, 0.1))


def test_the_discretised_chain_has_the_dp_value() -> None:
    _, problem = regimes_problem()
    sol = solve_finite_horizon(problem, 168)
    ev = simulate_policy(problem, OraclePolicy(sol), 2000, 168, np.random.default_rng(1))
    assert abs(ev.mean - sol.start_value) <= 3 * ev.se
    assert ev.liquidation_rate == 0.0


def baselines(problem: DecisionProblem) -> dict[str, StatePolicy]:
    cap = problem.cap
    out: dict[str, StatePolicy] = {}
    for c in (0.5, 1.0, 2.0, 3.0, cap):
        out[f"fixed {c}"] = ConstantLeverage(c)
        out[f"fixed {c}, band"] = ConstantLeverage(c, band=0.2)
    for band in (0.0, 0.2):
        out[f"Kelly band {band}"] = KellyRule(problem.mu, cap=cap, band=band)
    for kappa in (0.005, 0.01, 0.02, 0.05):
        for band in (0.0, 0.2):
            out[f"L* {kappa} band {band}"] = PaperRule(kappa, dt=problem.dt, cap=cap, band=band)
    return out


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("market", ["regimes", "garch_drift"])
def test_no_baseline_beats_the_oracle(market: str, continuous: bool) -> None:
    cfg = market_config(market, initial_margin_fraction=1.0, horizon=168, max_leverage=5.0)
    problem = DecisionProblem.from_config(cfg, grid=leverage_grid(5.0, 0.1), n_buckets=7)
    sol = solve_finite_horizon(problem, 168)
    n, seed = 1000, 11
    oracle = simulate_policy(
        problem, OraclePolicy(sol), n, 168, np.random.default_rng(seed), continuous=continuous
    )
    worst = -math.inf
    for name, policy in baselines(problem).items():
        ev = simulate_policy(
            problem, policy, n, 168, np.random.default_rng(seed), continuous=continuous
        )
        diff = ev.log_growth - oracle.log_growth  # paired: common random numbers
        se = diff.std(ddof=1) / math.sqrt(n)
        assert diff.mean() <= 3 * se + 1e-12, (name, diff.mean(), se)
        worst = max(worst, diff.mean() / se if se > 0 else -math.inf)
    assert worst < 3


def test_oracle_in_the_environment_has_the_dp_value_without_fee() -> None:
    # fee 0: the environment's market is the problem's (marks at the external price), so the
    # oracle's log-wealth return in the vector env is the DP's value within Monte Carlo error;
    # the price's log return per regime (known means) is the control variate
    cfg, problem = regimes_problem(fee=0.0)
    sol = solve_finite_horizon(problem, cfg.horizon)
    ev = simulate_in_env(cfg, OraclePolicy(sol), 1200, seed=3, problem=problem)
    assert ev.liquidation_rate == 0.0
    est = control_variate_mean(
        ev.log_growth, ev.price_log_return, problem.price_log_return_mean(cfg.horizon)
    )
    se = (est.high - est.estimate) / 1.959963984540054
    assert se < 0.15 * sol.start_value  # the control variate makes the test sharp
    assert abs(est.estimate - sol.start_value) <= 3 * se, (est, sol.start_value)


def test_same_market_as_the_environment() -> None:
    cfg = market_config("regimes", initial_margin_fraction=1.0, fee=0.002, max_leverage=50.0)
    p = DecisionProblem.from_config(cfg)
    assert p.fee == cfg.fee and p.dt == cfg.dt and p.cap == cfg.max_leverage
    assert p.depth == cfg.initial_capital / cfg.reserve_b
    assert p.maintenance_rate == cfg.maintenance_rate
    assert p.liquidation_penalty_rate == cfg.liquidation_penalty_rate
    assert np.array_equal(p.mu, RegimeSwitchingGBM().mu)
    assert np.array_equal(p.transition, RegimeSwitchingGBM().transition_matrix)
    garch = DecisionProblem.from_config(market_config("garch_drift", initial_margin_fraction=1.0))
    assert garch.n_states == 9 and np.all(garch.mu == 0.3)
    gbm = DecisionProblem.from_config(LeveragedSwapConfig(initial_margin_fraction=1.0))
    assert gbm.n_states == 1 and gbm.sigma[0] == 0.8
    with pytest.raises(ValueError, match="initial_margin_fraction"):
        DecisionProblem.from_config(market_config("regimes"))
    with pytest.raises(ValueError, match="adversary"):
        DecisionProblem.from_config(
            LeveragedSwapConfig(initial_margin_fraction=1.0, adversary=LiquidationHunter(1e5))
        )
    with pytest.raises(ValueError, match="process"):
        DecisionProblem.from_config(
            LeveragedSwapConfig(initial_margin_fraction=1.0, process=MertonJumpDiffusion())
        )


def test_baselines_are_the_stated_rules() -> None:
    sig = np.array([0.3, 0.8, 1.5])
    state = MarketState(0, np.array([0, 1, 1]), sig, np.zeros(3))
    assert np.array_equal(
        PaperRule(0.02, cap=100.0)(state), vol_adjusted_leverage(sig, 0.02, HOURLY_DT)
    )
    kelly = KellyRule([0.6, -0.4], cap=5.0)(state)
    assert np.allclose(kelly, np.clip(np.array([0.6, -0.4, -0.4]) / sig**2, 0.0, 5.0))
    held = ConstantLeverage(2.0, band=0.1)(state._replace(leverage=np.array([1.9, 1.7, 2.0])))
    assert np.array_equal(held, [1.9, 2.0, 2.0])


def test_trade_cost_is_exact() -> None:
    # the leverage after the cost is the target, and the cost is the pool's
    f, d = 0.003, 4e-5
    cur = np.array([0.0, 2.0, 3.0, -1.0, 0.5])
    tgt = np.array([5.0, 1.0, 3.0, 2.0, -4.0])
    k = trade_cost(cur, tgt, f, d)
    delta = tgt * (1 - k) - cur
    size = np.abs(delta)
    g = 1 - f
    pool = np.where(
        delta > 0, size * (1 / (g * (1 - size * d)) - 1), size * (1 - g / (1 + g * size * d))
    )
    assert np.allclose(k, pool, rtol=0, atol=1e-15) and k[2] == 0.0
    assert trade_cost(0.0, 5.0, f, 0.0) == pytest.approx(f / g * 5 / (1 + f / g * 5), rel=1e-14)


def test_bad_input_raises_naming_the_parameter() -> None:
    gbm = GBM(mu=0.1, sigma=0.5)
    with pytest.raises(ValueError, match="transition"):
        DecisionProblem(np.array([0.1, 0.2]), np.array([0.5, 0.5]), np.eye(2) * 0.5)
    with pytest.raises(ValueError, match="leverage_grid"):
        DecisionProblem.from_gbm(gbm, leverage_grid=np.array([1.0, 2.0]))  # no 0
    with pytest.raises(ValueError, match="leverage_grid"):
        DecisionProblem.from_gbm(gbm, leverage_grid=np.array([0.0, 250.0]))  # beyond 1/m
    with pytest.raises(ValueError, match="sigma"):
        DecisionProblem(np.array([0.1]), np.array([0.0]), np.ones((1, 1)))
    with pytest.raises(ValueError, match="fee"):
        DecisionProblem.from_gbm(gbm, fee=0.5)
    with pytest.raises(ValueError, match="process"):
        DecisionProblem.from_gbm(RegimeSwitchingGBM())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_buckets"):
        DecisionProblem.from_garch(GARCH11(), n_buckets=1)
    problem = DecisionProblem.from_gbm(gbm, leverage_grid=leverage_grid(2.0, 0.5))
    with pytest.raises(ValueError, match="horizon"):
        solve_finite_horizon(problem, 0)
    with pytest.raises(ValueError, match="gamma"):
        solve_discounted(problem, 1.0)
    with pytest.raises(ValueError, match="tol"):
        solve_discounted(problem, 0.9, tol=0.0)
    with pytest.raises(ValueError, match="problem"):
        solve_finite_horizon("gbm", 10)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_paths"):
        simulate_policy(problem, ConstantLeverage(1.0), 1, 10, rng)
    with pytest.raises(ValueError, match="regime0"):
        simulate_policy(problem, ConstantLeverage(1.0), 10, 10, rng, regime0=3)
    with pytest.raises(ValueError, match="policy"):
        simulate_policy(problem, lambda s: np.zeros(3), 10, 10, rng)
    with pytest.raises(ValueError, match="continuous"):
        simulate_policy(
            DecisionProblem(np.array([0.1]), np.array([0.5]), np.ones((1, 1))),
            ConstantLeverage(1.0), 10, 10, rng, continuous=True,
        )  # fmt: skip
    sol = solve_finite_horizon(problem, 5)
    with pytest.raises(ValueError, match="step"):
        OraclePolicy(sol)(MarketState(5, np.zeros(1, dtype=np.intp), np.ones(1), np.zeros(1)))
    with pytest.raises(ValueError, match="depth"):
        trade_cost(0.0, 100.0, 0.003, 0.02)
    with pytest.raises(ValueError, match="band"):
        ConstantLeverage(1.0, band=1.0)
    with pytest.raises(ValueError, match="n_episodes"):
        simulate_in_env(regimes_problem()[0], ConstantLeverage(1.0), 1, seed=0)

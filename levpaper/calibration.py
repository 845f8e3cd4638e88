r"""Fitting the book's price processes to real log returns by maximum likelihood (sections 4.2-4.3).

Three fits, each returning a :class:`Fit` that holds the fitted :mod:`levpaper.processes` object
(so the rest of the library can simulate it), the estimates with standard errors, the maximised
log-likelihood and the AIC:

* :func:`fit_gbm` -- :class:`~levpaper.processes.GBM`, closed-form MLE (the mean and the
  ``ddof=0`` variance of the log returns), standard errors from the Fisher information and the
  delta method.
* :func:`fit_merton` -- :class:`~levpaper.processes.MertonJumpDiffusion`, by numerical
  maximisation (``scipy.optimize.minimize``) of the exact density of a one-step log return,
  a Poisson mixture of normals; standard errors from the inverse of the numerical Hessian of the
  log-likelihood (the observed information), mapped to the model's parameters by the delta
  method. No maintained Python library fits Merton's model by maximum likelihood, hence the
  own implementation.
* :func:`fit_garch` -- :class:`~levpaper.processes.GARCH11` with the ``arch`` package (constant
  mean, normal innovations, robust Bollerslev-Wooldridge standard errors), mapped to the book's
  convention: ``arch`` fits :math:`100 r_t = c + \varepsilon_t` with
  :math:`\sigma_t^2 = \omega + \alpha\varepsilon_{t-1}^2 + \beta\sigma_{t-1}^2`, the book has
  :math:`r_t = \mu\Delta t - h_t/2 + \varepsilon_t`; so :math:`\omega_\text{book} =
  \omega/10^4`, :math:`\alpha, \beta` unchanged and :math:`\mu = (c/100 + \bar h/2)/\Delta t`.

:func:`log_likelihood` evaluates any of the three models on any returns (the book's GARCH
recursion from the unconditional variance), which gives the hold-out comparison;
:func:`return_quantiles` gives each model's quantiles of the one-step log return for tail and QQ
comparisons; :func:`liquidation_monte_carlo` simulates each model's liquidation probability with
a Brownian-bridge correction inside every step, the model counterpart of
:func:`levpaper.data.empirical_liquidation`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from levpaper._validate import FloatArray, one_of, positive, positive_int
from levpaper.data import Candles, liquidation_frequency
from levpaper.first_passage import Side, liquidation_barrier, liquidation_probability
from levpaper.processes import GARCH11, GBM, HOURLY_DT, MertonJumpDiffusion

__all__ = [
    "Fit",
    "Model",
    "fit_garch",
    "fit_gbm",
    "fit_merton",
    "liquidation_comparison",
    "liquidation_monte_carlo",
    "log_likelihood",
    "return_quantiles",
]

Model = GBM | MertonJumpDiffusion | GARCH11
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Fit:
    """A fitted model with its estimates, standard errors and information criteria.

    Attributes
    ----------
    name : str
        ``"GBM"``, ``"Merton"`` or ``"GARCH(1,1)"``.
    model : GBM, MertonJumpDiffusion or GARCH11
        The fitted process, ready to simulate.
    estimates : dict
        The model's parameters (the :mod:`levpaper.processes` names, annualised where the class
        is), str to float.
    se : dict
        Their standard errors.
    loglik : float
        Maximised log-likelihood of the returns, in the book's convention of the model.
    n_obs : int
        Number of returns.
    extra : dict
        Further values of a fit (GARCH: ``arch``'s own log-likelihood and the unconditional
        annualised volatility).
    """

    name: str
    model: Model
    estimates: dict[str, float]
    se: dict[str, float]
    loglik: float
    n_obs: int
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def n_params(self) -> int:
        """Number of free parameters."""
        return len(self.estimates)

    @property
    def aic(self) -> float:
        """Akaike information criterion :math:`2k - 2\\ln\\hat L`."""
        return 2.0 * self.n_params - 2.0 * self.loglik

    @property
    def bic(self) -> float:
        """Bayesian information criterion :math:`k\\ln n - 2\\ln\\hat L`."""
        return self.n_params * math.log(self.n_obs) - 2.0 * self.loglik


def _sample(returns: npt.ArrayLike, dt: float, minimum: int = 10) -> tuple[FloatArray, float]:
    """The checked returns (1-d, at least ``minimum``, finite) and step (> 0) of a fit."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size < minimum or not np.all(np.isfinite(r)):
        raise ValueError(f"returns must be a 1-d array of >= {minimum} finite values")
    return r, float(positive("dt", dt))


def fit_gbm(returns: npt.ArrayLike, dt: float = HOURLY_DT) -> Fit:
    r"""GBM by maximum likelihood: :math:`r_t \sim N((\mu - \sigma^2/2)\Delta t, \sigma^2\Delta t)`.

    :math:`\hat m = \bar r`, :math:`\hat v = \frac1n\sum(r_t - \bar r)^2`, then
    :math:`\hat\sigma = \sqrt{\hat v/\Delta t}`, :math:`\hat\mu = \hat m/\Delta t +
    \hat\sigma^2/2`, with :math:`\mathrm{se}(\hat\sigma) = \hat\sigma/\sqrt{2n}` and
    :math:`\mathrm{se}(\hat\mu)^2 = \hat v/(n\Delta t^2) + \hat v^2/(2n\Delta t^2)`.

    Examples
    --------
    >>> r = GBM(mu=0.5, sigma=0.8).simulate(1, 50_000, np.random.default_rng(0), log=True)
    >>> f = fit_gbm(np.diff(r[0]))
    >>> round(f.estimates["sigma"], 2), round(f.se["sigma"], 4)
    (0.8, 0.0025)
    """
    r, step = _sample(returns, dt)
    n = r.size
    m, v = float(r.mean()), float(r.var())
    sigma = math.sqrt(v / step)
    mu = m / step + 0.5 * sigma**2
    se_mu = math.sqrt(v / n + v * v / (2.0 * n)) / step
    model = GBM(mu=mu, sigma=sigma)
    return Fit(
        "GBM",
        model,
        {"mu": mu, "sigma": sigma},
        {"mu": se_mu, "sigma": sigma / math.sqrt(2.0 * n)},
        log_likelihood(model, r, step),
        n,
    )


def _n_components(rate: float) -> int:
    """Poisson counts 0..K-1 kept in the mixture: the mass beyond is below about 1e-12."""
    return math.ceil(rate + 8.0 * math.sqrt(rate) + 6.0) if rate > 0 else 1


def _mixture(
    r: FloatArray, a: float, sd2: float, rate: float, mj: float, sj2: float, grad: bool
) -> tuple[FloatArray, FloatArray | None]:
    """Log density of each return under the Poisson mixture of normals with per-step drift
    ``a``, diffusion variance ``sd2``, jump probability ``rate``, jump mean ``mj`` and variance
    ``sj2``; with ``grad``, also the summed gradient in (a, sd2, rate, mj, sj2)."""
    k = np.arange(_n_components(rate), dtype=np.float64)
    logw = k * math.log(rate) - rate - special.gammaln(k + 1) if rate > 0 else np.zeros(1)
    var = sd2 + k * sj2
    z = r[:, None] - (a + k * mj)
    inv = 1.0 / var
    terms = (logw - 0.5 * (_LOG_2PI + np.log(var))) - 0.5 * (z * z) * inv
    top = terms.max(axis=1, keepdims=True)
    np.subtract(terms, top, out=terms)
    np.exp(terms, out=terms)
    total = terms.sum(axis=1, keepdims=True)
    logf = (np.log(total) + top)[:, 0]
    if not grad:
        return logf, None
    post = terms / total  # posterior probability of each jump count
    zi = z * inv
    dvar = 0.5 * (zi * zi - inv)
    g = np.array([
        float(np.sum(post * zi)),
        float(np.sum(post * dvar)),
        float(np.sum(post @ (k / rate - 1.0))) if rate > 0 else 0.0,
        float(np.sum((post * zi) @ k)),
        float(np.sum((post * dvar) @ k)),
    ])  # fmt: skip
    return logf, g


def _merton_logpdf(
    r: FloatArray, mu: float, sigma: float, lam: float, mj: float, sj: float, dt: float
) -> FloatArray:
    """Log density of a one-step Merton log return (Poisson mixture of normals)."""
    comp = math.expm1(mj + 0.5 * sj * sj)
    a = (mu - 0.5 * sigma * sigma - lam * comp) * dt
    return _mixture(r, a, sigma * sigma * dt, lam * dt, mj, sj * sj, grad=False)[0]


def _garch_filter(model: GARCH11, r: FloatArray, h0: float | None = None) -> FloatArray:
    """Conditional variances :math:`h_t` of the book's GARCH(1,1) along the returns ``r``."""
    a, b, w, mdt = model.alpha, model.beta, model.omega, model.mu * model.dt
    h = np.empty(r.size)
    hv = model.unconditional_variance if h0 is None else h0
    for t, rt in enumerate(r.tolist()):
        h[t] = hv
        e = rt - mdt + 0.5 * hv
        hv = w + a * e * e + b * hv
    return h


def log_likelihood(model: Model, returns: npt.ArrayLike, dt: float = HOURLY_DT) -> float:
    r"""Log-likelihood of hourly (``dt``) log returns under ``model``.

    GBM and Merton: the sum of the exact one-step log densities. GARCH(1,1): the Gaussian
    conditional log-likelihood of the book's recursion (:class:`~levpaper.processes.GARCH11`),
    started at the unconditional variance; its own ``dt`` must equal ``dt``.

    Examples
    --------
    >>> r = np.array([0.01, -0.02, 0.005])
    >>> round(log_likelihood(GBM(sigma=0.8), r), 3)
    7.939
    """
    r, step = _sample(returns, dt, minimum=1)
    if isinstance(model, GBM):
        m, v = model.log_drift * step, model.sigma**2 * step
        return float(-0.5 * np.sum(_LOG_2PI + math.log(v) + (r - m) ** 2 / v))
    if isinstance(model, MertonJumpDiffusion):
        return float(
            np.sum(
                _merton_logpdf(
                    r, model.mu, model.sigma, model.intensity, model.jump_mean, model.jump_std, step
                )
            )
        )
    if isinstance(model, GARCH11):
        if not math.isclose(model.dt, step):
            raise ValueError(f"dt must equal the GARCH model's dt {model.dt!r}, got {dt!r}")
        h = _garch_filter(model, r)
        e = r - model.mu * model.dt + 0.5 * h
        return float(-0.5 * np.sum(_LOG_2PI + np.log(h) + e * e / h))
    raise ValueError(f"model must be a GBM, MertonJumpDiffusion or GARCH11, got {model!r}")


def fit_merton(
    returns: npt.ArrayLike,
    dt: float = HOURLY_DT,
    *,
    starts: Sequence[tuple[float, float]] = ((0.02, 3.0),),
) -> Fit:
    r"""Merton jump diffusion by maximum likelihood of the Poisson-mixture density.

    The one-step log return has density :math:`\sum_k e^{-\lambda\Delta t}(\lambda\Delta t)^k/k!
    \,\varphi(r; a + k\mu_J, \sigma^2\Delta t + k\sigma_J^2)` with :math:`a = (\mu - \sigma^2/2 -
    \lambda\kappa)\Delta t` (:class:`~levpaper.processes.MertonJumpDiffusion`). It is maximised by
    L-BFGS-B over unconstrained parameters (drift and jump mean in units of the sample standard
    deviation :math:`s`, logs of :math:`\sigma\sqrt{\Delta t}/s`, :math:`\lambda\Delta t` and
    :math:`\sigma_J/s`), from each of ``starts`` (pairs of :math:`\lambda\Delta t` and
    :math:`\sigma_J/s`), keeping the best. Standard errors: the inverse Hessian of the negative
    log-likelihood in those parameters, mapped by the Jacobian of the model's parameters.

    Raises
    ------
    ValueError
        If ``returns`` is not a 1-d array of at least 10 finite values, or no start converges.

    Examples
    --------
    >>> truth = MertonJumpDiffusion(mu=0.0, sigma=0.6, intensity=300.0, jump_mean=-0.01,
    ...                             jump_std=0.03)
    >>> r = np.diff(truth.simulate(1, 40_000, np.random.default_rng(3), log=True)[0])
    >>> f = fit_merton(r)
    >>> abs(f.estimates["intensity"] - 300) < 4 * f.se["intensity"]
    True
    """
    r, step = _sample(returns, dt)
    s = float(r.std())

    def parts(theta: FloatArray) -> tuple[float, float, float, float, float]:
        c, lsig, lrate, mj, lsj = theta.tolist()
        return c * s, math.exp(2 * lsig) * s * s, math.exp(lrate), mj * s, math.exp(2 * lsj) * s * s

    def natural(theta: FloatArray) -> FloatArray:
        a, sd2, rate, jm, sj2 = parts(theta)
        sigma, lam = math.sqrt(sd2 / step), rate / step
        mu = a / step + 0.5 * sigma * sigma + lam * math.expm1(jm + 0.5 * sj2)
        return np.array([mu, sigma, lam, jm, math.sqrt(sj2)])

    def nll(theta: FloatArray) -> tuple[float, FloatArray]:
        a, sd2, rate, jm, sj2 = parts(theta)
        logf, g = _mixture(r, a, sd2, rate, jm, sj2, grad=True)
        assert g is not None
        val = -float(np.sum(logf))
        chain = np.array([s, 2.0 * sd2, rate, s, 2.0 * sj2])
        if not math.isfinite(val):
            return 1e300, np.zeros(5)
        return val, -g * chain

    best: optimize.OptimizeResult | None = None
    m0 = float(r.mean()) / s
    bounds = [(-5.0, 5.0), (-6.0, 1.0), (-14.0, math.log(3.0)), (-20.0, 20.0), (-6.0, 4.0)]
    for rate0, sj0 in starts:
        x0 = np.array([m0, math.log(0.7), math.log(rate0), 0.0, math.log(sj0)])
        res = optimize.minimize(nll, x0, jac=True, method="L-BFGS-B", bounds=bounds)
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    if not math.isfinite(best.fun) or best.fun >= 1e300:
        raise ValueError("returns: the Merton likelihood could not be maximised")
    theta = np.asarray(best.x, dtype=np.float64)
    hess = np.empty((5, 5))
    for j in range(5):
        e = np.zeros(5)
        e[j] = 1e-5 * max(abs(theta[j]), 1.0)
        hess[:, j] = (nll(theta + e)[1] - nll(theta - e)[1]) / (2.0 * e[j])
    cov_theta = np.linalg.pinv(0.5 * (hess + hess.T))
    jac = np.empty((5, 5))
    for j in range(5):
        e = np.zeros(5)
        e[j] = 1e-6 * max(abs(theta[j]), 1.0)
        jac[:, j] = (natural(theta + e) - natural(theta - e)) / (2.0 * e[j])
    cov = jac @ cov_theta @ jac.T
    est = natural(theta)
    names = ("mu", "sigma", "intensity", "jump_mean", "jump_std")
    model = MertonJumpDiffusion(*(float(v) for v in est))
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    return Fit(
        "Merton",
        model,
        dict(zip(names, (float(v) for v in est), strict=True)),
        dict(zip(names, (float(v) for v in se), strict=True)),
        -float(best.fun),
        r.size,
    )


def fit_garch(returns: npt.ArrayLike, dt: float = HOURLY_DT) -> Fit:
    r"""GARCH(1,1) with the ``arch`` package, mapped to :class:`~levpaper.processes.GARCH11`.

    ``arch_model(100 r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal")`` with robust
    standard errors; the returns are scaled by 100 for the optimiser and the estimates mapped back
    (module docstring). ``loglik`` is the book-convention log-likelihood at the mapped estimates
    (:func:`log_likelihood`); ``extra["arch_loglik"]`` is ``arch``'s own value for the unscaled
    returns (its constant mean and backcast start differ slightly).

    Raises
    ------
    ValueError
        If the fit is not stationary (:math:`\alpha + \beta \ge 1`) or did not converge.

    Examples
    --------
    >>> truth = GARCH11.from_annual_volatility(0.8, alpha=0.08, beta=0.9)
    >>> r = np.diff(truth.simulate(1, 30_000, np.random.default_rng(5), log=True)[0])
    >>> f = fit_garch(r)
    >>> abs(f.estimates["alpha"] - 0.08) < 4 * f.se["alpha"]
    True
    """
    from arch import arch_model

    r, step = _sample(returns, dt)
    res = arch_model(
        100.0 * r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False
    ).fit(disp="off")
    if res.convergence_flag != 0:
        raise ValueError(
            f"returns: the arch GARCH(1,1) fit did not converge ({res.convergence_flag})"
        )
    p, e = res.params, res.std_err
    c, omega, alpha, beta = (float(p[k]) for k in ("mu", "omega", "alpha[1]", "beta[1]"))
    if not alpha + beta < 1.0:
        raise ValueError(f"returns: fitted alpha + beta = {alpha + beta} is not stationary")
    w = omega / 1e4
    hbar = w / (1.0 - alpha - beta)
    mu = (c / 100.0 + 0.5 * hbar) / step
    model = GARCH11(omega=w, alpha=alpha, beta=beta, mu=mu, dt=step)
    est = {"mu": mu, "omega": w, "alpha": alpha, "beta": beta}
    se = {
        "mu": float(e["mu"]) / 100.0 / step,
        "omega": float(e["omega"]) / 1e4,
        "alpha": float(e["alpha[1]"]),
        "beta": float(e["beta[1]"]),
    }
    arch_ll = float(res.loglikelihood) + r.size * math.log(100.0)
    return Fit(
        "GARCH(1,1)",
        model,
        est,
        se,
        log_likelihood(model, r, step),
        r.size,
        {"arch_loglik": arch_ll, "annual_volatility": model.annual_volatility},
    )


def return_quantiles(
    model: Model,
    probs: npt.ArrayLike,
    rng: np.random.Generator,
    dt: float = HOURLY_DT,
    *,
    n_paths: int = 200,
    n_steps: int = 2000,
) -> FloatArray:
    r"""Quantiles of the one-step log return under ``model``.

    GBM: the normal quantile. Merton: the mixture CDF inverted by root finding. GARCH(1,1): the
    empirical quantiles of ``n_paths * n_steps`` simulated returns (the stationary mixture of
    normals over the conditional variance has no closed form); ``rng`` is used only there.

    Examples
    --------
    >>> q = return_quantiles(GBM(sigma=0.8), [0.5, 0.999], np.random.default_rng(0))
    >>> round(float(q[1]) / (0.8 * (1 / 8760) ** 0.5), 3)  # z_0.999 = 3.090
    3.086
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim > 1 or not np.all((p > 0) & (p < 1)):
        raise ValueError(f"probs must be a 1-d array of probabilities in (0, 1), got {probs!r}")
    step = float(positive("dt", dt))
    p = np.atleast_1d(p)
    if isinstance(model, GBM):
        return np.asarray(
            model.log_drift * step + model.sigma * math.sqrt(step) * special.ndtri(p),
            dtype=np.float64,
        )
    if isinstance(model, MertonJumpDiffusion):
        sd = model.total_volatility * math.sqrt(step)
        args = (model.mu, model.sigma, model.intensity, model.jump_mean, model.jump_std, step)
        grid = np.linspace(-60 * sd, 60 * sd, 24001)
        logpdf = _merton_logpdf(grid, *args)
        cdf = np.cumsum(np.exp(logpdf)) * (grid[1] - grid[0])
        cdf /= cdf[-1]
        return np.asarray(np.interp(p, cdf, grid), dtype=np.float64)
    if isinstance(model, GARCH11):
        paths = model.simulate(positive_int("n_paths", n_paths), positive_int("n_steps", n_steps),
                               rng, log=True)  # fmt: skip
        r = np.diff(paths, axis=1).ravel()
        return np.asarray(np.quantile(r, p), dtype=np.float64)
    raise ValueError(f"model must be a GBM, MertonJumpDiffusion or GARCH11, got {model!r}")


def _increments(
    model: Model, n_paths: int, n_steps: int, rng: np.random.Generator, dt: float, burn: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per step: diffusion increment, jump increment, diffusion variance (path-major)."""
    if isinstance(model, GARCH11):
        _, h = model.simulate_with_variance(n_paths, burn + n_steps, rng, log=True)
        h = h[:, burn:]
        diff = model.mu * model.dt - 0.5 * h + np.sqrt(h) * rng.standard_normal(h.shape)
        return diff, np.zeros_like(diff), h
    if isinstance(model, GBM):
        v = model.sigma**2 * dt
        diff = model.log_drift * dt + math.sqrt(v) * rng.standard_normal((n_paths, n_steps))
        return diff, np.zeros_like(diff), np.full_like(diff, v)
    v = model.sigma**2 * dt
    a = (model.mu - 0.5 * model.sigma**2 - model.intensity * model.compensator) * dt
    diff = a + math.sqrt(v) * rng.standard_normal((n_paths, n_steps))
    k = rng.poisson(model.intensity * dt, size=(n_paths, n_steps)).astype(np.float64)
    jumps = k * model.jump_mean + np.sqrt(k) * model.jump_std * rng.standard_normal(k.shape)
    return diff, jumps, np.full_like(diff, v)


def liquidation_monte_carlo(
    model: Model,
    leverage: npt.ArrayLike,
    side: Side,
    horizons_hours: Sequence[int],
    n_paths: int,
    rng: np.random.Generator,
    maintenance: float = 0.005,
    *,
    dt: float = HOURLY_DT,
    burn: int = 500,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Monte Carlo liquidation probability of each leverage and horizon under ``model``.

    Simulates ``n_paths`` hourly paths of the log price from :math:`P_0 = 1`. Within each step the
    diffusion part is a Brownian bridge, crossing the barrier with probability
    :math:`e^{-2d_0d_1/v}` (:math:`d_0, d_1` the log distances to the barrier at the start of the
    step and at the end of its diffusion part, :math:`v` the step's diffusion variance: constant
    for GBM and Merton, :math:`h_t` for GARCH); a Merton jump lands at the end of the step. The
    estimate is the mean of the conditional crossing probabilities (continuous monitoring, as a
    candle's high and low see it); the hourly-checked estimate counts the paths whose price at an
    hour's end is beyond the barrier. A GARCH path is started after ``burn`` hours from the
    unconditional variance, so that its start variance is drawn from (close to) the stationary
    law, as a random start hour of the data is.

    Parameters
    ----------
    model : GBM, MertonJumpDiffusion or GARCH11
    leverage : float or array_like, 1-d
        Leverages :math:`L \ge 1`.
    side : {"long", "short"}
    horizons_hours : sequence of int
        Horizons in steps, each in ``[1, max]``.
    n_paths : int
        Paths, >= 2.
    rng : numpy.random.Generator
    maintenance : float, default 0.005
    dt : float, default :data:`~levpaper.processes.HOURLY_DT`
    burn : int, default 500
        GARCH burn-in steps.

    Returns
    -------
    continuous, standard_error, hourly : ndarray, shape (n_leverages, n_horizons)

    Examples
    --------
    >>> from levpaper.first_passage import liquidation_probability
    >>> p, se, _ = liquidation_monte_carlo(GBM(sigma=0.8), [25], "long", [24], 4000,
    ...                                    np.random.default_rng(0))
    >>> exact = liquidation_probability(25, 1 / 365, 0.8)
    >>> bool(abs(p[0, 0] - exact) < 4 * se[0, 0])
    True
    """
    s = one_of("side", side, ("long", "short"))
    levs = np.atleast_1d(np.asarray(leverage, dtype=np.float64))
    hs = [positive_int("horizons_hours", h) for h in horizons_hours]
    n = positive_int("n_paths", n_paths)
    if n < 2:
        raise ValueError(f"n_paths must be >= 2, got {n}")
    if not hs:
        raise ValueError("horizons_hours must not be empty")
    step = float(positive("dt", dt))
    n_steps = max(hs)
    diff, jumps, var = _increments(model, n, n_steps, rng, step, positive_int("burn", burn))
    sign = 1.0 if s == "long" else -1.0
    x_end_diff = np.cumsum(diff + jumps, axis=1) - jumps  # log price after the diffusion part
    x_post = x_end_diff + jumps
    x_start = np.concatenate([np.zeros((n, 1)), x_post[:, :-1]], axis=1)
    cont = np.empty((levs.size, len(hs)))
    se = np.empty_like(cont)
    hourly = np.empty_like(cont)
    idx = np.array(hs) - 1
    for i, lev in enumerate(levs.tolist()):
        lb = math.log(float(liquidation_barrier(lev, maintenance, side)))
        d0 = sign * (x_start - lb)
        d1 = sign * (x_end_diff - lb)
        d2 = sign * (x_post - lb)
        q = np.exp(-2.0 * np.maximum(d0, 0.0) * np.maximum(d1, 0.0) / var)
        q = np.where((d0 <= 0) | (d1 <= 0), 1.0, q)
        with np.errstate(divide="ignore"):
            log_surv = np.log1p(-q) + np.where(d2 <= 0, -np.inf, 0.0)
        prob = -np.expm1(np.cumsum(log_surv, axis=1))[:, idx]
        cont[i] = prob.mean(axis=0)
        se[i] = prob.std(axis=0, ddof=1) / math.sqrt(n)
        hit = np.maximum.accumulate(d2 <= 0, axis=1)[:, idx]
        hourly[i] = hit.mean(axis=0)
    return cont, se, hourly


def liquidation_comparison(
    candles: Candles,
    fits: Sequence[Fit],
    leverages: Sequence[float],
    horizons_hours: Sequence[int],
    rng: np.random.Generator,
    *,
    maintenance: float = 0.005,
    n_paths: int = 20_000,
    n_boot: int = 1000,
) -> list[dict[str, float | str]]:
    r"""The empirical liquidation frequency on real candles beside each model's prediction.

    One row per side, leverage and horizon: the empirical share of start hours liquidated with
    intra-hour touches (:func:`levpaper.data.liquidation_frequency`, a moving-block bootstrap
    95% interval) and with hourly checks of the close (likewise); the E15 closed form
    (:func:`levpaper.first_passage.liquidation_probability`, continuous monitoring) with each
    fit's drift and (total, unconditional) volatility; the BGK-corrected hourly value with the GBM
    fit; and each fit's Monte Carlo (:func:`liquidation_monte_carlo`, continuous monitoring, and
    its standard error). Keys: ``side``, ``L``, ``hours``, ``empirical``, ``ci_low``,
    ``ci_high``, ``empirical_hourly``, ``hourly_ci_low``, ``hourly_ci_high``,
    ``closed_<name>``, ``bgk_GBM``, ``mc_<name>``, ``mc_se_<name>`` with ``<name>`` each fit's
    name.

    Raises
    ------
    ValueError
        If ``fits`` holds no GBM fit (needed for the BGK column).
    """
    gbm = [f for f in fits if isinstance(f.model, GBM)]
    if not gbm:
        raise ValueError("fits must include a GBM fit")
    g = gbm[0].model
    assert isinstance(g, GBM)
    levs = [float(v) for v in leverages]
    hs = [positive_int("horizons_hours", h) for h in horizons_hours]
    rows: list[dict[str, float | str]] = []
    for side in ("long", "short"):
        mc = {
            f.name: liquidation_monte_carlo(f.model, levs, side, hs, n_paths, rng, maintenance)
            for f in fits
        }
        for i, lev in enumerate(levs):
            for j, h in enumerate(hs):
                t = h * HOURLY_DT
                emp = liquidation_frequency(candles, lev, side, h, rng, maintenance,
                                            n_boot=n_boot)  # fmt: skip
                hourly = liquidation_frequency(candles, lev, side, h, rng, maintenance,
                                               intrahour=False, n_boot=n_boot)  # fmt: skip
                row: dict[str, float | str] = {"side": side, "L": lev, "hours": h,
                    "empirical": emp.estimate, "ci_low": emp.low, "ci_high": emp.high,
                    "empirical_hourly": hourly.estimate, "hourly_ci_low": hourly.low,
                    "hourly_ci_high": hourly.high}  # fmt: skip
                for f in fits:
                    vol = _volatility(f.model)
                    p = liquidation_probability(
                        lev, t, vol, mu=f.model.mu, maintenance=maintenance, side=side
                    )
                    row[f"closed_{f.name}"] = float(p)
                row["bgk_GBM"] = float(liquidation_probability(
                    lev, t, g.sigma, mu=g.mu, maintenance=maintenance, side=side,
                    dt=HOURLY_DT))  # fmt: skip
                for f in fits:
                    row[f"mc_{f.name}"] = float(mc[f.name][0][i, j])
                    row[f"mc_se_{f.name}"] = float(mc[f.name][1][i, j])
                rows.append(row)
    return rows


def _volatility(model: Model) -> float:
    """Annualised (total, unconditional) volatility of the log price."""
    if isinstance(model, GBM):
        return model.sigma
    if isinstance(model, MertonJumpDiffusion):
        return model.total_volatility
    return model.annual_volatility

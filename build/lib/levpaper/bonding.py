r"""Power-law bonding curves and the exchange between two of them (section 2.1, E3 and E4).

A bonding curve sells a token at a price set by its supply :math:`S`. The paper's curve is the
power law (E3)

.. math:: P(S) = \alpha S^\beta, \qquad \alpha > 0,\ \beta > -1,

and minting or burning moves along it. The numeraire held against the supply is the area under
the price, the reserve

.. math:: R(S) = \int_0^S \alpha s^\beta\, ds = \frac{\alpha S^{\beta+1}}{\beta+1},

finite only for :math:`\beta > -1`. Minting :math:`\Delta S` costs
:math:`R(S+\Delta S) - R(S)`; burning it refunds :math:`R(S) - R(S-\Delta S)`. The reserve is the
fraction :math:`R/(PS) = 1/(\beta+1)` of the supply's market value: Bancor's connector weight.

The paper's exchange rate between two curves (E4), :math:`\alpha S_A^\beta/(\gamma S_B^\delta)`,
is the **marginal** rate: units of B per unit of A for an infinitesimal exchange.
An exchange of a finite :math:`\Delta A` burns A for the refund
:math:`c = R_A(S_A) - R_A(S_A - \Delta A)` and mints B with it, solving
:math:`R_B(S_B + \Delta B) = R_B(S_B) + c` through the inverse of the power integral. Its
executed rate :math:`\Delta B/\Delta A` is the marginal rate times two factors: the mean price of
A over the burnt range relative to :math:`P_A(S_A)`, and :math:`P_B(S_B)` relative to the mean
price of B over the minted range. For increasing curves (:math:`\beta, \delta \ge 0`) both factors
are at most one and the executed rate is worse than the marginal one; for decreasing curves
(:math:`-1 < \beta, \delta < 0`) it is **better** (the paper's claim needs
:math:`\beta, \delta \ge 0`).

Differences of reserves are computed as :math:`R(S)\,\mathrm{expm1}((\beta+1)\,
\mathrm{log1p}(\Delta S/S))`, accurate to a few ulps even for :math:`\Delta S \ll S` where the
plain difference would cancel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from levpaper._validate import FloatArray, finite, nonnegative, positive, scalar_or_array

__all__ = [
    "MAX_SUPPLY_GROWTH",
    "CurveExchange",
    "CurveToken",
    "PowerBondingCurve",
    "exchange",
    "exchange_tokens",
    "marginal_rate",
]

_R = TypeVar("_R", bound="float | FloatArray")


def _finite_result(name: str, arr: FloatArray) -> FloatArray:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} overflows float64 for these arguments")
    return arr


@dataclass(frozen=True, slots=True)
class PowerBondingCurve:
    r"""The power-law bonding curve :math:`P(S) = \alpha S^\beta` (E3). Immutable; its methods
    are pure functions of the supply, vectorised over numpy arrays.

    Parameters
    ----------
    alpha : float
        Scale :math:`\alpha`, finite and > 0.
    beta : float
        Exponent :math:`\beta`, finite and > -1 (the reserve integral diverges at :math:`-1`).

    Raises
    ------
    ValueError
        If ``alpha <= 0``, ``beta <= -1`` or either is not finite.

    Examples
    --------
    >>> curve = PowerBondingCurve(alpha=2.0, beta=1.0)  # linear price 2 S
    >>> curve.price(10.0), curve.reserve(10.0), curve.connector_weight
    (20.0, 100.0, 0.5)
    >>> round(curve.mint_cost(10.0, 1.0), 12)  # R(11) - R(10) = 121 - 100
    21.0
    """

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        a = positive("alpha", self.alpha)
        b = finite("beta", self.beta)
        if a.ndim != 0 or b.ndim != 0:
            raise TypeError("alpha and beta must be scalars")
        if not b > -1.0:
            raise ValueError(f"beta must be > -1, got {self.beta!r}")
        object.__setattr__(self, "alpha", float(a))
        object.__setattr__(self, "beta", float(b))

    @property
    def connector_weight(self) -> float:
        r"""Bancor's connector weight :math:`R/(P S) = 1/(\beta+1)`."""
        return 1.0 / (self.beta + 1.0)

    # -- kernels (validated arrays in, arrays out) --------------------------------------------

    def _reserve(self, s: FloatArray) -> FloatArray:
        e = self.beta + 1.0
        with np.errstate(over="ignore"):  # overflow is reported by the public methods
            return self.alpha * np.power(s, e) / e

    def _supply(self, r: FloatArray) -> FloatArray:
        e = self.beta + 1.0
        with np.errstate(over="ignore"):
            return np.power(r * e / self.alpha, 1.0 / e)

    def _mint_cost(self, s: FloatArray, ds: FloatArray) -> FloatArray:
        e = self.beta + 1.0
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            t = e * np.log1p(ds / s)  # inf where s == 0
            small = t <= 1.0
            near = self._reserve(s) * np.expm1(np.where(small, t, 0.0))
            far = self._reserve(s + ds) - self._reserve(s)
        return np.where(small, near, far)

    def _burn_refund(self, s: FloatArray, ds: FloatArray) -> FloatArray:
        e = self.beta + 1.0
        with np.errstate(divide="ignore"):
            # log(1 - ds/s), accurate also for ds close to s, where s - ds is exact (Sterbenz);
            # -inf where ds == s: the whole reserve is refunded
            half = ds <= 0.5 * s
            t = e * np.where(half, np.log1p(-ds / s), np.log(np.where(half, s, s - ds) / s))
        return self._reserve(s) * -np.expm1(t)

    def _mint_for(self, s: FloatArray, c: FloatArray) -> FloatArray:
        e = self.beta + 1.0
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            r0 = self._reserve(s)
            t = np.log1p(c / r0) / e  # inf where s == 0
            small = t <= 1.0
            near = s * np.expm1(np.where(small, t, 0.0))
            far = self._supply(r0 + c) - s
            return np.where(small, near, far)

    # -- public, validated --------------------------------------------------------------------

    def price(self, supply: npt.ArrayLike) -> float | FloatArray:
        r"""Marginal price :math:`P(S) = \alpha S^\beta` in the numeraire (E3).

        Parameters
        ----------
        supply : float or array_like
            Supply :math:`S`, finite and > 0.

        Returns
        -------
        float or ndarray
            The price.

        Raises
        ------
        ValueError
            If ``supply`` is not finite and positive, or the price overflows.

        Examples
        --------
        >>> PowerBondingCurve(2.0, 0.5).price([1.0, 4.0, 9.0])
        array([2., 4., 6.])
        """
        s = positive("supply", supply)
        with np.errstate(over="ignore", divide="ignore"):
            p = self.alpha * np.power(s, self.beta)
        return scalar_or_array(_finite_result("price", p))

    def reserve(self, supply: npt.ArrayLike) -> float | FloatArray:
        r"""Reserve :math:`R(S) = \alpha S^{\beta+1}/(\beta+1)`, the area under the price.

        Parameters
        ----------
        supply : float or array_like
            Supply, finite and >= 0.

        Returns
        -------
        float or ndarray
            Numeraire held against the supply.

        Raises
        ------
        ValueError
            If ``supply`` is negative or not finite, or the reserve overflows.

        Examples
        --------
        >>> PowerBondingCurve(3.0, 2.0).reserve(2.0)  # integral of 3 s^2 from 0 to 2
        8.0
        """
        s = nonnegative("supply", supply)
        return scalar_or_array(_finite_result("reserve", self._reserve(s)))

    def supply_for_reserve(self, reserve: npt.ArrayLike) -> float | FloatArray:
        r"""Supply at which the reserve is ``reserve``, :math:`((\beta+1)R/\alpha)^{1/(\beta+1)}`.

        Parameters
        ----------
        reserve : float or array_like
            Reserve, finite and >= 0.

        Returns
        -------
        float or ndarray
            The supply, the inverse of :meth:`reserve`.

        Raises
        ------
        ValueError
            If ``reserve`` is negative or not finite, or the supply overflows.

        Examples
        --------
        >>> PowerBondingCurve(3.0, 2.0).supply_for_reserve(8.0)
        2.0
        """
        r = nonnegative("reserve", reserve)
        return scalar_or_array(_finite_result("supply", self._supply(r)))

    def mint_cost(self, supply: npt.ArrayLike, amount: npt.ArrayLike) -> float | FloatArray:
        r"""Numeraire paid to mint ``amount`` at supply ``supply``: :math:`R(S+\Delta S) - R(S)`.

        Parameters
        ----------
        supply : float or array_like
            Supply before minting, finite and >= 0.
        amount : float or array_like
            Tokens minted, finite and > 0.

        Returns
        -------
        float or ndarray
            The cost, above :math:`P(S)\Delta S` for :math:`\beta > 0`.

        Raises
        ------
        ValueError
            Naming the parameter that is out of range, or if the cost overflows.

        Examples
        --------
        >>> PowerBondingCurve(1.0, 0.0).mint_cost(5.0, 2.0)  # constant price 1
        2.0
        """
        s = nonnegative("supply", supply)
        ds = positive("amount", amount)
        return scalar_or_array(_finite_result("mint cost", self._mint_cost(s, ds)))

    def burn_refund(self, supply: npt.ArrayLike, amount: npt.ArrayLike) -> float | FloatArray:
        r"""Numeraire refunded for burning ``amount`` at supply ``supply``:
        :math:`R(S) - R(S-\Delta S)`.

        Parameters
        ----------
        supply : float or array_like
            Supply before burning, finite and > 0.
        amount : float or array_like
            Tokens burned, finite, > 0 and <= ``supply``.

        Returns
        -------
        float or ndarray
            The refund; burning the whole supply returns the whole reserve.

        Raises
        ------
        ValueError
            Naming the parameter that is out of range.

        Examples
        --------
        >>> PowerBondingCurve(2.0, 1.0).burn_refund(11.0, 1.0)  # R(11) - R(10)
        21.0
        """
        s = positive("supply", supply)
        ds = positive("amount", amount)
        if not np.all(ds <= s):
            raise ValueError(f"amount must be <= supply, got {amount!r} > {supply!r}")
        return scalar_or_array(_finite_result("burn refund", self._burn_refund(s, ds)))

    def mint_for(self, supply: npt.ArrayLike, payment: npt.ArrayLike) -> float | FloatArray:
        r"""Tokens minted for paying ``payment``: solves :math:`R(S+\Delta S) = R(S) + c`.

        .. math:: \Delta S = S\left[\left(1 + \frac{c}{R(S)}\right)^{1/(\beta+1)} - 1\right]

        which is Bancor's purchase return with connector weight :math:`1/(\beta+1)`.

        Parameters
        ----------
        supply : float or array_like
            Supply before minting, finite and >= 0.
        payment : float or array_like
            Numeraire paid, finite and > 0.

        Returns
        -------
        float or ndarray
            Tokens minted, the inverse of :meth:`mint_cost`.

        Raises
        ------
        ValueError
            Naming the parameter that is out of range, or if the result overflows.

        Examples
        --------
        >>> round(PowerBondingCurve(2.0, 1.0).mint_for(10.0, 21.0), 12)
        1.0
        """
        s = nonnegative("supply", supply)
        c = positive("payment", payment)
        return scalar_or_array(_finite_result("minted amount", self._mint_for(s, c)))


def marginal_rate(
    curve_a: PowerBondingCurve,
    supply_a: npt.ArrayLike,
    curve_b: PowerBondingCurve,
    supply_b: npt.ArrayLike,
) -> float | FloatArray:
    r"""The paper's exchange rate (E4): B per unit of A for an infinitesimal exchange.

    .. math:: \frac{P_A(S_A)}{P_B(S_B)} = \frac{\alpha S_A^\beta}{\gamma S_B^\delta}

    Parameters
    ----------
    curve_a, curve_b : PowerBondingCurve
        The curves of A (:math:`\alpha, \beta`) and of B (:math:`\gamma, \delta`).
    supply_a, supply_b : float or array_like
        Supplies, finite and > 0.

    Returns
    -------
    float or ndarray
        The marginal rate.

    Raises
    ------
    ValueError
        If a supply is not finite and positive.

    Examples
    --------
    >>> marginal_rate(PowerBondingCurve(2.0, 1.0), 10.0, PowerBondingCurve(1.0, 0.5), 4.0)
    10.0
    """
    pa = np.asarray(curve_a.price(supply_a))
    pb = np.asarray(curve_b.price(supply_b))
    return scalar_or_array(pa / pb)


class CurveExchange(NamedTuple, Generic[_R]):
    """A burn-A, mint-B exchange between two bonding curves (see :func:`exchange`).

    Attributes
    ----------
    refund : float or ndarray
        Numeraire released by burning A and paid into B's reserve.
    amount_b : float or ndarray
        B minted.
    executed_rate : float or ndarray
        ``amount_b / amount_a``.
    marginal_rate : float or ndarray
        :func:`marginal_rate` before the exchange (E4).
    """

    refund: _R
    amount_b: _R
    executed_rate: _R
    marginal_rate: _R


def exchange(
    curve_a: PowerBondingCurve,
    supply_a: npt.ArrayLike,
    amount_a: npt.ArrayLike,
    curve_b: PowerBondingCurve,
    supply_b: npt.ArrayLike,
) -> CurveExchange[float | FloatArray]:
    r"""Exchange ``amount_a`` of A for B: burn A on its curve, mint B with the refund (E4).

    The refund is :math:`c = R_A(S_A) - R_A(S_A - \Delta A)` and
    :math:`\Delta B = S_B[(1 + c/R_B(S_B))^{1/(\delta+1)} - 1]`. The executed rate
    :math:`\Delta B/\Delta A` equals :func:`marginal_rate` in the limit
    :math:`\Delta A \to 0`; for a finite amount it is lower when both curves increase
    (:math:`\beta, \delta \ge 0`, not both 0) and higher when both decrease.

    Parameters
    ----------
    curve_a, curve_b : PowerBondingCurve
        The curves of A and of B.
    supply_a : float or array_like
        Supply of A before the exchange, finite and > 0.
    amount_a : float or array_like
        A burned, finite, > 0 and <= ``supply_a``.
    supply_b : float or array_like
        Supply of B before the exchange, finite and > 0.

    Returns
    -------
    CurveExchange
        Refund, B minted, executed and marginal rates.

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Examples
    --------
    >>> a, b = PowerBondingCurve(2.0, 1.0), PowerBondingCurve(1.0, 0.5)
    >>> ex = exchange(a, 10.0, 1.0, b, 4.0)
    >>> round(ex.refund, 6), round(ex.executed_rate, 6), ex.marginal_rate
    (19.0, 7.003442, 10.0)
    """
    rate = marginal_rate(curve_a, supply_a, curve_b, supply_b)
    da = positive("amount_a", amount_a)
    refund = np.asarray(curve_a.burn_refund(supply_a, da))
    db = np.asarray(curve_b.mint_for(supply_b, refund))
    return CurveExchange(
        scalar_or_array(refund),
        scalar_or_array(db),
        scalar_or_array(db / da),
        rate,
    )


MAX_SUPPLY_GROWTH: float = 1e6
r"""Largest factor by which one mint may grow a positive supply of a :class:`CurveToken`.

The token's reserve is implicit, :math:`R(S)`, so it is only as precise as the float64 supply.
After a mint that grows the supply :math:`K`-fold the old supply is resolved only to
:math:`\epsilon K` relative; on a concave curve (:math:`\beta < 0`) that error moves the reserve
by more than rounding, and a round trip could return more than it cost (without this limit,
burning 999 of a flat-priced A for B with :math:`\beta_B = -0.875` at supply 1, a 6e16-fold
mint, and exchanging the B back returned 1007 A).
Mints beyond this factor are refused; :math:`\epsilon K \le 2.2 \times 10^{-10}` below it."""


class CurveToken:
    r"""A token issued on a bonding curve, with its supply as state.

    The reserve is always ``curve.reserve(supply)``. Minting from a positive supply may grow it by
    at most :data:`MAX_SUPPLY_GROWTH` per call.

    Parameters
    ----------
    curve : PowerBondingCurve
        The price curve.
    supply : float, default 0.0
        Supply outstanding, finite and >= 0.

    Raises
    ------
    ValueError
        If ``supply`` is negative or not finite.

    Examples
    --------
    >>> token = CurveToken(PowerBondingCurve(2.0, 1.0))
    >>> token.mint(10.0)  # from zero supply: R(10)
    100.0
    >>> token.burn(4.0), token.supply
    (64.0, 6.0)
    """

    __slots__ = ("curve", "supply")

    def __init__(self, curve: PowerBondingCurve, supply: float = 0.0) -> None:
        s = nonnegative("supply", supply)
        if s.ndim != 0:
            raise TypeError("supply must be a scalar")
        self.curve = curve
        self.supply = float(s)

    def __repr__(self) -> str:
        return f"CurveToken(curve={self.curve!r}, supply={self.supply!r})"

    @property
    def reserve(self) -> float:
        """Numeraire held against the supply."""
        return float(self.curve.reserve(self.supply))

    @property
    def price(self) -> float:
        """Marginal price at the current supply (raises ``ValueError`` at zero supply)."""
        return float(self.curve.price(self.supply))

    def _check_growth(self, name: str, minted: float, value: object) -> None:
        if self.supply > 0.0 and minted > (MAX_SUPPLY_GROWTH - 1.0) * self.supply:
            raise ValueError(
                f"{name} would grow the supply more than {MAX_SUPPLY_GROWTH:g}-fold, beyond the "
                f"resolution of float64, got {value!r}"
            )

    def quote_mint(self, amount: float) -> float:
        """Cost of minting ``amount``, without minting; raises ``ValueError`` as :meth:`mint`."""
        cost = float(self.curve.mint_cost(self.supply, amount))
        self._check_growth("amount", float(amount), amount)
        return cost

    def mint(self, amount: float) -> float:
        """Mint ``amount``; return its cost.

        Raises
        ------
        ValueError
            If ``amount`` is not finite and positive, or grows the supply more than
            :data:`MAX_SUPPLY_GROWTH`-fold; the supply is then unchanged.
        """
        cost = self.quote_mint(amount)
        self.supply += float(amount)
        return cost

    def quote_burn(self, amount: float) -> float:
        """Refund for burning ``amount``, without burning; raises ``ValueError`` as :meth:`burn`."""
        return float(self.curve.burn_refund(self.supply, amount))

    def burn(self, amount: float) -> float:
        """Burn ``amount``; return the refund.

        Raises
        ------
        ValueError
            Unless ``0 < amount <= supply``; the supply is then unchanged.
        """
        refund = self.quote_burn(amount)
        self.supply = max(self.supply - float(amount), 0.0)
        return refund

    def quote_buy(self, payment: float) -> float:
        """Tokens minted for ``payment``, without minting; raises ``ValueError`` as :meth:`buy`."""
        minted = float(self.curve.mint_for(self.supply, payment))
        self._check_growth("payment", minted, payment)
        return minted

    def buy(self, payment: float) -> float:
        """Pay ``payment`` of numeraire; return the tokens minted.

        Raises
        ------
        ValueError
            If ``payment`` is not finite and positive, or grows the supply more than
            :data:`MAX_SUPPLY_GROWTH`-fold; the supply is then unchanged.
        """
        minted = self.quote_buy(payment)
        self.supply += minted
        return minted


def exchange_tokens(token_a: CurveToken, token_b: CurveToken, amount_a: float) -> float:
    r"""Burn ``amount_a`` of ``token_a`` and mint ``token_b`` with the refund; return B minted.

    The stateful form of :func:`exchange`. Both supplies change only if the whole exchange is
    valid.

    Raises
    ------
    ValueError
        If ``amount_a`` is out of range for ``token_a``'s supply, or the mint would grow
        ``token_b``'s supply more than :data:`MAX_SUPPLY_GROWTH`-fold; neither token changes.

    Examples
    --------
    >>> a = CurveToken(PowerBondingCurve(2.0, 1.0), 10.0)
    >>> b = CurveToken(PowerBondingCurve(1.0, 0.5), 4.0)
    >>> round(exchange_tokens(a, b, 1.0), 6), a.supply
    (7.003442, 9.0)
    """
    if token_a is token_b:
        raise ValueError("token_a and token_b must be different tokens")
    refund = token_a.quote_burn(amount_a)
    minted = token_b.quote_buy(refund)
    token_a.supply = max(token_a.supply - float(amount_a), 0.0)
    token_b.supply += minted
    return minted

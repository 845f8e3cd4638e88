"""levpaper: the executable, verified edition of a paper on 100x leveraged RL agents on an AMM.

One module per concept of the paper:

* :mod:`levpaper.pool` -- the constant-product pool (section 2.1, E1-E2);
* :mod:`levpaper.processes` -- price processes: GBM, Merton jumps, GARCH(1,1);
* :mod:`levpaper.first_passage` -- the liquidation probability (section 4.2, E15);
* :mod:`levpaper.risk` -- volatility, VaR/ES, tail measures and the risk controls (E16-E19);
* :mod:`levpaper.ledger` -- the equation ledger the book renders.

The most used names are re-exported here; everything else is reached through its module.
"""

from levpaper import first_passage, ledger, pool, processes, risk
from levpaper.first_passage import (
    first_passage_monte_carlo,
    first_passage_probability,
    liquidation_barrier,
    paper_liquidation_probability,
)
from levpaper.pool import (
    ConstantProductPool,
    amount_in_for,
    amount_out,
    execution_price,
    post_trade_price_ratio,
    slippage,
    spot_price,
)
from levpaper.processes import GARCH11, GBM, MertonJumpDiffusion

__version__ = "0.1.0"

__all__ = [
    "GARCH11",
    "GBM",
    "ConstantProductPool",
    "MertonJumpDiffusion",
    "__version__",
    "amount_in_for",
    "amount_out",
    "execution_price",
    "first_passage",
    "first_passage_monte_carlo",
    "first_passage_probability",
    "ledger",
    "liquidation_barrier",
    "paper_liquidation_probability",
    "pool",
    "post_trade_price_ratio",
    "processes",
    "risk",
    "slippage",
    "spot_price",
]

"""levpaper: the executable, verified edition of a paper on 100x leveraged RL agents on an AMM.

One module per concept of the paper:

* :mod:`levpaper.kernel` -- the market's arithmetic, each formula once (swaps, arbitrage to the
  fee band, closing, settlement, the liquidation rule), on floats and arrays alike: the layer
  every engine below calls;
* :mod:`levpaper.pool` -- the constant-product pool (section 2.1, E1-E2): swaps, liquidity,
  arbitrage, impermanent loss and loss-versus-rebalancing;
* :mod:`levpaper.pool_batch` -- the same operations on arrays of pools;
* :mod:`levpaper.bonding` -- power-law bonding curves and exchanges between them (E3-E4);
* :mod:`levpaper.leverage` -- closed forms of leverage: liquidation prices, fee drag, growth
  and Kelly leverage (sections 2.2 and 4.1, E5-E8, E13-E14);
* :mod:`levpaper.margin` -- margin accounts traded through the pool, the liquidation engine,
  the insurance fund and bad debt;
* :mod:`levpaper.processes` -- price processes: GBM, Merton jumps, GARCH(1,1);
* :mod:`levpaper.first_passage` -- the liquidation probability (section 4.2, E15);
* :mod:`levpaper.risk` -- volatility, VaR/ES, tail measures and the risk controls (E16-E19);
* :mod:`levpaper.env`, :mod:`levpaper.vector_env` -- the paper's decision problem as a
  Gymnasium environment ``levpaper/LeveragedSwap-v0`` (section 3.1, E9-E11), single and batched;
* :mod:`levpaper.shared_env` -- several agents' margin accounts on one pool (section 3.3);
* :mod:`levpaper.agents`, :mod:`levpaper.training` -- the baselines (fixed, Kelly, the
  volatility-adjusted L* of E12) and a numpy evolution-strategies learner with curriculum,
  adversarial and multi-agent options, evaluated on held-out seeds (sections 3.2-3.3);
* :mod:`levpaper.market` -- the multi-agent market: many leveraged traders on shared pools,
  liquidation cascades, scenarios, risk controls and stress tests (sections 4.3, 5-7);
* :mod:`levpaper.ledger` -- the equation ledger the book renders.

The most used names are re-exported here; everything else is reached through its module.
"""

from levpaper import (
    agents,
    bonding,
    env,
    first_passage,
    kernel,
    ledger,
    leverage,
    margin,
    market,
    pool,
    pool_batch,
    processes,
    risk,
    shared_env,
    training,
    vector_env,
)
from levpaper.agents import (
    FixedLeverage,
    KellyLeverage,
    LinearPolicy,
    RandomPolicy,
    VolatilityAdjustedLeverage,
)
from levpaper.bonding import CurveToken, PowerBondingCurve, marginal_rate
from levpaper.env import ENV_ID, LeveragedSwapConfig, LeveragedSwapEnv
from levpaper.first_passage import (
    first_passage_monte_carlo,
    first_passage_probability,
    liquidation_barrier,
    paper_liquidation_probability,
)
from levpaper.leverage import (
    bankruptcy_price,
    growth_rate,
    kelly_leverage,
    liquidation_price,
    net_profit,
)
from levpaper.margin import MarginAccount, MarginConfig, PositionBook
from levpaper.market import (
    Control,
    Market,
    MarketConfig,
    Scenario,
    run_many,
    run_scenario,
    stress_table,
)
from levpaper.pool import (
    ConstantProductPool,
    amount_in_for,
    amount_out,
    arbitrage_trade,
    execution_price,
    impermanent_loss,
    lvr_rate,
    no_arbitrage_band,
    position_value,
    post_trade_price_ratio,
    price_impact,
    rebalancing_loss,
    slippage,
    spot_price,
)
from levpaper.pool_batch import PoolBatch
from levpaper.processes import GARCH11, GBM, MertonJumpDiffusion
from levpaper.shared_env import SharedPoolEnv
from levpaper.training import TrainConfig, TrainResult, evaluate, load_policy, save_policy, train
from levpaper.vector_env import LeveragedSwapVectorEnv

__version__ = "0.1.0"

__all__ = [
    "ENV_ID",
    "GARCH11",
    "GBM",
    "ConstantProductPool",
    "Control",
    "CurveToken",
    "FixedLeverage",
    "KellyLeverage",
    "LeveragedSwapConfig",
    "LeveragedSwapEnv",
    "LeveragedSwapVectorEnv",
    "LinearPolicy",
    "MarginAccount",
    "MarginConfig",
    "Market",
    "MarketConfig",
    "MertonJumpDiffusion",
    "PoolBatch",
    "PositionBook",
    "PowerBondingCurve",
    "RandomPolicy",
    "Scenario",
    "SharedPoolEnv",
    "TrainConfig",
    "TrainResult",
    "VolatilityAdjustedLeverage",
    "__version__",
    "agents",
    "amount_in_for",
    "amount_out",
    "arbitrage_trade",
    "bankruptcy_price",
    "bonding",
    "env",
    "evaluate",
    "execution_price",
    "first_passage",
    "first_passage_monte_carlo",
    "first_passage_probability",
    "growth_rate",
    "impermanent_loss",
    "kelly_leverage",
    "kernel",
    "ledger",
    "leverage",
    "liquidation_barrier",
    "liquidation_price",
    "load_policy",
    "lvr_rate",
    "margin",
    "marginal_rate",
    "market",
    "net_profit",
    "no_arbitrage_band",
    "paper_liquidation_probability",
    "pool",
    "pool_batch",
    "position_value",
    "post_trade_price_ratio",
    "price_impact",
    "processes",
    "rebalancing_loss",
    "risk",
    "run_many",
    "run_scenario",
    "save_policy",
    "shared_env",
    "slippage",
    "spot_price",
    "stress_table",
    "train",
    "training",
    "vector_env",
]

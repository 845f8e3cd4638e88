"""levpaper: the executable, verified edition of a paper on 100x leveraged RL agents on an AMM.

Modules follow the paper's concepts: :mod:`levpaper.pool` (section 2.1, constant-product pool).
"""

from levpaper.pool import (
    ConstantProductPool,
    amount_in_for,
    amount_out,
    execution_price,
    post_trade_price_ratio,
    slippage,
    spot_price,
)

__version__ = "0.1.0"

__all__ = [
    "ConstantProductPool",
    "__version__",
    "amount_in_for",
    "amount_out",
    "execution_price",
    "post_trade_price_ratio",
    "slippage",
    "spot_price",
]

"""The pricing glue under the name other parts look it up by (the redeem hook's pricer).

Everything lives in :mod:`plugin.rules.service`; see there.
"""

from plugin.rules.service import (
    load_cart,
    price,
    price_for_domain,
    price_result,
    price_with_codes,
)

__all__ = ["load_cart", "price", "price_for_domain", "price_result", "price_with_codes"]

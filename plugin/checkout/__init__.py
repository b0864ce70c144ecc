"""Checkout: the one path every priced cart takes.

``pricing`` prices a cart (the pricing hook, ``POST /api/price-preview``, the admin's
"Try a cart", the in-process ``cart_price`` signal); ``redeem`` prices and redeems for an
order (the redeem hook and the ``checkout_redeem`` signal). Both load their inputs in one
place (one query for shop and customer, the codes only when typed, the rule snapshot) and
answer in the one shape of ``schemas.PricingAnswer``.
"""

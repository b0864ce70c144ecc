"""Engine-only cost of pricing a 50-line cart at 0, 1,000 and 10,000 active price rules.

The RuleSet is built once per size (as the hook would cache it), then the same
cart is priced many times; the figure is the mean time per ``price_cart`` call.
Run: ``.venv/bin/python bench/pricing_engine.py [--sizes 0,1000,10000] [--calls 2000]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugin.pricing import (  # noqa: E402
    Address,
    Audience,
    BenefitProgramme,
    Cart,
    CodeCandidate,
    CustomerContext,
    Discount,
    Group,
    Line,
    PriceAction,
    PriceRule,
    RuleSet,
    Scope,
    Segment,
    Shipping,
    Tier,
    TierAction,
    normalise_code,
    price_cart,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PRODUCTS = [f"p{i}" for i in range(5000)]
CATEGORIES = [f"c{i}" for i in range(200)]
GROUP_IDS = list(range(1, 21))
SEGMENT_IDS = list(range(100, 131))


def make_price_rules(count: int, rng: random.Random) -> list[PriceRule]:
    rules = []
    for i in range(1, count + 1):
        roll = rng.random()
        if roll < 0.6:
            scope = Scope("products", tuple(rng.sample(PRODUCTS, rng.randint(1, 5))))
        elif roll < 0.97:
            scope = Scope("categories", tuple(rng.sample(CATEGORIES, rng.randint(1, 3))))
        else:
            scope = Scope("all")
        roll = rng.random()
        if roll < 0.6:
            audience = Audience("groups", frozenset(rng.sample(GROUP_IDS, rng.randint(1, 3))))
        elif roll < 0.9:
            audience = Audience("segments", frozenset(rng.sample(SEGMENT_IDS, rng.randint(1, 3))))
        else:
            audience = Audience("all")
        action = rng.choice(
            [
                PriceAction("discount_percent", Decimal(rng.choice([5, 10, 15, "12.5"]))),
                PriceAction("increase_percent", Decimal(rng.choice([5, 10]))),
                PriceAction("discount_fixed", rng.randint(10, 500)),
                PriceAction("set_price", rng.randint(100, 5000)),
            ]
        )
        window = rng.random()
        starts_at = NOW - timedelta(days=10) if window < 0.8 else NOW + timedelta(days=10)
        rules.append(
            PriceRule(
                id=i,
                name=f"Rule {i}",
                audience=audience,
                scope=scope,
                action=action,
                priority=rng.randint(0, 10),
                starts_at=starts_at,
            )
        )
    return rules


def make_cart(rng: random.Random) -> Cart:
    lines = tuple(
        Line(
            id=f"l{i}",
            product_id=rng.choice(PRODUCTS),
            kind="product" if i % 10 else "service",
            category_ids=tuple(rng.sample(CATEGORIES, 2)),
            quantity=rng.randint(1, 4),
            unit_price=rng.randint(100, 10000),
        )
        for i in range(50)
    )
    return Cart(
        cart_id="k_bench",
        currency="EUR",
        customer_id="c1",
        channel="web",
        payment_method="paypal",
        shipping=Shipping("royal_mail", 500, Address("Paris", "FR")),
        lines=lines,
        codes=("SUMMER10",),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,1000,10000", help="price rules, comma-separated")
    parser.add_argument("--calls", type=int, default=2000, help="calls per round (3 rounds)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    rng = random.Random(42)
    cart = make_cart(rng)
    customer = CustomerContext(
        "c1", Group(1, "Wholesale", "#1e88e5"), (Segment(100, "Loyal"), Segment(101, "Business"))
    )
    codes = {
        normalise_code("SUMMER10"): CodeCandidate(
            "SUMMER10", True, Discount(1, "Summer 10%", "products", "percent", Decimal(10))
        )
    }
    programme = BenefitProgramme(
        id=1,
        name="Loyal tiers",
        audience=Audience("segments", frozenset({100})),
        priority=1,
        conditions=(),
        tiers=(
            Tier(5000, (TierAction("fixed_off_order", 500),)),
            Tier(15000, (TierAction("percent_off_order", Decimal(5)), TierAction("free_shipping"))),
        ),
    )
    print(f"50-line cart, {len(cart.codes)} code, 1 benefit programme; mean engine time per call")
    print(f"{'active price rules':>18}  {'build (ms)':>10}  {'per call (µs)':>13}  calls")
    for count in sizes:
        price_rules = make_price_rules(count, random.Random(count))
        started = time.perf_counter()
        ruleset = RuleSet.build(price_rules, programmes=[programme])
        build_ms = (time.perf_counter() - started) * 1000
        calls = args.calls
        price_cart(cart, customer, ruleset, codes, NOW)  # warm up
        best = float("inf")
        for _ in range(3):  # best of three rounds, to damp noise from the machine
            started = time.perf_counter()
            for _ in range(calls):
                price_cart(cart, customer, ruleset, codes, NOW)
            best = min(best, (time.perf_counter() - started) / calls)
        print(f"{count:>18,}  {build_ms:>10.1f}  {best * 1e6:>13.0f}  {calls}×3")


if __name__ == "__main__":
    main()

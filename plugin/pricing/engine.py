"""Price a cart: the pure implementation of the pricing hook (contract §4).

Steps, in the contract's order:

1. who the customer is (:class:`CustomerContext`, loaded by the caller);
2. a price list, else one price rule, per line gives ``rule_unit_price``
   (price lists: contract §8, :mod:`.offers`);
3. bundles take their set price from the units not yet bundled;
3b. offers (buy X get Y, contract §8) from the units no bundle took;
4. one benefit programme, at its highest tier reached, applies order-level benefits;
5. at most one code of each class applies (see :func:`_choose_code` for how the codes
   meet each other and the programme);
6. order-level percentages are computed on the subtotal after steps 2 and 3 and
   do not compound; fixed amounts are capped so that no line goes below 0;
7. order-level amounts are spread by largest remainder over what remains of lines;
8. gift rules add their gifts;
9. free shipping takes the shipping price down.

Choices where the contract leaves room:

- Windows are ``starts_at <= now < ends_at`` (a rule or code ending at ``now``
  has ended), for price rules, price lists, bundles, offers, gift rules and
  programmes alike. ``now`` is an argument: the engine never reads the clock.
- Price lists: the caller hands over only the entries a cart can use
  (``price_entries``, by list id then product id); a list of the snapshot that
  is not in its window or not for the customer prices nothing whatever entries
  it is given. A price-list line still takes bundles, offers, programmes and
  codes; only price rules pass it by. Its adjustment carries ``price_list_id``
  (no ``rule_id``), an offer's ``offer_id``.
- Offers: a get unit's discount is of its price after steps 2 and 3, per unit
  (a percentage rounded half-up per unit); one adjustment per line and offer.
  An application that cannot find its get units takes no buy units either, and
  the offer stops there. The subtotal "after steps 2 and 3" of tiers, gift
  triggers, minimums and order-level percentages is after the offers too.
- Who the customer is comes from :class:`CustomerContext` (its
  ``customer_id`` None is a guest), not from ``Cart.customer_id``; the caller
  keeps them equal.
- Price rules: a percentage gives ``round_half_up(unit_price × (100 ∓ p) / 100)``,
  i.e. the new unit price is what is rounded.
- Bundle ``percent_off`` is rounded half-up per set; ``fixed_total`` never
  raises a set's price. Units are taken from lines in cart order, and a
  bundle's discount is spread by largest remainder in proportion to the
  rule-priced value of the units it took from each line.
- Tier actions apply in their listed order; percentages are of the subtotal
  after steps 2 and 3, each capped by what is left. The programme is applied
  first, then the code, each capped by what the earlier one left.
- A ``free_shipping`` cap (``max_amount`` of a tier, ``value`` of a code) of
  None or 0 means the whole shipping price; a positive cap limits it.
- Codes (see :func:`_choose_code`): checked in request order; the first check
  that fails names the reason, a caller-given ``blocked_reason`` first of all.
  A repeated code is ``one_code_per_order``. Classes are filled first (the first
  valid code of each), then combinability between the two decides, then the
  programme comparison: a code refused by one of the later passes does not let a
  later valid code of its class in (that one stays ``one_code_per_order``). A
  programme that is not combinable with codes is compared with the codes that stay,
  measured together on the cart after steps 2 and 3 (order code first, then the
  shipping code), shipping savings included: they apply only when they save
  strictly more, and then the programme's benefits are dropped.
- The programme's benefits apply first, then the order code, then the shipping
  code, each capped by what the earlier ones left.
- The matching programme decides ``earns_loyalty_points`` even when a code
  displaced its benefits or no tier was reached: the merchant sets loyalty
  points for the customers the programme is for, independently of benefits
  (seed 001).
- Codes and code adjustments show the code as typed; the lookup is by
  :func:`normalise_code`.
- Adjustments of amount 0 (a rule that changes nothing) are left out; one
  adjustment per line per rule or code (tier actions are summed).
- The answer adds ``programme`` (id, name, tier index, status, reason) to the
  contract's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from .allocation import allocate
from .cart import Cart, CustomerContext, Line
from .codes import (
    CodeCandidate,
    CodeReason,
    Discount,
    applied_message,
    check_code,
    normalise_code,
    rejection_message,
)
from .money import apply_factor, percent_of
from .offers import apply_offers, price_list_units
from .result import (
    Adjustment,
    CodeResult,
    CustomerResult,
    GiftResult,
    LineResult,
    PricingResult,
    ProgrammeResult,
    ShippingResult,
)
from .rules import (
    BenefitProgramme,
    Condition,
    PriceAction,
    PriceEntries,
    PriceList,
    RuleSet,
    TierAction,
    customer_keys,
    in_window,
)
from .text import text_key


def price_cart(
    cart: Cart,
    customer: CustomerContext,
    rules: RuleSet,
    codes: Mapping[str, CodeCandidate],
    now: datetime,
    price_entries: PriceEntries | None = None,
) -> PricingResult:
    """Price ``cart`` for ``customer`` under ``rules`` at instant ``now`` (aware).

    ``price_entries`` are the entries of ``rules``' price lists that the cart may use
    (list id → product id → ``(min_quantity, price)`` pairs): only those of the cart's
    products need be given.

    ``codes`` maps each normalised typed code (:func:`normalise_code`) to what
    the database knows about it; a typed code missing from it is
    ``unknown_code``. Nothing is read from anywhere else: the same inputs give
    the same answer.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    lines = cart.lines
    keys = customer_keys(customer)

    # Step 2: a price list, else one price rule, per line.
    rule_units: list[int] = []
    adjustments: list[list[Adjustment]] = [[] for _ in lines]
    listed: list[tuple[PriceList, int] | None] = [None] * len(lines)
    if rules.price_lists and price_entries:
        listed = price_list_units(lines, rules.price_lists_for(customer, now), price_entries)
    chosen = rules.price_rules_for(((ln.product_id, ln.category_ids) for ln in lines), keys, now)
    for i, (line, rule) in enumerate(zip(lines, chosen, strict=True)):
        by_list = listed[i]
        if by_list is not None:
            price_list, unit = by_list
            rule_units.append(unit)
            moved = (unit - line.unit_price) * line.quantity
            if moved:
                adjustments[i].append(
                    Adjustment("price_list", price_list.name, moved, price_list_id=price_list.id)
                )
            continue
        unit = line.unit_price if rule is None else rule_unit_price(line.unit_price, rule.action)
        rule_units.append(unit)
        moved = (unit - line.unit_price) * line.quantity
        if rule is not None and moved:
            adjustments[i].append(Adjustment("price_rule", rule.name, moved, rule_id=rule.id))
    subtotals = [unit * line.quantity for unit, line in zip(rule_units, lines, strict=True)]

    # Step 3: bundles, then 3b: offers from the units no bundle took.
    discounts, units_left = _apply_bundles(lines, rule_units, rules, customer, adjustments, now)
    if rules.offers:
        offers = rules.offers_for((ln.product_id, ln.category_ids) for ln in lines)
        offered = apply_offers(lines, rule_units, units_left, offers, customer, now, adjustments)
        discounts = [d + o for d, o in zip(discounts, offered, strict=True)]
    bases = tuple(s - d for s, d in zip(subtotals, discounts, strict=True))
    base_subtotal = sum(bases)

    # Step 8 needs only the subtotal after steps 2 and 3: gifts.
    gifts = _gifts(lines, base_subtotal, rules, customer, now)

    # Step 4: the programme and its tier.
    programme = _matching_programme(cart, rules, customer, now)
    tier = None if programme is None else programme.tier_for(base_subtotal)
    tier_actions: tuple[TierAction, ...] = ()
    if programme is not None and tier is not None:
        tier_actions = programme.tiers[tier].actions

    shipping_price = 0 if cart.shipping is None else cart.shipping.price
    start = _Ledger(list(bases), shipping_price)

    # Step 5: codes.
    code_results, winners = _choose_code(
        cart, customer, codes, now, bases, start, programme, tier_actions
    )
    programme_blocked = any(winner.beat_programme for winner in winners)

    # Steps 6, 7 and 9: order-level amounts, programme first, then the code.
    ledger = start.copy()
    shipping_adjustments: list[Adjustment] = []
    if programme is not None and tier_actions and not programme_blocked:
        effect = _programme_effect(tier_actions, cart, bases, ledger)
        make = partial(Adjustment, "benefit_programme", programme.name, rule_id=programme.id)
        _record(effect, make, adjustments, shipping_adjustments, discounts)
    for winner in winners:
        effect = _code_effect(winner.discount, cart, bases, ledger)
        discount = winner.discount
        make = partial(
            Adjustment, "code", discount.name, code=winner.typed, discount_id=discount.id
        )
        _record(effect, make, adjustments, shipping_adjustments, discounts)

    # Positional (in the fields' order: id, quantity, unit_price, rule_unit_price,
    # subtotal, discount, total, adjustments): a third faster than keywords, once per line.
    line_results = tuple(
        LineResult(
            line.id,
            line.quantity,
            line.unit_price,
            rule_units[i],
            subtotals[i],
            discounts[i],
            subtotals[i] - discounts[i],
            tuple(adjustments[i]),
        )
        for i, line in enumerate(lines)
    )
    shipping_discount = shipping_price - ledger.shipping
    shipping = ShippingResult(
        price=shipping_price,
        discount=shipping_discount,
        total=ledger.shipping,
        adjustments=tuple(shipping_adjustments),
    )
    subtotal = sum(subtotals)
    discount_total = sum(discounts)
    return PricingResult(
        currency=cart.currency,
        customer=CustomerResult(
            group=None if customer.is_guest else customer.group,
            segments=() if customer.is_guest else customer.segments,
        ),
        lines=line_results,
        gifts=gifts,
        shipping=shipping,
        codes=code_results,
        earns_loyalty_points=True if programme is None else programme.earns_loyalty_points,
        subtotal=subtotal,
        discount_total=discount_total,
        shipping_total=shipping.total,
        total=subtotal - discount_total + shipping.total,
        programme=_programme_result(programme, tier, programme_blocked),
    )


def rule_unit_price(unit_price: int, action: PriceAction) -> int:
    """Return the unit price after a price rule's action, rounded half-up, never below 0."""
    if action.factor is not None:  # discount_percent, increase_percent
        price = apply_factor(unit_price, action.factor)
    elif action.type == "discount_fixed":
        price = unit_price - action.amount
    elif action.type == "increase_fixed":
        price = unit_price + action.amount
    else:  # set_price
        price = action.amount
    return max(0, price)


# --------------------------------------------------------------------------- bundles


def _apply_bundles(
    lines: Sequence[Line],
    rule_units: Sequence[int],
    rules: RuleSet,
    customer: CustomerContext,
    adjustments: list[list[Adjustment]],
    now: datetime,
) -> tuple[list[int], list[int]]:
    """Apply bundles in (priority, id) order; return each line's bundle discount and
    the units of each line that no bundle took (what offers may take).

    Units are taken from lines in cart order; a unit serves one bundle only.
    """
    units_left = [line.quantity for line in lines]
    if not rules.bundles:
        return [0] * len(lines), units_left
    lines_of: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        lines_of.setdefault(line.product_id, []).append(i)
    discounts = [0] * len(lines)

    for bundle in rules.bundles:
        needs = bundle.requirements()
        if (
            not needs
            or not in_window(bundle.starts_at, bundle.ends_at, now)
            or not bundle.audience.matches(customer)
        ):
            continue
        sets = min(sum(units_left[i] for i in lines_of.get(p, ())) // q for p, q in needs)
        if bundle.max_applications is not None:
            sets = min(sets, bundle.max_applications)
        if sets <= 0:
            continue
        weights = [0] * len(lines)
        discount = 0
        done = 0
        while done < sets:
            # Sets are identical while each product's first line with units left
            # can serve them whole; take as many of those at once.
            chunk = sets - done
            for product_id, quantity in needs:
                first = next(i for i in lines_of[product_id] if units_left[i] > 0)
                chunk = min(chunk, max(1, units_left[first] // quantity))
            value = 0
            for product_id, quantity in needs:
                wanted = quantity * chunk
                for i in lines_of[product_id]:
                    taken = min(wanted, units_left[i])
                    if taken:
                        units_left[i] -= taken
                        weights[i] += taken * rule_units[i]
                        value += taken * rule_units[i]
                        wanted -= taken
                    if not wanted:
                        break
            discount += bundle.price.discount_per_set(value // chunk) * chunk
            done += chunk
        for i, share in enumerate(allocate(discount, weights)):
            if share:
                discounts[i] += share
                adjustments[i].append(Adjustment("bundle", bundle.name, -share, rule_id=bundle.id))
    return discounts, units_left


# --------------------------------------------------------------------------- gifts


def _gifts(
    lines: Sequence[Line],
    base_subtotal: int,
    rules: RuleSet,
    customer: CustomerContext,
    now: datetime,
) -> tuple[GiftResult, ...]:
    gifts: list[GiftResult] = []
    for rule in rules.gift_rules:
        if not in_window(rule.starts_at, rule.ends_at, now) or not rule.audience.matches(customer):
            continue
        trigger = rule.trigger
        if trigger.type == "products":
            wanted = set(trigger.product_ids)
            units = sum(line.quantity for line in lines if line.product_id in wanted)
            met = bool(wanted) and units >= trigger.min_quantity
        else:
            met = base_subtotal >= trigger.min
        if met:
            gifts.append(
                GiftResult(
                    product_id=rule.gift.product_id,
                    quantity=rule.gift.quantity,
                    rule_id=rule.id,
                    label=rule.name,
                )
            )
    return tuple(gifts)


# --------------------------------------------------------------------------- programmes


def _matching_programme(
    cart: Cart, rules: RuleSet, customer: CustomerContext, now: datetime
) -> BenefitProgramme | None:
    """Return the active programme in its window of lowest (priority, id) whose audience
    and conditions hold."""
    if not rules.programmes:
        return None
    products = {line.product_id for line in cart.lines if line.quantity > 0}
    for programme in rules.programmes:
        if (
            in_window(programme.starts_at, programme.ends_at, now)
            and programme.audience.matches(customer)
            and all(condition_holds(c, cart, products) for c in programme.conditions)
        ):
            return programme
    return None


def _field_value(field: str, cart: Cart) -> str | None:
    shipping = cart.shipping
    if field == "shipping_city":
        return None if shipping is None or shipping.address is None else shipping.address.city
    if field == "shipping_country":
        return None if shipping is None or shipping.address is None else shipping.address.country
    if field == "carrier":
        return None if shipping is None else shipping.carrier
    if field == "payment_method":
        return cart.payment_method
    if field == "channel":
        return cart.channel
    raise KeyError(field)


def condition_holds(condition: Condition, cart: Cart, products: set[str]) -> bool:
    """Tell whether a programme condition holds for the cart.

    Strings compare ignoring case; a missing value (no shipping, no payment
    method) satisfies only ``is_not``. Unknown fields or operators never hold.
    """
    values = (condition.value,) if isinstance(condition.value, str) else condition.value
    if condition.field == "product_in_cart":
        if condition.op == "any_of":
            return any(v in products for v in values)
        if condition.op == "all_of":
            return all(v in products for v in values)
        return False
    try:
        actual = _field_value(condition.field, cart)
    except KeyError:
        return False
    # The segments' text key (NFKC, case-folded): "Straße" is "STRASSE", "ÉVRY" is "Évry"
    # whichever way the accent is written, as in segment conditions.
    wanted = condition.keys
    if condition.op in ("is", "any_of"):
        return actual is not None and text_key(actual) in wanted
    if condition.op == "is_not":
        return actual is None or text_key(actual) not in wanted
    return False


def _programme_result(
    programme: BenefitProgramme | None, tier: int | None, blocked: bool
) -> ProgrammeResult | None:
    if programme is None:
        return None
    if tier is None:
        reason: str | None = "no_tier_reached"
    elif blocked:
        reason = CodeReason.NOT_COMBINABLE.value
    else:
        reason = None
    return ProgrammeResult(
        id=programme.id,
        name=programme.name,
        tier=tier,
        status="applied" if reason is None else "not_applied",
        reason=reason,
    )


# --------------------------------------------------------------------------- order-level amounts


@dataclass(slots=True)
class _Ledger:
    """What remains of each line (after steps 2 and 3 and earlier benefits) and of shipping."""

    remaining: list[int]
    shipping: int

    def copy(self) -> _Ledger:
        return _Ledger(list(self.remaining), self.shipping)


@dataclass(frozen=True, slots=True)
class _Effect:
    """Amounts one benefit took from each line and from shipping (all >= 0)."""

    lines: tuple[int, ...]
    shipping: int

    @property
    def saving(self) -> int:
        return sum(self.lines) + self.shipping


def _take_from_lines(ledger: _Ledger, covered: Sequence[int], amount: int) -> list[int]:
    """Take ``amount`` (capped at what remains) from the covered lines, by largest remainder."""
    available = [ledger.remaining[i] for i in covered]
    parts = allocate(min(amount, sum(available)), available)
    taken = [0] * len(ledger.remaining)
    for i, part in zip(covered, parts, strict=True):
        taken[i] = part
        ledger.remaining[i] -= part
    return taken


def _take_shipping(ledger: _Ledger, cap: int | None) -> int:
    amount = ledger.shipping if not cap else min(cap, ledger.shipping)
    ledger.shipping -= amount
    return amount


def _carrier_listed(cart: Cart, carriers: Sequence[str]) -> bool:
    if cart.shipping is None:
        return False
    if not carriers:
        return True
    carrier = cart.shipping.carrier
    return carrier is not None and carrier.casefold() in {c.casefold() for c in carriers}


def _programme_effect(
    actions: Sequence[TierAction], cart: Cart, bases: Sequence[int], ledger: _Ledger
) -> _Effect:
    """Apply a tier's actions, in their order, to ``ledger``; return what they took."""
    covered = range(len(bases))
    total = [0] * len(bases)
    shipping = 0
    for action in actions:
        if action.type == "free_shipping":
            if _carrier_listed(cart, action.carriers):
                shipping += _take_shipping(ledger, action.max_amount)
            continue
        if action.type == "percent_off_order":
            amount = percent_of(sum(bases), action.percent)
        else:
            amount = action.amount
        taken = _take_from_lines(ledger, covered, amount)
        total = [a + b for a, b in zip(total, taken, strict=True)]
    return _Effect(tuple(total), shipping)


def _code_effect(discount: Discount, cart: Cart, bases: Sequence[int], ledger: _Ledger) -> _Effect:
    """Apply a valid code to ``ledger``; return what it took."""
    nothing = (0,) * len(bases)
    if discount.type == "free_shipping":
        if not _carrier_listed(cart, discount.carriers):
            return _Effect(nothing, 0)
        return _Effect(nothing, _take_shipping(ledger, discount.amount))
    covered = [i for i, line in enumerate(cart.lines) if line.kind == discount.line_kind]
    if discount.type == "percent":
        amount = percent_of(sum(bases[i] for i in covered), discount.percent)
    else:
        amount = discount.amount or 0
    return _Effect(tuple(_take_from_lines(ledger, covered, amount)), 0)


def _record(
    effect: _Effect,
    make: Callable[[int], Adjustment],
    adjustments: list[list[Adjustment]],
    shipping_adjustments: list[Adjustment],
    discounts: list[int],
) -> None:
    """Book what a benefit took as discounts and adjustments (one per line it touched)."""
    for i, amount in enumerate(effect.lines):
        if amount:
            discounts[i] += amount
            adjustments[i].append(make(-amount))
    if effect.shipping:
        shipping_adjustments.append(make(-effect.shipping))


# --------------------------------------------------------------------------- codes


@dataclass(frozen=True, slots=True)
class _Winner:
    """A code that applies: as typed, its discount, and whether it displaced the programme."""

    typed: str
    discount: Discount
    beat_programme: bool


def _codes_saving(
    discounts: Sequence[Discount], cart: Cart, bases: Sequence[int], ledger: _Ledger
) -> int:
    """The saving of the codes that stay, applied together (order code first) to ``ledger``."""
    ordered = sorted(discounts, key=_class_order)
    return sum(_code_effect(d, cart, bases, ledger).saving for d in ordered)


def _choose_code(
    cart: Cart,
    customer: CustomerContext,
    codes: Mapping[str, CodeCandidate],
    now: datetime,
    bases: Sequence[int],
    start: _Ledger,
    programme: BenefitProgramme | None,
    tier_actions: Sequence[TierAction],
) -> tuple[tuple[CodeResult, ...], tuple[_Winner, ...]]:
    """Decide every typed code, in request order; return the answers and the codes that
    apply (the order-class code first).

    Contract §8, in three passes. (1) Classes: the first valid code of each class
    (``order``: percent and fixed; ``shipping``: free shipping) is taken, a later valid
    code of a class already taken is ``one_code_per_order``, and so is a repeated code.
    (2) Two taken codes both stay only when both are ``combinable_with_other_codes``;
    otherwise the later typed is ``not_combinable_with_code``. (3) Against a programme
    that is not combinable with codes, the codes that stay are measured together (order
    and shipping savings summed) and the programme alone, both on the cart after steps 2
    and 3: the codes win only by saving strictly more, else each is ``not_combinable``.
    """
    reasons: list[str | None] = []
    discounts: list[Discount | None] = []
    seen: set[str] = set()
    taken: dict[str, int] = {}  # class → index of the typed code that took it
    for index, typed in enumerate(cart.codes):
        key = normalise_code(typed)
        candidate = codes.get(key)
        discount = None if candidate is None else candidate.discount
        reason: str | None
        if key in seen:
            reason = CodeReason.ONE_CODE_PER_ORDER
        else:
            seen.add(key)
            reason = check_code(candidate, cart=cart, customer=customer, line_bases=bases, now=now)
        if reason is None:
            assert discount is not None
            if discount.code_class in taken:
                reason = CodeReason.ONE_CODE_PER_ORDER
            else:
                taken[discount.code_class] = index
        reasons.append(reason)
        discounts.append(discount)

    staying = sorted(taken.values())
    if len(staying) == 2:
        first, second = (discounts[i] for i in staying)
        assert first is not None and second is not None
        if not (first.combinable_with_other_codes and second.combinable_with_other_codes):
            reasons[staying[1]] = CodeReason.NOT_COMBINABLE_WITH_CODE
            staying = staying[:1]

    exclusive = programme is not None and not programme.combinable_with_codes
    if staying and exclusive:
        programme_saving = _programme_effect(tier_actions, cart, bases, start.copy()).saving
        together = [d for d in (discounts[i] for i in staying) if d is not None]
        saving = _codes_saving(together, cart, bases, start.copy())
        if saving <= programme_saving:
            for i in staying:
                reasons[i] = CodeReason.NOT_COMBINABLE
            staying = []

    results: list[CodeResult] = []
    for typed, reason, discount in zip(cart.codes, reasons, discounts, strict=True):
        discount_id = None if discount is None else discount.id
        if reason is None:
            assert discount is not None
            results.append(
                CodeResult(typed, "applied", None, applied_message(discount), discount_id)
            )
        else:
            results.append(
                CodeResult(
                    typed, "rejected", str(reason), rejection_message(reason, discount), discount_id
                )
            )
    winners = []
    for i in sorted(staying, key=lambda i: _class_order(discounts[i])):
        discount = discounts[i]
        assert discount is not None
        winners.append(_Winner(cart.codes[i], discount, exclusive))
    return tuple(results), tuple(winners)


def _class_order(discount: Discount | None) -> int:
    """Order-class codes take their amounts before shipping-class ones."""
    return 0 if discount is not None and discount.code_class == "order" else 1

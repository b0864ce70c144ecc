"""Admin API schemas of price rules, bundles, gift rules, benefit programmes (contract §5),
price lists and offers (§8).

Input schemas check exactly the contract's §4 "Values": percents of a discount are > 0 and
≤ 100, of an increase > 0; fixed values and prices ≥ 0; anything else is a 422 naming the
field. Percents are loaded as basis points (``12.5`` → ``1250``, at most two decimals), the
form stored in the database, and dumped back as numbers of percent.

Whether the group or segment ids of an audience exist is checked by the operations (it
needs the shop); everything else is checked here.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from plugin.fields import HostId, SerialId, Strict, StrictInteger, Timestamp
from plugin.limits import MAX_SERIAL
from plugin.paging import page_of
from plugin.rules.audience import AUDIENCE_IDS
from plugin.rules.models import (
    AUDIENCE_TYPES,
    BUNDLE_PRICES,
    GIFT_TRIGGERS,
    OFFER_DISCOUNTS,
    PRICE_ACTIONS,
    PRICE_LIST_AUDIENCE_TYPES,
    SCOPE_TYPES,
)

MAX_IDS = 1000
MAX_ITEMS = 100
MAX_TIERS = 20
MAX_CONDITIONS = 20
PRIORITY_RANGE = validate.Range(min=-1_000_000, max=1_000_000)
TIER_ACTIONS = ("percent_off_order", "fixed_off_order", "free_shipping")
STRING_CONDITION_FIELDS = (
    "shipping_city",
    "shipping_country",
    "carrier",
    "payment_method",
    "channel",
)
CONDITION_FIELDS = (*STRING_CONDITION_FIELDS, "product_in_cart")
CONDITION_OPS = {
    **{name: ("is", "is_not", "any_of") for name in STRING_CONDITION_FIELDS},
    "product_in_cart": ("any_of", "all_of"),
}


# Values ---------------------------------------------------------------------------------


def percent_to_basis_points(value: Any, *, at_most_100: bool) -> int:
    """A number of percent as basis points; > 0, and ≤ 100 when ``at_most_100``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("Must be a number of percent, such as 10 or 12.5.")
    try:
        percent = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError("Must be a number of percent, such as 10 or 12.5.") from None
    if not percent.is_finite():
        raise ValidationError("Must be a number of percent, such as 10 or 12.5.")
    if percent <= 0:
        raise ValidationError("A percent must be above 0.")
    if at_most_100 and percent > 100:
        raise ValidationError("A percent off must be at most 100.")
    points = percent * 100
    if points != points.to_integral_value():
        raise ValidationError("A percent has at most two decimals.")
    if points > 1_000_000_000:
        raise ValidationError("This percent is too large.")
    return int(points)


def amount(value: Any) -> int:
    """Minor units: a whole number ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValidationError("Must be a whole number of minor units (cents), such as 1999.")
    if value < 0:
        raise ValidationError("Must be 0 or more.")
    if value > 10**15:
        raise ValidationError("This amount is too large.")
    return int(value)


def basis_points_to_percent(points: int) -> int | float:
    """``1250`` → ``12.5``; whole percents stay integers."""
    if points % 100 == 0:
        return points // 100
    return float(Decimal(points) / 100)


def _value_error(err: ValidationError) -> list[str]:
    messages = err.messages
    return list(messages) if isinstance(messages, list) else [str(messages)]


class Name(fields.String):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(min=1, max=255), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


def _ids(**kwargs: Any) -> fields.List:
    return fields.List(HostId(), validate=validate.Length(max=MAX_IDS), **kwargs)


# Shared parts ---------------------------------------------------------------------------


class AudienceIn(Strict):
    """``{"type": "all" | "guests"}`` or ``{"type": "groups" | "segments", "ids": [...]}``:
    ids of groups or segments of this shop. Deleting one later takes it out of the audience;
    an audience left with none matches nobody."""

    type = fields.String(required=True, validate=validate.OneOf(AUDIENCE_TYPES))
    ids = fields.List(
        SerialId(),
        load_default=list,
        validate=validate.Length(max=MAX_IDS),
    )

    @validates_schema
    def _ids_fit_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind, ids = data.get("type"), data.get("ids") or []
        if kind in ("groups", "segments") and not ids:
            raise ValidationError(f"Name at least one of the {kind}.", "ids")
        if kind in ("all", "guests") and ids:
            raise ValidationError(f"An audience of {kind} takes no ids.", "ids")

    @post_load
    def _distinct(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["ids"] = sorted(set(data.get("ids") or []))
        return data


def _all() -> dict[str, Any]:
    return {"type": "all", "ids": []}


class AudienceOut(Schema):
    """Who it is for: everyone, guests, or any of some groups or segments."""

    type = fields.String(attribute="audience_type")
    ids = fields.List(
        fields.Integer(), attribute="audience_ids", metadata={"description": AUDIENCE_IDS}
    )


# Price rules ----------------------------------------------------------------------------


class ScopeIn(Strict):
    """``{"type": "all"}`` or ``{"type": "categories" | "products", "ids": [...]}``."""

    type = fields.String(required=True, validate=validate.OneOf(SCOPE_TYPES))
    ids = _ids(load_default=list)

    @validates_schema
    def _ids_fit_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind, ids = data.get("type"), data.get("ids") or []
        if kind in ("categories", "products") and not ids:
            raise ValidationError(f"Name at least one of the {kind}.", "ids")
        if kind == "all" and ids:
            raise ValidationError("A scope of all products takes no ids.", "ids")

    @post_load
    def _distinct(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["ids"] = list(dict.fromkeys(data.get("ids") or []))
        return data


class PriceActionIn(Strict):
    """``{"type", "value"}``: percents for the percent actions, minor units otherwise."""

    type = fields.String(required=True, validate=validate.OneOf(PRICE_ACTIONS))
    value = fields.Raw(required=True)

    @validates_schema
    def _value_fits_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("type") not in PRICE_ACTIONS or "value" not in data:
            return
        try:
            data["value"] = price_action_value(data["type"], data["value"])
        except ValidationError as err:
            raise ValidationError({"value": _value_error(err)}) from None


def price_action_value(kind: str, value: Any) -> int:
    if kind == "discount_percent":
        return percent_to_basis_points(value, at_most_100=True)
    if kind == "increase_percent":
        return percent_to_basis_points(value, at_most_100=False)
    return amount(value)


class PriceRuleIn(Strict):
    name = Name(required=True)
    audience = fields.Nested(AudienceIn, load_default=_all)
    scope = fields.Nested(ScopeIn, load_default=lambda: {"type": "all", "ids": []})
    action = fields.Nested(PriceActionIn, required=True)
    priority = StrictInteger(load_default=0, validate=PRIORITY_RANGE)
    active = fields.Boolean(load_default=True)
    starts_at = Timestamp(allow_none=True, load_default=None)
    ends_at = Timestamp(allow_none=True, load_default=None)


class ScopeOut(Schema):
    type = fields.String(attribute="scope_type")
    ids = fields.List(fields.String(), attribute="scope_ids")


class PriceActionOut(Schema):
    type = fields.String(attribute="action_type")
    value = fields.Method("_value")

    def _value(self, row: Any) -> int | float:
        if row.action_type.endswith("_percent"):
            return basis_points_to_percent(row.action_value)
        return int(row.action_value)


class PriceRuleOut(Schema):
    id = fields.Integer()
    name = fields.String()
    audience = fields.Function(lambda row: AudienceOut().dump(row))
    scope = fields.Function(lambda row: ScopeOut().dump(row))
    action = fields.Function(lambda row: PriceActionOut().dump(row))
    priority = fields.Integer()
    active = fields.Boolean()
    starts_at = Timestamp()
    ends_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()


# Bundles --------------------------------------------------------------------------------


class BundleItemIn(Strict):
    product_id = HostId(required=True)
    quantity = StrictInteger(load_default=1, validate=validate.Range(min=1, max=10_000))


class BundlePriceIn(Strict):
    """``fixed_total`` (minor units per set) or ``percent_off`` (> 0 and ≤ 100)."""

    type = fields.String(required=True, validate=validate.OneOf(BUNDLE_PRICES))
    value = fields.Raw(required=True)

    @validates_schema
    def _value_fits_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("type") not in BUNDLE_PRICES or "value" not in data:
            return
        try:
            if data["type"] == "percent_off":
                data["value"] = percent_to_basis_points(data["value"], at_most_100=True)
            else:
                data["value"] = amount(data["value"])
        except ValidationError as err:
            raise ValidationError({"value": _value_error(err)}) from None


class BundleIn(Strict):
    name = Name(required=True)
    audience = fields.Nested(AudienceIn, load_default=_all)
    items = fields.List(
        fields.Nested(BundleItemIn),
        required=True,
        validate=validate.Length(min=1, max=MAX_ITEMS, error="A bundle has 1 to {max} items."),
    )
    price = fields.Nested(BundlePriceIn, required=True)
    max_applications = StrictInteger(
        allow_none=True, load_default=None, validate=validate.Range(min=1, max=MAX_SERIAL)
    )
    priority = StrictInteger(load_default=0, validate=PRIORITY_RANGE)
    active = fields.Boolean(load_default=True)
    starts_at = Timestamp(allow_none=True, load_default=None)
    ends_at = Timestamp(allow_none=True, load_default=None)


class BundleItemOut(Schema):
    product_id = fields.String()
    quantity = fields.Integer()


class BundlePriceOut(Schema):
    type = fields.String(attribute="price_type")
    value = fields.Method("_value")

    def _value(self, row: Any) -> int | float:
        if row.price_type == "percent_off":
            return basis_points_to_percent(row.price_value)
        return int(row.price_value)


class BundleOut(Schema):
    id = fields.Integer()
    name = fields.String()
    audience = fields.Function(lambda row: AudienceOut().dump(row))
    items = fields.List(fields.Nested(BundleItemOut))
    price = fields.Function(lambda row: BundlePriceOut().dump(row))
    max_applications = fields.Integer(allow_none=True)
    priority = fields.Integer()
    active = fields.Boolean()
    starts_at = Timestamp()
    ends_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()


# Gift rules -----------------------------------------------------------------------------


class GiftTriggerIn(Strict):
    """``{"type": "products", "product_ids", "min_quantity"}`` or
    ``{"type": "subtotal", "min"}``."""

    type = fields.String(required=True, validate=validate.OneOf(GIFT_TRIGGERS))
    product_ids = _ids(load_default=None)
    min_quantity = StrictInteger(load_default=None, validate=validate.Range(min=1, max=10_000))
    min = fields.Raw(load_default=None)

    @validates_schema
    def _fields_fit_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data.get("type") == "products":
            if not data.get("product_ids"):
                errors["product_ids"] = ["Name at least one product."]
            if data.get("min") is not None:
                errors["min"] = ["Only a subtotal trigger takes min."]
        elif data.get("type") == "subtotal":
            if data.get("min") is None:
                errors["min"] = ["A subtotal trigger needs min, in minor units."]
            else:
                try:
                    data["min"] = amount(data["min"])
                except ValidationError as err:
                    errors["min"] = _value_error(err)
            for name in ("product_ids", "min_quantity"):
                if data.get(name) is not None:
                    errors[name] = [f"Only a products trigger takes {name}."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _defaults(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["product_ids"] = list(dict.fromkeys(data.get("product_ids") or []))
        data["min_quantity"] = data.get("min_quantity") or 1
        data["min"] = data.get("min") or 0
        return data


class GiftIn(Strict):
    product_id = HostId(required=True)
    quantity = StrictInteger(load_default=1, validate=validate.Range(min=1, max=10_000))


class GiftRuleIn(Strict):
    name = Name(required=True)
    audience = fields.Nested(AudienceIn, load_default=_all)
    trigger = fields.Nested(GiftTriggerIn, required=True)
    gift = fields.Nested(GiftIn, required=True)
    active = fields.Boolean(load_default=True)
    starts_at = Timestamp(allow_none=True, load_default=None)
    ends_at = Timestamp(allow_none=True, load_default=None)


def _trigger_out(row: Any) -> dict[str, Any]:
    if row.trigger_type == "products":
        return {
            "type": "products",
            "product_ids": list(row.trigger_product_ids or []),
            "min_quantity": row.trigger_min_quantity,
        }
    return {"type": "subtotal", "min": row.trigger_min}


class GiftRuleOut(Schema):
    id = fields.Integer()
    name = fields.String()
    audience = fields.Function(lambda row: AudienceOut().dump(row))
    trigger = fields.Function(_trigger_out)
    gift = fields.Function(
        lambda row: {"product_id": row.gift_product_id, "quantity": row.gift_quantity}
    )
    active = fields.Boolean()
    starts_at = Timestamp()
    ends_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()


# Benefit programmes ---------------------------------------------------------------------


class ConditionIn(Strict):
    """``{"field", "op", "value"}``: the five shipping and checkout fields take ``is`` /
    ``is_not`` (a string) or ``any_of`` (a list); ``product_in_cart`` takes ``any_of`` /
    ``all_of`` (product ids)."""

    field = fields.String(required=True, validate=validate.OneOf(CONDITION_FIELDS))
    op = fields.String(required=True)
    value = fields.Raw(required=True)

    @validates_schema
    def _fits(self, data: dict[str, Any], **kwargs: Any) -> None:
        name, op = data.get("field"), data.get("op")
        if name not in CONDITION_OPS:
            return  # refused by the field's own validator
        if op not in CONDITION_OPS[name]:
            raise ValidationError(
                {"op": [f"{name} takes one of: {', '.join(CONDITION_OPS[name])}."]}
            )
        value = data.get("value")
        if op in ("is", "is_not"):
            if not isinstance(value, str) or not value.strip() or len(value) > 255:
                raise ValidationError({"value": ["Must be a non-empty string."]})
            data["value"] = value.strip()
            return
        if (
            not isinstance(value, list)
            or not value
            or len(value) > MAX_IDS
            or not all(isinstance(v, str) and v.strip() and len(v) <= 255 for v in value)
        ):
            raise ValidationError({"value": ["Must be a non-empty list of strings."]})
        data["value"] = list(dict.fromkeys(v.strip() for v in value))


class TierActionIn(Strict):
    """``{"type": "percent_off_order" | "fixed_off_order", "value"}`` or
    ``{"type": "free_shipping", "carriers": [...], "max_amount": null}``."""

    type = fields.String(required=True, validate=validate.OneOf(TIER_ACTIONS))
    value = fields.Raw(load_default=None)
    carriers = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        load_default=None,
        validate=validate.Length(max=100),
    )
    max_amount = fields.Raw(load_default=None)

    @validates_schema
    def _fits(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind = data.get("type")
        errors: dict[str, list[str]] = {}
        if kind in ("percent_off_order", "fixed_off_order"):
            try:
                if data.get("value") is None:
                    raise ValidationError(f"{kind} needs a value.")
                if kind == "percent_off_order":
                    data["value"] = percent_to_basis_points(data["value"], at_most_100=True)
                else:
                    data["value"] = amount(data["value"])
            except ValidationError as err:
                errors["value"] = _value_error(err)
            for name in ("carriers", "max_amount"):
                if data.get(name) is not None:
                    errors[name] = ["Only free_shipping takes carriers and max_amount."]
        elif kind == "free_shipping":
            if data.get("value") is not None:
                errors["value"] = ["free_shipping takes max_amount, not value."]
            if data.get("max_amount") is not None:
                try:
                    data["max_amount"] = amount(data["max_amount"])
                except ValidationError as err:
                    errors["max_amount"] = _value_error(err)
        if errors:
            raise ValidationError(errors)

    @post_load
    def _stored_form(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data["type"] == "free_shipping":
            carriers = list(dict.fromkeys(c.strip() for c in data.get("carriers") or []))
            return {"type": "free_shipping", "carriers": carriers, "max_amount": data["max_amount"]}
        return {"type": data["type"], "value": data["value"]}


class TierIn(Strict):
    min_subtotal = StrictInteger(required=True, validate=validate.Range(min=0, max=10**15))
    actions = fields.List(
        fields.Nested(TierActionIn), required=True, validate=validate.Length(min=1, max=10)
    )


class BenefitProgrammeIn(Strict):
    name = Name(required=True)
    audience = fields.Nested(AudienceIn, load_default=_all)
    priority = StrictInteger(load_default=0, validate=PRIORITY_RANGE)
    conditions = fields.List(
        fields.Nested(ConditionIn), load_default=list, validate=validate.Length(max=MAX_CONDITIONS)
    )
    tiers = fields.List(
        fields.Nested(TierIn), required=True, validate=validate.Length(min=1, max=MAX_TIERS)
    )
    earns_loyalty_points = fields.Boolean(load_default=True)
    combinable_with_codes = fields.Boolean(load_default=True)
    active = fields.Boolean(load_default=True)
    starts_at = Timestamp(allow_none=True, load_default=None)
    ends_at = Timestamp(allow_none=True, load_default=None)

    @validates_schema
    def _tiers_increase(self, data: dict[str, Any], **kwargs: Any) -> None:
        tiers = data.get("tiers") or []
        errors: dict[int, dict[str, list[str]]] = {}
        for index in range(1, len(tiers)):
            if tiers[index]["min_subtotal"] <= tiers[index - 1]["min_subtotal"]:
                errors[index] = {
                    "min_subtotal": [
                        "Tiers go in strictly increasing order of min_subtotal "
                        f"(more than {tiers[index - 1]['min_subtotal']})."
                    ]
                }
        if errors:
            raise ValidationError({"tiers": errors})


def _action_out(action: dict[str, Any]) -> dict[str, Any]:
    if action["type"] == "percent_off_order":
        return {"type": action["type"], "value": basis_points_to_percent(action["value"])}
    return dict(action)


class ConditionOut(Schema):
    field = fields.String()
    op = fields.String()
    value = fields.Raw()


class TierOut(Schema):
    min_subtotal = fields.Integer()
    actions = fields.Function(lambda tier: [_action_out(a) for a in tier.actions])


class BenefitProgrammeOut(Schema):
    id = fields.Integer()
    name = fields.String()
    audience = fields.Function(lambda row: AudienceOut().dump(row))
    priority = fields.Integer()
    conditions = fields.List(fields.Nested(ConditionOut))
    tiers = fields.List(fields.Nested(TierOut))
    earns_loyalty_points = fields.Boolean()
    combinable_with_codes = fields.Boolean()
    active = fields.Boolean()
    starts_at = Timestamp()
    ends_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()


PriceRulePage = page_of(PriceRuleOut)
BundlePage = page_of(BundleOut)
GiftRulePage = page_of(GiftRuleOut)
BenefitProgrammePage = page_of(BenefitProgrammeOut)


# Price lists (contract §8) --------------------------------------------------------------


class PriceListAudienceIn(AudienceIn):
    """A §4 audience, or ``{"type": "customers", "ids": [...]}``: the host's ids of customers
    of this shop (strings)."""

    type = fields.String(required=True, validate=validate.OneOf(PRICE_LIST_AUDIENCE_TYPES))
    ids = fields.List(fields.Raw(), load_default=list, validate=validate.Length(max=MAX_IDS))

    @validates_schema
    def _ids_fit_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind, ids = data.get("type"), data.get("ids") or []
        if kind in ("groups", "segments", "customers") and not ids:
            raise ValidationError(f"Name at least one of the {kind}.", "ids")
        if kind in ("all", "guests") and ids:
            raise ValidationError(f"An audience of {kind} takes no ids.", "ids")
        field = HostId() if kind == "customers" else SerialId()
        errors: dict[int, list[str]] = {}
        for index, value in enumerate(ids):
            try:
                ids[index] = field.deserialize(value)
            except ValidationError as err:
                errors[index] = _value_error(err)
        if errors:
            raise ValidationError({"ids": errors})


class PriceListAudienceOut(Schema):
    """Who it is for: everyone, guests, some groups or segments (ids), or some customers
    (the host's ids)."""

    type = fields.String(attribute="audience_type")
    ids = fields.List(
        fields.Raw(),
        attribute="audience_ids",
        metadata={"description": AUDIENCE_IDS + " Customers are named by the host's ids."},
    )


class PriceListIn(Strict):
    name = Name(required=True)
    audience = fields.Nested(PriceListAudienceIn, load_default=_all)
    priority = StrictInteger(load_default=0, validate=PRIORITY_RANGE)
    active = fields.Boolean(load_default=True)
    starts_at = Timestamp(allow_none=True, load_default=None)
    ends_at = Timestamp(allow_none=True, load_default=None)


class PriceListOut(Schema):
    id = fields.Integer()
    name = fields.String()
    audience = fields.Function(lambda row: PriceListAudienceOut().dump(row))
    priority = fields.Integer()
    active = fields.Boolean()
    starts_at = Timestamp()
    ends_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()


#: The largest ``min_quantity`` of an entry (a cart line holds at most 1,000,000 units;
#: a whole cart, 500 of them).
MAX_MIN_QUANTITY = 10**9


class PriceListEntryIn(Strict):
    """One price: ``price`` (minor units) per unit from ``min_quantity`` units of the
    product in the cart (all its lines counted together)."""

    product_id = HostId(required=True)
    min_quantity = StrictInteger(
        load_default=1, validate=validate.Range(min=1, max=MAX_MIN_QUANTITY)
    )
    price = fields.Raw(required=True)

    @validates_schema
    def _price(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "price" in data:
            try:
                data["price"] = amount(data["price"])
            except ValidationError as err:
                raise ValidationError({"price": _value_error(err)}) from None


class PriceListEntryOut(Schema):
    product_id = fields.String()
    min_quantity = fields.Integer()
    price = fields.Integer()


class PriceListEntryKey(Strict):
    """Which entry: its product and minimum (query of ``DELETE .../entries``)."""

    product_id = HostId(required=True)
    min_quantity = fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=MAX_MIN_QUANTITY)
    )


class EntryErrorOut(Schema):
    line = fields.Integer()
    reason = fields.String()


class EntryImportOut(Schema):
    imported = fields.Integer(metadata={"description": "Entries the list now holds."})
    invalid = fields.Integer(metadata={"description": "Lines refused (see errors)."})
    errors = fields.List(
        fields.Nested(EntryErrorOut),
        metadata={"description": "The first 1,000 refused lines (the header is line 1)."},
    )
    errors_truncated = fields.Boolean()


# Offers (contract §8) -------------------------------------------------------------------


class OfferTargetIn(Strict):
    """``{"product_ids": [...], "quantity"}`` or ``{"category_ids": [...], "quantity"}``."""

    product_ids = _ids(load_default=None)
    category_ids = _ids(load_default=None)
    quantity = StrictInteger(load_default=1, validate=validate.Range(min=1, max=10_000))

    @validates_schema
    def _one_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        if bool(data.get("product_ids")) == bool(data.get("category_ids")):
            raise ValidationError(
                "Name either product_ids or category_ids, not both.", "product_ids"
            )

    @post_load
    def _stored(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        kind = "products" if data.get("product_ids") else "categories"
        ids = data.get("product_ids") or data.get("category_ids") or []
        out = {"type": kind, "ids": list(dict.fromkeys(ids)), "quantity": data["quantity"]}
        if "discount" in data:
            out["discount"] = data["discount"]
        return out


class OfferDiscountIn(Strict):
    """``{"type": "percent", "value"}`` (> 0 and ≤ 100) or ``{"type": "free"}``."""

    type = fields.String(required=True, validate=validate.OneOf(OFFER_DISCOUNTS))
    value = fields.Raw(load_default=None)

    @validates_schema
    def _value_fits_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("type") == "percent":
            try:
                if data.get("value") is None:
                    raise ValidationError("A percent discount needs a value.")
                data["value"] = percent_to_basis_points(data["value"], at_most_100=True)
            except ValidationError as err:
                raise ValidationError({"value": _value_error(err)}) from None
        elif data.get("type") == "free" and data.get("value") is not None:
            raise ValidationError({"value": ["A free discount takes no value."]})


class OfferBuyIn(OfferTargetIn):
    """The units bought: ``quantity`` of the products or categories named."""


class OfferGetIn(OfferTargetIn):
    """The units given the discount: ``quantity`` others of the products or categories."""

    discount = fields.Nested(OfferDiscountIn, required=True)


class OfferIn(Strict):
    name = Name(required=True)
    audience = fields.Nested(AudienceIn, load_default=_all)
    buy = fields.Nested(OfferBuyIn, required=True)
    get = fields.Nested(OfferGetIn, required=True)
    max_applications = StrictInteger(
        allow_none=True, load_default=None, validate=validate.Range(min=1, max=MAX_SERIAL)
    )
    priority = StrictInteger(load_default=0, validate=PRIORITY_RANGE)
    active = fields.Boolean(load_default=True)
    starts_at = Timestamp(allow_none=True, load_default=None)
    ends_at = Timestamp(allow_none=True, load_default=None)


def _target_out(kind: str, ids: list[str], quantity: int) -> dict[str, Any]:
    key = "product_ids" if kind == "products" else "category_ids"
    return {key: list(ids or []), "quantity": quantity}


def _offer_get_out(row: Any) -> dict[str, Any]:
    out = _target_out(row.get_type, row.get_ids, row.get_quantity)
    if row.discount_type == "percent":
        out["discount"] = {"type": "percent", "value": basis_points_to_percent(row.discount_value)}
    else:
        out["discount"] = {"type": "free"}
    return out


class OfferOut(Schema):
    id = fields.Integer()
    name = fields.String()
    audience = fields.Function(lambda row: AudienceOut().dump(row))
    buy = fields.Function(lambda row: _target_out(row.buy_type, row.buy_ids, row.buy_quantity))
    get = fields.Function(_offer_get_out)
    max_applications = fields.Integer(allow_none=True)
    priority = fields.Integer()
    active = fields.Boolean()
    starts_at = Timestamp()
    ends_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()


PriceListPage = page_of(PriceListOut)
PriceListEntryPage = page_of(PriceListEntryOut)
OfferPage = page_of(OfferOut)


def patch_of(schema: type[Schema]) -> Schema:
    """The schema for PATCH: any top-level field may be left out; a nested object given
    is given whole (its own required fields stay required)."""
    return schema(partial=tuple(schema._declared_fields))

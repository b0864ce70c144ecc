"""Rules: price rules, bundles, gift rules, benefit programmes, price lists and offers (list,
create, edit, delete); a price list's entries have their own page (:mod:`admin_ui.pricelists`).

Thin views over the admin API's own schemas and operations (``plugin.rules.resources.RESOURCES``):
each form is read into the API's JSON shape (money typed in major units of the shop's
currency), loaded with the resource's input schema and handed to the same operation as
``POST``/``PATCH /api/{resource}``; a 422 shows its messages next to the fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import abort, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema

from admin_ui.blueprint import admin_blueprint, render_page, run_form
from admin_ui.catalogue_names import Names, ids_in, names_for
from admin_ui.nested_forms import (
    AUDIENCE_MULTI,
    Converter,
    audience_choices,
    audience_form,
    audience_in,
    audience_label,
    checked,
    edit_rows,
    major,
    money,
    nested_form,
    shaped,
    shop_day,
    split_ids,
)
from admin_ui.session import current_admin_shop, redirect_to
from plugin.errors import flatten_messages
from plugin.rules import operations
from plugin.rules.resources import RESOURCES, Resource
from plugin.rules.schemas import CONDITION_OPS, patch_of
from plugin.shops.models import Shop

PER_PAGE = 50
PRICE_ACTION_LABELS = {
    "discount_percent": "Discount, percent",
    "discount_fixed": "Discount, fixed amount",
    "increase_percent": "Increase, percent",
    "increase_fixed": "Increase, fixed amount",
    "set_price": "Set the price",
}
TIER_ACTION_LABELS = {
    "percent_off_order": "Percent off the order",
    "fixed_off_order": "Amount off the order",
    "free_shipping": "Free shipping",
}
CONDITION_LABELS = {
    "shipping_city": "Shipping city",
    "shipping_country": "Shipping country",
    "carrier": "Carrier",
    "payment_method": "Payment method",
    "channel": "Channel",
    "product_in_cart": "Product in the cart",
}
OP_LABELS = {"is": "is", "is_not": "is not", "any_of": "is any of", "all_of": "all of"}
WINDOW = ("starts_at", "ends_at")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _flag(value: bool) -> str:
    return "1" if value else ""


# Price rules ----------------------------------------------------------------------------


def _price_rule_form(shop: Shop, rule: dict[str, Any]) -> dict[str, Any]:
    action = rule["action"]
    percent = action["type"].endswith("_percent")
    return {
        "name": rule["name"],
        "audience": audience_form(rule["audience"]),
        "scope": {"type": rule["scope"]["type"], "ids": ", ".join(rule["scope"]["ids"])},
        "action": {
            "type": action["type"],
            "value": _text(action["value"]) if percent else major(action["value"], shop.currency),
        },
        "priority": _text(rule["priority"]),
        "active": _flag(rule["active"]),
        "starts_at": shop_day(shop, rule["starts_at"]),
        "ends_at": shop_day(shop, rule["ends_at"], end=True),
    }


def _price_rule_payload(conv: Converter, raw: dict[str, Any]) -> dict[str, Any]:
    scope, action = raw.get("scope") or {}, raw.get("action") or {}
    scope_type = scope.get("type") or "all"
    action_type = action.get("type") or ""
    value = (
        conv.percent("action.value", action.get("value"))
        if action_type.endswith("_percent")
        else conv.money("action.value", action.get("value"))
    )
    return {
        "name": raw.get("name", ""),
        "audience": audience_in(conv, raw.get("audience")),
        "scope": {
            "type": scope_type,
            "ids": [] if scope_type == "all" else split_ids(scope.get("ids")),
        },
        "action": {"type": action_type, "value": value},
        "priority": conv.integer("priority", raw.get("priority") or "0"),
        "active": checked(raw, "active"),
        "starts_at": conv.day("starts_at", raw.get("starts_at")),
        "ends_at": conv.day("ends_at", raw.get("ends_at")),
    }


# Bundles --------------------------------------------------------------------------------


def _bundle_form(shop: Shop, bundle: dict[str, Any]) -> dict[str, Any]:
    price = bundle["price"]
    return {
        "name": bundle["name"],
        "audience": audience_form(bundle["audience"]),
        "items": [
            {"product_id": item["product_id"], "quantity": _text(item["quantity"])}
            for item in bundle["items"]
        ],
        "price": {
            "type": price["type"],
            "value": _text(price["value"])
            if price["type"] == "percent_off"
            else major(price["value"], shop.currency),
        },
        "max_applications": _text(bundle["max_applications"]),
        "priority": _text(bundle["priority"]),
        "active": _flag(bundle["active"]),
        **_window_form(shop, bundle),
    }


def _bundle_payload(conv: Converter, raw: dict[str, Any]) -> dict[str, Any]:
    price = raw.get("price") or {}
    items = []
    for index, item in enumerate(raw.get("items") or []):
        items.append(
            {
                "product_id": (item.get("product_id") or "").strip(),
                "quantity": conv.integer(f"items.{index}.quantity", item.get("quantity") or "1"),
            }
        )
    value = (
        conv.percent("price.value", price.get("value"))
        if price.get("type") == "percent_off"
        else conv.money("price.value", price.get("value"))
    )
    return {
        "name": raw.get("name", ""),
        "audience": audience_in(conv, raw.get("audience")),
        "items": items,
        "price": {"type": price.get("type") or "", "value": value},
        "max_applications": conv.integer(
            "max_applications", raw.get("max_applications"), optional=True
        ),
        "priority": conv.integer("priority", raw.get("priority") or "0"),
        "active": checked(raw, "active"),
        **_window_payload(conv, raw),
    }


# Gift rules -----------------------------------------------------------------------------


def _gift_rule_form(shop: Shop, rule: dict[str, Any]) -> dict[str, Any]:
    trigger = rule["trigger"]
    return {
        "name": rule["name"],
        "audience": audience_form(rule["audience"]),
        "trigger": {
            "type": trigger["type"],
            "product_ids": ", ".join(trigger.get("product_ids") or []),
            "min_quantity": _text(trigger.get("min_quantity") or 1),
            "min": major(trigger.get("min"), shop.currency),
        },
        "gift": {
            "product_id": rule["gift"]["product_id"],
            "quantity": _text(rule["gift"]["quantity"]),
        },
        "active": _flag(rule["active"]),
        **_window_form(shop, rule),
    }


def _gift_rule_payload(conv: Converter, raw: dict[str, Any]) -> dict[str, Any]:
    trigger, gift = raw.get("trigger") or {}, raw.get("gift") or {}
    kind = trigger.get("type") or ""
    if kind == "subtotal":
        made: dict[str, Any] = {"type": kind, "min": conv.money("trigger.min", trigger.get("min"))}
    else:
        made = {
            "type": kind,
            "product_ids": split_ids(trigger.get("product_ids")),
            "min_quantity": conv.integer(
                "trigger.min_quantity", trigger.get("min_quantity") or "1"
            ),
        }
    return {
        "name": raw.get("name", ""),
        "audience": audience_in(conv, raw.get("audience")),
        "trigger": made,
        "gift": {
            "product_id": (gift.get("product_id") or "").strip(),
            "quantity": conv.integer("gift.quantity", gift.get("quantity") or "1"),
        },
        "active": checked(raw, "active"),
        **_window_payload(conv, raw),
    }


# Benefit programmes ---------------------------------------------------------------------


BLANK_CONDITION = {"field": "shipping_city", "op": "is", "value": ""}
BLANK_ACTION = {"type": "percent_off_order", "value": "", "carriers": "", "max_amount": ""}
BLANK_TIER = {"min_subtotal": "", "actions": [dict(BLANK_ACTION)]}


def _condition_form(condition: dict[str, Any]) -> dict[str, Any]:
    value = condition["value"]
    return {
        "field": condition["field"],
        "op": condition["op"],
        "value": ", ".join(value) if isinstance(value, list) else _text(value),
    }


def _action_form(shop: Shop, action: dict[str, Any]) -> dict[str, Any]:
    form = dict(BLANK_ACTION, type=action["type"])
    if action["type"] == "percent_off_order":
        form["value"] = _text(action["value"])
    elif action["type"] == "fixed_off_order":
        form["value"] = major(action["value"], shop.currency)
    else:
        form["carriers"] = ", ".join(action.get("carriers") or [])
        form["max_amount"] = major(action.get("max_amount"), shop.currency)
    return form


def _programme_form(shop: Shop, programme: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": programme["name"],
        "audience": audience_form(programme["audience"]),
        "priority": _text(programme["priority"]),
        "conditions": [_condition_form(c) for c in programme["conditions"]],
        "tiers": [
            {
                "min_subtotal": major(tier["min_subtotal"], shop.currency),
                "actions": [_action_form(shop, a) for a in tier["actions"]],
            }
            for tier in programme["tiers"]
        ],
        "earns_loyalty_points": _flag(programme["earns_loyalty_points"]),
        "combinable_with_codes": _flag(programme["combinable_with_codes"]),
        "active": _flag(programme["active"]),
        **_window_form(shop, programme),
    }


def _action_payload(conv: Converter, path: str, raw: dict[str, Any]) -> dict[str, Any]:
    kind = raw.get("type") or ""
    if kind == "percent_off_order":
        return {"type": kind, "value": conv.percent(f"{path}.value", raw.get("value"))}
    if kind == "fixed_off_order":
        return {"type": kind, "value": conv.money(f"{path}.value", raw.get("value"))}
    return {
        "type": kind,
        "carriers": split_ids(raw.get("carriers")),
        "max_amount": conv.money(f"{path}.max_amount", raw.get("max_amount"), optional=True),
    }


def _programme_payload(conv: Converter, raw: dict[str, Any]) -> dict[str, Any]:
    conditions = []
    for condition in raw.get("conditions") or []:
        op = condition.get("op") or ""
        value: Any = (condition.get("value") or "").strip()
        if op in ("any_of", "all_of"):
            value = split_ids(value)
        conditions.append({"field": condition.get("field") or "", "op": op, "value": value})
    tiers = []
    for index, tier in enumerate(raw.get("tiers") or []):
        tiers.append(
            {
                "min_subtotal": conv.money(f"tiers.{index}.min_subtotal", tier.get("min_subtotal")),
                "actions": [
                    _action_payload(conv, f"tiers.{index}.actions.{number}", action)
                    for number, action in enumerate(tier.get("actions") or [])
                ],
            }
        )
    return {
        "name": raw.get("name", ""),
        "audience": audience_in(conv, raw.get("audience")),
        "priority": conv.integer("priority", raw.get("priority") or "0"),
        "conditions": conditions,
        "tiers": tiers,
        "earns_loyalty_points": checked(raw, "earns_loyalty_points"),
        "combinable_with_codes": checked(raw, "combinable_with_codes"),
        "active": checked(raw, "active"),
        **_window_payload(conv, raw),
    }


# Price lists and offers (contract §8) ---------------------------------------------------


def _window_form(shop: Shop, rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "starts_at": shop_day(shop, rule["starts_at"]),
        "ends_at": shop_day(shop, rule["ends_at"], end=True),
    }


def _window_payload(conv: Converter, raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "starts_at": conv.day("starts_at", raw.get("starts_at")),
        "ends_at": conv.day("ends_at", raw.get("ends_at")),
    }


def _price_list_form(shop: Shop, price_list: dict[str, Any]) -> dict[str, Any]:
    audience = price_list["audience"]
    customers = audience["type"] == "customers"
    form_audience = audience_form(audience if not customers else {"type": "customers"})
    form_audience["customer_ids"] = ", ".join(audience["ids"]) if customers else ""
    return {
        "name": price_list["name"],
        "audience": form_audience,
        "priority": _text(price_list["priority"]),
        "active": _flag(price_list["active"]),
        **_window_form(shop, price_list),
    }


def _price_list_payload(conv: Converter, raw: dict[str, Any]) -> dict[str, Any]:
    typed = raw.get("audience") if isinstance(raw.get("audience"), dict) else {}
    if (typed or {}).get("type") == "customers":
        audience: dict[str, Any] = {
            "type": "customers",
            "ids": split_ids((typed or {}).get("customer_ids")),
        }
    else:
        audience = audience_in(conv, typed)
    return {
        "name": raw.get("name", ""),
        "audience": audience,
        "priority": conv.integer("priority", raw.get("priority") or "0"),
        "active": checked(raw, "active"),
        **_window_payload(conv, raw),
    }


def _target_form(target: dict[str, Any]) -> dict[str, Any]:
    kind = "categories" if "category_ids" in target else "products"
    ids = target.get("category_ids") or target.get("product_ids") or []
    return {"type": kind, "ids": ", ".join(ids), "quantity": _text(target["quantity"])}


def _target_payload(conv: Converter, path: str, raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    key = "category_ids" if raw.get("type") == "categories" else "product_ids"
    return {
        key: split_ids(raw.get("ids")),
        "quantity": conv.integer(f"{path}.quantity", raw.get("quantity") or "1"),
    }


def _offer_form(shop: Shop, offer: dict[str, Any]) -> dict[str, Any]:
    discount = offer["get"]["discount"]
    return {
        "name": offer["name"],
        "audience": audience_form(offer["audience"]),
        "buy": _target_form(offer["buy"]),
        "get": {
            **_target_form(offer["get"]),
            "discount": {"type": discount["type"], "value": _text(discount.get("value"))},
        },
        "max_applications": _text(offer["max_applications"]),
        "priority": _text(offer["priority"]),
        "active": _flag(offer["active"]),
        **_window_form(shop, offer),
    }


def _offer_payload(conv: Converter, raw: dict[str, Any]) -> dict[str, Any]:
    get = raw.get("get") if isinstance(raw.get("get"), dict) else {}
    discount = (get or {}).get("discount") or {}
    kind = discount.get("type") or "free"
    made_discount: dict[str, Any] = {"type": kind}
    if kind == "percent":
        made_discount["value"] = conv.percent("get.discount.value", discount.get("value"))
    return {
        "name": raw.get("name", ""),
        "audience": audience_in(conv, raw.get("audience")),
        "buy": _target_payload(conv, "buy", raw.get("buy")),
        "get": {**_target_payload(conv, "get", get), "discount": made_discount},
        "max_applications": conv.integer(
            "max_applications", raw.get("max_applications"), optional=True
        ),
        "priority": conv.integer("priority", raw.get("priority") or "0"),
        "active": checked(raw, "active"),
        **_window_payload(conv, raw),
    }


# The kinds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleKind:
    resource: Resource
    title: str  # "Price rules"
    template: str
    to_form: Callable[[Shop, dict[str, Any]], dict[str, Any]]
    to_payload: Callable[[Converter, dict[str, Any]], dict[str, Any]]
    new: Callable[[], dict[str, Any]]
    rows: dict[str, Any] = field(default_factory=dict)  # blank rows by list pattern
    multi: tuple[str, ...] = AUDIENCE_MULTI

    @property
    def path(self) -> str:
        return self.resource.path

    @property
    def what(self) -> str:
        return self.resource.what


_BY_PATH = {resource.path: resource for resource in RESOURCES}
_AUDIENCE_ALL = {"type": "all", "group_ids": [], "segment_ids": []}
KINDS: dict[str, RuleKind] = {
    kind.path: kind
    for kind in (
        RuleKind(
            _BY_PATH["price-rules"],
            "Price rules",
            "rules_price_rule_form.html",
            _price_rule_form,
            _price_rule_payload,
            lambda: {
                "name": "",
                "audience": dict(_AUDIENCE_ALL),
                "scope": {"type": "all", "ids": ""},
                "action": {"type": "discount_percent", "value": ""},
                "priority": "0",
                "active": "1",
                "starts_at": "",
                "ends_at": "",
            },
        ),
        RuleKind(
            _BY_PATH["bundles"],
            "Bundles",
            "rules_bundle_form.html",
            _bundle_form,
            _bundle_payload,
            lambda: {
                "name": "",
                "audience": dict(_AUDIENCE_ALL),
                "items": [{"product_id": "", "quantity": "1"}, {"product_id": "", "quantity": "1"}],
                "price": {"type": "percent_off", "value": ""},
                "max_applications": "",
                "priority": "0",
                "active": "1",
                "starts_at": "",
                "ends_at": "",
            },
            rows={"items": {"product_id": "", "quantity": "1"}},
        ),
        RuleKind(
            _BY_PATH["gift-rules"],
            "Gift rules",
            "rules_gift_rule_form.html",
            _gift_rule_form,
            _gift_rule_payload,
            lambda: {
                "name": "",
                "audience": dict(_AUDIENCE_ALL),
                "trigger": {"type": "subtotal", "product_ids": "", "min_quantity": "1", "min": ""},
                "gift": {"product_id": "", "quantity": "1"},
                "active": "1",
                "starts_at": "",
                "ends_at": "",
            },
        ),
        RuleKind(
            _BY_PATH["benefit-programmes"],
            "Benefit programmes",
            "rules_programme_form.html",
            _programme_form,
            _programme_payload,
            lambda: {
                "name": "",
                "audience": dict(_AUDIENCE_ALL),
                "priority": "0",
                "conditions": [],
                "tiers": [
                    {"min_subtotal": "", "actions": [dict(BLANK_ACTION)]},
                ],
                "earns_loyalty_points": "1",
                "combinable_with_codes": "1",
                "active": "1",
                "starts_at": "",
                "ends_at": "",
            },
            rows={
                "conditions": BLANK_CONDITION,
                "tiers": BLANK_TIER,
                "tiers.*.actions": BLANK_ACTION,
            },
        ),
        RuleKind(
            _BY_PATH["price-lists"],
            "Price lists",
            "rules_price_list_form.html",
            _price_list_form,
            _price_list_payload,
            lambda: {
                "name": "",
                "audience": {**_AUDIENCE_ALL, "customer_ids": ""},
                "priority": "0",
                "active": "1",
                "starts_at": "",
                "ends_at": "",
            },
        ),
        RuleKind(
            _BY_PATH["offers"],
            "Offers",
            "rules_offer_form.html",
            _offer_form,
            _offer_payload,
            lambda: {
                "name": "",
                "audience": dict(_AUDIENCE_ALL),
                "buy": {"type": "products", "ids": "", "quantity": "2"},
                "get": {
                    "type": "products",
                    "ids": "",
                    "quantity": "1",
                    "discount": {"type": "free", "value": ""},
                },
                "max_applications": "",
                "priority": "0",
                "active": "1",
                "starts_at": "",
                "ends_at": "",
            },
        ),
    )
}


def _kind(path: str) -> RuleKind:
    kind = KINDS.get(path)
    if kind is None:
        abort(404)
    return kind


def _form_context(shop: Shop, kind: RuleKind, **context: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "choices": audience_choices(shop),
        "currency": shop.currency,
        "price_actions": PRICE_ACTION_LABELS,
        "tier_actions": TIER_ACTION_LABELS,
        "condition_fields": CONDITION_LABELS,
        "condition_ops": CONDITION_OPS,
        "op_labels": OP_LABELS,
        "errors": {},
        "focus": None,
        **context,
    }


# Views ----------------------------------------------------------------------------------


@admin_blueprint.get("/rules")
def rules() -> ResponseReturnValue:
    """Every kind of rule in its own table."""
    shop = current_admin_shop()
    choices = audience_choices(shop)
    sections = []
    for kind in KINDS.values():
        page = request.args.get(f"{kind.path}_page", 1, type=int) or 1
        found = operations.list_rules(shop, kind.resource.kind, max(page, 1), PER_PAGE)
        items = kind.resource.schema_out(many=True).dump(found["items"])
        for item in items:
            item["audience_label"] = audience_label(item["audience"], choices)
            if "starts_at" in item:
                item["window"] = (
                    shop_day(shop, item["starts_at"]),
                    shop_day(shop, item["ends_at"], end=True),
                )
        sections.append({"kind": kind, "items": items, "page": found})
    return render_page(
        "rules.html",
        sections=sections,
        names=_names_of(shop, sections),
        price_actions=PRICE_ACTION_LABELS,
        tier_actions=TIER_ACTION_LABELS,
        money=lambda amount: money(amount, shop.currency),
    )


def _names_of(shop: Shop, sections: list[dict[str, Any]]) -> Names:
    """The titles of every product and category the rules tables show."""
    products: list[str] = []
    categories: list[str] = []
    for section in sections:
        for item in section["items"]:
            scope = item.get("scope") or {}
            (categories if scope.get("type") == "categories" else products).extend(
                ids_in(scope.get("ids"))
            )
            products.extend(ids_in([entry.get("product_id") for entry in item.get("items", [])]))
            products.extend(ids_in((item.get("trigger") or {}).get("product_ids")))
            products.extend(ids_in([(item.get("gift") or {}).get("product_id")]))
            for condition in item.get("conditions") or []:
                if condition.get("field") == "product_in_cart":
                    products.extend(ids_in(condition.get("value")))
            for side in ("buy", "get"):  # offers
                target = item.get(side) or {}
                products.extend(ids_in(target.get("product_ids")))
                categories.extend(ids_in(target.get("category_ids")))
    return names_for(shop, products, categories)


def _save(
    shop: Shop, kind: RuleKind, rule_id: int | None, shown: dict[str, Any] | None
) -> ResponseReturnValue:
    """Read the posted form; add or remove a row, or save it through the operation."""
    raw = nested_form(request.form, kind.multi)
    raw.setdefault("name", "")
    focus = edit_rows(raw, kind.rows)
    if focus is not None:
        return render_page(
            kind.template, **_form_context(shop, kind, form=raw, rule_id=rule_id, focus=focus)
        )
    conv = Converter(shop.currency)
    payload = shaped(kind.to_payload, conv, raw)
    if shown is not None:
        # A window left as shown keeps its stored moment (which may not be a day boundary).
        for name in WINDOW:
            if name in payload and raw.get(name, "") == shown.get(name, ""):
                del payload[name]
    schema: Schema = (
        kind.resource.schema_in() if rule_id is None else patch_of(kind.resource.schema_in)
    )
    if conv.errors:
        errors = {**flatten_messages(schema.validate(payload)), **conv.errors}
        row = None
    elif rule_id is None:
        row, errors = run_form(
            lambda: operations.create_rule(shop, kind.resource.kind, schema.load(payload))
        )
    else:
        row, errors = run_form(
            lambda: operations.update_rule(shop, kind.resource.kind, rule_id, schema.load(payload))
        )
    if errors:
        return render_page(
            kind.template,
            422,
            **_form_context(shop, kind, form=raw, rule_id=rule_id, errors=errors),
        )
    verb = "Created" if rule_id is None else "Saved"
    return redirect_to(".rules", f"{verb} the {kind.what} “{row.name}”.", _anchor=kind.path)


@admin_blueprint.route("/rules/<kind_path>/new", methods=["GET", "POST"])
def rule_new(kind_path: str) -> ResponseReturnValue:
    shop, kind = current_admin_shop(), _kind(kind_path)
    if request.method == "POST":
        return _save(shop, kind, None, None)
    return render_page(kind.template, **_form_context(shop, kind, form=kind.new(), rule_id=None))


@admin_blueprint.route("/rules/<kind_path>/<int:rule_id>", methods=["GET", "POST"])
def rule_edit(kind_path: str, rule_id: int) -> ResponseReturnValue:
    shop, kind = current_admin_shop(), _kind(kind_path)
    row = operations.get_rule(shop, kind.resource.kind, rule_id)
    shown = kind.to_form(shop, kind.resource.schema_out().dump(row))
    if request.method == "POST":
        return _save(shop, kind, rule_id, shown)
    return render_page(kind.template, **_form_context(shop, kind, form=shown, rule_id=rule_id))


@admin_blueprint.post("/rules/<kind_path>/<int:rule_id>/delete")
def rule_delete(kind_path: str, rule_id: int) -> ResponseReturnValue:
    shop, kind = current_admin_shop(), _kind(kind_path)
    row = operations.get_rule(shop, kind.resource.kind, rule_id)
    name = row.name
    operations.delete_rule(shop, kind.resource.kind, rule_id)
    return redirect_to(".rules", f"Deleted the {kind.what} “{name}”.", _anchor=kind.path)

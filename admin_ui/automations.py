"""Automations (seed 002): when something happens to a customer, give them a coupon from a
discount's pool; with each automation's run history.

Thin views over the admin API's schemas and operations (``plugin.automations``): the form
becomes the body of ``POST``/``PATCH /api/automations``.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from admin_ui.blueprint import admin_blueprint, render_page, run_form
from admin_ui.nested_forms import Converter, checked, copy_form, nested_form, shaped
from admin_ui.session import current_admin_shop, redirect_to
from plugin.automations import operations
from plugin.automations.models import RUN_STATUSES, TRIGGER_REFERENCE, TRIGGER_TYPES
from plugin.automations.schemas import AutomationIn, AutomationOut, AutomationRunOut
from plugin.codes.operations import list_discounts
from plugin.groups.operations import list_groups
from plugin.paging import MAX_PER_PAGE
from plugin.segments.operations import list_segments
from plugin.shops.models import Shop

PER_PAGE = 50
TRIGGER_LABELS = {
    "customer_created": "A customer registers",
    "customer_subscribed": "A customer confirms marketing consent",
    "order_paid": "A customer pays an order",
    "joined_group": "A customer joins a group",
    "joined_segment": "A customer joins a segment",
    "coupon_given": "A customer is given a code of a discount",
}
LABELS = {
    "name": "Name",
    "trigger.type": "When",
    "trigger.group_id": "Group",
    "trigger.segment_id": "Segment",
    "trigger.discount_id": "Discount given",
    "action.discount_id": "Give a code of",
    "action.expires_after_days": "Code expires after (days)",
}
NEW_AUTOMATION = {
    "name": "",
    "trigger": {"type": "customer_created", "group_id": "", "segment_id": "", "discount_id": ""},
    "action": {"type": "give_coupon", "discount_id": "", "expires_after_days": ""},
    "active": "1",
}


def automation_form(automation: dict[str, Any]) -> dict[str, Any]:
    trigger, action = automation["trigger"], automation["action"]
    return {
        "name": automation["name"],
        "trigger": {
            "type": trigger["type"],
            **{
                name: "" if trigger.get(name) is None else str(trigger[name])
                for name in ("group_id", "segment_id", "discount_id")
            },
        },
        "action": {
            "type": action["type"],
            "discount_id": "" if action["discount_id"] is None else str(action["discount_id"]),
            "expires_after_days": ""
            if action["expires_after_days"] is None
            else str(action["expires_after_days"]),
        },
        "active": "1" if automation["active"] else "",
    }


def automation_payload(conv: Converter, raw: dict[str, Any]) -> dict[str, Any]:
    trigger = raw.get("trigger") if isinstance(raw.get("trigger"), dict) else {}
    action = raw.get("action") if isinstance(raw.get("action"), dict) else {}
    kind = trigger.get("type") or ""
    made: dict[str, Any] = {"type": kind}
    needed = TRIGGER_REFERENCE.get(kind)
    if needed:
        if trigger.get(needed):
            made[needed] = conv.integer(f"trigger.{needed}", trigger.get(needed))
        else:
            conv.fail(f"trigger.{needed}", "Choose one.")
    discount = action.get("discount_id") or ""
    if not discount:
        conv.fail("action.discount_id", "Choose the discount whose codes are given.")
    return {
        "name": (raw.get("name") or "").strip(),
        "trigger": made,
        "action": {
            "type": action.get("type") or "give_coupon",
            "discount_id": conv.integer("action.discount_id", discount) if discount else None,
            "expires_after_days": conv.integer(
                "action.expires_after_days", action.get("expires_after_days"), optional=True
            ),
        },
        "active": checked(raw, "active"),
    }


def _options(shop: Shop) -> dict[str, list[tuple[Any, str]]]:
    discounts = list_discounts(shop, 1, MAX_PER_PAGE)["items"]
    return {
        "groups": [(g.id, g.name) for g in list_groups(shop, 1, MAX_PER_PAGE)["items"]],
        "segments": [(s.id, s.name) for s in list_segments(shop, 1, MAX_PER_PAGE)["items"]],
        "discounts": [(d.id, d.name) for d in discounts],
    }


def _form_page(
    shop: Shop, form: dict[str, Any], automation_id: int | None, status: int = 200, **context: Any
) -> ResponseReturnValue:
    return render_page(
        "automations_form.html",
        status,
        form=form,
        automation_id=automation_id,
        options=_options(shop),
        triggers=[(t, TRIGGER_LABELS.get(t, t)) for t in TRIGGER_TYPES],
        labels=LABELS,
        errors=context.pop("errors", {}),
        **context,
    )


def _save(shop: Shop, automation_id: int | None) -> ResponseReturnValue:
    raw = nested_form(request.form)
    raw.setdefault("name", "")
    for name in ("trigger", "action"):  # every part the template reads
        given = raw.get(name)
        raw[name] = {**NEW_AUTOMATION[name], **(given if isinstance(given, dict) else {})}
    conv = Converter(shop.currency)
    payload = shaped(automation_payload, conv, raw)
    if conv.errors:
        return _form_page(shop, raw, automation_id, 422, errors=conv.errors)
    if automation_id is None:
        saved, errors = run_form(
            lambda: operations.create_automation(shop, AutomationIn().load(payload))
        )
    else:
        saved, errors = run_form(lambda: operations.update_automation(shop, automation_id, payload))
    if errors:
        return _form_page(shop, raw, automation_id, 422, errors=errors)
    assert saved is not None
    verb = "Created" if automation_id is None else "Saved"
    return redirect_to(".automations", f"{verb} the automation “{saved.name}”.")


def describe(automation: dict[str, Any], names: dict[str, dict[int, str]]) -> str:
    """``A customer joins the group VIP`` (names as text: the template escapes them)."""
    trigger = automation["trigger"]
    kind = trigger["type"]
    if kind == "joined_group":
        return f"A customer joins the group {names['groups'].get(trigger['group_id'], '#?')}"
    if kind == "joined_segment":
        return f"A customer joins the segment {names['segments'].get(trigger['segment_id'], '#?')}"
    if kind == "coupon_given":
        discount = names["discounts"].get(trigger["discount_id"], "#?")
        return f"A customer is given a code of {discount}"
    return TRIGGER_LABELS.get(kind, kind)


# Views ----------------------------------------------------------------------------------


@admin_blueprint.get("/automations")
def automations() -> ResponseReturnValue:
    shop = current_admin_shop()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found = operations.list_automations(shop, page, PER_PAGE)
    names = {key: dict(values) for key, values in _options(shop).items()}
    items = AutomationOut(many=True).dump(found["items"])
    for item in items:
        item["when"] = describe(item, names)
        item["discount_name"] = names["discounts"].get(
            item["action"]["discount_id"], "a deleted discount"
        )
    return render_page(
        "automations.html",
        items=items,
        found={"total": found["total"], "page": found["page"], "per_page": found["per_page"]},
    )


@admin_blueprint.route("/automations/new", methods=["GET", "POST"])
def automation_new() -> ResponseReturnValue:
    shop = current_admin_shop()
    if request.method == "POST":
        return _save(shop, None)
    return _form_page(shop, copy_form(NEW_AUTOMATION), None)


@admin_blueprint.route("/automations/<int:automation_id>", methods=["GET", "POST"])
def automation_edit(automation_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    automation = AutomationOut().dump(operations.get_automation(shop, automation_id))
    if request.method == "POST":
        return _save(shop, automation_id)
    return _form_page(shop, automation_form(automation), automation_id)


@admin_blueprint.post("/automations/<int:automation_id>/delete")
def automation_delete(automation_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    name = operations.get_automation(shop, automation_id).name
    operations.delete_automation(shop, automation_id)
    return redirect_to(
        ".automations", f"Deleted the automation “{name}”; the codes it gave stay given."
    )


@admin_blueprint.get("/automations/<int:automation_id>/runs")
def automation_runs(automation_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    automation = AutomationOut().dump(operations.get_automation(shop, automation_id))
    status = request.args.get("status") or None
    if status not in RUN_STATUSES:
        status = None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found = operations.list_runs(shop, automation_id, page, PER_PAGE, status)
    return render_page(
        "automations_runs.html",
        automation=automation,
        runs=AutomationRunOut(many=True).dump(found["items"]),
        found={"total": found["total"], "page": found["page"], "per_page": found["per_page"]},
        shown=status,
        statuses=RUN_STATUSES,
    )

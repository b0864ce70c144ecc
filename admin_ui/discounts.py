"""Discounts (seed 000) and their codes: list, create, edit, delete; a codes page per
discount with statuses, generation with a progress bar, CSV import with its report, export.

Thin views over the admin API's schemas and operations (``plugin.codes``). Generating and
importing work without JavaScript (the form posts here); with it, ``static/discounts.js``
calls ``POST /api/discounts/{id}/codes/generate`` itself and follows a 202's job through
``GET /api/jobs/{id}`` in a ``<progress>`` bar. A generation whose codes are easy to guess
(``density_warnings``) says so: in the message after the form, in the generate panel
when its job is done, and from the API's ``warnings`` with JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request, stream_with_context
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from admin_ui.blueprint import admin_blueprint, render_page, run_form
from admin_ui.nested_forms import (
    AUDIENCE_MULTI,
    Converter,
    audience_choices,
    audience_form,
    audience_in,
    audience_label,
    checked,
    major,
    money,
    nested_form,
    shaped,
    shop_day,
    split_ids,
)
from admin_ui.session import current_admin_shop, redirect_to
from plugin.codes import operations
from plugin.codes.csv_io import export_rows, import_codes
from plugin.codes.generation import (
    DEFAULT_CHARSET,
    SYNC_LIMIT,
    check_feasible,
    density_warnings,
    generate_codes,
)
from plugin.codes.models import CODE_STATUSES
from plugin.codes.schemas import (
    CHANNELS,
    PAYMENT_METHODS,
    CodeOut,
    DiscountIn,
    DiscountOut,
    GenerateIn,
    ImportOut,
)
from plugin.codes.tasks import enqueue_generation
from plugin.db import db
from plugin.errors import ApiError, flatten_messages
from plugin.jobs.operations import get_job
from plugin.jobs.schemas import JobOut
from plugin.limits import MAX_SERIAL
from plugin.request_limits import streamed_upload
from plugin.shops.models import Shop

PER_PAGE = 50
PAYMENT_LABELS = {"cash": "Cash", "paypal": "PayPal", "bank_transfer": "Bank transfer"}
CHANNEL_LABELS = {"web": "Web", "in_store": "In-store"}
TYPE_LABELS = {"percent": "Percentage", "fixed": "Fixed amount", "free_shipping": "Free shipping"}
STATUS_LABELS = {"unassigned": "Unassigned", "assigned": "Assigned", "redeemed": "Redeemed"}
WINDOW = ("starts_at", "ends_at")
MULTI = (*AUDIENCE_MULTI, "payment_methods", "channels")
LABELS = {
    "name": "Name",
    "applies_to": "Discount for",
    "code": "Discount code",
    "type": "Discount type",
    "value_percent": "Percent off",
    "value_fixed": "Amount off",
    "value_free_shipping": "Up to",
    "minimum.amount": "Minimum purchase amount",
    "minimum.quantity": "Minimum quantity of items",
    "carriers": "Carriers",
    "starts_at": "Starts",
    "ends_at": "Ends",
    "usage_limit": "Usage limit",
    "audience.type": "Customer segment",
    "audience.ids": "Groups or segments",
    "minimum.type": "Minimum requirement",
    "payment_methods": "Payment methods",
    "channels": "Platforms",
}


# Discount form <-> API ------------------------------------------------------------------


def discount_form(shop: Shop, discount: dict[str, Any]) -> dict[str, Any]:
    """An API discount as form values (money in major units)."""
    kind, value = discount["type"], discount["value"]
    minimum = discount["minimum"]
    return {
        "name": discount["name"],
        "applies_to": discount["applies_to"],
        "code_mode": "shared" if discount["code"] else "pool",
        "code": discount["code"] or "",
        "type": kind,
        "value_percent": "" if value is None or kind != "percent" else str(value),
        "value_fixed": major(value, shop.currency) if kind == "fixed" else "",
        "value_free_shipping": major(value, shop.currency) if kind == "free_shipping" else "",
        "carriers": ", ".join(discount["carriers"]),
        "window": "dates" if discount["ends_at"] else "no_expiry",
        "starts_at": shop_day(shop, discount["starts_at"]),
        "ends_at": shop_day(shop, discount["ends_at"], end=True),
        "usage_limited": "1" if discount["usage_limit"] is not None else "",
        "usage_limit": "" if discount["usage_limit"] is None else str(discount["usage_limit"]),
        "once_per_customer": "1" if discount["once_per_customer"] else "",
        "audience": audience_form(discount["audience"]),
        "minimum": {
            "type": minimum["type"],
            "amount": major(minimum["value"], shop.currency) if minimum["type"] == "amount" else "",
            "quantity": str(minimum["value"]) if minimum["type"] == "quantity" else "",
        },
        "payment_methods": list(discount["payment_methods"]),
        "channels": list(discount["channels"]),
        "active": "1" if discount["active"] else "",
    }


NEW_DISCOUNT = {
    "name": "",
    "applies_to": "products",
    "code_mode": "shared",
    "code": "",
    "type": "percent",
    "value_percent": "",
    "value_fixed": "",
    "value_free_shipping": "",
    "carriers": "",
    "window": "no_expiry",
    "starts_at": "",
    "ends_at": "",
    "usage_limited": "",
    "usage_limit": "",
    "once_per_customer": "",
    "audience": {"type": "all", "group_ids": [], "segment_ids": []},
    "minimum": {"type": "none", "amount": "", "quantity": ""},
    "payment_methods": [],
    "channels": [],
    "active": "1",
}


def discount_payload(conv: Converter, raw: dict[str, Any]) -> dict[str, Any]:
    """Form values as the API's discount body (what is hidden by a choice is left out)."""
    kind = raw.get("type") or ""
    if kind == "percent":
        value: Any = conv.percent("value_percent", raw.get("value_percent"))
    elif kind == "fixed":
        value = conv.money("value_fixed", raw.get("value_fixed"))
    else:
        value = conv.money("value_free_shipping", raw.get("value_free_shipping"), optional=True)
    minimum = raw.get("minimum") if isinstance(raw.get("minimum"), dict) else {}
    minimum_type = minimum.get("type") or "none"
    if minimum_type == "amount":
        minimum_value: Any = conv.money("minimum.amount", minimum.get("amount"))
    elif minimum_type == "quantity":
        minimum_value = conv.integer("minimum.quantity", minimum.get("quantity"))
    else:
        minimum_value = None
    code = (raw.get("code") or "").strip() if raw.get("code_mode", "shared") == "shared" else ""
    limited = checked(raw, "usage_limited")
    return {
        "name": (raw.get("name") or "").strip(),
        "applies_to": raw.get("applies_to") or "products",
        "code": code or None,
        "type": kind,
        "value": value,
        "carriers": split_ids(raw.get("carriers")) if kind == "free_shipping" else [],
        "starts_at": conv.day("starts_at", raw.get("starts_at")),
        "ends_at": conv.day("ends_at", raw.get("ends_at"))
        if raw.get("window") == "dates"
        else None,
        "usage_limit": conv.integer("usage_limit", raw.get("usage_limit")) if limited else None,
        "once_per_customer": checked(raw, "once_per_customer"),
        "audience": audience_in(conv, raw.get("audience")),
        "minimum": {"type": minimum_type, "value": minimum_value},
        "payment_methods": list(raw.get("payment_methods") or []),
        "channels": list(raw.get("channels") or []),
        "active": checked(raw, "active"),
    }


def _form_context(shop: Shop, **context: Any) -> dict[str, Any]:
    return {
        "choices": audience_choices(shop),
        "currency": shop.currency,
        "labels": LABELS,
        "type_labels": TYPE_LABELS,
        "payment_options": [(m, PAYMENT_LABELS[m]) for m in PAYMENT_METHODS],
        "channel_options": [(c, CHANNEL_LABELS[c]) for c in CHANNELS],
        "charset": DEFAULT_CHARSET,
        "errors": {},
        **context,
    }


def describe(discount: dict[str, Any], currency: str) -> str:
    """``10 %``, ``€5.00``, ``Free shipping (colissimo), up to €8.00``."""
    kind, value = discount["type"], discount["value"]
    if kind == "percent":
        return f"{value} % off"
    if kind == "fixed":
        return f"{money(value, currency)} off"
    carriers = f" ({', '.join(discount['carriers'])})" if discount["carriers"] else ""
    cap = f", up to {money(value, currency)}" if value else ""
    return f"Free shipping{carriers}{cap}"


def _on_form_fields(errors: dict[str, list[str]], raw: dict[str, Any]) -> dict[str, list[str]]:
    """The API's ``value`` and ``minimum.value`` are one input per type on the form."""
    minimum = raw.get("minimum") if isinstance(raw.get("minimum"), dict) else {}
    moved = {
        "value": f"value_{raw.get('type') or 'percent'}",
        "minimum.value": f"minimum.{minimum.get('type') or 'amount'}",
    }
    shown: dict[str, list[str]] = {}
    for name, messages in errors.items():
        shown.setdefault(moved.get(name, name), []).extend(messages)
    return shown


def _save(shop: Shop, discount_id: int | None) -> ResponseReturnValue:
    raw = nested_form(request.form, MULTI)
    conv = Converter(shop.currency)
    payload = shaped(discount_payload, conv, raw)
    if discount_id is not None:
        shown = discount_form(shop, DiscountOut().dump(operations.get_discount(shop, discount_id)))
        for name in WINDOW:  # a day left as shown keeps its stored moment
            if raw.get(name, "") == shown[name] and (name == "starts_at" or payload[name]):
                del payload[name]
    errors: dict[str, list[str]]
    if conv.errors:
        errors = {
            **flatten_messages(DiscountIn(partial=discount_id is not None).validate(payload)),
            **conv.errors,
        }
        saved = None
    elif discount_id is None:
        saved, errors = run_form(
            lambda: operations.create_discount(shop, DiscountIn().load(payload))
        )
    else:
        try:
            saved, errors = run_form(lambda: operations.update_discount(shop, discount_id, payload))
        except ApiError as error:  # 409: the shared code was used, it cannot be taken away
            db.session.rollback()
            if error.status != 409:
                raise
            saved, errors = None, {"code": [error.message]}
    if errors:
        errors = _on_form_fields(errors, raw)
        return render_page(
            "discounts_form.html",
            422,
            **_form_context(shop, form=raw, discount_id=discount_id, errors=errors),
        )
    assert saved is not None
    warnings = " ".join(DiscountOut().dump(saved)["warnings"])
    verb = "Created" if discount_id is None else "Saved"
    message = f"{verb} the discount “{saved.name}”." + (f" {warnings}" if warnings else "")
    if discount_id is None and saved.code is None:
        return redirect_to(
            ".discount_codes",
            message + " Generate or import its codes below.",
            discount_id=saved.id,
        )
    return redirect_to(".discounts", message)


# Views: discounts -----------------------------------------------------------------------


@admin_blueprint.get("/discounts")
def discounts() -> ResponseReturnValue:
    shop = current_admin_shop()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found = operations.list_discounts(shop, page, PER_PAGE)
    choices = audience_choices(shop)
    rows = []
    for discount in found["items"]:
        item = DiscountOut().dump(discount)
        item["summary"] = describe(item, shop.currency)
        item["audience_label"] = audience_label(item["audience"], choices)
        item["window"] = (
            shop_day(shop, item["starts_at"]),
            shop_day(shop, item["ends_at"], end=True),
        )
        item["pool"] = operations.list_codes(shop, discount.id, None, 1, 1)["total"]
        rows.append(item)
    return render_page(
        "discounts.html",
        rows=rows,
        found={"total": found["total"], "page": found["page"], "per_page": found["per_page"]},
        payment_labels=PAYMENT_LABELS,
        channel_labels=CHANNEL_LABELS,
        money=lambda amount: money(amount, shop.currency),
    )


@admin_blueprint.route("/discounts/new", methods=["GET", "POST"])
def discount_new() -> ResponseReturnValue:
    shop = current_admin_shop()
    if request.method == "POST":
        return _save(shop, None)
    form = {**NEW_DISCOUNT, "applies_to": request.args.get("applies_to", "products")}
    return render_page("discounts_form.html", **_form_context(shop, form=form, discount_id=None))


@admin_blueprint.route("/discounts/<int:discount_id>", methods=["GET", "POST"])
def discount_edit(discount_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    discount = operations.get_discount(shop, discount_id)
    if request.method == "POST":
        return _save(shop, discount_id)
    form = discount_form(shop, DiscountOut().dump(discount))
    return render_page(
        "discounts_form.html", **_form_context(shop, form=form, discount_id=discount_id)
    )


@admin_blueprint.post("/discounts/<int:discount_id>/delete")
def discount_delete(discount_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    name = operations.get_discount(shop, discount_id).name
    operations.delete_discount(shop, discount_id)
    return redirect_to(".discounts", f"Deleted the discount “{name}” and its codes.")


# Views: codes ---------------------------------------------------------------------------


def _serial(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 16 and int(text) <= MAX_SERIAL else None


def _codes_page(
    shop: Shop, discount_id: int, status: int = 200, **context: Any
) -> ResponseReturnValue:
    discount = operations.get_discount(shop, discount_id)
    shown = request.args.get("status") or None
    if shown not in CODE_STATUSES:
        shown = None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    search = (request.args.get("q") or "").strip()[:64]
    after = _serial(request.args.get("after", ""))
    found = operations.list_codes(
        shop, discount.id, shown, page, PER_PAGE, q=search or None, after=after
    )
    counts = {
        name: operations.list_codes(shop, discount.id, name, 1, 1)["total"]
        for name in CODE_STATUSES
    }
    # The newest code's id: codes added from now on (a batch generated on this page) are
    # listed with ``after`` set to it.
    newest = operations.last_code_id(shop, discount.id)
    job = None
    warnings: list[str] = []
    job_id = request.args.get("job", type=int)
    if job_id:
        job = JobOut().dump(get_job(shop, job_id))
        if job["status"] == "succeeded":
            warnings = list((job["result"] or {}).get("warnings") or [])
    item = DiscountOut().dump(discount)
    generate = {"count": "100", "length": "8", "prefix": "", "suffix": "", "charset": ""}
    return render_page(
        "codes.html",
        status,
        discount=item,
        summary=describe(item, shop.currency),
        codes=CodeOut(many=True).dump(found["items"]),
        found={"total": found["total"], "page": found["page"], "per_page": found["per_page"]},
        shown=shown,
        search=search,
        after=after,
        newest=newest,
        list_params={
            key: value
            for key, value in (("status", shown), ("q", search), ("after", after))
            if value
        },
        counts=counts,
        all_count=sum(counts.values()),
        status_labels=STATUS_LABELS,
        job=job,
        warnings=warnings,
        sync_limit=SYNC_LIMIT,
        generate=context.pop("generate", generate),
        errors=context.pop("errors", {}),
        report=context.pop("report", None),
        **context,
    )


@admin_blueprint.get("/discounts/<int:discount_id>/codes")
def discount_codes(discount_id: int) -> ResponseReturnValue:
    return _codes_page(current_admin_shop(), discount_id)


@admin_blueprint.post("/discounts/<int:discount_id>/codes/generate")
def discount_codes_generate(discount_id: int) -> ResponseReturnValue:
    """Without JavaScript: generate now (up to the API's limit) or start the same job."""
    shop = current_admin_shop()
    discount = operations.get_discount(shop, discount_id)
    typed = {
        name: request.form.get(name, "")
        for name in ("count", "length", "prefix", "suffix", "charset")
    }
    conv = Converter(shop.currency)
    body = {
        "count": conv.integer("count", typed["count"]),
        "length": conv.integer("length", typed["length"] or "8"),
        "prefix": typed["prefix"].strip(),
        "suffix": typed["suffix"].strip(),
        "charset": typed["charset"].strip() or None,
    }
    if conv.errors:
        return _codes_page(shop, discount_id, 422, generate=typed, errors=conv.errors)
    try:
        args = GenerateIn().load(body)
        warnings = density_warnings(shop, **args)
        if args["count"] <= SYNC_LIMIT:
            before = operations.last_code_id(shop, discount.id)
            made = generate_codes(shop, discount, **args)
            return redirect_to(
                ".discount_codes",
                " ".join([f"Generated {made:,} codes.", *warnings]),
                "warning" if warnings else "success",
                discount_id=discount_id,
                after=before,
            )
        check_feasible(
            shop, args["count"], args["length"], args["prefix"] or "", args["suffix"] or "",
            args["charset"],
        )  # fmt: skip
    except ValidationError as error:
        db.session.rollback()
        return _codes_page(
            shop, discount_id, 422, generate=typed, errors=flatten_messages(error.messages)
        )
    except ApiError as error:
        db.session.rollback()
        if error.status != 422:
            raise
        return _codes_page(shop, discount_id, 422, generate=typed, errors=error.details)
    before = operations.last_code_id(shop, discount.id)
    job = enqueue_generation(shop, discount.id, args)  # the API's own job kind
    return redirect_to(
        ".discount_codes", " ".join(warnings) or None, "warning", discount_id=discount_id,
        job=job.id, after=before,
    )  # fmt: skip


@admin_blueprint.post("/discounts/<int:discount_id>/codes/import")
@streamed_upload
def discount_codes_import(discount_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    discount = operations.get_discount(shop, discount_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _codes_page(shop, discount_id, 422, errors={"file": ["Choose a CSV file."]})
    try:
        report = ImportOut().dump(import_codes(shop, discount, upload.stream))
    except ApiError as error:
        db.session.rollback()
        if error.status != 422:
            raise
        return _codes_page(shop, discount_id, 422, errors=error.details)
    return _codes_page(shop, discount_id, report=report, filename=upload.filename)


@admin_blueprint.get("/discounts/<int:discount_id>/codes/export")
def discount_codes_export(discount_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    discount = operations.get_discount(shop, discount_id)
    return Response(
        stream_with_context(export_rows(shop, discount)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="discount-{discount.id}-codes.csv"'},
    )

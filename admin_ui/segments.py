"""Segments: the list and the segment builder (conditions of contract §5, All/Any, live count).

A condition row is posted as ``conditions.{i}.field``, ``conditions.{i}.op`` and the value
inputs of the field's kind (``date_mode``/``date``/``days``, ``number``, ``money``,
``bool``, ``text``, ``choice``, ``ids``); :func:`condition_from_row` turns it into the
API's ``{"field", "op", "value"}`` (money from major to minor units, ``days`` ago into
``-30d``), and ``SegmentIn``/``SegmentPatch`` judge it as the API does. ``segments.js``
does the same conversion in the browser for the live count (``POST /api/segments/preview``).
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from admin_ui.blueprint import (
    admin_blueprint,
    currency_exponent,
    format_money,
    render_page,
    run_form,
    to_minor_units,
)
from admin_ui.catalogue_names import Names, ids_in, names_for
from admin_ui.session import current_admin_shop, redirect_to
from plugin.errors import flatten_messages
from plugin.money import plain_amount
from plugin.paging import PageQuery
from plugin.segments import operations
from plugin.segments.conditions import CUSTOMER_TYPES, FIELDS, RELATIVE_DAYS
from plugin.segments.models import MATCH_ALL, MATCH_ANY
from plugin.segments.schemas import SegmentIn, SegmentPatch

PER_PAGE = 50
LABELS = {"name": "Segment name", "match": "Customers must meet", "conditions": "Conditions"}

FIELD_LABELS = {
    "registration_date": "Registration date",
    "customer_tag": "Customer tag",
    "available_points": "Available loyalty points",
    "total_order_count": "Number of orders",
    "total_purchase_amount": "Total spent",
    "purchased_date": "Bought something on",
    "last_order_date": "Last order date",
    "purchased_product": "Bought product",
    "dropship_partner_registration_date": "Dropship partner since",
    "used_discount_code": "Used a discount code",
    "city": "City",
    "country": "Country",
    "customer_type": "Customer type",
    "accepts_marketing": "Accepts marketing",
}
OP_LABELS = {
    "date": {"is": "on", "before": "before", "after": "after"},
    "number": {
        "eq": "equal to",
        "ne": "not equal to",
        "gt": "more than",
        "gte": "at least",
        "lt": "less than",
        "lte": "at most",
    },
    "text": {"is": "is", "is_not": "is not", "has": "has", "has_not": "does not have"},
    "ids": {"any_of": "any of", "all_of": "all of", "none_of": "none of"},
    "choice": {"is": "is"},
    "bool": {"is": "is"},
}
TYPE_LABELS = {"individual": "Individual", "business": "Business"}
#: The inputs a row posts, by kind of value.
VALUE_INPUTS = ("date_mode", "date", "days", "number", "money", "bool", "text", "choice", "ids")
_ROW = re.compile(r"^conditions\.(\d+)\.(\w+)$")
_WHOLE = re.compile(r"^[+-]?\d{1,16}$")
_DAYS = re.compile(r"^-?\d{1,5}$")


def kind_of(field: str) -> str:
    """The input a field's value needs: date, int, money, bool, text, choice or ids."""
    if field == "total_purchase_amount":
        return "money"  # minor units in the API, major units for the merchant
    return FIELDS[field][0] if field in FIELDS else "text"


def _op_group(kind: str) -> str:
    return "number" if kind in ("int", "money") else kind


def op_choices(field: str) -> list[tuple[str, str]]:
    labels = OP_LABELS[_op_group(kind_of(field))]
    return [(op, labels.get(op, op)) for op in FIELDS.get(field, ("", ()))[1]]


def field_spec(currency: str) -> dict[str, Any]:
    """What ``segments.js`` needs: each field's label, kind and operators."""
    return {
        field: {"label": FIELD_LABELS[field], "kind": kind_of(field), "ops": op_choices(field)}
        for field in FIELDS
    }


def blank_row(field: str = "total_order_count") -> dict[str, str]:
    row = dict.fromkeys(VALUE_INPUTS, "")
    row.update(field=field, op=FIELDS[field][1][0], date_mode="date", bool="yes")
    row["choice"] = CUSTOMER_TYPES[0]
    return row


def row_from_condition(condition: dict[str, Any], currency: str) -> dict[str, str]:
    """A stored condition as the values of its row's inputs."""
    field = condition.get("field", "")
    row = blank_row(field if field in FIELDS else "total_order_count")
    row["op"] = str(condition.get("op", ""))
    value = condition.get("value")
    kind = kind_of(field)
    if kind == "date":
        match = RELATIVE_DAYS.match(str(value))
        if match:
            days = int(match.group(2))
            row.update(date_mode="relative", days=str(-days if match.group(1) == "+" else days))
        else:
            row.update(date_mode="date", date=str(value))
    elif kind == "money":
        row["money"] = plain_amount(int(value), currency)
    elif kind == "int":
        row["number"] = str(value)
    elif kind == "bool":
        row["bool"] = "yes" if value else "no"
    elif kind == "ids":
        row["ids"] = ", ".join(str(item) for item in value or [])
    elif kind == "choice":
        row["choice"] = str(value)
    else:
        row["text"] = str(value)
    return row


def condition_from_row(row: dict[str, str], currency: str) -> tuple[dict[str, Any], str | None]:
    """The API's condition for a row, and a message when its value cannot be read.

    A value that cannot be converted is passed on as typed, so the schema refuses it too.
    """
    field, op = row.get("field", ""), row.get("op", "")
    kind = kind_of(field)
    value: Any
    error = None
    if kind == "date":
        if row.get("date_mode") == "relative":
            days = row.get("days", "").strip()
            if _DAYS.match(days):
                count = int(days)
                value = f"-{count}d" if count >= 0 else f"+{-count}d"
            else:
                value, error = days, "Enter a whole number of days."
        else:
            value = row.get("date", "").strip()
            if not value:
                error = "Choose a date."
    elif kind == "int":
        text = row.get("number", "").strip()
        value = int(text) if _WHOLE.match(text) else text
        error = None if _WHOLE.match(text) else "Enter a whole number."
    elif kind == "money":
        text = row.get("money", "").strip()
        minor = to_minor_units(text, currency) if text else None
        value = text if minor is None else minor
        if minor is None:
            digits = currency_exponent(currency)
            example = "100" if digits == 0 else "99." + "5" * digits
            error = f"Enter an amount in {currency}, such as {example}."
    elif kind == "bool":
        text = row.get("bool", "")
        value = {"yes": True, "no": False}.get(text, text)
    elif kind == "ids":
        value = [part for part in re.split(r"[\s,]+", row.get("ids", "")) if part]
    elif kind == "choice":
        value = row.get("choice", "")
    else:
        value = row.get("text", "")
    return {"field": field, "op": op, "value": value}, error


def rows_from_form(form: MultiDict[str, str]) -> list[dict[str, str]]:
    """The posted condition rows, in the order of their indexes (gaps are fine)."""
    rows: dict[int, dict[str, str]] = {}
    for name in form:
        match = _ROW.match(name)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = form.get(name, "")
    return [rows[index] for index in sorted(rows)]


def describe(condition: dict[str, Any], currency: str, names: Names | None = None) -> str:
    """A condition in words: ``Total spent at least 100.00 EUR``; products by their titles
    in ``names`` (the id where the catalogue does not know it)."""
    field = condition.get("field", "")
    kind = kind_of(field)
    op = OP_LABELS[_op_group(kind)].get(condition.get("op", ""), condition.get("op", ""))
    value = condition.get("value")
    if kind == "date":
        match = RELATIVE_DAYS.match(str(value))
        if match:
            days = int(match.group(2))
            shown = (
                "today"
                if days == 0
                else f"{days} day{'s' if days != 1 else ''} "
                + ("from now" if match.group(1) == "+" else "ago")
            )
        else:
            shown = str(value)
    elif kind == "money":
        shown = format_money(int(value), currency)
    elif kind == "bool":
        shown = "yes" if value else "no"
    elif kind == "ids":
        shown = ", ".join(
            (names.product(str(item)) if names else None) or str(item) for item in value or []
        )
    elif kind == "choice":
        shown = TYPE_LABELS.get(str(value), str(value))
    else:
        shown = str(value)
    return f"{FIELD_LABELS.get(field, field)} {op} {shown}"


# Views -------------------------------------------------------------------------------


@admin_blueprint.get("/segments")
def segments() -> ResponseReturnValue:
    shop = current_admin_shop()
    page = PageQuery().load({"page": request.args.get("page", "1"), "per_page": PER_PAGE})
    found = operations.list_segments(shop, **page)
    products = [
        product
        for segment in found["items"]
        for condition in segment.conditions
        if kind_of(condition.get("field", "")) == "ids"
        for product in ids_in(condition.get("value"))
    ]
    names = names_for(shop, products)
    return render_page(
        "segments.html",
        found=found,
        describe=lambda condition, currency: describe(condition, currency, names),
    )


def _builder(
    segment: Any,
    form: dict[str, Any],
    errors: dict[str, list[str]],
    status: int = 200,
    focus: str | None = None,
) -> ResponseReturnValue:
    shop = current_admin_shop()
    return render_page(
        "segments_form.html",
        status,
        segment=segment,
        form=form,
        errors=errors,
        labels=LABELS,
        spec=field_spec(shop.currency),
        field_labels=FIELD_LABELS,
        op_choices=op_choices,
        kind_of=kind_of,
        type_labels=TYPE_LABELS,
        blank_row=blank_row(),
        exponent=currency_exponent(shop.currency),
        match_choices=[(MATCH_ALL, "All conditions"), (MATCH_ANY, "Any condition")],
        focus=focus,
    )


def _posted() -> tuple[dict[str, Any], dict[str, Any], dict[str, list[str]]]:
    """The builder's form as shown again, the API payload, and conversion messages."""
    currency = current_admin_shop().currency
    rows = rows_from_form(request.form)
    action = request.form.get("_action", "")
    if action == "add":
        rows.append(blank_row())
    elif action.startswith("remove:") and action[7:].isdigit():
        index = int(action[7:])
        rows = [row for position, row in enumerate(rows) if position != index]
    form = {
        "name": request.form.get("name", ""),
        "match": request.form.get("match", MATCH_ALL),
        "rows": [{**blank_row(row.get("field") or "total_order_count"), **row} for row in rows],
    }
    conditions, problems = [], {}
    for index, row in enumerate(rows):
        condition, problem = condition_from_row(row, currency)
        conditions.append(condition)
        if problem:
            problems[f"conditions.{index}.value"] = [problem]
    if not rows:
        problems["conditions"] = ["Add at least one condition."]
    payload = {"name": form["name"], "match": form["match"], "conditions": conditions}
    return form, payload, problems


def _save(segment_id: int | None) -> ResponseReturnValue:
    shop = current_admin_shop()
    segment = operations.get_segment(shop, segment_id) if segment_id is not None else None
    form, payload, problems = _posted()
    action = request.form.get("_action")
    if action:  # add or remove a row: show the form again, unsaved, focus where it acted
        focus = (
            f"f-conditions-{len(form['rows']) - 1}-field" if action == "add" else "add-condition"
        )
        return _builder(segment, form, {}, focus=focus)
    schema = SegmentIn() if segment_id is None else SegmentPatch()
    errors = {**flatten_messages(schema.validate(payload)), **problems}
    if not errors:
        data = schema.load(payload)
        saved, errors = run_form(
            lambda: (
                operations.create_segment(shop, data)
                if segment_id is None
                else operations.update_segment(shop, segment_id, data)
            )
        )
        if saved is not None:
            verb = "created" if segment_id is None else "saved"
            count = saved.member_count
            if saved.recomputing:  # a large shop: a job recomputes it
                return redirect_to(
                    ".segments",
                    f"Segment “{saved.name}” {verb}: its members are being counted in the "
                    "background.",
                )
            return redirect_to(
                ".segments",
                f"Segment “{saved.name}” {verb}: {count} customer{'s' if count != 1 else ''} "
                f"{'match' if count != 1 else 'matches'}.",
            )
    return _builder(segment, form, errors, 422)


@admin_blueprint.get("/segments/new")
def segment_new() -> ResponseReturnValue:
    return _builder(None, {"name": "", "match": MATCH_ALL, "rows": [blank_row()]}, {})


@admin_blueprint.post("/segments/new")
def segment_create() -> ResponseReturnValue:
    return _save(None)


@admin_blueprint.get("/segments/<int:segment_id>")
def segment_edit(segment_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    segment = operations.get_segment(shop, segment_id)
    rows = [row_from_condition(condition, shop.currency) for condition in segment.conditions]
    return _builder(segment, {"name": segment.name, "match": segment.match, "rows": rows}, {})


@admin_blueprint.post("/segments/<int:segment_id>")
def segment_update(segment_id: int) -> ResponseReturnValue:
    return _save(segment_id)


@admin_blueprint.post("/segments/<int:segment_id>/delete")
def segment_delete(segment_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    segment = operations.get_segment(shop, segment_id)
    operations.delete_segment(shop, segment_id)
    return redirect_to(".segments", f"Segment “{segment.name}” deleted.")

"""Audiences: a segment or group kept in sync with Klaviyo, Attentive or Meta, with runs.

Thin views over the admin API's schemas and operations (``plugin.audiences``): the form
becomes the body of ``POST``/``PATCH /api/audiences``; secrets are never shown back (only
their masked form, as the API answers), and a secret left blank on edit keeps the stored
one. "Run now" is ``POST .../run``; the runs page is its history.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from admin_ui.blueprint import admin_blueprint, render_page, run_form
from admin_ui.nested_forms import (
    Converter,
    checked,
    copy_form,
    edit_rows,
    nested_form,
    shaped,
)
from admin_ui.session import current_admin_shop, redirect_to
from plugin.audiences import operations, tasks
from plugin.audiences.models import ACTIVE_RUN_STATUSES, DESTINATION_TYPES, SCHEDULES
from plugin.audiences.schemas import (
    REQUIRED_CREDENTIAL,
    AudienceOut,
    AudienceRunOut,
    AudienceSchema,
)
from plugin.audiences.sync import FIELDS
from plugin.errors import ApiError
from plugin.groups.operations import list_groups
from plugin.paging import MAX_PER_PAGE
from plugin.segments.operations import list_segments
from plugin.shops.models import Shop

PER_PAGE = 50
DESTINATION_LABELS = {
    "klaviyo": "Klaviyo list",
    "attentive": "Attentive",
    "meta": "Meta custom audience",
}
SCHEDULE_LABELS = {"manual": "Only when I run it", "hourly": "Every hour", "daily": "Every day"}
CREDENTIAL_LABELS = {"api_key": "API key", "access_token": "Access token"}
LABELS = {
    "name": "Name",
    "source.type": "Customers from",
    "source.segment": "Segment",
    "source.group": "Group",
    "destination.type": "Send to",
    "destination.credentials.api_key": "API key",
    "destination.credentials.access_token": "Access token",
    "destination.list_id": "Klaviyo list id",
    "destination.audience_id": "Meta custom audience id",
    "destination.base_url": "API address",
    "mapping.identifier": "Identify people by",
    "mapping.properties": "Properties",
    "only_update_existing": "Only update existing profiles",
    "schedule": "Schedule",
}
BLANK_PROPERTY = {"name": "", "field": "first_name"}
NEW_AUDIENCE = {
    "name": "",
    "source": {"type": "segment", "segment": "", "group": ""},
    "destination": {
        "type": "klaviyo",
        "credentials": {"api_key": "", "access_token": ""},
        "list_id": "",
        "audience_id": "",
        "base_url": "",
    },
    "mapping": {"identifier": "email", "properties": []},
    "only_update_existing": "",
    "schedule": "manual",
    "active": "1",
}


def audience_form(audience: dict[str, Any]) -> dict[str, Any]:
    """An API audience as form values; secrets stay empty (their mask is shown as a hint)."""
    destination = audience["destination"]
    source = audience["source"]
    return {
        "name": audience["name"],
        "source": {
            "type": source["type"],
            "segment": str(source["id"]) if source["type"] == "segment" else "",
            "group": str(source["id"]) if source["type"] == "group" else "",
        },
        "destination": {
            "type": destination["type"],
            "credentials": {"api_key": "", "access_token": ""},
            "list_id": destination.get("list_id") or "",
            "audience_id": destination.get("audience_id") or "",
            "base_url": destination.get("base_url") or "",
        },
        "mapping": {
            "identifier": audience["mapping"]["identifier"],
            "properties": [
                {"name": name, "field": field}
                for name, field in audience["mapping"]["properties"].items()
            ],
        },
        "only_update_existing": "1" if audience["only_update_existing"] else "",
        "schedule": audience["schedule"],
        "active": "1" if audience["active"] else "",
    }


def audience_payload(conv: Converter, raw: dict[str, Any], *, editing: bool) -> dict[str, Any]:
    source = raw.get("source") if isinstance(raw.get("source"), dict) else {}
    destination = raw.get("destination") if isinstance(raw.get("destination"), dict) else {}
    mapping = raw.get("mapping") if isinstance(raw.get("mapping"), dict) else {}
    kind = source.get("type") or "segment"
    source_id = conv.integer(f"source.{kind}", source.get(kind)) if source.get(kind) else None
    if source_id is None:
        conv.fail(f"source.{kind}", f"Choose a {kind}.")
    vendor = destination.get("type") or ""
    typed = (
        destination.get("credentials") if isinstance(destination.get("credentials"), dict) else {}
    )
    needed = REQUIRED_CREDENTIAL.get(vendor)
    credentials = {}
    if needed and (typed.get(needed) or "").strip():
        credentials[needed] = typed[needed].strip()
    made_destination: dict[str, Any] = {
        "type": vendor,
        "list_id": (destination.get("list_id") or "").strip() or None,
        "audience_id": (destination.get("audience_id") or "").strip() or None,
        "base_url": (destination.get("base_url") or "").strip() or None,
    }
    if credentials or not editing:
        made_destination["credentials"] = credentials
    properties: dict[str, str] = {}
    for index, row in enumerate(mapping.get("properties") or []):
        name = (row.get("name") or "").strip()
        if not name:
            continue
        if name in properties:
            conv.fail(f"mapping.properties.{index}.name", "This property is named twice.")
        properties[name] = row.get("field") or ""
    return {
        "name": (raw.get("name") or "").strip(),
        "source": {"type": kind, "id": source_id},
        "destination": made_destination,
        "mapping": {"identifier": mapping.get("identifier") or "email", "properties": properties},
        "only_update_existing": checked(raw, "only_update_existing"),
        "schedule": raw.get("schedule") or "manual",
        "active": checked(raw, "active"),
    }


def _on_form_fields(errors: dict[str, list[str]], raw: dict[str, Any]) -> dict[str, list[str]]:
    """Name the input each API message is about (the source's select, a property's row)."""
    source = raw.get("source") if isinstance(raw.get("source"), dict) else {}
    rows = ((raw.get("mapping") or {}).get("properties")) or []
    shown: dict[str, list[str]] = {}
    for name, messages in errors.items():
        target = name
        if name == "source.id":
            target = f"source.{source.get('type') or 'segment'}"
        elif name.startswith("mapping.properties.") and name.count(".") >= 3:
            key = name.split(".")[2]
            for index, row in enumerate(rows):
                if (row.get("name") or "").strip() == key:
                    target = f"mapping.properties.{index}.field"
        shown.setdefault(target, []).extend(messages)
    return shown


def _options(shop: Shop) -> dict[str, Any]:
    return {
        "segments": [(s.id, s.name) for s in list_segments(shop, 1, MAX_PER_PAGE)["items"]],
        "groups": [(g.id, g.name) for g in list_groups(shop, 1, MAX_PER_PAGE)["items"]],
    }


def _form_page(
    shop: Shop,
    form: dict[str, Any],
    audience: dict[str, Any] | None,
    status: int = 200,
    **context: Any,
) -> ResponseReturnValue:
    return render_page(
        "audiences_form.html",
        status,
        form=form,
        audience=audience,
        options=_options(shop),
        labels=LABELS,
        destinations=[(d, DESTINATION_LABELS[d]) for d in DESTINATION_TYPES],
        schedules=[(s, SCHEDULE_LABELS[s]) for s in SCHEDULES],
        fields=[(f, f.replace("_", " ")) for f in FIELDS],
        errors=context.pop("errors", {}),
        focus=context.pop("focus", None),
        **context,
    )


def _save(shop: Shop, audience_id: int | None) -> ResponseReturnValue:
    raw = nested_form(request.form)
    current = (
        AudienceOut().dump(operations.get_audience(shop, audience_id))
        if audience_id is not None
        else None
    )
    for name in ("name", "source", "destination", "mapping", "schedule"):  # not the switches
        raw.setdefault(name, copy_form(NEW_AUDIENCE[name]))
    focus = edit_rows(raw, {"mapping.properties": BLANK_PROPERTY})
    if focus is not None:
        return _form_page(shop, raw, current, focus=focus)
    conv = Converter(shop.currency)
    payload = shaped(audience_payload, conv, raw, editing=audience_id is not None)
    if conv.errors:
        return _form_page(shop, raw, current, 422, errors=conv.errors)
    if audience_id is None:
        saved, errors = run_form(
            lambda: operations.create_audience(shop, AudienceSchema().load(payload))
        )
    else:
        saved, errors = run_form(lambda: operations.update_audience(shop, audience_id, payload))
    if errors:
        return _form_page(shop, raw, current, 422, errors=_on_form_fields(errors, raw))
    assert saved is not None
    verb = "Created" if audience_id is None else "Saved"
    return redirect_to(".audiences", f"{verb} the audience “{saved.name}”.")


# Views ----------------------------------------------------------------------------------


@admin_blueprint.get("/audiences")
def audiences() -> ResponseReturnValue:
    shop = current_admin_shop()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found = operations.list_audiences(shop, page, PER_PAGE)
    options = _options(shop)
    names = {
        "segment": dict(options["segments"]),
        "group": dict(options["groups"]),
    }
    items = AudienceOut(many=True).dump(found["items"])
    for item in items:
        source = item["source"]
        item["source_name"] = names[source["type"]].get(source["id"], f"#{source['id']} (deleted)")
        last = operations.list_runs(shop, item["id"], 1, 1)["items"]
        item["last_run"] = AudienceRunOut().dump(last[0]) if last else None
    return render_page(
        "audiences.html",
        items=items,
        found={"total": found["total"], "page": found["page"], "per_page": found["per_page"]},
        destination_labels=DESTINATION_LABELS,
        schedule_labels=SCHEDULE_LABELS,
    )


@admin_blueprint.route("/audiences/new", methods=["GET", "POST"])
def audience_new() -> ResponseReturnValue:
    shop = current_admin_shop()
    if request.method == "POST":
        return _save(shop, None)
    return _form_page(shop, copy_form(NEW_AUDIENCE), None)


@admin_blueprint.route("/audiences/<int:audience_id>", methods=["GET", "POST"])
def audience_edit(audience_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    if request.method == "POST":
        return _save(shop, audience_id)
    current = AudienceOut().dump(operations.get_audience(shop, audience_id))
    return _form_page(shop, audience_form(current), current)


@admin_blueprint.post("/audiences/<int:audience_id>/delete")
def audience_delete(audience_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    name = operations.get_audience(shop, audience_id).name
    operations.delete_audience(shop, audience_id)
    return redirect_to(".audiences", f"Deleted the audience “{name}” and its runs.")


@admin_blueprint.post("/audiences/<int:audience_id>/run")
def audience_run(audience_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    try:
        run = tasks.start_run_now(shop, audience_id)
    except ApiError as error:  # 409: a run is under way already
        if error.status != 409:
            raise
        return redirect_to(".audience_runs", error.message, "error", audience_id=audience_id)
    shown = AudienceRunOut().dump(run)
    if run.status in ACTIVE_RUN_STATUSES:
        message = f"Run #{run.id} is {run.status}: it goes on in the background."
    else:
        message = (
            f"Run #{run.id} {run.status}: {shown['synced']} synced, {shown['removed']} removed, "
            f"{shown['skipped']} skipped, {shown['failed']} failed."
        )
    level = "error" if run.status == "failed" else "success"
    return redirect_to(".audience_runs", message, level, audience_id=audience_id)


@admin_blueprint.get("/audiences/<int:audience_id>/runs")
def audience_runs(audience_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    audience = AudienceOut().dump(operations.get_audience(shop, audience_id))
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found = operations.list_runs(shop, audience_id, page, PER_PAGE)
    runs = AudienceRunOut(many=True).dump(found["items"])
    return render_page(
        "audiences_runs.html",
        audience=audience,
        runs=runs,
        found={"total": found["total"], "page": found["page"], "per_page": found["per_page"]},
        active=any(run["status"] in ACTIVE_RUN_STATUSES for run in runs),
        destination_labels=DESTINATION_LABELS,
    )

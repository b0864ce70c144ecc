"""Groups (seed 003): the list, create, modify, delete; the same operations as ``/api/groups``."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from admin_ui.blueprint import admin_blueprint, form_values, render_page, run_form
from admin_ui.session import current_admin_shop, redirect_to
from plugin.db import db, for_shop
from plugin.errors import ApiError, ErrorCode
from plugin.groups import operations
from plugin.groups.models import DEFAULT_GROUP_COLOUR
from plugin.groups.schemas import GroupIn, GroupPatch, ReleaseLocksIn
from plugin.paging import PageQuery
from plugin.segments import placement
from plugin.segments.models import Segment

PER_PAGE = 50
FIELDS = ("name", "colour", "is_default", "auto_segment_id", "auto_priority")
LABELS = {
    "name": "Group name",
    "colour": "Colour",
    "is_default": "Default group",
    "auto_segment_id": "Fill from segment",
    "auto_priority": "Automatic priority",
    "customer_ids": "Customer ids",
}


def _segment_options() -> list[tuple[str, str]]:
    """The choices of an automatic group's segment: none, then the shop's segments."""
    shop = current_admin_shop()
    rows = db.session.execute(
        for_shop(Segment, shop.id).order_by(Segment.name_key)
    ).scalars()
    return [("", "None: customers are placed by hand")] + [(str(s.id), s.name) for s in rows]


def _segment_names() -> dict[int, str]:
    return {int(key): name for key, name in _segment_options() if key}


def _auto_values(values: dict[str, Any]) -> dict[str, Any]:
    """The form's automatic fields as the schema takes them (blank segment: none)."""
    if "auto_segment_id" in values:
        raw = values["auto_segment_id"].strip()
        values["auto_segment_id"] = int(raw) if raw.isdigit() else (None if not raw else raw)
    if "auto_priority" in values:
        raw = values["auto_priority"].strip()
        if not raw:
            values.pop("auto_priority")
        else:
            values["auto_priority"] = int(raw) if raw.lstrip("-").isdigit() else raw
    return values


def _list(
    status: int = 200, error: str | None = None, errors: dict[str, list[str]] | None = None
) -> ResponseReturnValue:
    page = PageQuery().load({"page": request.args.get("page", "1"), "per_page": PER_PAGE})
    found = operations.list_groups(current_admin_shop(), **page)
    return render_page(
        "groups.html", status, found=found, error=error, segment_names=_segment_names(),
        errors=errors or {}, labels=LABELS,
    )  # fmt: skip


@admin_blueprint.get("")
def groups() -> ResponseReturnValue:
    return _list()


def _form_values() -> dict[str, Any]:
    values = form_values(*FIELDS)
    if not values.get("colour", "").strip():
        values.pop("colour", None)  # a new group takes the default colour
    return _auto_values(values)


@admin_blueprint.route("/groups/new", methods=["GET", "POST"])
def group_new() -> ResponseReturnValue:
    shop = current_admin_shop()
    form: dict[str, Any] = {
        "name": "",
        "colour": DEFAULT_GROUP_COLOUR,
        "is_default": False,
        "auto_segment_id": None,
        "auto_priority": 0,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = _form_values()
        group, errors = run_form(lambda: placement.create_group(shop, GroupIn().load(values)))
        if group is not None:
            return redirect_to(".groups", f"Group “{group.name}” created.")
        form = {**form, **values, "is_default": "is_default" in values}
    return render_page(
        "groups_form.html",
        422 if errors else 200,
        group=None,
        form=form,
        errors=errors,
        labels=LABELS,
        segments=_segment_options(),
    )


@admin_blueprint.route("/groups/<int:group_id>", methods=["GET", "POST"])
def group_edit(group_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    group = operations.get_group(shop, group_id)
    form: dict[str, Any] = {
        "name": group.name,
        "colour": group.colour,
        "is_default": group.is_default,
        "auto_segment_id": group.auto_segment_id,
        "auto_priority": group.auto_priority,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = _auto_values(form_values(*FIELDS))
        # The default group's switch is shown on and locked: the default moves by
        # switching another group on, never by switching this one off.
        saved, errors = run_form(
            lambda: placement.update_group(shop, group_id, GroupPatch().load(values))
        )
        if saved is not None:
            return redirect_to(".groups", f"Group “{saved.name}” saved.")
        group = operations.get_group(shop, group_id)
        form = {**values, "is_default": group.is_default or "is_default" in values}
    return render_page(
        "groups_form.html",
        422 if errors else 200,
        group=group,
        form=form,
        errors=errors,
        labels=LABELS,
        segments=_segment_options(),
    )


@admin_blueprint.post("/groups/<int:group_id>/delete")
def group_delete(group_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    group = operations.get_group(shop, group_id)
    try:
        placement.delete_group(shop, group_id)
    except ApiError as error:
        if error.code != ErrorCode.DEFAULT_GROUP_PROTECTED:
            raise
        db.session.rollback()
        return _list(
            409,
            f"“{group.name}” is the default group, so it cannot be deleted: new customers "
            "join it. Make another group the default first (Modify → Default group), "
            "then delete this one.",
        )
    moved = group.member_count
    members = (
        f"its {moved} member{'s' if moved != 1 else ''} moved to the default group "
        "or to the automatic group of their segment"
    )
    return redirect_to(
        ".groups", f"Group “{group.name}” deleted; {members if moved else 'it had no members'}."
    )


@admin_blueprint.post("/groups/locks/release")
def group_locks_release() -> ResponseReturnValue:
    """Let automatic groups place customers moved by hand again (``/api/groups/locks/release``)."""
    shop = current_admin_shop()
    raw = request.form.get("customer_ids", "")
    ids = [part for part in raw.replace(",", " ").split() if part]
    result, errors = run_form(
        lambda: placement.release_locks(
            shop, ReleaseLocksIn().load({"customer_ids": ids})["customer_ids"]
        )
    )
    if result is None:
        return _list(422, errors=errors)
    return redirect_to(
        ".groups",
        f"{result['released']} customer(s) released; {result['moved']} placed in another group.",
    )

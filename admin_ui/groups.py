"""Groups (seed 003): the list, create, modify, delete; the same operations as ``/api/groups``."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from admin_ui.blueprint import admin_blueprint, form_values, render_page, run_form
from admin_ui.session import current_admin_shop, redirect_to
from plugin.db import db
from plugin.errors import ApiError, ErrorCode
from plugin.groups import operations
from plugin.groups.models import DEFAULT_GROUP_COLOUR
from plugin.groups.schemas import GroupIn, GroupPatch
from plugin.paging import PageQuery

PER_PAGE = 50
FIELDS = ("name", "colour", "is_default")
LABELS = {"name": "Group name", "colour": "Colour", "is_default": "Default group"}


def _list(status: int = 200, error: str | None = None) -> ResponseReturnValue:
    page = PageQuery().load({"page": request.args.get("page", "1"), "per_page": PER_PAGE})
    found = operations.list_groups(current_admin_shop(), **page)
    return render_page("groups.html", status, found=found, error=error)


@admin_blueprint.get("")
def groups() -> ResponseReturnValue:
    return _list()


def _form_values() -> dict[str, Any]:
    values = form_values(*FIELDS)
    if not values.get("colour", "").strip():
        values.pop("colour", None)  # a new group takes the default colour
    return values


@admin_blueprint.route("/groups/new", methods=["GET", "POST"])
def group_new() -> ResponseReturnValue:
    shop = current_admin_shop()
    form: dict[str, Any] = {"name": "", "colour": DEFAULT_GROUP_COLOUR, "is_default": False}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = _form_values()
        group, errors = run_form(lambda: operations.create_group(shop, GroupIn().load(values)))
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
    )


@admin_blueprint.route("/groups/<int:group_id>", methods=["GET", "POST"])
def group_edit(group_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    group = operations.get_group(shop, group_id)
    form: dict[str, Any] = {
        "name": group.name,
        "colour": group.colour,
        "is_default": group.is_default,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form_values(*FIELDS)
        # The default group's switch is shown on and locked: the default moves by
        # switching another group on, never by switching this one off.
        saved, errors = run_form(
            lambda: operations.update_group(shop, group_id, GroupPatch().load(values))
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
    )


@admin_blueprint.post("/groups/<int:group_id>/delete")
def group_delete(group_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    group = operations.get_group(shop, group_id)
    try:
        operations.delete_group(shop, group_id)
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
    members = f"its {moved} member{'s' if moved != 1 else ''} moved to the default group"
    return redirect_to(
        ".groups", f"Group “{group.name}” deleted; {members if moved else 'it had no members'}."
    )

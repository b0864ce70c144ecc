"""Groups (seed 003): the list, create, modify, delete."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from admin_ui.blueprint import admin_blueprint, render_page
from admin_ui.session import current_admin_shop
from plugin.api.schemas import PageQuery
from plugin.groups import operations


@admin_blueprint.get("")
def groups() -> ResponseReturnValue:
    page = PageQuery().load({"page": request.args.get("page", "1"), "per_page": "50"})
    found = operations.list_groups(current_admin_shop(), **page)
    return render_page("groups.html", found=found)

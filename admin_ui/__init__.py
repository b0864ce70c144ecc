"""The embedded admin pages (contract §5): opened with a session token inside the host admin."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from plugin.config import admin_origins
from plugin.customers.models import Customer
from plugin.db import db, for_shop
from plugin.errors import ApiError, ErrorCode, register_error_handlers
from plugin.groups.models import Group
from plugin.sessions import authenticate

admin_blueprint = Blueprint(
    "customer_groups_admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
)
register_error_handlers(admin_blueprint)


@admin_blueprint.after_request
def _frame_policy(response):  # type: ignore[no-untyped-def]
    origins = admin_origins(current_app.config["CUSTOMER_GROUPS_ADMIN_ORIGINS"])
    ancestors = " ".join(["'self'", *origins])
    response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    return response


@admin_blueprint.get("")
def groups_page() -> ResponseReturnValue:
    shop_domain = (request.args.get("shop") or "").strip().lower()
    session, shop = authenticate(request.args.get("id_token"))
    if session.shop_domain != shop_domain:
        raise ApiError(ErrorCode.INVALID_TOKEN, "The session token is for another shop.", 401)
    counts = (
        select(Customer.group_id, func.count(Customer.id).label("members"))
        .where(Customer.shop_id == shop.id)
        .group_by(Customer.group_id)
        .subquery()
    )
    rows = db.session.execute(
        for_shop(Group, shop.id)
        .add_columns(func.coalesce(counts.c.members, 0))
        .outerjoin(counts, counts.c.group_id == Group.id)
        .order_by(Group.is_default.desc(), Group.name_key)
    ).all()
    return render_template("customer_groups/groups.html", shop=shop, rows=rows)

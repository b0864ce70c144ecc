"""``/api/groups`` and ``/api/groups/{id}/customers`` (contract §5)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.openapi import document
from plugin.api.schemas import CustomerPage, PageQuery, load_body, load_page
from plugin.db import db
from plugin.groups import operations
from plugin.groups.schemas import (
    GroupIn,
    GroupOut,
    GroupPage,
    GroupPatch,
    MoveCustomersIn,
    MoveCustomersOut,
)
from plugin.sessions import current_shop


@api_blueprint.get("/groups")
def list_groups() -> ResponseReturnValue:
    page = load_page()
    return jsonify(GroupPage().dump(operations.list_groups(current_shop(), **page)))


@api_blueprint.post("/groups")
def create_group() -> ResponseReturnValue:
    data = load_body(GroupIn())
    group = operations.create_group(current_shop(), data)
    db.session.commit()
    return jsonify(GroupOut().dump(group)), 201


@api_blueprint.get("/groups/<int:group_id>")
def get_group(group_id: int) -> ResponseReturnValue:
    return jsonify(GroupOut().dump(operations.get_group(current_shop(), group_id)))


@api_blueprint.patch("/groups/<int:group_id>")
def update_group(group_id: int) -> ResponseReturnValue:
    data = load_body(GroupPatch())
    group = operations.update_group(current_shop(), group_id, data)
    db.session.commit()
    return jsonify(GroupOut().dump(group))


@api_blueprint.delete("/groups/<int:group_id>")
def delete_group(group_id: int) -> ResponseReturnValue:
    operations.delete_group(current_shop(), group_id)
    db.session.commit()
    return "", 204


@api_blueprint.get("/groups/<int:group_id>/customers")
def list_group_customers(group_id: int) -> ResponseReturnValue:
    page = load_page()
    found = operations.group_customers(current_shop(), group_id, **page)
    return jsonify(CustomerPage().dump(found))


@api_blueprint.post("/groups/<int:group_id>/customers")
def move_customers(group_id: int) -> ResponseReturnValue:
    data = load_body(MoveCustomersIn())
    result = operations.move_customers(current_shop(), group_id, data["customer_ids"])
    db.session.commit()
    return jsonify(MoveCustomersOut().dump(result))


document(
    "/api/groups",
    "get",
    "List groups with their member counts.",
    query=PageQuery,
    response=GroupPage,
)
document("/api/groups", "post", "Create a group.", request=GroupIn, response=GroupOut, status=201)
document("/api/groups/{group_id}", "get", "One group.", response=GroupOut)
document(
    "/api/groups/{group_id}",
    "patch",
    "Change a group; is_default true moves the default to it.",
    request=GroupPatch,
    response=GroupOut,
)
document(
    "/api/groups/{group_id}",
    "delete",
    "Delete a group; its members move to the default group. The default group answers 409 "
    "default_group_protected.",
    status=204,
)
document(
    "/api/groups/{group_id}/customers",
    "get",
    "The group's customers.",
    query=PageQuery,
    response=CustomerPage,
)
document(
    "/api/groups/{group_id}/customers",
    "post",
    "Move customers into the group (all or none: an unknown id is a 422).",
    request=MoveCustomersIn,
    response=MoveCustomersOut,
)

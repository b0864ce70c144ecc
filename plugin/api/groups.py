"""``/api/groups`` and ``/api/groups/{id}/customers`` (contract §5)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import CustomerPage, load_body, load_page
from plugin.apidoc import document
from plugin.groups import operations
from plugin.groups.schemas import (
    GroupIn,
    GroupOut,
    GroupPage,
    GroupPatch,
    MoveCustomersIn,
    MoveCustomersOut,
    ReleaseLocksIn,
    ReleaseLocksOut,
)
from plugin.paging import PageQuery
from plugin.segments import placement
from plugin.sessions import current_shop


@api_blueprint.get("/groups")
@document("List groups with their member counts.", query=PageQuery, response=GroupPage)
def list_groups() -> ResponseReturnValue:
    page = load_page()
    return jsonify(GroupPage().dump(operations.list_groups(current_shop(), **page)))


@api_blueprint.post("/groups")
@document(
    "Create a group. With auto_segment_id it is automatic: unlocked customers in that segment "
    "are placed in it (lowest auto_priority first, ties: lowest id).",
    request=GroupIn,
    response=GroupOut,
    status=201,
)
def create_group() -> ResponseReturnValue:
    data = load_body(GroupIn())
    group = placement.create_group(current_shop(), data)
    return jsonify(GroupOut().dump(group)), 201


@api_blueprint.get("/groups/<int:group_id>")
@document("One group.", response=GroupOut)
def get_group(group_id: int) -> ResponseReturnValue:
    return jsonify(GroupOut().dump(operations.get_group(current_shop(), group_id)))


@api_blueprint.patch("/groups/<int:group_id>")
@document(
    "Change a group; is_default true moves the default to it. A change of auto_segment_id, "
    "auto_priority or of the default re-places the shop's unlocked customers at once, each "
    "move announced by customer/group_changed.",
    request=GroupPatch,
    response=GroupOut,
)
def update_group(group_id: int) -> ResponseReturnValue:
    data = load_body(GroupPatch())
    group = placement.update_group(current_shop(), group_id, data)
    return jsonify(GroupOut().dump(group))


@api_blueprint.delete("/groups/<int:group_id>")
@document(
    "Delete a group; its members are unlocked and placed by the automatic groups' rule (the "
    "default group when none takes them). In the same transaction it leaves "
    "every audience aimed at it (price rules, bundles, gift rules, benefit programmes, "
    "discounts; one left with none matches nobody), and automations and audiences (sync) "
    "referring to it keep a null group. The default group answers 409 default_group_protected.",
    status=204,
)
def delete_group(group_id: int) -> ResponseReturnValue:
    placement.delete_group(current_shop(), group_id)
    return "", 204


@api_blueprint.get("/groups/<int:group_id>/customers")
@document("The group's customers.", query=PageQuery, response=CustomerPage)
def list_group_customers(group_id: int) -> ResponseReturnValue:
    page = load_page()
    found = operations.group_customers(current_shop(), group_id, **page)
    return jsonify(CustomerPage().dump(found))


@api_blueprint.post("/groups/<int:group_id>/customers")
@document(
    "Move customers into the group (all or none: an unknown id is a 422). Moved by hand, they "
    "are locked in it: automatic groups leave them there until POST /api/groups/locks/release.",
    request=MoveCustomersIn,
    response=MoveCustomersOut,
)
def move_customers(group_id: int) -> ResponseReturnValue:
    data = load_body(MoveCustomersIn())
    result = operations.move_customers(current_shop(), group_id, data["customer_ids"])
    return jsonify(MoveCustomersOut().dump(result))


@api_blueprint.post("/groups/locks/release")
@document(
    "Unlock customers moved by hand (all or none: an unknown id is a 422); they are placed at "
    "once by the automatic groups' rule.",
    request=ReleaseLocksIn,
    response=ReleaseLocksOut,
)
def release_locks() -> ResponseReturnValue:
    data = load_body(ReleaseLocksIn())
    result = placement.release_locks(current_shop(), data["customer_ids"])
    return jsonify(ReleaseLocksOut().dump(result))

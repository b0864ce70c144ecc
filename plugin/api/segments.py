"""``/api/segments`` and ``/api/segments/preview`` (contract §5)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import CustomerPage, load_body, load_page
from plugin.apidoc import document
from plugin.paging import PageQuery
from plugin.segments import operations
from plugin.segments.schemas import (
    PreviewOut,
    SegmentIn,
    SegmentOut,
    SegmentPage,
    SegmentPatch,
    SegmentRulesIn,
)
from plugin.sessions import current_shop

CONDITIONS_HELP = (
    "Conditions are {field, op, value}: registration_date, purchased_date, last_order_date, "
    "dropship_partner_registration_date (is/before/after, YYYY-MM-DD or -30d, calendar days "
    "in the shop's time zone); customer_tag (has/has_not); available_points, "
    "total_order_count, total_purchase_amount (eq/ne/gt/gte/lt/lte, integers); "
    "purchased_product (any_of/all_of/none_of, product ids); used_discount_code, "
    "accepts_marketing (is, bool); city, country (is/is_not, ignoring case); customer_type "
    "(is, individual/business)."
)


@api_blueprint.get("/segments")
@document("List segments with their member counts.", query=PageQuery, response=SegmentPage)
def list_segments() -> ResponseReturnValue:
    page = load_page()
    return jsonify(SegmentPage().dump(operations.list_segments(current_shop(), **page)))


@api_blueprint.post("/segments")
@document(
    "Create a segment; its members are computed at once.",
    request=SegmentIn,
    response=SegmentOut,
    status=201,
    description=CONDITIONS_HELP,
)
def create_segment() -> ResponseReturnValue:
    data = load_body(SegmentIn())
    segment = operations.create_segment(current_shop(), data)
    return jsonify(SegmentOut().dump(segment)), 201


@api_blueprint.post("/segments/preview")
@document(
    "Count and sample who meets conditions, unsaved.",
    request=SegmentRulesIn,
    response=PreviewOut,
    description=CONDITIONS_HELP,
)
def preview_segment() -> ResponseReturnValue:
    data = load_body(SegmentRulesIn())
    found = operations.preview(current_shop(), data["match"], data["conditions"])
    return jsonify(PreviewOut().dump(found))


@api_blueprint.get("/segments/<int:segment_id>")
@document("One segment.", response=SegmentOut)
def get_segment(segment_id: int) -> ResponseReturnValue:
    return jsonify(SegmentOut().dump(operations.get_segment(current_shop(), segment_id)))


@api_blueprint.patch("/segments/<int:segment_id>")
@document(
    "Change a segment; new conditions recompute its members.",
    request=SegmentPatch,
    response=SegmentOut,
    description=CONDITIONS_HELP,
)
def update_segment(segment_id: int) -> ResponseReturnValue:
    data = load_body(SegmentPatch())
    segment = operations.update_segment(current_shop(), segment_id, data)
    return jsonify(SegmentOut().dump(segment))


@api_blueprint.delete("/segments/<int:segment_id>")
@document(
    "Delete a segment; its members leave it. In the same transaction it leaves every audience "
    "aimed at it (price rules, bundles, gift rules, benefit programmes, discounts; one left "
    "with none matches nobody), and automations and audiences (sync) referring to it keep a "
    "null segment.",
    status=204,
)
def delete_segment(segment_id: int) -> ResponseReturnValue:
    operations.delete_segment(current_shop(), segment_id)
    return "", 204


@api_blueprint.get("/segments/<int:segment_id>/customers")
@document("The segment's members.", query=PageQuery, response=CustomerPage)
def list_segment_customers(segment_id: int) -> ResponseReturnValue:
    page = load_page()
    found = operations.segment_members(current_shop(), segment_id, **page)
    return jsonify(CustomerPage().dump(found))

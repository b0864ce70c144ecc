"""``/api/discounts`` and ``/api/discounts/{id}/codes`` (contract §5): thin views."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import json_object
from plugin.apidoc import document
from plugin.codes import operations
from plugin.codes.csv_io import export_rows, import_codes
from plugin.codes.generation import SYNC_LIMIT, check_feasible, density_warnings, generate_codes
from plugin.codes.schemas import (
    AssignIn,
    CodeListArgs,
    CodeOut,
    DiscountIn,
    DiscountOut,
    DiscountPage,
    DiscountPatch,
    GenerateIn,
    GenerateOut,
    GenerationJobOut,
    ImportIn,
    ImportOut,
    PageArgs,
    PoolCodeOut,
    PoolCodePage,
    RedemptionListArgs,
    RedemptionPage,
)
from plugin.codes.tasks import enqueue_generation
from plugin.jobs.schemas import JobOut
from plugin.request_limits import streamed_upload
from plugin.sessions import current_shop


def _json_body() -> dict[str, Any]:
    return json_object(force=True)


@api_blueprint.get("/discounts")
@document("List the shop's discounts, oldest first.", query=PageArgs, response=DiscountPage)
def list_discounts() -> ResponseReturnValue:
    args = PageArgs().load(request.args)
    return jsonify(DiscountPage().dump(operations.list_discounts(current_shop(), **args)))


@api_blueprint.post("/discounts")
@document(
    "Create a discount, with its shared code if one is given (trimmed, compared ignoring "
    "case across the shop; a warning above 12 characters).",
    request=DiscountIn,
    response=DiscountOut,
    status=201,
)
def create_discount() -> ResponseReturnValue:
    data = DiscountIn().load(_json_body())
    return jsonify(DiscountOut().dump(operations.create_discount(current_shop(), data))), 201


@api_blueprint.get("/discounts/<int:discount_id>")
@document("One discount.", response=DiscountOut)
def get_discount(discount_id: int) -> ResponseReturnValue:
    return jsonify(DiscountOut().dump(operations.get_discount(current_shop(), discount_id)))


@api_blueprint.patch("/discounts/<int:discount_id>")
@document(
    "Change a discount: the fields sent overlay the stored ones and the whole is validated "
    "again. Taking away a shared code that was used is a 409.",
    request=DiscountPatch,
    response=DiscountOut,
)
def update_discount(discount_id: int) -> ResponseReturnValue:
    discount = operations.update_discount(current_shop(), discount_id, _json_body())
    return jsonify(DiscountOut().dump(discount))


@api_blueprint.delete("/discounts/<int:discount_id>")
@document(
    "Delete a discount with its codes and redemptions; automations that give from it or are "
    "triggered by it keep a null discount.",
    status=204,
)
def delete_discount(discount_id: int) -> ResponseReturnValue:
    operations.delete_discount(current_shop(), discount_id)
    return "", 204


@api_blueprint.get("/discounts/<int:discount_id>/codes")
@document(
    "The discount's pool of codes (not its shared code), oldest first, by status.",
    query=CodeListArgs,
    response=PoolCodePage,
)
def list_codes(discount_id: int) -> ResponseReturnValue:
    args = CodeListArgs().load(request.args)
    page = operations.list_codes(current_shop(), discount_id, **args)
    return jsonify(PoolCodePage().dump(page))


@api_blueprint.post("/discounts/<int:discount_id>/codes/generate")
@document(
    "Add random codes to the pool: prefix + length characters of charset + suffix.",
    request=GenerateIn,
    response=GenerateOut,
    status=201,
    description="Up to 10,000 codes answer 201 when they are made. More answer 202 with "
    "the job that makes them (GenerationJobOut; follow it at GET /api/jobs/{job_id}, whose "
    "result ends as {generated, warnings}). Asking for more than half of the codes still "
    "free in that shape is a 422 on count. Both answers carry warnings: one when a random "
    "guess would find a code of this shape more often than once in a million (the codes "
    "of this shape the shop will hold, of any discount, over alphabet^length with the "
    "characters folded to one case); the codes are made all the same.",
    responses={202: GenerationJobOut},
)
def generate(discount_id: int) -> ResponseReturnValue:
    shop = current_shop()
    discount = operations.get_discount(shop, discount_id)
    args = GenerateIn().load(_json_body())
    if args["count"] <= SYNC_LIMIT:
        warnings = density_warnings(shop, **args)
        made = generate_codes(shop, discount, **args)
        return jsonify(GenerateOut().dump({"generated": made, "warnings": warnings})), 201
    check_feasible(
        shop,
        args["count"],
        args["length"],
        args["prefix"] or "",
        args["suffix"] or "",
        args["charset"],
    )
    warnings = density_warnings(shop, **args)
    job = enqueue_generation(shop, discount.id, args)
    return jsonify({**JobOut().dump(job), "warnings": warnings}), 202  # GenerationJobOut


@api_blueprint.post("/discounts/<int:discount_id>/codes/import")
@document(
    "Import codes from a CSV with a 'code' column (streamed; one transaction).",
    request=ImportIn,
    response=ImportOut,
    request_content=("multipart/form-data", "text/csv"),
    description="Send the file as the 'file' part of multipart/form-data, or as the body "
    "itself with Content-Type text/csv. Codes held already (by any discount of the shop) "
    "or repeated in the file are duplicates, codes outside 1-64 of A-Z a-z 0-9 _ - are "
    "invalid; errors give their line numbers (the header is line 1). A file without a "
    "'code' column is a 422 and imports nothing.",
)
@streamed_upload
def import_csv(discount_id: int) -> ResponseReturnValue:
    shop = current_shop()
    discount = operations.get_discount(shop, discount_id)
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    stream = upload.stream if upload is not None else request.stream
    return jsonify(ImportOut().dump(import_codes(shop, discount, stream)))


@api_blueprint.get("/discounts/<int:discount_id>/codes/export")
@document(
    "The pool as CSV (text/csv, streamed): code, status, assigned_customer_id, "
    "assigned_at, times_used; cells starting with = + - @ are prefixed with '.",
    response_content="text/csv",
)
def export_csv(discount_id: int) -> ResponseReturnValue:
    shop = current_shop()
    discount = operations.get_discount(shop, discount_id)
    return Response(
        stream_with_context(export_rows(shop, discount)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="discount-{discount.id}-codes.csv"'},
    )


@api_blueprint.post("/discounts/<int:discount_id>/codes/assign")
@document(
    "Give the next unassigned pool code to a customer, atomically; 409 pool_empty.",
    request=AssignIn,
    response=PoolCodeOut,
)
def assign(discount_id: int) -> ResponseReturnValue:
    args = AssignIn().load(_json_body())
    code = operations.assign_code(current_shop(), discount_id, args["customer_id"])
    return jsonify(CodeOut().dump(code))


@api_blueprint.get("/discounts/<int:discount_id>/redemptions")
@document(
    "The orders that used the discount's codes, newest first. flagged=true lists orders "
    "paid past a limit without the redeem hook: counted, for the merchant to review.",
    query=RedemptionListArgs,
    response=RedemptionPage,
)
def list_redemptions(discount_id: int) -> ResponseReturnValue:
    args = RedemptionListArgs().load(request.args)
    page = operations.list_redemptions(current_shop(), discount_id, **args)
    return jsonify(RedemptionPage().dump(page))

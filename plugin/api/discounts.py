"""``/api/discounts`` and ``/api/discounts/{id}/codes`` (contract §5): thin views."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.codes import operations
from plugin.codes.csv_io import export_rows, import_codes
from plugin.codes.generation import SYNC_LIMIT, check_feasible, generate_codes
from plugin.codes.schemas import (
    AssignIn,
    CodeListArgs,
    CodeOut,
    DiscountIn,
    DiscountOut,
    GenerateIn,
    ImportOut,
    PageArgs,
)
from plugin.db import db
from plugin.jobs.schemas import JobOut
from plugin.jobs.tasks import enqueue_generation
from plugin.sessions import current_shop


def _json_body() -> dict[str, Any]:
    return request.get_json(force=True, silent=True) or {}


def _page(page: operations.Page, schema: Any) -> dict[str, Any]:
    return {
        "items": schema(many=True).dump(page.items),
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }


@api_blueprint.get("/discounts")
def list_discounts() -> ResponseReturnValue:
    args = PageArgs().load(request.args)
    return jsonify(_page(operations.list_discounts(current_shop(), **args), DiscountOut))


@api_blueprint.post("/discounts")
def create_discount() -> ResponseReturnValue:
    data = DiscountIn().load(_json_body())
    return jsonify(DiscountOut().dump(operations.create_discount(current_shop(), data))), 201


@api_blueprint.get("/discounts/<int:discount_id>")
def get_discount(discount_id: int) -> ResponseReturnValue:
    return jsonify(DiscountOut().dump(operations.get_discount(current_shop(), discount_id)))


@api_blueprint.patch("/discounts/<int:discount_id>")
def update_discount(discount_id: int) -> ResponseReturnValue:
    discount = operations.update_discount(current_shop(), discount_id, _json_body())
    return jsonify(DiscountOut().dump(discount))


@api_blueprint.delete("/discounts/<int:discount_id>")
def delete_discount(discount_id: int) -> ResponseReturnValue:
    operations.delete_discount(current_shop(), discount_id)
    return "", 204


@api_blueprint.get("/discounts/<int:discount_id>/codes")
def list_codes(discount_id: int) -> ResponseReturnValue:
    args = CodeListArgs().load(request.args)
    page = operations.list_codes(current_shop(), discount_id, **args)
    return jsonify(_page(page, CodeOut))


@api_blueprint.post("/discounts/<int:discount_id>/codes/generate")
def generate(discount_id: int) -> ResponseReturnValue:
    shop = current_shop()
    discount = operations.get_discount(shop, discount_id)
    args = GenerateIn().load(_json_body())
    if args["count"] <= SYNC_LIMIT:
        made = generate_codes(shop, discount, **args)
        db.session.commit()
        return jsonify({"generated": made}), 201
    check_feasible(
        shop,
        args["count"],
        args["length"],
        args["prefix"] or "",
        args["suffix"] or "",
        args["charset"],
    )
    job = enqueue_generation(shop, discount.id, args)
    db.session.commit()
    return jsonify(JobOut().dump(job)), 202


@api_blueprint.post("/discounts/<int:discount_id>/codes/import")
def import_csv(discount_id: int) -> ResponseReturnValue:
    shop = current_shop()
    discount = operations.get_discount(shop, discount_id)
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    stream = upload.stream if upload is not None else request.stream
    return jsonify(ImportOut().dump(import_codes(shop, discount, stream)))


@api_blueprint.get("/discounts/<int:discount_id>/codes/export")
def export_csv(discount_id: int) -> ResponseReturnValue:
    shop = current_shop()
    discount = operations.get_discount(shop, discount_id)
    return Response(
        stream_with_context(export_rows(shop, discount)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="discount-{discount.id}-codes.csv"'},
    )


@api_blueprint.post("/discounts/<int:discount_id>/codes/assign")
def assign(discount_id: int) -> ResponseReturnValue:
    args = AssignIn().load(_json_body())
    code = operations.assign_code(current_shop(), discount_id, args["customer_id"])
    return jsonify(CodeOut().dump(code))

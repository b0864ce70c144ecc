"""``/api/price-rules``, ``/api/bundles``, ``/api/gift-rules``, ``/api/benefit-programmes``
and ``/api/price-preview`` (contract §5)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import load_body, load_page
from plugin.apidoc import document
from plugin.checkout.pricing import PricingAnswer, price
from plugin.checkout.schemas import CartIn
from plugin.db import utcnow
from plugin.limits import parse_json_object
from plugin.paging import PageQuery
from plugin.request_limits import read_body
from plugin.rules import operations
from plugin.rules.resources import RESOURCES, Resource
from plugin.rules.schemas import patch_of
from plugin.sessions import current_shop


def _attach(res: Resource) -> None:
    """The five views of one resource: list, create, get, patch, delete."""
    endpoint = res.path.replace("-", "_")
    plural = res.what + "s"

    @document(f"List {plural}.", query=PageQuery, response=res.page)
    def list_view() -> ResponseReturnValue:
        page = load_page()
        return jsonify(res.page().dump(operations.list_rules(current_shop(), res.kind, **page)))

    @document(
        f"Create a {res.what}; bumps the shop's rules version.",
        request=res.schema_in,
        response=res.schema_out,
        status=201,
    )
    def create_view() -> ResponseReturnValue:
        data = load_body(res.schema_in())
        row = operations.create_rule(current_shop(), res.kind, data)
        return jsonify(res.schema_out().dump(row)), 201

    @document(f"One {res.what}.", response=res.schema_out)
    def get_view(rule_id: int) -> ResponseReturnValue:
        row = operations.get_rule(current_shop(), res.kind, rule_id)
        return jsonify(res.schema_out().dump(row))

    @document(
        f"Change a {res.what}: the fields given (a nested object is given whole).",
        request=patch_of(res.schema_in),
        response=res.schema_out,
    )
    def patch_view(rule_id: int) -> ResponseReturnValue:
        data = load_body(patch_of(res.schema_in), partial=None)  # type: ignore[arg-type]
        row = operations.update_rule(current_shop(), res.kind, rule_id, data)
        return jsonify(res.schema_out().dump(row))

    @document(f"Delete a {res.what}.", status=204)
    def delete_view(rule_id: int) -> ResponseReturnValue:
        operations.delete_rule(current_shop(), res.kind, rule_id)
        return "", 204

    base, one = f"/{res.path}", f"/{res.path}/<int:rule_id>"
    api_blueprint.add_url_rule(base, f"list_{endpoint}", list_view, methods=["GET"])
    api_blueprint.add_url_rule(base, f"create_{endpoint}", create_view, methods=["POST"])
    api_blueprint.add_url_rule(one, f"get_{endpoint}", get_view, methods=["GET"])
    api_blueprint.add_url_rule(one, f"update_{endpoint}", patch_view, methods=["PATCH"])
    api_blueprint.add_url_rule(one, f"delete_{endpoint}", delete_view, methods=["DELETE"])


for _resource in RESOURCES:
    _attach(_resource)


@api_blueprint.post("/price-preview")
@document(
    "Price a cart as the pricing hook would (400 invalid_payload for a bad cart).",
    request=CartIn,
    response=PricingAnswer,
)
def price_preview() -> ResponseReturnValue:
    """Try a cart: the pricing hook's answer for this shop, without the host's signature."""
    payload = parse_json_object(read_body())  # a chunked body past 1 MiB is a 413, not cut
    return jsonify(price(current_shop(), payload, utcnow()))

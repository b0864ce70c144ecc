"""``POST /api/render``: a message template rendered for one customer with their codes."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.openapi import document
from plugin.api.schemas import load_body
from plugin.messages.render import render_message
from plugin.messages.schemas import RenderIn, RenderOut
from plugin.sessions import current_shop


@api_blueprint.post("/render")
def render() -> ResponseReturnValue:
    data = load_body(RenderIn())
    rendered = render_message(current_shop(), data["template"], data["customer_id"], data["format"])
    return jsonify(RenderOut().dump(rendered))


document(
    "/api/render",
    "post",
    'Render a message template for a customer, with their codes ({{ coupon("WELCOME") }}).',
    request=RenderIn,
    response=RenderOut,
    description="The template runs in Jinja2's sandbox and sees only `customer` and "
    "`coupon(discount)`. When the customer has no usable code for a discount the template "
    'asks for, the answer is still 200, with `"rendered": null` and `"missing"` naming '
    "those discounts: nothing is rendered, so a message with a hole where the code should "
    "be can never be sent, and the same template stays valid for the customers who do have "
    "a code (an error status would say the request was wrong, and it is not). A template "
    "that cannot be rendered for anyone (a syntax error, an unknown discount, an attribute "
    "the sandbox refuses, an undefined name) is a 422 with `details.template`; an unknown "
    "customer is a 422 with `details.customer_id`.",
)

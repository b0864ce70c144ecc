"""``POST /api/render``: a message template rendered for one customer with their codes."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import load_body
from plugin.apidoc import document
from plugin.messages import sandbox
from plugin.messages.render import RENDERS_PER_SHOP, render_message
from plugin.messages.schemas import RenderIn, RenderOut
from plugin.sessions import current_shop


@api_blueprint.post("/render")
@document(
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
    "customer is a 422 with `details.customer_id`. "
    f"Limits: a render may use {sandbox.CPU_SECONDS} s of processing time, "
    f"{sandbox.MAX_OUTPUT_BYTES // 1024} KiB of output (UTF-8) and "
    f"{sandbox.MEMORY_BYTES // 2**20} MiB of memory, and name {sandbox.MAX_DISCOUNTS} "
    "discounts; past one it is a 422 whose `details.template` names the limit. No database "
    f"transaction is held while it runs. A shop renders at most {RENDERS_PER_SHOP} messages "
    "at once in each server process: one more is a 429 `too_many_renders`.",
)
def render() -> ResponseReturnValue:
    data = load_body(RenderIn())
    shop_id = current_shop().id
    rendered = render_message(shop_id, data["template"], data["customer_id"], data["format"])
    return jsonify(RenderOut().dump(rendered))

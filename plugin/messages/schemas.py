"""``POST /api/render``: a template and a customer in, the message (or what is missing) out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from plugin.fields import HostId, Strict
from plugin.messages.render import FORMATS, MAX_TEMPLATE_LENGTH


class RenderIn(Strict):
    """``template``: Jinja2 syntax, seeing only ``customer`` (``id``, ``first_name``,
    ``last_name``, ``email``, ``group``, ``points``) and ``coupon(discount)``, which gives
    the customer's code of that discount (named by shared code, name or id). ``format``:
    ``html`` escapes what is inserted, ``text`` does not."""

    template = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_TEMPLATE_LENGTH)
    )
    customer_id = HostId(required=True)
    format = fields.String(load_default="html", validate=validate.OneOf(FORMATS))


class RenderOut(Schema):
    """``rendered`` is the message, or null when the customer has no code for a discount
    the template asks for; ``missing`` then names those discounts as the template did."""

    rendered = fields.String(allow_none=True)
    missing = fields.List(fields.String())

"""Payload schemas of the customer and order webhooks (contract §3)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from plugin.fields import HostId, StrictInteger, Timestamp, iso_timestamp

E164 = r"^\+[1-9][0-9]{1,14}$"


class Payload(Schema):
    """Hosts may send fields we do not know yet: they are ignored, not refused."""

    class Meta:
        unknown = EXCLUDE


class AddressSchema(Payload):
    city = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))
    country = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    zip = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=32))


class DropshipPartnerSchema(Payload):
    id = HostId(required=True)
    registered_at = Timestamp(allow_none=True, load_default=None)


class CustomerSchema(Payload):
    id = HostId(required=True)
    email = fields.Email(allow_none=True, load_default=None, validate=validate.Length(max=320))
    phone = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.Regexp(E164, error="Must be an E.164 number such as +33612345678."),
    )
    first_name = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=255)
    )
    last_name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))
    registered_at = Timestamp(allow_none=True, load_default=None)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=255)), load_default=list)
    points = StrictInteger(load_default=0, validate=validate.Range(min=0))
    accepts_marketing = fields.Boolean(load_default=False)
    type = fields.String(
        load_default="individual", validate=validate.OneOf(["individual", "business"])
    )
    default_address = fields.Nested(AddressSchema, allow_none=True, load_default=None)
    dropship_partner = fields.Nested(DropshipPartnerSchema, allow_none=True, load_default=None)


class CustomerEventSchema(Payload):
    customer = fields.Nested(CustomerSchema, required=True)


class CustomerRefSchema(Payload):
    id = HostId(required=True)


class CustomerDeletedSchema(Payload):
    customer = fields.Nested(CustomerRefSchema, required=True)


class CustomerIdSchema(Payload):
    customer_id = HostId(required=True)


class CustomerSubscribedSchema(Payload):
    customer_id = HostId(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(["email", "sms"]))


class OrderLineSchema(Payload):
    product_id = HostId(required=True)
    kind = fields.String(load_default="product", validate=validate.OneOf(["product", "service"]))
    quantity = StrictInteger(required=True, validate=validate.Range(min=1))
    unit_price = StrictInteger(required=True, validate=validate.Range(min=0))


class ShippingSchema(Payload):
    carrier = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    address = fields.Dict(allow_none=True, load_default=None)


class OrderSchema(Payload):
    id = HostId(required=True)
    customer_id = HostId(allow_none=True, load_default=None)
    placed_at = Timestamp(required=True)
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    total = StrictInteger(required=True, validate=validate.Range(min=0))
    lines = fields.List(fields.Nested(OrderLineSchema), load_default=list)
    discount_codes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), load_default=list
    )
    shipping = fields.Nested(ShippingSchema, allow_none=True, load_default=None)
    payment_method = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=32)
    )
    channel = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=32))


class OrderPaidSchema(Payload):
    order = fields.Nested(OrderSchema, required=True)


class OrderRefSchema(Payload):
    id = HostId(required=True)


class OrderReversedSchema(Payload):
    order = fields.Nested(OrderRefSchema, required=True)


# What we answer: customers/data_request and the admin's view of a customer.


class TagOut(Schema):
    tag = fields.String()


class CustomerProductOut(Schema):
    product_id = fields.String()
    quantity = fields.Integer()
    first_purchased_at = Timestamp()
    last_purchased_at = Timestamp()


class DiscountRef(Schema):
    id = fields.Integer()
    name = fields.String()


class CustomerCodeOut(Schema):
    """A code handed to the customer: ``assigned``, or ``redeemed`` once used."""

    code = fields.String()
    status = fields.String()
    assigned_at = Timestamp()
    expires_at = Timestamp()
    discount = fields.Nested(DiscountRef)


class CustomerRedemptionOut(Schema):
    """One use of a code by one of the customer's orders (``customers/data_request``)."""

    order_id = fields.String()
    code = fields.String()
    status = fields.String()
    at = Timestamp()


class CustomerOut(Schema):
    id = fields.String(attribute="external_id")
    email = fields.String()
    phone = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    registered_at = Timestamp()
    tags = fields.Function(lambda c: [t.tag for t in c.tags])
    points = fields.Integer()
    accepts_marketing = fields.Boolean()
    type = fields.String()
    default_address = fields.Function(
        lambda c: (
            None
            if not (c.city or c.country or c.zip)
            else {"city": c.city, "country": c.country, "zip": c.zip}
        )
    )
    dropship_partner = fields.Function(
        lambda c: (
            None
            if not c.dropship_partner_id
            else {
                "id": c.dropship_partner_id,
                "registered_at": iso_timestamp(c.dropship_registered_at),
            }
        )
    )
    group_id = fields.Integer()
    figures = fields.Function(
        lambda c: {
            "order_count": c.order_count,
            "total_spent": c.total_spent,
            "first_order_at": iso_timestamp(c.first_order_at),
            "last_order_at": iso_timestamp(c.last_order_at),
            "used_discount_code": c.used_discount_code,
        }
    )
    subscribed_email_at = Timestamp()
    subscribed_sms_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()


class OrderLineOut(Schema):
    product_id = fields.String()
    kind = fields.String()
    quantity = fields.Integer()
    unit_price = fields.Integer()


class OrderOut(Schema):
    id = fields.String(attribute="external_id")
    status = fields.String()
    placed_at = Timestamp()
    paid_at = Timestamp()
    reversed_at = Timestamp()
    currency = fields.String()
    total = fields.Integer()
    discount_codes = fields.List(fields.String())
    payment_method = fields.String()
    channel = fields.String()
    carrier = fields.String()
    shipping_address = fields.Dict()
    lines = fields.List(fields.Nested(OrderLineOut))


class CustomerRecordSchema(Schema):
    customer = fields.Nested(CustomerOut)
    products = fields.Function(lambda r: CustomerProductOut(many=True).dump(r.get("products", [])))
    orders = fields.List(fields.Nested(OrderOut))

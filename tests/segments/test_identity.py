"""customer_identity: what the pricing hook learns about a customer."""

from __future__ import annotations

from sqlalchemy import select

from plugin.customers.models import Customer
from plugin.db import db
from plugin.segments.membership import customer_identity
from plugin.segments.models import Segment, SegmentMember
from plugin.shops.models import Shop
from tests.conftest import customer_payload


def test_identity_of_customer_guest_and_unknown(app, host, shop):
    assert (
        host.webhook("customer/created", {"customer": customer_payload("c_1")}).status_code == 200
    )
    with app.app_context():
        shop_row = db.session.execute(select(Shop)).scalar_one()
        customer = db.session.execute(select(Customer)).scalar_one()
        segment = Segment(shop_id=shop_row.id, name="Loyal", name_key="loyal", conditions=[])
        db.session.add(segment)
        db.session.flush()
        db.session.add(
            SegmentMember(shop_id=shop_row.id, segment_id=segment.id, customer_id=customer.id)
        )
        db.session.commit()
        identity = customer_identity(shop_row.id, "c_1")
        assert identity is not None
        assert (identity.external_id, identity.group_name, identity.group_colour) == (
            "c_1",
            "Standard",
            "#9e9e9e",
        )
        assert identity.segments == ((segment.id, "Loyal"),)
        assert customer_identity(shop_row.id, None) is None
        assert customer_identity(shop_row.id, "nobody") is None
        assert customer_identity(shop_row.id + 1, "c_1") is None

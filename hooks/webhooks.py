"""``POST /webhooks``: verify, deduplicate, validate, then run the topic's operation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from flask import Response, jsonify
from marshmallow import Schema, ValidationError

from hooks.signing import parse_json_object, read_signed_request
from plugin.apidoc import SIGNED_HEADERS, DocumentedBlueprint, document
from plugin.audiences import operations as audiences
from plugin.auth import WEBHOOKS_PATH
from plugin.catalogue import operations as catalogue
from plugin.catalogue.schemas import (
    CategoryDeletedSchema,
    CategoryEventSchema,
    ProductDeletedSchema,
    ProductEventSchema,
)
from plugin.customers.schemas import (
    CustomerDeletedSchema,
    CustomerEventSchema,
    CustomerIdSchema,
    CustomerSubscribedSchema,
    OrderPaidSchema,
    OrderReversedSchema,
    accepted_order_paid,
    accepted_order_reversed,
)
from plugin.db import db, enter_shop, insert_ignoring_conflict, utcnow
from plugin.errors import (
    ApiError,
    ErrorCode,
    answer_unrouted,
    register_error_handlers,
    validation_error,
)
from plugin.events import CUSTOMER_CREATED, notify
from plugin.fields import Payload
from plugin.groups import operations as groups
from plugin.intake import operations as customers
from plugin.intake import redaction
from plugin.shops import operations as shops
from plugin.shops.models import ProcessedEvent, Shop
from plugin.shops.operations import ClaimAlong
from plugin.shops.schemas import AppInstalledSchema

webhooks_blueprint = DocumentedBlueprint("customer_groups_webhooks", __name__)
register_error_handlers(webhooks_blueprint, validation_status=400)
answer_unrouted(webhooks_blueprint, "/webhooks/<path:rest>")
answer_unrouted(webhooks_blueprint, "/webhooks", methods=["GET", "PUT", "PATCH", "DELETE"])

Result = dict[str, Any] | None


#: A compiled check of a topic's body: what its schema loads from a body it accepts, None
#: when it might not (then the schema decides, and words the 400). The body is parsed JSON;
#: the flag says its text held no NUL and no lone surrogate.
FastCheck = Callable[[dict[str, Any], bool], dict[str, Any] | None]


@dataclass(frozen=True)
class Topic:
    schema: type[Schema]
    run: Callable[[Shop, dict[str, Any]], Result]
    # Accepted from a shop that uninstalled the app (the privacy topics).
    after_uninstall: bool = False
    # The ingest path's hot topics: their schema's verdict at compiled speed.
    fast: FastCheck | None = None
    # The topic's first work, done by the statement that claims the event (PostgreSQL),
    # for a body its compiled check accepts; ``run_claimed`` then runs with its columns.
    claim_along: Callable[[dict[str, Any]], ClaimAlong | None] | None = None
    run_claimed: Callable[[Shop, dict[str, Any], tuple[Any, ...]], Result] | None = None


def _customer_upserted(shop: Shop, data: dict[str, Any]) -> Result:
    customers.upsert_customer(shop, data["customer"])
    return None


def _customer_created(shop: Shop, data: dict[str, Any]) -> Result:
    customer, _ = customers.upsert_customer(shop, data["customer"])
    # Automations hear of it (customer_created, and joined_group for the group it is in).
    notify(
        shop,
        CUSTOMER_CREATED,
        [{"customer_id": customer.external_id, "group_id": customer.group_id}],
    )
    return None


def _customer_deleted(shop: Shop, data: dict[str, Any]) -> Result:
    customers.delete_customer(shop, data["customer"]["id"])
    return None


def _customers_redact(shop: Shop, data: dict[str, Any]) -> Result:
    # Contract §5: first queue their removal from every audience destination that holds
    # them, then forget them in every table (issue 15 item 5).
    audiences.forget_customer(shop, data["customer_id"])
    redaction.redact_customer(shop, data["customer_id"])
    return None


def _data_request(shop: Shop, data: dict[str, Any]) -> Result:
    return {"status": "ok", "data": customers.customer_data(shop, data["customer_id"])}


def _subscribed(shop: Shop, data: dict[str, Any]) -> Result:
    customers.record_subscription(shop, data["customer_id"], data["channel"])
    return None


def _order_paid(shop: Shop, data: dict[str, Any], claimed: tuple[Any, ...] | None = None) -> Result:
    customers.record_paid_order(shop, data["order"], claimed)
    return None


def _order_paid_claim(data: dict[str, Any]) -> ClaimAlong | None:
    return customers.paid_order_claim(data["order"])


def _reversal(status: str) -> Callable[[Shop, dict[str, Any]], Result]:
    def run(shop: Shop, data: dict[str, Any]) -> Result:
        customers.reverse_order(shop, data["order"]["id"], status)
        return None

    return run


def _product_upserted(shop: Shop, data: dict[str, Any]) -> Result:
    catalogue.upsert_product(shop, data["product"])
    return None


def _product_deleted(shop: Shop, data: dict[str, Any]) -> Result:
    catalogue.delete_product(shop, data["product_id"])
    return None


def _category_upserted(shop: Shop, data: dict[str, Any]) -> Result:
    catalogue.upsert_category(shop, data["category"])
    return None


def _category_deleted(shop: Shop, data: dict[str, Any]) -> Result:
    catalogue.delete_category(shop, data["category_id"])
    return None


def _uninstalled(shop: Shop, data: dict[str, Any]) -> Result:
    shops.uninstall_shop(shop)
    return None


def _shop_redact(shop: Shop, data: dict[str, Any]) -> Result:
    shops.redact_shop(shop)
    return None


TOPICS: dict[str, Topic] = {
    "app/uninstalled": Topic(Payload, _uninstalled),
    "shop/redact": Topic(Payload, _shop_redact, after_uninstall=True),
    "customers/redact": Topic(CustomerIdSchema, _customers_redact, after_uninstall=True),
    "customers/data_request": Topic(CustomerIdSchema, _data_request, after_uninstall=True),
    "customer/created": Topic(CustomerEventSchema, _customer_created),
    "customer/updated": Topic(CustomerEventSchema, _customer_upserted),
    "customer/deleted": Topic(CustomerDeletedSchema, _customer_deleted),
    "customer/subscribed": Topic(CustomerSubscribedSchema, _subscribed),
    "order/paid": Topic(
        OrderPaidSchema,
        _order_paid,
        fast=accepted_order_paid,
        claim_along=_order_paid_claim,
        run_claimed=_order_paid,
    ),
    "order/cancelled": Topic(
        OrderReversedSchema, _reversal("cancelled"), fast=accepted_order_reversed
    ),
    "order/refunded": Topic(
        OrderReversedSchema, _reversal("refunded"), fast=accepted_order_reversed
    ),
    "product/created": Topic(ProductEventSchema, _product_upserted),
    "product/updated": Topic(ProductEventSchema, _product_upserted),
    "product/deleted": Topic(ProductDeletedSchema, _product_deleted),
    "category/created": Topic(CategoryEventSchema, _category_upserted),
    "category/updated": Topic(CategoryEventSchema, _category_upserted),
    "category/deleted": Topic(CategoryDeletedSchema, _category_deleted),
}
INSTALL_TOPIC = "app/installed"
ALL_TOPICS = [INSTALL_TOPIC, *TOPICS]

OK = {"status": "ok"}
DUPLICATE = {"status": "duplicate"}


def _read(spec: Topic, payload: dict[str, Any] | bytes) -> dict[str, Any]:
    """The topic's body, checked: by its compiled check when it has one and vouches for a
    raw body, by its schema otherwise, which refuses with the 400's ``details``."""
    data = _fast_read(spec, payload)
    return data if data is not None else _load(spec.schema, _as_object(payload))


def _fast_read(spec: Topic, payload: dict[str, Any] | bytes) -> dict[str, Any] | None:
    """The body as the topic's compiled check accepts it (parsed by orjson, which refuses
    lone surrogates; a NUL can only come escaped); None when it has none, or might not
    accept it. Pure: nothing is read or written."""
    if spec.fast is None or not isinstance(payload, bytes):
        return None
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    return spec.fast(parsed, b"\\u0000" not in payload)


def _load(schema: type[Schema], payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema().load(payload)
    except ValidationError as err:
        raise validation_error(err, ErrorCode.INVALID_PAYLOAD, 400) from None


def _claim_event(shop_id: int, event_id: str | None, topic: str) -> bool:
    """Record the event id in this transaction; False if another delivery holds it."""
    if event_id is None:
        return True
    return insert_ignoring_conflict(
        ProcessedEvent.__table__,
        {"shop_id": shop_id, "event_id": event_id, "topic": topic, "received_at": utcnow()},
    )


def handle_event(
    domain: str,
    topic: str,
    event_id: str | None,
    payload: dict[str, Any] | bytes,
    require_event_id: bool = False,
) -> dict[str, Any]:
    """Run one webhook in one transaction, checking in the contract's order: shop installed,
    duplicate event, payload; then the effect.

    Shared by ``POST /webhooks`` (``payload`` is the raw body) and the in-process signals
    (``payload`` is a dict), so both end in the same state.
    """
    domain = domain.strip().lower()
    try:
        if topic == INSTALL_TOPIC:
            return _install(domain, event_id, payload, require_event_id)
        spec = TOPICS.get(topic)
        # The event is claimed by the same statement where it can be (PostgreSQL, a topic we
        # handle, an event id we keep): a bad payload rolls the claim back with the rest.
        claimable = spec is not None and event_id is not None and len(event_id) <= 255
        # A body the compiled check accepts is read first (pure), so that the topic's first
        # work can ride in the claim's statement; errors still come in the contract's
        # order, since only an accepted body goes ahead of the checks below.
        early: dict[str, Any] | None = None
        along: ClaimAlong | None = None
        if claimable and spec is not None and spec.claim_along is not None:
            early = _fast_read(spec, payload)
            along = spec.claim_along(early) if early is not None else None
        shop, seen, claimed, made = shops.find_shop_and_event(
            domain, event_id, topic if claimable else None, along
        )
        if shop is None or not (shop.installed or (spec is not None and spec.after_uninstall)):
            raise ApiError(
                ErrorCode.SHOP_NOT_INSTALLED, f"The shop {domain} has not installed the app.", 403
            )
        enter_shop(shop.id)
        _check_event_id(event_id, require_event_id)
        if seen:
            db.session.rollback()
            return DUPLICATE
        if spec is None:
            raise ApiError(
                ErrorCode.INVALID_PAYLOAD,
                f"The topic {topic!r} is not one we handle.",
                400,
                {"X-Topic": [f"Must be one of: {', '.join(ALL_TOPICS)}."]},
            )
        data = early if early is not None else _read(spec, payload)
        if claimed is False or (claimed is None and not _claim_event(shop.id, event_id, topic)):
            db.session.rollback()
            return DUPLICATE
        if made is not None and spec.run_claimed is not None:
            return spec.run_claimed(shop, data, made) or OK
        return spec.run(shop, data) or OK
    except BaseException:
        db.session.rollback()
        raise


def _install(
    domain: str, event_id: str | None, payload: dict[str, Any] | bytes, require_event_id: bool
) -> dict[str, Any]:
    shop, seen, _, _ = shops.find_shop_and_event(domain, event_id)
    if shop is not None:
        enter_shop(shop.id)
    _check_event_id(event_id, require_event_id)
    if seen:
        db.session.rollback()
        return DUPLICATE
    data = _load(AppInstalledSchema, _as_object(payload))
    if data["shop"]["domain"].strip().lower() != domain:
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            "The shop in the body is not the shop that signed the request.",
            400,
            {"shop.domain": [f"Must be {domain}, as in X-Shop-Domain."]},
        )
    shop = shops.install_shop(domain, data["shop"])
    enter_shop(shop.id)
    groups.ensure_default_group(shop)
    if not _claim_event(shop.id, event_id, INSTALL_TOPIC):
        db.session.rollback()
        return DUPLICATE
    return OK


def _check_event_id(event_id: str | None, required: bool) -> None:
    if event_id is None and required:
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            "Webhooks must carry an X-Event-Id.",
            400,
            {"X-Event-Id": ["Missing header."]},
        )
    if event_id is not None and len(event_id) > 255:
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            "The X-Event-Id is too long.",
            400,
            {"X-Event-Id": ["At most 255 characters."]},
        )


def _as_object(payload: dict[str, Any] | bytes) -> dict[str, Any]:
    return parse_json_object(payload) if isinstance(payload, bytes) else payload


@webhooks_blueprint.post(WEBHOOKS_PATH)
@document(
    "Receive a webhook from the host (contract §3).",
    status=200,
    secured=False,
    tag="webhooks",
    headers={**SIGNED_HEADERS, "X-Topic": {"type": "string", "enum": ALL_TOPICS}},
    description="Topics: " + ", ".join(ALL_TOPICS) + '. Answers {"status": "ok"} or '
    '{"status": "duplicate"}; customers/data_request answers the data held.',
)
def receive_webhook() -> Response:
    # Signed with the host key over shop, topic, event id and path (contract §2): a body
    # signed for another shop, topic or endpoint, or one of our own events sent back
    # (signed with a shop's events key), does not verify.
    signed = read_signed_request(WEBHOOKS_PATH, ALL_TOPICS)
    body = handle_event(
        signed.shop_domain, signed.topic, signed.event_id, signed.body, require_event_id=True
    )
    return jsonify(body)

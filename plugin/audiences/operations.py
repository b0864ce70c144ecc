"""Audiences: save, change, delete, read their runs, forget a customer. Nothing here
commits: the view, task or webhook that calls it is the boundary (runs: ``tasks``)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from plugin.audiences.credentials import CredentialsUnavailable, mask, seal, unseal
from plugin.audiences.models import Audience, AudienceMember, AudienceRun
from plugin.audiences.schemas import AudienceSchema
from plugin.audiences.sync import queue_run, source_exists
from plugin.audiences.tasks import enqueue_audience_run
from plugin.customers.models import Customer
from plugin.db import db, for_shop, get_for_shop, name_key, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.paging import Page, paginate
from plugin.shops.models import Shop

log = logging.getLogger(__name__)


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED, f"Some fields are not valid: {field}.", 422, {field: [message]}
    )


def _check(shop: Shop, data: dict[str, Any], exclude_id: int | None = None) -> None:
    query = select(Audience.id).where(Audience.name_key == name_key(data["name"]))
    if exclude_id is not None:
        query = query.where(Audience.id != exclude_id)
    if db.session.execute(query).first() is not None:
        raise _invalid("name", "An audience with this name already exists.")
    source = data["source"]
    if not source_exists(shop.id, source["type"], source["id"]):
        raise _invalid("source.id", f"There is no {source['type']} {source['id']} in this shop.")


def _apply(audience: Audience, data: dict[str, Any]) -> None:
    destination = data["destination"]
    audience.name = data["name"].strip()
    audience.name_key = name_key(data["name"])
    audience.source_type = data["source"]["type"]
    audience.source_id = data["source"]["id"]
    audience.destination_type = destination["type"]
    try:
        audience.sealed_credentials = seal(destination["credentials"])
    except CredentialsUnavailable as exc:
        raise _invalid("destination.credentials", str(exc)) from None
    audience.list_id = destination["list_id"] if destination["type"] == "klaviyo" else None
    audience.vendor_audience_id = (
        destination["audience_id"] if destination["type"] == "meta" else None
    )
    audience.base_url = destination["base_url"]
    audience.mapping = {
        "identifier": data["mapping"].get("identifier", "email"),
        "properties": dict(data["mapping"].get("properties") or {}),
    }
    audience.only_update_existing = data["only_update_existing"]
    audience.schedule = data["schedule"]
    audience.active = data["active"]


def _save(shop: Shop, audience: Audience) -> Audience:
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        # Two requests racing for one name: the unique constraint decides.
        raise _invalid("name", "An audience with this name already exists.") from None
    return audience


def list_audiences(shop: Shop, page: int, per_page: int) -> Page[Audience]:
    return paginate(for_shop(Audience, shop.id).order_by(Audience.id), page, per_page)


def get_audience(shop: Shop, audience_id: int) -> Audience:
    return get_for_shop(Audience, shop.id, audience_id)


def create_audience(shop: Shop, data: dict[str, Any]) -> Audience:
    _check(shop, data)
    audience = Audience(shop_id=shop.id)
    _apply(audience, data)
    db.session.add(audience)
    return _save(shop, audience)


def _stored_credentials(audience: Audience) -> dict[str, Any]:
    """The stored secrets in clear, to merge a PATCH into (none when no configured secret
    opens them: the PATCH must then give them again)."""
    try:
        return unseal(audience.sealed_credentials)
    except CredentialsUnavailable:
        return {}


def _as_input(audience: Audience) -> dict[str, Any]:
    """The audience as a POST body would give it (secrets in clear), to merge a PATCH into."""
    destination: dict[str, Any] = {
        "type": audience.destination_type,
        "credentials": _stored_credentials(audience),
        "list_id": audience.list_id,
        "audience_id": audience.vendor_audience_id,
        "base_url": audience.base_url,
    }
    return {
        "name": audience.name,
        "source": {"type": audience.source_type, "id": audience.source_id},
        "destination": destination,
        "mapping": {
            "identifier": (audience.mapping or {}).get("identifier", "email"),
            "properties": dict((audience.mapping or {}).get("properties") or {}),
        },
        "only_update_existing": audience.only_update_existing,
        "schedule": audience.schedule,
        "active": audience.active,
    }


def merge_patch(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a partial update. Nested objects merge key by key; ``mapping.properties`` is
    replaced whole. Credentials merge by key; a value sent back masked (as answers show it)
    keeps the stored secret; a new destination type starts from no credentials."""
    merged = {**current, **{k: v for k, v in patch.items() if k not in ("destination", "mapping")}}
    if "mapping" in patch and isinstance(patch["mapping"], dict):
        merged["mapping"] = {**current["mapping"], **patch["mapping"]}
    if "destination" in patch and isinstance(patch["destination"], dict):
        old = current["destination"]
        new = dict(patch["destination"])
        same_vendor = new.get("type", old["type"]) == old["type"]
        credentials = dict(old["credentials"]) if same_vendor else {}
        sent = new.pop("credentials", None)
        if isinstance(sent, dict):
            for key, value in sent.items():
                if (
                    same_vendor
                    and key in old["credentials"]
                    and value == mask(old["credentials"][key])
                ):
                    continue
                credentials[key] = value
        merged["destination"] = {**old, **new, "credentials": credentials}
    return merged


def update_audience(shop: Shop, audience_id: int, patch: dict[str, Any]) -> Audience:
    audience = get_for_shop(Audience, shop.id, audience_id)
    data = AudienceSchema().load(merge_patch(_as_input(audience), patch))
    _check(shop, data, exclude_id=audience.id)
    _apply(audience, data)
    audience.updated_at = utcnow()
    return _save(shop, audience)


def delete_audience(shop: Shop, audience_id: int) -> None:
    audience = get_for_shop(Audience, shop.id, audience_id)
    db.session.delete(audience)
    db.session.flush()


def list_runs(shop: Shop, audience_id: int, page: int, per_page: int) -> Page[AudienceRun]:
    get_for_shop(Audience, shop.id, audience_id)
    runs = for_shop(AudienceRun, shop.id).where(AudienceRun.audience_id == audience_id)
    return paginate(runs.order_by(AudienceRun.id.desc()), page, per_page)


def get_run(shop: Shop, audience_id: int, run_id: int) -> AudienceRun:
    run = get_for_shop(AudienceRun, shop.id, run_id)
    if run.audience_id != audience_id:
        raise ApiError(ErrorCode.NOT_FOUND, f"AudienceRun {run_id} was not found.", 404)
    return run


def forget_customer(shop: Shop, external_id: str) -> list[int]:
    """``customers/redact``, before the customer is deleted: queue their removal from every
    destination that holds them, and take them out of the audiences' run records.

    Their audience member rows lose the customer (``customer_id`` NULL): what is left is
    only what the vendor needs to remove the entry (a hash, Klaviyo's profile id, a sealed
    phone), and the row goes once the removal succeeded. A run is queued (a job with the
    audience and run ids, nothing of the customer) for each audience that held them. Errors
    recorded by runs that name them are dropped. The runs' ids.
    """
    customer_id = db.session.execute(
        select(Customer.id).where(Customer.external_id == external_id)
    ).scalar_one_or_none()
    run_ids: list[int] = []
    if customer_id is not None:
        audience_ids = list(
            db.session.execute(
                select(AudienceMember.audience_id)
                .where(
                    AudienceMember.customer_id == customer_id,
                )
                .distinct()
            ).scalars()
        )
        db.session.execute(
            update(AudienceMember)
            .where(AudienceMember.customer_id == customer_id)
            .values(customer_id=None)
            .execution_options(synchronize_session=False)
        )
        for audience_id in sorted(audience_ids):
            run_id, _ = queue_run(shop.id, audience_id)
            enqueue_audience_run(shop, audience_id, run_id)
            run_ids.append(run_id)
    runs = db.session.execute(
        for_shop(AudienceRun, shop.id).where(AudienceRun.errors.is_not(None))
    ).scalars()
    for run in runs:
        kept = [error for error in run.errors or [] if error.get("customer_id") != external_id]
        if len(kept) != len(run.errors or []):
            run.errors = kept
    db.session.flush()
    return run_ids

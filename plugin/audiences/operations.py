"""Audiences: save, change, delete, run now, and read their runs."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plugin.audiences.models import RUN_RUNNING, Audience, AudienceRun
from plugin.audiences.schemas import AudienceSchema, mask
from plugin.audiences.sync import (
    STALE_AFTER,
    count_members,
    queue_run,
    run_audience,
    source_exists,
)
from plugin.audiences.tasks import enqueue_audience_run
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
    query = select(Audience.id).where(
        Audience.shop_id == shop.id, Audience.name_key == name_key(data["name"])
    )
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
    audience.credentials = dict(destination["credentials"])
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
        db.session.commit()
    except IntegrityError:
        # Two requests racing for one name: the unique constraint decides.
        db.session.rollback()
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


def _as_input(audience: Audience) -> dict[str, Any]:
    """The audience as a POST body would give it (secrets in clear), to merge a PATCH into."""
    destination: dict[str, Any] = {
        "type": audience.destination_type,
        "credentials": dict(audience.credentials or {}),
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
    db.session.commit()


def start_run(shop: Shop, audience_id: int) -> AudienceRun:
    """Run the audience now: inline when it is small, otherwise queued for the runner.

    A run already under way answers 409; one that was abandoned (its worker died) is resumed.
    """
    audience = get_for_shop(Audience, shop.id, audience_id)
    source = (audience.source_type, audience.source_id)
    run_id, created = queue_run(shop.id, audience.id)
    run = get_for_shop(AudienceRun, shop.id, run_id)
    if not created and run.status == RUN_RUNNING:
        beat = run.heartbeat_at
        if beat is not None and beat > utcnow() - STALE_AFTER:
            raise ApiError(
                ErrorCode.AUDIENCE_RUN_IN_PROGRESS,
                "This audience is being synced already; follow that run.",
                409,
                {"run_id": run.id},
            )
    # At most this many members run inside the request; larger audiences are queued as a
    # background job (``audiences.run``).
    limit = current_app.config["CUSTOMER_GROUPS_AUDIENCE_INLINE_LIMIT"]
    small = count_members(shop.id, *source) <= limit
    db.session.commit()
    if small:
        try:
            run_audience(shop.id, audience.id, run_id)
        except Exception:
            # The run keeps its cursor and resumes once its heartbeat is stale.
            log.exception("Audience run %s stopped", run_id)
            db.session.rollback()
    else:
        enqueue_audience_run(shop, audience.id, run_id)
        db.session.commit()
    db.session.expire_all()
    return get_for_shop(AudienceRun, shop.id, run_id)


def list_runs(shop: Shop, audience_id: int, page: int, per_page: int) -> Page[AudienceRun]:
    get_for_shop(Audience, shop.id, audience_id)
    runs = for_shop(AudienceRun, shop.id).where(AudienceRun.audience_id == audience_id)
    return paginate(runs.order_by(AudienceRun.id.desc()), page, per_page)


def get_run(shop: Shop, audience_id: int, run_id: int) -> AudienceRun:
    run = get_for_shop(AudienceRun, shop.id, run_id)
    if run.audience_id != audience_id:
        raise ApiError(ErrorCode.NOT_FOUND, f"AudienceRun {run_id} was not found.", 404)
    return run

"""Automations: create, change, list, delete, and the history of their runs (contract §5)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from plugin.automations.models import RUN_FAILED, RUN_SUCCEEDED, Automation, AutomationRun
from plugin.automations.schemas import READ_ONLY, AutomationIn, AutomationOut
from plugin.codes.models import Code, Discount
from plugin.customers.models import Customer
from plugin.db import (
    check_name_free,
    db,
    for_shop,
    get_for_shop,
    in_shop,
    name_key,
    unique_name,
    utcnow,
)
from plugin.errors import ApiError, ErrorCode
from plugin.groups.models import Group
from plugin.paging import Page, paginate
from plugin.segments.models import Segment
from plugin.shops.models import Shop
from plugin.shops.operations import bump_rules_version


def _invalid(errors: dict[str, list[str]]) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        f"Some fields are not valid: {', '.join(sorted(errors))}.",
        422,
        errors,
    )


def _exists(model: Any, shop: Shop, object_id: int) -> bool:
    found = db.session.execute(select(model.id).where(model.id == object_id)).first()
    return found is not None


def _has_pool(discount_id: int) -> bool:
    found = db.session.execute(
        select(Code.id).where(Code.discount_id == discount_id, Code.shared.is_(False)).limit(1)
    ).first()
    return found is not None


def _check_references(shop: Shop, data: dict[str, Any]) -> None:
    """Every group, segment and discount named exists in this shop; a coupon has a pool."""
    errors: dict[str, list[str]] = {}
    trigger = data["trigger"]
    for key, model, label in (
        ("group_id", Group, "group"),
        ("segment_id", Segment, "segment"),
        ("discount_id", Discount, "discount"),
    ):
        ref = trigger.get(key)
        if ref is not None and not _exists(model, shop, ref):
            errors[f"trigger.{key}"] = [f"Unknown {label} {ref}."]
    discount_id = data["action"]["discount_id"]
    if not _exists(Discount, shop, discount_id):
        errors["action.discount_id"] = [f"Unknown discount {discount_id}."]
    elif not _has_pool(discount_id):
        errors["action.discount_id"] = [
            f"Discount {discount_id} has no pool of codes to give from; generate or import "
            "codes first."
        ]
    if errors:
        raise _invalid(errors)


def _apply(shop: Shop, automation: Automation, data: dict[str, Any]) -> None:
    _check_references(shop, data)
    check_name_free(Automation, shop.id, data["name"], "automation", exclude_id=automation.id)
    trigger, action = data["trigger"], data["action"]
    automation.name = data["name"].strip()
    automation.name_key = name_key(data["name"])
    automation.trigger_type = trigger["type"]
    automation.trigger_group_id = trigger.get("group_id")
    automation.trigger_segment_id = trigger.get("segment_id")
    automation.trigger_discount_id = trigger.get("discount_id")
    automation.action_type = action["type"]
    automation.discount_id = action["discount_id"]
    automation.expires_after_days = action.get("expires_after_days")
    automation.active = data["active"]


def _with_counts(shop: Shop, automations: list[Automation]) -> list[Automation]:
    """Annotate each automation with its run counts (one grouped query for all)."""
    ids = [a.id for a in automations]
    counts: dict[int, dict[str, int]] = {a: {RUN_SUCCEEDED: 0, RUN_FAILED: 0} for a in ids}
    if ids:
        rows = db.session.execute(
            select(AutomationRun.automation_id, AutomationRun.status, func.count())
            .where(AutomationRun.automation_id.in_(ids))
            .group_by(AutomationRun.automation_id, AutomationRun.status)
        ).all()
        for automation_id, status, count in rows:
            counts[automation_id][status] = count
    for automation in automations:
        automation.run_counts = counts[automation.id]  # type: ignore[attr-defined]
    return automations


def list_automations(shop: Shop, page: int, per_page: int) -> Page[Automation]:
    found = paginate(for_shop(Automation, shop.id).order_by(Automation.id), page, per_page)
    found["items"] = _with_counts(shop, found["items"])
    return found


def get_automation(shop: Shop, automation_id: int) -> Automation:
    return _with_counts(shop, [get_for_shop(Automation, shop.id, automation_id)])[0]


def create_automation(shop: Shop, data: dict[str, Any]) -> Automation:
    automation = Automation(shop_id=shop.id)
    _apply(shop, automation, data)
    with unique_name("automation"):
        db.session.add(automation)
        db.session.flush()
    bump_rules_version(shop)  # the ingest path keeps the active automations per version
    return get_automation(shop, automation.id)


def update_automation(shop: Shop, automation_id: int, changes: dict[str, Any]) -> Automation:
    """Overlay ``changes`` (top-level keys; ``trigger`` and ``action`` are replaced whole) on
    the stored automation and validate the whole again."""
    automation = get_for_shop(Automation, shop.id, automation_id)
    stored = AutomationOut().dump(automation)
    for name in READ_ONLY:
        stored.pop(name, None)
    changes = {k: v for k, v in changes.items() if k not in READ_ONLY}
    data = AutomationIn().load({**stored, **changes})
    _apply(shop, automation, data)
    automation.updated_at = utcnow()
    with unique_name("automation"):
        db.session.flush()
    bump_rules_version(shop)
    return get_automation(shop, automation.id)


def delete_automation(shop: Shop, automation_id: int) -> None:
    """Delete an automation and its history; codes it gave stay with their customers."""
    automation = get_for_shop(Automation, shop.id, automation_id)
    db.session.execute(
        AutomationRun.__table__.delete().where(
            in_shop(AutomationRun, shop.id), AutomationRun.automation_id == automation.id
        )
    )
    db.session.delete(automation)
    bump_rules_version(shop)


def list_runs(
    shop: Shop, automation_id: int, page: int, per_page: int, status: str | None = None
) -> Page[AutomationRun]:
    """The automation's runs, newest first, with each customer's host id."""
    automation = get_for_shop(Automation, shop.id, automation_id)
    where = [AutomationRun.automation_id == automation.id]
    if status:
        where.append(AutomationRun.status == status)
    query = (
        select(AutomationRun, Customer.external_id)
        .outerjoin(Customer, Customer.id == AutomationRun.customer_id)
        .where(*where)
        .order_by(AutomationRun.id.desc())
    )
    found = paginate(query, page, per_page)
    items = []
    for run, external_id in found["items"]:
        run.customer_external_id = external_id  # type: ignore[attr-defined]
        items.append(run)
    found["items"] = items
    return found

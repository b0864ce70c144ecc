"""A price list's entries (contract §8): paged, one set or deleted, CSV import with its
report, streamed export. Thin views over :mod:`plugin.rules.pricelists`, like the API's."""

from __future__ import annotations

from typing import Any

from flask import Response, request, stream_with_context
from flask.typing import ResponseReturnValue

from admin_ui.blueprint import admin_blueprint, render_page, run_form
from admin_ui.catalogue_names import names_for
from admin_ui.nested_forms import Converter, money
from admin_ui.session import current_admin_shop, redirect_to
from plugin.request_limits import streamed_upload
from plugin.rules import pricelists
from plugin.rules.schemas import EntryImportOut, PriceListEntryIn, PriceListEntryOut, PriceListOut
from plugin.shops.models import Shop

PER_PAGE = 100


def _page(shop: Shop, list_id: int, status: int = 200, **context: Any) -> ResponseReturnValue:
    price_list = pricelists.get_list(shop, list_id)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found = pricelists.list_entries(shop, list_id, page, PER_PAGE)
    entries = PriceListEntryOut(many=True).dump(found["items"])
    return render_page(
        "price_list_entries.html",
        status,
        price_list=PriceListOut().dump(price_list),
        entries=entries,
        names=names_for(shop, [entry["product_id"] for entry in entries]),
        found={"total": found["total"], "page": found["page"], "per_page": found["per_page"]},
        currency=shop.currency,
        money=lambda amount: money(amount, shop.currency),
        form=context.pop("form", {"product_id": "", "min_quantity": "1", "price": ""}),
        errors=context.pop("errors", {}),
        report=context.pop("report", None),
        **context,
    )


@admin_blueprint.get("/rules/price-lists/<int:list_id>/entries")
def price_list_entries(list_id: int) -> ResponseReturnValue:
    return _page(current_admin_shop(), list_id)


@admin_blueprint.post("/rules/price-lists/<int:list_id>/entries")
def price_list_entry_set(list_id: int) -> ResponseReturnValue:
    """Add an entry, or replace the price of the list's entry for that product and minimum."""
    shop = current_admin_shop()
    typed = {name: request.form.get(name, "") for name in ("product_id", "min_quantity", "price")}
    conv = Converter(shop.currency)
    body = {
        "product_id": typed["product_id"].strip(),
        "min_quantity": conv.integer("min_quantity", typed["min_quantity"] or "1"),
        "price": conv.money("price", typed["price"]),
    }
    if conv.errors:
        return _page(shop, list_id, 422, form=typed, errors=conv.errors)
    row, errors = run_form(
        lambda: pricelists.put_entry(shop, list_id, PriceListEntryIn().load(body))
    )
    if errors:
        return _page(shop, list_id, 422, form=typed, errors=errors)
    assert row is not None
    title = names_for(shop, [row.product_id]).product(row.product_id) or row.product_id
    return redirect_to(
        ".price_list_entries",
        f"{title} from {row.min_quantity}: {money(row.price, shop.currency)}.",
        list_id=list_id,
    )


@admin_blueprint.post("/rules/price-lists/<int:list_id>/entries/delete")
def price_list_entry_delete(list_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    product_id = request.form.get("product_id", "")
    minimum = request.form.get("min_quantity", type=int) or 1
    pricelists.delete_entry(shop, list_id, product_id, minimum)
    return redirect_to(
        ".price_list_entries", f"Deleted {product_id} from {minimum}.", list_id=list_id
    )


@admin_blueprint.post("/rules/price-lists/<int:list_id>/entries/import")
@streamed_upload
def price_list_entries_import(list_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    price_list = pricelists.get_list(shop, list_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(shop, list_id, 422, errors={"file": ["Choose a CSV file."]})
    report, errors = run_form(lambda: pricelists.import_entries(shop, price_list, upload.stream))
    if errors:
        return _page(shop, list_id, 422, errors=errors)
    return _page(shop, list_id, report=EntryImportOut().dump(report), filename=upload.filename)


@admin_blueprint.get("/rules/price-lists/<int:list_id>/entries/export")
def price_list_entries_export(list_id: int) -> ResponseReturnValue:
    shop = current_admin_shop()
    price_list = pricelists.get_list(shop, list_id)
    return Response(
        stream_with_context(pricelists.export_rows(shop, price_list)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="price-list-{price_list.id}.csv"'},
    )

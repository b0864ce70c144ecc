"""A price list's entries (contract §8): ``/api/price-lists/{id}/entries`` paged, one set
or deleted, imported and exported as CSV. The lists themselves are resources of
:mod:`plugin.api.rules` (``/api/price-lists``), like offers (``/api/offers``)."""

from __future__ import annotations

from flask import Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import load_body, load_page
from plugin.apidoc import document
from plugin.paging import PageQuery
from plugin.request_limits import streamed_upload
from plugin.rules import pricelists
from plugin.rules.schemas import (
    EntryImportOut,
    PriceListEntryIn,
    PriceListEntryKey,
    PriceListEntryOut,
    PriceListEntryPage,
)
from plugin.sessions import current_shop


@api_blueprint.get("/price-lists/<int:list_id>/entries")
@document(
    "The list's entries by product id then min_quantity, a page at a time.",
    query=PageQuery,
    response=PriceListEntryPage,
)
def list_price_list_entries(list_id: int) -> ResponseReturnValue:
    page = load_page()
    found = pricelists.list_entries(current_shop(), list_id, **page)
    return jsonify(PriceListEntryPage().dump(found))


@api_blueprint.post("/price-lists/<int:list_id>/entries")
@document(
    "Set the price of a product from a minimum quantity: the entry is added, or its price "
    "replaced when the list has one for that product and minimum.",
    request=PriceListEntryIn,
    response=PriceListEntryOut,
)
def put_price_list_entry(list_id: int) -> ResponseReturnValue:
    data = load_body(PriceListEntryIn())
    row = pricelists.put_entry(current_shop(), list_id, data)
    return jsonify(PriceListEntryOut().dump(row))


@api_blueprint.delete("/price-lists/<int:list_id>/entries")
@document(
    "Delete the entry of a product and minimum (query product_id and min_quantity); "
    "404 when the list has none.",
    query=PriceListEntryKey,
    status=204,
)
def delete_price_list_entry(list_id: int) -> ResponseReturnValue:
    key = PriceListEntryKey().load(request.args.to_dict())
    pricelists.delete_entry(current_shop(), list_id, key["product_id"], key["min_quantity"])
    return "", 204


@api_blueprint.post("/price-lists/<int:list_id>/entries/import")
@document(
    "Replace the list's entries by a CSV product_id,min_quantity,price (streamed, up to "
    "1,000,000 entries; one transaction).",
    response=EntryImportOut,
    request_content=("multipart/form-data", "text/csv"),
    description="Send the file as the 'file' part of multipart/form-data, or as the body "
    "itself with Content-Type text/csv, with a header line. The list's entries are "
    "replaced by the file's valid lines in one transaction; a line that is not valid or "
    "repeats the product_id and min_quantity of an earlier line is refused and reported "
    "with its line number (the header is line 1). A file without the three columns is a "
    "422 and changes nothing.",
)
@streamed_upload
def import_price_list_entries(list_id: int) -> ResponseReturnValue:
    shop = current_shop()
    price_list = pricelists.get_list(shop, list_id)
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    stream = upload.stream if upload is not None else request.stream
    report = pricelists.import_entries(shop, price_list, stream)
    return jsonify(EntryImportOut().dump(report))


@api_blueprint.get("/price-lists/<int:list_id>/entries/export")
@document(
    "The list's entries as CSV (text/csv, streamed): product_id,min_quantity,price; a "
    "product id starting with = + - @ is prefixed with ' (the import takes it back).",
    response_content="text/csv",
)
def export_price_list_entries(list_id: int) -> ResponseReturnValue:
    shop = current_shop()
    price_list = pricelists.get_list(shop, list_id)
    return Response(
        stream_with_context(pricelists.export_rows(shop, price_list)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="price-list-{price_list.id}.csv"'},
    )

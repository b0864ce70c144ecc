"""``GET /api/customers/{id}`` lists the codes handed to the customer (contract §5)."""

from __future__ import annotations

from tests.conftest import auth


def test_customer_view_lists_the_codes_handed_to_that_customer_only(client, make_discount):
    discount = make_discount(name="Welcome <b>back</b>")
    imported = client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=b"code\nWELCOME-A\nWELCOME-B\nWELCOME-C\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.get_json()
    url = f"/api/discounts/{discount['id']}/codes/assign"
    first = client.post(url, json={"customer_id": "c_1"}, headers=auth()).get_json()
    other = client.post(url, json={"customer_id": "c_2"}, headers=auth()).get_json()

    view = client.get("/api/customers/c_1", headers=auth())
    assert view.status_code == 200, view.get_json()
    codes = view.get_json()["codes"]
    assert [c["code"] for c in codes] == [first["code"]]
    assert codes[0]["status"] == "assigned"
    assert codes[0]["discount"] == {"id": discount["id"], "name": "Welcome <b>back</b>"}
    assert codes[0]["assigned_at"] is not None

    assert [
        c["code"] for c in client.get("/api/customers/c_2", headers=auth()).get_json()["codes"]
    ] == [other["code"]]

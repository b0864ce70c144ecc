"""The groups page's automatic-group controls (contract §8): a segment and a priority on the
group form, where each group fills from on the list, and releasing customers moved by hand."""

from __future__ import annotations

from tests.conftest import auth, customer_payload
from tests.test_admin_ui import admin, groups, text  # noqa: F401  (admin is a fixture)


def group_of(client, customer_id):
    return client.get(f"/api/customers/{customer_id}", headers=auth()).get_json()["group"]["name"]


def test_automatic_group_from_the_admin_and_release(client, admin, host):  # noqa: F811
    host.webhook("customer/created", {"customer": customer_payload("c_1", tags=["vip"])})
    vip = [{"field": "customer_tag", "op": "has", "value": "vip"}]
    made = client.post(
        "/api/segments", json={"name": "VIP", "conditions": vip}, headers=auth()
    ).get_json()
    form = text(admin.get("/admin/groups/new"))
    assert 'name="auto_segment_id"' in form and f'<option value="{made["id"]}">VIP</option>' in form

    created = admin.post("/admin/groups/new", {"name": "Gold", "colour": "#1e88e5",
                                               "auto_segment_id": str(made["id"]),
                                               "auto_priority": "3"})  # fmt: skip
    assert created.status_code == 303, text(created)
    gold = groups(client)["Gold"]
    assert (gold["auto_segment_id"], gold["auto_priority"]) == (made["id"], 3)
    assert group_of(client, "c_1") == "Gold"
    listing = text(admin.get("/admin"))
    assert "Segment “VIP”" in listing and "(priority 3)" in listing

    bad = admin.post(f"/admin/groups/{gold['id']}", {"name": "Gold", "colour": "#1e88e5",
                                                     "auto_priority": "x"})  # fmt: skip
    assert bad.status_code == 422 and 'id="f-auto_priority-errors"' in text(bad)

    standard = groups(client)["Standard"]
    client.post(f"/api/groups/{standard['id']}/customers", json={"customer_ids": ["c_1"]},
                headers=auth())  # fmt: skip
    assert group_of(client, "c_1") == "Standard"
    released = admin.post("/admin/groups/locks/release", {"customer_ids": "c_1"},
                          follow_redirects=True)  # fmt: skip
    assert "1 customer(s) released; 1 placed in another group." in text(released)
    assert group_of(client, "c_1") == "Gold"
    unknown = admin.post("/admin/groups/locks/release", {"customer_ids": "nobody"})
    assert unknown.status_code == 422 and "Unknown customer: nobody." in text(unknown)

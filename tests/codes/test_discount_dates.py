"""A discount's date-only window holds whole days in the shop's time zone, like a rule's."""

from __future__ import annotations

from tests.conftest import auth


def test_date_only_end_holds_all_of_that_day_and_one_day_windows_are_valid(client, make_discount):
    one_day = make_discount(starts_at="2026-03-01", ends_at="2026-03-01")
    assert one_day["starts_at"] == "2026-03-01T00:00:00Z"
    assert one_day["ends_at"] == "2026-03-02T00:00:00Z"  # end of the 1st, exclusive

    rule = client.post(
        "/api/price-rules",
        json={
            "name": "Same window",
            "audience": {"type": "all"},
            "scope": {"type": "all"},
            "action": {"type": "discount_percent", "value": 5},
            "starts_at": "2026-03-01",
            "ends_at": "2026-03-01",
        },
        headers=auth(),
    )
    assert rule.status_code == 201, rule.get_json()
    assert rule.get_json()["ends_at"] == one_day["ends_at"]


def test_an_end_before_the_start_is_refused(client, shop):
    answer = client.post(
        "/api/discounts",
        json={
            "name": "Backwards",
            "type": "percent",
            "value": 10,
            "starts_at": "2026-03-02",
            "ends_at": "2026-03-01",
        },
        headers=auth(),
    )
    assert answer.status_code == 422 and "ends_at" in answer.get_json()["error"]["details"]


def test_a_blank_name_is_refused(client, shop):
    answer = client.post(
        "/api/discounts", json={"name": "   ", "type": "percent", "value": 10}, headers=auth()
    )
    assert answer.status_code == 422 and "name" in answer.get_json()["error"]["details"]

"""One way to page (``plugin.paging``): every list of the admin API answers the same
envelope and refuses the same page parameters, and ``paginate`` pages any query."""

from __future__ import annotations

from sqlalchemy import select

from plugin.groups.models import Group
from plugin.limits import MAX_INTEGER
from plugin.paging import MAX_PER_PAGE, PageQuery, paginate
from tests.conftest import auth


def _list_paths(client) -> list[str]:
    """The lists of the document that take no path parameter (their answer is a …Page)."""
    document = client.get("/api/openapi.json", headers=auth()).get_json()
    found = []
    for path, operations in document["paths"].items():
        get = operations.get("get")
        if not path.startswith("/api/") or "{" in path or get is None:
            continue
        answer = get["responses"]["200"].get("content", {}).get("application/json", {})
        if answer.get("schema", {}).get("$ref", "").endswith("Page"):
            found.append(path)
    return found


def test_every_list_answers_the_envelope_and_refuses_bad_pages_by_name(client, shop):
    for name in ("A", "B", "C"):
        assert client.post("/api/groups", json={"name": name}, headers=auth()).status_code == 201
    paths = _list_paths(client)
    assert {"/api/groups", "/api/segments", "/api/discounts", "/api/jobs", "/api/events"} <= set(
        paths
    )
    for path in paths:
        answer = client.get(f"{path}?page=2&per_page=1", headers=auth())
        assert answer.status_code == 200, path
        body = answer.get_json()
        assert set(body) == {"items", "total", "page", "per_page"}, path
        assert (body["page"], body["per_page"]) == (2, 1), path
        assert len(body["items"]) == (1 if body["total"] >= 2 else 0), path
        for query, field in (
            ("page=0", "page"),
            ("per_page=0", "per_page"),
            (f"per_page={MAX_PER_PAGE + 1}", "per_page"),
            (f"page={MAX_INTEGER}&per_page=2", "page"),
        ):
            refused = client.get(f"{path}?{query}", headers=auth())
            assert refused.status_code == 422, (path, query)
            assert field in refused.get_json()["error"]["details"], (path, query)
    groups = client.get("/api/groups?page=1&per_page=2", headers=auth()).get_json()
    assert groups["total"] == 4 and [g["name"] for g in groups["items"]] == ["Standard", "A"]


def test_page_query_defaults_and_limits():
    assert PageQuery().load({}) == {"page": 1, "per_page": 50}
    assert PageQuery().validate({"page": "2", "per_page": str(MAX_PER_PAGE)}) == {}
    assert set(PageQuery().validate({"sort": "name"})) == {"sort"}
    assert set(PageQuery().validate({"page": str(MAX_INTEGER // 10 + 1), "per_page": "10"})) == {
        "page"
    }


def test_paginate_pages_entities_and_rows(app, client, shop):
    for name in ("A", "B", "C", "D"):
        client.post("/api/groups", json={"name": name}, headers=auth())
    with app.app_context():
        groups = select(Group).order_by(Group.id)
        second = paginate(groups, 2, 2)
        assert [g.name for g in second["items"]] == ["B", "C"]
        assert (second["total"], second["page"], second["per_page"]) == (5, 2, 2)
        assert paginate(groups, 4, 2)["items"] == [] and paginate(groups, 4, 2)["total"] == 5
        pairs = paginate(select(Group.name, Group.is_default).order_by(Group.id), 1, 2)
        assert pairs["items"] == [("Standard", True), ("A", False)]

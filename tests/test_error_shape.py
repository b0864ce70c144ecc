"""Errors everywhere have one shape (contract §2), unknown paths and wrong methods included;
the host app's own routes and errors are left as they are."""

from __future__ import annotations

import pytest
from werkzeug.routing import Rule

from plugin.errors import _real_routes
from tests.conftest import auth


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/nope", 404, "not_found"),
        ("GET", "/api/groups/1/nope/deeper", 404, "not_found"),
        ("PUT", "/api/groups", 405, "method_not_allowed"),
        ("DELETE", "/api/segments/preview", 405, "method_not_allowed"),
        ("GET", "/hooks/cart/price", 405, "method_not_allowed"),
        ("GET", "/hooks/nope", 404, "not_found"),
        ("GET", "/webhooks", 405, "method_not_allowed"),
        ("POST", "/webhooks/extra", 404, "not_found"),
    ],
)
def test_unknown_paths_and_wrong_methods_answer_the_error_shape(
    client, shop, method, path, status, code
):
    answer = client.open(path, method=method, headers=auth())
    assert answer.status_code == status
    assert answer.is_json, answer.get_data(as_text=True)[:200]
    assert answer.get_json()["error"]["code"] == code
    if status == 405:
        assert answer.headers["Allow"]


def test_routes_still_answer_and_an_api_path_needs_a_token(client, shop):
    assert client.get("/api/groups", headers=auth()).status_code == 200
    refused = client.get("/api/nope")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "invalid_token"


def test_the_host_apps_own_unknown_paths_are_untouched(client):
    answer = client.get("/not-ours")
    assert answer.status_code == 404 and not answer.is_json


def test_the_map_of_real_routes_is_built_once_per_app_and_again_when_routes_change(app):
    first = _real_routes(app.url_map)
    assert _real_routes(app.url_map) is first
    assert {"GET", "POST"} <= set(first.bind("localhost").allowed_methods("/api/groups"))
    app.url_map.add(Rule("/api/added-later", endpoint="added", methods=["PUT"]))
    again = _real_routes(app.url_map)
    assert again is not first
    assert "PUT" in again.bind("localhost").allowed_methods("/api/added-later")
    assert first.bind("localhost").allowed_methods("/api/added-later") == []

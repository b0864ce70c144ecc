"""Errors everywhere have one shape (contract §2), unknown paths and wrong methods included;
the host app's own routes and errors are left as they are."""

from __future__ import annotations

import pytest

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

"""The corpus against every route of the admin API, enumerated from ``GET /api/openapi.json``
so that a new route is attacked without anyone listing it: JSON bodies (POST, PATCH),
query parameters, ids in the path. 422 (400 for the price preview, which speaks the
pricing hook's language) naming the field, never a 500, and refused input changes nothing.
"""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import auth
from tests.limits import corpus
from tests.limits.conftest import FULL_CORPUS, run_cases, snapshot
from tests.limits.corpus import Case

_PARAM = re.compile(r"\{([^}]+)\}")
#: Path ids that no fixture makes (any id will do: a 404 is fine).
_ANY_ID = 1
_HOSTILE_IDS = {"2^63": 2**63, "10^30": 10**30, "2^53": 2**53, "NUL": "a%00b", "256": "x" * 256}


def _routes(client: FlaskClient) -> list[tuple[str, str, dict[str, Any]]]:
    doc = client.get("/api/openapi.json", headers=auth()).get_json()
    found = [
        (method, path, op)
        for path, ops in doc["paths"].items()
        if path.startswith("/api/")
        for method, op in ops.items()
        if method in ("get", "post", "patch", "put", "delete")
    ]
    return [(m, p, {**op, "_components": doc["components"]["schemas"]}) for m, p, op in found]


def _fill_path(template: str, ids: dict[str, Any], **override: Any) -> str:
    resource = template.split("/")[2]

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name in override:
            return str(override[name])
        return str(ids.get(f"{resource}:{name}", ids.get(name, _ANY_ID)))

    return _PARAM.sub(value, template)


def _json_schema(op: dict[str, Any]) -> dict[str, Any] | None:
    content = (op.get("requestBody") or {}).get("content") or {}
    return (content.get("application/json") or {}).get("schema")


def test_admin_api_routes_refuse_the_corpus(app: Flask, client: FlaskClient, world):
    routes = _routes(client)
    assert len(routes) > 50  # the document lists the API
    problems: list[str] = []
    attacked_bodies = 0
    for method, template, op in routes:
        url = _fill_path(template, world)

        # Ids in the path: past the limits they name nothing (404), never a 500.
        for name in _PARAM.findall(template):
            for label, value in _HOSTILE_IDS.items():
                target = _fill_path(template, world, **{name: value})
                response = client.open(target, method=method.upper(), json={}, headers=auth())
                if not 400 <= response.status_code < 500:
                    problems.append(f"{method} {template} {name}={label}: {response.status_code}")

        # Query parameters.
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        if names and method == "get":

            def ask(case: Case, url: str = url) -> Any:
                return client.get(f"{url}?{case.body.decode()}", headers=auth())

            found, _ = run_cases(app, corpus.query_cases(names), ask)
            problems += [f"GET {template} {problem}" for problem in found]

        # JSON bodies.
        schema = _json_schema(op)
        if schema is None or method not in ("post", "patch", "put"):
            continue
        baseline = corpus.ADMIN_BODIES.get((method, template))
        if baseline is None:
            baseline = corpus.example_body(schema, op["_components"])
        baseline = corpus.fill(baseline, world)
        attacked_bodies += 1

        def send(case: Case, url: str = url, method: str = method) -> Any:
            return client.open(
                url,
                method=method.upper(),
                data=case.body,
                content_type="application/json",
                headers=auth(),
            )

        # Creating routes accept odd values and make objects; those that act on one
        # object (assign, generate, retry) may use it up, so odd values go last.
        found, _ = run_cases(app, corpus.body_cases(baseline, full=FULL_CORPUS), send)
        problems += [f"{method.upper()} {template} {problem}" for problem in found]
    assert attacked_bodies >= 20
    assert problems == [], "\n".join(problems)


def test_admin_api_body_size(app: Flask, client: FlaskClient, world):
    before = snapshot(app)
    big = b'{"name": "' + b"x" * (1 << 20) + b'"}'
    response = client.post("/api/groups", data=big, content_type="application/json", headers=auth())
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    # Without Content-Length (chunked), the body is cut at the same size as it is read.
    response = client.post(
        "/api/groups",
        input_stream=io.BytesIO(big),
        content_type="application/json",
        headers={**auth(), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert snapshot(app) == before
    # Just under the limit is read (and refused by the schema, not by its size).
    fits = b'{"name": "' + b"x" * ((1 << 20) - 20) + b'"}'
    response = client.post(
        "/api/groups", data=fits, content_type="application/json", headers=auth()
    )
    assert response.status_code == 422
    assert "name" in response.get_json()["error"]["details"]


def test_paging_is_positive_and_within_range(client: FlaskClient, world):
    for path in ("/api/groups", "/api/discounts", f"/api/discounts/{world['discount_id']}/codes"):
        for query in ("page=0", "per_page=0", f"page={2**63}", "page=9007199254741", "page=-1"):
            response = client.get(f"{path}?{query}&per_page=1000", headers=auth())
            assert response.status_code == 422, (path, query)
            assert {"page", "per_page"} & set(response.get_json()["error"]["details"])
        largest = (2**53 - 1) // 1000
        response = client.get(f"{path}?page={largest}&per_page=1000", headers=auth())
        assert response.status_code == 200
        assert response.get_json()["items"] == []


def test_nul_in_the_search_and_query(client: FlaskClient, world):
    response = client.get("/api/groups?page=1&q=a%00b", headers=auth())
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {"q": ["Must not contain NUL characters."]}


def test_a_chunked_price_preview_past_1_mib_is_413(app: Flask, client: FlaskClient, world):
    big = corpus.dumps(corpus.cart(note="n" * (1 << 20)))
    response = client.post(
        "/api/price-preview",
        input_stream=io.BytesIO(big),
        content_type="application/json",
        headers={**auth(), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413

"""The corpus against every form of the admin pages: each POST page the OpenAPI document
lists, with the fields of the form that posts to it as the page shows it. A NUL in any
field (or field name) is a 422 naming it, changing nothing; numbers, dates and text past
every bound are refused or accepted by the form's own rules, never a 500."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from admin_ui.session import CSRF_FIELD, SESSION_PARAM
from tests.conftest import auth
from tests.limits import corpus
from tests.limits.conftest import FULL_CORPUS, open_admin, run_cases, snapshot
from tests.limits.corpus import Case

_PARAM = re.compile(r"\{([^}]+)\}")
PLUMBING = {SESSION_PARAM, CSRF_FIELD}


class _Forms(HTMLParser):
    """Every ``<form method="post">`` of a page: its action path and its fields' values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._form = {"action": urlsplit(unescape(a.get("action", ""))).path, "fields": {}}
            self.forms.append(self._form)
        if self._form is None or not a.get("name"):
            return
        fields = self._form["fields"]
        if tag == "input" and a.get("type") not in ("submit", "button", "file", "image"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                fields.setdefault(a["name"], None)
            else:
                fields[a["name"]] = a.get("value", "on" if a.get("type") == "checkbox" else "")
        elif tag == "select":
            self._select = a["name"]
            fields.setdefault(a["name"], None)
        elif tag == "textarea":
            self._textarea = a["name"]
            fields[a["name"]] = ""
        if tag == "option" and self._select:
            if fields.get(self._select) is None or "selected" in a:
                fields[self._select] = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


KINDS = ("price-rules", "bundles", "gift-rules", "benefit-programmes", "price-lists", "offers")


def _fill(template: str, world: dict[str, Any]) -> list[str]:
    """The page(s) of a path template: one per kind of rule for ``{kind_path}``."""

    def value(match: re.Match[str], kind: str) -> str:
        name = match[1]
        if name == "kind_path":
            return kind
        return str(world.get(f"{kind}:{name}", world.get(name, 1)))

    kinds = KINDS if "{kind_path}" in template else KINDS[:1]
    return [_PARAM.sub(lambda m, kind=kind: value(m, kind), template) for kind in kinds]


def _admin_routes(client: FlaskClient) -> list[tuple[str, str]]:
    doc = client.get("/api/openapi.json", headers=auth()).get_json()
    return [
        (method, path)
        for path, ops in doc["paths"].items()
        if path.startswith("/admin")
        for method in ops
        if method in ("get", "post")
    ]


def _forms(client: FlaskClient, session: str, pages: list[str]) -> dict[str, dict[str, Any]]:
    """The post forms of every page, by action path (the first one seen for each)."""
    found: dict[str, dict[str, Any]] = {}
    for url in pages:
        response = client.get(url, query_string={SESSION_PARAM: session})
        assert response.status_code == 200, url
        parser = _Forms()
        parser.feed(response.get_data(as_text=True))
        for form in parser.forms:
            found.setdefault(form["action"], form["fields"])
    return found


def test_admin_forms_refuse_the_corpus(app: Flask, client: FlaskClient, world):
    session = open_admin(client)
    routes = _admin_routes(client)
    pages = sorted({page for m, path in routes if m == "get" for page in _fill(path, world)})
    forms = _forms(client, session, pages)
    posts = sorted({page for m, path in routes if m == "post" for page in _fill(path, world)})
    # Deleting, running and importing forms carry nothing to vary but their plumbing.
    skip = ("/delete", "/run", "/codes/import")
    posts = [path for path in posts if not path.endswith(skip)]
    missing = [path for path in posts if path not in forms]
    assert missing == [], "POST pages without a form on any page"
    assert len(posts) >= 15
    problems: list[str] = []
    for action in posts:
        fields = {k: v for k, v in forms[action].items() if v is not None}

        def send(case: Case, action: str = action) -> Any:
            return client.post(
                action,
                data=case.value,
                query_string={SESSION_PARAM: session},
                headers={"Accept": "application/json"},
            )

        found, _ = run_cases(app, corpus.form_cases(fields, PLUMBING, FULL_CORPUS), send)
        problems += [f"POST {action} {problem}" for problem in found]
    assert problems == [], "\n".join(problems)


def test_a_nul_in_a_form_is_a_page_naming_the_field(app: Flask, client: FlaskClient, world):
    session = open_admin(client)
    form = _forms(client, session, ["/admin/groups/new"])["/admin/groups/new"]
    before = snapshot(app)
    response = client.post(
        "/admin/groups/new",
        data={**form, "name": "VIP\x00"},
        query_string={SESSION_PARAM: session},
    )
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "name" in page and "NUL" in page
    assert snapshot(app) == before


def test_page_numbers_past_the_range(client: FlaskClient, world):
    session = open_admin(client)
    for url in ("/admin/discounts", "/admin/automations", "/admin/segments", "/admin/rules"):
        for page in (str(2**63), str(10**30)):
            name = "price_rules_page" if url == "/admin/rules" else "page"
            response = client.get(url, query_string={SESSION_PARAM: session, name: page})
            assert response.status_code == 422, (url, page)
        ok = client.get(url, query_string={SESSION_PARAM: session, "page": "1000"})
        assert ok.status_code == 200

"""Fixtures of the input-limits suite: a shop with one of everything, and snapshots of
every table to show that refused input changed nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from plugin.db import db
from tests.conftest import SHOP, Host, auth, session_token
from tests.limits import corpus
from tests.limits.corpus import Case

Snapshot = dict[str, list[str]]
#: ``CUSTOMER_GROUPS_TEST_FULL_CORPUS=1``: every hostile value at every field (about four times
#: the requests) instead of the values in turn (``corpus.spread``).
FULL_CORPUS = os.environ.get("CUSTOMER_GROUPS_TEST_FULL_CORPUS") == "1"


def snapshot(app: Flask) -> Snapshot:
    """Every row of every table, as text, in a stable order."""
    with app.app_context():
        rows = {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
            for table in db.metadata.sorted_tables
        }
        db.session.rollback()
    return rows


def changes(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """The tables whose rows differ, with rows gone and rows come."""
    found = {}
    for name in before:
        gone = sorted(set(before[name]) - set(after[name]))
        came = sorted(set(after[name]) - set(before[name]))
        if gone or came:
            found[name] = {"gone": gone[:3], "came": came[:3]}
    return found


def open_admin(client: FlaskClient) -> str:
    """Open the admin page as the host frames it; returns the admin session."""
    page = client.get(f"/admin?shop={SHOP}&id_token={session_token(SHOP)}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return unescape(re.search(r'name="cg-session" content="([^"]+)"', html)[1])


def api_sender(client: FlaskClient) -> corpus.Send:
    def send(method: str, path: str, body: Any) -> tuple[int, Any]:
        response = client.open(f"/api{path}", method=method, json=body, headers=auth())
        return response.status_code, response.get_json(silent=True)

    return send


@pytest.fixture
def world(app: Flask, client: FlaskClient, host: Host) -> dict[str, Any]:
    """An installed shop with customers, an order, and one of every admin object."""
    host.install(timezone="Europe/Paris")
    for topic, payload in corpus.seed_webhooks():
        response = host.webhook(topic, payload)
        assert response.status_code == 200, (topic, response.get_json())
    return corpus.seed_admin(api_sender(client))


def run_cases(
    app: Flask, cases: Iterable[Case], send: Callable[[Case], Any]
) -> tuple[list[str], list[tuple[Case, Any]]]:
    """Send every case; returns what went wrong and the (case, response) of each.

    Cases that must be refused are sent first, all of them between two snapshots that
    must be equal: refused input changes nothing. The others (accepted or refused by
    each field's own rules, or cleaned) follow and must only never be a 500."""
    cases = list(cases)
    strict = [case for case in cases if case.expect in ("refused", "refused_whole")]
    loose = [case for case in cases if case.expect not in ("refused", "refused_whole")]
    problems: list[str] = []
    answered: list[tuple[Case, Any]] = []
    before = snapshot(app)
    for case in strict:
        response = send(case)
        answered.append((case, response))
        problem = corpus.verdict(case, response.status_code, response.get_json(silent=True))
        if problem:
            problems.append(problem)
    changed = changes(before, snapshot(app))
    if changed:
        problems.append(f"refused input changed the database: {changed}")
    for case in loose:
        response = send(case)
        answered.append((case, response))
        problem = corpus.verdict(case, response.status_code, response.get_json(silent=True))
        if problem:
            problems.append(problem)
    return problems, answered

"""The corpus against every webhook topic and both hooks (contract v2 §2, "Input limits"):
400 ``invalid_payload`` naming the field, or a customer snapshot's documented clean-up,
never a 500, and refused input changes nothing."""

from __future__ import annotations

import json

import pytest

from hooks import signals
from hooks.webhooks import ALL_TOPICS
from plugin.errors import ApiError
from tests.conftest import SHOP
from tests.limits import corpus
from tests.limits.conftest import FULL_CORPUS, run_cases, snapshot


def test_every_topic_and_hook_has_a_baseline():
    assert set(corpus.WEBHOOK_PAYLOADS) == set(ALL_TOPICS)


def _cleaned(topic):
    # A customer object's own fields (not its id) are cleaned, or ignored when unknown.
    if topic in ("customer/created", "customer/updated", "customer/deleted"):
        return corpus.CUSTOMER_FIELDS
    return lambda path: False


@pytest.mark.parametrize("topic", sorted(corpus.WEBHOOK_PAYLOADS))
def test_webhook_topic(app, host, world, topic):
    baseline = corpus.WEBHOOK_PAYLOADS[topic]
    odd = topic not in corpus.DESTRUCTIVE_TOPICS
    cases = corpus.body_cases(baseline, cleaned=_cleaned(topic), odd=odd, full=FULL_CORPUS)
    problems, answered = run_cases(
        app, cases, lambda case: host.webhook(topic, None, raw=case.body)
    )
    assert problems == []
    refused = [r for case, r in answered if case.expect == "refused"]
    assert refused and all(r.get_json()["error"]["code"] == "invalid_payload" for r in refused)
    # The baseline itself is fine (so the cases above were refused for their one flaw).
    if topic not in corpus.DESTRUCTIVE_TOPICS:
        assert host.webhook(topic, baseline).status_code == 200


@pytest.mark.parametrize("path", sorted(corpus.HOOK_PAYLOADS))
def test_hook(app, host, world, path):
    baseline = corpus.HOOK_PAYLOADS[path]
    assert host.post(path, baseline).status_code == 200
    problems, answered = run_cases(
        app,
        corpus.body_cases(baseline, full=FULL_CORPUS),
        lambda case: host.post(path, None, raw=case.body),
    )
    assert problems == []
    assert all(
        r.get_json()["error"]["code"] == "invalid_payload"
        for case, r in answered
        if case.expect == "refused"
    )


def test_a_shop_domain_in_the_body_past_the_limits(host):
    body = corpus.WEBHOOK_PAYLOADS["app/installed"]
    hostile = {"shop": {**body["shop"], "domain": SHOP + "\x00"}}
    response = host.webhook("app/installed", hostile)
    assert response.status_code == 400
    assert "shop.domain" in response.get_json()["error"]["details"]


def _decoded(case):
    """The case's body as the dict an in-process host would send, when Python can make it."""
    try:
        return json.loads(case.body)
    except (ValueError, RecursionError):
        return None


@pytest.mark.parametrize("topic", ["customer/created", "order/paid", "customer/subscribed"])
def test_in_process_signals_meet_the_same_limits(app, host, world, topic):
    # What an in-process host sends never goes through the JSON parser: the schemas check it.
    baseline = corpus.WEBHOOK_PAYLOADS[topic]
    cases = [
        (case, payload)
        for case in corpus.body_cases(baseline, cleaned=_cleaned(topic), odd=False, full=True)
        if isinstance(payload := _decoded(case), dict)
    ]
    assert len(cases) > 30
    before = snapshot(app)
    problems = []
    with app.app_context():
        for index, (case, payload) in enumerate(cases):
            signal = signals.WEBHOOK_SIGNALS[topic]
            try:
                signal.send(SHOP, payload=payload, event_id=f"limits-{index}")
            except ApiError as error:
                if case.expect == "cleaned":
                    problems.append(f"{case.label}: {error.status}, not cleaned")
                elif case.expect == "refused" and not corpus.names_path(error.details, case.path):
                    problems.append(f"{case.label}: {error.details}")
                continue
            except Exception as error:  # what must never happen
                problems.append(f"{case.label}: {error!r}")
                continue
            if case.expect != "cleaned":
                problems.append(f"{case.label}: accepted")
    assert problems == []
    if topic != "customer/created":
        assert snapshot(app) == before

"""The manifest the marketplace reads is valid and says what the app really does."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from hooks.webhooks import ALL_TOPICS

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
SCHEMA = json.loads((ROOT / "schemas" / "manifest.schema.json").read_text())


def _errors(document: dict) -> list[str]:
    validator = Draft202012Validator(SCHEMA)
    return [error.message for error in validator.iter_errors(document)]


def test_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_manifest_is_valid():
    assert _errors(MANIFEST) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.pop("scopes"),
        lambda m: m.update(unexpected=True),
        lambda m: m["hooks"]["cart_price"].pop("timeout_ms"),
        lambda m: m["hooks"]["cart_price"].update(timeout_ms="2000"),
        lambda m: m["scopes"][0].pop("reason"),
        lambda m: m["admin"]["menu"].update(icon="x"),
        lambda m: m.update(version="1.0"),
        lambda m: m.update(support_url="http://insecure.example"),
        lambda m: m.pop("signing"),
        lambda m: m["signing"].update(contract_version=1),
    ],
    ids=[
        "missing scopes",
        "unknown top-level field",
        "hook without timeout",
        "timeout as a string",
        "scope without a reason",
        "unknown menu field",
        "version not semver",
        "support over plain http",
        "no signing",
        "contract version 1",
    ],
)
def test_schema_is_strict(change):
    broken = copy.deepcopy(MANIFEST)
    change(broken)
    assert _errors(broken) != []


def test_topics_are_exactly_the_topics_the_app_handles():
    topics = [entry["topic"] for entry in MANIFEST["webhooks"]["topics"]]
    assert sorted(topics) == sorted(ALL_TOPICS)
    assert len(topics) == len(set(topics))


def test_every_topic_is_delivered_to_the_webhook_endpoint(app):
    rules = {rule.rule: rule.methods for rule in app.url_map.iter_rules()}
    assert MANIFEST["webhooks"]["path"] == "/webhooks"
    for entry in MANIFEST["webhooks"]["topics"]:
        assert "POST" in rules[entry["path"]], entry


def test_hooks_exist_in_the_app_with_a_two_second_budget(app):
    rules = {rule.rule: rule.methods for rule in app.url_map.iter_rules()}
    hooks = MANIFEST["hooks"]
    assert hooks["cart_price"]["path"] == "/hooks/cart/price"
    assert hooks["checkout_redeem"]["path"] == "/hooks/checkout/redeem"
    for hook in hooks.values():
        assert hook["timeout_ms"] == 2000
        assert hook["path"] in rules, f"{hook['path']} is not served by the app"
        assert "POST" in rules[hook["path"]]


def test_the_manifest_states_contract_v2_signing_as_the_code_does():
    from plugin.auth import EVENTS_KEY_LABEL, HOOK_TOPICS, HOST_KEY_LABEL, signed_headers
    from plugin.events import TOPICS as EVENT_TOPICS

    signing = MANIFEST["signing"]
    assert signing["contract_version"] == 2
    assert signing["host_key_label"] == HOST_KEY_LABEL
    assert signing["events_key_label"] == EVENTS_KEY_LABEL
    sent = signed_headers("s", "x.example", b"{}", topic="order/paid")
    assert sorted(signing["headers"]) == sorted(h for h in sent if h.startswith("X-"))
    assert sorted(signing["events"]) == sorted(EVENT_TOPICS)
    for hook in MANIFEST["hooks"].values():
        assert HOOK_TOPICS[hook["path"]] == hook["topic"]


def test_admin_mount_point_is_served(app):
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert MANIFEST["admin"]["path"] == "/admin"
    assert MANIFEST["admin"]["menu"] == {"section": "CRM", "label": "Groups"}
    assert "/admin" in rules
    assert MANIFEST["admin"]["openapi"] in rules


def test_manifest_version_is_the_package_version():
    from importlib.metadata import version

    assert MANIFEST["version"] == version("customer-groups")

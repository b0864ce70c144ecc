"""The test suite's cache of compiled URL rules (``tests/conftest.py``) gives every app the
rules werkzeug itself compiles: the same parts, trace, converters and arguments, and the
same URLs built and matched."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule

from tests import conftest
from tests.conftest import make_app


def _converters(rule: Rule) -> dict[str, Any]:
    return {
        name: (type(converter), converter.regex, converter.weight, converter.part_isolating)
        for name, converter in rule._converters.items()
    }


def _two_apps(tmp_path: Any) -> Any:
    """The second of two apps: the first has put each of their rules in the cache."""
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        app = make_app(tmp_path / name)
    return app


def test_every_rule_of_an_app_is_what_werkzeug_compiles(tmp_path):
    app = _two_apps(tmp_path)
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 100
    for rule in rules:
        assert conftest._rule_key(rule) in conftest._rule_parts, rule.rule
        fresh = Rule(
            rule.rule,
            endpoint=rule.endpoint,
            methods=rule.methods,
            defaults=rule.defaults,
            subdomain=rule.subdomain,
            host=rule.host,
            merge_slashes=rule.merge_slashes,
        )
        fresh.map = app.url_map
        conftest._compile_rule(fresh)  # werkzeug's own Rule.compile
        assert rule._parts == fresh._parts, rule.rule
        assert rule._trace == fresh._trace, rule.rule
        assert _converters(rule) == _converters(fresh), rule.rule
        assert rule.arguments == fresh.arguments, rule.rule
        for converter in rule._converters.values():
            assert converter.map is app.url_map  # made for this app's map, not shared
        values = {name: "1" for name in rule.arguments}
        assert rule.build(values) == fresh.build(values), rule.rule


def test_urls_are_matched_and_built_through_the_cached_rules(tmp_path):
    app = _two_apps(tmp_path)
    adapter = app.url_map.bind("localhost")
    endpoint, values = adapter.match("/api/groups/7", method="PATCH")
    assert values == {"group_id": 7}
    assert adapter.build(endpoint, values) == "/api/groups/7"
    endpoint, values = adapter.match("/admin/static/admin.css")
    assert (endpoint, values) == ("customer_groups_admin.static", {"filename": "admin.css"})

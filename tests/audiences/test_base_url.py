"""A destination's base_url cannot point our requests at private or local hosts."""

from __future__ import annotations

import pytest

import plugin.api  # noqa: F401  (the API package first: its modules import each other)
from plugin.audiences.schemas import DestinationSchema


@pytest.mark.parametrize(
    "url",
    [
        "http://a.klaviyo.example",
        "https://localhost:8080",
        "https://127.0.0.1",
        "https://10.0.0.5/api",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/",
        "https://metadata.internal",
    ],
)
def test_private_or_plain_http_base_urls_are_refused(app, url):
    app.config["CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS"] = False
    with app.app_context():
        errors = DestinationSchema().validate({"type": "klaviyo", "base_url": url})
    assert "base_url" in errors


def test_a_public_https_proxy_is_accepted(app):
    app.config["CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS"] = False
    with app.app_context():
        assert (
            DestinationSchema().validate({"type": "klaviyo", "base_url": "https://8.8.8.8/"}) == {}
        )

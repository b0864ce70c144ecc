"""Browser tests: Debian's Chromium driven by Playwright, the admin inside a host's iframe.

The app is served by a real server in a thread on ``127.0.0.1``; a *host page* on
``localhost`` (another origin and another site, so third-party rules apply) frames
``/admin?shop=…&id_token=…`` with a fresh session token, as the shop admin does.

Fixtures:
- ``admin``: ``admin.open()`` loads the host page; ``admin.frame`` is the Playwright
  Frame of the embedded admin (use ``get_by_role``/``get_by_label`` on it);
  ``admin.nav("Segments")`` follows the navigation; ``admin.screenshot("segments")``
  saves ``test-results/screenshots/segments.png``; ``admin.api`` is a Flask test client
  and ``admin.auth`` its headers, to check what the page did; ``admin.host`` sends signed
  webhooks (``admin.host.webhook(topic, payload)``); ``admin.customer(id, **fields)``
  and ``admin.order(id, customer_id, **fields)`` create data through webhooks.
Every test here is marked ``browser``; they are skipped (with the reason) only when
``/usr/bin/chromium`` is missing: CI installs it. What does not depend on the app being in
this process (Chromium, the host page, the frame driver) is in ``harness.py``, shared with
``tests/served/test_browser.py``, which drives the same pages under ``customer-groups serve``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from plugin.db import db
from tests.browser.harness import EmbeddedAdmin, HostPage, ServerThread, chromium
from tests.conftest import SHOP, Host, auth, customer_payload, make_app, order_payload


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


class Admin(EmbeddedAdmin):
    """The embedded admin as a merchant sees it (see the module docstring)."""

    def __init__(self, app: Flask, browser: Any, app_url: str, host_url: str) -> None:
        super().__init__(browser, app_url, host_url)
        self.app = app
        self.api = app.test_client()
        self.host = Host(self.api)

    @property
    def auth(self) -> dict[str, str]:
        return auth(SHOP)

    def customer(self, customer_id: str, **fields: Any) -> None:
        response = self.host.webhook(
            "customer/created", {"customer": customer_payload(customer_id, **fields)}
        )
        assert response.status_code == 200, response.get_json()

    def order(self, order_id: str, customer_id: str, **fields: Any) -> None:
        response = self.host.webhook(
            "order/paid", {"order": order_payload(order_id, customer_id, **fields)}
        )
        assert response.status_code == 200, response.get_json()


# Package scope: closed when tests/browser is done, so the served suite's own browser (its
# module's) never runs beside it (two sync Playwrights in one thread refuse to start).
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def admin(browser: Any, tmp_path: Path) -> Iterator[Admin]:
    host = HostPage()
    app = make_app(tmp_path, CUSTOMER_GROUPS_ADMIN_ORIGINS=host.url)
    app_server = ServerThread(app)
    host.app_url = f"http://127.0.0.1:{app_server.port}"
    driver = Admin(app, browser, host.app_url, host.url)
    driver.host.install()
    try:
        yield driver
        assert not driver.errors, f"the page reported errors: {driver.errors}"
    finally:
        driver.close()
        app_server.stop()
        host.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

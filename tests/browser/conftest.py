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
``/usr/bin/chromium`` is missing: CI installs it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from tests.conftest import (
    SHOP,
    Host,
    auth,
    customer_payload,
    make_app,
    order_payload,
    session_token,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-results" / "screenshots"
FRAME_NAME = "customer-groups"
TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


class ServerThread:
    """A WSGI app on a real socket, in a thread, until ``stop``."""

    def __init__(self, wsgi_app: Any) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def host_page(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The host's admin: a page that frames the extension with a fresh session token."""
    app_url = environ["customer_groups.app_url"]
    query = urlencode({"shop": SHOP, "id_token": session_token(SHOP)})
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop admin</title></head>
<body style="margin:0;font-family:sans-serif">
<header style="padding:8px 16px;background:#222;color:#fff">Shop admin · CRM → Groups</header>
<iframe name="{FRAME_NAME}" title="Customer Groups" src="{app_url}/admin?{query}"
  style="border:0;width:100%;height:2400px"></iframe>
</body></html>""".encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


class Admin:
    """The embedded admin as a merchant sees it (see the module docstring)."""

    def __init__(self, app: Flask, browser: Any, app_url: str, host_url: str) -> None:
        self.app = app
        self.app_url = app_url
        self.host_url = host_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)
        self.responses: list[tuple[int, str]] = []
        self.page.on("response", lambda r: self.responses.append((r.status, r.url.split("?")[0])))
        self.api = app.test_client()
        self.host = Host(self.api)

    def _console(self, message: Any) -> None:
        # A CSP violation or a script error is a defect; an HTTP error status the test
        # provoked (422, 409) is reported by Chromium too and is not.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    @property
    def auth(self) -> dict[str, str]:
        return auth(SHOP)

    @property
    def frame(self) -> Any:
        frame = self.page.frame(name=FRAME_NAME)
        assert frame is not None, "the host page has no Customer Groups frame"
        return frame

    def open(self) -> Any:
        self.page.goto(self.host_url)
        self.frame.wait_for_load_state()
        self.frame.get_by_role("heading", level=1).wait_for()
        return self.frame

    def nav(self, label: str) -> Any:
        self.frame.get_by_role("navigation", name="Customer Groups").get_by_role(
            "link", name=label, exact=True
        ).click()
        self.frame.wait_for_load_state()
        return self.frame

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        # The frame's content, as tall as it is: a cross-origin frame is painted reliably
        # only inside the viewport, so the viewport grows to hold it for the picture.
        height = self.frame.evaluate(
            "() => Math.ceil(document.querySelector('main').getBoundingClientRect().bottom)"
        )
        viewport = self.page.viewport_size
        self.page.evaluate("() => window.scrollTo(0, 0)")
        box = self.frame.frame_element().bounding_box()
        self.page.set_viewport_size(
            {"width": viewport["width"], "height": int(box["y"] + height) + 1}
        )
        try:
            clip = {"x": box["x"], "y": box["y"], "width": box["width"], "height": height}
            self.page.screenshot(path=str(path), clip=clip)
        finally:
            self.page.set_viewport_size(viewport)
        return path

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

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def admin(browser: Any, tmp_path: Path) -> Iterator[Admin]:
    environ: dict[str, str] = {}

    def host_wsgi(env: dict[str, Any], start_response: Any) -> list[bytes]:
        env.update(environ)
        return host_page(env, start_response)

    host_server = ServerThread(host_wsgi)
    host_url = f"http://localhost:{host_server.port}"
    app = make_app(tmp_path, CUSTOMER_GROUPS_ADMIN_ORIGINS=host_url)
    app_server = ServerThread(app)
    app_url = f"http://127.0.0.1:{app_server.port}"
    environ["customer_groups.app_url"] = app_url
    driver = Admin(app, browser, app_url, host_url)
    driver.host.install()
    try:
        yield driver
        assert not driver.errors, f"the page reported errors: {driver.errors}"
    finally:
        driver.close()
        app_server.stop()
        host_server.stop()
        from plugin.db import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()

"""What every browser test needs, whichever app it drives: Debian's Chromium through
Playwright, a host page on another origin that frames the admin, and the embedded admin
as a merchant sees it.

Used by ``tests/browser/conftest.py`` (the app in a thread of the test process) and by
``tests/served/test_browser.py`` (the app under ``customer-groups serve``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.conftest import SHOP, session_token

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
# expect() has its own default (5 s), which the context's set_default_timeout does not
# change: an assertion waiting on a form's POST gets the same patience as an action.
expect.set_options(timeout=TIMEOUT_MS)
# EmbeddedAdmin.follow: how long a click may take to start its navigation, and how many.
FOLLOW_WAIT_MS = 5_000
FOLLOW_CLICKS = 3
PAINTED = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
# True until the page that _mark_page marked has been left.
LEFT = "() => window.__cgLeft !== true"


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Chromium; the test is skipped, saying why, when it is not installed."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class _Quiet(WSGIRequestHandler):
    """No line per request: werkzeug writes them to the stderr of the test that started the
    server, which pytest has closed by the time a later request (a favicon, a static file)
    arrives ("--- Logging error ---" in the run's output). Errors are still logged."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class ServerThread:
    """A WSGI app on a real socket, in a thread, until ``stop``."""

    def __init__(self, wsgi_app: Any, port: int = 0) -> None:
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", port, wsgi_app, threaded=True, request_handler=_Quiet
        )
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class HostPage:
    """The host's admin on ``http://localhost:port`` (another origin and another site than
    the app on ``127.0.0.1``, so third-party rules apply): a page that frames
    ``{app_url}/admin`` with a fresh session token. Set ``app_url`` before opening it."""

    def __init__(self, shop: str = SHOP) -> None:
        self.shop = shop
        self.app_url = ""
        self.thread = ServerThread(self._page)
        self.url = f"http://localhost:{self.thread.port}"

    def _page(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        query = urlencode({"shop": self.shop, "id_token": session_token(self.shop)})
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop admin</title></head>
<body style="margin:0;font-family:sans-serif">
<header style="padding:8px 16px;background:#222;color:#fff">Shop admin · CRM → Groups</header>
<iframe name="{FRAME_NAME}" title="Customer Groups" src="{self.app_url}/admin?{query}"
  style="border:0;width:100%;height:2400px"></iframe>
</body></html>""".encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    def stop(self) -> None:
        self.thread.stop()


class EmbeddedAdmin:
    """The embedded admin in a browser tab: ``open()`` loads the host page, ``frame`` is the
    Playwright Frame of the admin, ``nav(label)`` follows its navigation,
    ``screenshot(name)`` saves ``test-results/screenshots/{name}.png``. Script errors and
    CSP violations the page reports are collected in ``errors``; ``responses`` holds
    (status, URL without query) of everything the tab loaded."""

    def __init__(self, browser: Any, app_url: str, host_url: str) -> None:
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

    def _console(self, message: Any) -> None:
        # A CSP violation or a script error is a defect; an HTTP error status the test
        # provoked (422, 409) is reported by Chromium too and is not.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

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
        return self.follow(
            self.frame.get_by_role("navigation", name="Customer Groups").get_by_role(
                "link", name=label, exact=True
            )
        )

    def follow(self, link: Any) -> Any:
        """Click ``link``, which opens another page in the frame, and return the frame once
        that page has loaded (stylesheets included), so that the test's next step acts on
        it and not on the page it left.

        A click that starts no navigation within a few seconds is made again, up to three
        times in all (following a link is a GET, so a second request changes nothing). CI
        once saw a click on a framed page that had just loaded start nothing: the next page
        was never asked for (clicks lost in a cross-site frame right after its navigation
        are a known Chromium behaviour: Playwright's issue 28023). A link that does not
        navigate still fails the test, after the third click."""
        frame = self.frame
        self._mark_page(frame)
        for attempt in range(1, FOLLOW_CLICKS + 1):
            try:
                link.click(timeout=FOLLOW_WAIT_MS if attempt > 1 else TIMEOUT_MS)
            except PlaywrightError:
                if attempt > 1 and frame.evaluate(LEFT):
                    break  # the previous click's page arrived as this one was made
                raise
            last = attempt == FOLLOW_CLICKS
            try:
                frame.wait_for_function(LEFT, timeout=TIMEOUT_MS if last else FOLLOW_WAIT_MS)
                break
            except PlaywrightTimeoutError:
                if last:
                    raise
        return self._settled(frame)

    def submit(self, control: Any, key: str | None = None) -> Any:
        """Send a form that answers with another page (a POST and the page it redirects to
        or its 422 page, or a search form's GET): click ``control``, or press ``key`` in it,
        once, and return the frame once the new page has loaded, run its scripts and been
        painted. Use it whenever the test acts on the page that comes back; an ``expect``
        that finds the new page's text does not wait for its deferred scripts. Acting
        before them: CI once saw a "Generate codes" click land on a page whose script had
        not yet taken over its form, so the form went the way it goes without scripts; a
        ``data-confirm`` button posts without asking; "Select every customer" ticks
        itself only; a ``fill()`` can lose its text to the focus that admin.js moves to a
        422 page's error summary (Playwright focuses the field, then types in a second
        step, into whatever has the focus by then); and a click can be lost in a frame that
        has just been replaced (see ``follow``). A POST is never sent twice."""
        frame = self.frame
        self._mark_page(frame)
        if key is None:
            control.click()
        else:
            control.press(key)
        frame.wait_for_function(LEFT)
        return self._settled(frame)

    @staticmethod
    def _settled(frame: Any) -> Any:
        """The frame once its new page has loaded (its deferred scripts have run) and two
        animation frames have passed: the page has been painted and takes input."""
        frame.wait_for_load_state("load")
        frame.evaluate(PAINTED)
        return frame

    @staticmethod
    def _mark_page(frame: Any) -> None:
        """Mark the frame's page, to see when it is left; a page that the previous step is
        replacing (a form just sent) is waited for and the new one is marked."""
        for attempt in range(1, 4):
            frame.wait_for_load_state("load")
            try:
                frame.evaluate("() => { window.__cgLeft = true; }")
                return
            except PlaywrightError as error:
                if "context was destroyed" not in str(error) or attempt == 3:
                    raise

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

    def close(self) -> None:
        self.context.close()

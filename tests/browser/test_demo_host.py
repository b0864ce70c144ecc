"""The demo's first run in Chromium (issue 14): the stand-in for the host's admin frames
the admin with a fresh token on every opening, and the admin's "open it again" page
leads back to it."""

from __future__ import annotations

from playwright.sync_api import expect

from customer_groups_demo import run_demo
from customer_groups_demo.host import HOST_PAGE_PATH, install_demo_host
from plugin.extension import create_app
from tests.browser.harness import FRAME_NAME, ServerThread


def test_the_demo_host_page_frames_the_admin_and_the_expired_page_leads_back(
    browser, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("CUSTOMER_GROUPS_APP_SECRET", "demo-browser-secret-of-thirty-two-bytes")
    path = tmp_path / "demo.sqlite"
    run_demo("127.0.0.1", 5998, 20, 60, serve_after=False, path=str(path), seed=5)
    capsys.readouterr()
    app = create_app(
        {
            "CUSTOMER_GROUPS_APP_SECRET": "demo-browser-secret-of-thirty-two-bytes",
            "CUSTOMER_GROUPS_DATABASE_URL": f"sqlite:///{path}",
            "CUSTOMER_GROUPS_HOST_ADMIN_URL": HOST_PAGE_PATH,
        }
    )
    install_demo_host(app, "lumen.example", "Lumen")
    server = ServerThread(app)
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    failed: list[str] = []
    context.on("response", lambda r: failed.append(r.url) if r.status == 404 else None)
    try:
        page = context.new_page()
        page.goto(base + "/")
        assert page.url == base + HOST_PAGE_PATH
        expect(page.get_by_text("Lumen admin")).to_be_visible()
        frame = page.frame(name=FRAME_NAME)
        expect(frame.get_by_role("heading", level=1)).to_have_text("Customer groups")
        expect(frame.get_by_role("main")).to_contain_text("Wholesale")
        first_token = frame.url.split("id_token=")[1]
        page.reload()
        frame = page.frame(name=FRAME_NAME)
        expect(frame.get_by_role("heading", level=1)).to_have_text("Customer groups")
        assert frame.url.split("id_token=")[1] != first_token  # a fresh token each opening

        # A pasted admin URL whose token is gone: the page leads back to the stand-in.
        page.goto(base + "/admin?shop=lumen.example")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Please open Customer Groups again"
        )
        page.get_by_role("link", name="Open Customer Groups again").click()
        page.wait_for_url(base + HOST_PAGE_PATH)
        frame = page.frame(name=FRAME_NAME)
        expect(frame.get_by_role("heading", level=1)).to_have_text("Customer groups")
        assert failed == [], failed  # the favicon too
    finally:
        context.close()
        server.stop()

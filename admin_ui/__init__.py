"""The embedded admin pages (contract §5), opened inside an iframe of the host's admin.

How the framework works, and how to add a page
==============================================

Opening and session (``admin_ui/session.py``)
    The host opens ``GET /admin?shop={domain}&id_token={jwt}``. The blueprint's
    ``before_request`` checks the token (401 when missing, invalid, or its ``dest`` is not
    ``shop``) and turns it into a signed, timed *admin session* (``g.admin_session``). It
    travels in links (``?s=…``), forms (hidden ``s``) and ``fetch`` (header
    ``X-Admin-Session``), never in a cookie: browsers block third-party cookies in
    iframes. Every response hands out a fresh one (valid one hour since the last page).
    ``current_admin_shop()`` is the shop; every operation is called with it, so a
    session of one shop never reaches another shop's rows (404).

Security headers
    ``Content-Security-Policy``: ``frame-ancestors 'self'`` plus
    ``CUSTOMER_GROUPS_ADMIN_ORIGINS``, ``script-src 'self'``, ``style-src 'self'`` (no
    inline ``<script>``, ``onclick=`` or ``style=``: behaviour goes in ``static/admin.js``,
    colours in SVG ``fill`` as the ``swatch`` macro does); ``Referrer-Policy: no-referrer``;
    ``Cache-Control: no-store``.

CSRF
    Every POST must carry ``csrf_token`` (``{{ ui.session_fields() }}`` in the form, or
    the ``X-CSRF-Token`` header); without it the answer is 400 ``csrf_failed`` with a
    message, before the view runs, so nothing changes.

Adding a page (uimore: rules, discounts, automations, audiences, cart)
    1. ``admin_ui/<page>.py``: views on ``admin_blueprint`` (from ``admin_ui.blueprint``).
       The list view's endpoint is the nav entry's (``rules``, ``discounts``,
       ``automations``, ``audiences``, ``try_cart``); the page's other endpoints start
       with the entry's prefix (``rule_new``, ``discount_codes``…) so the nav highlights it.
       Add nothing to this file: every module named in ``PAGES`` below is imported when
       it exists, and ``NAV`` (in ``blueprint.py``) shows an entry once its endpoint is
       registered.
    2. Views are thin, like the API: ``values = form_values("name", …)`` (form fields
       present; an unticked checkbox is absent), then
       ``result, errors = run_form(lambda: operations.create_x(shop, XIn().load(values)))``;
       on success ``return redirect_to(".x", "Saved “…”.")`` (the blueprint commits a
       view's answer below 400 and rolls back any other: ``plugin.db.BoundaryBlueprint``)
       (303 with a one-time signed message); on errors
       ``return render_page("x_form.html", 422, form=values, errors=errors)``. ``errors``
       maps dotted field names (``conditions.0.value``) to messages, as the API's 422
       ``details`` do. Other ``ApiError`` s (404, 409) render the error page unless the view
       catches them (see ``groups.group_delete`` for a 409 shown as a message).
    3. Templates ``customer_groups/<page>*.html`` extend ``customer_groups/base.html``
       (blocks ``title``, ``content``; ``{% block scripts %}`` for page JS files) and
       ``{% import "customer_groups/_macros.html" as ui with context %}`` (the macros need
       the context): ``ui.field``, ``ui.select``, ``ui.checkbox``, ``ui.textarea``,
       ``ui.errors_for``, ``ui.error_summary``, ``ui.session_fields`` (POST forms),
       ``ui.session_field`` (GET forms), ``ui.post_button`` (with ``confirm=``),
       ``ui.notice``, ``ui.swatch``, ``ui.group_badge``, ``ui.pagination``. Links:
       ``admin_url(".rules", page=2)``; amounts: ``money(cents, shop.currency)``.
       Names are auto-escaped: never use ``|safe`` on data.
    4. JavaScript (``static/admin.js``, no build step): ``CG.api(path, {method, body})``
       calls ``/api/…`` with the admin session and CSRF headers and returns the parsed
       JSON (throws ``CG.ApiError`` with ``status`` and ``details``); ``CG.debounce``;
       ``data-confirm="…"`` on a submit button asks before posting; ``data-live`` regions
       are ``aria-live``. Page-specific scripts: ``static/<page>.js`` in
       ``{% block scripts %}``.
    5. Browser tests: ``tests/browser/conftest.py`` gives ``admin`` (the app served in a
       thread, a host page on another origin framing it, ``admin.frame`` a Playwright
       Frame, ``admin.goto(".rules")``, ``admin.screenshot("rules")``) and ``seed`` helpers.
"""

from __future__ import annotations

import importlib
import importlib.util

from admin_ui.blueprint import admin_blueprint

#: Page modules; each registers its views on ``admin_blueprint`` when imported.
PAGES = (
    "groups",
    "customers",
    "customer_page",
    "segments",
    "rules",
    "pricelists",
    "discounts",
    "automations",
    "audiences",
    "cart",
    "reports",
)

for _page in PAGES:
    if importlib.util.find_spec(f"admin_ui.{_page}") is not None:
        importlib.import_module(f"admin_ui.{_page}")

__all__ = ["admin_blueprint"]

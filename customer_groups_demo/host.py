"""The demo's stand-in for the host's admin: ``GET /demo/admin`` (and ``/``).

A real shop admin opens Customer Groups in an iframe with a session token it has just
minted (contract §5); a demo has no shop admin, so this page plays it. Each time it is
opened it frames ``/admin?shop=…&id_token=…`` with a fresh token (they live 60 s), the
way a marketplace does, and the admin's "open it again" page links back here
(``CUSTOMER_GROUPS_HOST_ADMIN_URL``). Registered by the demo only: a page that hands out
admin sessions to whoever asks has no place in a real deployment.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, redirect, url_for
from flask.typing import ResponseReturnValue

from plugin.auth import issue_session_token

#: Where the demo's host page lives (the admin's 401 page links to it).
HOST_PAGE_PATH = "/demo/admin"

demo_host = Blueprint("customer_groups_demo_host", __name__)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{shop_name} admin · CRM → Groups (demo)</title>
<link rel="icon" href="{icon}">
<style>
  body {{ margin: 0; font: 15px/1.4 system-ui, sans-serif; background: #f1f2f4; }}
  header {{ display: flex; gap: 1rem; align-items: baseline; padding: .6rem 1.25rem;
           background: #1f2329; color: #fff; }}
  header p {{ margin: 0; color: #c9ced6; }}
  iframe {{ display: block; border: 0; width: 100%; height: calc(100vh - 2.6rem); }}
</style>
</head>
<body>
<header>
  <strong>{shop_name} admin</strong>
  <p>CRM → Groups · a stand-in for your shop's admin: it opens Customer Groups with a fresh
  session each time this page is loaded.</p>
</header>
<iframe name="customer-groups" title="Customer Groups" src="{src}"></iframe>
</body>
</html>
"""


def install_demo_host(app: Flask, shop_domain: str, shop_name: str) -> None:
    """Register the stand-in on the demo's ``app`` for ``shop_domain`` (the app's
    ``CUSTOMER_GROUPS_HOST_ADMIN_URL`` should be :data:`HOST_PAGE_PATH`)."""
    app.extensions["customer_groups_demo"] = {"shop": (shop_domain, shop_name)}
    app.register_blueprint(demo_host)


@demo_host.get("/")
def home() -> ResponseReturnValue:
    return redirect(HOST_PAGE_PATH, code=302)


@demo_host.get(HOST_PAGE_PATH)
def host_admin() -> Response:
    config = current_app.config
    domain, name = current_app.extensions["customer_groups_demo"]["shop"]
    token = issue_session_token(
        config["CUSTOMER_GROUPS_APP_SECRET"], config["CUSTOMER_GROUPS_APP_ID"], domain, user="demo"
    )
    src = "/admin?" + urlencode({"shop": domain, "id_token": token})
    body = _PAGE.format(
        shop_name=escape(name),
        src=escape(src),
        icon=escape(url_for("customer_groups_admin.static", filename="favicon.svg")),
    )
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # a fresh token on every opening
    response.headers["Referrer-Policy"] = "no-referrer"
    return response

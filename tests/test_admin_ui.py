"""The embedded admin pages through the Flask client: session, CSRF, headers, escaping, forms."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from admin_ui.blueprint import ASSET_MAX_AGE, NAV, admin_blueprint, asset_version, to_minor_units
from tests.conftest import SHOP, auth, customer_payload, order_payload, session_token

OTHER = "other.example"


class Admin:
    """A merchant's admin page opened from the host with a session token."""

    def __init__(self, client, shop=SHOP):
        self.client = client
        page = client.get(f"/admin?shop={shop}&id_token={session_token(shop)}")
        assert page.status_code == 200, page.get_data(as_text=True)
        html = page.get_data(as_text=True)
        self.session = unescape(re.search(r'name="cg-session" content="([^"]+)"', html)[1])
        self.csrf = re.search(r'name="cg-csrf" content="([^"]+)"', html)[1]

    def get(self, path, **params):
        return self.client.get(path, query_string={"s": self.session, **params})

    def post(self, path, data=None, csrf=True, **kwargs):
        form = {"s": self.session, **(data or {})}
        if csrf:
            form["csrf_token"] = self.csrf
        return self.client.post(path, data=form, **kwargs)


@pytest.fixture
def admin(client, shop):
    return Admin(client)


def text(response):
    return response.get_data(as_text=True)


def groups(client, shop=SHOP):
    return {g["name"]: g for g in client.get("/api/groups", headers=auth(shop)).get_json()["items"]}


# Opening and the admin session ---------------------------------------------------------


def test_opening_needs_a_token_whose_dest_is_the_shop_asked_for(client, shop):
    assert client.get(f"/admin?shop={SHOP}").status_code == 401
    assert client.get("/admin").status_code == 401
    other = client.get(f"/admin?shop={OTHER}&id_token={session_token(SHOP)}")
    assert other.status_code == 401
    no_shop = client.get(f"/admin?id_token={session_token(SHOP)}")
    assert no_shop.status_code == 401
    refused = client.get(f"/admin?shop={SHOP}&id_token=not-a-jwt")
    assert refused.status_code == 401
    assert refused.mimetype == "text/html"
    assert "Please open Customer Groups again" in text(refused)
    assert "invalid_token" in text(refused)
    page = client.get(f"/admin?shop={SHOP}&id_token={session_token(SHOP)}")
    assert page.status_code == 200
    assert "Standard" in text(page) and "#9e9e9e" in text(page)


def test_a_shop_that_is_not_installed_cannot_open_the_page(client, host):
    host.install(OTHER)
    host.webhook("app/uninstalled", {}, shop=OTHER)
    assert client.get(f"/admin?shop={OTHER}&id_token={session_token(OTHER)}").status_code == 401


def test_every_link_carries_the_admin_session_and_it_survives_navigation(client, admin):
    page = text(admin.get("/admin"))
    links = re.findall(r'href="(/admin[^"]*)"', page)
    assert links
    for link in links:
        if link.startswith("/admin/static/"):
            continue
        assert "s" in parse_qs(urlsplit(unescape(link)).query), link
        assert "id_token" not in link
    customers = client.get(unescape(next(link for link in links if "/customers" in link)))
    assert customers.status_code == 200
    assert "<h1>Customers</h1>" in text(customers)


def test_the_admin_session_is_signed_timed_and_for_one_shop(client, app, admin, host):
    host.install(OTHER)
    tampered = admin.session[:-2] + ("AA" if not admin.session.endswith("AA") else "BB")
    assert client.get("/admin", query_string={"s": tampered}).status_code == 401
    assert client.get("/admin", query_string={"s": "x"}).status_code == 401
    # The session names its shop; asking for another one is refused.
    assert admin.get("/admin", shop=OTHER).status_code == 401
    assert admin.get("/admin", shop=SHOP).status_code == 200
    app.config["CUSTOMER_GROUPS_ADMIN_SESSION_MAX_AGE"] = -1
    expired = admin.get("/admin")
    assert expired.status_code == 401
    assert "expired" in text(expired)


def test_no_cookie_is_set_and_headers_protect_the_frame(app, client, shop):
    app.config["CUSTOMER_GROUPS_ADMIN_ORIGINS"] = "https://admin.host.example, https://b.example"
    admin = Admin(client)
    for response in (
        client.get(f"/admin?shop={SHOP}&id_token={session_token()}"),
        admin.get("/admin/customers"),
        admin.get("/admin/segments/new"),
        admin.post("/admin/groups/new", {"name": "VIP", "colour": "#123456"}),
        admin.get("/admin/static/admin.js"),
    ):
        assert "Set-Cookie" not in response.headers
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self' https://admin.host.example https://b.example" in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert admin.get("/admin").headers["Cache-Control"] == "no-store"


IMMUTABLE = f"public, max-age={ASSET_MAX_AGE}, immutable"


def test_static_files_are_linked_by_version_and_kept_until_they_change(client, admin):
    page = text(admin.get("/admin/rules"))
    links = [unescape(link) for link in re.findall(r'(?:href|src)="(/admin/static/[^"]+)"', page)]
    assert {"admin.css", "admin.js", "picker.js", "more.css"} <= {
        urlsplit(link).path.rsplit("/", 1)[1] for link in links
    }
    for link in links:
        parts = urlsplit(link)
        filename = parts.path.removeprefix("/admin/static/")
        assert parse_qs(parts.query) == {"v": [asset_version(filename)]}, link
        kept = client.get(link)
        assert kept.status_code == 200
        assert kept.headers["Cache-Control"] == IMMUTABLE
        # Without its version, or with another one (a page from before a deploy), the file
        # is revalidated on each use, as before.
        for other in (parts.path, f"{parts.path}?v=0123456789abcdef"):
            response = client.get(other)
            assert response.status_code == 200
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.data == kept.data
    missing = client.get(f"/admin/static/nothing.css?v={asset_version('admin.css')}")
    assert missing.status_code == 404
    assert missing.headers.get("Cache-Control") != IMMUTABLE


def test_a_static_file_s_version_changes_with_its_content(tmp_path, monkeypatch):
    monkeypatch.setattr(admin_blueprint, "static_folder", str(tmp_path))
    asset = tmp_path / "admin.css"
    asset.write_text("a { color: red }")
    first = asset_version("admin.css")
    assert first == asset_version("admin.css")
    asset.write_text("a { color: blue }")
    assert asset_version("admin.css") not in (None, first)
    assert asset_version("missing.css") is None
    assert asset_version("../admin.css") is None  # outside the folder: no file of ours
    assert asset_version("") is None
    (tmp_path / "folder").mkdir()
    assert asset_version("folder") is None  # a folder is no file


def test_pages_have_no_inline_script_style_or_handlers(admin, client, host):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    group = groups(client)["Standard"]
    made = client.post(
        "/api/segments",
        json={
            "name": "All",
            "conditions": [{"field": "total_order_count", "op": "gte", "value": 0}],
        },
        headers=auth(),
    ).get_json()
    pages = [
        "/admin",
        "/admin/groups/new",
        f"/admin/groups/{group['id']}",
        "/admin/customers",
        "/admin/segments",
        "/admin/segments/new",
        f"/admin/segments/{made['id']}",
    ]
    for path in pages:
        html = text(admin.get(path))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path
        # Every visible control has a label.
        ids = re.findall(
            r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html
        )
        for control in ids:
            assert f'for="{control}"' in html, (path, control)


def test_navigation_lists_the_registered_pages_only(app, admin):
    html = text(admin.get("/admin"))
    nav = re.search(r'<nav class="nav".*?</nav>', html, re.S)[0]
    labels = re.findall(r">([^<>]+)</a>", nav)
    expected = [entry.label for entry in NAV if entry.endpoint in app.view_functions]
    assert labels == expected
    assert labels[:3] == ["Groups", "Customers", "Segments"]
    assert 'aria-current="page">Groups<' in nav


# CSRF -----------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(client, admin):
    refused = admin.post("/admin/groups/new", {"name": "Sneaky"}, csrf=False)
    assert refused.status_code == 400
    assert "csrf_failed" in text(refused)
    assert "nothing was changed" in text(refused)
    assert "Sneaky" not in groups(client)
    standard = groups(client)["Standard"]
    wrong = admin.post(
        f"/admin/groups/{standard['id']}", {"name": "Renamed", "csrf_token": "0" * 64}, csrf=False
    )
    assert wrong.status_code == 400
    assert "Renamed" not in groups(client)


def test_a_csrf_token_of_another_session_is_refused(client, shop):
    first, second = Admin(client), Admin(client)
    assert first.csrf != second.csrf
    response = client.post(
        "/admin/groups/new",
        data={"s": first.session, "csrf_token": second.csrf, "name": "Mixed"},
    )
    assert response.status_code == 400
    assert "Mixed" not in groups(client)
    # A fresh session handed out on a later page keeps the same CSRF token.
    later = Admin.__new__(Admin)
    later.client, later.csrf = client, first.csrf
    html = text(first.get("/admin/customers"))
    later.session = unescape(re.search(r'name="cg-session" content="([^"]+)"', html)[1])
    assert later.post("/admin/groups/new", {"name": "Later"}).status_code == 303


# The admin API with the admin session --------------------------------------------------


def test_api_accepts_the_admin_session_header_for_its_shop_only(client, admin, host):
    headers = {"X-Admin-Session": admin.session}
    listed = client.get("/api/groups", headers=headers)
    assert listed.status_code == 200
    assert [g["name"] for g in listed.get_json()["items"]] == ["Standard"]
    preview = client.post(
        "/api/segments/preview",
        json={
            "match": "all",
            "conditions": [{"field": "total_order_count", "op": "gte", "value": 0}],
        },
        headers=headers,
    )
    assert preview.status_code == 200 and preview.get_json()["count"] == 0
    assert client.get("/api/groups", headers={"X-Admin-Session": "forged"}).status_code == 401
    assert client.get("/api/groups").status_code == 401
    host.install(OTHER)
    theirs = groups(client, OTHER)["Standard"]
    assert client.get(f"/api/groups/{theirs['id']}", headers=headers).status_code == 404


def test_another_shops_rows_are_not_found_from_the_pages(client, admin, host):
    host.install(OTHER)
    theirs = groups(client, OTHER)["Standard"]
    assert admin.get(f"/admin/groups/{theirs['id']}").status_code == 404
    deleted = admin.post(f"/admin/groups/{theirs['id']}/delete")
    assert deleted.status_code == 404
    host.webhook("customer/created", {"customer": customer_payload("c_theirs")}, shop=OTHER)
    moved = admin.post(
        "/admin/customers/move",
        {"customer_ids": "c_theirs", "group_id": str(groups(client)["Standard"]["id"])},
    )
    assert moved.status_code == 422
    assert "Unknown customer: c_theirs." in text(moved)
    assert "c_theirs" not in text(admin.get("/admin/customers"))


# Groups ---------------------------------------------------------------------------------


def test_names_with_html_are_shown_escaped(client, admin, host):
    name = '<script>alert("x")</script><b>VIP</b>'
    made = client.post("/api/groups", json={"name": name, "colour": "#ff0000"}, headers=auth())
    assert made.status_code == 201
    host.webhook(
        "customer/created",
        {"customer": customer_payload("c_1", first_name="<img src=x>", last_name="<i>O</i>")},
    )
    client.post(
        "/api/segments",
        json={
            "name": "<em>Seg</em>",
            "conditions": [{"field": "accepts_marketing", "op": "is", "value": False}],
        },
        headers=auth(),
    )
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;VIP&lt;/b&gt;"
    for path in ("/admin", "/admin/customers", f"/admin/groups/{made.get_json()['id']}"):
        html = text(admin.get(path))
        assert '<script>alert("x")' not in html and "<b>VIP</b>" not in html, path
        assert escaped in html, path
    customers = text(admin.get("/admin/customers"))
    assert "&lt;img src=x&gt;" in customers and "<img src=x>" not in customers
    assert "&lt;em&gt;Seg&lt;/em&gt;" in customers
    segments = text(admin.get("/admin/segments"))
    assert "&lt;em&gt;Seg&lt;/em&gt;" in segments and "<em>Seg</em>" not in segments
    deleted = admin.post(f"/admin/groups/{made.get_json()['id']}/delete", follow_redirects=True)
    assert escaped in text(deleted) and '<script>alert("x")' not in text(deleted)


def test_create_and_modify_a_group_with_errors_shown_next_to_the_field(client, admin):
    created = admin.post("/admin/groups/new", {"name": " Wholesale ", "colour": "#1E88E5"})
    assert created.status_code == 303
    landed = client.get(created.headers["Location"])
    assert "Group “Wholesale” created." in text(landed)
    assert groups(client)["Wholesale"]["colour"] == "#1e88e5"

    duplicate = admin.post("/admin/groups/new", {"name": "WHOLESALE", "colour": "#000000"})
    assert duplicate.status_code == 422
    html = text(duplicate)
    assert 'id="f-name-errors"' in html and "A group with this name already exists." in html
    assert 'aria-invalid="true"' in html
    assert 'value="WHOLESALE"' in html  # what was typed is kept
    bad_colour = admin.post("/admin/groups/new", {"name": "Red", "colour": "red"})
    assert bad_colour.status_code == 422
    assert 'id="f-colour-errors"' in text(bad_colour)
    assert "Must be a colour #rrggbb" in text(bad_colour)
    assert len(groups(client)) == 2

    empty = admin.post("/admin/groups/new", {"name": "", "colour": ""})
    assert empty.status_code == 422 and "Length must be between 1 and 64." in text(empty)

    wholesale = groups(client)["Wholesale"]
    made_default = admin.post(
        f"/admin/groups/{wholesale['id']}",
        {"name": "Wholesale", "colour": "#00ff00", "is_default": "on"},
    )
    assert made_default.status_code == 303
    after = groups(client)
    assert after["Wholesale"]["is_default"] and not after["Standard"]["is_default"]
    assert after["Wholesale"]["colour"] == "#00ff00"
    # The default group's form shows the switch on and locked.
    form = text(admin.get(f"/admin/groups/{wholesale['id']}"))
    assert re.search(r'id="f-is_default"[^>]*checked disabled', form)


def test_deleting_the_default_group_is_refused_with_a_message(client, admin, host):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    standard = groups(client)["Standard"]
    refused = admin.post(f"/admin/groups/{standard['id']}/delete")
    assert refused.status_code == 409
    assert "“Standard” is the default group, so it cannot be deleted" in text(refused)
    assert 'role="alert"' in text(refused)
    assert groups(client)["Standard"]["member_count"] == 1


def test_deleting_a_group_moves_its_members_to_the_default(client, admin, host):
    made = client.post("/api/groups", json={"name": "VIP"}, headers=auth()).get_json()
    for customer_id in ("c_1", "c_2"):
        host.webhook("customer/created", {"customer": customer_payload(customer_id)})
    client.post(
        f"/api/groups/{made['id']}/customers", json={"customer_ids": ["c_1", "c_2"]}, headers=auth()
    )
    deleted = admin.post(f"/admin/groups/{made['id']}/delete", follow_redirects=True)
    assert deleted.status_code == 200
    assert "Group “VIP” deleted; its 2 members moved to the default group or" in text(deleted)
    assert groups(client)["Standard"]["member_count"] == 2


def test_a_forged_flash_message_is_not_shown(admin):
    html = text(admin.get("/admin", flash="WyJzdWNjZXNzIiwiUGF5IG1lIl0.forged"))
    assert "Pay me" not in html


# Customers -------------------------------------------------------------------------------


def test_customers_search_filter_and_move(client, admin, host):
    for customer_id, first, email in (
        ("c_1", "Ada", "ada@lumen.example"),
        ("c_2", "Grace", "grace@lumen.example"),
        ("c_3", "Alan", "alan_t@lumen.example"),
    ):
        host.webhook(
            "customer/created",
            {"customer": customer_payload(customer_id, first_name=first, email=email)},
        )
    vip = client.post("/api/groups", json={"name": "VIP"}, headers=auth()).get_json()
    assert "3 customers" in text(admin.get("/admin/customers"))
    by_email = text(admin.get("/admin/customers", q="GRACE@"))
    assert "1 customer matching" in by_email and 'data-customer-id="c_2"' in by_email
    # LIKE wildcards are plain characters.
    assert "1 customer matching" in text(admin.get("/admin/customers", q="n_t"))
    assert "0 customers" in text(admin.get("/admin/customers", q="%"))

    moved = admin.post(
        "/admin/customers/move",
        {"customer_ids": ["c_1", "c_3"], "group_id": str(vip["id"]), "q": "a"},
    )
    assert moved.status_code == 303
    assert "q=a" in moved.headers["Location"]
    assert "Moved 2 customers to “VIP”." in text(client.get(moved.headers["Location"]))
    in_vip = text(admin.get("/admin/customers", group=str(vip["id"])))
    assert 'data-customer-id="c_1"' in in_vip and 'data-customer-id="c_2"' not in in_vip

    again = admin.post(
        "/admin/customers/move", {"customer_ids": ["c_1", "c_2"], "group_id": str(vip["id"])}
    )
    assert "Moved 1 customer to “VIP”. 1 was already in it." in text(
        client.get(again.headers["Location"])
    )
    nothing = admin.post("/admin/customers/move", {"group_id": str(vip["id"])})
    assert nothing.status_code == 422
    assert "Select at least one customer to move." in text(nothing)
    no_group = admin.post("/admin/customers/move", {"customer_ids": ["c_3"]})
    assert no_group.status_code == 422 and "Choose the group to move them to." in text(no_group)


def test_customers_show_group_segments_and_money(client, admin, host):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    host.webhook("order/paid", {"order": order_payload("o_1", "c_1", total=123456)})
    client.post(
        "/api/segments",
        json={
            "name": "Buyers",
            "conditions": [{"field": "total_order_count", "op": "gte", "value": 1}],
        },
        headers=auth(),
    )
    html = text(admin.get("/admin/customers"))
    row = re.search(r'<tr data-customer-id="c_1">.*?</tr>', html, re.S)[0]
    assert "Standard" in row and 'fill="#9e9e9e"' in row
    assert "Buyers" in row
    assert "€1,234.56" in row


# Segments --------------------------------------------------------------------------------


def segment_form(name, match, *rows):
    data = {"name": name, "match": match}
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"conditions.{index}.{key}"] = value
    return data


def test_segment_builder_converts_each_kind_of_value(client, admin):
    data = segment_form(
        "Everything",
        "any",
        {"field": "registration_date", "op": "after", "date_mode": "relative", "days": "30"},
        {"field": "last_order_date", "op": "before", "date_mode": "date", "date": "2026-01-31"},
        {"field": "total_purchase_amount", "op": "gte", "money": "99.5"},
        {"field": "total_order_count", "op": "gt", "number": "4"},
        {"field": "used_discount_code", "op": "is", "bool": "no"},
        {"field": "purchased_product", "op": "none_of", "ids": "p1, p2\np3"},
        {"field": "customer_type", "op": "is", "choice": "business"},
        {"field": "city", "op": "is_not", "text": "Paris"},
        {"field": "customer_tag", "op": "has", "text": "vip"},
    )
    saved = admin.post("/admin/segments/new", data)
    assert saved.status_code == 303, text(saved)
    segment = client.get("/api/segments", headers=auth()).get_json()["items"][0]
    assert segment["match"] == "any"
    assert segment["conditions"] == [
        {"field": "registration_date", "op": "after", "value": "-30d"},
        {"field": "last_order_date", "op": "before", "value": "2026-01-31"},
        {"field": "total_purchase_amount", "op": "gte", "value": 9950},
        {"field": "total_order_count", "op": "gt", "value": 4},
        {"field": "used_discount_code", "op": "is", "value": False},
        {"field": "purchased_product", "op": "none_of", "value": ["p1", "p2", "p3"]},
        {"field": "customer_type", "op": "is", "value": "business"},
        {"field": "city", "op": "is_not", "value": "Paris"},
        {"field": "customer_tag", "op": "has", "value": "vip"},
    ]
    # The edit form shows the stored values back in the merchant's units.
    form = text(admin.get(f"/admin/segments/{segment['id']}"))
    assert 'name="conditions.0.days" type="number" value="30"' in form
    assert 'name="conditions.2.money" type="text" value="99.50"' in form
    assert 'name="conditions.5.ids" type="text" value="p1, p2, p3"' in form


def test_segment_builder_shows_errors_per_condition_and_saves_nothing(client, admin):
    data = segment_form(
        "Broken",
        "all",
        {"field": "total_purchase_amount", "op": "gte", "money": "12.345"},
        {"field": "total_order_count", "op": "after", "number": "2"},
        {"field": "registration_date", "op": "is", "date_mode": "relative", "days": "soon"},
    )
    refused = admin.post("/admin/segments/new", data)
    assert refused.status_code == 422
    html = text(refused)
    assert "Enter an amount in EUR, such as 99.55." in html
    assert "total_order_count takes one of: eq, ne, gt, gte, lt, lte." in html
    assert "Enter a whole number of days." in html
    assert 'href="#f-conditions-0-value"' in html
    assert 'value="12.345"' in html
    assert client.get("/api/segments", headers=auth()).get_json()["total"] == 0
    none = admin.post("/admin/segments/new", {"name": "Empty", "match": "all"})
    assert none.status_code == 422 and "Add at least one condition." in text(none)


def test_adding_and_removing_a_condition_redisplays_without_saving(client, admin):
    data = segment_form("Draft", "all", {"field": "city", "op": "is", "text": "Lyon"})
    added = admin.post("/admin/segments/new", {**data, "_action": "add"})
    assert added.status_code == 200
    html = text(added)
    assert "Condition 2" in html and 'data-focus="f-conditions-1-field"' in html
    assert 'value="Lyon"' in html
    removed = admin.post("/admin/segments/new", {**data, "_action": "remove:0"})
    assert "Condition 1" not in text(removed)
    assert client.get("/api/segments", headers=auth()).get_json()["total"] == 0


def test_segment_delete_and_list(client, admin):
    made = client.post(
        "/api/segments",
        json={
            "name": "Spenders",
            "conditions": [{"field": "total_purchase_amount", "op": "gte", "value": 10000}],
        },
        headers=auth(),
    ).get_json()
    listing = text(admin.get("/admin/segments"))
    assert "Total spent at least €100.00" in listing
    deleted = admin.post(f"/admin/segments/{made['id']}/delete")
    assert deleted.status_code == 303
    assert client.get("/api/segments", headers=auth()).get_json()["total"] == 0


def test_money_helpers_follow_the_currency():
    assert to_minor_units("19.99", "EUR") == 1999
    assert to_minor_units("19,9", "EUR") == 1990
    assert to_minor_units("19.999", "EUR") is None
    assert to_minor_units("1500", "JPY") == 1500
    assert to_minor_units("15.5", "JPY") is None
    assert to_minor_units("abc", "EUR") is None

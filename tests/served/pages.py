"""The embedded admin over plain HTTP, as a browser without JavaScript uses it.

``AdminTab`` opens ``/admin?shop=…&id_token=…`` on a served app, then follows links and
submits forms the way a browser does: a form is read from the page (its action, method,
encoding and every field with the value the page gave it, hidden ones included, unticked
checkboxes left out), a few fields are changed, and it is sent with the button pressed.
The admin session and CSRF token therefore travel exactly as the page put them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from tests.conftest import SHOP, session_token
from tests.served.server import Server


@dataclass
class Form:
    action: str
    method: str
    enctype: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # name, value, text

    def names(self) -> set[str]:
        return {name for name, _ in self.fields}

    def value(self, name: str) -> str | None:
        return next((value for key, value in self.fields if key == name), None)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.meta: dict[str, str] = {}
        self.forms: list[Form] = []
        self.title = ""
        self._form: Form | None = None
        self._select: tuple[str, list[tuple[str, bool]], bool] | None = None
        self._option: tuple[str | None, bool] | None = None
        self._option_text = ""
        self._textarea: str | None = None
        self._textarea_text = ""
        self._button: tuple[str, str] | None = None
        self._button_text = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        present = {key for key, _ in attrs}
        if tag == "title":
            self._in_title = True
        elif tag == "meta" and "name" in a:
            self.meta[a["name"]] = a.get("content", "")
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "form":
            self._form = Form(
                a.get("action", ""),
                a.get("method", "get").lower(),
                a.get("enctype", "application/x-www-form-urlencoded"),
            )
            self.forms.append(self._form)
        elif self._form is None or "disabled" in present:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in present:
                    value = a["value"] if "value" in present else "on"
                    self._form.fields.append((a["name"], value))
            elif kind in ("submit", "image", "button", "reset"):
                if kind == "submit":
                    self._form.buttons.append((a["name"], a.get("value", ""), a.get("value", "")))
            elif kind != "file":
                self._form.fields.append((a["name"], a.get("value", "")))
        elif tag == "button" and a.get("type", "submit") == "submit":
            self._button = (a.get("name", ""), a.get("value", ""))
            self._button_text = ""
        elif tag == "select" and a.get("name"):
            self._select = (a["name"], [], "multiple" in present)
        elif tag == "option" and self._select is not None:
            self._option = (a["value"] if "value" in present else None, "selected" in present)
            self._option_text = ""
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._textarea_text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._option is not None:
            self._option_text += data
        if self._textarea is not None:
            self._textarea_text += data
        if self._button is not None:
            self._button_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "form":
            self._form = None
        elif tag == "option" and self._option is not None and self._select is not None:
            value, selected = self._option
            text = self._option_text.strip()
            self._select[1].append((text if value is None else value, selected))
            self._option = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options, multiple = self._select
            chosen = [value for value, selected in options if selected]
            if not chosen and options and not multiple:
                chosen = [options[0][0]]  # a browser submits the first option
            self._form.fields.extend((name, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            text = self._textarea_text.removeprefix("\n")
            self._form.fields.append((self._textarea, text))
            self._textarea = None
        elif tag == "button" and self._button is not None and self._form is not None:
            name, value = self._button
            self._form.buttons.append((name, value, " ".join(self._button_text.split())))
            self._button = None


class Page:
    """An admin page as received: its URL, status, links and forms."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.url = response.url
        self.status = response.status_code
        self.text = response.text
        parser = _PageParser()
        if response.headers.get("Content-Type", "").startswith("text/html"):
            parser.feed(self.text)
        self.title = parser.title.strip()
        self.meta = parser.meta
        self.links = [urljoin(self.url, link) for link in parser.links]
        self.forms = parser.forms

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def form(self, action_path: str | None = None, containing: str | None = None) -> Form:
        """The POST form whose action is ``action_path`` (the page's own URL for a form without
        an action), or that has a field or button named ``containing``."""
        found = []
        for form in self.forms:
            target = urlsplit(urljoin(self.url, form.action or self.url)).path
            if form.method != "post":
                continue
            if action_path is not None and target != action_path:
                continue
            if containing is not None and containing not in form.names() | {
                b[0] for b in form.buttons
            }:
                continue
            found.append(form)
        assert found, f"no such form on {self.path}: {[(f.action, f.method) for f in self.forms]}"
        return found[0]


class AdminTab:
    """One merchant's tab on the served admin."""

    def __init__(self, server: Server, shop: str = SHOP) -> None:
        self.server = server
        self.page = self.open(shop)

    def open(self, shop: str = SHOP) -> Page:
        page = self.get(f"/admin?shop={shop}&id_token={session_token(shop)}")
        assert page.status == 200, page.text[:500]
        return page

    @property
    def session(self) -> str:
        """The admin session the last page handed out (each page renews it)."""
        return self.page.meta["cg-session"]

    def get(self, url: str) -> Page:
        page = Page(self.server.request("GET", url, allow_redirects=True))
        if page.meta.get("cg-session"):
            self.page = page
        return page

    def visit(self, path: str, **query: Any) -> Page:
        """``path`` with the session, as a link of the admin would carry it."""
        return self.get(f"{path}?{urlencode({'s': self.session, **query})}")

    def submit(
        self,
        form: Form,
        changes: dict[str, Any] | None = None,
        *,
        button: str | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        page: Page | None = None,
    ) -> Page:
        """Send ``form`` with ``changes`` (a value of None removes a field, a list gives a
        field several values) and the submit button whose text or value is ``button`` (the
        first one otherwise). Redirects are followed; ``.history`` of the answer's response
        shows them."""
        changes = dict(changes or {})
        fields: list[tuple[str, str]] = []
        for name, value in form.fields:
            if name in changes:
                continue
            fields.append((name, value))
        for name, value in changes.items():
            if value is None:
                continue
            values = value if isinstance(value, list) else [value]
            fields.extend((name, str(one)) for one in values)
        pressed = [
            b for b in form.buttons if button is None or button in (b[1], b[2])
        ]
        assert pressed, f"no button {button!r} in {form.buttons}"
        name, value, _ = pressed[0]
        if name:
            fields.append((name, value))
        base = (page or self.page).url
        action = urljoin(base, form.action or base)
        if files is not None or form.enctype == "multipart/form-data":
            answer = self.server.request(
                "POST", action, data=fields, files=files or {}, allow_redirects=True
            )
        else:
            answer = self.server.request("POST", action, data=fields, allow_redirects=True)
        for step in answer.history:  # redirects are GETs of other pages: record them too
            self.server.sent.append(("GET", urlsplit(step.headers["Location"]).path))
        result = Page(answer)
        if result.meta.get("cg-session"):
            self.page = result
        return result

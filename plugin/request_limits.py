"""The input limits of contract v2 §2 that concern a request itself rather than its JSON:
the body's size, ids in the path, the query string and posted forms (``plugin.limits``
holds the values; JSON bodies are checked where they are parsed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from plugin.errors import ApiError, ErrorCode
from plugin.limits import MAX_INTEGER, MAX_SERIAL, printable_key, text_flaw
from plugin.paging import MAX_PER_PAGE

#: Admin bodies (API and pages) are at most 1 MiB; CSV imports, streamed, 100 MiB.
BODY_BYTES = 1 << 20
STREAMED_BODY_BYTES = 100 << 20
#: The largest page number a page of the admin can show (``page × per_page`` in range).
MAX_PAGE = MAX_INTEGER // MAX_PER_PAGE

View = TypeVar("View", bound=Callable[..., Any])


def streamed_upload(view: View) -> View:
    """Mark a view that streams a CSV upload: its body may be up to ``STREAMED_BODY_BYTES``."""
    view.streamed_upload = True  # type: ignore[attr-defined]
    return view


def limit_body(view: Callable[..., Any] | None) -> None:
    """413 for a body past the view's limit, before anything is read; a body without
    ``Content-Length`` (chunked) is cut at the same size as it is read."""
    limit = STREAMED_BODY_BYTES if getattr(view, "streamed_upload", False) else BODY_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit} bytes.", 413
        )
    request.max_content_length = limit


def read_body() -> bytes:
    """The whole body within the limit :func:`limit_body` set, or 413. Werkzeug cuts a body
    without ``Content-Length`` (chunked) silently at the limit when it is read whole, so
    one that fills the limit is taken as larger than it."""
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(data) >= limit:
        raise ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit} bytes.", 413
        )
    return data


def check_path_and_query(pages: bool = False) -> None:
    """An id in the path that cannot exist names nothing (404); a query parameter holding a
    NUL or a lone surrogate is a 422 naming it, and so is, with ``pages`` (the admin pages,
    which read their page numbers without a schema), a ``page`` or ``*_page`` number past
    :data:`MAX_PAGE`."""
    for value in (request.view_args or {}).values():
        # Ids in paths are the extension's own (32-bit serials) or the host's (text).
        if (isinstance(value, int) and abs(value) > MAX_SERIAL) or (
            isinstance(value, str) and text_flaw(value)
        ):
            raise ApiError(ErrorCode.NOT_FOUND, "There is no such object.", 404)
    problems = _text_problems(request.args.items(multi=True))
    for name, value in request.args.items(multi=True):
        if pages and (name == "page" or name.endswith("_page")) and _past(value, MAX_PAGE):
            problems.setdefault(name, []).append(f"Must be a page from 1 to {MAX_PAGE}.")
    _refuse(problems, "query parameters")


def check_form() -> None:
    """A posted form field (name or value) holding a NUL or a lone surrogate is a 422
    naming it: such text can be neither stored nor compared."""
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        _refuse(_text_problems(request.form.items(multi=True)), "fields")


def _text_problems(pairs: Any) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name, value in pairs:
        flaw = text_flaw(name) or text_flaw(value)
        if flaw:
            problems.setdefault(printable_key(name), []).append(flaw)
    return problems


def _past(value: str, bound: int) -> bool:
    text = value.strip()
    return text.isdigit() and (len(text) > 20 or int(text) > bound)


def _refuse(problems: dict[str, list[str]], what: str) -> None:
    if problems:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            f"Some {what} are not valid: {', '.join(sorted(problems))}.",
            422,
            problems,
        )

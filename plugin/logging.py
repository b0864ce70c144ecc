"""One structured (JSON) log line per request, for operators."""

from __future__ import annotations

import json
import logging
import time

from flask import Flask, Response, g, request

log = logging.getLogger("customer_groups.requests")


def install_request_logging(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.customer_groups_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        if not log.isEnabledFor(logging.INFO):
            return response  # nothing to build
        started = g.get("customer_groups_started")
        elapsed = (time.perf_counter() - started) * 1000 if started else None
        log.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round(elapsed, 2) if elapsed is not None else None,
                    "shop": request.headers.get("X-Shop-Domain") or request.args.get("shop"),
                    "topic": request.headers.get("X-Topic"),
                    "event_id": request.headers.get("X-Event-Id"),
                    "remote": request.remote_addr,
                },
                separators=(",", ":"),
            )
        )
        return response

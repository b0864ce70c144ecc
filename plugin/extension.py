"""The extension, assembled: ``CustomerGroups(app)`` installs every layer on a Flask app.

This is the composition root, the one module above the edges: it imports the admin API,
the hooks, the admin UI (the edges), the features whose background tasks must be
registered, and the core. Nothing below imports it (``lint-imports``).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

import plugin.models  # noqa: F401  (every table registered before create_all or a migration)
from admin_ui import admin_blueprint
from hooks.inprocess import connect_receivers
from hooks.pricing import hooks_blueprint
from hooks.webhooks import webhooks_blueprint
from plugin.api import api_blueprint
from plugin.audiences import tasks as _audience_tasks  # noqa: F401  (audiences.run, .due)
from plugin.automations import triggers as _automation_tasks  # noqa: F401  (job kind, reactor)
from plugin.codes import tasks as _code_tasks  # noqa: F401  (codes.generate, codes.expire_holds)
from plugin.config import apply as apply_settings
from plugin.config import from_environ
from plugin.db import EXTENSION_KEY, db
from plugin.intake import changes as _customer_changes  # noqa: F401  (reactor)
from plugin.jobs.runner import init_app as init_jobs
from plugin.logging import install_request_logging
from plugin.outbox import delivery as _outbox_tasks  # noqa: F401  (outbox.deliver periodic task)
from plugin.segments import tasks as _segment_tasks  # noqa: F401  (segments.recompute, dates)


class CustomerGroups:
    """Bind the extension to an app: ``CustomerGroups(app)`` or ``ext.init_app(app)``.

    State lives in ``app.extensions["customer_groups"]``; the extension never keeps the app.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        # Every CUSTOMER_GROUPS_* setting: defaults filled in, values set in code checked
        # (a bad one is refused by name) and stored typed (plugin/config.py).
        apply_settings(app.config)
        url = app.config["CUSTOMER_GROUPS_DATABASE_URL"]
        if not url:
            os.makedirs(app.instance_path, exist_ok=True)
            url = "sqlite:///" + os.path.join(app.instance_path, "customer_groups.sqlite")
            app.config["CUSTOMER_GROUPS_DATABASE_URL"] = url
        if not app.config["CUSTOMER_GROUPS_APP_SECRET"] and not (
            app.testing or app.config["CUSTOMER_GROUPS_ALLOW_MISSING_SECRET"]
        ):
            raise RuntimeError(
                "CUSTOMER_GROUPS_APP_SECRET is not set: the extension refuses to start without "
                "the secret it shares with the marketplace."
            )

        # Our own engine, from CUSTOMER_GROUPS_DATABASE_URL only: a host's
        # SQLALCHEMY_DATABASE_URI and its own Flask-SQLAlchemy are left alone.
        state = ExtensionState(app.config)
        state.engine = db.init_app(app, _normalise_url(url), _engine_options(url))
        app.extensions[EXTENSION_KEY] = state
        app.register_blueprint(webhooks_blueprint)
        app.register_blueprint(hooks_blueprint)
        app.register_blueprint(api_blueprint)
        app.register_blueprint(admin_blueprint)
        connect_receivers()
        init_jobs(app)


class ExtensionState:
    """What the extension keeps per app (caches live here, never on the extension object)."""

    def __init__(self, config: Any) -> None:
        self.app_id: str = config["CUSTOMER_GROUPS_APP_ID"]
        self.secret: str | None = config["CUSTOMER_GROUPS_APP_SECRET"]
        self.engine: Any = None  # the extension's own engine (plugin.db)
        self.reading_engine: Any = None  # the same with AUTOCOMMIT (plugin.db.reading)
        self.pricing_cache: dict[Any, Any] = {}
        self.shop_cache: dict[Any, Any] = {}  # plugin.shops.operations.per_version
        self.jobs: Any = None  # plugin.jobs.settings.JobsState, set by plugin.jobs.runner


def _normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use psycopg 3 for both."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # No pool_pre_ping (a round trip per checkout): plugin.db replaces a connection the
    # server closed by looking at its socket at checkout.
    return {"pool_size": 10, "max_overflow": 30, "pool_timeout": 10}


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build a standalone app around the extension, configured from the environment."""
    app = Flask("plugin", instance_relative_config=True)
    app.config.update(from_environ())
    if test_config:
        app.config.update(test_config)
    CustomerGroups(app)
    install_request_logging(app)
    return app

"""Customer Groups: a Flask extension that prices carts by customer group and segment."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from plugin.config import DEFAULTS, from_environ
from plugin.db import EXTENSION_KEY
from plugin.db import db as _db  # keep ``plugin.db`` naming the module (migrations use it)
from plugin.schema import MIGRATIONS_DIR

__all__ = ["MIGRATIONS_DIR", "CustomerGroups", "ExtensionState", "create_app"]


class CustomerGroups:
    """Bind the extension to an app: ``CustomerGroups(app)`` or ``ext.init_app(app)``.

    State lives in ``app.extensions["customer_groups"]``; the extension never keeps the app.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
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

        import plugin.automations.triggers  # noqa: F401  (automations.run job kind, its reactor)
        import plugin.models  # noqa: F401  (every table registered before create_all/migrate)
        import plugin.outbox.delivery  # noqa: F401  (outbox.deliver periodic task)

        # Our own engine, from CUSTOMER_GROUPS_DATABASE_URL only: a host's
        # SQLALCHEMY_DATABASE_URI and its own Flask-SQLAlchemy are left alone.
        state = ExtensionState(app.config)
        state.engine = _db.init_app(app, _normalise_url(url), _engine_options(url))
        app.extensions[EXTENSION_KEY] = state

        from admin_ui import admin_blueprint
        from hooks.inprocess import connect_receivers
        from hooks.pricing import hooks_blueprint
        from hooks.webhooks import webhooks_blueprint
        from plugin.api import api_blueprint

        app.register_blueprint(webhooks_blueprint)
        app.register_blueprint(hooks_blueprint)
        app.register_blueprint(api_blueprint)
        app.register_blueprint(admin_blueprint)
        connect_receivers()
        from plugin.jobs.runner import init_app as init_jobs

        init_jobs(app)


class ExtensionState:
    """What the extension keeps per app (caches live here, never on the extension object)."""

    def __init__(self, config: Any) -> None:
        self.app_id: str = config["CUSTOMER_GROUPS_APP_ID"]
        self.secret: str | None = config["CUSTOMER_GROUPS_APP_SECRET"]
        self.engine: Any = None  # the extension's own engine (plugin.db)
        self.pricing_cache: dict[Any, Any] = {}
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
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 30, "pool_timeout": 10}


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build a standalone app around the extension, configured from the environment."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(from_environ())
    if test_config:
        app.config.update(test_config)
    CustomerGroups(app)
    from plugin.logging import install_request_logging

    install_request_logging(app)
    return app

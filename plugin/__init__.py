"""Customer Groups: a Flask extension that prices carts by customer group and segment."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask_migrate import Migrate

from plugin.config import DEFAULTS, from_environ
from plugin.db import configure_engine
from plugin.db import db as _db  # keep ``plugin.db`` naming the module (migrations use it)

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
migrate = Migrate()


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
        app.config.setdefault("SQLALCHEMY_DATABASE_URI", _normalise_url(url))
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(url))
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

        _db.init_app(app)
        migrate.init_app(app, _db, directory=MIGRATIONS_DIR, render_as_batch=True)
        with app.app_context():
            configure_engine(_db.engine)

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
        app.extensions["customer_groups"] = ExtensionState(app.config)
        from plugin.jobs.runner import init_app as init_jobs

        init_jobs(app)


class ExtensionState:
    """What the extension keeps per app (caches live here, never on the extension object)."""

    def __init__(self, config: Any) -> None:
        self.app_id: str = config["CUSTOMER_GROUPS_APP_ID"]
        self.secret: str | None = config["CUSTOMER_GROUPS_APP_SECRET"]
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

"""Create or migrate the extension's schema with Alembic (``migrations/``), on the
extension's own engine: what ``customer-groups db upgrade`` runs, and what an in-process
host calls once at deploy time (``upgrade_schema(app)``).

Alembic directly, not Flask-Migrate: Flask-Migrate keeps its state in
``app.extensions["migrate"]`` and expects a Flask-SQLAlchemy handle, so a host that uses it
for its own migrations would lose them or ours.
"""

from __future__ import annotations

import os

from alembic import command
from alembic.config import Config
from flask import Flask, current_app

from plugin.db import app_engine

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


def alembic_config(app: Flask, configure_logging: bool = False) -> Config:
    """Alembic's configuration for ``app``: our migrations, run on the extension's engine
    (``migrations/env.py`` takes it from ``attributes["engine"]``); Alembic's own logging
    set up only when asked (the command line), never in a host's process."""
    config = Config(os.path.join(MIGRATIONS_DIR, "alembic.ini"))
    config.set_main_option("script_location", MIGRATIONS_DIR)
    config.attributes["engine"] = app_engine(app)
    config.attributes["configure_logging"] = configure_logging
    # Migrations that seal data at rest (0016: audience credentials) derive their key from it.
    config.attributes["app_secret"] = app.config.get("CUSTOMER_GROUPS_APP_SECRET")
    return config


def upgrade_schema(
    app: Flask | None = None, revision: str = "head", configure_logging: bool = False
) -> None:
    """Create the extension's tables of ``app`` (default: the current app), or migrate
    them to ``revision``."""
    command.upgrade(alembic_config(app or _current(), configure_logging), revision)


def downgrade_schema(app: Flask | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(app or _current()), revision)


def _current() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]

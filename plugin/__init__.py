"""Customer Groups: a Flask extension that prices carts by customer group and segment.

``CustomerGroups(app)`` installs it on a host app, ``create_app()`` builds a standalone one
(:mod:`plugin.extension`); ``plugin.schema.upgrade_schema(app)`` creates its tables.
"""

from plugin.extension import CustomerGroups, ExtensionState, create_app
from plugin.schema import MIGRATIONS_DIR

__all__ = ["MIGRATIONS_DIR", "CustomerGroups", "ExtensionState", "create_app"]

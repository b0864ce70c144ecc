"""Customer Groups: a Flask extension that prices carts by customer group and segment.

Install it with ``plugin.extension.CustomerGroups(app)``, or build a standalone app with
``plugin.extension.create_app()``; ``plugin.schema.upgrade_schema(app)`` creates its
tables. This package module imports nothing, so that importing any part of the extension
(the pure engine, the signals, the core) never loads the whole app.
"""

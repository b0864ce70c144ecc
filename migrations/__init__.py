"""Alembic migrations of the extension (run with `customer-groups db upgrade`)."""

"""The admin JSON API under ``/api``; every view takes a session token (contract §5)."""

# Each module attaches its routes (and its OpenAPI entries) when imported.
from plugin.api import (  # noqa: F401
    audiences,
    automations,
    catalogue,
    customers,
    discounts,
    events,
    groups,
    jobs,
    openapi,
    pricelists,
    render,
    reports,
    rules,
    segments,
)
from plugin.api.blueprint import api_blueprint

__all__ = ["api_blueprint"]

"""Simulated suppliers (and, with the intake issue, a storefront) for demos and tests, served over real
HTTP by Dropdesk itself at /sandbox; mounted only when SANDBOX is on, which production refuses.

`init_app(app)` mounts them; `sandbox_credentials` and `sandbox_connection` tell the demo seed how
each demo supplier is reached; `push.push_stock_updates` plays the supplier that pushes.
"""
from __future__ import annotations

from app.sandbox.connections import (
    SANDBOX_SUPPLIERS,
    sandbox_connection,
    sandbox_credentials,
)

__all__ = ["SANDBOX_SUPPLIERS", "init_app", "sandbox_connection", "sandbox_credentials"]


def init_app(app) -> None:
    """Mount the simulated suppliers at /sandbox when SANDBOX is on; otherwise do nothing."""
    from app.sandbox.routes import init_app as mount

    mount(app)

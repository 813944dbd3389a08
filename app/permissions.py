"""Roles, the one permission table, and `role_required`."""
from __future__ import annotations

from functools import wraps

from flask import Flask, abort, request, url_for
from flask_login import current_user

from app import htmx

ROLES = ("admin", "ops", "buyer", "support", "manager")
ROLE_LABELS = {
    "admin": "Admin",
    "ops": "Operations",
    "buyer": "Buyer",
    "support": "Support",
    "manager": "Manager",
}
EVERYONE = frozenset(ROLES)

# permission -> roles granted it. Every view names exactly one permission.
PERMISSIONS: dict[str, frozenset[str]] = {
    "overview.view": EVERYONE,
    "stock.view": EVERYONE,
    "stock.export": frozenset({"admin", "ops", "buyer", "manager"}),
    "stock.adjust": frozenset({"admin", "ops"}),
    "suppliers.view": frozenset({"admin", "ops", "buyer", "manager"}),
    "suppliers.sync": frozenset({"admin", "ops"}),
    "suppliers.manage": frozenset({"admin"}),
    "jobs.view": EVERYONE,
    # Support reads the queue for the orders customers ask about; working items stays with ops.
    "exceptions.view": frozenset({"admin", "ops", "manager", "support"}),
    "exceptions.work": frozenset({"admin", "ops"}),
    "alerts.view": EVERYONE,
    "users.manage": frozenset({"admin"}),
    "audit.view": frozenset({"admin", "manager"}),
    "routing.manage": frozenset({"admin", "manager"}),
    "orders.view": frozenset({"admin", "ops", "support", "manager"}),
    "orders.upload": frozenset({"admin", "ops"}),
    "orders.cancel": frozenset({"admin", "ops", "support"}),
    "channels.manage": frozenset({"admin"}),
}

# Where each role lands after login: the page it comes to Dropdesk for.
ROLE_HOME = {
    "admin": "admin.users_index",
    "ops": "exceptions.index",
    "buyer": "stock.index",
    "support": "orders.index",
    "manager": "overview.index",
}


def can(user, permission: str) -> bool:
    """True when `user` is logged in, active, and its role is granted `permission`."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}; add it to PERMISSIONS")
    return bool(getattr(user, "is_authenticated", False)) and user.role in PERMISSIONS[permission]


def role_required(permission: str):
    """Let through only the roles the permission table grants `permission`; 403 for the rest."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}; add it to PERMISSIONS")

    def decorator(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                return _login_required_response()
            if current_user.role not in PERMISSIONS[permission]:
                abort(403)
            return view(*args, **kwargs)

        guarded.required_permission = permission
        return guarded

    return decorator


def _login_required_response():
    login = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if htmx.is_htmx_request():
        # Never swap the login page into a fragment: send the whole browser there.
        return htmx.redirect_browser(login, status=401)
    from flask import redirect

    return redirect(login)


def init_app(app: Flask) -> None:
    from app.extensions import login_manager

    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.unauthorized_handler(_login_required_response)

    @app.context_processor
    def permission_helpers():
        return {"can": lambda permission: can(current_user, permission), "ROLE_LABELS": ROLE_LABELS}

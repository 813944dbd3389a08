"""Admin: people and their roles, and the audit log."""
from __future__ import annotations

from flask import Blueprint, abort, flash, request
from flask_login import current_user

from app.htmx import render_fragment, render_page, trigger
from app.permissions import ROLES, role_required
from app.services import ServiceError, audit, users
from app.web.admin.forms import ChangeRoleForm, CreateUserForm
from app.web.listing import list_args, url_with

bp = Blueprint("admin", __name__, url_prefix="/admin")
USER_FILTERS = ("q", "role", "status")


def _users_page(form: CreateUserForm, status: int = 200, generated: tuple[str, str] | None = None):
    args = list_args(*USER_FILTERS, default_sort="email")
    page, error = None, None
    try:
        page = users.list_users(role=args["role"] or None, status=args["status"] or None, search=args["q"] or None,
                                sort=args["sort"], after=args["after"] or None)
    except ServiceError as problem:
        error, status = problem.message, 422
    return render_page(
        "admin/users.html", fragments=("users_table", "create_user"), status=status, page=page, error=error,
        args=args, url_with=url_with, roles=ROLES, form=form, generated=generated,
    )


@bp.get("/users")
@role_required("users.manage")
def users_index():
    return _users_page(CreateUserForm())


@bp.post("/users")
@role_required("users.manage")
def create_user():
    form = CreateUserForm()
    if not form.validate_on_submit():
        return _users_page(form, status=422)
    password = form.password.data or users.generate_password()
    try:
        user = users.create_user(form.email.data, form.role.data, password, name=form.name.data, actor=current_user)
    except ServiceError as problem:
        getattr(form, problem.field, form.email).errors.append(problem.message)
        return _users_page(form, status=422)
    flash(f"{user.email} can now sign in as {user.role}.", "success")
    generated = (user.email, password) if not form.password.data else None
    return trigger(_users_page(CreateUserForm(formdata=None), generated=generated), "users-changed")


def _user_row(user, status: int = 200):
    return render_fragment("admin/users.html", "user_row", user=user, roles=ROLES, status=status)


@bp.post("/users/<int:user_id>/role")
@role_required("users.manage")
def change_role(user_id: int):
    form = ChangeRoleForm()
    if not form.validate_on_submit():
        abort(422, "Choose one of the listed roles.")
    try:
        user = users.change_role(user_id, form.role.data, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"{user.email} is now {user.role}.", "success")
    return trigger(_user_row(user), "users-changed")


@bp.post("/users/<int:user_id>/active")
@role_required("users.manage")
def set_active(user_id: int):
    active = request.form.get("active") == "1"
    try:
        user = users.set_active(user_id, active, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"{user.email} is {'active again' if active else 'deactivated'}.", "success")
    return trigger(_user_row(user), "users-changed")


@bp.get("/audit")
@role_required("audit.view")
def audit_log():
    args = list_args("entity", "actor", default_sort="-at")
    page, error = None, None
    try:
        page = audit.list_entries(entity_type=args["entity"] or None, actor=args["actor"] or None,
                                  after=args["after"] or None)
    except ServiceError as problem:
        error = problem.message
    return render_page("admin/audit.html", fragments=("audit_table",), status=200 if error is None else 422,
                       page=page, error=error, args=args, url_with=url_with)

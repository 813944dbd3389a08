"""Staff accounts: create, authenticate, change role, deactivate; every change audited."""
from __future__ import annotations

import logging
import secrets

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, literal, select

from app.extensions import db
from app.models import User
from app.models.types import utcnow
from app.permissions import ROLES
from app.services import ServiceError, audit
from app.services.paging import EPOCH, Page, keyset_page

log = logging.getLogger(__name__)
MIN_PASSWORD_LENGTH = 12


def normalize_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ServiceError(f"{raw!r} is not a valid e-mail address: {error}", field="email") from None


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ServiceError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.", field="role")
    return role


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(email: str, role: str, password: str, name: str | None = None, actor: User | str = "cli") -> User:
    email = normalize_email(email)
    _check_role(role)
    _check_password(password)
    if find_by_email(email):
        raise ServiceError(f"A user with the e-mail {email} already exists.", field="email")
    user = User(email=email, name=(name or email.split("@")[0]).strip(), role=role, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.created", "user", user.id, {"email": (None, email), "role": (None, role)})
    db.session.commit()
    log.info("user_created user=%s role=%s", user.id, role)
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None (the caller says nothing about which part was wrong)."""
    user = find_by_email(email)
    if user is None or not user.check_password(password):
        log.info("login_failed email_known=%s", user is not None)
        return None
    if not user.active:
        log.info("login_refused_inactive user=%s", user.id)
        return None
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def _get(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ServiceError(f"No user with id {user_id}.")
    return user


def _active_admins() -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True)))


def change_role(user_id: int, role: str, actor: User | str) -> User:
    user = _get(user_id)
    _check_role(role)
    if user.role == role:
        return user
    if user.role == "admin" and user.active and _active_admins() <= 1:
        raise ServiceError("This is the last active admin; make someone else admin first.", field="role")
    audit.record(actor, "user.role_changed", "user", user.id, {"role": (user.role, role)})
    user.role = role
    db.session.commit()
    return user


def set_active(user_id: int, active: bool, actor: User | str) -> User:
    user = _get(user_id)
    if user.active == active:
        return user
    if not active and isinstance(actor, User) and actor.id == user.id:
        raise ServiceError("You cannot deactivate your own account.")
    if not active and user.role == "admin" and _active_admins() <= 1:
        raise ServiceError("This is the last active admin; make someone else admin first.")
    audit.record(actor, "user.activated" if active else "user.deactivated", "user", user.id, {"active": (user.active, active)})
    user.active = active
    db.session.commit()
    return user


USER_SORTS = ("email", "name", "role", "last_login")


def list_users(role: str | None = None, status: str | None = None, search: str | None = None,
               sort: str = "email", after: str | None = None, per_page: int = 50) -> Page:
    """One page of people, filtered and sorted as the admin's URL says (`-` before the sort: descending)."""
    if sort.lstrip("-") not in USER_SORTS:
        raise ServiceError(f"Cannot sort by {sort!r}; choose one of {', '.join(USER_SORTS)}.", field="sort")
    if role and role not in ROLES:
        raise ServiceError(f"Unknown role {role!r}.", field="role")
    sort_expr = {"email": User.email, "name": User.name, "role": User.role,
                 "last_login": func.coalesce(User.last_login_at, literal(EPOCH))}[sort.lstrip("-")]
    query = select(User, sort_expr.label("sort_value"))
    if role:
        query = query.where(User.role == role)
    if status in ("active", "inactive"):
        query = query.where(User.active.is_(status == "active"))
    if search:
        like = f"%{search.strip().lower()}%"
        query = query.where(func.lower(User.email).like(like) | func.lower(User.name).like(like))
    return keyset_page(query, sort_expr, User.id, descending=sort.startswith("-"), after=after, per_page=per_page,
                       row_key=lambda row: (row.sort_value, row.User.id))


def active_emails(roles: tuple[str, ...] = ("admin", "ops")) -> list[str]:
    """People who can work the exception queue, for "assign to someone"."""
    return list(db.session.scalars(select(User.email).where(User.active.is_(True), User.role.in_(roles))
                                   .order_by(User.email)))

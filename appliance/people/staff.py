"""Staff logins: argon2 password hashes, creation, and the first admin of an empty box."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from peewee import IntegrityError

from appliance.db.models import StaffUser
from appliance.errors import Conflict, InvalidInput

ROLES = ("admin", "desk")
_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_staff(username: str, role: str, password: str) -> StaffUser:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise InvalidInput("a staff password needs at least 10 characters")
    try:
        with StaffUser._meta.database.atomic():
            return StaffUser.create(username=username, role=role,
                                    password_hash=hash_password(password))
    except IntegrityError as err:
        raise Conflict(f"a staff login {username} exists") from err


def bootstrap_admin(password: str | None) -> str | None:
    """On a box with no staff: create `admin`. Returns the password to print once, if random."""
    if StaffUser.select().exists():
        return None
    chosen = password or secrets.token_urlsafe(12)
    create_staff("admin", "admin", chosen)
    return None if password else chosen


def reset_password(username: str, password: str | None) -> str:
    user = StaffUser.get_or_none(StaffUser.username == username)
    if user is None:
        raise InvalidInput(f"no staff login {username}")
    chosen = password or secrets.token_urlsafe(12)
    if len(chosen) < 10:
        raise InvalidInput("a staff password needs at least 10 characters")
    user.password_hash = hash_password(chosen)
    user.save()
    return chosen


def list_staff() -> list[StaffUser]:
    return list(StaffUser.select().order_by(StaffUser.username))


def set_disabled(username: str, disabled: bool) -> None:
    StaffUser.update(disabled=disabled).where(StaffUser.username == username).execute()

"""Staff logins: argon2 password hashes, creation, the first admin of an empty box, and the
changes (reset, disable, role) that end a login's sessions."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from peewee import IntegrityError

from appliance.db.models_people import StaffUser
from appliance.errors import N_, Conflict, InvalidInput
from appliance.people.sessions import STAFF, end_all

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
        raise InvalidInput(N_("A staff password needs at least 10 characters."))
    try:
        with StaffUser._meta.database.atomic():
            return StaffUser.create(username=username, role=role,
                                    password_hash=hash_password(password))
    except IntegrityError as err:
        raise Conflict(N_("A staff login %(name)s exists."), params={"name": username}) from err


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
        raise InvalidInput(N_("There is no staff login %(name)s."), params={"name": username})
    chosen = password or secrets.token_urlsafe(12)
    if len(chosen) < 10:
        raise InvalidInput(N_("A staff password needs at least 10 characters."))
    user.password_hash = hash_password(chosen)
    user.save()
    end_all(STAFF, user.id, "reset")  # whoever knew the old password is out too
    return chosen


def list_staff() -> list[StaffUser]:
    return list(StaffUser.select().order_by(StaffUser.username))


def set_disabled(username: str, disabled: bool, acting: str) -> None:
    """Disable or enable a login. An admin cannot lock themself out, and the box always keeps
    one active admin (else nobody could manage staff without the command line)."""
    user = StaffUser.get_or_none(StaffUser.username == username)
    if user is None:
        raise InvalidInput(N_("There is no staff login %(name)s."), params={"name": username})
    if disabled and username == acting:
        raise InvalidInput(N_("You cannot disable your own login."))
    if disabled and user.role == "admin" and not user.disabled:
        others = (StaffUser.select().where((StaffUser.role == "admin") & ~StaffUser.disabled
                                           & (StaffUser.id != user.id)).count())
        if others == 0:
            raise InvalidInput(N_("%(name)s is the last active admin: make another admin "
                                  "first."), params={"name": username})
    StaffUser.update(disabled=disabled).where(StaffUser.id == user.id).execute()
    if disabled:
        end_all(STAFF, user.id, "disabled")  # every session of the login ends at once


def set_role(username: str, role: str) -> None:
    """Change a login's role; its sessions end, so the next page asks who is there."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    user = StaffUser.get_or_none(StaffUser.username == username)
    if user is None:
        raise InvalidInput(N_("There is no staff login %(name)s."), params={"name": username})
    if user.role != role:
        StaffUser.update(role=role).where(StaffUser.id == user.id).execute()
        end_all(STAFF, user.id, "role")


def set_language(user_id: int, code: str) -> None:
    """The language a staff login chose for its pages."""
    StaffUser.update(language=code).where(StaffUser.id == user_id).execute()

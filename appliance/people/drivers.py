"""Drivers' logins: PINs (argon2), the phone or card number a driver logs in with, failures
counted from every address and locked after too many in a row (a PIN is guessable; only the desk
unlocks), and ending the driver's phone sessions (people.sessions) from the desk or with a new
PIN."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from appliance.db.models import Driver, IdTag, phone_key, utcnow
from appliance.db.models_driver import DriverLogin
from appliance.errors import N_, InvalidInput, NotFound
from appliance.people.sessions import DRIVER, end_all
from appliance.people.staff import hash_password, verify_password

PIN_RE = re.compile(r"\d{4,8}")
LOCK_AFTER = 10  # PIN failures in a row before only the desk can unlock
DUMMY_HASH = hash_password("000000")  # the same work when nobody matches: no phone oracle


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _numbered(key: str) -> Any:
    """Drivers (not retired) whose number has this key however it was written (`phone_key`: the
    last ten digits, with or without a country code): an index look-up, never a read of every
    driver. Callers give a key with digits ("" would match every driver without a phone)."""
    return (Driver.phone_key == key) & Driver.retired_at.is_null()


def candidates(identifier: str) -> list[tuple[Driver, DriverLogin]]:
    """Drivers with a PIN whose phone or card number this is."""
    with_pin = DriverLogin.select(DriverLogin, Driver).join(Driver).where(
        Driver.retired_at.is_null() & (DriverLogin.pin_hash != ""))
    card = IdTag.get_or_none((IdTag.key == identifier.strip().upper())
                             & IdTag.driver.is_null(False) & IdTag.retired_at.is_null())
    if card is not None:
        return [(r.driver, r) for r in with_pin.where(Driver.id == card.driver_id)]
    key = phone_key(identifier)
    if not key:
        return []
    # A number shared by several drivers (stored before numbers were kept unique) logs nobody
    # in: trying each one's PIN would pick one of them by chance.
    by_phone = [(r.driver, r) for r in with_pin.where(_numbered(key)).limit(2)]
    return by_phone if len(by_phone) == 1 else []


def phone_taken(phone: str) -> bool:
    """Whether a driver (with a PIN or not, e.g. made at the desk) has this number: sign-up
    then sends them to the desk instead of making a second driver."""
    key = phone_key(phone)
    return bool(key) and Driver.select(Driver.id).where(_numbered(key)).exists()


def by_phone(phone: str) -> int | None:
    """The one driver (not retired) with this number, or None (none, or several)."""
    key = phone_key(phone)
    if not key:
        return None
    found = [r.id for r in Driver.select(Driver.id).where(_numbered(key)).limit(2)]
    return found[0] if len(found) == 1 else None


def check_pin(identifier: str, pin: str) -> tuple[int | None, int, list[int]]:
    """On a reader (argon2 is slow; the writer answers chargers): (driver id, session
    generation, ids of the logins this failure counts against)."""
    found = candidates(identifier) if identifier.strip() else []
    if not found:
        verify_password(DUMMY_HASH, pin)
        return None, 0, []
    for driver, login in found:
        if login.locked_at is None and verify_password(login.pin_hash, pin):
            return driver.id, login.generation, []
    return None, 0, [login.id for _, login in found]


def count_failure(login_ids: list[int], success: int | None) -> bool:
    """Count a failure (or clear them on success); lock after LOCK_AFTER in a row. Returns
    whether every login the failure counted against is locked now."""
    if success is not None:
        DriverLogin.update(failures=0, updated_at=utcnow()).where(
            DriverLogin.driver == success).execute()
        return False
    at = utcnow()
    DriverLogin.update(failures=DriverLogin.failures + 1, updated_at=at).where(
        DriverLogin.id.in_(login_ids)).execute()
    DriverLogin.update(locked_at=at).where(DriverLogin.id.in_(login_ids)
                                           & (DriverLogin.failures >= LOCK_AFTER)
                                           & DriverLogin.locked_at.is_null()).execute()
    rows = list(DriverLogin.select().where(DriverLogin.id.in_(login_ids)))
    return bool(rows) and all(r.locked_at is not None for r in rows)


def check_new_pin(pin: str) -> str:
    if not PIN_RE.fullmatch(pin):
        raise InvalidInput(N_("A PIN is 4 to 8 digits."), details={"field": "pin"})
    return pin


async def hash_pin(pin: str) -> str:
    """Argon2 off the event loop and off the writer thread."""
    check_new_pin(pin)
    return await asyncio.get_running_loop().run_in_executor(None, hash_password, pin)


def set_pin(driver_id: int, pin_hash: str, actor: str) -> int:
    """Store a PIN hash (desk or the driver), unlock, and start a new session generation: every
    phone logged in before is logged out. Returns the new generation."""
    if Driver.get_or_none(Driver.id == driver_id) is None:
        raise NotFound(f"no driver {driver_id}")
    DriverLogin.insert(driver=driver_id).on_conflict_ignore().execute()
    (DriverLogin.update(pin_hash=pin_hash, failures=0, locked_at=None,
                        generation=DriverLogin.generation + 1, pin_set_at=utcnow(),
                        pin_set_by=actor[:80], updated_at=utcnow())
     .where(DriverLogin.driver == driver_id).execute())
    end_all(DRIVER, driver_id, "pin")
    return int(DriverLogin.get(DriverLogin.driver == driver_id).generation)


def revoke(driver_id: int) -> None:
    """Log out every phone of this driver (the PIN stays)."""
    (DriverLogin.update(generation=DriverLogin.generation + 1, updated_at=utcnow())
     .where(DriverLogin.driver == driver_id).execute())
    end_all(DRIVER, driver_id, "desk")


def unlock(driver_id: int) -> bool:
    """The desk lifts a PIN lock (the PIN stays; the count starts again). Returns whether the
    login was locked."""
    return bool(DriverLogin.update(failures=0, locked_at=None, updated_at=utcnow())
                .where((DriverLogin.driver == driver_id) & DriverLogin.locked_at.is_null(False))
                .execute())


def login_state(driver_id: int) -> dict[str, Any]:
    login = DriverLogin.get_or_none(DriverLogin.driver == driver_id)
    return {"has_pin": bool(login and login.pin_hash),
            "locked": bool(login and login.locked_at), "failures": login.failures if login else 0,
            "pin_set_at": login.pin_set_at if login else None}


def set_language(driver_id: int, code: str) -> None:
    """The language a driver chose (phone pages, receipts, mails)."""
    Driver.update(language=code).where(Driver.id == driver_id).execute()

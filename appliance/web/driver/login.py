"""Drivers' logins: phone number or card number with a PIN, rate limited, locked after too many
failures in a row; the PIN set or reset at the desk (which also logs the driver's phones out)
and changed by the driver; self-registration when the site allows it."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import accounts
from appliance.db.models import Driver, IdTag, utcnow
from appliance.db.models_driver import DriverLogin
from appliance.db.site import site_value
from appliance.errors import InvalidInput, NotFound
from appliance.people.staff import hash_password, verify_password
from appliance.web.audit import record
from appliance.web.driver.common import (
    DRIVER_COOKIE,
    current_driver,
    log_in,
    page,
    require_driver,
    site,
)
from appliance.web.session import THROTTLE, current_staff, require
from appliance.web.templating import render

routes = web.RouteTableDef()

PIN_RE = re.compile(r"\d{4,8}")
LOCK_AFTER = 10  # PIN failures in a row before only the desk can unlock
DUMMY_HASH = hash_password("000000")  # the same work when nobody matches: no phone oracle


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _same_phone(a: str, b: str) -> bool:
    da, db = _digits(a), _digits(b)
    if len(da) >= 10 and len(db) >= 10:
        return da[-10:] == db[-10:]  # with or without the country code
    return bool(da) and da == db


def _candidates(identifier: str) -> list[tuple[Driver, DriverLogin]]:
    """Drivers with a PIN whose phone or card number this is."""
    rows = (DriverLogin.select(DriverLogin, Driver).join(Driver)
            .where(Driver.retired_at.is_null() & (DriverLogin.pin_hash != "")))
    card = IdTag.get_or_none((IdTag.key == identifier.strip().upper())
                             & IdTag.driver.is_null(False) & IdTag.retired_at.is_null())
    return [(r.driver, r) for r in rows
            if (card is not None and r.driver_id == card.driver_id)
            or _same_phone(r.driver.phone, identifier)]


def check_pin(identifier: str, pin: str) -> tuple[int | None, int, list[int]]:
    """On a reader (argon2 is slow; the writer answers chargers): (driver id, session
    generation, ids of the logins this failure counts against)."""
    found = _candidates(identifier) if identifier.strip() else []
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
        raise InvalidInput("A PIN is 4 to 8 digits.", details={"field": "pin"})
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
    return int(DriverLogin.get(DriverLogin.driver == driver_id).generation)


def revoke(driver_id: int) -> None:
    """Log out every phone of this driver (the PIN stays)."""
    (DriverLogin.update(generation=DriverLogin.generation + 1, updated_at=utcnow())
     .where(DriverLogin.driver == driver_id).execute())


def login_state(driver_id: int) -> dict[str, Any]:
    login = DriverLogin.get_or_none(DriverLogin.driver == driver_id)
    return {"driver": accounts.get_driver(driver_id), "has_pin": bool(login and login.pin_hash),
            "locked": bool(login and login.locked_at), "failures": login.failures if login else 0,
            "pin_set_at": login.pin_set_at if login else None}


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/me"


# --- the driver's side ----------------------------------------------------------------------
@routes.get("/driver/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    s = await site(request)
    return await page(request, "driver/login.html", {
        "next": _safe_next(request.query.get("next", "/me")), "error": None,
        "self_registration": s.self_registration})


@routes.post("/driver/login")
async def login_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    identifier, pin = str(form.get("identifier", ""))[:60], str(form.get("pin", ""))[:16]
    target = _safe_next(str(form.get("next", "/me")))
    throttle = request.app[THROTTLE]
    keys_ = (f"driver:{_digits(identifier) or identifier.upper()}", f"driver-addr:{request.remote}")
    error = None
    if throttle.blocked(*keys_):
        error = "Too many wrong PINs. Wait a few minutes and try again."
    else:
        await asyncio.sleep(throttle.delay_s(*keys_))
        database = request.app[keys.DATABASE]
        driver_id, generation, failed = await database.read(check_pin, identifier, pin)
        locked = await database.run(count_failure, failed, driver_id)
        if driver_id is not None:
            throttle.succeeded(*keys_)
            response = web.HTTPSeeOther(target)
            log_in(response, request, driver_id, generation)
            raise response
        throttle.failed(*keys_)
        error = ("Your PIN is locked after too many wrong tries. Please ask at the desk."
                 if locked else "Wrong phone or card number, or wrong PIN.")
    s = await site(request)
    return await page(request, "driver/login.html", {
        "next": target, "error": error, "identifier": identifier,
        "self_registration": s.self_registration}, status=401)


@routes.post("/driver/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/driver/login")
    response.del_cookie(DRIVER_COOKIE, path="/")
    raise response


@routes.get("/me/pin")
@require_driver
async def pin_page(request: web.Request) -> web.StreamResponse:
    return await page(request, "driver/pin.html", {"error": None})


@routes.post("/me/pin")
@require_driver
async def pin_post(request: web.Request) -> web.StreamResponse:
    driver = await current_driver(request)
    assert driver is not None
    form = await request.post()
    pin, again = str(form.get("pin", "")), str(form.get("pin_again", ""))
    error = None
    if pin != again:
        error = "The two PINs differ."
    else:
        try:
            generation = await request.app[keys.DATABASE].run(
                set_pin, driver.driver_id, await hash_pin(pin), f"driver:{driver.driver_id}")
        except InvalidInput as err:
            error = err.message
    if error:
        return await page(request, "driver/pin.html", {"error": error}, status=400)
    response = web.HTTPSeeOther("/me?pin=changed")
    log_in(response, request, driver.driver_id, generation)  # this phone stays logged in
    raise response


def register(fields: dict[str, str], pin_hash: str, currency: str) -> tuple[int, int]:
    if not site_value("self_registration", False):
        raise NotFound("Registration is at the desk.")
    if len(_digits(fields.get("phone", ""))) < 6:
        raise InvalidInput("A phone number is needed.", details={"field": "phone"})
    if _candidates(fields["phone"]):
        raise InvalidInput("This phone number is registered: log in, or ask at the desk.")
    created = accounts.create_driver(fields, currency)
    return created["id"], set_pin(created["id"], pin_hash, "self-registration")


@routes.get("/driver/register")
async def register_page(request: web.Request) -> web.StreamResponse:
    if not (await site(request)).self_registration:
        raise NotFound("Registration is at the desk.")
    return await page(request, "driver/register.html", {"error": None, "form": {}})


@routes.post("/driver/register")
async def register_post(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items()}
    fields = {"name": form.get("name", "")[:120], "phone": form.get("phone", "")[:40]}
    s = await site(request)
    try:
        driver_id, generation = await request.app[keys.DATABASE].run(
            register, fields, await hash_pin(form.get("pin", "")), s.currency)
    except InvalidInput as err:
        return await page(request, "driver/register.html", {"error": err.message, "form": fields},
                          status=400)
    response = web.HTTPSeeOther(_safe_next(form.get("next", "/me")))
    log_in(response, request, driver_id, generation)
    raise response


# --- the desk's side ------------------------------------------------------------------------
@routes.get("/drivers/{id:\\d+}/pin")
@require("desk")
async def desk_pin_page(request: web.Request) -> web.StreamResponse:
    return await _desk_view(request)


async def _desk_view(request: web.Request, result: dict[str, Any] | None = None,
                     status: int = 200) -> web.StreamResponse:
    state = await request.app[keys.DATABASE].read(login_state, int(request.match_info["id"]))
    return render(request, "driver/desk_pin.html", {**state, "result": result}, status=status)


@routes.post("/drivers/{id:\\d+}/pin")
@require("desk")
async def desk_pin_post(request: web.Request) -> web.StreamResponse:
    """Set or reset a driver's PIN; empty makes a random one, shown once to read out."""
    driver_id = int(request.match_info["id"])
    pin = str((await request.post()).get("pin", "")).strip() or f"{secrets.randbelow(10**6):06d}"
    staff = current_staff(request)
    actor = f"staff:{staff.username}" if staff else "staff"
    try:
        await request.app[keys.DATABASE].run(set_pin, driver_id, await hash_pin(pin), actor)
    except InvalidInput as err:
        return await _desk_view(request, {"ok": False, "text": err.message}, 400)
    await record(request, "driver.pin_reset", str(driver_id), {})
    return await _desk_view(request, {"ok": True, "pin": pin,
                                         "text": "PIN set. The driver's phones are logged out."})


@routes.post("/drivers/{id:\\d+}/pin/logout")
@require("desk")
async def desk_revoke(request: web.Request) -> web.StreamResponse:
    driver_id = int(request.match_info["id"])
    await request.app[keys.DATABASE].run(revoke, driver_id)
    await record(request, "driver.logout_phones", str(driver_id), {})
    return await _desk_view(request, {"ok": True,
                                         "text": "Every phone of this driver is logged out."})

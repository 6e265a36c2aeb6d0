"""Drivers' logins: phone number or card number with a PIN, throttled per number and address,
locked after too many failures in a row from anywhere (people.drivers: a PIN is guessable); the
PIN changed by the driver; self-registration when the site allows it. The desk's side is
web.admin.pins."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from appliance import keys
from appliance.billing import accounts
from appliance.db.site import site_value
from appliance.errors import N_, ApplianceError, InvalidInput, NotFound
from appliance.people import drivers, phone_codes
from appliance.web.driver.common import (
    current_driver,
    log_in,
    log_out,
    now,
    page,
    require_driver,
    site,
)
from appliance.web.i18n import gettext_for
from appliance.web.language import remember_on_login
from appliance.web.security import safe_next

routes = web.RouteTableDef()


def _safe_next(target: str) -> str:
    return safe_next(target, "/me")


def _throttle_keys(request: web.Request, identifier: str) -> dict[str, int]:
    # Per number *and* address, so a stranger's wrong PINs do not keep the driver out of their
    # own phone; what adds up from every address is the hard lock in people.drivers.
    who = drivers.digits(identifier) or identifier.strip().upper()
    return {f"driver:{who}@{request.remote}": 5, f"driver-addr:{request.remote}": 20}


# --- the driver's side ----------------------------------------------------------------------
@routes.get("/driver/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    s = await site(request)
    return await page(request, "driver/login.html", {
        "next": _safe_next(request.query.get("next", "/me")), "error": None,
        "self_registration": s.self_registration,
        "sms": await request.app[keys.SMS].enabled() is not None})


@routes.post("/driver/login")
async def login_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    identifier, pin = str(form.get("identifier", ""))[:60], str(form.get("pin", ""))[:16]
    target = _safe_next(str(form.get("next", "/me")))
    throttle = request.app[keys.THROTTLE]
    limits = _throttle_keys(request, identifier)
    if not await throttle.admit(limits):
        error = N_("Too many wrong PINs. Wait a few minutes and try again.")
    else:
        database = request.app[keys.DATABASE]
        driver_id, _, failed = await database.read(drivers.check_pin, identifier, pin)
        locked = await database.run(drivers.count_failure, failed, driver_id)
        if driver_id is not None:
            throttle.succeeded(next(iter(limits)))  # the address's count stays
            await remember_on_login(request, driver_id)
            response = web.HTTPSeeOther(target)
            await log_in(response, request, driver_id)
            raise response
        throttle.failed(*limits)
        error = (N_("Your PIN is locked after too many wrong tries. Please ask at the desk.")
                 if locked else N_("Wrong phone or card number, or wrong PIN."))
    s = await site(request)
    return await page(request, "driver/login.html", {
        "next": target, "error": error, "identifier": identifier,
        "self_registration": s.self_registration,
        "sms": await request.app[keys.SMS].enabled() is not None}, status=401)


@routes.post("/driver/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/driver/login")
    await log_out(response, request)
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
        error = N_("The two PINs differ.")
    else:
        try:
            await request.app[keys.DATABASE].run(
                drivers.set_pin, driver.driver_id, await drivers.hash_pin(pin),
                f"driver:{driver.driver_id}")
        except InvalidInput as err:
            error = err.message
    if error:
        return await page(request, "driver/pin.html", {"error": error}, status=400)
    response = web.HTTPSeeOther("/me?pin=changed")
    await log_in(response, request, driver.driver_id)  # this phone stays logged in
    raise response


def register(fields: dict[str, str], pin_hash: str, currency: str, code: str | None,
             at: datetime) -> tuple[int | None, str | None]:
    """A new driver whose phone number is their login: (driver id, None), or (None, why not).
    With SMS codes on, `code` must be the one texted to the number; a wrong code is counted
    (returned, not raised, so that the count commits)."""
    if not site_value("self_registration", False):
        raise NotFound(N_("Registration is at the desk."))
    if len(drivers.digits(fields.get("phone", ""))) < 6:
        raise InvalidInput(N_("A phone number is needed."), details={"field": "phone"})
    if drivers.candidates(fields["phone"]) or drivers.phone_taken(fields["phone"]):
        raise InvalidInput(N_("This phone number is registered: log in, or ask at the desk."))
    if code is not None:
        problem = phone_codes.verify(fields["phone"], code, at)
        if problem is not None:
            return None, problem
    created = accounts.create_driver(fields, currency)
    drivers.set_pin(created["id"], pin_hash, "self-registration")
    return created["id"], None


def _fields(form: dict[str, str]) -> dict[str, str]:
    return {"name": form.get("name", "")[:120].strip(), "phone": form.get("phone", "")[:40]}


async def _register_page(request: web.Request, fields: dict[str, str], error: str | None,
                         step: str, status: int = 200) -> web.StreamResponse:
    return await page(request, "driver/register.html", {
        "error": error, "form": fields, "step": step,
        "next": _safe_next(request.query.get("next", "/me"))}, status=status)


@routes.get("/driver/register")
async def register_page(request: web.Request) -> web.StreamResponse:
    if not (await site(request)).self_registration:
        raise NotFound(N_("Registration is at the desk."))
    sms = await request.app[keys.SMS].enabled()
    return await _register_page(request, {}, None, "phone" if sms else "plain")


@routes.post("/driver/register/code")
async def register_code(request: web.Request) -> web.StreamResponse:
    """Text a one-time code to the number (limited per number and address); then the page asks
    for it and the PIN."""
    fields = _fields({k: str(v) for k, v in (await request.post()).items()})
    database = request.app[keys.DATABASE]
    try:
        if not (await site(request)).self_registration:
            raise NotFound(N_("Registration is at the desk."))
        sms = await request.app[keys.SMS].enabled()
        if sms is None:
            raise NotFound(N_("Registration is at the desk."))
        if not fields["name"]:
            raise InvalidInput(N_("Your name is needed."), details={"field": "name"})
        if await database.read(_taken, fields["phone"]):
            raise InvalidInput(N_("This phone number is registered: log in, or ask at the "
                                  "desk."))
        at = now()
        code = await database.run(phone_codes.issue, fields["phone"], request.remote or "", at)
        text = gettext_for(request).gettext(
            "Your charging sign-up code is %(code)s. It is valid for 10 minutes.") % {
                "code": code}
        try:
            await sms.send_code(fields["phone"], code, text)
        except ApplianceError:
            await database.run(phone_codes.withdraw, fields["phone"], at)
            raise
    except ApplianceError as err:
        return await _register_page(request, fields, err.message, "phone", err.http_status)
    return await _register_page(request, fields, None, "code")


def _taken(phone: str) -> bool:
    return bool(drivers.candidates(phone) or drivers.phone_taken(phone))


@routes.post("/driver/register")
async def register_post(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items()}
    fields = _fields(form)
    s = await site(request)
    sms = await request.app[keys.SMS].enabled()
    code = form.get("code", "")[:12] if sms is not None else None
    step = "code" if sms is not None else "plain"
    try:
        driver_id, problem = await request.app[keys.DATABASE].run(
            register, fields, await drivers.hash_pin(form.get("pin", "")), s.currency, code,
            now())
    except InvalidInput as err:
        return await _register_page(request, fields, err.message, step, 400)
    if driver_id is None:
        return await _register_page(request, fields, problem, step, 400)
    response = web.HTTPSeeOther(_safe_next(form.get("next", "/me")))
    await log_in(response, request, driver_id)
    raise response

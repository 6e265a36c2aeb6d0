"""Drivers' logins: phone number or card number with a PIN, throttled per number and address,
locked after too many failures in a row from anywhere (people.drivers: a PIN is guessable); the
PIN changed by the driver; self-registration when the site allows it. The desk's side is
web.admin.pins."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.billing import accounts
from appliance.db.site import site_value
from appliance.errors import InvalidInput, NotFound
from appliance.people import drivers
from appliance.web.driver.common import (
    current_driver,
    log_in,
    log_out,
    page,
    require_driver,
    site,
)
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
        "self_registration": s.self_registration})


@routes.post("/driver/login")
async def login_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    identifier, pin = str(form.get("identifier", ""))[:60], str(form.get("pin", ""))[:16]
    target = _safe_next(str(form.get("next", "/me")))
    throttle = request.app[keys.THROTTLE]
    limits = _throttle_keys(request, identifier)
    if not await throttle.admit(limits):
        error = "Too many wrong PINs. Wait a few minutes and try again."
    else:
        database = request.app[keys.DATABASE]
        driver_id, _, failed = await database.read(drivers.check_pin, identifier, pin)
        locked = await database.run(drivers.count_failure, failed, driver_id)
        if driver_id is not None:
            throttle.succeeded(next(iter(limits)))  # the address's count stays
            response = web.HTTPSeeOther(target)
            await log_in(response, request, driver_id)
            raise response
        throttle.failed(*limits)
        error = ("Your PIN is locked after too many wrong tries. Please ask at the desk."
                 if locked else "Wrong phone or card number, or wrong PIN.")
    s = await site(request)
    return await page(request, "driver/login.html", {
        "next": target, "error": error, "identifier": identifier,
        "self_registration": s.self_registration}, status=401)


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
        error = "The two PINs differ."
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


def register(fields: dict[str, str], pin_hash: str, currency: str) -> tuple[int, int]:
    if not site_value("self_registration", False):
        raise NotFound("Registration is at the desk.")
    if len(drivers.digits(fields.get("phone", ""))) < 6:
        raise InvalidInput("A phone number is needed.", details={"field": "phone"})
    if drivers.candidates(fields["phone"]):
        raise InvalidInput("This phone number is registered: log in, or ask at the desk.")
    created = accounts.create_driver(fields, currency)
    return created["id"], drivers.set_pin(created["id"], pin_hash, "self-registration")


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
        driver_id, _ = await request.app[keys.DATABASE].run(
            register, fields, await drivers.hash_pin(form.get("pin", "")), s.currency)
    except InvalidInput as err:
        return await page(request, "driver/register.html", {"error": err.message, "form": fields},
                          status=400)
    response = web.HTTPSeeOther(_safe_next(form.get("next", "/me")))
    await log_in(response, request, driver_id)
    raise response



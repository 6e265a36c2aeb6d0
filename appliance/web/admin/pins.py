"""A driver's PIN at the desk: set or reset it (a random one read out to the driver), unlock it
after too many wrong tries, and log every phone of the driver out."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import accounts
from appliance.errors import InvalidInput
from appliance.people.drivers import hash_pin, login_state, revoke, set_pin, unlock
from appliance.web.audit import record
from appliance.web.session import current_staff, require
from appliance.web.templating import render

routes = web.RouteTableDef()


def _state(driver_id: int) -> dict[str, Any]:
    return {"driver": accounts.get_driver(driver_id), **login_state(driver_id)}


@routes.get("/drivers/{id:\\d+}/pin")
@require("desk")
async def desk_pin_page(request: web.Request) -> web.StreamResponse:
    return await _desk_view(request)


async def _desk_view(request: web.Request, result: dict[str, Any] | None = None,
                     status: int = 200) -> web.StreamResponse:
    state = await request.app[keys.DATABASE].read(_state, int(request.match_info["id"]))
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


@routes.post("/drivers/{id:\\d+}/pin/unlock")
@require("desk")
async def desk_unlock(request: web.Request) -> web.StreamResponse:
    """After the driver shows who they are: the PIN works again, unchanged."""
    driver_id = int(request.match_info["id"])
    was_locked = await request.app[keys.DATABASE].run(unlock, driver_id)
    if was_locked:
        await record(request, "driver.pin_unlock", str(driver_id), {})
    text = ("PIN unlocked: the driver can log in with it again." if was_locked
            else "The PIN was not locked.")
    return await _desk_view(request, {"ok": True, "text": text})

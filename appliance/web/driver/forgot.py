"""A forgotten PIN, at night, with nobody at the desk: when an SMS provider is set up, a code
texted to the driver's number lets them set a new one (and lifts a lock: the code proves the
phone, which a guessed PIN does not). The page says the same whether the number is registered
or not, and every ask counts against the number's and the address's limits."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from appliance import keys
from appliance.errors import N_, ApplianceError, InvalidInput, NotFound
from appliance.people import drivers, phone_codes
from appliance.web.driver.common import log_in, now, page
from appliance.web.i18n import gettext_for

routes = web.RouteTableDef()


async def _page(request: web.Request, phone: str, error: str | None, step: str,
                status: int = 200) -> web.StreamResponse:
    return await page(request, "driver/forgot.html", {"phone": phone, "error": error,
                                                      "step": step}, status=status)


async def _sms_or_404(request: web.Request) -> object:
    sms = await request.app[keys.SMS].enabled()
    if sms is None:
        raise NotFound(N_("A new PIN is set at the desk."))
    return sms


@routes.get("/driver/forgot")
async def forgot_page(request: web.Request) -> web.StreamResponse:
    await _sms_or_404(request)
    return await _page(request, "", None, "phone")


def _ask(phone: str, address: str, at: datetime) -> tuple[str, int | None]:
    return phone_codes.issue(phone, address, at), drivers.by_phone(phone)


@routes.post("/driver/forgot/code")
async def forgot_code(request: web.Request) -> web.StreamResponse:
    phone = str((await request.post()).get("phone", ""))[:40]
    database = request.app[keys.DATABASE]
    try:
        sms = await request.app[keys.SMS].enabled()
        if sms is None:
            raise NotFound(N_("A new PIN is set at the desk."))
        at = now()
        code, driver_id = await database.run(_ask, phone, request.remote or "", at)
        if driver_id is not None:  # nobody else's phone gets texted
            text = gettext_for(request).gettext(
                "Your charging PIN code is %(code)s. It is valid for 10 minutes.") % {
                    "code": code}
            try:
                await sms.send_code(phone, code, text)
            except ApplianceError:
                await database.run(phone_codes.withdraw, phone, at)
                raise
    except ApplianceError as err:
        return await _page(request, phone, err.message, "phone", err.http_status)
    return await _page(request, phone, None, "code")


def reset(phone: str, code: str, pin_hash: str, at: datetime) -> tuple[int | None, str | None]:
    problem = phone_codes.verify(phone, code, at)
    if problem is not None:
        return None, problem
    driver_id = drivers.by_phone(phone)
    if driver_id is None:
        return None, N_("This number is not registered here: register, or ask at the desk.")
    drivers.set_pin(driver_id, pin_hash, "sms-code")
    return driver_id, None


@routes.post("/driver/forgot")
async def forgot_post(request: web.Request) -> web.StreamResponse:
    await _sms_or_404(request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    phone = form.get("phone", "")[:40]
    try:
        driver_id, problem = await request.app[keys.DATABASE].run(
            reset, phone, form.get("code", "")[:12], await drivers.hash_pin(form.get("pin", "")),
            now())
    except InvalidInput as err:
        return await _page(request, phone, err.message, "code", 400)
    if driver_id is None:
        return await _page(request, phone, problem, "code", 400)
    response = web.HTTPSeeOther("/me?pin=changed")
    await log_in(response, request, driver_id)
    raise response

"""What every driver page shares: the route table, the driver's phone session (a long-lived
signed cookie naming the driver and a session generation, revocable by bumping that number),
the site's settings, and rendering with the site's money and names."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from babel import numbers as babel_numbers

from appliance import keys
from appliance.db.models import Driver, utcnow
from appliance.db.models_driver import DriverLogin
from appliance.db.site import SiteSettings, defaults_from, load_site
from appliance.web.security import Signer, load_secret, set_cookie
from appliance.web.templating import money, render

DRIVER_COOKIE = "appliance_driver"
DRIVER_MAX_AGE_S = 400 * 24 * 3600  # as long as browsers keep a cookie: the phone stays in
Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class DriverSession:
    driver_id: int
    name: str
    generation: int
    blocked: bool


DRIVER: web.RequestKey[DriverSession] = web.RequestKey("driver_session", DriverSession)


@functools.lru_cache(maxsize=8)
def _signer(data_path: Path) -> Signer:
    # Its own purpose: a staff cookie is never a driver's and the other way round.
    return Signer(load_secret(data_path), "driver-session")


def signer(request: web.Request) -> Signer:
    return _signer(request.app[keys.SETTINGS].data_path)


def _session_of(driver_id: int, generation: int) -> DriverSession | None:
    login = DriverLogin.get_or_none(DriverLogin.driver == driver_id)
    driver = Driver.get_or_none(Driver.id == driver_id)
    if login is None or driver is None or driver.retired_at is not None \
            or login.generation != generation:
        return None  # revoked from the desk, or the driver retired
    return DriverSession(driver.id, driver.name, generation, driver.blocked)


async def current_driver(request: web.Request) -> DriverSession | None:
    if DRIVER in request:
        return request[DRIVER]
    raw = request.cookies.get(DRIVER_COOKIE)
    value = signer(request).loads(raw, DRIVER_MAX_AGE_S) if raw else None
    if not isinstance(value, dict) or not isinstance(value.get("d"), int):
        return None
    session = await request.app[keys.DATABASE].read(_session_of, value["d"], value.get("g"))
    if session is not None:
        request[DRIVER] = session
    return session


def log_in(response: web.StreamResponse, request: web.Request, driver_id: int,
           generation: int) -> None:
    token = signer(request).dumps({"d": driver_id, "g": generation})
    set_cookie(response, request, DRIVER_COOKIE, token, DRIVER_MAX_AGE_S)


def require_driver(handler: Handler) -> Handler:
    """A driver page: without a driver's session, go to the login page and come back."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if await current_driver(request) is None:
            raise web.HTTPSeeOther(f"/driver/login?next={request.path_qs}")
        return await handler(request)

    return guarded


async def site(request: web.Request) -> SiteSettings:
    """The site's settings as staff last saved them (names, legal name, currency, locale)."""
    defaults = defaults_from(request.app[keys.SETTINGS])
    return await request.app[keys.DATABASE].read(load_site, defaults)


def unit_price(value: str | Decimal, currency: str, locale: str) -> str:
    """A unit price with up to 4 decimals (receipts and tariffs show what staff typed)."""
    return babel_numbers.format_currency(Decimal(str(value)), currency, locale=locale,
                                         format="¤#,##0.00##", currency_digits=False)


async def page(request: web.Request, name: str, context: dict[str, Any], status: int = 200
               ) -> web.Response:
    """Render a driver page with the site's name, currency and locale."""
    s = await site(request)
    driver = await current_driver(request)
    base = {"site": s, "site_name": s.site_name, "currency": s.currency, "driver": driver,
            "money": lambda a, cur=None: money(a, cur or s.currency, s.locale),
            "unit_price": lambda v, cur=None: unit_price(v, cur or s.currency, s.locale),
            "when": lambda m, fmt="%Y-%m-%d %H:%M": _local(m, s, fmt)}
    response = render(request, name, {**base, **context}, status=status)
    response.headers["Cache-Control"] = "no-store"  # balances are personal
    return response


def _local(moment: datetime | None, s: SiteSettings, fmt: str) -> str:
    from appliance.web.templating import local_time

    return local_time(moment, s.tz, fmt)


def now() -> datetime:
    return utcnow()

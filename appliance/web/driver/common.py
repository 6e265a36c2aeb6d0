"""What every driver page shares: the route table, the driver's phone session (a signed cookie
naming a session on the server, people.sessions: it slides with use, expires when idle and ends
at logout or from the desk), the site's settings, and rendering with the site's money and
names."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.db.models import Driver, utcnow
from appliance.db.models_driver import DriverLogin
from appliance.db.site import (
    DEFAULT_SITE,
    SiteSettings,
    defaults_from,
    load_site,
    site_of_station,
)
from appliance.people import sessions
from appliance.web import i18n
from appliance.web.security import Signer, load_secret, set_cookie
from appliance.web.templating import render

DRIVER_COOKIE = "appliance_driver"
# The cookie may live as long as a session can (the server ends it sooner when idle).
DRIVER_MAX_AGE_S = int(sessions.DRIVER_LIFETIME.total_seconds())
Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class DriverSession:
    driver_id: int
    name: str
    token: str  # the session on the server
    blocked: bool
    language: str = ""  # the driver's own choice; "" for what the phone or the site says


DRIVER: web.RequestKey[DriverSession] = web.RequestKey("driver_session", DriverSession)


@functools.lru_cache(maxsize=8)
def _signer(data_path: Path) -> Signer:
    # Its own purpose: a staff cookie is never a driver's and the other way round.
    return Signer(load_secret(data_path), "driver-session")


def signer(request: web.Request) -> Signer:
    return _signer(request.app[keys.SETTINGS].data_path)


def _session_of(token: str) -> tuple[DriverSession, int | None] | None:
    """The driver of a live session, and the session's id if it is due to slide (reader)."""
    session = sessions.live_session(sessions.DRIVER, token)
    if session is None:
        return None  # logged out, ended from the desk or by a new PIN, or idle too long
    login = DriverLogin.get_or_none(DriverLogin.driver == session.person_id)
    driver = Driver.get_or_none(Driver.id == session.person_id)
    if login is None or driver is None or driver.retired_at is not None:
        return None
    slide = session.id if sessions.needs_slide(session) else None
    return DriverSession(driver.id, driver.name, token, driver.blocked,
                         driver.language), slide


async def current_driver(request: web.Request) -> DriverSession | None:
    if DRIVER in request:
        return request[DRIVER]
    raw = request.cookies.get(DRIVER_COOKIE)
    value = signer(request).loads(raw, DRIVER_MAX_AGE_S) if raw else None
    token = value.get("sid") if isinstance(value, dict) else None
    if not isinstance(token, str):
        return None
    database = request.app[keys.DATABASE]
    found = await database.read(_session_of, token)
    if found is None:
        return None
    session, slide = found
    if slide is not None:
        await database.run(sessions.slide, slide)
    request[DRIVER] = session
    return session


async def log_in(response: web.StreamResponse, request: web.Request, driver_id: int) -> None:
    """Open a session on the server for this phone and give it the cookie."""
    opened = await request.app[keys.DATABASE].run(
        sessions.open_session, sessions.DRIVER, driver_id, request.remote or "")
    set_cookie(response, request, DRIVER_COOKIE, signer(request).dumps({"sid": opened.token}),
               DRIVER_MAX_AGE_S)


async def log_out(response: web.StreamResponse, request: web.Request) -> None:
    """End this phone's session on the server and drop its cookie."""
    driver = await current_driver(request)
    if driver is not None:
        await request.app[keys.DATABASE].run(sessions.end_session, sessions.DRIVER,
                                             driver.token, "logout")
    response.del_cookie(DRIVER_COOKIE, path="/")


def require_driver(handler: Handler) -> Handler:
    """A driver page: without a driver's session, go to the login page and come back."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if await current_driver(request) is None:
            raise web.HTTPSeeOther(f"/driver/login?next={request.path_qs}")
        return await handler(request)

    return guarded


async def site(request: web.Request, site_id: int | None = None) -> SiteSettings:
    """The site's settings as staff last saved them (names, legal name, currency, locale): of
    `site_id`, else of the charger the address names (`/c/{cpid}/...`), else the box's own."""
    defaults = defaults_from(request.app[keys.SETTINGS])
    return await request.app[keys.DATABASE].read(_site_of, defaults, site_id,
                                                 request.match_info.get("cpid"))


def _site_of(defaults: SiteSettings, site_id: int | None, cpid: str | None) -> SiteSettings:
    if site_id is None and cpid:
        site_id = site_of_station(cpid)
    return load_site(defaults, site_id or DEFAULT_SITE)


async def driver_language(request: web.Request) -> str:
    """A driver page's language: their own choice (this phone's cookie, else their account's),
    then what their phone asks for, then the site's. Set once per request."""
    if i18n.LANGUAGE not in request:
        driver = await current_driver(request)
        request[i18n.LANGUAGE] = i18n.choose(request, own=driver.language if driver else None,
                                             driver=True)
    return request[i18n.LANGUAGE]


async def page(request: web.Request, name: str, context: dict[str, Any], status: int = 200
               ) -> web.Response:
    """Render a driver page with the site's name and the driver's language."""
    s = await site(request)
    driver = await current_driver(request)
    await driver_language(request)
    base = {"site": s, "site_name": s.site_name, "currency": s.currency, "driver": driver}
    response = render(request, name, {**base, **context}, status=status)
    response.headers["Cache-Control"] = "no-store"  # balances are personal
    return response


def now() -> datetime:
    return utcnow()

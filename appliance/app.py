"""Wiring: `create_app(settings)` builds the one aiohttp application. Each long-lived part is a
cleanup context, set up in dependency order and torn down in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from appliance import clock, keys, notify
from appliance.billing.closing import close_stale
from appliance.config import Settings
from appliance.db import maintenance
from appliance.db.database import Database
from appliance.db.models import utcnow
from appliance.db.site import defaults_from, load_site
from appliance.events import EventBus
from appliance.ocpp.endpoint import LIMITER, LoginLimiter, ocpp_endpoint
from appliance.ocpp.guard import GATE, PendingGate
from appliance.ocpp.hub import Hub
from appliance.ocpp.v16 import Services
from appliance.reports.scheduler import scheduler_ctx
from appliance.rfid_reader.service import ReaderSettings, reader_service
from appliance.web.middleware import error_middleware
from appliance.web.pages_desk import apply_stored_form
from appliance.web.pages_driver import start_sweeper
from appliance.web.routes import setup_routes
from appliance.web.security import LoginThrottle, Signer, load_secret
from appliance.web.session import SIGNER, THROTTLE, session_middleware
from appliance.web.templating import JINJA, make_environment

log = logging.getLogger(__name__)
HOUSEKEEPING_INTERVAL_S = 3600.0


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    # Off the loop: on a PostgreSQL server the migration check and the sweep are round trips.
    database = await asyncio.to_thread(open_database, settings)
    database.start()
    app[keys.DATABASE] = database
    app[keys.SITE] = await database.read(load_site, defaults_from(settings))
    yield
    await asyncio.to_thread(database.stop)  # waits for the last batch and closes connections


def open_database(settings: Settings) -> Database:
    """Open the database and bring its schema up to date (after a backup when it has data)."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    database = Database(settings.db_url, batch_max=settings.write_batch_max,
                        read_threads=settings.read_threads)
    from appliance.db.schema import ALL_MODELS

    database.db.bind(ALL_MODELS)
    maintenance.migrate(database, settings.data_path / "backups")
    database.db.close()
    return database


async def reader_ctx(app: web.Application) -> AsyncIterator[None]:
    """The desk card reader: taps become TagSeen events for the staff pages."""
    settings = ReaderSettings.from_prefixed(app[keys.SETTINGS])
    async with reader_service(settings, app[keys.EVENTS]) as service:
        app[keys.READER] = service
        yield


async def check_clock(app: web.Application) -> None:
    behind = await app[keys.DATABASE].read(clock.behind_by)
    was = bool(app[keys.CLOCK_BEHIND])
    app[keys.CLOCK_BEHIND][:] = [behind] if behind else []
    if behind and not was:
        log.warning("the clock is %s behind the newest stored record: set the time "
                    "(RTC module or a LAN time server)", behind)
    elif was and not behind:
        log.info("the clock is right again")


async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
    """Hourly: close suspect sessions past the site's stale_session_hours and settle them."""

    async def loop() -> None:
        while True:
            await check_clock(app)
            hours = app[keys.SITE].stale_session_hours
            try:
                closed = await app[keys.DATABASE].run(close_stale, utcnow(), hours)
                if closed:
                    log.info("closed %d suspect sessions older than %d h", closed, hours)
            except Exception:
                log.exception("closing stale sessions failed")
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)

    task = asyncio.create_task(loop(), name="housekeeping")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    services = Services(app[keys.DATABASE], app[keys.SETTINGS], app[keys.EVENTS])
    hub = Hub(services)
    app[keys.HUB] = hub
    app[keys.CONTROL] = hub
    async with hub.running():
        yield


async def close_chargers(app: web.Application) -> None:
    """On SIGTERM/SIGINT: close every charger's socket with 1001 (going away)."""
    if keys.HUB in app:
        await app[keys.HUB].close_all()


def server_options(settings: Settings) -> dict[str, Any]:
    """Options of the HTTP server itself (`web.run_app`, or a test's server): a client that
    connects and does not finish its request (a slow upgrade, an idle socket) is cut off after
    `upgrade_timeout`; aiohttp's keep-alive timer runs from the moment of connection."""
    return {"keepalive_timeout": settings.upgrade_timeout}


def create_app(settings: Settings) -> web.Application:
    settings.data_path.mkdir(parents=True, exist_ok=True)
    app = web.Application(middlewares=[error_middleware, session_middleware],
                          client_max_size=2 * 1024 * 1024)
    app[keys.SETTINGS] = settings
    app[keys.EVENTS] = EventBus()
    app[keys.CLOCK_BEHIND] = []
    app[LIMITER] = LoginLimiter()
    app[GATE] = PendingGate(settings.pending_connections_per_address, settings.pending_list_max)
    app[JINJA] = make_environment()
    app[SIGNER] = Signer(load_secret(settings.data_path), "staff-session")
    app[THROTTLE] = LoginThrottle()
    ReaderSettings.from_prefixed(settings)  # refuse to start on a bad reader setting
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(reader_ctx)
    app.cleanup_ctx.append(hub_ctx)
    app.cleanup_ctx.append(housekeeping_ctx)
    app.cleanup_ctx.append(start_sweeper)  # releases the holds of QR starts that never began
    app.cleanup_ctx.append(scheduler_ctx)  # nightly reports, backups and pruning (APScheduler)
    app.on_startup.append(apply_stored_form)
    app.on_startup.append(notify.ready)
    app.on_shutdown.append(notify.stopping)
    app.on_shutdown.append(close_chargers)
    app.router.add_get("/ocpp/{cpid}", ocpp_endpoint)
    setup_routes(app)
    return app

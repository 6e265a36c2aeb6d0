"""Wiring: `create_app(settings)` builds the one aiohttp application. Each long-lived part is a
cleanup context, set up in dependency order and torn down in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

from appliance import background, keys, notify
from appliance.billing import qr, walkin_returns
from appliance.billing.check import check_ledger
from appliance.billing.closing import close_stale
from appliance.billing.localsync import ListKeeper
from appliance.billing.settlement import sweep
from appliance.charging import certificates
from appliance.charging.control import Trigger
from appliance.cluster.control import RoutedControl
from appliance.cluster.node import Node
from appliance.config import Settings
from appliance.db import clock, maintenance
from appliance.db.database import Database
from appliance.db.models import utcnow
from appliance.db.site import defaults_from, load_site, pin_pricing_values, refresh_site
from appliance.errors import ApplianceError
from appliance.events import EventBus, Resync, SiteSettingsChanged
from appliance.ocpp.endpoint import LoginLimiter, ocpp_endpoint
from appliance.ocpp.guard import PendingGate
from appliance.ocpp.hub import Hub, raw_actions
from appliance.ocpp.v16 import Services
from appliance.payments.registry import bases_from, registry
from appliance.pki import authority
from appliance.pki.store import SiteTls, box_names
from appliance.power.loop import PowerManager
from appliance.push.webpush import Vapid
from appliance.reports.scheduler import scheduler_ctx
from appliance.rfid_reader.service import ReaderSettings, reader_service
from appliance.sms.registry import sms_registry
from appliance.web.admin.dashboard import TodayFigures
from appliance.web.admin.desk import apply_stored_form
from appliance.web.driver.push import notify_forever
from appliance.web.i18n import Catalogs
from appliance.web.middleware import error_middleware
from appliance.web.routes import setup_routes
from appliance.web.security import LoginThrottle, Signer, load_secret, security_headers
from appliance.web.session import session_middleware
from appliance.web.templating import TEMPLATES

log = logging.getLogger(__name__)
HOUSEKEEPING_INTERVAL_S = 3600.0
CERTIFICATE_CHECK_S = 3600.0  # the server certificate's dates and the box's addresses
SWEEP_INTERVAL_S = 5.0


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    # Off the loop: on a PostgreSQL server the migration check and the sweep are round trips.
    database = await asyncio.to_thread(open_database, settings)
    database.start()
    app[keys.DATABASE] = database
    app[keys.SITE] = await database.read(load_site, defaults_from(settings))
    await database.run(pin_pricing_values, app[keys.SITE])
    yield
    await asyncio.to_thread(database.stop)  # waits for the last batch and closes connections


def open_database(settings: Settings) -> Database:
    """The database with its schema up to date, then money's start-up sweep: any stopped
    session not settled yet is settled before anything else runs."""
    database = maintenance.open_migrated(settings)
    with maintenance.startup_lock(database):  # one process at a time sweeps
        count = database.run_sync(sweep)
    database.db.close()
    if count:
        log.warning("settled %d stopped sessions left unsettled", count)
    return database


def check_all(database: Database) -> maintenance.CheckReport:
    """`appliance check`: the database's own check, then the ledger's."""
    return maintenance.check(database, [check_ledger])


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
            if not is_leader(app):
                await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
                continue
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


async def _sweep_forever(app: web.Application) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        if not is_leader(app):
            continue
        try:
            expired = await app[keys.DATABASE].run(qr.expire_overdue, utcnow())
        except ApplianceError as err:
            log.warning("QR start sweep failed: %s", err.message)
            continue
        if expired:
            log.info("QR starts %s expired: holds released", expired)


async def sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    """Gives back the holds of QR starts no charger took up in time (the pages also do it
    lazily, but a driver who walks away leaves no page open)."""
    async with background.running(_sweep_forever(app), "qr-start-sweeper"):
        yield


async def payments_ctx(app: web.Application) -> AsyncIterator[None]:
    """Online payment providers, and the loop that reconciles unconfirmed checkouts (all of
    them at start-up) and gives back what walk-in sessions did not use."""
    settings = app[keys.SETTINGS]
    async with registry(app[keys.DATABASE], settings.data_path,
                        bases_from(settings)) as payments:
        app[keys.PAYMENTS] = payments
        def work() -> Coroutine[Any, Any, None]:
            return walkin_returns.run_forever(app[keys.DATABASE], payments,
                                              settings.payment_retry_s)
        # Hosted: one process asks the providers and gives money back, never two at once.
        async with background.running(while_leader(app, work), "walk-in-payments"):
            yield


async def sms_ctx(app: web.Application) -> AsyncIterator[None]:
    """The SMS provider that texts sign-up codes, when staff set one up."""
    settings = app[keys.SETTINGS]
    bases = {"twilio": settings.twilio_api_base, "msg91": settings.msg91_api_base}
    async with sms_registry(app[keys.DATABASE], settings.data_path, bases) as sms:
        app[keys.SMS] = sms
        yield


async def push_ctx(app: web.Application) -> AsyncIterator[None]:
    """Web Push: the box's VAPID key pair, and the loop telling drivers' phones that a
    session of theirs ended."""
    app[keys.VAPID] = Vapid(app[keys.SETTINGS].data_path)
    async with background.running(notify_forever(app), "web-push"):
        yield


def site_tls(settings: Settings) -> SiteTls:
    return SiteTls(settings.data_path / "pki", settings.tls_cert, settings.tls_key,
                   settings.tls_rsa)


async def renew_certificates(app: web.Application) -> None:
    """The server certificate when due or when the box's addresses changed; chargers whose
    certificate from the site CA ends within RENEW_BEFORE are asked for a new CSR."""
    settings, pki = app[keys.SETTINGS], app[keys.TLS]
    base_url = app[keys.SITE].base_url or settings.base_url
    names = await asyncio.to_thread(box_names, settings.host, base_url)
    await asyncio.to_thread(pki.refresh, names)
    due = await app[keys.DATABASE].read(certificates.due_for_renewal,
                                        utcnow() + authority.RENEW_BEFORE)
    control = app[keys.HUB]  # hosted: each process asks its own chargers
    for cpid in due:
        if control.is_online(cpid):
            status = await control.trigger(cpid, Trigger.SIGN_CERTIFICATE)
            log.info("%s: its certificate ends soon; asked for a new one: %s", cpid, status)


async def _renew_forever(app: web.Application) -> None:
    while True:
        await asyncio.sleep(CERTIFICATE_CHECK_S)
        try:
            await renew_certificates(app)
        except (OSError, ApplianceError) as err:
            log.warning("certificate renewal: %s", err)


async def pki_ctx(app: web.Application) -> AsyncIterator[None]:
    """The site CA (made on first start), the box's server certificate for every name and
    address it answers on (renewed when due or when they change) and the TLS context."""
    settings = app[keys.SETTINGS]
    pki = site_tls(settings)
    names = await asyncio.to_thread(box_names, settings.host,
                                    app[keys.SITE].base_url or settings.base_url)
    await asyncio.to_thread(pki.start, app[keys.SITE].site_name, names)
    app[keys.TLS] = pki
    yield


async def renewal_ctx(app: web.Application) -> AsyncIterator[None]:
    """Hourly: the server certificate and chargers' certificates renewed ahead of expiry."""
    async with background.running(_renew_forever(app), "certificate-renewal"):
        yield


async def start_tls_site(runner: web.BaseRunner, settings: Settings, host: str,
                         port: int) -> web.TCPSite:
    """The TLS port beside the plain one: the same application (routes, OCPP endpoint) over
    HTTPS and WSS. Started once the runner has set the app up (the context is made then)."""
    app = runner.app if isinstance(runner, web.AppRunner) else None
    assert app is not None and keys.TLS in app
    site = web.TCPSite(runner, host, port, ssl_context=app[keys.TLS].ssl_context,
                       backlog=4096)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []  # port 0: the one the OS chose
    app[keys.TLS].port = int(sockets[0].getsockname()[1]) if sockets else port
    return site


async def cluster_ctx(app: web.Application) -> AsyncIterator[None]:
    """Hosted (PostgreSQL): this process among the others of the installation (leases, NOTIFY,
    the leader lock). A SQLite box has one process and none of this."""
    database, settings = app[keys.DATABASE], app[keys.SETTINGS]
    if database.is_sqlite:
        yield
        return
    node = Node(settings.db_url, database, app[keys.EVENTS], settings.call_timeout)
    async with node.running():
        app[keys.NODE] = node
        async with background.running(_follow_site(app), "site-settings"):
            yield


async def _follow_site(app: web.Application) -> None:
    """Hosted: site settings saved through another process are read again here (and after a
    LISTEN outage, in which their notice may have been lost)."""
    async with app[keys.EVENTS].subscribe((SiteSettingsChanged, Resync)) as queue:
        while True:
            event = await queue.get()
            if isinstance(event, SiteSettingsChanged | Resync):
                try:
                    saved = await app[keys.DATABASE].read(load_site,
                                                          defaults_from(app[keys.SETTINGS]))
                except ApplianceError as err:
                    log.warning("could not read the site settings again: %s", err.message)
                    continue
                refresh_site(app[keys.SITE], saved)


async def while_leader(app: web.Application, make: Callable[[], Coroutine[Any, Any, None]]
                       ) -> None:
    """Run `make()` on a box, and hosted while this process is the leader only (stopped when
    it loses the lock, started again when it takes it)."""
    node = app.get(keys.NODE)
    if node is None:
        await make()
        return
    while True:
        changed = node.leader_changed
        if not node.is_leader:
            await changed.wait()
            continue
        task = asyncio.create_task(make())
        try:
            await changed.wait()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def is_leader(app: web.Application) -> bool:
    """Whether once-per-installation work runs here: always on a box; hosted, on the holder of
    the leader lock."""
    node = app.get(keys.NODE)
    return node is None or node.is_leader


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    services = Services(app[keys.DATABASE], app[keys.SETTINGS], app[keys.EVENTS],
                        pki=app[keys.TLS])
    hub = Hub(services)
    app[keys.HUB] = hub
    node = app.get(keys.NODE)
    if node is None:
        app[keys.CONTROL] = hub
    else:
        hub.leases = node
        node.local, node.on_drop = hub, hub.let_go
        app[keys.CONTROL] = RoutedControl(hub, node)
    async with hub.running():
        yield


async def local_lists_ctx(app: web.Application) -> AsyncIterator[None]:
    """Chargers' local lists: checked at each boot, changed cards sent at once."""
    # The hub, not the routed control: hosted, each process keeps its own chargers' lists (the
    # events that change them reach every process).
    keeper = ListKeeper(app[keys.HUB], app[keys.DATABASE], app[keys.EVENTS])
    async with keeper.running():
        app[keys.LISTS] = keeper
        yield


async def power_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load management: shares each group's limit among its sessions."""
    manager = PowerManager(app[keys.HUB], app[keys.DATABASE], app[keys.EVENTS])
    async with manager.running():
        app[keys.POWER] = manager
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
    app[keys.LIMITER] = LoginLimiter()
    app[keys.CATALOGS] = Catalogs(TEMPLATES, with_pseudo=True)  # catalogs read once, at start
    app[keys.GATE] = PendingGate(settings.pending_connections_per_address,
                                 settings.pending_list_max)
    app[keys.SIGNER] = Signer(load_secret(settings.data_path), "staff-session")
    app[keys.THROTTLE] = LoginThrottle()
    app[keys.TODAY_FIGURES] = TodayFigures()
    ReaderSettings.from_prefixed(settings)  # refuse to start on a bad reader setting
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(cluster_ctx)  # hosted: before the hub, which records its leases
    app.cleanup_ctx.append(reader_ctx)
    app.cleanup_ctx.append(pki_ctx)  # before the hub: profile 3 chargers' CSRs are signed
    app.cleanup_ctx.append(hub_ctx)
    app.cleanup_ctx.append(local_lists_ctx)  # chargers keep personal cards for when we are away
    app.cleanup_ctx.append(power_ctx)  # load management over the hub
    app.cleanup_ctx.append(renewal_ctx)  # after the hub: it asks chargers for new CSRs
    app.cleanup_ctx.append(housekeeping_ctx)
    app.cleanup_ctx.append(sweeper_ctx)  # releases the holds of QR starts that never began
    app.cleanup_ctx.append(payments_ctx)  # walk-in payments: reconcile, give back, retry
    app.cleanup_ctx.append(sms_ctx)  # sign-up codes by SMS
    app.cleanup_ctx.append(push_ctx)  # drivers' phones told when charging ends
    app.cleanup_ctx.append(scheduler_ctx)  # nightly reports, backups and pruning (APScheduler)
    app.on_response_prepare.append(security_headers)  # every answer, errors and files too
    app.on_startup.append(apply_stored_form)
    app.on_shutdown.append(notify.stopping)
    app.on_shutdown.append(close_chargers)
    app.router.add_get("/ocpp/{cpid}", ocpp_endpoint)
    app[keys.OCPP_ACTIONS] = raw_actions()  # the API's document lists them
    setup_routes(app)
    return app

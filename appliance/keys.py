"""Every shared object of the application, behind a typed `web.AppKey`, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import asyncio
    from datetime import timedelta

    from appliance.billing.localsync import ListKeeper
    from appliance.charging.control import ChargerControl
    from appliance.cluster.node import Node
    from appliance.config import Settings
    from appliance.db.database import Database
    from appliance.db.site import SiteSettings
    from appliance.events import EventBus
    from appliance.ocpp.endpoint import LoginLimiter
    from appliance.ocpp.guard import PendingGate
    from appliance.ocpp.hub import Hub
    from appliance.payments.registry import Registry
    from appliance.pki.store import SiteTls
    from appliance.power.loop import PowerManager
    from appliance.push.webpush import Vapid
    from appliance.reports.scheduler import NightlyScheduler
    from appliance.rfid_reader.service import ReaderService
    from appliance.sms.registry import SmsRegistry
    from appliance.web.admin.dashboard import TodayFigures
    from appliance.web.i18n import Catalogs
    from appliance.web.security import LoginThrottle, Signer

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[Database] = web.AppKey("database")
EVENTS: web.AppKey[EventBus] = web.AppKey("events")
HUB: web.AppKey[Hub] = web.AppKey("hub")
CONTROL: web.AppKey[ChargerControl] = web.AppKey("control")
READER: web.AppKey[ReaderService] = web.AppKey("reader")
SITE: web.AppKey[SiteSettings] = web.AppKey("site")  # refreshed when staff save settings
CLOCK_BEHIND: web.AppKey[list[timedelta]] = web.AppKey("clock_behind", list)  # [behind] or []
CATALOGS: web.AppKey[Catalogs] = web.AppKey("catalogs")  # languages and their templates
SIGNER: web.AppKey[Signer] = web.AppKey("session_signer")  # staff page sessions
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("login_throttle")  # staff and driver logins
LIMITER: web.AppKey[LoginLimiter] = web.AppKey("ocpp_login_limiter")  # chargers' Basic auth
GATE: web.AppKey[PendingGate] = web.AppKey("ocpp_pending_gate")  # unapproved stations' sockets
SCHEDULER: web.AppKey[NightlyScheduler] = web.AppKey("nightly_scheduler")
PAYMENTS: web.AppKey[Registry] = web.AppKey("payments")  # online payment providers
SMS: web.AppKey[SmsRegistry] = web.AppKey("sms")  # sign-up codes by SMS
VAPID: web.AppKey[Vapid] = web.AppKey("vapid")  # the box's Web Push key pair
WATCHDOG: web.AppKey[asyncio.Task[None]] = web.AppKey("watchdog_task")  # systemd's watchdog pings
POWER: web.AppKey[PowerManager] = web.AppKey("power")  # load management: groups, allocations
LISTS: web.AppKey[ListKeeper] = web.AppKey("local_lists")  # chargers' local lists kept true
# Each OCPP version's actions the box may send (the raw command endpoint lists them).
OCPP_ACTIONS: web.AppKey[dict[str, list[str]]] = web.AppKey("ocpp_actions", dict)
TLS: web.AppKey[SiteTls] = web.AppKey("site_tls")  # the site CA, server certificate, TLS context
# The dashboard's figures of the day over the whole site, kept a while (hours charging for a
# minute: they read every connector and the day's status history; a big site's sums seconds).
TODAY_FIGURES: web.AppKey[TodayFigures] = web.AppKey("dashboard_today_figures")
NODE: web.AppKey[Node] = web.AppKey("cluster_node")  # hosted only: this process among the others

"""Every shared object of the application, behind a typed `web.AppKey`, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from appliance.charging.control import ChargerControl
    from appliance.config import Settings
    from appliance.db.database import Database
    from appliance.db.site import SiteSettings
    from appliance.events import EventBus
    from appliance.ocpp.hub import Hub
    from appliance.rfid_reader.service import ReaderService

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[Database] = web.AppKey("database")
EVENTS: web.AppKey[EventBus] = web.AppKey("events")
HUB: web.AppKey[Hub] = web.AppKey("hub")
CONTROL: web.AppKey[ChargerControl] = web.AppKey("control")
READER: web.AppKey[ReaderService] = web.AppKey("reader")
SITE: web.AppKey[SiteSettings] = web.AppKey("site")  # refreshed when staff save settings
CLOCK_BEHIND: web.AppKey[list] = web.AppKey("clock_behind", list)  # [timedelta] when behind

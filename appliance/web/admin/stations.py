"""Pages: the chargers list and a charger's page (identity, connectors, status history, per-day
working hours / energy / fees with a chart, commands, configuration, recent frames, approval)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import locallist
from appliance.charging import admin, certificates
from appliance.charging.control import ChargerControl, Trigger
from appliance.db.models import StatusEvent
from appliance.db.site import move_station, site_choices
from appliance.errors import N_, ApplianceError, Conflict, InvalidInput
from appliance.power import groups
from appliance.reports.stats import station_daily
from appliance.web.admin.stickers import sticker_base
from appliance.web.api.stations import after_approval, key_before_approval
from appliance.web.audit import record
from appliance.web.charts import bar_chart
from appliance.web.export import csv_response, major_number
from appliance.web.i18n import gettext_for
from appliance.web.scope import charger_site, scope_of
from appliance.web.session import current_staff, require
from appliance.web.templating import formats_for, render

routes = web.RouteTableDef()

Command = Callable[[ChargerControl, str, dict[str, str]], Awaitable[str]]


async def _configuration(control: ChargerControl, cpid: str, form: dict[str, str]) -> str:
    config = await control.get_configuration(cpid)
    return "\n".join(f"{i.key} = {i.value}" + (" (read-only)" if i.readonly else "")
                     for i in config.items)


# The commands a charger page offers, as ChargerControl verbs: name -> the call from the form.
COMMANDS: dict[str, Command] = {
    "reset_soft": lambda c, cpid, f: c.reset(cpid, hard=False),
    "reset_hard": lambda c, cpid, f: c.reset(cpid, hard=True),
    "unlock": lambda c, cpid, f: c.unlock(cpid, int(f["connector_id"]),
                                          int(f.get("evse_connector") or 1)),
    "available": lambda c, cpid, f: c.set_availability(cpid, int(f["connector_id"]), True),
    "unavailable": lambda c, cpid, f: c.set_availability(cpid, int(f["connector_id"]), False),
    "remote_start": lambda c, cpid, f: c.remote_start(cpid, int(f["connector_id"]),
                                                      f["id_tag"].strip()),
    "remote_stop": lambda c, cpid, f: c.remote_stop(cpid, int(f["transaction_id"])),
    "trigger": lambda c, cpid, f: c.trigger(cpid, Trigger(f["message"])),
    "clear_cache": lambda c, cpid, f: c.clear_cache(cpid),
    "get_configuration": _configuration,
    "change_configuration": lambda c, cpid, f: c.change_configuration(cpid, f["key"].strip(),
                                                                      f["value"]),
}


async def _render_stations(request: web.Request, message: str | None = None, ok: bool = True,
                           status: int = 200) -> web.StreamResponse:
    rows = await request.app[keys.DATABASE].read(admin.list_stations, None, 500, None,
                                                 scope_of(request).sites)
    return render(request, "stations.html", {"stations": rows, "message": message, "ok": ok},
                  status=status)


@routes.get("/stations")
@require("desk")
async def stations_page(request: web.Request) -> web.StreamResponse:
    return await _render_stations(request)


def ocpp_url(request: web.Request, cpid: str) -> tuple[str, str | None]:
    """The exact address to type into a charger, and why it may not work from the charger."""
    base, problem = sticker_base(request)
    ws = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    return f"{ws}/ocpp/{cpid}", problem


@routes.post("/stations")
@require("admin")
async def add_station(request: web.Request) -> web.StreamResponse:
    """A new charger from the browser: a generated password shown once, and what to type into
    the charger's own settings."""
    form = await request.post()
    cpid = str(form.get("id", "")).strip()
    password = secrets.token_urlsafe(15)  # 20 characters, within what chargers take (<= 40)
    try:
        await request.app[keys.DATABASE].run(admin.create_station, cpid, {
            "password": password, "description": str(form.get("description", ""))[:500]})
    except ApplianceError as err:
        return await _render_stations(request, err.message, ok=False, status=400)
    await record(request, "station.create", cpid, {"description": form.get("description", "")})
    url, problem = ocpp_url(request, cpid)
    return render(request, "station_added.html", {"cpid": cpid, "password": password,
                                                  "url": url, "problem": problem})


def _range(request: web.Request, tz: Any) -> tuple[date, date]:
    today = datetime.now(tz).date()
    try:
        last = date.fromisoformat(request.query["to"]) if request.query.get("to") else today
        first = (date.fromisoformat(request.query["from"]) if request.query.get("from")
                 else last - timedelta(days=29))
    except ValueError as err:
        raise InvalidInput(N_("Dates look like 2026-01-31.")) from err
    if first > last or (last - first).days > 366:
        raise InvalidInput(N_("The range must run forward and span at most a year."))
    return first, last


def _history(station_id: int) -> list[StatusEvent]:
    return list(StatusEvent.select().where(StatusEvent.station == station_id)
                .order_by(StatusEvent.id.desc()).limit(50))


def _device_model(station: dict[str, Any], search: str) -> list[tuple[str, dict[str, Any]]]:
    """The charger's reported variables, those whose name contains `search` (any case)."""
    needle = search.strip().lower()
    return [(key, attrs) for key, attrs in sorted(station["device_model"].items())
            if needle in key.lower()]


def _station_page_data(cpid: str, first: date, last: date, tz: Any, search: str = ""
                       ) -> dict[str, Any]:
    station = admin.station_detail(cpid)
    st = admin.get_station(cpid)
    return {"station": station, "history": _history(st.id),
            "device_model": _device_model(station, search), "variable": search,
            # Stored nightly rows; only days not stored yet (today) are computed here.
            "days": [whole for whole, _ in station_daily(st.id, first, last, tz)],
            "frames": admin.recent_frames(cpid, 50),
            "notices": admin.station_notices(cpid, 20),
            "security": certificates.security_view(st.id),
            "local_list": locallist.status_of(st.id), "power": groups.member_of(st.id),
            # An installation of several sites chooses the site at approval.
            "sites": site_choices(), "site_id": st.site_id}


async def render_station(request: web.Request, result: dict[str, Any] | None = None,
                          status: int = 200) -> web.StreamResponse:
    tz = (await charger_site(request, request.match_info["id"])).tz
    first, last = _range(request, tz)
    data = await request.app[keys.DATABASE].read(_station_page_data, request.match_info["id"],
                                                 first, last, tz,
                                                 request.query.get("variable", "")[:100])
    rows = data["days"]
    _, f = gettext_for(request).gettext, formats_for(request)
    data["chart"] = bar_chart([(f.short_day(r.day), r.charging_s / 3600) for r in rows],
                              unit="h", title=_("Hours charging per day"))
    data["energy_chart"] = bar_chart([(f.short_day(r.day), r.energy_wh / 1000)
                                      for r in rows], unit="kWh", title=_("Energy per day"))
    power = data["power"]
    if power is not None:  # what each of its sessions may draw now
        live = request.app[keys.POWER].snapshot.get(power["group"], {})
        prefix = request.match_info["id"].upper() + "/"
        power["allowed"] = {int(k.split("/")[1]): a for k, a in live.get("allowed", {}).items()
                            if k.startswith(prefix)}
    data.update({"first": first, "last": last, "result": result,
                 "online": request.app[keys.CONTROL].is_online(request.match_info["id"]),
                 "ocpp_url": ocpp_url(request, request.match_info["id"])[0]})
    return render(request, "station.html", data, status=status)


@routes.get("/stations/{id}")
@require("desk")
async def station_page(request: web.Request) -> web.StreamResponse:
    return await render_station(request)


@routes.post("/stations/{id}/approve")
@require("admin")
async def approve_station(request: web.Request) -> web.StreamResponse:
    """The banner's Approve: the charger may now charge; an online one is asked to boot again."""
    cpid = request.match_info["id"]
    database = request.app[keys.DATABASE]
    chosen = str((await request.post()).get("site", ""))
    if chosen.isdigit() and scope_of(request).installation:
        await database.run(move_station, cpid, int(chosen))
        await record(request, "station.site", cpid, {"site_id": int(chosen)})
    keyed = await key_before_approval(request.app, cpid) \
        if await database.read(admin.approval_needs_key, cpid) else []
    try:
        station, approved_now = await database.run(admin.update_station, cpid,
                                                    {"approved": True})
    except Conflict as err:  # it took no key: it stays pending
        await record(request, "station.approval_refused", cpid, {"commands": keyed})
        return await render_station(request, {"ok": False,
                                               "action": gettext_for(request).gettext("Approve"),
                                               "text": "; ".join([err.message, *keyed])}, 409)
    await record(request, "station.approve", cpid, {})
    done = keyed + (await after_approval(request.app, station) if approved_now else [])
    _ = gettext_for(request).gettext
    text = _("Approved.") + (" " + "; ".join(done) if done else "")
    return await render_station(request, {"ok": True, "action": _("Approve"),
                                           "text": text})


@routes.get("/stations/{id}/days.csv")
@require("desk")
async def station_days_csv(request: web.Request) -> web.StreamResponse:
    tz = (await charger_site(request, request.match_info["id"])).tz
    first, last = _range(request, tz)
    cpid = request.match_info["id"]
    data = await request.app[keys.DATABASE].read(_station_page_data, cpid, first, last, tz)
    currency = request.app[keys.SITE].currency
    header = ["day", "hours_charging", "energy_kwh", "fees", "currency", "sessions"]
    return csv_response(f"{cpid}-days.csv", header, [
        [r.day, Decimal(r.charging_s / 3600).quantize(Decimal("0.01")),
         Decimal(r.energy_wh) / 1000, major_number(r.fees_minor, currency), currency,
         r.sessions] for r in data["days"]])


@routes.post("/stations/{id}/command")
@require("admin")
async def station_command(request: web.Request) -> web.StreamResponse:
    cpid = request.match_info["id"]
    form = {k: str(v) for k, v in (await request.post()).items()}
    name = form.get("command", "")
    if name not in COMMANDS:
        raise InvalidInput("unknown command")
    await record(request, "station.command", cpid, {"command": name} | {
        k: v for k, v in form.items() if k not in ("command", "csrf_token")})
    try:
        text = await COMMANDS[name](request.app[keys.CONTROL], cpid, form)
        result = {"ok": True, "action": name, "text": text}
    except (KeyError, ValueError):
        result = {"ok": False, "action": name, "text": N_("Fill in every field of the command.")}
        return await render_station(request, result, 400)
    except ApplianceError as err:
        result = {"ok": False, "action": name, "text": err.message}
    return await render_station(request, result)


@routes.post("/stations/{id}/settings")
@require("admin")
async def station_settings(request: web.Request) -> web.StreamResponse:
    cpid = request.match_info["id"]
    form = await request.post()
    fields: dict[str, Any] = {"description": str(form.get("description", ""))[:500],
                              "approved": form.get("approved") == "on",
                              "managed": form.get("managed") == "on",
                              "auth_mode": str(form.get("auth_mode", "basic"))}
    if "ocpp_pin" in form:
        fields["ocpp_pin"] = str(form["ocpp_pin"])
    if form.get("password"):
        fields["password"] = str(form["password"])
    try:
        await request.app[keys.DATABASE].run(admin.update_station, cpid, fields)
    except (InvalidInput, Conflict) as err:
        return await render_station(request, {"ok": False, "action": "settings",
                                               "text": err.message}, 400)
    staff = current_staff(request)
    await record(request, "station.update", cpid,
                 {k: v for k, v in fields.items() if k != "password"} | {
                     "by": staff.username if staff else ""})
    raise web.HTTPSeeOther(f"/stations/{cpid}")

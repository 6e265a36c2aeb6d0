"""Tariffs page: every tariff with its bands, history and a worked example, and "who pays what
where" (every assignment, most specific first); admins create, change and assign them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import InvalidOperation
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import quotes, tariffs
from appliance.db.site import site_choices
from appliance.errors import N_, ApplianceError, InvalidInput, NotFound
from appliance.people.scope import Scope, tariff_site
from appliance.web.audit import record
from appliance.web.base import audit_actor
from appliance.web.forms import parse_amount
from appliance.web.scope import own_site, scope_of
from appliance.web.session import require
from appliance.web.templating import render

routes = web.RouteTableDef()


@routes.get("/tariffs")
@require("desk")
async def tariffs_page(request: web.Request) -> web.StreamResponse:
    return await _render_tariffs(request)


EXAMPLE_WH = 30_000  # "30 kWh tonight": the worked example on each tariff's form
EXAMPLE_S = 4 * 3600


def tonight(tz: Any, now: datetime) -> datetime:
    """22:00 site time today (tomorrow once it is past), as naive UTC."""
    local = now.replace(tzinfo=UTC).astimezone(tz)
    moment = datetime.combine(local.date(), time(22, 0), tzinfo=tz)
    if moment <= local:
        moment = datetime.combine(local.date() + timedelta(days=1), time(22, 0), tzinfo=tz)
    return moment.astimezone(UTC).replace(tzinfo=None)


def _page_data(at: datetime, currency: str, sites: frozenset[int] | None) -> dict[str, Any]:
    rows = []
    for t in tariffs.list_tariffs(sites):
        t["history"] = tariffs.tariff_history(t["id"])
        t["example"] = quotes.tariff_example(t["id"], at, EXAMPLE_WH, EXAMPLE_S)["example"]
        t["bands_text"] = bands_text(t["bands"])
        rows.append(t)
    return {"tariffs": rows, "who_pays": tariffs.who_pays(currency, sites)}


async def _render_tariffs(request: web.Request, message: str | None = None, ok: bool = True,
                          status: int = 200) -> web.StreamResponse:
    site = request.app[keys.SITE]
    at = tonight(site.tz, datetime.now(UTC).replace(tzinfo=None))
    data = await request.app[keys.DATABASE].read(_page_data, at, site.currency,
                                                 scope_of(request).sites)
    data["sites"] = await request.app[keys.DATABASE].read(site_choices)
    return render(request, "tariffs.html", {**data, "message": message, "ok": ok,
                                            "price_fields": tariffs.PRICE_FIELDS,
                                            "int_fields": tariffs.INT_FIELDS,
                                            "money_fields": tariffs.MONEY_FIELDS,
                                            "example_at": at, "example_wh": EXAMPLE_WH,
                                            "example_s": EXAMPLE_S}, status=status)


BAND_PARTS = ("name", "days", "hours", "energy_per_kwh", "time_per_hour")


def bands_text(bands: list[dict[str, Any]]) -> str:
    """Bands as the form shows them: one a line, `name, days, 22:00-06:00, energy, time`."""
    return "\n".join(f"{b['name']}, {b['days']}, {b['start']}-{b['end']}, "
                     f"{b['energy_per_kwh']}, {b['time_per_hour']}" for b in bands)


def parse_bands(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or "-" not in parts[2]:
            raise InvalidInput(N_("A band is one line: name, days (all, weekday, weekend or "
                                  "holiday), 22:00-06:00, price per kWh, price per hour."),
                               details={"field": "bands"})
        start, _, end = parts[2].partition("-")
        out.append({"name": parts[0], "days": parts[1] or "all", "start": start, "end": end,
                    "energy_per_kwh": parts[3] or "0",
                    "time_per_hour": parts[4] if len(parts) > 4 and parts[4] else "0"})
    return out


def _save_tariff(tariff_id: int | None, fields: dict[str, Any], currency: str,
                 assign_to: str | None, group: str, actor: str, scope: Scope, site_id: int
                 ) -> None:
    if tariff_id is None:
        tariff_id = int(tariffs.create_tariff(fields, currency, actor, site_id)["id"])
    elif not scope.allows(tariff_site(tariff_id)):  # another site's tariff does not exist here
        raise NotFound(f"no tariff {tariff_id}")
    else:
        tariffs.update_tariff(tariff_id, fields, actor)
    if assign_to is not None:
        cpid, _, connector = assign_to.strip().partition("/")
        tariffs.assign(tariff_id, cpid or None, int(connector) if connector else None, group)


def _new_tariff_site(request: web.Request, chosen: str) -> int:
    """A new tariff's site: the one chosen on the page by the installation's staff, else the
    asker's own."""
    if chosen.isdigit() and scope_of(request).installation:
        return int(chosen)
    return own_site(request)


@routes.post("/tariffs")
@require("admin")
async def tariffs_post(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    currency = request.app[keys.SITE].currency
    fields: dict[str, Any] = {"name": form.get("name", "")}
    fields.update({f: form.get(f, "0") or "0" for f in tariffs.PRICE_FIELDS})
    try:
        for f in tariffs.INT_FIELDS:
            raw = (form.get(f, "") or "0").strip()
            if f not in tariffs.MONEY_FIELDS:
                fields[f] = int(raw)
            else:  # typed in major units like every amount a person types
                fields[f] = parse_amount(raw, currency, f, allow_zero=True)
        fields["prices_include_tax"] = form.get("prices_include_tax") == "on"
        fields["bands"] = parse_bands(form.get("bands", ""))
        tariff_id = int(form["tariff_id"]) if form.get("tariff_id") else None
        assign_to = form.get("assign_to", "") if form.get("assign") == "on" else None
        await request.app[keys.DATABASE].run(_save_tariff, tariff_id, fields, currency,
                                             assign_to, form.get("assign_group", ""),
                                             audit_actor(request), scope_of(request),
                                             _new_tariff_site(request, form.get("site", "")))
    except (ApplianceError, ValueError, InvalidOperation) as err:
        message = err.message if isinstance(err, ApplianceError) else N_("Numbers only, please.")
        return await _render_tariffs(request, message, ok=False, status=400)
    await record(request, "tariff.save", form.get("name", ""), form)
    return await _render_tariffs(request, N_("Tariff saved."))


@routes.post("/tariffs/unassign")
@require("admin")
async def tariffs_unassign(request: web.Request) -> web.StreamResponse:
    """Take a tariff away from one row of "who pays what where" (audited); sessions already
    started keep their tariff version."""
    form = await request.post()
    station = str(form.get("station", "")).strip() or None
    group = str(form.get("group", "")).strip() or None
    try:
        raw = str(form.get("connector", "")).strip()
        connector = int(raw) if raw else None
        removed = await request.app[keys.DATABASE].run(tariffs.unassign, station, connector,
                                                       group)
    except (ApplianceError, ValueError) as err:
        message = err.message if isinstance(err, ApplianceError) else N_("Numbers only, please.")
        return await _render_tariffs(request, message, ok=False, status=400)
    await record(request, "tariff.unassign", str(removed["tariff"]["id"]),
                 {"station_id": station, "connector_id": connector, "group": group})
    return await _render_tariffs(request, N_("Tariff taken away there; sessions already "
                                             "running keep their price."))

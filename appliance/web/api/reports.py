"""JSON API for daily statistics and nightly reports: a charger's per-day rows (stored, today on
the fly), the list of reports and one day's report. Money as {amount, currency}."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.charging import admin
from appliance.db.models_reports import DailyReport
from appliance.db.site import DEFAULT_SITE
from appliance.errors import InvalidInput
from appliance.reports.nightly import local_today
from appliance.reports.stats import StatRow, station_daily
from appliance.web.admin.reports import get_report, parse_day
from appliance.web.api.base import ApiRoutes, listing, ok, page
from appliance.web.scope import charger_site, chosen_site

routes = ApiRoutes()
api = routes.api

MAX_DAYS = 366


def money_fields(value: Any, currency: str) -> Any:
    """`x_minor: 123` becomes `x: {"amount": 123, "currency": ...}`, all the way down."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k.endswith("_minor") and isinstance(v, int):
                out[k.removesuffix("_minor")] = {"amount": v, "currency": currency}
            else:
                out[k] = money_fields(v, currency)
        return out
    if isinstance(value, list):
        return [money_fields(v, currency) for v in value]
    return value


def _row(r: StatRow) -> dict[str, Any]:
    return {"charging_s": round(r.charging_s), "available_s": round(r.available_s),
            "faulted_or_offline_s": round(r.faulted_s), "energy_wh": r.energy_wh,
            "fees_minor": r.fees_minor, "sessions": r.sessions, "drivers": r.drivers}


def _daily(cpid: str, first: date, last: date, tz: Any) -> list[dict[str, Any]]:
    station = admin.get_station(cpid)
    out = []
    for whole, connectors in station_daily(station.id, first, last, tz):
        out.append({"day": whole.day.isoformat(), **_row(whole),
                    "connectors": [{"connector_id": c.connector_id, **_row(c)}
                                   for c in connectors]})
    return out


@api("GET", "/stations/{id}/daily", "A charger's per-day statistics (local days, inclusive); "
     "stored by the nightly job, days not stored yet computed on the fly", role="desk",
     query={"from": "first local day, YYYY-MM-DD (default: 29 days before to)",
            "to": "last local day (default: today)"}, tag="reports")
async def station_days(request: web.Request) -> web.Response:
    database = request.app[keys.DATABASE]
    site = await charger_site(request, request.match_info["id"])  # its site's days
    last = (parse_day(request.query["to"], "to") if request.query.get("to")
            else local_today(site.tz))
    first = (parse_day(request.query["from"], "from") if request.query.get("from")
             else last - timedelta(days=29))
    if first > last or (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"from must not be after to, and the range at most {MAX_DAYS} days")
    rows = await database.read(_daily, request.match_info["id"], first, last, site.tz)
    return ok({"items": money_fields(rows, site.currency), "timezone": site.timezone})


def _list(after: int | None, limit: int, site_id: int = DEFAULT_SITE) -> list[dict[str, Any]]:
    query = (DailyReport.select().where(DailyReport.site_id == site_id)
             .order_by(DailyReport.day.desc()).limit(limit))
    if after is not None:
        query = query.where(DailyReport.day < date.fromordinal(after))
    return [{"day": r.day.isoformat(), "ledger_ok": r.ledger_ok, "anomalies": r.anomalies,
             "mail_status": r.mail_status or None, "mail_error": r.mail_error or None,
             "computed_at": r.computed_at} for r in query]


@api("GET", "/reports", "Nightly reports, newest day first", role="admin",
     query={"limit": "at most 500", "cursor": "from next_cursor",
            "site": "a site id (default: the asker's one site, else the first)"},
     tag="reports")
async def list_reports(request: web.Request) -> web.Response:
    p = page(request)
    rows = await request.app[keys.DATABASE].read(
        _list, p.after, p.limit, chosen_site(request, DEFAULT_SITE) or DEFAULT_SITE)
    return listing(rows, p.next_cursor(rows, lambda r: date.fromisoformat(r["day"]).toordinal()))


@api("GET", "/reports/{date}", "One day's report: totals, per charger, per driver, top-ups by "
     "method, anomalies, ledger check, and whether it was mailed", role="admin", tag="reports")
async def one_report(request: web.Request) -> web.Response:
    day = parse_day(request.match_info["date"])
    report = await request.app[keys.DATABASE].read(
        get_report, day, chosen_site(request, DEFAULT_SITE) or DEFAULT_SITE)
    data = report["data"]
    return ok({**money_fields(data, data["currency"]),
               "mail": {"status": report["mail_status"] or None,
                        "error": report["mail_error"] or None, "at": report["mail_at"]},
               "computed_at": report["computed_at"]})

"""Report pages: the list of nightly reports by day, one day's report with its tables, SVG charts
and a CSV download per table, weekly and monthly summaries built from the stored daily rows, and
the reports' print stylesheet."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.db.models import Station
from appliance.db.models_reports import DailyReport
from appliance.db.site import DEFAULT_SITE, site_choices
from appliance.errors import N_, InvalidInput, NotFound
from appliance.reports.nightly import local_today, site_settings
from appliance.reports.stats import site_daily
from appliance.reports.tables import csv_text, report_tables
from appliance.web.charts import bar_chart
from appliance.web.i18n import gettext_for
from appliance.web.scope import chosen_site, scope_of
from appliance.web.session import require
from appliance.web.templating import TEMPLATES, formats_for, render

routes = web.RouteTableDef()
PRINT_CSS = (TEMPLATES / "reports" / "print.css").read_text(encoding="utf-8")


def parse_day(text: str | None, name: str = "date") -> date:
    try:
        return date.fromisoformat(text or "")
    except ValueError as err:
        raise InvalidInput(f"{name}: dates look like 2026-01-31", details={"field": name}) from err


def list_reports(limit: int = 400, site_id: int = DEFAULT_SITE) -> list[dict[str, Any]]:
    """One site's nightly reports, newest first."""
    return [{"day": r.day, "ledger_ok": r.ledger_ok, "anomalies": r.anomalies,
             "mail_status": r.mail_status, "mail_error": r.mail_error,
             "computed_at": r.computed_at}
            for r in DailyReport.select().where(DailyReport.site_id == site_id)
            .order_by(DailyReport.day.desc()).limit(limit)]


def get_report(day: date, site_id: int = DEFAULT_SITE) -> dict[str, Any]:
    row = DailyReport.get_or_none((DailyReport.day == day) & (DailyReport.site_id == site_id))
    if row is None:
        raise NotFound(N_("No report for %(day)s yet."), params={"day": day.isoformat()},
                       details={"date": day.isoformat()})
    return {"data": json.loads(row.data), "ledger_ok": row.ledger_ok,
            "mail_status": row.mail_status, "mail_error": row.mail_error,
            "mail_at": row.mail_at, "computed_at": row.computed_at}


@routes.get("/reports/print.css")
async def print_css(request: web.Request) -> web.StreamResponse:
    # Served by us, not inlined: the pages' CSP allows only same-origin styles.
    return web.Response(text=PRINT_CSS, content_type="text/css")


@routes.get("/reports")
@require("admin")
async def reports_page(request: web.Request) -> web.StreamResponse:
    database = request.app[keys.DATABASE]
    site_id = chosen_site(request, DEFAULT_SITE) or DEFAULT_SITE
    reports = await database.read(list_reports, 400, site_id)
    site = await site_settings(database, request.app[keys.SETTINGS], site_id)
    return render(request, "reports/list.html", {
        "reports": reports, "today": local_today(site.tz), "site_id": site_id,
        "sites": await database.read(site_choices), "site_query": _site_query(request)})


def _site_query(request: web.Request) -> str:
    """The report pages' own links keep the site they were asked for."""
    return f"?site={request.query['site']}" if request.query.get("site", "").isdigit() else ""


@routes.get(r"/reports/{day:\d{4}-\d{2}-\d{2}}")
@require("admin")
async def report_page(request: web.Request) -> web.StreamResponse:
    day = parse_day(request.match_info["day"])
    report = await request.app[keys.DATABASE].read(
        get_report, day, chosen_site(request, DEFAULT_SITE) or DEFAULT_SITE)
    data = report["data"]
    _ = gettext_for(request).gettext
    charts = {
        "energy": bar_chart([(c["station"], c["energy_wh"] / 1000) for c in data["chargers"]],
                            unit="kWh", title=_("Energy per charger")),
        "hours": bar_chart([(c["station"], c["charging_s"] / 3600) for c in data["chargers"]],
                           unit="h", title=_("Hours charging per charger")),
    }
    return render(request, "reports/day.html", {
        "day": day, "r": report, "d": data, "charts": charts, "site_query": _site_query(request),
        "prev": day - timedelta(days=1), "next": day + timedelta(days=1)})


@routes.get(r"/reports/{day:\d{4}-\d{2}-\d{2}}/{table:[a-z]+}.csv")
@require("admin")
async def report_csv(request: web.Request) -> web.StreamResponse:
    day = parse_day(request.match_info["day"])
    report = await request.app[keys.DATABASE].read(
        get_report, day, chosen_site(request, DEFAULT_SITE) or DEFAULT_SITE)
    tables = report_tables(report["data"])
    name = request.match_info["table"]
    if name not in tables:
        raise NotFound(f"no table {name}")
    return web.Response(text=csv_text(tables[name]), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}-{day}.csv"'})


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """The ISO week (Monday to Sunday) or the calendar month holding `day`."""
    if period == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    if period == "month":
        first = day.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    raise InvalidInput("period is week or month", details={"field": "period"})


def summary(first: date, last: date, sites: frozenset[int] | None = None) -> dict[str, Any]:
    """Per charger and per day totals over a period, from the stored charger rows only: of
    some sites, or (None) across every site."""
    rows = site_daily(first, last, sites)
    names: dict[int, str] = dict(Station.select(Station.id, Station.cpid).tuples())
    figures = ("charging_s", "available_s", "faulted_s", "energy_wh", "fees_minor", "sessions")
    chargers: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(figures, 0))
    per_day: dict[date, dict[str, float]] = {first + timedelta(days=i): dict.fromkeys(figures, 0)
                                             for i in range((last - first).days + 1)}
    for r in rows:
        for f in figures:
            chargers[names.get(r.station_id, str(r.station_id))][f] += getattr(r, f)
            per_day[r.day][f] += getattr(r, f)
    totals = {f: sum(c[f] for c in chargers.values()) for f in figures}
    reported = {r.day for r in DailyReport.select(DailyReport.day).where(
        (DailyReport.day >= first) & (DailyReport.day <= last)
        & (DailyReport.site_id.in_(sorted(sites)) if sites is not None else True))}
    return {"chargers": dict(sorted(chargers.items())), "days": per_day, "totals": totals,
            "stored_days": len({r.day for r in rows}), "reported": reported}


@routes.get("/reports/summary")
@require("admin")
async def summary_page(request: web.Request) -> web.StreamResponse:
    database = request.app[keys.DATABASE]
    site = await site_settings(database, request.app[keys.SETTINGS])
    period = request.query.get("period", "week")
    anchor = (parse_day(request.query["date"]) if request.query.get("date")
              else local_today(site.tz) - timedelta(days=1))
    first, last = period_bounds(period, anchor)
    chosen = chosen_site(request, None)
    data = await database.read(summary, first, last, frozenset([chosen]) if chosen is not None
                               else scope_of(request).sites)
    days = data["days"]
    _, f = gettext_for(request).gettext, formats_for(request)
    charts = {"energy": bar_chart([(f.short_day(d), v["energy_wh"] / 1000)
                                   for d, v in days.items()], unit="kWh",
                                  title=_("Energy per day")),
              "hours": bar_chart([(f.short_day(d), v["charging_s"] / 3600)
                                  for d, v in days.items()], unit="h",
                                 title=_("Hours charging per day"))}
    step = timedelta(days=7) if period == "week" else timedelta(days=31)
    return render(request, "reports/summary.html", {
        "period": period, "first": first, "last": last, "s": data, "charts": charts,
        "prev": (first - timedelta(days=1)) if period == "month" else first - step,
        "next": last + timedelta(days=1)})

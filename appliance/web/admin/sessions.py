"""Sessions pages: filters, CSV export, a session's page with its meter chart, closing a session
whose stop never came."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import views
from appliance.billing.closing import close_and_settle
from appliance.billing.offline import OFFLINE_FLAG
from appliance.charging import history
from appliance.db.models import utcnow
from appliance.errors import N_, ApplianceError, InvalidInput, Text
from appliance.reports.prune import session_points
from appliance.web.audit import record
from appliance.web.charts import line_chart
from appliance.web.export import csv_response, local_cell, major_number, time_header
from appliance.web.i18n import gettext_for
from appliance.web.scope import scope_of
from appliance.web.session import current_staff, require
from appliance.web.templating import page_site, render

routes = web.RouteTableDef()


def _filters(request: web.Request) -> dict[str, Any]:
    tz = page_site(request).tz
    q = request.query

    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(q[name]) if q.get(name) else None
        except ValueError as err:
            raise InvalidInput(f"{name} must look like 2026-01-31") from err

    first, last = day("from"), day("to")
    start = datetime.combine(first, time(), tzinfo=tz) if first else None
    end = datetime.combine(last, time(), tzinfo=tz) if last else None
    return {
        "station": q.get("station") or None, "id_tag": q.get("card") or None,
        "start": start.astimezone(UTC).replace(tzinfo=None) if start else None,
        "end": (end + timedelta(days=1)).astimezone(UTC).replace(tzinfo=None) if end else None,
        "state": q.get("state") or None, "flagged": q.get("flagged") == "1",
        "offline": q.get("offline") == "1",  # started while the charger could not reach us
        "form": {k: q.get(k, "") for k in ("from", "to", "station", "card", "state", "flagged",
                                           "offline")},
    }


async def _sessions(request: web.Request, limit: int) -> list[dict[str, Any]]:
    f = _filters(request)
    rows = await request.app[keys.DATABASE].read(
        history.list_sessions, None, limit, f["station"], f["id_tag"], f["start"], f["end"],
        f["state"], None, scope_of(request).sites)
    items = [r for _, r in rows]
    if f["offline"]:
        items = [r for r in items if OFFLINE_FLAG in r["flags"]]
    return [r for r in items if r["flags"]] if f["flagged"] else items


@routes.get("/sessions")
@require("desk")
async def sessions_page(request: web.Request) -> web.StreamResponse:
    items = await _sessions(request, 500)
    return render(request, "sessions.html", {"sessions": items,
                                             "form": _filters(request)["form"],
                                             "query": request.query_string})


@routes.get("/sessions.csv")
@require("desk")
async def sessions_csv(request: web.Request) -> web.StreamResponse:
    items = await _sessions(request, 100_000)
    tz = page_site(request).tz
    header = ["session", "transaction_id", "station", "connector", "driver", "id_tag", "state",
              time_header("started", tz), time_header("stopped", tz), "energy_kwh",
              "duration_s", "fee", "currency", "stop_reason", "flags"]
    rows = []
    for s in items:
        fee = s["fee"] or {}
        energy = Decimal(s["energy_wh"]) / 1000 if s["energy_wh"] is not None else None
        rows.append([s["id"], s["transaction_id"], s["station_id"], s["connector_id"],
                     s["driver_name"] or "", s["id_tag"], s["state"],
                     local_cell(s["started_at"], tz), local_cell(s["stopped_at"], tz), energy,
                     s["duration_s"], major_number(fee.get("amount"), fee.get("currency", "INR")),
                     fee.get("currency", ""), s["stop_reason"], " ".join(s["flags"])])
    return csv_response("sessions.csv", header, rows)


def _energy_from_start(session: dict[str, Any]) -> list[tuple[datetime, float]]:
    """The session's own energy (kWh since its start), not the charger's meter register."""
    register = [(s["timestamp"], s["value"]) for s in session["samples"]
                if s["measurand"] == "Energy.Active.Import.Register"
                and s["value"] is not None and not s["phase"]]
    if not register:
        return []
    base = session["meter_start_wh"]
    if base is None or base > register[0][1]:
        base = register[0][1]
    points = [(t, (v - base) / 1000) for t, v in register]
    if session["started_at"] is not None and points[0][0] > session["started_at"]:
        points.insert(0, (session["started_at"], 0.0))
    return points


async def _render_session(request: web.Request, message: str | None = None, ok: bool = True,
                          status: int = 200) -> web.StreamResponse:
    session = await request.app[keys.DATABASE].read(views.session_with_cost,
                                                    int(request.match_info["id"]))
    tz, _ = page_site(request).tz, gettext_for(request).gettext
    power = [(s["timestamp"], s["value"] / 1000) for s in session["samples"]
             if s["measurand"] == "Power.Active.Import" and s["value"] is not None
             and not s["phase"]]
    energy = _energy_from_start(session)
    if not energy and session["started_at"] is not None:
        # Raw samples pruned after the retention period: the downsampled curve remains.
        points = await request.app[keys.DATABASE].read(session_points, session["id"])
        first = points[0][1] if points else 0
        energy = [(session["started_at"] + timedelta(seconds=t), (wh - first) / 1000)
                  for t, wh in points]
    return render(request, "session.html", {
        "s": session, "message": message, "ok": ok,
        "power_chart": line_chart(power, unit="kW", title=_("Power"), tz=tz),
        "energy_chart": line_chart(energy, unit="kWh", title=_("Energy since the start"),
                                   tz=tz)}, status=status)


@routes.get("/sessions/{id:\\d+}")
@require("desk")
async def session_page(request: web.Request) -> web.StreamResponse:
    return await _render_session(request)


@routes.post("/sessions/{id:\\d+}/stop")
@require("admin")
async def stop_session(request: web.Request) -> web.StreamResponse:
    """Ask the charger to stop an active session (from its row or its page)."""
    session = await request.app[keys.DATABASE].read(history.get_session,
                                                    int(request.match_info["id"]))
    if session["state"] != "active" or session["transaction_id"] is None:
        return await _render_session(request, N_("This session is not charging."),
                                     ok=False, status=409)
    await record(request, "session.stop", str(session["id"]), {})
    try:
        answer = await request.app[keys.CONTROL].remote_stop(session["station_id"],
                                                             int(session["transaction_id"]))
    except ApplianceError as err:
        return await _render_session(request, err.message, ok=False, status=502)
    if answer != "Accepted":
        return await _render_session(
            request, Text(N_("The charger refused to stop (%(answer)s)."), answer=answer),
            ok=False, status=502)
    return await _render_session(request, N_("The charger accepted the stop; the session "
                                             "ends when it reports the stop."))


@routes.post("/sessions/{id:\\d+}/close")
@require("admin")
async def close_session(request: web.Request) -> web.StreamResponse:
    """A session whose StopTransaction never came: staff close it at its last meter value."""
    session_id = int(request.match_info["id"])
    staff = current_staff(request)
    actor = f"staff:{staff.username}" if staff else "staff"
    await request.app[keys.DATABASE].run(close_and_settle, session_id, utcnow(), actor,
                                         "closed_by_staff")
    await record(request, "session.close", str(session_id), {})
    raise web.HTTPSeeOther(f"/sessions/{session_id}")

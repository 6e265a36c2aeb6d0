"""Sessions pages: filters, CSV export, a session's page with its meter chart, closing a session
whose stop never came."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import views
from appliance.billing.closing import close_and_settle
from appliance.charging import history
from appliance.db.models import utcnow
from appliance.errors import InvalidInput
from appliance.reports.prune import session_points
from appliance.web.audit import record
from appliance.web.charts import line_chart
from appliance.web.export import csv_response
from appliance.web.session import current_staff, require
from appliance.web.templating import render

routes = web.RouteTableDef()


def _filters(request: web.Request) -> dict[str, Any]:
    tz = request.app[keys.SITE].tz
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
        "form": {k: q.get(k, "") for k in ("from", "to", "station", "card", "state", "flagged")},
    }


async def _sessions(request: web.Request, limit: int) -> list[dict[str, Any]]:
    f = _filters(request)
    rows = await request.app[keys.DATABASE].read(
        history.list_sessions, None, limit, f["station"], f["id_tag"], f["start"], f["end"],
        f["state"])
    items = [r for _, r in rows]
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
    header = ["session", "transaction_id", "station", "connector", "id_tag", "state",
              "started_at", "stopped_at", "energy_wh", "duration_s", "stop_reason", "flags"]
    rows = [[s["id"], s["transaction_id"], s["station_id"], s["connector_id"], s["id_tag"],
             s["state"], s["started_at"], s["stopped_at"], s["energy_wh"], s["duration_s"],
             s["stop_reason"], " ".join(s["flags"])] for s in items]
    return csv_response("sessions.csv", header, rows)


@routes.get("/sessions/{id:\\d+}")
@require("desk")
async def session_page(request: web.Request) -> web.StreamResponse:
    session = await request.app[keys.DATABASE].read(views.session_with_cost,
                                                    int(request.match_info["id"]))
    power = [(s["timestamp"], s["value"]) for s in session["samples"]
             if s["measurand"] == "Power.Active.Import" and s["value"] is not None
             and not s["phase"]]
    energy = [(s["timestamp"], s["value"]) for s in session["samples"]
              if s["measurand"] == "Energy.Active.Import.Register" and s["value"] is not None
              and not s["phase"]]
    if not energy and session["started_at"] is not None:
        # Raw samples pruned after the retention period: the downsampled curve remains.
        points = await request.app[keys.DATABASE].read(session_points, session["id"])
        energy = [(session["started_at"] + timedelta(seconds=t), wh) for t, wh in points]
    return render(request, "session.html", {
        "s": session, "power_chart": line_chart([(t, v / 1000) for t, v in power], unit="kW",
                                                 title="Power"),
        "energy_chart": line_chart([(t, v / 1000) for t, v in energy], unit="kWh",
                                   title="Energy register")})


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

"""Pages: cards (with the unknown tags to register), sessions (filters, CSV export, a session's
page with its meter chart), staff accounts and the audit log."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import cards, views
from appliance.billing.closing import close_and_settle
from appliance.charging import history
from appliance.db.models import AuditLog, StaffUser, utcnow
from appliance.errors import ApplianceError, InvalidInput
from appliance.people.staff import create_staff, reset_password
from appliance.reports.prune import session_points
from appliance.web.audit import record
from appliance.web.charts import line_chart
from appliance.web.session import current_staff, require
from appliance.web.templating import render

routes = web.RouteTableDef()
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """A spreadsheet never runs a cell from our exports as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_response(filename: str, header: list[str], rows: list[list[Any]]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[csv_safe(v) for v in row] for row in rows])
    return web.Response(text=out.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


# --- cards --------------------------------------------------------------------------------------
@routes.get("/cards")
@require("desk")
async def cards_page(request: web.Request, message: str | None = None, ok: bool = True,
                     status: int = 200) -> web.StreamResponse:
    q = request.query.get("q") or None
    database = request.app[keys.DATABASE]
    rows = await database.read(cards.list_cards, None, 500, q, request.query.get("status") or None)
    unknown = await database.read(cards.list_unknown, 50)
    return render(request, "cards.html", {"cards": [r for _, r in rows], "unknown": unknown,
                                          "q": q or "", "message": message, "ok": ok,
                                          "statuses": cards.STATUSES}, status=status)


@routes.post("/cards")
@require("desk")
async def cards_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    id_tag, action = str(form.get("id_tag", "")).strip(), str(form.get("action", "create"))
    database = request.app[keys.DATABASE]
    try:
        if action == "create":
            cards.check_id_tag(id_tag)
            await database.run(cards.create_card, id_tag, {"note": str(form.get("note", ""))})
        else:
            await database.run(cards.update_card, id_tag, {"status": str(form.get("status"))})
    except ApplianceError as err:
        return await cards_page(request, err.message, ok=False, status=400)
    await record(request, f"card.{action}", id_tag, {k: str(v) for k, v in form.items()
                                                     if k != "csrf_token"})
    return await cards_page(request, f"{id_tag}: saved.")


# --- sessions -----------------------------------------------------------------------------------
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


# --- staff and audit ----------------------------------------------------------------------------
def _staff() -> list[StaffUser]:
    return list(StaffUser.select().order_by(StaffUser.username))


@routes.get("/staff")
@require("admin")
async def staff_page(request: web.Request, message: str | None = None, ok: bool = True,
                     status: int = 200) -> web.StreamResponse:
    users = await request.app[keys.DATABASE].read(_staff)
    return render(request, "staff.html", {"users": users, "message": message, "ok": ok},
                  status=status)


def _set_disabled(username: str, disabled: bool) -> None:
    StaffUser.update(disabled=disabled).where(StaffUser.username == username).execute()


@routes.post("/staff")
@require("admin")
async def staff_post(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items()}
    database, username = request.app[keys.DATABASE], form.get("username", "").strip()
    try:
        if form.get("action") == "create":
            await database.run(create_staff, username, form.get("role", "desk"),
                               form.get("password", ""))
            text = f"{username}: created."
        elif form.get("action") == "reset":
            password = await database.run(reset_password, username, None)
            text = f"{username}: new password {password} (shown once)."
        else:
            await database.run(_set_disabled, username, form.get("action") == "disable")
            text = f"{username}: {form.get('action')}d."
    except ApplianceError as err:
        return await staff_page(request, err.message, ok=False, status=400)
    await record(request, f"staff.{form.get('action')}", username,
                 {"role": form.get("role", "")})
    return await staff_page(request, text)


def _audit(limit: int) -> list[AuditLog]:
    return list(AuditLog.select().order_by(AuditLog.id.desc()).limit(limit))


@routes.get("/audit")
@require("admin")
async def audit_page(request: web.Request) -> web.StreamResponse:
    rows = await request.app[keys.DATABASE].read(_audit, 500)
    return render(request, "audit.html", {"rows": rows})

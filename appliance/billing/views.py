"""A session as people read it with its money: the priced lines, stored at settlement or the
live cost while it runs (the same price function either way)."""

from __future__ import annotations

import json
from typing import Any

from appliance.billing.settlement import billed, cost
from appliance.charging import history
from appliance.db.models import ChargingSession, utcnow

COST_LINES = ("energy", "time", "session", "idle", "tax_added", "fee", "tax")


def cost_breakdown(s: ChargingSession) -> dict[str, Any] | None:
    if s.fee_breakdown:
        lines = json.loads(s.fee_breakdown)
    elif s.tariff_snapshot and s.state == "active":
        lines = cost(s, utcnow()).as_dict()
    else:
        return None
    snapshot = json.loads(s.tariff_snapshot) if s.tariff_snapshot else {}
    cur = lines.get("currency", snapshot.get("currency", "INR"))
    out: dict[str, Any] = {k: {"amount": int(lines[k]), "currency": cur} for k in COST_LINES}
    out["charged"] = billed(s, snapshot)
    out["live"] = not s.fee_breakdown
    out["bands"] = [{"name": line["name"], "energy_wh": line["energy_wh"],
                     "duration_s": line["seconds"],
                     "energy": {"amount": line["energy"], "currency": cur},
                     "time": {"amount": line["time"], "currency": cur}}
                    for line in lines.get("lines", [])]
    out["idle_s"] = int(lines.get("idle_s", 0))
    out["tariff"] = {"id": snapshot.get("tariff_id"), "version": snapshot.get("version"),
                     "name": snapshot.get("name"), "group": snapshot.get("group") or None}
    return out


def session_with_cost(session_id: int) -> dict[str, Any]:
    out = history.get_session(session_id)
    out["cost"] = cost_breakdown(ChargingSession.get_by_id(session_id))
    return out

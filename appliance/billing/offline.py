"""Back online: telling a start the charger made while it could not reach the box from one made
while it could, and the report of what happened while the box was away. A replayed start is
recorded and settled by the same calls as any other (authorize.start_transaction, settlement):
a personal card is free, a commercial card is charged at its stop even into debt; the flags
here are what staff see, and a replay is priced by the tariff version of its start time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from appliance.charging.metering import parse_time
from appliance.db.models import ChargingSession, Station
from appliance.db.models_money import TariffVersion

OFFLINE_FLAG = "offline_start"
# A start stamped this much before the connection it arrives on happened while away (less is
# the charger's clock, or the moment of reconnecting).
MARGIN = timedelta(seconds=5)


def start_flags(timestamp: Any, connected_at: datetime) -> list[str]:
    """[OFFLINE_FLAG] for a start the charger made before its current connection."""
    started = parse_time(timestamp)
    if started is not None and started < connected_at - MARGIN:
        return [OFFLINE_FLAG]
    return []


def tariff_as_started(session: ChargingSession) -> None:
    """An offline start is priced by the tariff as it was when the charger started it: a
    price changed since (while the charger could not reach the box) does not reach back. The
    session's snapshot takes that version's prices (its site values and group stay)."""
    snap = json.loads(session.tariff_snapshot or "{}")
    if snap.get("tariff_id") is None:
        return
    then = (TariffVersion.select().where((TariffVersion.tariff == snap["tariff_id"])
                                         & (TariffVersion.created_at <= session.started_at))
            .order_by(TariffVersion.version.desc()).first())
    if then is None or then.version == snap.get("version"):
        return
    snap.update(json.loads(then.snapshot))
    session.tariff_snapshot = json.dumps(snap)
    session.flags = ",".join(f for f in (session.flags, "tariff_as_started") if f)
    session.save()


def away_report(since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Sessions that started while their charger could not reach the box, newest first: who,
    where, energy, what was charged and what staff should look at."""
    query = (ChargingSession.select(ChargingSession, Station.cpid).join(Station)
             .where(ChargingSession.flags.contains(OFFLINE_FLAG)
                    & (ChargingSession.started_at >= since)))
    if until is not None:
        query = query.where(ChargingSession.started_at < until)
    return [{"session_id": s.id, "station_id": s.station.cpid, "connector_id": s.connector_id,
             "transaction_id": s.transaction_id, "id_tag": s.id_tag, "mode": s.mode,
             "started_at": s.started_at, "stopped_at": s.stopped_at, "state": s.state,
             "energy_wh": s.energy_wh, "fee_minor": s.fee_minor, "settled": s.settled,
             "start_status": s.start_status,
             "needs_staff": s.mode == "commercial" or s.start_status != "Accepted",
             "flags": [f for f in s.flags.split(",") if f]}
            for s in query.order_by(ChargingSession.started_at.desc()).limit(500)]

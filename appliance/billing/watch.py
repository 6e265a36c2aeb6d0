"""The running-out watchdog on reconnect: a charger that comes back gets the stop again for
every session still over its limit (the first RemoteStopTransaction may have been lost)."""

from __future__ import annotations

from datetime import datetime

from appliance.billing.settlement import watchdog
from appliance.db.models import ChargingSession


def overdue_stops(station_id: int, now: datetime) -> list[int]:
    """Transaction ids at this station that must be stopped now."""
    active = ChargingSession.select().where((ChargingSession.station == station_id)
                                            & (ChargingSession.state == "active")
                                            & (ChargingSession.mode == "commercial"))
    return [s.transaction_id for s in active if watchdog(s, now)]

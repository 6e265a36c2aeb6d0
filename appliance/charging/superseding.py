"""Sessions left open by a charger that never sent their StopTransaction (a power cut, a reboot,
a simulator that never stops a start we refused) must not lock their card out or run on:

- a newer StartTransaction on the same connector supersedes the open session there (closed as
  `superseded` by its last meter state, then settled by the money rules, flagged for staff);
- only a card that is really charging elsewhere now gets ConcurrentTx: an open session that we
  answered Accepted, on another connector, at a station that is online, whose connector is not
  reporting a status that cannot coexist with a transaction;
- a StopTransaction that arrives after such a close is still applied, once (see
  `sessions.record_stop`), and the caller corrects the charge."""

from __future__ import annotations

from datetime import datetime

from appliance.charging import sessions
from appliance.db import fastsql
from appliance.db.fastsql import col
from appliance.db.models import ChargingSession, Connector, Station

# Statuses a connector with a running transaction cannot report.
IDLE_STATUSES = frozenset({"Available", "Unavailable", "Faulted"})
SUPERSEDED = "superseded"


def open_on(station_id: int, connector_id: int, newer_than: datetime,
            except_id: int) -> list[int]:
    """Open (active or suspect) sessions on the connector that started before `newer_than`."""
    cs = ChargingSession  # cached SQL: every StartTransaction asks
    rows = fastsql.select_in(
        cs, [cs.id], cs.station, [station_id],
        f"{col(cs.connector_id)} = {{p}} AND {col(cs.state)} IN ('active', 'suspect') AND "
        f"{col(cs.id)} <> {{p}} AND {col(cs.started_at)} <= {{p}}",
        [connector_id, except_id, cs.started_at.db_value(newer_than)])
    return sorted(int(sid) for (sid,) in rows)


def supersede(session: ChargingSession, at: datetime) -> list[ChargingSession]:
    """Close every older open session on `session`'s connector; returns them (to be settled)."""
    closed = []
    for old_id in open_on(session.station_id, session.connector_id, session.started_at,
                          session.id):
        old = sessions.close_open(old_id, at, SUPERSEDED)
        if old is not None:
            closed.append(old)
    return closed


# Statuses that end a transaction on the connector, once held for the grace period (a queued
# StopTransaction may still be on its way).
ENDING_STATUSES = ("Available", "Unavailable")


def idle_suspects(status_before: datetime) -> list[int]:
    """Suspect sessions whose connector has reported a status that cannot coexist with a
    transaction since before `status_before` (and since the session started)."""
    query = (ChargingSession.select(ChargingSession.id)
             .join(Connector, on=((Connector.station == ChargingSession.station)
                                  & (Connector.connector_id == ChargingSession.connector_id)))
             .where((ChargingSession.state == "suspect")
                    & Connector.status.in_(ENDING_STATUSES)
                    & (Connector.status_at < status_before)
                    & (Connector.status_at > ChargingSession.started_at)))
    return [s.id for s in query]


def charging_elsewhere(id_tag_key: str, station_id: int, connector_id: int | None) -> bool:
    """Is this card really charging somewhere else right now?"""
    rows = fastsql.select_in(
        ChargingSession, [ChargingSession.station, ChargingSession.connector_id],
        ChargingSession.id_tag_key, [id_tag_key],
        f"{col(ChargingSession.state)} = 'active' AND "
        f"{col(ChargingSession.start_status)} = 'Accepted'")
    for other_station, other_connector in rows:
        if (other_station, other_connector) == (station_id, connector_id):
            continue  # the same connector: the new start supersedes it
        station = Station.get_or_none(Station.id == other_station)
        if station is None or not station.online:
            continue  # an offline charger's open session blocks nothing
        connector = Connector.get_or_none((Connector.station == other_station)
                                          & (Connector.connector_id == other_connector))
        if connector is not None and connector.status in IDLE_STATUSES:
            continue
        return True
    return False

"""Which process holds each charger's socket, as rows of `charger_lease` (synchronous database
functions for `database.run` / `database.read`, like every other room's)."""

from __future__ import annotations

from datetime import datetime, timedelta

from appliance.db.fastsql import col, execute, sql, table
from appliance.db.models import Station
from appliance.db.models_cluster import ChargerLease


def _claim_sql(p: str) -> str:
    lease, station = table(ChargerLease), table(Station)
    sid, proc, exp, taken = (col(ChargerLease.station), col(ChargerLease.process),
                             col(ChargerLease.expires_at), col(ChargerLease.taken_at))
    # Data-modifying CTEs see the rows as they were when the statement began: `old` is the
    # lease before this claim, read in the same round trip as the upsert and the station.
    return (f"WITH old AS (SELECT {proc}, {exp} FROM {lease} WHERE {sid} = {p}), "
            f"up AS (INSERT INTO {lease} ({sid}, {proc}, {exp}, {taken}) "
            f"VALUES ({p}, {p}, {p}, {p}) ON CONFLICT ({sid}) DO UPDATE SET "
            f"{proc} = EXCLUDED.{proc}, {exp} = EXCLUDED.{exp}, {taken} = EXCLUDED.{taken}), "
            f"st AS (UPDATE {station} SET {col(Station.online)} = true, "
            f"{col(Station.last_seen_at)} = {p}, {col(Station.ocpp_version)} = {p} "
            f"WHERE {col(Station.id)} = {p}) "
            f"SELECT {proc}, {exp} FROM old")


def claim(station_id: int, process: str, ttl_s: float, now: datetime, version: str
          ) -> str | None:
    """This process holds the charger now (a charger that connects here takes its lease over,
    from a dead process or a live one). Marks the station online, speaking OCPP `version` (a
    new firmware may speak the other one). Returns the other process
    that held a live lease, which must let its socket go. One statement (a round trip to the
    server for each charger that connects)."""
    expires = now + timedelta(seconds=ttl_s)
    old = execute(sql("leases:claim", _claim_sql),
                  (station_id, station_id, process, expires, now, now, version,
                   station_id)).fetchone()
    if old is None or old[0] == process or old[1] <= now:
        return None
    return str(old[0])


def _release_sql(p: str) -> str:
    lease, sid = table(ChargerLease), col(ChargerLease.station)
    return (f"WITH gone AS (DELETE FROM {lease} WHERE {sid} = {p} AND "
            f"{col(ChargerLease.process)} = {p} RETURNING {sid}) "
            f"UPDATE {table(Station)} SET {col(Station.online)} = false, "
            f"{col(Station.last_seen_at)} = {p} WHERE {col(Station.id)} IN "
            f"(SELECT {sid} FROM gone) RETURNING {col(Station.id)}")


def release(station_id: int, process: str, now: datetime) -> bool:
    """The socket closed: give the lease back and mark the station offline, unless another
    process has taken it over meanwhile (then its row and the station stay as they are)."""
    gone = execute(sql("leases:release", _release_sql), (station_id, process, now)).fetchone()
    return gone is not None


def renew(process: str, ttl_s: float, now: datetime) -> int:
    """Every few seconds: all of this process's leases live on."""
    return int(ChargerLease.update(expires_at=now + timedelta(seconds=ttl_s))
               .where(ChargerLease.process == process).execute())


def holders(now: datetime) -> dict[str, str]:
    """Live leases: charge point id (upper case) -> process."""
    query = (ChargerLease.select(Station.key, ChargerLease.process)
             .join(Station).where(ChargerLease.expires_at > now).tuples())
    return dict(query)


def holder(charge_point_id: str, now: datetime) -> str | None:
    row = (ChargerLease.select(ChargerLease.process).join(Station)
           .where((Station.key == charge_point_id.upper()) & (ChargerLease.expires_at > now))
           .tuples().first())
    return str(row[0]) if row else None


def expire(now: datetime) -> list[str]:
    """The leader, every few seconds: the leases of processes that died are let go and their
    chargers marked offline (until they connect to another process). Returns their ids."""
    dead = list(ChargerLease.select(ChargerLease.station_id, Station.cpid)
                .join(Station).where(ChargerLease.expires_at <= now).tuples())
    if not dead:
        return []
    ids = [station_id for station_id, _ in dead]
    ChargerLease.delete().where((ChargerLease.station << ids)
                                & (ChargerLease.expires_at <= now)).execute()
    Station.update(online=False).where(Station.id << ids).execute()
    return [cpid for _, cpid in dead]


def offline_unleased(now: datetime) -> None:
    """At start: stations marked online that no live process holds are offline (the hub's
    `mark_all_offline`, for many processes: another process's chargers stay online)."""
    live = ChargerLease.select(ChargerLease.station_id).where(ChargerLease.expires_at > now)
    Station.update(online=False).where(Station.online & ~(Station.id << live)).execute()

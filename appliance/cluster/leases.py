"""Which process holds each charger's socket, as rows of `charger_lease` (synchronous database
functions for `database.run` / `database.read`, like every other room's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from appliance.db import fastsql
from appliance.db.fastsql import col, execute, sql, table
from appliance.db.models import Station
from appliance.db.models_cluster import ChargerLease


def _claim_sql(p: str, n: int) -> str:
    """The claims of `n` stations (PostgreSQL: leases live on a hosted installation's shared
    database): each lease taken over, each station marked online at its OCPP version, and the
    leases as they were before, in one statement."""
    lease, station = table(ChargerLease), table(Station)
    sid, proc, exp, taken = (col(ChargerLease.station), col(ChargerLease.process),
                             col(ChargerLease.expires_at), col(ChargerLease.taken_at))
    first = f"(CAST({p} AS integer), {p}, CAST({p} AS timestamp), CAST({p} AS timestamp), {p})"
    rows = ", ".join([first, *[f"({', '.join([p] * 5)})"] * (n - 1)])
    # Data-modifying CTEs see the rows as they were when the statement began: `old` is the
    # leases before these claims, read in the same round trip as the upsert and the stations.
    return (f"WITH v(station, process, expires, taken, version) AS (VALUES {rows}), "
            f"old AS (SELECT {sid} AS station, {proc} AS process, {exp} AS expires FROM "
            f"{lease} WHERE {sid} IN (SELECT station FROM v)), "
            f"up AS (INSERT INTO {lease} ({sid}, {proc}, {exp}, {taken}) "
            f"SELECT station, process, expires, taken FROM v ON CONFLICT ({sid}) DO UPDATE SET "
            f"{proc} = EXCLUDED.{proc}, {exp} = EXCLUDED.{exp}, {taken} = EXCLUDED.{taken}), "
            f"st AS (UPDATE {station} SET {col(Station.online)} = true, "
            f"{col(Station.last_seen_at)} = v.taken, {col(Station.ocpp_version)} = v.version "
            f"FROM v WHERE {station}.{col(Station.id)} = v.station) "
            f"SELECT station, process, expires FROM old")


Claim = tuple[int, str, float, datetime, str]  # station id, process, ttl (s), now, version


def claim_many(claims: Sequence[Claim]) -> list[str | None]:
    """`claim` for the chargers of a batch (a boot storm's connections go to the report writer
    together): one statement a piece (a power of two stations) instead of a round trip to the
    server for each charger, which was most of the writer's time in a PostgreSQL boot storm. A
    station claimed twice in the batch is claimed once, by its last claim; its first claim
    answers as the lease was, the later ones find this process."""
    last: dict[int, tuple[Any, ...]] = {}
    for station_id, process, ttl_s, now, version in claims:
        last[station_id] = (station_id, process, now + timedelta(seconds=ttl_s), now, version)
    old: dict[int, tuple[str, datetime]] = {}
    # In station order: two processes' claims then take their rows' locks in the same order.
    rows = [last[sid] for sid in sorted(last)]
    for piece in fastsql.pieces(rows):
        n = len(piece)
        found = execute(sql(f"leases:claim:{n}", lambda p, n=n: _claim_sql(p, n)),
                        [v for row in piece for v in row]).fetchall()
        old.update({int(sid): (str(proc), exp) for sid, proc, exp in found})
    out: list[str | None] = []
    seen: set[int] = set()
    for station_id, process, _ttl, now, _version in claims:
        before = old.get(station_id) if station_id not in seen else None
        seen.add(station_id)
        out.append(None if before is None or before[0] == process or before[1] <= now
                   else before[0])
    return out


def claim(station_id: int, process: str, ttl_s: float, now: datetime, version: str
          ) -> str | None:
    """This process holds the charger now (a charger that connects here takes its lease over,
    from a dead process or a live one). Marks the station online, speaking OCPP `version` (a
    new firmware may speak the other one). Returns the other process that held a live lease,
    which must let its socket go. A batch of one (`claim_many`)."""
    return claim_many([(station_id, process, ttl_s, now, version)])[0]


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

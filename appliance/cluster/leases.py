"""Which process holds each charger's socket, as rows of `charger_lease` (synchronous database
functions for `database.run` / `database.read`, like every other room's)."""

from __future__ import annotations

from datetime import datetime, timedelta

from appliance.db.models import Station
from appliance.db.models_cluster import ChargerLease


def claim(station_id: int, process: str, ttl_s: float, now: datetime) -> str | None:
    """This process holds the charger now (a charger that connects here takes its lease over,
    from a dead process or a live one). Marks the station online. Returns the other process
    that held a live lease, which must let its socket go."""
    old = ChargerLease.get_or_none(ChargerLease.station == station_id)
    previous = (old.process if old is not None and old.process != process
                and old.expires_at > now else None)
    (ChargerLease.insert(station=station_id, process=process,
                         expires_at=now + timedelta(seconds=ttl_s), taken_at=now)
     .on_conflict(conflict_target=[ChargerLease.station],
                  update={ChargerLease.process: process,
                          ChargerLease.expires_at: now + timedelta(seconds=ttl_s),
                          ChargerLease.taken_at: now})
     .execute())
    Station.update(online=True, last_seen_at=now).where(Station.id == station_id).execute()
    return previous


def release(station_id: int, process: str, now: datetime) -> bool:
    """The socket closed: give the lease back and mark the station offline, unless another
    process has taken it over meanwhile (then its row and the station stay as they are)."""
    gone = (ChargerLease.delete()
            .where((ChargerLease.station == station_id) & (ChargerLease.process == process))
            .execute())
    if gone:
        Station.update(online=False, last_seen_at=now).where(Station.id == station_id).execute()
    return bool(gone)


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

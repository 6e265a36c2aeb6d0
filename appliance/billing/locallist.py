"""Local authorization lists: which cards a charger keeps for when the box is away (personal
cards; commercial ones only if the site allows it), and the plan that brings a charger's list
from what it holds to that, in differential parts no larger than it takes. Plain functions: the
database ones for the seam, `plan` pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import JOIN

from appliance.charging.control import ListEntry
from appliance.db import fastsql
from appliance.db.fastsql import col, table
from appliance.db.models import Driver, IdTag, Station, utcnow
from appliance.db.models_offline import LocalList
from appliance.db.site import site_value
from appliance.errors import N_, Text

NO_LIST = N_("the charger has no local list")
TOO_MANY = N_("more cards than the charger keeps")
REFUSED = N_("SendLocalList answered %(status)s")
PROBLEMS = (NO_LIST, TOO_MANY, REFUSED)  # stored in English, shown in the reader's language
# (id tag as printed, status, parent id tag[, the kind of token the card comes as, when the
# card names one: 2.0.1's IdToken type]); an entry without a kind stays three long, as stored.
Entry = tuple[str, ...]


def wanted(at: datetime) -> dict[str, Entry]:
    """key -> entry for every card a charger should know offline. Blocked and expired cards
    stay in the list as such: a charger's list outranks its cache, so a card blocked while a
    charger was away is refused there however the charger remembers it."""
    commercial = bool(site_value("offline_commercial", False))
    rows: Any  # IdTags carrying their driver's joined columns (objects()), which no type knows
    rows = (IdTag.select(IdTag.key, IdTag.id_tag, IdTag.status, IdTag.expiry, IdTag.mode,
                         IdTag.parent_id_tag, IdTag.token_type, Driver.group_tag, Driver.blocked,
                         Driver.retired_at)
            .join(Driver, JOIN.LEFT_OUTER).where(IdTag.retired_at.is_null()).objects())
    out: dict[str, Entry] = {}
    for r in rows:
        if r.mode == "commercial" and not commercial:
            continue  # needs the box: unknown to the charger, so refused while it is away
        status = r.status
        if status == "Accepted" and (r.blocked or r.retired_at is not None):
            status = "Blocked"
        if status == "Accepted" and r.expiry is not None and r.expiry <= at:
            status = "Expired"
        entry: Entry = (r.id_tag, status, r.group_tag or r.parent_id_tag or "")
        out[r.key] = (*entry, r.token_type) if r.token_type else entry
    return out


@dataclass(frozen=True)
class Held:
    station_id: int
    version: int
    entries: dict[str, Entry]


def held(cpid: str) -> Held | None:
    """What a managed, approved charger holds as far as the box knows (None: not ours to
    manage): `held_many` of one."""
    return held_many([cpid]).get(cpid)


def held_many(cpids: list[str]) -> dict[str, Held]:
    """`held` of these chargers, by the charge point id each asked with (those not ours to
    manage left out): one statement (each charger of a boot storm asks; gathered by
    `Database.read_gathered`)."""
    def inner(p: str, in_list: str) -> str:
        st, ll = table(Station), table(LocalList)
        return (f"SELECT s.{col(Station.key)}, s.{col(Station.id)}, s.{col(Station.approved)}, "
                f"s.{col(Station.managed)}, l.{col(LocalList.version)}, "
                f"l.{col(LocalList.entries)} FROM {st} AS s LEFT JOIN {ll} AS l "
                f"ON l.{col(LocalList.station)} = s.{col(Station.id)} "
                f"WHERE s.{col(Station.key)} IN ({in_list}) "
                f"AND s.{col(Station.retired_at)} IS NULL")

    keys = {cpid: cpid.upper() for cpid in cpids}
    by_key: dict[str, Held] = {}
    for key, station_id, approved, managed, version, entries in fastsql.query_in(
            "locallist:held", 6, inner, set(keys.values())):
        if not approved or not managed:
            continue
        by_key[key] = Held(station_id, 0, {}) if version is None else Held(
            station_id, version, {k: tuple(v) for k, v in json.loads(entries).items()})
    return {cpid: by_key[key] for cpid, key in keys.items() if key in by_key}


@dataclass(frozen=True)
class Part:
    version: int
    full: bool
    changes: dict[str, Entry | None]  # key -> entry, None: remove


def plan(held: Held, charger_version: int, want: dict[str, Entry], max_send: int,
         max_length: int | None) -> tuple[list[Part], bool]:
    """The SendLocalList calls that make the charger hold `want` (cut to `max_length`), each
    at most `max_send` entries, versions counting up; and whether the result is all of `want`.
    When the charger's version is not the one the box last set, the list is sent again in full:
    the first part replaces the list, the rest add to it."""
    max_send = max(1, max_send)
    keys = sorted(want)
    complete = max_length is None or len(keys) <= max_length
    if not complete:
        # Keep the cards that may charge first, then the refusals.
        keys = sorted(keys, key=lambda k: (want[k][1] != "Accepted", k))[:max_length]
    target = {k: want[k] for k in keys}
    version = max(held.version, charger_version, 0)
    if charger_version != held.version or held.version <= 0:
        items = sorted(target.items())
        chunks = [items[i:i + max_send] for i in range(0, len(items), max_send)] or [[]]
        return [Part(version + n + 1, n == 0, dict(chunk))
                for n, chunk in enumerate(chunks)], complete
    changes: dict[str, Entry | None] = {k: v for k, v in target.items()
                                        if held.entries.get(k) != v}
    changes.update({k: None for k in held.entries if k not in target})
    items2 = sorted(changes.items())
    return [Part(version + n + 1, False, dict(items2[i:i + max_send]))
            for n, i in enumerate(range(0, len(items2), max_send))], complete


def _kind(entry: Entry) -> str:
    return entry[3] if len(entry) > 3 else ""


def entries_of(part: Part, held_entries: dict[str, Entry]) -> list[ListEntry]:
    """A part as the port's version-neutral entries (a removal names the tag it removes)."""
    out = []
    for key, entry in part.changes.items():
        if entry is None:
            gone = held_entries.get(key, (key, "", ""))
            out.append(ListEntry(gone[0], None, token_type=_kind(gone)))
        else:
            out.append(ListEntry(entry[0], entry[1], entry[2], token_type=_kind(entry)))
    return out


def record_part(station_id: int, part: Part, entries: dict[str, Entry]) -> dict[str, Entry]:
    """The charger accepted a part: it now holds this version. Returns what it holds."""
    now_held = {} if part.full else dict(entries)
    for key, entry in part.changes.items():
        if entry is None:
            now_held.pop(key, None)
        else:
            now_held[key] = entry
    _save(station_id, version=part.version, entries=json.dumps(now_held, sort_keys=True))
    return now_held


def record_outcome(station_id: int, current: bool, wanted_count: int,
                   max_length: int | None, problem: str) -> None:
    _save(station_id, current=current, wanted=wanted_count, max_length=max_length,
          problem=problem[:200])


def _save(station_id: int, **fields: Any) -> None:
    fields["checked_at"] = utcnow()
    with LocalList._meta.database.atomic():
        row = LocalList.get_or_none(LocalList.station == station_id)
        if row is None:
            LocalList.create(station=station_id, **fields)
        else:
            LocalList.update(**fields).where(LocalList.id == row.id).execute()


def status_of(station_id: int) -> dict[str, Any] | None:
    """For the charger's page: the list version, whether it is current, and why not."""
    row = LocalList.get_or_none(LocalList.station == station_id)
    if row is None:
        return None
    return {"version": row.version, "current": row.current, "wanted": row.wanted,
            "held": len(json.loads(row.entries)), "max_length": row.max_length,
            "problem": Text.recognise(row.problem or "", PROBLEMS), "checked_at": row.checked_at}


def managed_online_cpids() -> list[str]:
    return [s.cpid for s in Station.select(Station.cpid).where(
        Station.online & Station.approved & Station.managed & Station.retired_at.is_null())]


def behind_cpids() -> list[str]:
    """Connected managed chargers whose list is not known to be current (a sync failed, or a
    change event was lost): the keeper tries them again now and then."""
    current = {r.station_id for r in LocalList.select(LocalList.station).where(
        LocalList.current | (LocalList.problem == NO_LIST))}
    return [s.cpid for s in Station.select(Station.id, Station.cpid).where(
        Station.online & Station.approved & Station.managed & Station.retired_at.is_null())
        if s.id not in current]

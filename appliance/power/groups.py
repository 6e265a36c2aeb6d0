"""Power groups as staff set them, and what the load loop reads: members, active sessions, the
per-phase currents chargers report. Plain synchronous functions for the database seam."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from appliance.db.models import ChargingSession, MeterReading, Station, utcnow
from appliance.db.models_offline import PowerGroup, PowerMember
from appliance.errors import N_, InvalidInput, NotFound
from appliance.power.allocate import Limits, limit_from_kw

PHASE_NAMES = ("L1", "L2", "L3")


@dataclass
class Group:
    id: int
    name: str
    limits: Limits
    default_a: float
    phases: int
    members: dict[str, float] = field(default_factory=dict)  # CPID (upper) -> max A
    refused: set[str] = field(default_factory=set)  # CPIDs (upper) refusing profiles

    def safe_default_a(self) -> float:
        """Each charger's default when the box is away: all of them together stay under the
        limit, and none above the group's default."""
        share = self.limits.limit_a / max(1, len(self.members))
        return max(0.0, min(float(self.default_a), int(share * 10) / 10))


def _limit_a(g: PowerGroup) -> float:
    if g.limit_a is not None:
        return float(g.limit_a)
    return limit_from_kw(float(g.limit_kw or 0), g.voltage, g.phases)


def load_groups() -> list[Group]:
    """Every group with its members; chargers in no group belong to the whole-site group."""
    groups = {g.id: Group(g.id, g.name, Limits(_limit_a(g), float(g.min_a), g.commercial_first),
                          float(g.default_a), g.phases)
              for g in PowerGroup.select()}
    site = next((g.id for g in PowerGroup.select().where(PowerGroup.whole_site)), None)
    members = {m.station_id: m for m in PowerMember.select()}
    for s in Station.select(Station.id, Station.cpid).where(
            Station.approved & Station.retired_at.is_null()):
        m = members.get(s.id)
        gid = m.group_id if m is not None and m.group_id is not None else site
        if gid is None or gid not in groups:
            continue
        groups[gid].members[s.cpid.upper()] = float(m.max_a) if m is not None else 32.0
        if m is not None and m.refused:
            groups[gid].refused.add(s.cpid.upper())
    return list(groups.values())


@dataclass(frozen=True)
class ActiveSession:
    session_id: int
    cpid: str
    connector_id: int
    transaction_id: int
    commercial: bool


def active_sessions() -> list[ActiveSession]:
    rows = (ChargingSession.select(ChargingSession.id, ChargingSession.connector_id,
                                   ChargingSession.transaction_id, ChargingSession.mode,
                                   Station.cpid)
            .join(Station).where(ChargingSession.state == "active")
            .order_by(ChargingSession.id).tuples())
    return [ActiveSession(i, cpid, c, tx, mode == "commercial") for i, c, tx, mode, cpid in rows]


def session_by_tx(cpid: str, transaction_id: int) -> ActiveSession | None:
    found = [s for s in _by(Station.key == cpid.upper(),
                            ChargingSession.transaction_id == transaction_id)]
    return found[0] if found else None


def _by(*where: Any) -> list[ActiveSession]:
    rows = (ChargingSession.select(ChargingSession.id, ChargingSession.connector_id,
                                   ChargingSession.transaction_id, ChargingSession.mode,
                                   ChargingSession.state, Station.cpid)
            .join(Station).where(*where).tuples())
    return [ActiveSession(i, cpid, c, tx, mode == "commercial")
            for i, c, tx, mode, state, cpid in rows if state == "active"]


def phase_currents(session_id: int) -> list[float | None] | None:
    """Current.Import on L1-L3 in the session's newest reading (None when it reports none)."""
    row = (MeterReading.select(MeterReading.sampled).where(MeterReading.session == session_id)
           .order_by(MeterReading.id.desc()).first())
    if row is None:
        return None
    currents: list[float | None] = [None, None, None]
    for sv in json.loads(row.sampled or "[]"):
        if not isinstance(sv, dict) or sv.get("measurand") != "Current.Import":
            continue
        phase = str(sv.get("phase") or "")
        if phase[:2] in PHASE_NAMES:
            try:
                currents[PHASE_NAMES.index(phase[:2])] = float(str(sv.get("value")))
            except (TypeError, ValueError):
                continue
    return currents if any(c is not None for c in currents) else None


def mark_refused(cpid: str, refused: bool) -> None:
    station = Station.get_or_none(Station.key == cpid.upper())
    if station is None:
        return
    at = utcnow() if refused else None
    (PowerMember.insert(station=station.id, refused=refused, refused_at=at)
     .on_conflict(conflict_target=[PowerMember.station],
                  update={PowerMember.refused: refused, PowerMember.refused_at: at})
     .execute())


# --- what staff set (through the API) ------------------------------------------------------------
GROUP_FIELDS = ("whole_site", "limit_a", "limit_kw", "phases", "voltage", "min_a", "default_a",
                "commercial_first")


def group_dict(g: PowerGroup) -> dict[str, Any]:
    return {"name": g.name, **{f: getattr(g, f) for f in GROUP_FIELDS},
            "limit_a_effective": _limit_a(g)}


def list_groups() -> list[dict[str, Any]]:
    return [group_dict(g) for g in PowerGroup.select().order_by(PowerGroup.name)]


def save_group(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Create or change a group; exactly one limit (A per phase or kW) is required."""
    name = str(name).strip()[:64]
    if not name:
        raise InvalidInput(N_("A power group needs a name."), details={"field": "name"})
    group = PowerGroup.get_or_none(PowerGroup.name == name) or PowerGroup(name=name)
    for key in GROUP_FIELDS:
        if key in fields:
            value = fields[key]
            if key in ("whole_site", "commercial_first"):
                value = bool(value)
            elif value is not None:
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise InvalidInput(N_("%(field)s must be a number of 0 or more."),
                                       params={"field": key}, details={"field": key})
                value = int(value)
            setattr(group, key, value)
    if group.limit_a is None and group.limit_kw is None:
        raise InvalidInput(N_("A power group needs a limit in A per phase or in kW."),
                           details={"field": "limit_a"})
    if group.phases not in (1, 3):
        raise InvalidInput(N_("Phases must be 1 or 3."), details={"field": "phases"})
    with PowerGroup._meta.database.atomic():
        if group.whole_site:
            PowerGroup.update(whole_site=False).where(PowerGroup.name != name).execute()
        group.save()
    return group_dict(group)


def set_member(cpid: str, group_name: str | None, max_a: int | None) -> dict[str, Any]:
    station = Station.get_or_none((Station.key == cpid.upper()) & Station.retired_at.is_null())
    if station is None:
        raise NotFound(N_("No charger %(cpid)s."), params={"cpid": cpid},
                       details={"station_id": cpid})
    group = None
    if group_name:
        group = PowerGroup.get_or_none(PowerGroup.name == group_name)
        if group is None:
            raise NotFound(N_("No power group %(name)s."), params={"name": group_name},
                           details={"group": group_name})
    update: dict[Any, Any] = {PowerMember.group: group.id if group else None}
    if max_a is not None:
        update[PowerMember.max_a] = int(max_a)
    (PowerMember.insert(station=station.id, group=group.id if group else None,
                        max_a=int(max_a) if max_a is not None else 32)
     .on_conflict(conflict_target=[PowerMember.station], update=update).execute())
    return {"station_id": station.cpid, "group": group_name or None, "max_a": max_a}


def member_of(station_id: int) -> dict[str, Any] | None:
    """For the charger's page: its group, what it may draw, whether it refuses profiles."""
    m = PowerMember.get_or_none(PowerMember.station == station_id)
    group = PowerGroup.get_or_none(PowerGroup.id == m.group_id) if m and m.group_id else \
        PowerGroup.get_or_none(PowerGroup.whole_site)
    if group is None:
        return None
    return {"group": group.name, "max_a": m.max_a if m else 32,
            "refused": bool(m and m.refused), "refused_at": m.refused_at if m else None}

"""The site at a glance for the dashboard: every charger and connector with its live state and
running session, and today's totals. Plain synchronous read functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from peewee import fn

from appliance.billing.settlement import cost
from appliance.db.models import (
    ChargingSession,
    Connector,
    Driver,
    LedgerEntry,
    Station,
    StatusEvent,
    utcnow,
)
from appliance.db.sums import money_sum
from appliance.reports.daily import Interval, day_bounds, overlap_s, status_intervals, union


@dataclass
class ConnectorView:
    connector_id: int
    state: str  # the OCPP status, or Offline when the station is
    error_code: str
    since: datetime | None
    session_id: int | None = None
    id_tag: str = ""
    energy_wh: int = 0
    power_w: int | None = None
    cost_minor: int | None = None  # live cost of a priced (commercial) session
    driver: str = ""


@dataclass
class StationView:
    id: str
    description: str
    online: bool
    approved: bool
    vendor: str
    model: str
    last_seen_at: datetime | None
    connectors: list[ConnectorView] = field(default_factory=list)

    @property
    def attention(self) -> bool:
        return not self.online or any(c.state in ("Faulted", "Unavailable")
                                      for c in self.connectors)


def site_overview(sites: frozenset[int] | None = None) -> list[StationView]:
    """Every live charger (of some sites only, when `sites` names them)."""
    query = Station.select().where(Station.retired_at.is_null())
    if sites is not None:
        query = query.where(Station.site_id.in_(sorted(sites)))
    stations = list(query.order_by(Station.cpid))
    connectors: dict[int, list[Connector]] = {}
    for c in Connector.select().where(Connector.connector_id > 0).order_by(Connector.connector_id):
        connectors.setdefault(c.station_id, []).append(c)
    running = {(s.station_id, s.connector_id): s for s in ChargingSession.select().where(
        ChargingSession.state == "active")}
    drivers: dict[int | None, str]
    drivers = {d.id: d.name for d in Driver.select(Driver.id, Driver.name).where(
        Driver.id.in_([s.driver_id for s in running.values() if s.driver_id]))}
    views = []
    for st in stations:
        view = StationView(st.cpid, st.description, st.online, st.approved, st.vendor, st.model,
                           st.last_seen_at)
        for c in connectors.get(st.id, []):
            session = running.get((st.id, c.connector_id))
            cv = ConnectorView(c.connector_id, c.status if st.online else "Offline", c.error_code,
                               c.updated_at if st.online else st.last_seen_at)
            if session is not None:
                cv.session_id, cv.id_tag = session.id, session.id_tag
                cv.energy_wh, cv.power_w = session.energy_wh, session.power_w
                cv.driver = drivers.get(session.driver_id, "")
                if session.mode == "commercial" and session.tariff_snapshot:
                    cv.cost_minor = cost(session, utcnow()).fee
            view.connectors.append(cv)
        views.append(view)
    return views


@dataclass
class Totals:
    energy_wh: int
    sessions: int
    charging_s: float
    active: int
    fees_minor: int = 0


def today_totals(tz: ZoneInfo, now: datetime | None = None,
                 sites: frozenset[int] | None = None) -> Totals:
    """Today's site totals: energy and sessions started today, hours charging (per charger the
    union over its connectors, summed over chargers), sessions running now. With `sites`, the
    sessions of those sites' chargers only (and no charging hours: those are the site's
    nightly figures)."""
    now = now or utcnow()
    start, end = day_bounds(datetime.now(tz).date(), tz)
    mine = ChargingSession.station.in_(Station.select(Station.id).where(
        Station.site_id.in_(sorted(sites)))) if sites is not None else True
    started = list(ChargingSession.select(ChargingSession.energy_wh).where(
        (ChargingSession.started_at >= start) & (ChargingSession.started_at < end)
        & mine).tuples())
    active = ChargingSession.select().where((ChargingSession.state == "active") & mine).count()
    if sites is not None:
        return Totals(sum(e for (e,) in started), len(started), 0.0, active,
                      fees_posted(start, end, sites))
    return Totals(sum(e for (e,) in started), len(started), _charging_seconds(start, now),
                  active, fees_posted(start, end))


def fees_posted(start: datetime, end: datetime, sites: frozenset[int] | None = None) -> int:
    """Fees count on the day their charge row is posted (so days match the ledger), less the
    refunds posted that day (at some sites' chargers only, when `sites` names them)."""
    query = (LedgerEntry.select(fn.COALESCE(money_sum(LedgerEntry.amount), 0))
             .where(LedgerEntry.kind.in_(("charge", "refund"))
                    & (LedgerEntry.created_at >= start) & (LedgerEntry.created_at < end)))
    if sites is not None:
        query = query.where(LedgerEntry.session.in_(
            ChargingSession.select(ChargingSession.id).join(Station)
            .where(Station.site_id.in_(sorted(sites)))))
    total = query.scalar()
    return -int(total or 0)


def _charging_seconds(start: datetime, now: datetime) -> float:
    """Today's hours charging summed over chargers (per charger the union of connectors).
    A connector with no event today kept its current state all day; one with events needs
    its last state before midnight: one indexed look-up each, never a scan of the history."""
    history: dict[tuple[int, int], list[tuple[datetime, str]]] = {}
    for station_id, connector_id, moment, status in (
            StatusEvent.select(StatusEvent.station, StatusEvent.connector_id,
                               StatusEvent.received_at, StatusEvent.status)
            .where((StatusEvent.received_at >= start) & (StatusEvent.connector_id > 0))
            .order_by(StatusEvent.received_at, StatusEvent.id).tuples()):
        history.setdefault((station_id, connector_id), []).append((moment, status))
    offline = {sid: seen for sid, seen in Station.select(Station.id, Station.last_seen_at)
               .where(~Station.online).tuples()}
    per_station: dict[int, list[Interval]] = {}
    for c in Connector.select().where(Connector.connector_id > 0):
        key = (c.station_id, c.connector_id)
        events = history.get(key)
        if events is None:
            events = [(start, c.status)]
        else:
            before = (StatusEvent.select(StatusEvent.status)
                      .where((StatusEvent.station == c.station_id)
                             & (StatusEvent.connector_id == c.connector_id)
                             & (StatusEvent.received_at < start))
                      .order_by(StatusEvent.received_at.desc()).limit(1).scalar())
            events = ([(start, before)] if before else []) + events
        until = offline.get(c.station_id) or now
        per_station.setdefault(c.station_id, []).extend(
            status_intervals(events, "Charging", max(until, start)))
    return sum(overlap_s(union(ivs), (start, now)) for ivs in per_station.values())

"""The site at a glance for the dashboard: counts of chargers by what needs a look, one page of
chargers (problems first, or one kind, or a search) with each connector's live state and
running session, the newest sessions charging now, and today's totals. Plain synchronous read
functions; their work grows with the page shown, never with the site, except for SQL
aggregates (counts and sums the database does in one pass)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from peewee import Case, Expression, Model, fn

from appliance.billing.settlement import cost
from appliance.db import fastsql
from appliance.db.models import ChargingSession, Connector, Driver, Station, StatusEvent, utcnow
from appliance.db.models_money import LedgerEntry
from appliance.db.sums import money_sum
from appliance.reports.daily import Interval, day_bounds, overlap_s, status_intervals, union

if TYPE_CHECKING:
    from appliance.db.models import TypedSelect

# What needs a look first: a charger's rank is its most urgent connector's (an offline charger
# is offline whatever its connectors last said): faulted, offline, in use, then the rest.
FAULTED, OFFLINE, IN_USE, IDLE = 0, 1, 2, 3
KINDS = {"faulted": FAULTED, "offline": OFFLINE, "charging": IN_USE, "idle": IDLE}
FAULTED_STATES = ("Faulted", "Unavailable")
IN_USE_STATES = ("Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing")
PER_PAGE = 48
CHARGING_ROWS = 20  # the dashboard's "Charging now": the newest; the sessions list has them all

M = TypeVar("M", bound=Model)

# The SQL text of the dashboard's queries, made once per shape: peewee makes a query's text
# anew on every execution, and for the dashboard (a page of 48 chargers: three lists of 48 ids)
# that was more than half of its read's time. Key: (backend, query, shape); value: the text,
# its parameters, and which of them are the ids (by position in the list of ids).
_SQL: dict[tuple[Any, ...], tuple[str, list[Any], list[int | None]]] = {}
SQL_KEPT = 512  # shapes: per query up to PER_PAGE lengths of id lists, and the searches typed


def _shaped(model: type[Model], key: tuple[Any, ...], ids: list[int],
            build: Callable[[list[int]], Any]) -> tuple[str, list[Any]]:
    """`build(ids)`'s SQL text and parameters, the text made once for this key and number of
    ids (built with stand-ins -1, -2, ...: the parameters in their places are the ids)."""
    shape = (type(model._meta.database).__name__, *key, len(ids))
    kept = _SQL.get(shape)
    if kept is None:
        text, params = build([-(i + 1) for i in range(len(ids))]).sql()
        slots = [-p - 1 if type(p) is int and p < 0 else None for p in params]
        if len(_SQL) >= SQL_KEPT:
            _SQL.clear()
        kept = _SQL[shape] = (text, list(params), slots)
    text, params, slots = kept
    return text, [p if slot is None else ids[slot] for p, slot in zip(params, slots, strict=True)]


def _rows(model: type[M], key: tuple[Any, ...], ids: list[int],
          build: Callable[[list[int]], Any]) -> Iterable[M]:
    """`build(ids)` as `model` rows (see `_shaped`)."""
    text, values = _shaped(model, key, ids, build)
    return model.raw(text, *values)


def _sessions(key: tuple[Any, ...], ids: list[int],
              build: Callable[[list[int]], Any]) -> list[ChargingSession]:
    """`build(ids)` (a select of whole sessions) as sessions, made as the writer makes them
    (`fastsql.session_from_row`) from rows that come in one step on SQLite: peewee made a model
    of 40 columns per row, a page's 100 running sessions some 40% of the dashboard's read."""
    text, values = _shaped(ChargingSession, ("sessions", *key), ids, build)
    width = len(ChargingSession._meta.sorted_fields)
    return [fastsql.session_from_row(row) for row in fastsql.rows(text, values, width)]


def _tuples(key: tuple[Any, ...], build: Callable[[list[int]], Any]) -> list[tuple[Any, ...]]:
    """A query of the stations that names no ids, as plain rows (see `_shaped`)."""
    text, values = _shaped(Station, key, [], build)
    return list(Station._meta.database.execute_sql(text, values).fetchall())


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


@dataclass
class Overview:
    """One page of the site's chargers and what the page's header needs."""

    stations: list[StationView]
    counts: dict[str, int]  # chargers by kind ("offline", ...) and "all", before the search
    matching: int  # chargers the kind and the search select (all pages)
    page: int
    pages: int


def _rank() -> Case:
    worst = (Connector.select(fn.MIN(Case(None, [(Connector.status.in_(FAULTED_STATES), FAULTED),
                                                 (Connector.status.in_(IN_USE_STATES), IN_USE)],
                                          IDLE)))
             .where((Connector.station == Station.id) & (Connector.connector_id > 0)))
    return Case(None, [(~Station.online, OFFLINE)], fn.COALESCE(worst, IDLE))


def _ranked(sites: frozenset[int] | None, search: str = "") -> TypedSelect[Station]:
    """Live chargers (of some sites) with their rank, one row each: a pass over the chargers
    with an index probe of each one's connectors, in the database."""
    query = (Station.select(Station.id, Station.cpid, _rank().alias("rank"))
             .where(Station.retired_at.is_null()))
    if sites is not None:
        query = query.where(Station.site_id.in_(sorted(sites)))
    needle = search.strip()
    if needle:
        query = query.where(Station.cpid.contains(needle) | Station.description.contains(needle))
    return query


def station_counts(sites: frozenset[int] | None = None, search: str = "") -> dict[str, int]:
    """Chargers by kind, and "all": SQL counts, whatever the size of the site."""
    def build(_: list[int]) -> Any:
        ranked = _ranked(sites, search).alias("ranked")
        return (Station.select(ranked.c.rank, fn.COUNT(ranked.c.id)).from_(ranked)
                .group_by(ranked.c.rank))

    by_rank = {int(rank): int(n) for rank, n in _tuples(("counts", sites, search), build)}
    counts = {kind: by_rank.get(rank, 0) for kind, rank in KINDS.items()}
    counts["all"] = sum(by_rank.values())
    return counts


def site_overview(sites: frozenset[int] | None = None, kind: str = "", search: str = "",
                  page: int = 1, per_page: int = PER_PAGE) -> Overview:
    """One page of live chargers (of some sites only, when `sites` names them): those of one
    kind, or all with the ones needing a look first (faulted, offline, in use, then the rest),
    each rank by id; `search` keeps those whose id or description contains it."""
    def chosen() -> Any:
        ranked = _ranked(sites, search).alias("ranked")
        query = Station.select(ranked.c.id).from_(ranked)
        if kind in KINDS:
            query = query.where(ranked.c.rank == KINDS[kind])
        return query.order_by(ranked.c.rank, ranked.c.cpid)

    page = max(1, page)
    if search.strip():  # the counts are the site's, the page the search's: two rankings
        counts = station_counts(sites)
        matching = chosen().count()
        ids = None
    else:  # the counts and the page from one ranking, in the database
        counts, ids = _counts_and_page(sites, kind, page, per_page)
        matching = counts[kind if kind in KINDS else "all"]
    pages = max(1, -(-matching // per_page))
    if ids is None or page > pages:
        page = min(page, pages)
        rows = _tuples(("page", sites, search, kind, page, per_page),
                       lambda _: chosen().limit(per_page).offset((page - 1) * per_page))
        ids = [int(sid) for (sid,) in rows]
    return Overview(stations_view(ids), counts, matching, page, pages)


class _Text:
    """A statement already written, for `_shaped` (which asks a query for its `.sql()`)."""

    def __init__(self, text: str, params: list[Any]) -> None:
        self.text, self.params = text, params

    def sql(self) -> tuple[str, list[Any]]:
        return self.text, self.params


def _counts_and_page(sites: frozenset[int] | None, kind: str, page: int, per_page: int
                     ) -> tuple[dict[str, int], list[int]]:
    """`station_counts(sites)` and the ids of one page of chargers (of one kind, or all), from
    one ranking of the chargers (a pass over every charger with an index probe of each one's
    connectors: some 10 ms of a reader's CPU at 10,000 chargers online), made once in the
    database (a materialized WITH) and both cut from it there: a few count rows and one page of
    ids come back, never every charger's rank (a reader takes the GIL back for each row it
    fetches: under load the 10,000 rows of the ranking took 470-620 ms beside a busy thread)."""
    def build(_: list[int]) -> _Text:
        text, params = _ranked(sites).sql()
        p = Station._meta.database.param
        where = f" WHERE rank = {p}" if kind in KINDS else ""
        # Ids ordered by code point on both backends (SQLite's BINARY), as Python sorts the page
        # again: a compound's rows come in no promised order.
        cpid = "cpid" if p == "?" else 'cpid COLLATE "C"'
        return _Text(
            f"WITH ranked AS MATERIALIZED ({text}) "
            f"SELECT -1, rank, COUNT(*), '' FROM ranked GROUP BY rank UNION ALL "
            f"SELECT * FROM (SELECT id, rank, 0, cpid FROM ranked{where} "
            f"ORDER BY rank, {cpid} LIMIT {p} OFFSET {p}) AS page",
            [*params, *([KINDS[kind]] if kind in KINDS else []), per_page,
             (page - 1) * per_page])

    by_rank: dict[int, int] = {}
    chosen: list[tuple[int, str, int]] = []  # (rank, charger id, id): the page's order
    for sid, rank, n, cpid in _tuples(("ranking", sites, kind, page, per_page), build):
        if sid == -1:
            by_rank[int(rank)] = int(n)
        else:
            chosen.append((int(rank), str(cpid), int(sid)))
    counts = {k: by_rank.get(rank, 0) for k, rank in KINDS.items()}
    counts["all"] = sum(by_rank.values())
    return counts, [sid for _, _, sid in sorted(chosen)]


def stations_view(ids: list[int]) -> list[StationView]:
    """These chargers, in this order, with their connectors and running sessions."""
    if not ids:
        return []
    stations = {st.id: st for st in _rows(Station, ("stations",), ids, lambda some: (
        Station.select(Station.id, Station.cpid, Station.description, Station.online,
                       Station.approved, Station.vendor, Station.model, Station.last_seen_at)
        .where(Station.id.in_(some))))}
    connectors: dict[int, list[Connector]] = {}
    for c in _rows(Connector, ("connectors",), ids, lambda some: (
            Connector.select(Connector.station, Connector.connector_id, Connector.status,
                             Connector.error_code, Connector.updated_at)
            .where(Connector.station.in_(some) & (Connector.connector_id > 0))
            .order_by(Connector.connector_id))):
        connectors.setdefault(c.station_id, []).append(c)
    # Only the sessions the page shows (on these connectors), by the (station, connector,
    # state) index: with the station alone SQLite (without statistics) may walk an index of
    # every running session of the site instead.
    plugs = sorted({c.connector_id for some in connectors.values() for c in some}) or [1]
    running = {(s.station_id, s.connector_id): s for s in _sessions(
        ("running", *plugs), ids, lambda some: ChargingSession.select().where(
            ChargingSession.station.in_(some) & ChargingSession.connector_id.in_(plugs)
            & (ChargingSession.state == "active")))}
    drivers = _driver_names(running.values())
    views = []
    now = utcnow()
    for sid in ids:
        st = stations.get(sid)
        if st is None:
            continue
        view = StationView(st.cpid, st.description, st.online, st.approved, st.vendor, st.model,
                           st.last_seen_at)
        for c in connectors.get(st.id, []):
            cv = _connector_view(st, c)
            session = running.get((st.id, c.connector_id))
            if session is not None:
                _with_session(cv, session, drivers, now)
            view.connectors.append(cv)
        views.append(view)
    return views


def _connector_view(st: Station, c: Connector) -> ConnectorView:
    return ConnectorView(c.connector_id, c.status if st.online else "Offline", c.error_code,
                         c.updated_at if st.online else st.last_seen_at)


def _driver_names(sessions: Iterable[ChargingSession]) -> dict[int | None, str]:
    wanted = [s.driver_id for s in sessions if s.driver_id]
    if not wanted:
        return {}
    return {d.id: d.name for d in Driver.select(Driver.id, Driver.name).where(
        Driver.id.in_(wanted))}


def _with_session(cv: ConnectorView, session: ChargingSession,
                  drivers: dict[int | None, str], now: datetime) -> None:
    cv.session_id, cv.id_tag = session.id, session.id_tag
    cv.energy_wh, cv.power_w = session.energy_wh, session.power_w
    cv.driver = drivers.get(session.driver_id, "")
    if session.mode == "commercial" and session.tariff_snapshot:
        cv.cost_minor = cost(session, now).fee


def _active(sites: frozenset[int] | None) -> Expression:
    where = ChargingSession.state == "active"
    if sites is not None:
        # "+ 0": not by the station's index (all of a site's sessions ever, then sorted) but
        # the running ones newest first, the site's kept (models: the partial index).
        where &= (ChargingSession.station + 0).in_(Station.select(Station.id).where(
            Station.site_id.in_(sorted(sites))))
    return where


def charging_now(sites: frozenset[int] | None = None, limit: int = CHARGING_ROWS
                 ) -> list[tuple[str, ConnectorView]]:
    """The newest running sessions (of some sites), as (charger id, its connector)."""
    sessions = sorted(_sessions(("charging", sites, limit), [], lambda _: (
        ChargingSession.select().where(_active(sites))
        .order_by(ChargingSession.started_at.desc(), ChargingSession.id.desc()).limit(limit))),
        key=lambda s: (s.started_at, s.id), reverse=True)
    if not sessions:
        return []
    stations = {st.id: st for st in Station.select(
        Station.id, Station.cpid, Station.online, Station.last_seen_at).where(
        Station.id.in_(sorted({s.station_id for s in sessions})))}
    connectors = {(c.station_id, c.connector_id): c for c in Connector.select(
        Connector.station, Connector.connector_id, Connector.status, Connector.error_code,
        Connector.updated_at).where(Connector.station.in_(list(stations)))}
    drivers = _driver_names(sessions)
    now = utcnow()
    out = []
    for s in sessions:
        st = stations[s.station_id]
        c = connectors.get((s.station_id, s.connector_id))
        cv = (_connector_view(st, c) if c is not None else
              ConnectorView(s.connector_id, "Charging", "NoError", s.started_at))
        _with_session(cv, s, drivers, now)
        out.append((st.cpid, cv))
    return out


def drawing_w(sites: frozenset[int] | None = None) -> int:
    """What the running sessions (of some sites) draw now, in W: one SQL sum."""
    total = (ChargingSession.select(fn.COALESCE(fn.SUM(ChargingSession.power_w), 0))
             .where(_active(sites)).scalar())
    return int(total or 0)


@dataclass
class Dashboard:
    overview: Overview
    active: int  # sessions running now
    charging: list[tuple[str, ConnectorView]]


def dashboard(sites: frozenset[int] | None = None, kind: str = "", search: str = "",
              page: int = 1) -> Dashboard:
    """What the dashboard shows that changes by the second, in one read (one trip to a reader
    thread for the page); the day's sums (`day_sums`) and hours are the page's to keep."""
    return Dashboard(site_overview(sites, kind, search, page), active_count(sites),
                     charging_now(sites))


def station_ids(sites: frozenset[int] | None = None) -> set[str]:
    """The ids of the live chargers of some sites (what a site's staff hear of)."""
    query = Station.select(Station.cpid).where(Station.retired_at.is_null())
    if sites is not None:
        query = query.where(Station.site_id.in_(sorted(sites)))
    return {cpid for (cpid,) in query.tuples()}


@dataclass
class Totals:
    energy_wh: int
    sessions: int
    charging_s: float
    active: int
    fees_minor: int = 0


@dataclass(frozen=True)
class DaySums:
    energy_wh: int  # of the sessions started today
    sessions: int  # started today
    fees_minor: int  # posted today
    drawing_w: int  # what the running sessions draw (when the sums were read)


# A day's sums are kept a while by the dashboard from this many sessions a day (see
# web/admin/kept.py): reading them goes through each session started today (24,000 rows at
# 10,000 chargers: 16 ms alone, more under load), and the power drawn through each running
# session's row (16,200 at 10,000 chargers: 12 ms of a load's 40 alone); a small site's are
# read on every load.
KEEP_SUMS_FROM = 2_000


def day_sums(tz: ZoneInfo, sites: frozenset[int] | None = None) -> DaySums:
    """Today's energy and sessions started, and fees posted, and what the running sessions
    draw now (of some sites' chargers only, when `sites` names them)."""
    start, end = day_bounds(datetime.now(tz).date(), tz)
    energy, started = (ChargingSession.select(
        fn.COALESCE(fn.SUM(ChargingSession.energy_wh), 0), fn.COUNT(ChargingSession.id))
        .where((ChargingSession.started_at >= start) & (ChargingSession.started_at < end)
               & _of_sites(sites)).tuples().get())
    return DaySums(int(energy), int(started), fees_posted(start, end, sites), drawing_w(sites))


def active_count(sites: frozenset[int] | None = None) -> int:
    """Sessions running now (at some sites' chargers): an index count."""
    return int(ChargingSession.select().where(
        (ChargingSession.state == "active") & _of_sites(sites)).count())


def _of_sites(sites: frozenset[int] | None) -> Any:
    return ChargingSession.station.in_(Station.select(Station.id).where(
        Station.site_id.in_(sorted(sites)))) if sites is not None else True


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


def charging_seconds_today(tz: ZoneInfo, now: datetime | None = None) -> float:
    """Today's hours charging, in seconds, over the installation."""
    now = now or utcnow()
    return _charging_seconds(day_bounds(datetime.now(tz).date(), tz)[0], now)


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
    # Each connector's last state before midnight, as one query (an index probe each, in the
    # database), not one query per connector.
    earlier = StatusEvent.alias()
    before = (earlier.select(earlier.status)
              .where((earlier.station == Connector.station)
                     & (earlier.connector_id == Connector.connector_id)
                     & (earlier.received_at < start))
              .order_by(earlier.received_at.desc()).limit(1))
    per_station: dict[int, list[Interval]] = {}
    for station_id, connector_id, status, was in (
            Connector.select(Connector.station, Connector.connector_id, Connector.status,
                             before.alias("was"))
            .where(Connector.connector_id > 0).tuples()):
        events = history.get((station_id, connector_id))
        if events is None:
            events = [(start, status)]
        else:
            events = ([(start, was)] if was else []) + events
        until = offline.get(station_id) or now
        per_station.setdefault(station_id, []).extend(
            status_intervals(events, "Charging", max(until, start)))
    return sum(overlap_s(union(ivs), (start, now)) for ivs in per_station.values())

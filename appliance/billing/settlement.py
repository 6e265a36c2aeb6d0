"""The money side of a session: who pays and at which tariff (fixed at the start), live cost,
what an account may still spend, the last exact price of each open session that lets the
running-out watchdog (`watch.py`) bound costs instead of pricing them, and settlement, which
happens once, in the same database call that records the stop."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from appliance.billing import ledger, pricing, running, tariffs
from appliance.charging.curves import EnergyCurve, session_curve
from appliance.db import fastsql
from appliance.db.fastsql import col, get, get_by_id
from appliance.db.models import (
    Account,
    ChargingSession,
    Driver,
    IdTag,
    MeterReading,
    StatusEvent,
    utcnow,
)
from appliance.db.models_driver import Receipt
from appliance.db.models_money import Hold, Tariff

SAMPLE_INTERVAL_S = 60  # the MeterValueSampleInterval the managed profile sets
STOP_REASON_FUNDS = "balance_exhausted"
DEFAULT_CURRENCY = "INR"
STATUS_LEAD = timedelta(hours=1)  # status events read around a session, by receipt time


def price_group(driver_id: int | None) -> str:
    if driver_id is None:
        return ""
    driver = get_by_id(Driver, driver_id)
    return str(driver.price_group or "") if driver is not None else ""


def attach(session: ChargingSession, tag: IdTag | None, *, driver: Driver | None = None,
           account: Account | None = None, found: tuple[Tariff | None, str] | None = None
           ) -> None:
    """Fix the payer (the start tag's driver, never the stop tag's) and the tariff snapshot:
    the tariff of the driver's group here if there is one, else everyone's. `driver`,
    `account` and `found` (the tariff and its scope for this station, connector and driver
    group): what the start's decision read of them in this same call, so not read again."""
    driver_id = tag.driver_id if tag is not None else None
    if found is None:
        group = price_group(driver_id) if driver is None else str(driver.price_group or "")
        found = tariffs.resolve_scope(session.station_id, session.connector_id, group)
    t, scope = found
    if account is None and driver_id is not None:
        account = get(Account, Account.driver, driver_id)
    currency = t.currency if t else account.currency if account else DEFAULT_CURRENCY
    session.tariff_snapshot = json.dumps(tariffs.snapshot(t, currency, scope))
    if tag is not None and account is not None:
        session.driver_id = tag.driver_id
        session.account_id = account.id
        session.mode = tag.mode
    elif tag is not None:
        session.mode = "personal"
    if session.mode == "commercial" and t is None:
        session.flags = ",".join(f for f in (session.flags, "no_tariff") if f)
    session.save()
    if session.account_id is not None and session.state == "active" \
            and _growth(session.tariff_snapshot or "") is not None:
        # Its price at the start, so that its first MeterValues (and a decision on another
        # card of the account meanwhile) bound its cost instead of reading it again whole.
        priced(session, session.started_at)


def billed(session: ChargingSession, snapshot: dict[str, Any]) -> bool:
    """Whether the session is charged: a commercial card's, or a personal card's when a manager
    gave its driver's group a tariff (personal cards are free otherwise)."""
    return session.account_id is not None and (session.mode == "commercial"
                                               or bool(snapshot.get("group")))


def _statuses(session: ChargingSession, end: datetime) -> list[tuple[datetime, str]]:
    """The connector's (time, status) history around the session, on the charger's clock."""
    rows = (StatusEvent.select(StatusEvent.charger_time, StatusEvent.received_at,
                               StatusEvent.status)
            .where((StatusEvent.station == session.station_id)
                   & (StatusEvent.connector_id == session.connector_id)
                   & (StatusEvent.received_at >= session.received_start_at - STATUS_LEAD)
                   & (StatusEvent.received_at <= end + STATUS_LEAD))
            .order_by(StatusEvent.id).tuples())
    return [(charger or received, status) for charger, received, status in rows]


def _curve(session: ChargingSession, end: datetime) -> EnergyCurve:
    """Energy over time from the register samples, interpolated as the daily figures are."""
    readings = list(MeterReading.select(MeterReading.timestamp, MeterReading.energy_wh)
                    .where((MeterReading.session == session.id)
                           & MeterReading.energy_wh.is_null(False)).tuples())
    return session_curve(session.started_at, end, session.energy_wh, readings,
                         running.curve_base(session))


def idle_phase(session: ChargingSession, status: str, now: datetime) -> tuple[str, int]:
    """For the driver's live page, which warns before the idle fee starts: ("" no idle fee,
    "ahead" charging, "grace" idle within the grace period, "running"), and the whole minutes
    of grace left."""
    snapshot = tariffs.load_snapshot(session.tariff_snapshot, "INR")
    if not pricing.charges_idle(snapshot) or session.state != "active":
        return "", 0
    if status not in pricing.IDLE_STATES:
        return "ahead", 0
    idle = pricing.idle_seconds(_statuses(session, now), session.started_at, now)
    left = int(snapshot.get("idle_grace_min") or 0) * 60 - idle
    return ("grace", max(1, -(-left // 60))) if left > 0 else ("running", 0)


def facts(session: ChargingSession, snapshot: dict[str, Any], now: datetime, extra_wh: int = 0,
          extra_s: int = 0) -> pricing.Facts:
    """What the price of a session depends on, read from its records."""
    end = session.stopped_at or now
    # Status history and samples matter only to tariffs with an idle fee or bands; most have
    # neither, and reading them on each MeterValues was the watchdog's biggest cost.
    idle = pricing.idle_seconds(_statuses(session, end), session.started_at, end) \
        if pricing.charges_idle(snapshot) else 0
    until = end + timedelta(seconds=extra_s)
    if not snapshot.get("bands"):
        return pricing.Facts(session.energy_wh + extra_wh, session.started_at, until, idle)
    # A running session's band pieces so far come from its running figure, not its samples.
    known = running.prefix(session, end, until)
    if known is not None:
        return pricing.Facts(session.energy_wh + extra_wh, session.started_at, until, idle,
                             known[1].at, known[0])
    curve = _curve(session, end)
    return pricing.Facts(session.energy_wh + extra_wh, session.started_at, until, idle,
                         curve.at)


def cost(session: ChargingSession, now: datetime, extra_wh: int = 0,
         extra_s: int = 0) -> pricing.Cost:
    """Live cost (at `now`) or final cost (at the stop): one function for both."""
    snapshot = tariffs.load_snapshot(session.tariff_snapshot, "INR")
    return pricing.price(snapshot, facts(session, snapshot, now, extra_wh, extra_s))


OPEN_UNSETTLED = (f"{col(ChargingSession.state)} = 'active' AND {col(ChargingSession.mode)} = "
         f"'commercial' AND {col(ChargingSession.settled)} = {{p}}")
NOT_RELEASED = f"{col(Hold.state)} <> 'released'"


_SESSION_FIELDS = ChargingSession._meta.sorted_fields
STARTED_AT = fastsql.datetime_value(ChargingSession.started_at)


def _open_held_sql(p: str, in_list: str) -> str:
    """The accounts' open sessions, whole, each with whether it has a hold not released."""
    cs, h = ChargingSession, Hold
    held = (f"EXISTS (SELECT 1 FROM {fastsql.table(h)} h WHERE h.{col(h.session)} = "
            f"s.{col(cs.id)} AND h.{col(h.state)} <> 'released')")
    columns = ", ".join(f"s.{col(f)}" for f in _SESSION_FIELDS)
    return (f"SELECT {columns}, CASE WHEN {held} THEN 1 ELSE 0 END FROM "
            f"{fastsql.table(cs)} s WHERE s.{col(cs.account)} IN ({in_list}) AND "
            f"{OPEN_UNSETTLED.format(p=p)}")


def open_cost(account_id: int, now: datetime, exclude: int | None = None,
              bound: bool = False) -> int:
    """Live cost of the account's open commercial sessions that have no hold (one statement
    for the sessions and their holds: every commercial decision asks). `bound`: an upper bound
    of it instead, never below the exact figure: each session from its last exact price here
    (`fee_bound`) where there is one, priced otherwise."""
    width = len(_SESSION_FIELDS)
    rows = fastsql.query_in("settlement:open-held", width + 1, _open_held_sql, [account_id],
                            [False])
    sessions = [fastsql.session_from_row(row[:width]) for row in rows if not row[width]]
    if bound:
        return sum(_bound_or_cost(s, now) for s in sessions if s.id != exclude)
    return sum(cost(s, now).fee for s in sessions if s.id != exclude)


def _bound_or_cost(session: ChargingSession, now: datetime) -> int:
    bound = fee_bound(session, now)
    return bound if bound is not None else cost(session, now).fee


def account_state(account: Account, now: datetime, driver: Driver | None = None,
                  site_overdraft: int | None = None, bound: bool = False) -> dict[str, int]:
    """What the account may spend now. `driver` (the account's) and `site_overdraft` (the
    site's default): when the caller read them already in this call. `bound`: "open_cost" an
    upper bound and "available" a lower bound (`open_cost`), cheaper where the watchdog priced
    the other sessions lately; enough to accept, not to refuse or to show."""
    if driver is None:
        driver = get_by_id(Driver, account.driver_id)
    overdraft = ledger.overdraft(driver, site_overdraft)
    live = open_cost(account.id, now, bound=bound)
    return {"balance": account.balance, "held": account.held, "open_cost": live,
            "available": account.balance - account.held - live, "overdraft": overdraft,
            "debt": ledger.debt(account.balance, overdraft)}


@dataclass(frozen=True)
class OpenSession:
    """An account's other open session as the watchdog reads it first: enough to bound its
    cost (`settlement.fee_bound`); read whole only when the bound does not settle the question."""

    id: int
    started_at: datetime
    energy_wh: int
    tariff_snapshot: str


# The last exact price of each open session this process judged: (its start, its tariff
# snapshot, the energy and the moment priced, the fee). Fees only grow with energy and time
# (`pricing.Growth`), so from it the watchdog bounds a session's cost without pricing it, and
# prices only the sessions whose bound comes near what their account may spend. The writer
# thread alone uses it; a session priced again or settled replaces or drops its entry.
_PRICED: dict[int, tuple[datetime, str, int, datetime, int]] = {}
_PRICED_MAX = 100_000  # far above a site's open sessions; past it, start again


@functools.lru_cache(maxsize=64)
def _growth(snapshot_text: str) -> pricing.Growth | None:
    return pricing.growth(tariffs.load_snapshot(snapshot_text, DEFAULT_CURRENCY))


def fee_bound(session: ChargingSession | OpenSession, now: datetime, extra_wh: int = 0,
               extra_s: int = 0) -> int | None:
    """An upper bound of `cost(session, now, extra_wh, extra_s).fee` from the session's last
    exact price, or None (never priced here, a tariff with bands or idle fees, or its start
    or tariff changed since)."""
    last = _PRICED.get(session.id)
    if last is None or last[0] != session.started_at or last[1] != session.tariff_snapshot:
        return None
    grow = _growth(session.tariff_snapshot or "")
    if grow is None:
        return None
    until = now + timedelta(seconds=extra_s)
    return grow.bound(last[4], last[2], (session.energy_wh or 0) + extra_wh,
                      (until - last[3]).total_seconds())


def priced(session: ChargingSession, now: datetime, extra_wh: int = 0,
            extra_s: int = 0) -> int:
    """`cost(...).fee`, remembered for `fee_bound`."""
    fee = cost(session, now, extra_wh, extra_s).fee
    if len(_PRICED) >= _PRICED_MAX:
        _PRICED.clear()
    _PRICED[session.id] = (session.started_at, session.tariff_snapshot,
                           (session.energy_wh or 0) + extra_wh,
                           now + timedelta(seconds=extra_s), fee)
    return fee


_SETTLED = (ChargingSession.fee_minor, ChargingSession.fee_breakdown, ChargingSession.settled)


def settle(session: ChargingSession, actor: str = "system") -> None:
    """Price a stopped session once and charge it: one charge row for the whole fee, even above
    the balance, and every hold released. A second call changes nothing."""
    if session.settled or session.stopped_at is None:
        return
    _PRICED.pop(session.id, None)
    price = cost(session, session.stopped_at)
    session.fee_breakdown = json.dumps(price.as_dict())
    if session.account_id is not None and billed(
            session, tariffs.load_snapshot(session.tariff_snapshot, "INR")):
        session.fee_minor = price.fee
        if price.fee:
            ledger.post(ledger.Posting(session.account_id, -price.fee, "charge",
                                       f"charge:{session.id}", actor=actor,
                                       session_id=session.id))
    else:
        session.fee_minor = 0  # personal and unknown cards are recorded, never charged
    ledger.release_holds(session.id, actor)
    session.settled = True
    session.save(only=_SETTLED)
    if session.driver_id is not None:
        # Receipts are numbered in the order sessions are charged, not first viewed.
        fastsql.execute(fastsql.sql("settlement:receipt", _receipt_sql),
                        [session.id, Receipt.created_at.db_value(utcnow())])


def _receipt_sql(p: str) -> str:
    """A receipt number for a session, once (cached SQL: every charged stop)."""
    r = Receipt
    return (f"INSERT INTO {fastsql.table(r)} ({col(r.session)}, {col(r.created_at)}) "
            f"VALUES ({p}, {p}) ON CONFLICT ({col(r.session)}) DO NOTHING")


def correct(session: ChargingSession, actor: str = "system", cause: str = "stop",
            note: str = "its StopTransaction came after it was closed") -> None:
    """Price again a settled session that a late report changed (its stop, by default), and
    book the difference once per cause, as an adjustment referencing the session (the charge
    row stays)."""
    if session.stopped_at is None:
        return
    price = cost(session, session.stopped_at)
    before = session.fee_minor or 0
    session.fee_breakdown = json.dumps(price.as_dict())
    if session.mode == "commercial" and session.account_id is not None:
        session.fee_minor = price.fee
        if price.fee != before:
            ledger.post(ledger.Posting(session.account_id, before - price.fee, "adjustment",
                                       f"correction:{session.id}:{cause}", actor=actor,
                                       note=note,
                                       session_id=session.id))
    session.save(only=_SETTLED[:2])


def sweep() -> int:
    """At start: settle every stopped session that is not settled yet. Returns how many."""
    query = ChargingSession.select().where(ChargingSession.stopped_at.is_null(False)
                                           & ~ChargingSession.settled)
    count = 0
    for session in query:
        settle(session, "startup-sweep")
        count += 1
    return count

"""The money side of a session: who pays and at which tariff (fixed at the start), live cost,
what an account may still spend, the running-out watchdog, and settlement, which happens once,
in the same database call that records the stop."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from appliance.billing import ledger, pricing, running, tariffs
from appliance.charging.curves import EnergyCurve, session_curve
from appliance.db import fastsql, kept_sessions
from appliance.db.fastsql import col, fetch_in, get, get_by_id, select_in
from appliance.db.models import (
    Account,
    ChargingSession,
    Driver,
    IdTag,
    MeterReading,
    StatusEvent,
    utcnow,
)
from appliance.db.models_driver import QrStart, Receipt
from appliance.db.models_money import Hold, Tariff
from appliance.db.models_site import SiteSetting

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
        _priced(session, session.started_at)


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


_OPEN = (f"{col(ChargingSession.state)} = 'active' AND {col(ChargingSession.mode)} = "
         f"'commercial' AND {col(ChargingSession.settled)} = {{p}}")
_NOT_RELEASED = f"{col(Hold.state)} <> 'released'"


_SESSION_FIELDS = ChargingSession._meta.sorted_fields
_STARTED_AT = fastsql.datetime_value(ChargingSession.started_at)


def _open_held_sql(p: str, in_list: str) -> str:
    """The accounts' open sessions, whole, each with whether it has a hold not released."""
    cs, h = ChargingSession, Hold
    held = (f"EXISTS (SELECT 1 FROM {fastsql.table(h)} h WHERE h.{col(h.session)} = "
            f"s.{col(cs.id)} AND h.{col(h.state)} <> 'released')")
    columns = ", ".join(f"s.{col(f)}" for f in _SESSION_FIELDS)
    return (f"SELECT {columns}, CASE WHEN {held} THEN 1 ELSE 0 END FROM "
            f"{fastsql.table(cs)} s WHERE s.{col(cs.account)} IN ({in_list}) AND "
            f"{_OPEN.format(p=p)}")


def open_cost(account_id: int, now: datetime, exclude: int | None = None,
              bound: bool = False) -> int:
    """Live cost of the account's open commercial sessions that have no hold (one statement
    for the sessions and their holds: every commercial decision asks). `bound`: an upper bound
    of it instead, never below the exact figure: each session from its last exact price here
    (`_fee_bound`) where there is one, priced otherwise."""
    width = len(_SESSION_FIELDS)
    rows = fastsql.query_in("settlement:open-held", width + 1, _open_held_sql, [account_id],
                            [False])
    sessions = [fastsql.session_from_row(row[:width]) for row in rows if not row[width]]
    if bound:
        return sum(_bound_or_cost(s, now) for s in sessions if s.id != exclude)
    return sum(cost(s, now).fee for s in sessions if s.id != exclude)


def _bound_or_cost(session: ChargingSession, now: datetime) -> int:
    bound = _fee_bound(session, now)
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
class _Open:
    """An account's other open session as the watchdog reads it first: enough to bound its
    cost (`_fee_bound`); read whole only when the bound does not settle the question."""

    id: int
    started_at: datetime
    energy_wh: int
    tariff_snapshot: str


@dataclass
class _Batch:
    """What the watchdog needs of a batch's accounts, read in a few queries."""

    accounts: dict[int | None, tuple[int, int]]  # account id -> (balance, held)
    overdrafts: dict[int | None, int]  # account id -> its driver's overdraft, else the site's
    open_by_account: dict[int | None, list[ChargingSession | _Open]]
    holds: dict[int, int]  # session id -> its holds not released
    limits_wh: dict[int, int]  # QR starts' kWh limits by session id

    def read_whole(self, sessions: Sequence[ChargingSession]) -> None:
        """The other open sessions of these sessions' accounts, read whole (one statement):
        they are about to be priced."""
        wanted = {o.id for s in sessions for o in self.open_by_account[s.account_id]
                  if isinstance(o, _Open)}
        if not wanted:
            return
        whole = {o.id: o for o in fetch_in(ChargingSession, ChargingSession.id, wanted)}
        for account_id, found in self.open_by_account.items():
            self.open_by_account[account_id] = [
                whole.get(o.id, o) if isinstance(o, _Open) else o for o in found]


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


def _fee_bound(session: ChargingSession | _Open, now: datetime, extra_wh: int = 0,
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


def _priced(session: ChargingSession, now: datetime, extra_wh: int = 0,
            extra_s: int = 0) -> int:
    """`cost(...).fee`, remembered for `_fee_bound`."""
    fee = cost(session, now, extra_wh, extra_s).fee
    if len(_PRICED) >= _PRICED_MAX:
        _PRICED.clear()
    _PRICED[session.id] = (session.started_at, session.tariff_snapshot,
                           (session.energy_wh or 0) + extra_wh,
                           now + timedelta(seconds=extra_s), fee)
    return fee


def energy_limit_reached(energy_wh: int, extra_wh: int, limit_wh: int | None) -> bool:
    """Whether to stop for the driver's kWh limit now rather than after the next sample: when
    stopping now misses the limit by less than waiting would overshoot it. Projecting a whole
    sample ahead stopped a 0.2 kWh limit at 0.04 kWh on a fast charger."""
    return bool(limit_wh) and energy_wh + extra_wh // 2 >= int(limit_wh or 0)


def _accounts_sql(p: str, in_list: str) -> str:
    """The accounts' balances and holds with their drivers' own overdraft and the site's
    default (read in the same statement, so a setting saved by any process counts from the
    next batch on)."""
    a, d, st = Account, Driver, fastsql.table(SiteSetting)
    return (f"SELECT a.{col(a.id)}, a.{col(a.balance)}, a.{col(a.held)}, "
            f"d.{col(d.overdraft_minor)}, (SELECT s.\"value\" FROM {st} s WHERE s.\"key\" = "
            f"'{ledger.SITE_OVERDRAFT}') FROM {fastsql.table(a)} a JOIN {fastsql.table(d)} d "
            f"ON d.{col(d.id)} = a.{col(a.driver)} WHERE a.{col(a.id)} IN ({in_list})")


def _open_sql(p: str, in_list: str) -> str:
    """The accounts' open sessions, each with the sum of its holds not released (NULL: none),
    its QR start's kWh limit (a session has one QR start at most: `qr.capture`), and what
    bounding its cost takes (`_Open`)."""
    cs, h, q = ChargingSession, Hold, QrStart
    held = (f"(SELECT SUM(h.{col(h.amount)}) FROM {fastsql.table(h)} h WHERE "
            f"h.{col(h.session)} = s.{col(cs.id)} AND h.{col(h.state)} <> 'released')")
    limit = (f"(SELECT MAX(q.{col(q.limit_wh)}) FROM {fastsql.table(q)} q WHERE "
             f"q.{col(q.session)} = s.{col(cs.id)})")
    return (f"SELECT s.{col(cs.id)}, {held}, {limit}, s.{col(cs.account)}, "
            f"s.{col(cs.started_at)}, s.{col(cs.energy_wh)}, s.{col(cs.tariff_snapshot)} "
            f"FROM {fastsql.table(cs)} s "
            f"WHERE s.{col(cs.account)} IN ({in_list}) AND {_OPEN.format(p=p)}")


KEEP_ACCOUNTS = True  # keep the watchdog's accounts on SQLite (tests compare with it off)


@dataclass(frozen=True)
class _Kept:
    """What `_read_batch` read of an account, kept on the SQLite writer between batches
    (`kept_sessions.KeptSessions.accounts`) until a change to it is noted: its balance and
    holds, its overdraft, and its open sessions (id, holds not released or None, QR kWh
    limit). Not their energy, which every MeterValues moves: that comes from the sessions
    themselves, in the batch or kept."""

    balance: int
    held: int
    overdraft: int
    open: tuple[tuple[int, int | None, int | None], ...]


def _read_batch(sessions: list[ChargingSession]) -> _Batch:
    """What the watchdog needs of these sessions' accounts: on SQLite from what the writer
    kept of them since a change (`_Kept`), the others read (`_read_accounts`)."""
    kept = kept_sessions.kept() if KEEP_ACCOUNTS else None
    if kept is None:
        return _read_accounts(sessions)[0]
    kept.check_money()
    batch = _Batch({}, {}, defaultdict(list), {}, {})
    in_hand = {s.id: s for s in sessions}
    by_account: dict[int | None, list[ChargingSession]] = defaultdict(list)
    for s in sessions:
        by_account[s.account_id].append(s)
    missing = []
    for account_id, own in by_account.items():
        entry = kept.accounts.get(account_id) if account_id is not None else None
        if account_id is None or entry is None \
                or not _use_kept(batch, account_id, entry, own, in_hand, kept):
            missing.extend(own)
    if missing:
        read, entries = _read_accounts(missing)
        batch.accounts.update(read.accounts)
        batch.overdrafts.update(read.overdrafts)
        batch.open_by_account.update(read.open_by_account)
        batch.holds.update(read.holds)
        batch.limits_wh.update(read.limits_wh)
        for account_id, entry in entries.items():
            kept.keep_account(account_id, entry)
    return batch


def _use_kept(batch: _Batch, account_id: int, entry: _Kept, own: list[ChargingSession],
              in_hand: dict[int, ChargingSession], kept: kept_sessions.KeptSessions) -> bool:
    """Fill `batch` for this account from `entry` when every open session it names is in
    hand or kept (for its energy now) and the batch's own sessions are among them."""
    found: list[ChargingSession | _Open] = []
    for sid, _, _ in entry.open:
        session = in_hand.get(sid)
        if session is None:
            session = kept.by_id(sid)
        if session is None:
            return False
        found.append(session)
    ids = {sid for sid, _, _ in entry.open}
    if any(s.id not in ids for s in own):
        return False
    batch.accounts[account_id] = (entry.balance, entry.held)
    batch.overdrafts[account_id] = entry.overdraft
    batch.open_by_account[account_id] = found
    for sid, held, limit in entry.open:
        if held is not None:
            batch.holds[sid] = held
        if sid in in_hand:
            batch.limits_wh[sid] = limit  # type: ignore[assignment]
    return True


def _read_accounts(sessions: list[ChargingSession]) -> tuple[_Batch, dict[int, _Kept]]:
    """`_Batch` of these sessions' accounts, read, and what to keep of each account."""
    account_ids = {s.account_id for s in sessions}
    accounts: dict[int | None, tuple[int, int]] = {}
    overdrafts: dict[int | None, int] = {}
    for account_id, balance, held, own, site in fastsql.query_in(
            "watchdog:accounts", 5, _accounts_sql, account_ids):
        accounts[account_id] = (int(balance), int(held))
        overdrafts[account_id] = int(own) if own is not None else ledger.site_overdraft(site)
    # The accounts' open sessions: nearly always just the batch's own, already in hand; the
    # others as `_Open`, read whole only if they must be priced.
    in_hand = {s.id: s for s in sessions}
    holds: dict[int, int] = {}
    limits_wh: dict[int, int] = {}
    open_by_account: dict[int | None, list[ChargingSession | _Open]] = defaultdict(list)
    opened: dict[int, list[tuple[int, int | None, int | None]]] = defaultdict(list)
    seen = set()
    for sid, held, limit, account_id, started, energy, snapshot in fastsql.query_in(
            "watchdog:open", 7, _open_sql, account_ids, [False]):
        seen.add(sid)
        opened[account_id].append((sid, None if held is None else int(held), limit))
        if held is not None:
            holds[sid] = int(held)
        if sid in in_hand:
            limits_wh[sid] = limit
            open_by_account[account_id].append(in_hand[sid])
        else:
            open_by_account[account_id].append(_Open(
                sid, cast("datetime", _STARTED_AT(started)), int(energy or 0), snapshot or ""))
    unseen = set(in_hand) - seen  # a batch's session not open (never seen so far)
    if unseen:
        for session_id, amount in select_in(Hold, [Hold.session, Hold.amount], Hold.session,
                                            unseen, _NOT_RELEASED):
            holds[session_id] = holds.get(session_id, 0) + amount
        limits_wh.update((sid, limit) for sid, limit in select_in(
            QrStart, [QrStart.session, QrStart.limit_wh], QrStart.session, unseen))
    entries = {account_id: _Kept(*accounts[account_id], overdrafts[account_id],
                                 tuple(opened.get(account_id, ())))
               for account_id in accounts if account_id is not None}
    return _Batch(accounts, overdrafts, open_by_account, holds, limits_wh), entries


def _runs_out(session: ChargingSession, now: datetime, batch: _Batch,
              exact: bool) -> bool | None:
    """Whether cost plus one sample interval at the current power reaches what the account may
    spend on this session: balance + overdraft - other holds - the live cost of its other open
    sessions without a hold; for a QR start, also its hold and its kWh limit. Not `exact`:
    from upper bounds of the costs (`_fee_bound`), False where they show it does not, else
    None (most sessions are far from their limit: only the others are priced)."""
    balance, held = batch.accounts[session.account_id]
    overdraft = batch.overdrafts[session.account_id]
    extra_wh = max(0, session.power_w or 0) * SAMPLE_INTERVAL_S // 3600
    if energy_limit_reached(session.energy_wh, extra_wh, batch.limits_wh.get(session.id)):
        return True
    own_holds = batch.holds.get(session.id, 0)
    others = [o for o in batch.open_by_account[session.account_id]
              if o.id != session.id and o.id not in batch.holds]
    room = balance + overdraft - (held - own_holds)
    if not exact:
        own_bound = _fee_bound(session, now, extra_wh, SAMPLE_INTERVAL_S)
        bounds = [_fee_bound(o, now) for o in others]
        if own_bound is None or None in bounds:
            return None
        limit = room - sum(b or 0 for b in bounds)
        return False if own_bound < (min(limit, own_holds) if own_holds else limit) else None
    projected = _priced(session, now, extra_wh, SAMPLE_INTERVAL_S)
    # (one not found whole by `read_whole` closed meanwhile: not counted, as its stop settled)
    limit = room - sum(_priced(o, now) for o in others if isinstance(o, ChargingSession))
    if own_holds:
        limit = min(limit, own_holds)
    return projected >= limit


def watchdog_many(checks: Sequence[tuple[ChargingSession, datetime]]) -> list[bool]:
    """The running-out watchdog for the sessions of a batch of MeterValues (each with its
    receipt time), in a few queries for the whole batch instead of five or six per session;
    each session is then judged alone (`_runs_out`: from bounds first, priced where they do
    not settle it) and marked to stop. True where a stop command should go out."""
    out = [False] * len(checks)
    todo = [i for i, (s, _) in enumerate(checks)
            if s.mode == "commercial" and s.state == "active" and s.account_id is not None]
    if not todo:
        return out
    batch = _read_batch([checks[i][0] for i in todo])
    verdicts = {i: _runs_out(checks[i][0], checks[i][1], batch, exact=False) for i in todo}
    unsure = [i for i in todo if verdicts[i] is None]
    if unsure:
        batch.read_whole([checks[i][0] for i in unsure])
        verdicts.update((i, _runs_out(checks[i][0], checks[i][1], batch, exact=True))
                        for i in unsure)
    for i in todo:
        if verdicts[i]:
            _request_stop(checks[i][0])
            out[i] = True
    return out


def _request_stop(session: ChargingSession) -> None:
    if not session.stop_requested:
        (ChargingSession.update(stop_requested=STOP_REASON_FUNDS)
         .where(ChargingSession.id == session.id).execute())
        session.stop_requested = STOP_REASON_FUNDS


def watchdog(session: ChargingSession, now: datetime) -> bool:
    """Mark a session to stop when it runs out; True when a stop command should go out. The
    rule is `watchdog_many`'s, for a batch of one: money logic changes in one place."""
    return watchdog_many([(session, now)])[0]


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

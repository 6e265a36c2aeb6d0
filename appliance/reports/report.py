"""The nightly report of one local day, built from that day's stored statistics and the ledger:
site totals, per charger, per driver (usage and balance movements), top-ups by payment method,
and anomalies. A plain dict of plain values, stored as JSON and shown by the pages and the API."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from peewee import fn

from appliance.billing import walkin
from appliance.billing.ledger import BALANCE_KINDS
from appliance.db.models import Account, ChargingSession, Driver, Station
from appliance.db.models_money import LedgerEntry
from appliance.db.sums import money_sum
from appliance.reports.daily import day_bounds
from appliance.reports.stats import StatRow

FIGURES = ("charging_s", "available_s", "faulted_s", "energy_wh", "fees_minor", "sessions",
           "drivers")


def build_report(day: date, tz: ZoneInfo, rows: list[StatRow], ledger: list[tuple[bool, str]],
                 stale_hours: int, currency: str, station_ids: list[int] | None = None
                 ) -> dict[str, Any]:
    """Everything the morning reader needs about `day` (for `database.read`); with
    `station_ids`, one site's: its chargers and their sessions (drivers, top-ups and the ledger
    are the operator's, the same in every site's report)."""
    window = day_bounds(day, tz)
    chargers = _chargers(rows)
    report: dict[str, Any] = {
        "day": day.isoformat(), "timezone": str(tz), "currency": currency,
        "chargers": chargers,
        "drivers": _drivers(window),
        "topups": _topups(window),
        "online": _online(window),
        "anomalies": _anomalies(window, stale_hours, ledger, station_ids),
        "ledger": [{"ok": ok, "line": line} for ok, line in ledger],
    }
    report["totals"] = _totals(chargers, report["topups"], window, station_ids)
    return report


def _chargers(rows: list[StatRow]) -> list[dict[str, Any]]:
    names = {s.id: s.cpid for s in Station.select(Station.id, Station.cpid).where(
        Station.id.in_([r.station_id for r in rows]))}
    out = [{"station": names.get(r.station_id, str(r.station_id)),
            **{f: getattr(r, f) for f in FIGURES}} for r in rows if r.connector_id == 0]
    return sorted(out, key=lambda c: c["station"])


def _totals(chargers: list[dict[str, Any]], topups: list[dict[str, Any]],
            window: tuple[datetime, datetime], station_ids: list[int] | None = None
            ) -> dict[str, Any]:
    totals: dict[str, Any] = {f: sum(c[f] for c in chargers) for f in FIGURES}
    # Distinct drivers over the whole site, not the sum of each charger's.
    totals["drivers"] = (ChargingSession.select(fn.COUNT(fn.DISTINCT(fn.COALESCE(
        ChargingSession.driver.cast("TEXT"), "t:" + ChargingSession.id_tag_key))))
        .where((ChargingSession.started_at >= window[0])
               & (ChargingSession.started_at < window[1])
               & (ChargingSession.station.in_(station_ids) if station_ids is not None else True))
        .scalar() or 0)
    totals["chargers"] = len(chargers)
    totals["topups_minor"] = sum(t["amount_minor"] for t in topups)
    totals["topups_count"] = sum(t["count"] for t in topups)
    return totals


def _drivers(window: tuple[datetime, datetime]) -> list[dict[str, Any]]:
    """Per driver: sessions started that day with their energy, and the day's balance
    movements by kind with the opening and closing balance."""
    usage: dict[int, dict[str, Any]] = defaultdict(lambda: {"sessions": 0, "energy_wh": 0})
    for driver_id, count, energy in (
            ChargingSession.select(ChargingSession.driver, fn.COUNT(ChargingSession.id),
                                   fn.SUM(ChargingSession.energy_wh))
            .where((ChargingSession.started_at >= window[0])
                   & (ChargingSession.started_at < window[1])
                   & ChargingSession.driver.is_null(False))
            .group_by(ChargingSession.driver).tuples()):
        usage[driver_id].update(sessions=count, energy_wh=int(energy or 0))
    moves: dict[int, dict[str, int]] = defaultdict(dict)
    for driver_id, kind, total in (
            LedgerEntry.select(Account.driver, LedgerEntry.kind, money_sum(LedgerEntry.amount))
            .join(Account).where((LedgerEntry.created_at >= window[0])
                                 & (LedgerEntry.created_at < window[1])
                                 & LedgerEntry.kind.in_(BALANCE_KINDS))
            .group_by(Account.driver, LedgerEntry.kind).tuples()):
        moves[driver_id][kind] = int(total or 0)
    ids = sorted(set(usage) | set(moves))
    # The balance then is today's minus what moved since: only recent rows are read, and the
    # ledger check in the same report proves the cached balance.
    since: dict[int, int | None]
    since = dict(LedgerEntry.select(Account.driver, money_sum(LedgerEntry.amount)).join(Account)
                 .where((LedgerEntry.created_at >= window[1]) & Account.driver.in_(ids)
                        & LedgerEntry.kind.in_(BALANCE_KINDS))
                 .group_by(Account.driver).tuples())
    closing = {d: b - int(since.get(d) or 0) for d, b in Account.select(
        Account.driver, Account.balance).where(Account.driver.in_(ids)).tuples()}
    names: dict[int, str]
    names = dict(Driver.select(Driver.id, Driver.name).where(Driver.id.in_(ids)).tuples())
    out = []
    for driver_id in ids:
        kinds = moves.get(driver_id, {})
        close = int(closing.get(driver_id) or 0)
        out.append({"driver_id": driver_id, "name": names.get(driver_id, ""),
                    **usage[driver_id], "fees_minor": -kinds.get("charge", 0),
                    "topups_minor": kinds.get("topup", 0) + kinds.get("topup_reversal", 0),
                    "refunds_minor": kinds.get("refund", 0),
                    "other_minor": kinds.get("adjustment", 0) + kinds.get("payout", 0),
                    "opening_minor": close - sum(kinds.values()), "closing_minor": close})
    return sorted(out, key=lambda d: (d["name"].lower(), d["driver_id"]))


def _topups(window: tuple[datetime, datetime]) -> list[dict[str, Any]]:
    rows = (LedgerEntry.select(LedgerEntry.kind, LedgerEntry.method, fn.COUNT(LedgerEntry.id),
                               money_sum(LedgerEntry.amount))
            .where((LedgerEntry.created_at >= window[0]) & (LedgerEntry.created_at < window[1])
                   & LedgerEntry.kind.in_(("topup", "topup_reversal")))
            .group_by(LedgerEntry.kind, LedgerEntry.method).tuples())
    return sorted(({"method": method or "other", "kind": kind, "count": count,
                    "amount_minor": int(total or 0)} for kind, method, count, total in rows),
                  key=lambda t: (t["method"], t["kind"]))


def _online(window: tuple[datetime, datetime]) -> list[dict[str, Any]]:
    """Online money of the day by provider and payment method: payments confirmed (walk-in and
    top-ups, the method as the provider named it: upi, card, ...), and what went back (refunds,
    and the part of a card authorization never captured)."""
    rows = (LedgerEntry.select(LedgerEntry.reference, LedgerEntry.amount, LedgerEntry.note)
            .where((LedgerEntry.created_at >= window[0]) & (LedgerEntry.created_at < window[1])
                   & (LedgerEntry.reference.startswith("payment:")
                      | LedgerEntry.reference.startswith("refund:")
                      | LedgerEntry.reference.startswith("capture:"))))
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for reference, amount, note in rows.tuples():
        prefix, provider = reference.split(":")[:2]
        if prefix == "payment":
            words = (note or "").split()
            method = words[-1] if words and words[-1] not in ("walk-in", "top-up") else "other"
            key = (provider, method, "payment")
        else:
            key = (provider, "refund" if prefix == "refund" else "not_captured", "given_back")
        groups[key][0] += 1
        groups[key][1] += int(amount)
    return [{"provider": p, "method": m, "kind": k, "count": c, "amount_minor": a}
            for (p, m, k), (c, a) in sorted(groups.items())]


def _anomalies(window: tuple[datetime, datetime], stale_hours: int,
               ledger: list[tuple[bool, str]], station_ids: list[int] | None = None
               ) -> list[dict[str, Any]]:
    """Sessions still open too long at the day's end, sessions of the day that were flagged,
    and every ledger check that failed."""
    out: list[dict[str, Any]] = []
    here = ChargingSession.station.in_(station_ids) if station_ids is not None else True
    too_old = window[1] - timedelta(hours=stale_hours)
    open_long = (ChargingSession.select(ChargingSession, Station.cpid).join(Station)
                 .where(ChargingSession.state.in_(("active", "suspect"))
                        & (ChargingSession.started_at < too_old) & here)
                 .order_by(ChargingSession.id))
    for s in open_long:
        out.append({"kind": "open_too_long", "session_id": s.id, "station": s.station.cpid,
                    "detail": f"{s.state} since {s.started_at:%Y-%m-%d %H:%M} UTC"})
    flagged = (ChargingSession.select(ChargingSession, Station.cpid).join(Station)
               .where((ChargingSession.started_at >= window[0])
                      & (ChargingSession.started_at < window[1])
                      & ((ChargingSession.flags != "") | (ChargingSession.state == "suspect"))
                      & here)
               .order_by(ChargingSession.id))
    for s in flagged:
        out.append({"kind": "flagged", "session_id": s.id, "station": s.station.cpid,
                    "detail": s.flags or s.state})
    out.extend({"kind": "ledger", "session_id": None, "station": "", "detail": line}
               for ok, line in ledger if not ok)
    out.extend({"kind": "walkin_debt", "session_id": d["session_id"], "station": "",
                "detail": f"payment {d['id']} ({d['provider']} {d['payment_ref']}) owes "
                          f"{d['debt']} minor units"} for d in walkin.debts())
    return out

"""What the driver pages read, as plain synchronous functions for `database.read` (and one for
`database.run`: issuing a receipt number). Everything is scoped to one driver: a driver never
sees another driver's start, session or money."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from peewee import fn

from appliance.billing import ledger, qr, quotes, receipts, settlement, tariffs
from appliance.charging.stations import read_plugs
from appliance.db.models import Account, ChargingSession, Connector, Driver, Station
from appliance.db.models_driver import QrStart, Receipt
from appliance.db.models_money import LedgerEntry
from appliance.db.models_payments import OnlinePayment
from appliance.errors import N_, NotFound

FINAL = ("failed", "expired", "finished")


def connector_view(cpid: str, connector_id: int, driver_id: int | None, at: datetime,
                   plug: int | None = None) -> dict[str, Any]:
    """The start page: the charger, the connector's state, the tariff, the driver's money, and
    the driver's own start on this connector that is still going, if any."""
    station = qr.find_connector(cpid, connector_id)
    if station is None:
        raise NotFound(N_("There is no such connector here. Check the code on the charger."))
    row = Connector.get_or_none((Connector.station == station.id)
                                & (Connector.connector_id == connector_id))
    # The driver's group's tariff when logged in, else everyone's: what a start would keep.
    snap = quotes.snapshot_for(station.id, connector_id, settlement.price_group(driver_id),
                               "INR")
    out: dict[str, Any] = {
        "station": station, "connector_id": connector_id,
        "status": row.status if row else "Unknown", "error_code": row.error_code if row else "",
        "tariff": snap, "quote": quotes.describe(snap, at) if snap else None,
        "account_state": None, "ongoing": None, "plug": None}
    plugs = read_plugs(row.plugs) if row else {}
    if plug is not None and plug in plugs:
        # A socket of a 2.0.1 EVSE of several: named, with its own state beside the EVSE's.
        out["plug"] = {"connector_id": plug, "status": str(plugs[plug].get("status", ""))}
    if driver_id is not None:
        account = Account.get(Account.driver == driver_id)
        out["account_state"] = settlement.account_state(account, at)
        out["ongoing"] = (QrStart.select().where(
            (QrStart.driver == driver_id) & (QrStart.station == station.id)
            & (QrStart.connector_id == connector_id) & QrStart.state.in_(("pending", "started")))
            .order_by(QrStart.id.desc()).first())
        if out["ongoing"] is not None and out["ongoing"].state == "started":
            session = ChargingSession.get_or_none(ChargingSession.id == out["ongoing"].session_id)
            if session is None or session.state != "active":
                out["ongoing"] = None
    return out


def connector_now(cpid: str, connector_id: int) -> str:
    """A connector's last reported status (for the start page's live line)."""
    station = qr.find_connector(cpid, connector_id)
    if station is None:
        raise NotFound(N_("There is no such connector here. Check the code on the charger."))
    row = Connector.get_or_none((Connector.station == station.id)
                                & (Connector.connector_id == connector_id))
    return str(row.status) if row else "Unknown"


def own_start(start_id: int, driver_id: int) -> QrStart:
    start = QrStart.get_or_none((QrStart.id == start_id) & (QrStart.driver == driver_id))
    if start is None:
        raise NotFound(N_("No such start."))
    return start


def live_state(start_id: int, driver_id: int, at: datetime) -> dict[str, Any]:
    """One snapshot of a start for the live page and its event stream (JSON-able). The cost is
    `settlement.cost`, the same function that prices the finished session."""
    start = own_start(start_id, driver_id)
    station = Station.get_by_id(start.station_id)
    row = Connector.get_or_none((Connector.station == station.id)
                                & (Connector.connector_id == start.connector_id))
    out: dict[str, Any] = {
        "start_id": start.id, "cpid": station.cpid, "connector_id": start.connector_id,
        "connector_status": row.status if row else "Unknown", "state": start.state,
        "message": start.message, "hold": start.amount, "limit_wh": start.limit_wh,
        "deadline_at": start.deadline_at.isoformat() + "Z" if start.deadline_at else None,
        "energy_wh": 0, "power_w": None, "duration_s": 0, "cost": 0, "session_id": None,
        "stop_requested": "", "stop_reason": "", "currency": "", "idle_phase": "",
        "idle_minutes": 0, "idle_per_hour": "0", "idle_grace_min": 0}
    session = ChargingSession.get_or_none(ChargingSession.id == start.session_id) \
        if start.session_id else None
    if session is not None:
        price = settlement.cost(session, at)
        out["currency"] = price.currency
        end = session.stopped_at or at
        out.update({
            "session_id": session.id, "energy_wh": session.energy_wh, "power_w": session.power_w,
            "duration_s": max(0, int((end - session.started_at).total_seconds())),
            "cost": session.fee_minor if session.settled else price.fee,
            "stop_requested": session.stop_requested, "stop_reason": session.stop_reason,
            "state": "finished" if session.state != "active" else "charging"})
        snapshot = tariffs.load_snapshot(session.tariff_snapshot, "INR")
        out["idle_phase"], out["idle_minutes"] = settlement.idle_phase(
            session, out["connector_status"], at)
        out["idle_per_hour"] = str(snapshot.get("idle_per_hour") or "0")
        out["idle_grace_min"] = int(snapshot.get("idle_grace_min") or 0)
    out["final"] = out["state"] in FINAL
    paid = OnlinePayment.get_or_none(OnlinePayment.qr_start == start.id)
    if paid is not None:  # a walk-in payment: what goes back to the card or UPI, and when
        out["walk_in"] = {"state": paid.state, "give_back": paid.return_amount,
                          "currency": paid.currency, "token": paid.token}
    if out["final"]:  # what the receipt will say, not the last live figures
        out["balance"] = int(Account.get(Account.driver == driver_id).balance)
    return out


def _balance_upto(account_id: int | None, entry_id: int) -> int:
    return int(LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount), 0))
               .where((LedgerEntry.account == account_id) & (LedgerEntry.id <= entry_id)
                      & LedgerEntry.kind.in_(ledger.BALANCE_KINDS)).scalar())


def own_session(session_id: int, driver_id: int) -> ChargingSession:
    session = ChargingSession.get_or_none((ChargingSession.id == session_id)
                                          & (ChargingSession.driver == driver_id))
    if session is None:
        raise NotFound(N_("No such session."))
    return session


def issue_receipt(session_id: int, driver_id: int) -> int:
    """The session's receipt number, given once (a UNIQUE session: a second call finds it)."""
    session = own_session(session_id, driver_id)
    if not session.settled:
        raise NotFound(N_("The receipt is ready once the session has ended."))
    return receipts.number(session.id)


def receipt_view(session_id: int, driver_id: int) -> dict[str, Any]:
    session = own_session(session_id, driver_id)
    receipt = Receipt.get_or_none(Receipt.session == session.id)
    if receipt is None or not session.settled:
        raise NotFound(N_("The receipt is ready once the session has ended."))
    last = (LedgerEntry.select(fn.MAX(LedgerEntry.id))
            .where(LedgerEntry.session == session.id).scalar())
    snapshot = tariffs.load_snapshot(session.tariff_snapshot, "INR")
    assert session.stopped_at is not None  # settled: it has stopped
    return {
        "number": receipt.id, "issued_at": receipt.created_at, "session": session,
        "station": Station.get_by_id(session.station_id),
        "driver": Driver.get_by_id(driver_id), "tariff": snapshot,
        "price": json.loads(session.fee_breakdown) if session.fee_breakdown else None,
        "currency": snapshot.get("currency") or "INR",
        "duration_s": int((session.stopped_at - session.started_at).total_seconds()),
        "balance_after": (_stored_or_summed(session.account_id, last)
                          if last and session.account_id is not None else None)}


def _stored_or_summed(account_id: int, entry_id: int) -> int:
    stored = LedgerEntry.get_by_id(entry_id).balance_after
    return int(stored) if stored is not None else _balance_upto(account_id, entry_id)


def me_view(driver_id: int, at: datetime) -> dict[str, Any]:
    """The driver's money, their recent ledger rows (newest first, with the balance after
    each), and their past sessions."""
    account = Account.get(Account.driver == driver_id)
    state = settlement.account_state(account, at)
    rows = list(LedgerEntry.select().where(LedgerEntry.account == account.id)
                .order_by(LedgerEntry.id.desc()).limit(50))
    running, records = account.balance, []
    for entry in rows:
        records.append({"entry": entry, "balance_after": running})
        if entry.kind in ledger.BALANCE_KINDS:
            running -= entry.amount
    sessions = list(ChargingSession.select(ChargingSession, Station).join(Station)
                    .where(ChargingSession.driver == driver_id)
                    .order_by(ChargingSession.id.desc()).limit(50))
    starts = {s.session_id: s.id for s in QrStart.select().where(
        (QrStart.driver == driver_id) & QrStart.session.is_null(False))}
    live = [s for s in QrStart.select().where((QrStart.driver == driver_id)
                                              & (QrStart.state == "pending"))]
    return {"driver": Driver.get_by_id(driver_id), "account": account, "state": state,
            "records": records, "sessions": sessions, "starts": starts, "pending": live}

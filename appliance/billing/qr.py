"""QR starts: the money side of a driver starting a connector from its QR code. A start commits
its hold first (one ledger row), then the page sends RemoteStartTransaction with a fresh id tag
of the driver's own; the StartTransaction carrying that tag captures the hold, and settlement
releases it whole. Every way a start fails releases the hold. Sync functions for the seam."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from peewee import IntegrityError

from appliance.billing import ledger, pricing, settlement, tariffs
from appliance.db.models import Account, ChargingSession, Connector, Driver, IdTag, Station, utcnow
from appliance.db.models_driver import QrStart
from appliance.db.models_money import Hold
from appliance.errors import N_, Conflict, Forbidden, NotFound, Unprocessable

PREFIX = "QR-"  # card UIDs are hex or decimal digits: no card has a hyphen
ACCEPTED = "Accepted"
# Preparing is free: drivers plug in first, then scan. Unknown: no status report yet.
FREE_STATES = ("Available", "Preparing", "Unknown")
# Commercial idTagInfo (cards and QR tags) expires soon, so chargers do not cache it for long.
EXPIRY_WINDOW = timedelta(minutes=15)
KWH_MARGIN = Decimal("1.25")  # a kWh limit holds its energy price plus room for time fees
TIMEOUT_MESSAGE = N_("The charger did not start in time (was the cable plugged in?). "
                     "Your money was not used.")


@dataclass(frozen=True)
class StartRequest:
    driver_id: int
    cpid: str
    connector_id: int
    idem_key: str
    timeout_s: float  # the charger's ConnectionTimeOut plus a margin
    at: datetime
    limit_minor: int | None = None
    limit_wh: int | None = None
    # A money limit as the driver typed it, in major units of the account's currency: made
    # minor units by `begin`, which reads the account anyway (the page reads nothing first).
    limit_amount: Decimal | None = None


def is_qr_tag(key: str) -> bool:
    return key.upper().startswith(PREFIX)


def owns(key: str) -> bool:
    """Whether this tag is a QR start's own (not merely shaped like one)."""
    return is_qr_tag(key) and QrStart.select().where(QrStart.id_tag == key.upper()).exists()


def new_tag() -> str:
    return PREFIX + base64.b32encode(secrets.token_bytes(8)).decode().rstrip("=")


def find_connector(cpid: str, connector_id: int) -> Station | None:
    """The station when it has this connector (> 0), else None: pages refuse the rest."""
    station = Station.get_or_none((Station.key == cpid.upper()) & Station.retired_at.is_null())
    if station is None or connector_id < 1:
        return None
    if connector_id <= station.num_connectors:
        return station
    seen = Connector.get_or_none((Connector.station == station.id)
                                 & (Connector.connector_id == connector_id))
    return station if seen is not None else None


def _release(start: QrStart, state: str, message: str, at: datetime) -> None:
    """End a start that never captured its hold: the hold goes back whole."""
    hold = Hold.get_or_none(Hold.id == start.hold_id) if start.hold_id else None
    if hold is not None and hold.state == "open":
        ledger.post(ledger.Posting(hold.account_id, -hold.amount, "release",
                                   f"release:{hold.id}", actor="qr-start", note=message[:200]))
        hold.state = "released"
        hold.save()
    (QrStart.update(state=state, message=message[:200], slot=None, updated_at=at)
     .where(QrStart.id == start.id).execute())


def fail(start_id: int, message: str, at: datetime) -> None:
    """The start failed before any StartTransaction: release its hold, keep the reason."""
    start = QrStart.get_by_id(start_id)
    if start.state == "pending":
        _release(start, "failed", message, at)


def expire_overdue(at: datetime) -> list[int]:
    """Pending starts past their deadline give their hold back. Returns their ids."""
    overdue = list(QrStart.select().where((QrStart.state == "pending")
                                          & (QrStart.deadline_at < at)))
    for start in overdue:
        _release(start, "expired", TIMEOUT_MESSAGE, at)
    return [s.id for s in overdue]


def check_connector(station: Station, connector_id: int) -> None:
    row = Connector.get_or_none((Connector.station == station.id)
                                & (Connector.connector_id == connector_id))
    status = row.status if row is not None else "Unknown"
    if status == "Faulted" or (row is not None and row.error_code not in ("NoError", "")):
        raise Conflict(N_("This connector reports a fault. Please use another one."))
    busy = ChargingSession.select().where(
        (ChargingSession.station == station.id) & (ChargingSession.connector_id == connector_id)
        & (ChargingSession.state == "active")).exists()
    if busy or status not in FREE_STATES:
        raise Conflict(N_("This connector is not free (%(status)s). Please use another one."),
                       params={"status": status})


def _hold_amount(req: StartRequest, station: Station, account: Account) -> int:
    """The limit (or a kWh limit's price), capped by what is available; at least the tariff's
    minimum to start."""
    state = settlement.account_state(account, req.at)
    if state["debt"] > 0:
        raise Unprocessable(N_("Your balance is below zero. Please top up at the desk first."))
    tariff, scope = tariffs.resolve_scope(station.id, req.connector_id,
                                          settlement.price_group(req.driver_id))
    needed = tariff.min_to_start if tariff else 0
    available = state["available"]
    amount = available
    if req.limit_minor is not None and req.limit_minor < needed:
        raise Unprocessable(N_("The limit is below this charger's minimum to start, "
                               "%(needed)s %(currency)s: type at least that much."),
                            params={"needed": pricing.to_major_text(needed, account.currency),
                                    "currency": account.currency},
                            details={"field": "limit", "needed": needed})
    if req.limit_minor is not None:
        amount = min(req.limit_minor, available)
    elif req.limit_wh is not None and tariff is not None:
        snap = tariffs.snapshot(tariff, account.currency, scope)
        price = pricing.price(snap, pricing.Facts(req.limit_wh, req.at, req.at)).fee
        amount = min(pricing.round_half_up(Decimal(price) * KWH_MARGIN), available)
        amount = max(amount, min(needed, available))
    if available <= 0 or available < needed or amount < needed or amount <= 0:
        raise Unprocessable(N_("Your balance is too low to start here: top up at the desk."),
                            details={"available": available, "needed": needed})
    return int(amount)


def begin(req: StartRequest) -> tuple[QrStart, bool]:
    """Commit the hold of a QR start. Returns (start, created); the same form key returns the
    first start, and a second start on a connector that is being started is refused."""
    idem = f"{req.driver_id}:{req.idem_key}"[:200]
    seen = QrStart.get_or_none(QrStart.idem_key == idem)
    if seen is not None:
        return seen, False
    expire_overdue(req.at)
    station = find_connector(req.cpid, req.connector_id)
    if station is None:
        raise NotFound(N_("There is no such connector here."))
    driver = Driver.get_by_id(req.driver_id)
    if driver.blocked or driver.retired_at is not None:
        raise Forbidden(N_("Your account is blocked. Please ask at the desk."))
    check_connector(station, req.connector_id)
    # Locked (on PostgreSQL) before reading what is available, so two processes cannot both hold it.
    account = ledger.lock_account(Account.get(Account.driver == driver.id).id)
    if req.limit_amount is not None:
        req = replace(req, limit_minor=pricing.to_minor(req.limit_amount, account.currency))
    amount = _hold_amount(req, station, account)
    tag = new_tag()
    try:
        with QrStart._meta.database.atomic():
            start = QrStart.create(
                driver=driver.id, account=account.id, station=station.id,
                connector_id=req.connector_id, id_tag=tag, idem_key=idem,
                slot=f"{station.id}:{req.connector_id}", amount=amount, limit_wh=req.limit_wh,
                deadline_at=req.at + timedelta(seconds=req.timeout_s), created_at=req.at,
                updated_at=req.at)
    except IntegrityError as err:
        raise Conflict(N_("Someone is starting this connector right now. "
                          "Please wait a moment or use another one.")) from err
    hold = ledger.place_hold(account.id, amount, tag, actor=f"driver:{driver.id}")
    Hold.update(expires_at=start.deadline_at).where(Hold.id == hold.id).execute()
    start.hold_id = hold.id
    start.save()
    return start, True


def _can_rehold(start: QrStart, at: datetime) -> bool:
    state = settlement.account_state(Account.get_by_id(start.account_id), at)
    return state["debt"] == 0 and state["available"] >= start.amount


def decide(key: str, station_id: int, at: datetime, for_start: bool
           ) -> tuple[str, str, datetime | None, str] | None:
    """(status, parentIdTag, expiry, reason) for a QR tag, or None when it is not one of ours.
    A pending start is Accepted on its hold; a late one only if the balance covers it again."""
    start = QrStart.get_or_none(QrStart.id_tag == key.upper())
    if start is None:
        return None
    driver = Driver.get_by_id(start.driver_id)
    parent, expiry = driver.group_tag, at + EXPIRY_WINDOW
    if driver.blocked or driver.retired_at is not None:
        return "Blocked", parent, None, "driver blocked"
    if start.station_id != station_id:
        return "Invalid", parent, None, "QR tag of another charger"
    if start.state == "pending":
        return ACCEPTED, parent, expiry, ""
    if start.state == "started":
        active = ChargingSession.select().where(
            (ChargingSession.id == start.session_id) & (ChargingSession.state == "active"))
        if not for_start:
            return ACCEPTED, parent, expiry, ""  # a stop by its own tag
        return ("ConcurrentTx", parent, expiry, "QR tag already charging") if active.exists() \
            else ("Expired", parent, None, "QR tag used")
    if _can_rehold(start, at):
        return ACCEPTED, parent, expiry, "late start, held again"
    return "Expired", parent, None, "late start, balance too low"


def capture(session: ChargingSession, status: str, at: datetime) -> None:
    """The StartTransaction carrying a QR tag: the driver pays (recorded and billed whatever
    we answered), and its hold, or a new one for a late start, is bound to the session."""
    start = QrStart.get(QrStart.id_tag == session.id_tag_key)
    settlement.attach(session, IdTag(driver=start.driver_id, mode="commercial"))
    hold = Hold.get_or_none(Hold.id == start.hold_id) if start.hold_id else None
    if hold is None or hold.state != "open":
        hold = None
        if status == ACCEPTED and start.session_id is None:
            hold = ledger.place_hold(start.account_id, start.amount, start.id_tag, "qr-late")
    if hold is not None:
        Hold.update(session=session.id, state="captured", expires_at=None).where(
            Hold.id == hold.id).execute()
    message = "" if status == ACCEPTED else f"The charger started late: {status}."
    (QrStart.update(state="started", session=session.id, slot=None, message=message,
                    hold=hold.id if hold is not None else start.hold_id, updated_at=at)
     .where(QrStart.id == start.id).execute())


def now() -> datetime:
    return utcnow()

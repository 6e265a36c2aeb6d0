"""Walk-in payments: a driver with no account pays online for one session. The payment belongs
to a guest account made for it, so the hold, settlement and receipt are a registered driver's;
what the session did not use goes back to the payment method. Ledger references:
`payment:{provider}:{id}` (the money confirmed), `refund:{provider}:{id}` (a refund of the
rest), `capture:{provider}:{id}` (an authorization captured for the fee: the rest, never
captured, leaves the account). So each payment's rows sum to what the site keeps. Sync
functions for the database seam; the provider calls are `walkin_returns`'."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import IntegrityError

from appliance.billing import accounts, ledger, qr, tariffs
from appliance.db.models import Account, ChargingSession, Driver
from appliance.db.models_driver import DriverLogin, QrStart
from appliance.db.models_money import LedgerEntry
from appliance.db.models_payments import OnlinePayment, WebhookEvent
from appliance.errors import N_, ApplianceError, NotFound, Text, Unprocessable
from appliance.payments.provider import Confirmation, Paid

PAY_WINDOW = timedelta(minutes=15)  # a checkout not paid by then is abandoned
RETRY_FIRST_S, RETRY_MAX_S = 10, 3600
METHOD = "online"


@dataclass(frozen=True)
class Plan:
    """What to ask the provider to give back, and the ledger reference that records it."""

    payment_id: int
    provider: str
    payment_ref: str
    manual_capture: bool
    paid: int
    give_back: int
    reference: str

    @property
    def keep(self) -> int:
        return self.paid - self.give_back


def open_payment(provider: str, manual_capture: bool, cpid: str, connector_id: int,
                 amount: int, currency: str, limit_wh: int | None, at: datetime,
                 keep_for: int | None = None) -> OnlinePayment:
    """A payment about to go to the provider: the connector must be free and the amount cover
    the tariff's minimum to start. `keep_for`: a signed-in driver who keeps the rest as
    balance (the payment is booked on their own account, and nothing is given back)."""
    if keep_for is not None:
        account = Account.get_or_none(Account.driver == keep_for)
        if account is None or account.currency != currency:
            raise Unprocessable(N_("Your balance is in another currency: the rest cannot be "
                                   "kept as balance."))
    station = qr.find_connector(cpid, connector_id)
    if station is None:
        raise NotFound(N_("There is no such connector here."))
    qr.check_connector(station, connector_id)
    tariff = tariffs.resolve(station.id, connector_id)
    needed = max(1, tariff.min_to_start if tariff else 0)
    if amount < needed:
        raise Unprocessable(N_("The amount is below this charger's minimum to start."),
                            details={"field": "limit", "needed": needed})
    return OnlinePayment.create(
        provider=provider, token=secrets.token_urlsafe(24), amount=amount, currency=currency,
        station=station.id, connector_id=connector_id, limit_wh=limit_wh,
        manual_capture=manual_capture, keep_for=keep_for, created_at=at, updated_at=at)


def set_checkout(payment_id: int, ref: str, url: str) -> None:
    (OnlinePayment.update(ref=ref, checkout_url=url).where(OnlinePayment.id == payment_id)
     .execute())


def by_token(token: str) -> OnlinePayment:
    p = OnlinePayment.get_or_none(OnlinePayment.token == token)
    if p is None:
        raise NotFound(N_("There is no such payment."))
    return p


def by_ref(provider: str, ref: str) -> OnlinePayment | None:
    return OnlinePayment.get_or_none((OnlinePayment.provider == provider)
                                     & (OnlinePayment.ref == ref))


def _guest(p: OnlinePayment) -> Account:
    """The guest account of a walk-in payment: a driver who can hold a phone session (the
    payer's phone) but has no PIN, so nobody can log in as them."""
    made = accounts.create_driver({"name": "Guest", "note": f"walk-in payment {p.id}"},
                                  p.currency)
    DriverLogin.create(driver=made["id"])
    return Account.get(Account.driver == made["id"])


def book(payment_id: int, conf: Confirmation, timeout_s: float, at: datetime, start: bool
         ) -> tuple[OnlinePayment, bool]:
    """Book a payment the provider confirmed (its API or a verified webhook; never the
    redirect) on a guest account and commit the QR start's hold. Returns (payment, True) when
    this call moved it on, so the caller sends the start command exactly once. A payment seen
    before changes nothing."""
    p = OnlinePayment.get_by_id(payment_id)
    if p.state != "created" or conf.status not in (Paid.AUTHORIZED, Paid.CAPTURED):
        return p, False
    p.payment_ref, p.manual_capture = conf.payment_ref, conf.status == Paid.AUTHORIZED
    p.updated_at = at
    if conf.currency != p.currency:
        p.state, p.return_amount = "returning", conf.amount
        p.message = Text(PAID_ELSEWHERE, paid=conf.currency, asked=p.currency)
        p.save()
        return p, True
    account = _guest(p) if p.keep_for_id is None else \
        Account.get(Account.driver == p.keep_for_id)
    p.driver_id, p.account_id = account.driver_id, account.id
    ledger.post(ledger.Posting(account.id, conf.amount, "topup",
                               f"payment:{p.provider}:{conf.payment_ref}",
                               actor=f"payment:{p.provider}", method=METHOD,
                               note=f"walk-in {conf.method}".strip()))
    if conf.amount != p.amount:
        return _to_return(p, N_("The amount paid was not the amount asked: given back "
                                "whole.")), True
    if not start:
        return _to_return(p, N_("Paid, but the box restarted before the start: given back "
                                "whole.")), True
    try:
        with OnlinePayment._meta.database.atomic():
            req = qr.StartRequest(account.driver_id, p.station.key, p.connector_id,
                                  f"pay:{p.id}", timeout_s, at, p.amount, p.limit_wh)
            started, _ = qr.begin(req)
    except ApplianceError as err:
        return _to_return(p, err.message), True
    p.qr_start_id, p.state = started.id, "held"
    p.save()
    return p, True


# Stored in English (the payment's row); `readable` gives a page the text to translate.
PAID_ELSEWHERE = N_("Paid in %(paid)s, not %(asked)s: given back whole.")
KEPT = N_("The session did not start as paid for: the money stays on your balance.")


def readable(message: str) -> str:
    """A stored message as a `Text` a page can show in the reader's language."""
    found = re.fullmatch(r"Paid in (\w+), not (\w+): given back whole\.", message or "")
    return Text(PAID_ELSEWHERE, paid=found[1], asked=found[2]) if found else (message or "")


def _to_return(p: OnlinePayment, message: str) -> OnlinePayment:
    """The session is over or never began: fix what goes back (the guest's balance less what is
    set aside, never below zero) and let the return loop do it."""
    account = Account.get_by_id(p.account_id)
    # Kept as balance: the driver's own account (with money of before) keeps it all.
    p.return_amount = 0 if p.keep_for_id is not None else \
        max(0, min(account.balance - account.held, paid(p)))
    if p.keep_for_id is not None and message:
        message = KEPT
    p.state, p.message, p.next_try_at = "returning", message[:200], None
    p.save()
    return p


def paid(p: OnlinePayment) -> int:
    row = LedgerEntry.get_or_none(LedgerEntry.reference == f"payment:{p.provider}:{p.payment_ref}")
    return int(row.amount) if row is not None else 0


def advance(at: datetime) -> list[int]:
    """Held payments whose start failed, expired or whose session is settled move to
    returning. Returns the ids of payments whose return is due now."""
    qr.expire_overdue(at)
    for p in OnlinePayment.select().where(OnlinePayment.state == "held"):
        start = QrStart.get_by_id(p.qr_start_id)
        if start.state in ("failed", "expired"):
            _to_return(p, start.message or N_("The charger did not start."))
        elif start.state == "started" and start.session_id is not None:
            session = ChargingSession.get_by_id(start.session_id)
            if session.settled:
                _to_return(p, "")
    due = OnlinePayment.select(OnlinePayment.id).where(
        (OnlinePayment.state == "returning")
        & (OnlinePayment.next_try_at.is_null() | (OnlinePayment.next_try_at <= at)))
    return [p.id for p in due.order_by(OnlinePayment.id)]


def plan(payment_id: int) -> Plan:
    p = OnlinePayment.get_by_id(payment_id)
    amount = paid(p) if p.account_id is not None else int(p.return_amount or 0)
    kind = "capture" if p.manual_capture else "refund"
    return Plan(p.id, p.provider, p.payment_ref or "", bool(p.manual_capture), amount,
                int(p.return_amount or 0), f"{kind}:{p.provider}:{p.payment_ref}")


def record_return(payment_id: int, provider_id: str, at: datetime) -> None:
    """The provider gave back (or captured) as planned: one ledger row, then done."""
    p = OnlinePayment.get_by_id(payment_id)
    if p.state != "returning":
        return
    step = plan(payment_id)
    if p.account_id is not None and (step.give_back or step.manual_capture):
        ledger.post(ledger.Posting(p.account_id, -step.give_back, "payout", step.reference,
                                   actor=f"payment:{p.provider}", method=METHOD,
                                   note=f"{provider_id} kept {step.keep}"[:200]))
    (OnlinePayment.update(state="done", last_error="", next_try_at=None, updated_at=at)
     .where(OnlinePayment.id == payment_id).execute())


def record_failure(payment_id: int, error: str, at: datetime) -> None:
    """A give-back the provider did not take: retried with a growing wait, shown to staff."""
    p = OnlinePayment.get_by_id(payment_id)
    wait = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** min(p.attempts, 12))
    (OnlinePayment.update(attempts=OnlinePayment.attempts + 1, last_error=error[:200],
                          next_try_at=at + timedelta(seconds=wait), updated_at=at)
     .where(OnlinePayment.id == payment_id).execute())


def unconfirmed(at: datetime, everything: bool) -> list[int]:
    """Checkouts never confirmed: all of them at start-up (the box may have been down while
    they were paid), else those past the pay window."""
    query = OnlinePayment.select(OnlinePayment.id).where(
        (OnlinePayment.state == "created") & OnlinePayment.ref.is_null(False))
    if not everything:
        query = query.where(OnlinePayment.created_at < at - PAY_WINDOW)
    return [p.id for p in query]


def abandon(payment_id: int, at: datetime) -> None:
    (OnlinePayment.update(state="abandoned", message=N_("Not paid: nothing was taken."),
                          updated_at=at)
     .where((OnlinePayment.id == payment_id) & (OnlinePayment.state == "created")).execute())


def for_staff() -> list[dict[str, object]]:
    """Payments still giving money back, the failing ones first: staff watch these."""
    rows = OnlinePayment.select().where(OnlinePayment.state.in_(("returning", "mismatch")))
    return [{"id": p.id, "provider": p.provider, "payment_ref": p.payment_ref,
             "amount": p.return_amount, "currency": p.currency, "attempts": p.attempts,
             "last_error": p.last_error, "next_try_at": p.next_try_at, "message": p.message}
            for p in rows.order_by(OnlinePayment.attempts.desc(), OnlinePayment.id)]


def of_start(start_id: int) -> OnlinePayment | None:
    return OnlinePayment.get_or_none(OnlinePayment.qr_start == start_id)


def guest_driver(p: OnlinePayment) -> int:
    if p.driver_id is None or Driver.get_or_none(Driver.id == p.driver_id) is None:
        raise NotFound(N_("This payment has no session."))
    return int(p.driver_id)


def seen_event(provider: str, event_id: str, kind: str, at: datetime) -> bool:
    """Record a verified webhook event; False when it was seen before (a replay)."""
    try:
        with WebhookEvent._meta.database.atomic():
            WebhookEvent.create(provider=provider, event_id=event_id[:120], kind=kind[:60],
                                received_at=at)
    except IntegrityError:
        return False
    return True


def refused_event(provider: str, why: str, address: str, at: datetime) -> None:
    """A webhook whose signature did not verify: kept for staff, never acted on."""
    WebhookEvent.create(provider=provider, event_id=f"refused:{secrets.token_hex(8)}",
                        kind="refused", verified=False, outcome=f"{why} ({address})"[:200],
                        received_at=at)


# --- walk-in debts ------------------------------------------------------------------------------
# A guest's fee can pass what they paid (a charger that stops late, idle fees after the end). No
# provider takes more than was paid or authorized (Stripe captures at most the authorization,
# Razorpay's payment is captured already), and a guest left no way to be asked: the debt stays on
# the guest account, the whole payment is kept, staff see it here and in the nightly report,
# and write it off (an adjustment with their name) once they gave up or settled it by hand.
def debts() -> list[dict[str, object]]:
    """Walk-in guests whose fee came to more than they paid, oldest first."""
    rows = (OnlinePayment.select(OnlinePayment, Account)
            .join(Account)
            .where((Account.balance < 0) & OnlinePayment.keep_for.is_null()
                   & (OnlinePayment.state == "done"))
            .order_by(OnlinePayment.id))
    out: list[dict[str, object]] = []
    for p in rows:
        start = QrStart.get_or_none(QrStart.id == p.qr_start_id) if p.qr_start_id else None
        account = p.account
        assert account is not None  # joined on it
        out.append({"id": p.id, "provider": p.provider, "payment_ref": p.payment_ref,
                    "debt": -int(account.balance), "currency": p.currency,
                    "paid": paid(p), "session_id": start.session_id if start else None,
                    "driver_id": p.driver_id, "at": p.updated_at})
    return out


def write_off(payment_id: int, actor: str, reason: str) -> int:
    """Close a walk-in debt: one adjustment bringing the guest account back to zero. Returns
    the amount written off (0 when there was no debt, or it was written off before)."""
    p = OnlinePayment.get_by_id(payment_id)
    account = Account.get_or_none(Account.id == p.account_id) if p.account_id else None
    if account is None or p.keep_for_id is not None or account.balance >= 0:
        return 0
    amount = -int(account.balance)
    _, created = ledger.post(ledger.Posting(
        account.id, amount, "adjustment", f"writeoff:walkin:{p.id}", actor=actor,
        note=f"walk-in debt written off: {reason}"[:200]))
    return amount if created else 0

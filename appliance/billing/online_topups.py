"""A registered driver tops up their balance online: a checkout for the amount, confirmed with
the provider's API (the return page, a verified webhook or the reconcile loop: whichever comes
first, never the redirect itself), then one `payment:{provider}:{id}` ledger row on their
account. A replay, a second webhook or the loop after the page finds the top-up booked and
changes nothing. Sync functions for the database seam; the provider calls are in
`walkin_returns`."""

from __future__ import annotations

import secrets
from datetime import datetime

from appliance.billing import accounts, ledger
from appliance.billing.walkin import METHOD, PAY_WINDOW
from appliance.db.models import Account, Driver
from appliance.db.models_payments import OnlineTopup
from appliance.errors import N_, InvalidInput, NotFound, Text
from appliance.payments.provider import Confirmation, Paid


def open_topup(driver_id: int, provider: str, amount: int, currency: str, at: datetime
               ) -> OnlineTopup:
    driver = Driver.get_or_none(Driver.id == driver_id)
    if driver is None or driver.retired_at is not None or driver.blocked:
        raise NotFound(N_("There is no such driver."))
    if amount <= 0:
        raise InvalidInput(N_("Type how much to add."), details={"field": "amount"})
    account = Account.get(Account.driver == driver_id)
    if account.currency != currency:
        raise InvalidInput(N_("Your balance is in %(currency)s."),
                           params={"currency": account.currency})
    accounts.check_topup_cap(amount, currency)
    return OnlineTopup.create(provider=provider, token=secrets.token_urlsafe(24), amount=amount,
                              currency=currency, driver=driver_id, created_at=at,
                              updated_at=at)


def set_checkout(topup_id: int, ref: str, url: str) -> None:
    OnlineTopup.update(ref=ref, checkout_url=url).where(OnlineTopup.id == topup_id).execute()


def by_token(token: str) -> OnlineTopup:
    found = OnlineTopup.get_or_none(OnlineTopup.token == token)
    if found is None:
        raise NotFound(N_("There is no such payment."))
    return found


def by_ref(provider: str, ref: str) -> OnlineTopup | None:
    return OnlineTopup.get_or_none((OnlineTopup.provider == provider) & (OnlineTopup.ref == ref))


MISMATCH = N_("Paid in %(paid)s, not %(asked)s: nothing was added. The desk sorts it out.")


def book(topup_id: int, conf: Confirmation, at: datetime) -> OnlineTopup:
    """Book a captured payment once: the amount the provider took (which is the driver's money
    even where it differs from the amount asked), in the balance's currency only."""
    t = OnlineTopup.get_by_id(topup_id)
    if t.state != "created" or conf.status != Paid.CAPTURED:
        return t
    t.payment_ref, t.updated_at = conf.payment_ref, at
    if conf.currency != t.currency:
        t.state, t.message = "mismatch", Text(MISMATCH, paid=conf.currency, asked=t.currency)
        t.save()
        return t
    account = Account.get(Account.driver == t.driver_id)
    ledger.post(ledger.Posting(account.id, conf.amount, "topup",
                               f"payment:{t.provider}:{conf.payment_ref}",
                               actor=f"payment:{t.provider}", method=METHOD,
                               note=f"online top-up {conf.method}".strip()))
    t.state = "booked"
    t.save()
    return t


def abandon(topup_id: int, at: datetime) -> None:
    (OnlineTopup.update(state="abandoned", message=N_("Not paid: nothing was taken."),
                        updated_at=at)
     .where((OnlineTopup.id == topup_id) & (OnlineTopup.state == "created")).execute())


def unconfirmed(at: datetime, everything: bool) -> list[int]:
    query = OnlineTopup.select(OnlineTopup.id).where(
        (OnlineTopup.state == "created") & OnlineTopup.ref.is_null(False))
    if not everything:
        query = query.where(OnlineTopup.created_at < at - PAY_WINDOW)
    return [t.id for t in query.order_by(OnlineTopup.id)]


def for_staff() -> list[dict[str, object]]:
    """Top-ups paid in another currency: money taken that is on no balance."""
    rows = OnlineTopup.select().where(OnlineTopup.state == "mismatch")
    return [{"id": t.id, "provider": t.provider, "payment_ref": t.payment_ref,
             "amount": t.amount, "currency": t.currency, "driver_id": t.driver_id,
             "message": t.message} for t in rows.order_by(OnlineTopup.id)]

"""How money enters a driver's balance: a small provider interface, so an online gateway can be
added later without touching the start flow. Today the desk is the one provider: staff take
cash, a card terminal or a bank transfer and book a top-up in the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from appliance.billing import ledger
from appliance.db.models import Account


@dataclass(frozen=True)
class TopUp:
    """A top-up a provider has taken: booked once per reference (its idempotency key)."""

    driver_id: int
    amount: int  # minor units, > 0
    method: str
    reference: str  # `topup:{principal}:{idempotency key}`
    actor: str
    receipt_no: str = ""
    note: str = ""


class PaymentProvider(Protocol):
    name: str

    def instructions(self) -> str:
        """What a driver reads on their page to add money this way (English; the page
        translates it)."""

    def book(self, topup: TopUp) -> int:
        """Book a taken payment (sync, inside `database.run`). Returns the ledger entry id."""


class DeskProvider:
    """The site's desk: the only provider today. Its top-ups are what the desk pages and the
    money API book; an online gateway would confirm a payment and call `book` the same way."""

    name = "desk"

    def instructions(self) -> str:
        return "Top up at the desk: cash, card or bank transfer."

    def book(self, topup: TopUp) -> int:
        account = Account.get(Account.driver == topup.driver_id)
        entry = ledger.topup(account.id, topup.amount, topup.method, topup.receipt_no,
                             topup.reference, topup.actor, topup.note)
        return int(entry.id)


def providers() -> list[PaymentProvider]:
    """The providers a site offers, in the order the driver's page lists them."""
    return [DeskProvider()]

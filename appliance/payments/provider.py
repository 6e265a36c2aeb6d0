"""The one interface every online provider implements, and the plain values it trades in:
create a checkout for an amount, confirm a payment server to server, capture, cancel, refund,
verify a webhook, list the day's money movements. Amounts are integer minor units; currencies
ISO 4217 upper case."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import aiohttp

from appliance.errors import N_, PaymentError

log = logging.getLogger(__name__)
HTTP_TIMEOUT_S = 15.0


class Paid(StrEnum):
    """What the provider says of a checkout."""

    PENDING = "pending"  # not paid (yet)
    AUTHORIZED = "authorized"  # money reserved on the card; capture or cancel it
    CAPTURED = "captured"  # money taken; give back with a refund
    FAILED = "failed"  # cancelled, expired or failed: nothing was taken


@dataclass(frozen=True)
class Checkout:
    ref: str  # the provider's id of the checkout (payment link, checkout session)
    url: str  # where the phone goes to pay


@dataclass(frozen=True)
class Confirmation:
    status: Paid
    payment_ref: str  # the payment's own id ("" while pending)
    amount: int
    currency: str
    method: str = ""


@dataclass(frozen=True)
class NewCheckout:
    amount: int
    currency: str
    reference: str  # our own reference for the provider's records
    description: str
    return_url: str  # where the provider sends the phone back (never proof of payment)
    cancel_url: str


@dataclass(frozen=True)
class WebhookNote:
    """A verified webhook: which event, and which checkout it is about ("" if none of ours)."""

    event_id: str
    kind: str
    checkout_ref: str


@dataclass(frozen=True)
class Settled:
    """One money movement as the provider records it: + money it took for us (a captured
    payment), - money it gave back (a refund), keyed by the payment's own id."""

    payment_ref: str
    amount: int
    kind: str  # "payment" or "refund"


@dataclass(frozen=True)
class Keys:
    key_id: str
    secret: str
    webhook_secret: str


class Provider(Protocol):
    name: str
    manual_capture: bool  # authorizes first, then captures the fee (no refund needed)

    async def create(self, new: NewCheckout) -> Checkout: ...

    async def confirm(self, checkout_ref: str) -> Confirmation: ...

    async def capture(self, payment_ref: str, amount: int, key: str) -> None: ...

    async def cancel(self, payment_ref: str, key: str) -> None: ...

    async def abandon(self, checkout_ref: str) -> None: ...

    async def refund(self, payment_ref: str, amount: int, key: str) -> str: ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookNote:
        ...

    async def test_connection(self) -> None: ...

    async def list_settlement(self, start: datetime, end: datetime) -> list[Settled]:
        """The provider's own money movements in [start, end), for the nightly
        reconciliation."""
        ...


def hmac_hex(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


class Http:
    """A provider's HTTP API at its base URL: JSON answers, our error on anything else."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, auth_header: str,
                 name: str) -> None:
        self.session, self.base = session, base_url.rstrip("/")
        self.auth, self.name = auth_header, name

    async def call(self, method: str, path: str, *, json: Any = None,
                   form: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
        all_headers = {"Authorization": self.auth, **(headers or {})}
        try:
            async with self.session.request(
                    method, self.base + path, json=json, data=form, headers=all_headers,
                    timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)) as resp:
                body = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise PaymentError(N_("%(provider)s could not be reached: %(error)s"),
                               params={"provider": self.name, "error": repr(err)[:150]}) from err
        if status >= 400 or not isinstance(body, dict):
            message = _error_text(body)
            log.warning("%s %s %s: HTTP %s %s", self.name, method, path, status, message)
            raise PaymentError(N_("%(provider)s answered %(status)s: %(error)s"),
                               params={"provider": self.name, "status": status,
                                       "error": message[:150]}, details={"status": status})
        return body


def _error_text(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("description") or body["error"].get("message") or "")
    return ""

"""Razorpay (INR: UPI intent and QR, cards, netbanking) through its Payment Links API: the link's
hosted page takes the payment, the payment is captured there, and what the session did not use
goes back with a refund. Docs: https://razorpay.com/docs/api/payments/payment-links/ ,
https://razorpay.com/docs/api/refunds/ , https://razorpay.com/docs/webhooks/validate-test/"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp

from appliance.errors import PaymentError, WebhookRefused
from appliance.payments.provider import (
    Checkout,
    Confirmation,
    Http,
    Keys,
    NewCheckout,
    Paid,
    Settled,
    WebhookNote,
    hmac_hex,
)

DEFAULT_API_BASE = "https://api.razorpay.com"
LINK_FAILED = ("cancelled", "expired")
PAGE = 100


class Razorpay:
    name = "razorpay"
    manual_capture = False  # payment links capture at once: the remainder is refunded

    def __init__(self, session: aiohttp.ClientSession, base_url: str, keys: Keys) -> None:
        basic = base64.b64encode(f"{keys.key_id}:{keys.secret}".encode()).decode()
        self.http = Http(session, base_url, f"Basic {basic}", "Razorpay")
        self.keys = keys

    async def create(self, new: NewCheckout) -> Checkout:
        body = {"amount": new.amount, "currency": new.currency, "accept_partial": False,
                "reference_id": new.reference, "description": new.description[:2048],
                "callback_url": new.return_url, "callback_method": "get",
                "notes": {"reference": new.reference}}
        link = await self.http.call("POST", "/v1/payment_links", json=body)
        return Checkout(str(link["id"]), str(link["short_url"]))

    async def confirm(self, checkout_ref: str) -> Confirmation:
        link = await self.http.call("GET", f"/v1/payment_links/{checkout_ref}")
        status = str(link.get("status", ""))
        if status in LINK_FAILED:
            return Confirmation(Paid.FAILED, "", 0, str(link.get("currency", "")))
        for item in link.get("payments") or []:
            payment = await self.http.call("GET", f"/v1/payments/{item['payment_id']}")
            if payment.get("status") in ("captured", "refunded"):
                return _confirmation(payment)
        return Confirmation(Paid.PENDING, "", 0, str(link.get("currency", "")))

    async def capture(self, payment_ref: str, amount: int, key: str) -> None:
        raise PaymentError("Razorpay payment links are captured at once")

    async def cancel(self, payment_ref: str, key: str) -> None:
        raise PaymentError("Razorpay payment links are captured at once: refund instead")

    async def abandon(self, checkout_ref: str) -> None:
        """Close an unpaid link, so a late payment on it cannot happen."""
        await self.http.call("POST", f"/v1/payment_links/{checkout_ref}/cancel")

    async def refund(self, payment_ref: str, amount: int, key: str) -> str:
        """Refund once per key: a retry after a lost answer finds the first refund."""
        seen = await self.http.call("GET", f"/v1/payments/{payment_ref}/refunds")
        for refund in seen.get("items") or []:
            if (refund.get("notes") or {}).get("key") == key and refund.get("status") != "failed":
                return str(refund["id"])
        made = await self.http.call("POST", f"/v1/payments/{payment_ref}/refund",
                                    json={"amount": amount, "notes": {"key": key}})
        return str(made["id"])

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookNote:
        """X-Razorpay-Signature is the hex HMAC-SHA256 of the raw body with the webhook
        secret; X-Razorpay-Event-Id names the event (the same on a redelivery)."""
        given = headers.get("X-Razorpay-Signature", "")
        if not self.keys.webhook_secret or not hmac.compare_digest(
                hmac_hex(self.keys.webhook_secret, body), given):
            raise WebhookRefused("Razorpay webhook signature does not verify")
        event = json.loads(body)
        link = ((event.get("payload") or {}).get("payment_link") or {}).get("entity") or {}
        event_id = headers.get("X-Razorpay-Event-Id") or hmac_hex("id", body)
        return WebhookNote(event_id, str(event.get("event", "")), str(link.get("id", "")))

    async def test_connection(self) -> None:
        await self.http.call("GET", "/v1/payment_links?count=1")

    async def list_settlement(self, start: datetime, end: datetime) -> list[Settled]:
        """Payments captured and refunds made in the window, from Razorpay's own lists
        (https://razorpay.com/docs/api/payments/fetch-all-payments/ ,
        https://razorpay.com/docs/api/refunds/fetch-all/ ; `from`/`to` in Unix seconds, both
        inclusive, at most 100 a page). The settlement recon lists by the day money reaches the
        bank (a day or two later), which matches no day of ours."""
        span = f"from={int(start.timestamp())}&to={int(end.timestamp()) - 1}"
        out = [Settled(str(p["id"]), int(p["amount"]), "payment")
               for p in await self._all(f"/v1/payments?{span}")
               if p.get("captured") or p.get("status") in ("captured", "refunded")]
        out += [Settled(str(r["payment_id"]), -int(r["amount"]), "refund")
                for r in await self._all(f"/v1/refunds?{span}")
                if r.get("status") != "failed"]
        return out

    async def _all(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = await self.http.call("GET", f"{path}&count={PAGE}&skip={len(items)}")
            got = page.get("items") or []
            items += got
            if len(got) < PAGE:
                return items


def _confirmation(payment: dict[str, Any]) -> Confirmation:
    return Confirmation(Paid.CAPTURED, str(payment["id"]), int(payment["amount"]),
                        str(payment["currency"]).upper(), str(payment.get("method", "")))

"""Stripe (cards and wallets, any currency) through Checkout Sessions whose PaymentIntent is
authorized only (`capture_method=manual`): at the end the fee is captured and the rest of the
authorization lapses, so no refund is needed. Docs: https://docs.stripe.com/api/checkout/sessions ,
https://docs.stripe.com/api/payment_intents/capture , https://docs.stripe.com/api/refunds ,
https://docs.stripe.com/webhooks#verify-manually"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp

from appliance.errors import WebhookRefused
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

DEFAULT_API_BASE = "https://api.stripe.com"
TOLERANCE_S = 300  # a signed event older than this is a replay


class Stripe:
    name = "stripe"
    manual_capture = True

    def __init__(self, session: aiohttp.ClientSession, base_url: str, keys: Keys) -> None:
        self.http = Http(session, base_url, f"Bearer {keys.secret}", "Stripe")
        self.keys = keys

    async def create(self, new: NewCheckout) -> Checkout:
        item = "line_items[0]"
        form = {"mode": "payment", f"{item}[quantity]": "1",
                f"{item}[price_data][currency]": new.currency.lower(),
                f"{item}[price_data][unit_amount]": str(new.amount),
                f"{item}[price_data][product_data][name]": new.description[:250],
                "payment_intent_data[capture_method]": "manual",
                "success_url": new.return_url, "cancel_url": new.cancel_url,
                "client_reference_id": new.reference, "metadata[reference]": new.reference}
        session = await self.http.call("POST", "/v1/checkout/sessions", form=form,
                                       headers={"Idempotency-Key": new.reference})
        return Checkout(str(session["id"]), str(session["url"]))

    async def confirm(self, checkout_ref: str) -> Confirmation:
        session = await self.http.call("GET", f"/v1/checkout/sessions/{checkout_ref}")
        currency = str(session.get("currency", "")).upper()
        if session.get("status") == "expired":
            return Confirmation(Paid.FAILED, "", 0, currency)
        intent_id = session.get("payment_intent")
        if session.get("status") != "complete" or not intent_id:
            return Confirmation(Paid.PENDING, "", 0, currency)
        intent = await self.http.call("GET", f"/v1/payment_intents/{intent_id}")
        return _confirmation(intent)

    async def capture(self, payment_ref: str, amount: int, key: str) -> None:
        await self.http.call("POST", f"/v1/payment_intents/{payment_ref}/capture",
                             form={"amount_to_capture": str(amount)},
                             headers={"Idempotency-Key": key})

    async def cancel(self, payment_ref: str, key: str) -> None:
        await self.http.call("POST", f"/v1/payment_intents/{payment_ref}/cancel",
                             headers={"Idempotency-Key": key})

    async def abandon(self, checkout_ref: str) -> None:
        await self.http.call("POST", f"/v1/checkout/sessions/{checkout_ref}/expire")

    async def refund(self, payment_ref: str, amount: int, key: str) -> str:
        made = await self.http.call("POST", "/v1/refunds",
                                    form={"payment_intent": payment_ref, "amount": str(amount)},
                                    headers={"Idempotency-Key": key})
        return str(made["id"])

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookNote:
        """Stripe-Signature: `t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">` (more than one
        v1 while a secret is rolled); an old timestamp is a replay."""
        parts = [p.split("=", 1) for p in headers.get("Stripe-Signature", "").split(",")]
        pairs = [(k.strip(), v.strip()) for k, v in (p for p in parts if len(p) == 2)]
        stamps = [v for k, v in pairs if k == "t"]
        if not self.keys.webhook_secret or not stamps or not stamps[0].isdigit():
            raise WebhookRefused("Stripe webhook without a usable signature")
        expected = hmac_hex(self.keys.webhook_secret, stamps[0].encode() + b"." + body)
        if not any(hmac.compare_digest(expected, v) for k, v in pairs if k == "v1"):
            raise WebhookRefused("Stripe webhook signature does not verify")
        if abs(now - int(stamps[0])) > TOLERANCE_S:
            raise WebhookRefused("Stripe webhook timestamp outside the tolerance")
        event = json.loads(body)
        obj = (event.get("data") or {}).get("object") or {}
        ref = str(obj.get("id", "")) if obj.get("object") == "checkout.session" else ""
        return WebhookNote(str(event.get("id", "")), str(event.get("type", "")), ref)

    async def test_connection(self) -> None:
        await self.http.call("GET", "/v1/checkout/sessions?limit=1")

    async def list_settlement(self, start: datetime, end: datetime) -> list[Settled]:
        """Balance transactions created in the window (what goes into the payouts), each with
        its charge or refund expanded to name the PaymentIntent:
        https://docs.stripe.com/api/balance_transactions/list , pages by `starting_after`."""
        out: list[Settled] = []
        after = ""
        while True:
            query = (f"/v1/balance_transactions?created[gte]={int(start.timestamp())}"
                     f"&created[lt]={int(end.timestamp())}&limit=100&expand[]=data.source"
                     + (f"&starting_after={after}" if after else ""))
            page = await self.http.call("GET", query)
            data = page.get("data") or []
            out += [s for s in (_settled(t) for t in data) if s is not None]
            if not page.get("has_more") or not data:
                return out
            after = str(data[-1]["id"])


def _settled(txn: dict[str, Any]) -> Settled | None:
    """A balance transaction of a charge (captured) or a refund, by its PaymentIntent."""
    source = txn.get("source")
    intent = source.get("payment_intent") if isinstance(source, dict) else None
    if txn.get("type") in ("charge", "payment") and intent:
        return Settled(str(intent), int(txn["amount"]), "payment")
    if txn.get("type") in ("refund", "payment_refund") and intent:
        return Settled(str(intent), int(txn["amount"]), "refund")
    return None


def _confirmation(intent: dict[str, Any]) -> Confirmation:
    status, currency = intent.get("status"), str(intent.get("currency", "")).upper()
    if status == "requires_capture":
        return Confirmation(Paid.AUTHORIZED, str(intent["id"]),
                            int(intent.get("amount_capturable", 0)), currency, "card")
    if status == "succeeded":
        return Confirmation(Paid.CAPTURED, str(intent["id"]),
                            int(intent.get("amount_received", 0)), currency, "card")
    if status == "canceled":
        return Confirmation(Paid.FAILED, str(intent["id"]), 0, currency)
    return Confirmation(Paid.PENDING, str(intent["id"]), 0, currency)

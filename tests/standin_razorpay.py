"""A local stand-in of Razorpay's HTTP API, only what the appliance uses, as documented:
https://razorpay.com/docs/api/payments/payment-links/ (create, fetch, cancel; the callback's
query parameters and their signature), https://razorpay.com/docs/api/payments/ (fetch a
payment), https://razorpay.com/docs/api/refunds/ (create, fetch a payment's refunds) and
https://razorpay.com/docs/api/payments/fetch-all-payments/ and
https://razorpay.com/docs/api/refunds/fetch-all/ (lists by `from`/`to` Unix seconds, both
inclusive, `count` at most 100 and `skip`), and
https://razorpay.com/docs/webhooks/validate-test/ (X-Razorpay-Signature: hex HMAC-SHA256 of
the raw body with the webhook secret). Basic auth with the key id and secret. The hosted link
page is a plain form standing in for the page a payer sees (UPI by default)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

KEY_ID, KEY_SECRET, WEBHOOK_SECRET = "rzp_test_standin", "rzp-secret", "rzp-webhook-secret"


def sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


@dataclass
class RazorpayStandin:
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail_refunds: int = 0  # answer this many refund calls with a 500
    down: bool = False  # every API call fails (no internet)
    base: str = ""
    calls: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v1/payment_links", self.create_link)
        app.router.add_get("/v1/payment_links", self.list_links)
        app.router.add_get("/v1/payment_links/{id}", self.get_link)
        app.router.add_post("/v1/payment_links/{id}/cancel", self.cancel_link)
        app.router.add_get("/v1/payments", self.list_payments)
        app.router.add_get("/v1/refunds", self.list_all_refunds)
        app.router.add_get("/v1/payments/{id}", self.get_payment)
        app.router.add_post("/v1/payments/{id}/refund", self.refund)
        app.router.add_get("/v1/payments/{id}/refunds", self.list_refunds)
        app.router.add_get("/i/{id}", self.hosted_page)
        app.router.add_post("/i/{id}/pay", self.hosted_pay)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await handler(request)
        self.calls.append(f"{request.method} {request.path}")
        if self.down:
            raise web.HTTPServiceUnavailable()
        expected = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _error(401, "BAD_REQUEST_ERROR", "Authentication failed")
        return await handler(request)

    async def create_link(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body.get("amount"), int) or body["amount"] < 100:
            return _error(400, "BAD_REQUEST_ERROR", "amount must be at least 100")
        link_id = "plink_" + secrets.token_hex(7)
        self.links[link_id] = {
            "id": link_id, "amount": body["amount"], "currency": body.get("currency", "INR"),
            "reference_id": body.get("reference_id", ""), "status": "created",
            "amount_paid": 0, "callback_url": body.get("callback_url", ""),
            "short_url": f"{self.base}/i/{link_id}", "payments": None,
            "notes": body.get("notes") or {}}
        return web.json_response(self._public_link(link_id))

    def _public_link(self, link_id: str) -> dict[str, Any]:
        link = dict(self.links[link_id])
        link.pop("callback_url")
        return link

    async def list_links(self, request: web.Request) -> web.Response:
        return web.json_response({"payment_links": [self._public_link(i) for i in self.links]})

    async def get_link(self, request: web.Request) -> web.Response:
        if request.match_info["id"] not in self.links:
            return _error(400, "BAD_REQUEST_ERROR", "The id provided does not exist")
        return web.json_response(self._public_link(request.match_info["id"]))

    async def cancel_link(self, request: web.Request) -> web.Response:
        link = self.links[request.match_info["id"]]
        if link["status"] == "paid":
            return _error(400, "BAD_REQUEST_ERROR", "Payment link is already paid")
        link["status"] = "cancelled"
        return web.json_response(self._public_link(link["id"]))

    async def get_payment(self, request: web.Request) -> web.Response:
        payment = self.payments.get(request.match_info["id"])
        if payment is None:
            return _error(400, "BAD_REQUEST_ERROR", "The id provided does not exist")
        return web.json_response(payment)

    async def refund(self, request: web.Request) -> web.Response:
        if self.fail_refunds:
            self.fail_refunds -= 1
            return _error(500, "SERVER_ERROR", "We are facing some trouble completing your "
                          "request at the moment")
        payment = self.payments[request.match_info["id"]]
        body = await request.json()
        amount = int(body.get("amount", payment["amount"] - payment["amount_refunded"]))
        if payment["status"] != "captured" or \
                amount > payment["amount"] - payment["amount_refunded"] or amount <= 0:
            return _error(400, "BAD_REQUEST_ERROR", "The refund amount is invalid")
        made = {"id": "rfnd_" + secrets.token_hex(7), "entity": "refund", "amount": amount,
                "currency": payment["currency"], "payment_id": payment["id"],
                "status": "processed", "notes": body.get("notes") or {},
                "created_at": int(time.time())}
        self.refunds.setdefault(payment["id"], []).append(made)
        payment["amount_refunded"] += amount
        payment["refund_status"] = "full" if payment["amount_refunded"] == payment["amount"] \
            else "partial"
        return web.json_response(made)

    def _window(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        start, end = int(request.query["from"]), int(request.query["to"])
        count, skip = min(100, int(request.query.get("count", 10))), int(
            request.query.get("skip", 0))
        chosen = [i for i in items if start <= i["created_at"] <= end][skip:skip + count]
        return web.json_response({"entity": "collection", "count": len(chosen),
                                  "items": chosen})

    async def list_payments(self, request: web.Request) -> web.Response:
        return self._window(request, list(self.payments.values()))

    async def list_all_refunds(self, request: web.Request) -> web.Response:
        return self._window(request, [r for rs in self.refunds.values() for r in rs])

    async def list_refunds(self, request: web.Request) -> web.Response:
        items = self.refunds.get(request.match_info["id"], [])
        return web.json_response({"entity": "collection", "count": len(items), "items": items})

    # The payer's side: what the hosted page does when the driver pays.
    async def hosted_page(self, request: web.Request) -> web.Response:
        link = self.links[request.match_info["id"]]
        html = (f"<!doctype html><meta name=viewport content='width=device-width'>"
                f"<h1>Pay ₹{link['amount'] / 100:.2f}</h1>"
                f"<form method=post action='/i/{link['id']}/pay'>"
                f"<button id=upi name=method value=upi>Pay with UPI</button></form>")
        return web.Response(text=html, content_type="text/html")

    async def hosted_pay(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        payment = self.pay(request.match_info["id"], method=str(form.get("method", "upi")))
        link = self.links[request.match_info["id"]]
        raise web.HTTPFound(self.callback(link, payment))

    def pay(self, link_id: str, method: str = "upi", amount: int | None = None,
            currency: str | None = None) -> dict[str, Any]:
        """The payer pays the link (a test may make the amount or currency differ)."""
        link = self.links[link_id]
        pay_id = "pay_" + secrets.token_hex(7)
        payment = {"id": pay_id, "entity": "payment", "amount": amount or link["amount"],
                   "currency": currency or link["currency"], "status": "captured",
                   "method": method, "amount_refunded": 0, "refund_status": None,
                   "captured": True, "created_at": int(time.time())}
        self.payments[pay_id] = payment
        link["status"], link["amount_paid"] = "paid", payment["amount"]
        link["payments"] = [{"payment_id": pay_id, "amount": payment["amount"],
                             "status": "captured", "method": method}]
        return payment

    def callback(self, link: dict[str, Any], payment: dict[str, Any]) -> str:
        fields = [link["id"], link["reference_id"], link["status"], payment["id"]]
        query = {"razorpay_payment_id": payment["id"], "razorpay_payment_link_id": link["id"],
                 "razorpay_payment_link_reference_id": link["reference_id"],
                 "razorpay_payment_link_status": link["status"],
                 "razorpay_signature": sign(KEY_SECRET, "|".join(fields).encode())}
        return f"{link['callback_url']}?{urlencode(query)}"

    def webhook(self, link_id: str, event_id: str | None = None,
                secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
        """A `payment_link.paid` delivery as Razorpay signs it."""
        link = self.links[link_id]
        payment = self.payments[link["payments"][0]["payment_id"]] if link["payments"] else {}
        body = json.dumps({"entity": "event", "event": "payment_link.paid",
                           "payload": {"payment_link": {"entity": self._public_link(link_id)},
                                       "payment": {"entity": payment}}}).encode()
        return body, {"X-Razorpay-Signature": sign(secret, body),
                      "X-Razorpay-Event-Id": event_id or "evt_" + secrets.token_hex(7),
                      "Content-Type": "application/json"}


def _error(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"error": {"code": code, "description": description}},
                             status=status)

"""A local stand-in of Stripe's HTTP API, only what the appliance uses, as documented:
https://docs.stripe.com/api/checkout/sessions (create with
`payment_intent_data[capture_method]=manual`, retrieve, expire),
https://docs.stripe.com/api/payment_intents (retrieve, capture with `amount_to_capture`,
cancel), https://docs.stripe.com/api/refunds (create),
https://docs.stripe.com/api/balance_transactions/list (`created[gte]`, `created[lt]`, `limit`,
`starting_after`, `expand[]=data.source`: a charge or refund naming its payment_intent), https://docs.stripe.com/api/idempotent_requests
(Idempotency-Key) and https://docs.stripe.com/webhooks#verify-manually (Stripe-Signature:
`t=...,v1=...`, HMAC-SHA256 of "t.body"). Form-encoded requests, Bearer secret key. The hosted
checkout page is a plain form standing in for the card form a payer sees."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SECRET_KEY, WEBHOOK_SECRET = "sk_test_standin", "whsec_standin"


@dataclass
class StripeStandin:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    balance: list[dict[str, Any]] = field(default_factory=list)  # balance transactions
    fail_captures: int = 0
    base: str = ""
    calls: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v1/checkout/sessions", self.create_session)
        app.router.add_get("/v1/checkout/sessions", self.list_sessions)
        app.router.add_get("/v1/checkout/sessions/{id}", self.get_session)
        app.router.add_post("/v1/checkout/sessions/{id}/expire", self.expire_session)
        app.router.add_get("/v1/payment_intents/{id}", self.get_intent)
        app.router.add_post("/v1/payment_intents/{id}/capture", self.capture)
        app.router.add_post("/v1/payment_intents/{id}/cancel", self.cancel)
        app.router.add_post("/v1/refunds", self.refund)
        app.router.add_get("/v1/balance_transactions", self.list_balance)
        app.router.add_get("/pay/{id}", self.hosted_page)
        app.router.add_post("/pay/{id}", self.hosted_pay)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await handler(request)
        self.calls.append(f"{request.method} {request.path}")
        if request.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        key = request.headers.get("Idempotency-Key")
        if key and request.method == "POST" and key in self.idempotent:
            return web.json_response(self.idempotent[key])
        response = await handler(request)
        if key and request.method == "POST" and response.status == 200:
            self.idempotent[key] = json.loads(response.body)  # type: ignore[arg-type]
        return response

    async def create_session(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("payment_intent_data[capture_method]") not in (None, "manual",
                                                                    "automatic"):
            return _error(400, "invalid_request_error", "Invalid capture_method")
        session_id = "cs_test_" + secrets.token_hex(8)
        self.sessions[session_id] = {
            "id": session_id, "object": "checkout.session", "mode": form.get("mode"),
            "amount_total": int(str(form["line_items[0][price_data][unit_amount]"])),
            "currency": str(form["line_items[0][price_data][currency]"]),
            "capture_method": form.get("payment_intent_data[capture_method]", "automatic"),
            "client_reference_id": form.get("client_reference_id"), "status": "open",
            "payment_status": "unpaid", "payment_intent": None,
            "success_url": str(form["success_url"]), "cancel_url": str(form["cancel_url"]),
            "url": f"{self.base}/pay/{session_id}"}
        return web.json_response(self.sessions[session_id])

    async def list_sessions(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": list(self.sessions.values())[:1]})

    async def get_session(self, request: web.Request) -> web.Response:
        return web.json_response(self.sessions[request.match_info["id"]])

    async def expire_session(self, request: web.Request) -> web.Response:
        session = self.sessions[request.match_info["id"]]
        if session["status"] != "open":
            return _error(400, "invalid_request_error", "Only open sessions can be expired")
        session["status"] = "expired"
        return web.json_response(session)

    async def get_intent(self, request: web.Request) -> web.Response:
        return web.json_response(self.intents[request.match_info["id"]])

    async def capture(self, request: web.Request) -> web.Response:
        if self.fail_captures:
            self.fail_captures -= 1
            return _error(500, "api_error", "An unknown error occurred")
        intent = self.intents[request.match_info["id"]]
        form = await request.post()
        amount = int(str(form.get("amount_to_capture", intent["amount_capturable"])))
        if intent["status"] != "requires_capture" or not 0 < amount <= intent["amount"]:
            return _error(400, "invalid_request_error", "This PaymentIntent could not be "
                          "captured")
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self._move("charge", amount, {"id": "ch_" + secrets.token_hex(8), "object": "charge",
                                      "payment_intent": intent["id"], "amount": amount})
        return web.json_response(intent)

    def _move(self, kind: str, amount: int, source: dict[str, Any]) -> None:
        self.balance.append({"id": "txn_" + secrets.token_hex(8),
                             "object": "balance_transaction", "type": kind, "amount": amount,
                             "created": int(time.time()), "source": source})

    async def list_balance(self, request: web.Request) -> web.Response:
        q = request.query
        chosen = [t for t in self.balance
                  if int(q["created[gte]"]) <= t["created"] < int(q["created[lt]"])]
        if "starting_after" in q:
            ids = [t["id"] for t in chosen]
            chosen = chosen[ids.index(q["starting_after"]) + 1:]
        limit = min(100, int(q.get("limit", 10)))
        expand = "data.source" in q.getall("expand[]", [])
        data = [t if expand else {**t, "source": t["source"]["id"]} for t in chosen[:limit]]
        return web.json_response({"object": "list", "data": data,
                                  "has_more": len(chosen) > limit})

    async def cancel(self, request: web.Request) -> web.Response:
        intent = self.intents[request.match_info["id"]]
        if intent["status"] not in ("requires_capture", "requires_payment_method"):
            return _error(400, "invalid_request_error", "cannot cancel")
        intent.update(status="canceled", amount_capturable=0)
        return web.json_response(intent)

    async def refund(self, request: web.Request) -> web.Response:
        form = await request.post()
        intent = self.intents[str(form["payment_intent"])]
        amount = int(str(form.get("amount", intent["amount_received"])))
        made = {"id": "re_" + secrets.token_hex(8), "object": "refund", "amount": amount,
                "payment_intent": intent["id"], "status": "succeeded"}
        self.refunds.append(made)
        self._move("refund", -amount, made)
        return web.json_response(made)

    async def hosted_page(self, request: web.Request) -> web.Response:
        session = self.sessions[request.match_info["id"]]
        html = (f"<!doctype html><meta name=viewport content='width=device-width'>"
                f"<h1>Pay {session['amount_total'] / 100:.2f} {session['currency']}</h1>"
                f"<form method=post><input name=card value='4242 4242 4242 4242'>"
                f"<button id=pay>Pay</button></form>"
                f"<a id=back href='{session['cancel_url']}'>Back</a>")
        return web.Response(text=html, content_type="text/html")

    async def hosted_pay(self, request: web.Request) -> web.StreamResponse:
        session = self.pay(request.match_info["id"])
        raise web.HTTPFound(session["success_url"].replace("{CHECKOUT_SESSION_ID}",
                                                           session["id"]))

    def pay(self, session_id: str, amount: int | None = None) -> dict[str, Any]:
        """The card is authorized for the session (manual capture: requires_capture)."""
        session = self.sessions[session_id]
        intent_id = "pi_" + secrets.token_hex(8)
        authorized = amount or session["amount_total"]
        manual = session["capture_method"] == "manual"
        self.intents[intent_id] = {
            "id": intent_id, "object": "payment_intent", "amount": authorized,
            "currency": session["currency"], "capture_method": session["capture_method"],
            "status": "requires_capture" if manual else "succeeded",
            "amount_capturable": authorized if manual else 0,
            "amount_received": 0 if manual else authorized}
        if not manual:
            self._move("charge", authorized, {"id": "ch_" + secrets.token_hex(8),
                                              "object": "charge", "payment_intent": intent_id,
                                              "amount": authorized})
        session.update(status="complete", payment_intent=intent_id,
                       payment_status="unpaid" if manual else "paid")
        return session

    def webhook(self, session_id: str, event_id: str | None = None,
                secret: str = WEBHOOK_SECRET, at: int | None = None
                ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"id": event_id or "evt_" + secrets.token_hex(8), "object": "event",
                           "type": "checkout.session.completed",
                           "data": {"object": self.sessions[session_id]}}).encode()
        stamp = str(at or int(time.time()))
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        return body, {"Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}",
                      "Content-Type": "application/json"}


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)

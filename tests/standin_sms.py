"""Local stand-ins of the two SMS providers' HTTP APIs, only what the appliance uses, as
documented:
- Twilio: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
  (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form fields To, From, Body; HTTP Basic
  auth with the account SID and auth token; 201 with the message's `sid`, errors as
  `{"code", "message", "more_info", "status"}`), and
  https://www.twilio.com/docs/api/errors/21211 (an invalid 'To' number).
- MSG91 SendOTP v5: https://docs.msg91.com/otp/sendotp (POST /api/v5/otp with query parameters
  template_id, mobile (digits with the country code) and otp; the `authkey` header; answers
  `{"type": "success", "request_id": ...}` or `{"type": "error", "message": ...}`, the latter
  with HTTP 200 too).
Both keep what they were asked to send, so a test reads the code off the "phone"."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM = "AC" + "0" * 32, "twilio-token", "+15005550006"
MSG91_KEY, MSG91_TEMPLATE = "msg91-authkey", "6512a0b1d6fc05"


@dataclass
class SmsStandin:
    sent: list[dict[str, str]] = field(default_factory=list)  # {"to", "text" or "otp"}
    down: bool = False  # every call fails (no internet, provider out)
    base: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.twilio_send)
        app.router.add_post("/api/v5/otp", self.msg91_send)
        return app

    def last_code(self, to: str) -> str:
        """The six-digit code last sent to `to` (digits with country code)."""
        for message in reversed(self.sent):
            if message["to"].lstrip("+") == to.lstrip("+"):
                found = re.search(r"\b(\d{6})\b", message.get("otp") or message["text"])
                assert found, message
                return found[1]
        raise AssertionError(f"nothing was sent to {to}: {self.sent}")

    async def twilio_send(self, request: web.Request) -> web.Response:
        if self.down:
            raise web.HTTPServiceUnavailable()
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.match_info["sid"] != TWILIO_SID or \
                request.headers.get("Authorization") != expected:
            return _twilio_error(401, 20003, "Authenticate")
        form = await request.post()
        to, body, sender = str(form.get("To", "")), str(form.get("Body", "")), form.get("From")
        if not re.fullmatch(r"\+[1-9]\d{7,14}", to):
            return _twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender or not body:
            return _twilio_error(400, 21603, "The 'From' phone number is required.")
        self.sent.append({"to": to, "text": body, "provider": "twilio"})
        sid = "SM" + secrets.token_hex(16)
        return web.json_response({"sid": sid, "status": "queued", "to": to, "from": sender,
                                  "body": body, "account_sid": TWILIO_SID}, status=201)

    async def msg91_send(self, request: web.Request) -> web.Response:
        if self.down:
            raise web.HTTPServiceUnavailable()
        if request.headers.get("authkey") != MSG91_KEY:
            return _msg91_error("AuthenticationFailure")
        query = request.query
        if query.get("template_id") != MSG91_TEMPLATE:
            return _msg91_error("Invalid template id")
        mobile, otp = query.get("mobile", ""), query.get("otp", "")
        if not re.fullmatch(r"[1-9]\d{9,14}", mobile):
            return _msg91_error("Mobile no. not found or invalid")
        if not re.fullmatch(r"\d{4,9}", otp):
            return _msg91_error("Invalid otp")
        self.sent.append({"to": mobile, "otp": otp, "text": "", "provider": "msg91"})
        return web.json_response({"type": "success", "request_id": secrets.token_hex(12)})


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, "status": status,
                            "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return web.json_response(body, status=status)


def _msg91_error(message: str) -> web.Response:
    return web.json_response({"type": "error", "message": message})

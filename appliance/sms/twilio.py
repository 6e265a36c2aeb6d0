"""Twilio's Programmable Messaging: one message per code, Basic auth with the account SID and
auth token. Docs: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource"""

from __future__ import annotations

import base64

import aiohttp

from appliance.sms.provider import SmsKeys, call, international, refused

DEFAULT_API_BASE = "https://api.twilio.com"


class Twilio:
    name = "twilio"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, keys: SmsKeys) -> None:
        self.session, self.base, self.keys = session, base_url.rstrip("/"), keys

    async def send_code(self, phone: str, code: str, text: str) -> str:
        status, body = await call(
            self.session, "Twilio", "POST",
            f"{self.base}/2010-04-01/Accounts/{self.keys.account}/Messages.json",
            data={"To": "+" + international(phone, self.keys.country_code),
                  "From": self.keys.sender, "Body": text},
            headers={"Authorization": "Basic " + base64.b64encode(
                f"{self.keys.account}:{self.keys.secret}".encode()).decode()})
        if status >= 400 or not body.get("sid"):
            raise refused("Twilio", status, str(body.get("message", "")))
        return str(body["sid"])

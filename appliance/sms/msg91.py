"""MSG91's SendOTP (v5): the code is ours (`otp`), the text is the OTP template registered with
MSG91 (India's DLT rules want a registered template), the auth key in the `authkey` header.
Docs: https://docs.msg91.com/otp/sendotp . MSG91 answers errors with HTTP 200 and
`{"type": "error"}` too."""

from __future__ import annotations

import aiohttp

from appliance.sms.provider import SmsKeys, call, international, refused

DEFAULT_API_BASE = "https://control.msg91.com"


class Msg91:
    name = "msg91"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, keys: SmsKeys) -> None:
        self.session, self.base, self.keys = session, base_url.rstrip("/"), keys

    async def send_code(self, phone: str, code: str, text: str) -> str:
        status, body = await call(
            self.session, "MSG91", "POST", f"{self.base}/api/v5/otp",
            params={"template_id": self.keys.account,
                    "mobile": international(phone, self.keys.country_code), "otp": code},
            headers={"authkey": self.keys.secret, "Content-Type": "application/json"},
            json={})
        if status >= 400 or body.get("type") != "success":
            raise refused("MSG91", status, str(body.get("message", "")))
        return str(body.get("request_id", ""))

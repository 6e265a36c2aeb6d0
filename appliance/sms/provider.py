"""The one interface an SMS provider implements (send one text with a one-time code), the
settings it is built from, and the phone number in the international form providers want."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from appliance.errors import N_, Unavailable

log = logging.getLogger(__name__)
HTTP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class SmsKeys:
    account: str  # Twilio's account SID; MSG91's OTP template id
    secret: str  # Twilio's auth token; MSG91's auth key
    sender: str  # Twilio's From number; MSG91's sender id (the template may carry it)
    country_code: str  # put before a number typed without one


class Sms(Protocol):
    name: str

    async def send_code(self, phone: str, code: str, text: str) -> str:
        """Send `text` (which holds `code`) to `phone` (digits with the country code);
        returns the provider's id of the message."""
        ...


def international(phone: str, country_code: str) -> str:
    """Digits with the country code: '+44 7700 900123' stays 447700900123, a 10-digit
    '98765 43210' becomes 919876543210 with country code 91."""
    digits = "".join(c for c in phone if c.isdigit())
    if phone.strip().startswith("+") or phone.strip().startswith("00"):
        return digits.removeprefix("00")
    return country_code + digits.lstrip("0") if len(digits) <= 10 else digits


def refused(name: str, status: int, message: str) -> Unavailable:
    log.warning("%s refused an SMS: HTTP %s %s", name, status, message[:150])
    return Unavailable(N_("The code could not be sent by SMS (%(provider)s: %(error)s). Try "
                          "again later, or ask at the desk."),
                       params={"provider": name, "error": message[:150] or str(status)})


async def call(session: aiohttp.ClientSession, name: str, method: str, url: str,
               **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """One call to a provider's API: (status, JSON body); our error when it cannot be reached."""
    try:
        async with session.request(method, url, timeout=aiohttp.ClientTimeout(
                total=HTTP_TIMEOUT_S), **kwargs) as resp:
            text, status = await resp.text(), resp.status
    except (aiohttp.ClientError, TimeoutError) as err:
        raise refused(name, 0, repr(err)) from err
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):  # an error page of a proxy or an outage
        raise refused(name, status, f"HTTP {status}")
    return status, body

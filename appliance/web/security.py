"""Signed session cookies (the sessions themselves live on the server: people.sessions),
double-submit CSRF tokens, login throttling, safe redirects after a login, and the headers every
answer carries.

The signing key lives in the data dir (created once, mode 0600), so sessions survive a restart
and a restored backup of another box does not accept this box's cookies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

SESSION_COOKIE = "appliance_session"
CSRF_COOKIE = "appliance_csrf"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 12 * 3600  # the cookie's; the server's session ends by its own rules
REFERRER_POLICY = "same-origin"  # a page's address (a ?next=, a start's id) stays on the box


def load_secret(data_dir: Path) -> bytes:
    path = data_dir / "secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


class Signer:
    """HMAC-SHA256 signed, base64 JSON values with an issue time."""

    def __init__(self, key: bytes, purpose: str) -> None:
        self._key = hashlib.sha256(key + purpose.encode()).digest()

    def dumps(self, value: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(
            json.dumps({**value, "iat": int(time.time())}).encode()).decode().rstrip("=")
        sig = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{sig}"

    def loads(self, token: str, max_age_s: int) -> dict[str, Any] | None:
        body, _, sig = token.rpartition(".")
        good = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        if not body or not hmac.compare_digest(sig, good):
            return None
        try:
            value = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(value, dict) or time.time() - value.get("iat", 0) > max_age_s:
            return None
        return value


@dataclass(frozen=True)
class StaffSession:
    user_id: int
    username: str
    role: str
    token: str  # this browser's session on the server (people.sessions), new at each login


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str,
               max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax",
                        secure=request.secure, path="/")


def csrf_token(request: web.Request) -> str:
    """This browser's CSRF token (made on first use; the response must set the cookie)."""
    token = request.get(CSRF_KEY)
    if token is None:
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        request[CSRF_KEY] = token
    return token


CSRF_KEY: web.RequestKey[str] = web.RequestKey("csrf", str)


def csrf_ok(request: web.Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted and hmac.compare_digest(cookie, submitted))


# Browsers drop tabs and line breaks anywhere in a URL and read a backslash as a slash, so
# "/\t/evil.example" and "/\\evil.example" are other sites: normalise the same way, then check.
_URL_IGNORED = re.compile(r"[\t\n\r]")


def safe_next(target: str, default: str = "/") -> str:
    """Where to go after a login: a path on this site, or `default`."""
    path = _URL_IGNORED.sub("", target).strip().replace("\\", "/")
    if not path.startswith("/") or path.startswith("//") or any(ord(c) < 0x20 for c in path):
        return default
    return path


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer (pages, the API, static files, errors, refusals)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", REFERRER_POLICY)


class LoginThrottle:
    """Failed logins per key (a user name or card number together with the address it came
    from, or an address alone), counted over the last `WINDOW_S`, with exponential backoff:
    the first `free` failures cost nothing, then each further try waits 1, 2, 4 ... seconds
    after the last failure, up to `MAX_WAIT_S`. The keys are per address on purpose: a
    stranger's failures never lock the right person out from elsewhere. What a guesser on many
    addresses can do is bounded by the password's strength, or, for a PIN, by the hard lock in
    people.drivers. A window, not a count since the last quiet spell, so that an address many
    people share (a desk PC, a NATed guest Wi-Fi) is not held by a steady trickle of typos."""

    MAX_WAIT_S = 15 * 60.0
    WINDOW_S = 30 * 60.0  # failures older than this no longer count
    KEEP = 64  # failures remembered per key: past 2**10 s the wait is at its cap anyway
    MAX_KEYS = 10_000  # a flood of addresses cannot grow this without bound
    TARPIT_S = 0.25  # each failure in the window adds this to the next answer, up to 2 s

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}  # key -> recent failure times

    async def admit(self, limits: dict[str, int]) -> bool:
        """Before checking a password: slow the answer a little, then say whether this try may
        be checked at all (`limits`: key -> failures free of backoff). A try that comes while
        still waiting is refused and counts as a failure, so hammering only lengthens the
        wait, for this address alone."""
        keys = tuple(limits)
        delay = self.delay_s(*keys)
        refused = any(self.wait_s(key, free) > 0 for key, free in limits.items())
        if refused:
            self.failed(*keys)
        await asyncio.sleep(delay)  # judged before the pause: the pause never ends a wait
        return not refused

    def delay_s(self, *keys: str) -> float:
        return min(2.0, self.TARPIT_S * max(len(self._recent(k)) for k in keys))

    def wait_s(self, key: str, free: int) -> float:
        """Seconds before `key` may try again (0: now)."""
        recent = self._recent(key)
        if len(recent) < free:
            return 0.0
        wait = min(self.MAX_WAIT_S, 2.0 ** min(len(recent) - free, 20))
        return max(0.0, recent[-1] + wait - time.monotonic())

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._failures) >= self.MAX_KEYS:
            self._forget_old(now)
        for key in keys:
            self._failures[key] = [*self._recent(key), now][-self.KEEP:]

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str) -> list[float]:
        now = time.monotonic()
        return [t for t in self._failures.get(key, ()) if now - t < self.WINDOW_S]

    def _forget_old(self, now: float) -> None:
        stale = [k for k, times in self._failures.items() if now - times[-1] >= self.WINDOW_S]
        for key in stale or sorted(self._failures, key=lambda k: self._failures[k][-1])[
                :self.MAX_KEYS // 10]:
            del self._failures[key]

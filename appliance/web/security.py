"""Staff sessions in signed cookies, double-submit CSRF tokens, and login rate limiting.

The signing key lives in the data dir (created once, mode 0600), so sessions survive a restart
and a restored backup of another box does not accept this box's cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

SESSION_COOKIE = "appliance_session"
CSRF_COOKIE = "appliance_csrf"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 12 * 3600
LOGIN_FAILURES_ALLOWED = 5
LOGIN_WINDOW_S = 300.0


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
    nonce: str  # changes at each login: the session is renewed, never reused


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


class LoginThrottle:
    """Failed logins per user name and per address; past the limit each try waits, then is
    refused until the window passes."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = defaultdict(list)

    def _recent(self, key: str) -> list[float]:
        now = time.monotonic()
        kept = [t for t in self._failures.get(key, []) if now - t < LOGIN_WINDOW_S]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= LOGIN_FAILURES_ALLOWED for k in keys)

    def delay_s(self, *keys: str) -> float:
        return min(2.0, 0.25 * max(len(self._recent(k)) for k in keys))

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._failures[key].append(time.monotonic())

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

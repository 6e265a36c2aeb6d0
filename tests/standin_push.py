"""A local stand-in of a Web Push service (what a browser's push service does with a message
for one subscription), as the RFCs say: RFC 8030 section 5 (POST to the subscription's push
resource, the `TTL` header, 201 Created; 404/410 for a subscription that is gone), RFC 8292
(`Authorization: vapid t=<JWT>, k=<key>`: an ES256 JWT whose `aud` is the push service's
origin, `exp` within 24 hours, `sub` a contact; `k` the application server key the subscription
was made with) and RFC 8291 with RFC 8188 (`Content-Encoding: aes128gcm`: the payload decrypted
with the browser side's private key and auth secret, which this stand-in holds as the browser
would)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


@dataclass
class Browser:
    """One subscription as the browser keeps it."""

    private: ec.EllipticCurvePrivateKey
    auth: bytes
    server_key: str  # the applicationServerKey it subscribed with


@dataclass
class PushStandin:
    base: str = ""
    browsers: dict[str, Browser] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/push/{id}", self.push)
        return app

    def subscribe(self, server_key: str) -> dict[str, Any]:
        """What `pushManager.subscribe()` gives the page: endpoint and keys."""
        sub_id = _b64(os.urandom(12))
        browser = Browser(ec.generate_private_key(ec.SECP256R1()), os.urandom(16), server_key)
        self.browsers[sub_id] = browser
        return {"endpoint": f"{self.base}/push/{sub_id}",
                "keys": {"p256dh": _b64(_point(browser.private.public_key())),
                         "auth": _b64(browser.auth)}}

    def _refuse(self, why: str, status: int = 400) -> web.Response:
        self.refused.append(why)
        return web.Response(status=status, text=why)

    async def push(self, request: web.Request) -> web.Response:
        sub_id = request.match_info["id"]
        if sub_id in self.gone or sub_id not in self.browsers:
            return web.Response(status=410)
        browser = self.browsers[sub_id]
        if not request.headers.get("TTL", "").isdigit():
            return self._refuse("no TTL")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse("not aes128gcm")
        problem = self._check_vapid(request.headers.get("Authorization", ""), browser)
        if problem:
            return self._refuse(problem, 401 if "JWT" in problem else 403)
        try:
            payload = self._decrypt(await request.read(), browser)
        except Exception as err:  # noqa: BLE001 - any failure is the sender's
            return self._refuse(f"cannot decrypt: {err!r}")
        self.received.append({"subscription": sub_id, "ttl": int(request.headers["TTL"]),
                              "message": json.loads(payload)})
        return web.Response(status=201, headers={"Location": f"{self.base}/message/1"})

    def _check_vapid(self, header: str, browser: Browser) -> str:
        if not header.startswith("vapid "):
            return "no vapid JWT"
        params = dict(p.strip().split("=", 1) for p in header[6:].split(","))
        token, key = params.get("t", ""), params.get("k", "")
        if key != browser.server_key:
            return "k is not the key the subscription was made with"
        try:
            head, body, sig = token.split(".")
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(key))
            raw = _unb64(sig)
            public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                               int.from_bytes(raw[32:], "big")),
                          f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
            claims = json.loads(_unb64(body))
        except (ValueError, InvalidSignature):
            return "JWT does not verify"
        if json.loads(_unb64(head)).get("alg") != "ES256":
            return "JWT is not ES256"
        if claims.get("aud") != self.base:
            return "JWT aud is not this push service"
        if not time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600:
            return "JWT exp out of range"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return "JWT sub is no contact"
        return ""

    @staticmethod
    def _decrypt(body: bytes, browser: Browser) -> bytes:
        salt, (size, id_len) = body[:16], struct.unpack("!IB", body[16:21])
        as_public, sealed = body[21:21 + id_len], body[21 + id_len:]
        assert size >= 18 and len(sealed) <= size
        ua_public = _point(browser.private.public_key())
        shared = browser.private.exchange(ec.ECDH(), ec.EllipticCurvePublicKey
                                          .from_encoded_point(ec.SECP256R1(), as_public))
        ikm = _hmac(_hmac(browser.auth, shared),
                    b"WebPush: info\x00" + ua_public + as_public + b"\x01")
        prk = _hmac(salt, ikm)
        cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
        nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
        plain = AESGCM(cek).decrypt(nonce, sealed, None).rstrip(b"\x00")
        assert plain.endswith(b"\x02"), "not the last record"
        return plain[:-1]

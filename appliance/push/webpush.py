"""Sending one Web Push message: the VAPID key pair of the box (a `vapid.pem` in the data dir,
mode 0600, made on first use), the `Authorization: vapid t=<JWT>, k=<key>` header (RFC 8292),
and the payload encrypted for the subscription's keys as `aes128gcm` (RFC 8291, RFC 8188).
Everything with `cryptography`; no web framework, no database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)
RECORD_SIZE = 4096
TTL_S = 3600  # a phone that is off for an hour does not need to hear it any more
JWT_LIFE_S = 12 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


@dataclass(frozen=True)
class Subscription:
    endpoint: str
    p256dh: str  # the browser's public key, base64url (65 bytes uncompressed)
    auth: str  # its 16-byte authentication secret, base64url


class Vapid:
    """The box's application server key: browsers subscribe with its public half, push
    services check each message's JWT with it."""

    def __init__(self, data_path: Path) -> None:
        path = data_path / "vapid.pem"
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), None)
            assert isinstance(loaded, ec.EllipticCurvePrivateKey)
            self.key = loaded
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            pem = self.key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)

    @property
    def public(self) -> str:
        return b64url(point(self.key.public_key()))

    def authorization(self, endpoint: str, contact: str, now: float) -> str:
        parts = urlsplit(endpoint)
        claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(now) + JWT_LIFE_S,
                  "sub": contact}
        head = b64url(json.dumps({"typ": "JWT", "alg": "ES256"}).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        r, s = decode_dss_signature(self.key.sign(f"{head}.{body}".encode(),
                                                  ec.ECDSA(hashes.SHA256())))
        signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return f"vapid t={head}.{body}.{signature}, k={self.public}"


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def encrypt(payload: bytes, sub: Subscription, salt: bytes | None = None,
            private: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """One aes128gcm record of `payload` for the subscription (RFC 8291 section 3.4)."""
    ua_public = unb64url(sub.p256dh)
    auth = unb64url(sub.auth)
    private = private or ec.generate_private_key(ec.SECP256R1())
    as_public = point(private.public_key())
    shared = private.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), ua_public))
    ikm = _hmac(_hmac(auth, shared), b"WebPush: info\x00" + ua_public + as_public + b"\x01")
    salt = salt or os.urandom(16)
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    sealed = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)
    return salt + struct.pack("!IB", RECORD_SIZE, len(as_public)) + as_public + sealed


async def send(session: aiohttp.ClientSession, vapid: Vapid, sub: Subscription,
               message: dict[str, str], contact: str) -> int:
    """POST the message to the subscription's push service; its HTTP status (201 sent,
    404/410 the subscription is gone), 0 when it could not be reached."""
    body = encrypt(json.dumps(message).encode(), sub)
    headers = {"Authorization": vapid.authorization(sub.endpoint, contact, time.time()),
               "Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream",
               "TTL": str(TTL_S), "Urgency": "normal"}
    try:
        async with session.post(sub.endpoint, data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=15)) as resp:
            return resp.status
    except (aiohttp.ClientError, TimeoutError) as err:
        log.warning("push to %s failed: %r", urlsplit(sub.endpoint).netloc, err)
        return 0

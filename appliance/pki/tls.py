"""The TLS side: the server context for the TLS port (TLS 1.2+, forward-secret AEAD ciphers,
client certificates asked for and checked against the site CA) and what a connection presented."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from appliance.pki.authority import CertInfo, info

# TLS 1.2 suites (TLS 1.3 has only good ones): ECDHE for forward secrecy, AEAD only.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
# The OCPP security whitepaper's (and 2.0.1's A00) RSA suites, TLS_RSA_WITH_AES_128_GCM_SHA256
# and TLS_RSA_WITH_AES_256_GCM_SHA384: a charger may support only these, and a central system
# must offer them. No forward secrecy, so only with the `tls_rsa` setting, and after ECDHE.
RSA_SUITES = "AES128-GCM-SHA256:AES256-GCM-SHA384"
# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: an expired client certificate still completes the
# handshake, so that the endpoint can refuse it with a log line that says why (a failed
# handshake logs nothing). The endpoint checks every client certificate's dates itself.
NO_CHECK_TIME = 0x200000


def server_context(cert_file: str, key_file: str, client_cas_pem: bytes,
                   rsa_pair: tuple[str, str] | None = None) -> ssl.SSLContext:
    """`rsa_pair`: an RSA certificate served beside the EC one (OpenSSL keeps one per key type
    and picks by what the client offers), with the whitepaper's RSA suites after ECDHE."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS + (":" + RSA_SUITES if rsa_pair else ""))
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(cert_file, key_file)
    if rsa_pair is not None:
        ctx.load_cert_chain(*rsa_pair)
    # Optional: profile 2 chargers and browsers have no client certificate; profile 3 ones do.
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.verify_flags |= NO_CHECK_TIME
    ctx.load_verify_locations(cadata=client_cas_pem.decode("ascii"))
    return ctx


class Presented(StrEnum):
    """The security profile a connection arrived with."""

    PLAIN = "plain"  # ws://: profile 1 at most
    TLS = "tls"  # wss:// without a client certificate: profile 2 at most
    CLIENT_CERT = "client_cert"  # wss:// with a certificate the site CA (or an added CA) signed


@dataclass(frozen=True)
class Peer:
    presented: Presented
    cert: CertInfo | None = None

    @property
    def profile(self) -> int:
        return {Presented.PLAIN: 1, Presented.TLS: 2, Presented.CLIENT_CERT: 3}[self.presented]

    def problem(self, cpid: str, now: datetime) -> str | None:
        """Why a client certificate cannot stand for `cpid`, in words for the log."""
        if self.cert is None:
            return None
        if self.cert.common_name != cpid:
            return f"its certificate's CN {self.cert.common_name!r} is not the charge point id"
        if now < self.cert.not_before:
            return f"its certificate {self.cert.serial} is not valid before " \
                   f"{self.cert.not_before.isoformat()}"
        if now >= self.cert.not_after:
            return f"its certificate {self.cert.serial} expired at " \
                   f"{self.cert.not_after.isoformat()}"
        return None


def peer_of(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> Peer:
    if ssl_object is None:
        return Peer(Presented.PLAIN)
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return Peer(Presented.TLS)
    return Peer(Presented.CLIENT_CERT, info(der))

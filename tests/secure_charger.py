"""A charger for security profiles 2 and 3: the `ocpp` library's ChargePoint over the
`websockets` client, with the site CA (wss://) and, for profile 3, a key and a certificate it got
through SignCertificate/CertificateSigned. Also the test server's TLS port."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect

from appliance import keys
from appliance.app import start_tls_site
from tests.charger import SIM_LOG


async def tls_port(server: TestServer) -> int:
    """Start the app's TLS port beside the test server's plain one (as `appliance serve`)."""
    app = server.app
    assert server.runner is not None
    site = await start_tls_site(server.runner, app[keys.SETTINGS], "127.0.0.1", 0)
    sockets = site._server.sockets  # type: ignore[union-attr]
    return int(sockets[0].getsockname()[1])


def make_csr(cpid: str) -> tuple[bytes, bytes]:
    """(CSR PEM, key PEM) as a charger makes them."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cpid),
                                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vendor")]))
           .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return csr.public_bytes(serialization.Encoding.PEM), key_pem


class SecureCharger(ChargePoint):
    """Keeps what the box installs and signs; answers a SecurityProfile change with Accepted."""

    def __init__(self, cpid: str, connection: ClientConnection, state: dict[str, Any]) -> None:
        super().__init__(cpid, connection, response_timeout=10, logger=SIM_LOG)
        self.state = state  # survives reconnects: the charger's storage

    @on(Action.install_certificate)
    async def on_install(self, certificate_type: str, certificate: str
                         ) -> call_result.InstallCertificate:
        self.state.setdefault("installed", []).append((certificate_type, certificate))
        return call_result.InstallCertificate(status="Accepted")

    @on(Action.get_installed_certificate_ids)
    async def on_ids(self, certificate_type: str) -> call_result.GetInstalledCertificateIds:
        found = [pem for kind, pem in self.state.get("installed", []) if kind == certificate_type]
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        cert = x509.load_pem_x509_certificate(found[0].encode())
        data = {"hash_algorithm": "SHA256",
                "issuer_name_hash": hashes_of(cert.issuer.public_bytes()),
                "issuer_key_hash": hashes_of(cert.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)),
                "serial_number": f"{cert.serial_number:x}"}
        return call_result.GetInstalledCertificateIds(status="Accepted",
                                                      certificate_hash_data=[data])

    @on(Action.delete_certificate)
    async def on_delete(self, certificate_hash_data: dict[str, Any]
                        ) -> call_result.DeleteCertificate:
        self.state["installed"] = []
        return call_result.DeleteCertificate(status="Accepted")

    @on(Action.change_configuration)
    async def on_change(self, key: str, value: str) -> call_result.ChangeConfiguration:
        self.state.setdefault("config", {})[key] = value
        if key == "SecurityProfile":
            self.state["reconnect"] = int(value)
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.extended_trigger_message)
    async def on_extended_trigger(self, requested_message: str, **_: Any
                                  ) -> call_result.ExtendedTriggerMessage:
        if requested_message == "SignChargePointCertificate":
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(
                self.send_csr()))
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @on(Action.certificate_signed)
    async def on_signed(self, certificate_chain: str) -> call_result.CertificateSigned:
        self.state["chain"] = certificate_chain
        return call_result.CertificateSigned(status="Accepted")

    async def send_csr(self) -> str:
        csr, key = make_csr(self.id)
        self.state["key"] = key
        answer = await self.call(call.SignCertificate(csr=csr.decode()))
        return str(answer.status)

    async def boot(self) -> str:
        answer = await self.call(call.BootNotification(charge_point_vendor="TestVendor",
                                                       charge_point_model="Secure-1"))
        return str(answer.status)


def hashes_of(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex()


def client_context(ca_file: Path | None, cert: tuple[Path, Path] | None = None
                   ) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        ctx.load_verify_locations(str(ca_file))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@contextlib.asynccontextmanager
async def secure_charger(url: str, cpid: str, password: str | None, ctx: ssl.SSLContext | None,
                         state: dict[str, Any] | None = None) -> AsyncIterator[SecureCharger]:
    headers = {}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{cpid}:{password}".encode()).decode()
    async with connect(f"{url}/ocpp/{cpid}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       additional_headers=headers, ssl=ctx, open_timeout=5) as ws:
        cp = SecureCharger(cpid, ws, {} if state is None else state)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task



"""A running station raised from security profile 1 to 2 to 3 from its page, end to end over
real TLS on 127.0.0.1: the CA installed on the charger, the profile change, the charger back
over wss://, a client certificate got through SignCertificate/CertificateSigned, and back with
it; a charger that does not come back at the new profile falls back, and the page says so."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import Api, add_station, eventually
from tests.secure_charger import secure_charger, tls_port
from tests.staff_client import StaffClient, staff_client

PASSWORD = "secret-pass-1"


class Charger:
    """A charger's firmware loop: connect at its profile; on a SecurityProfile change, try the
    new profile and fall back to the old one if that fails (as the 1.6 security spec says)."""

    def __init__(self, cpid: str, plain: str, tls: str, folder: Path) -> None:
        self.cpid, self.plain, self.tls, self.folder = cpid, plain, tls, folder
        self.state: dict[str, Any] = {}
        self.profile = 1
        self.connected_at: list[int] = []

    def _context(self, profile: int) -> ssl.SSLContext | None:
        if profile == 1:
            return None
        roots = [pem for kind, pem in self.state.get("installed", [])
                 if kind == "CentralSystemRootCertificate"]
        ctx = ssl.create_default_context(cadata="".join(roots) or None)
        if profile == 3:
            cert, key = self.folder / f"{self.cpid}.pem", self.folder / f"{self.cpid}.key"
            cert.write_text(self.state["chain"])
            key.write_bytes(self.state["key"])
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    async def _session(self, profile: int) -> int | None:
        """One connection at `profile`; the profile asked for when it ends, or None."""
        url = self.plain if profile == 1 else self.tls
        async with secure_charger(url, self.cpid, None if profile == 3 else PASSWORD,
                                  self._context(profile), self.state) as cp:
            self.connected_at.append(profile)
            await cp.boot()
            await eventually(lambda: _is("reconnect" in self.state, True), timeout=600)
            await asyncio.sleep(0.3)  # the answer to ChangeConfiguration goes out first
            return int(self.state.pop("reconnect"))

    async def run(self) -> None:
        while True:
            try:
                wanted = await self._session(self.profile)
            except Exception:  # could not connect at the new profile: back to the old one
                self.profile = self.state.pop("previous", self.profile)
                await asyncio.sleep(0.1)
                continue
            if wanted is not None and wanted != self.profile:
                self.state["previous"], self.profile = self.profile, wanted


@contextlib.asynccontextmanager
async def running(charger: Charger) -> AsyncIterator[Charger]:
    task = asyncio.create_task(charger.run())
    try:
        yield charger
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _profile(staff: StaffClient, cpid: str) -> int:
    _, html = await staff.get(f"/stations/{cpid}")
    found = re.search(r'id="security-profile">(\d)<', html)
    assert found, html
    return int(found.group(1))


async def _security(staff: StaffClient, cpid: str, **form: Any) -> str:
    status, html = await staff.post(f"/stations/{cpid}/security", form,
                                    from_page=f"/stations/{cpid}")
    assert status == 200, html
    return html


async def test_raise_a_running_station_from_1_to_2_to_3(server: TestServer, api: Api,
                                                        tmp_path: Path) -> None:
    await add_station(api, "UP1")
    port = await tls_port(server)
    plain = str(server.make_url("")).rstrip("/").replace("http://", "ws://")
    charger = Charger("UP1", plain, f"wss://127.0.0.1:{port}", tmp_path)
    async with running(charger), staff_client(server) as staff:
        await eventually(lambda: _is(charger.connected_at, [1]))
        assert await _profile(staff, "UP1") == 1
        await _security(staff, "UP1", action="raise", profile="2")
        await eventually(lambda: _is(charger.connected_at[-1:], [2]), timeout=10)
        await eventually(lambda: _equals(_profile(staff, "UP1"), 2))
        # profile 3 needs a certificate first: refused and said so
        html = await _security(staff, "UP1", action="raise", profile="3")
        assert "no valid certificate from this box yet" in html
        await _security(staff, "UP1", action="sign")
        await eventually(lambda: _is("chain" in charger.state, True))
        await _security(staff, "UP1", action="raise", profile="3")
        await eventually(lambda: _is(charger.connected_at[-1:], [3]), timeout=10)
        await eventually(lambda: _equals(_profile(staff, "UP1"), 3))
        _, html = await staff.get("/stations/UP1")
        assert "CertificateSigned" in html and "upgraded to profile 3" in html
        # the certificate commands, stored and shown
        await _security(staff, "UP1", action="list")
        _, html = await staff.get("/stations/UP1")
        assert "GetInstalledCertificateIds" in html and 'name="issuer_key_hash"' in html


async def test_a_charger_that_does_not_come_back_falls_back(server: TestServer, api: Api,
                                                            tmp_path: Path) -> None:
    await add_station(api, "UP2")
    port = await tls_port(server)
    plain = str(server.make_url("")).rstrip("/").replace("http://", "ws://")
    # The charger cannot reach the TLS port (a wrong port): it comes back at profile 1.
    charger = Charger("UP2", plain, f"wss://127.0.0.1:{port + 1 if port < 65535 else 1}",
                      tmp_path)
    async with running(charger), staff_client(server) as staff:
        await eventually(lambda: _is(charger.connected_at, [1]))
        await _security(staff, "UP2", action="raise", profile="2")
        await eventually(lambda: _is(charger.connected_at[-1:] == [1]
                                     and len(charger.connected_at) >= 2, True), timeout=10)
        _, html = await staff.get("/stations/UP2")
        await eventually(lambda: _equals(_profile(staff, "UP2"), 1))
        _, html = await staff.get("/stations/UP2")
        assert "fell back" in html


async def test_ca_download_and_certificates_page(server: TestServer) -> None:
    async with staff_client(server) as staff:
        status, pem = await staff.get("/ca.pem")
        assert status == 200 and pem.startswith("-----BEGIN CERTIFICATE-----")
        status, html = await staff.get("/settings/certificates")
        assert status == 200
        assert re.search(r'id="ca-fingerprint" translate="no">([0-9A-F]{2}:){31}[0-9A-F]{2}<',
                         html)


async def _is(value: Any, expected: Any) -> bool:
    return bool(value == expected)


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_the_api_shows_a_stations_security(server: TestServer, api: Api) -> None:
    await add_station(api, "UP3")
    station = await api.get("/stations/UP3")
    assert station["security_profile"] == 1
    security = await api.get("/stations/UP3/security")
    assert security["security_profile"] == 1 and security["profile_target"] is None
    assert security["certificates"] == [] and security["commands"] == []


async def test_pages_over_https_and_an_own_certificate(server: TestServer,
                                                       tmp_path: Path) -> None:
    """The TLS port serves the pages too; a manager's own certificate (here from a CA of
    their own) replaces the box's for new connections, and the box's comes back on request."""
    import aiohttp

    from appliance import keys
    from appliance.pki import authority

    port = await tls_port(server)
    pki = server.app[keys.TLS]
    own_ca = authority.create_ca("Manager's CA")
    own = authority.issue_server(own_ca, ["127.0.0.1"])

    async def fetch(ca_pem: bytes) -> int:
        ctx = ssl.create_default_context(cadata=ca_pem.decode())
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{port}/login", ssl=ctx) as resp:
                return resp.status

    assert await fetch(pki.ca_pem) == 200
    async with staff_client(server) as staff:
        form = aiohttp.FormData()
        form.add_field("csrf_token", await staff.csrf("/settings/certificates"))
        form.add_field("action", "upload")
        form.add_field("chain", own.cert_pem + own_ca.cert_pem, filename="chain.pem")
        form.add_field("key", own.key_pem, filename="key.pem")
        async with staff.session.post(staff.url("/settings/certificates"), data=form) as resp:
            assert resp.status == 200, await resp.text()
        assert await fetch(own_ca.cert_pem) == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await fetch(pki.ca_pem)
        status, html = await staff.post("/settings/certificates", {"action": "box"},
                                        from_page="/settings/certificates")
        assert status == 200, html
        assert await fetch(pki.ca_pem) == 200


async def test_the_api_raises_a_profile_and_the_raw_endpoint_refuses_to(
        server: TestServer, api: Api, tmp_path: Path) -> None:
    """POST /stations/{id}/security-profile is the pages' flow (one step, the CA first, audited);
    the raw command endpoint refuses a profile change of either version, pointing at it."""
    from appliance import keys
    from appliance.db.models_people import AuditLog

    await add_station(api, "UP4")
    port = await tls_port(server)
    plain = str(server.make_url("")).rstrip("/").replace("http://", "ws://")
    charger = Charger("UP4", plain, f"wss://127.0.0.1:{port}", tmp_path)
    async with running(charger):
        await eventually(lambda: _is(charger.connected_at, [1]))
        for action, payload in (
                ("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"}),
                ("ChangeConfiguration", {"key": "securityprofile", "value": "2"}),
                ("SetNetworkProfile", {"configurationSlot": 1, "connectionData": {}}),
                ("SetVariables", {"setVariableData": [{
                    "attributeValue": "1,0", "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "NetworkConfigurationPriority"}}]})):
            status, body = await api.request("POST", f"/stations/UP4/ocpp/{action}", payload)
            assert status == 400, (action, status, body)
            assert "/stations/{id}/security-profile" in str(body), body
        assert "config" not in charger.state  # nothing reached the charger
        refused = await api.post("/stations/UP4/security-profile", {"profile": 3}, expect=400)
        assert "one step at a time" in str(refused)
        answer = await api.post("/stations/UP4/security-profile", {"profile": 2}, expect=200)
        assert answer["status"] == "Accepted"
        await eventually(lambda: _is(charger.connected_at[-1:], [2]), timeout=10)
        security = await api.get("/stations/UP4/security")
        assert security["security_profile"] == 2
        assert [c["action"] for c in security["commands"]][:2] == ["SecurityProfile",
                                                                    "InstallCertificate"]
    rows = await server.app[keys.DATABASE].read(lambda: [
        (r.action, r.detail) for r in AuditLog.select().where(AuditLog.target == "UP4")])
    assert ("station.security.raise", '{"profile": 2}') in rows, rows

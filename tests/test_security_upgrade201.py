"""A running OCPP 2.0.1 station raised from security profile 1 to 2 to 3 from its page, over real
wss:// on 127.0.0.1, the 2.0.1 way (use case A05): the CA installed, a new network profile in a
free configuration slot, that slot first in NetworkConfigurationPriority, a Reset; the charger
(the `ocpp` library's v201 ChargePoint) reconnects from its new slot. One that cannot reach the
new slot falls back to its old one, and the page says so."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from ocpp.routing import on
from ocpp.v201 import call, call_result

from tests.charger201 import SimCharger201, connect_charger201
from tests.conftest import Api, add_station, eventually
from tests.secure_charger import make_csr, tls_port
from tests.staff_client import staff_client
from tests.test_security_upgrade import _equals, _is, _profile, _security

PASSWORD = "secret-pass-1"
PRIORITY = ("OCPPCommCtrlr", "NetworkConfigurationPriority")


class FirmwareCharger(SimCharger201):
    """Keeps what the box installs, signs and configures in `state` (its storage across
    reboots, set right after the socket opens)."""

    state: dict[str, Any]

    @on("InstallCertificate")
    async def on_install_certificate(self, **kw: Any) -> call_result.InstallCertificate:
        self._got("InstallCertificate", kw)
        self.state["roots"].append(kw["certificate"])
        return call_result.InstallCertificate(status="Accepted")

    @on("SetNetworkProfile")
    async def on_set_network_profile(self, configuration_slot: int,
                                     connection_data: dict[str, Any]
                                     ) -> call_result.SetNetworkProfile:
        self._got("SetNetworkProfile", {"slot": configuration_slot, **connection_data})
        self.state["slots"][configuration_slot] = connection_data
        return call_result.SetNetworkProfile(status="Accepted")

    @on("Reset")
    async def on_reset(self, **kw: Any) -> call_result.Reset:
        self._got("Reset", kw)
        self.state["reset"] = True
        return call_result.Reset(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, **kw: Any) -> call_result.TriggerMessage:
        self._got("TriggerMessage", kw)
        if kw["requested_message"] == "SignChargingStationCertificate":
            asyncio.get_running_loop().call_later(0.05, lambda: self._later_csr())
        return call_result.TriggerMessage(status="Accepted")

    def _later_csr(self) -> None:
        csr, key = make_csr(self.id)
        self.state["key"] = key
        self._later(call.SignCertificate(csr=csr.decode()))

    @on("CertificateSigned")
    async def on_signed(self, certificate_chain: str, **kw: Any
                        ) -> call_result.CertificateSigned:
        self.state["chain"] = certificate_chain
        return call_result.CertificateSigned(status="Accepted")


class Firmware:
    """A 2.0.1 charger's connection loop: try the slots in NetworkConfigurationPriority order;
    a Reset starts again from the first, a slot it cannot connect with passes to the next."""

    def __init__(self, cpid: str, plain: str, folder: Path, tls_shift: int = 0) -> None:
        self.cpid, self.folder, self.tls_shift = cpid, folder, tls_shift
        self.state: dict[str, Any] = {
            "slots": {0: {"ocpp_csms_url": f"{plain}/ocpp", "security_profile": 1}},
            "variables": {PRIORITY: "0"}, "roots": []}
        self.connected_at: list[int] = []
        self.received: list[tuple[str, dict[str, Any]]] = []

    def _context(self, profile: int) -> ssl.SSLContext | None:
        if profile == 1:
            return None
        ctx = ssl.create_default_context(cadata="".join(self.state["roots"]) or None)
        if profile == 3:
            cert, key = self.folder / f"{self.cpid}.pem", self.folder / f"{self.cpid}.key"
            cert.write_text(self.state["chain"])
            key.write_bytes(self.state["key"])
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    async def _session(self, slot: int) -> None:
        data = self.state["slots"][slot]
        profile, url = int(data["security_profile"]), str(data["ocpp_csms_url"])
        if profile > 1 and self.tls_shift:  # a charger that cannot reach the TLS port
            host, _, port = url.rsplit("/", 1)[0].rpartition(":")
            url = f"{host}:{int(port) + self.tls_shift}/ocpp"
        async with connect_charger201(None, self.cpid, None if profile == 3 else PASSWORD,
                                      url=url, ssl_context=self._context(profile),
                                      kind=FirmwareCharger) as cp:
            assert isinstance(cp, FirmwareCharger)
            cp.state, cp.variables, cp.received = self.state, self.state["variables"], \
                self.received
            self.connected_at.append(profile)
            await cp.boot()
            await eventually(lambda: _is(self.state.get("reset"), True), timeout=600)
            await asyncio.sleep(0.3)  # the answer to Reset goes out first
            del self.state["reset"]

    async def run(self) -> None:
        while True:
            order = [int(n) for n in self.state["variables"][PRIORITY].split(",")]
            for slot in order:
                try:
                    await self._session(slot)
                    break  # reset: from the first slot again
                except Exception:  # could not connect with this slot: the next one
                    continue
            await asyncio.sleep(0.1)

    def sent(self, action: str) -> list[dict[str, Any]]:
        return [kw for name, kw in self.received if name == action]


@contextlib.asynccontextmanager
async def running(firmware: Firmware) -> AsyncIterator[Firmware]:
    task = asyncio.create_task(firmware.run())
    try:
        yield firmware
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _plain(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/").replace("http://", "ws://")


async def test_raise_a_201_station_from_1_to_2_to_3(server: TestServer, api: Api,
                                                    tmp_path: Path) -> None:
    await add_station(api, "UQ1")
    port = await tls_port(server)
    charger = Firmware("UQ1", _plain(server), tmp_path)
    async with running(charger), staff_client(server) as staff:
        await eventually(lambda: _is(charger.connected_at, [1]))
        await _security(staff, "UQ1", action="raise", profile="2")
        await eventually(lambda: _is(charger.connected_at[-1:], [2]), timeout=10)
        await eventually(lambda: _equals(_profile(staff, "UQ1"), 2))
        # A05: the CA, then a new slot with the wss:// URL, that slot first, then the reset.
        [profile2] = charger.sent("SetNetworkProfile")
        assert profile2["slot"] == 1 and profile2["security_profile"] == 2
        assert profile2["ocpp_csms_url"] == f"wss://127.0.0.1:{port}/ocpp"
        assert profile2["ocpp_version"] == "OCPP20"
        assert charger.state["variables"][PRIORITY] == "1,0"
        assert [kw["type"] for kw in charger.sent("Reset")] == ["OnIdle"]
        assert charger.sent("InstallCertificate")[0]["certificate_type"] == "CSMSRootCertificate"

        await _security(staff, "UQ1", action="sign")
        await eventually(lambda: _is("chain" in charger.state, True))
        await _security(staff, "UQ1", action="raise", profile="3")
        await eventually(lambda: _is(charger.connected_at[-1:], [3]), timeout=10)
        await eventually(lambda: _equals(_profile(staff, "UQ1"), 3))
        assert charger.sent("SetNetworkProfile")[-1]["slot"] == 2
        assert charger.state["variables"][PRIORITY] == "2,1,0"
        _, html = await staff.get("/stations/UQ1")
        assert "CertificateSigned" in html and "upgraded to profile 3" in html
    assert charger.connected_at == [1, 2, 3]


async def test_a_201_charger_that_cannot_use_its_new_slot_falls_back(
        server: TestServer, api: Api, tmp_path: Path) -> None:
    await add_station(api, "UQ2")
    await tls_port(server)
    charger = Firmware("UQ2", _plain(server), tmp_path, tls_shift=1)
    async with running(charger), staff_client(server) as staff:
        await eventually(lambda: _is(charger.connected_at, [1]))
        await _security(staff, "UQ2", action="raise", profile="2")
        await eventually(lambda: _is(len(charger.sent("Reset")), 1), timeout=10)
        await eventually(lambda: _is(charger.connected_at, [1, 1]), timeout=10)
        await eventually(lambda: _equals(_profile(staff, "UQ2"), 1))
        _, html = await staff.get("/stations/UQ2")
        assert "fell back" in html

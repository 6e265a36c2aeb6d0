"""Security profiles 2 and 3 over real TLS on 127.0.0.1 (issue 19): the site CA, the TLS port,
profile 3 client certificates got through SignCertificate/CertificateSigned, and what is
refused: a wrong CN, an unknown CA, an expired certificate, a profile 2 station on the plain
port, a TLS 1.0 client."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import stat
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from cryptography import x509
from websockets.exceptions import InvalidHandshake, InvalidStatus

from appliance import keys
from appliance.charging import certificates
from appliance.db.models import Station
from appliance.pki import authority
from tests.conftest import Api, add_station, eventually
from tests.secure_charger import client_context, make_csr, secure_charger, tls_port

PASSWORD = "secret-pass-1"


def _pki(server: TestServer) -> Path:
    return server.app[keys.SETTINGS].data_path / "pki"


async def _set_profile(server: TestServer, cpid: str, profile: int) -> None:
    def update() -> None:
        Station.update(security_profile=profile).where(Station.cpid == cpid).execute()
    await server.app[keys.DATABASE].run(update)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def test_first_start_makes_the_site_ca(server: TestServer) -> None:
    folder = _pki(server)
    assert stat.S_IMODE(os.stat(folder / "ca.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder / "server.key").st_mode) == 0o600
    chain = x509.load_pem_x509_certificates((folder / "server.pem").read_bytes())
    names = authority.server_names((folder / "server.pem").read_bytes())
    assert {"appliance.local", "127.0.0.1"} <= names
    assert chain[1].subject == chain[0].issuer  # the chain ends with the site CA


async def test_profile_2_charger_connects_over_wss(server: TestServer, api: Api) -> None:
    await add_station(api, "SEC2")
    port = await tls_port(server)
    ctx = client_context(_pki(server) / "ca.pem")
    async with secure_charger(f"wss://127.0.0.1:{port}", "SEC2", PASSWORD, ctx) as cp:
        assert await cp.boot() == "Accepted"
    # wrong password on the TLS port: still refused
    with pytest.raises(InvalidStatus) as refused:
        async with secure_charger(f"wss://127.0.0.1:{port}", "SEC2", "nope", ctx):
            pass
    assert refused.value.response.status_code == 401


async def test_profile_2_station_refused_on_the_plain_port(server: TestServer, api: Api) -> None:
    await add_station(api, "SEC2P")
    await _set_profile(server, "SEC2P", 2)
    plain = str(server.make_url("")).rstrip("/").replace("http://", "ws://")
    with pytest.raises(InvalidStatus) as refused:
        async with secure_charger(plain, "SEC2P", PASSWORD, None):
            pass
    assert refused.value.response.status_code == 403


async def test_profile_3_certificate_from_sign_certificate(server: TestServer, api: Api,
                                                           tmp_path: Path,
                                                           caplog: Any) -> None:
    await add_station(api, "SEC3")
    port = await tls_port(server)
    url = f"wss://127.0.0.1:{port}"
    ca_file = _pki(server) / "ca.pem"
    state: dict[str, Any] = {}
    async with secure_charger(url, "SEC3", PASSWORD, client_context(ca_file), state) as cp:
        assert await cp.boot() == "Accepted"
        assert await cp.send_csr() == "Accepted"
        await eventually(lambda: _true("chain" in state))
    await _set_profile(server, "SEC3", 3)
    cert = _write(tmp_path / "sec3.pem", state["chain"].encode())
    key = _write(tmp_path / "sec3.key", state["key"])
    # Profile 3: the client certificate is the login (no password).
    async with secure_charger(url, "SEC3", None, client_context(ca_file, (cert, key))) as cp:
        assert await cp.boot() == "Accepted"
    # ... and without it the station is refused: its profile never goes down.
    with pytest.raises(InvalidStatus) as refused:
        async with secure_charger(url, "SEC3", PASSWORD, client_context(ca_file)):
            pass
    assert refused.value.response.status_code == 403
    # A revoked certificate is refused with a log line that says so.
    serial = authority.info(state["chain"].encode()).serial
    station = await server.app[keys.DATABASE].read(_station_id, "SEC3")
    await server.app[keys.DATABASE].run(certificates.revoke, station, serial, "admin")
    with pytest.raises(InvalidStatus):
        async with secure_charger(url, "SEC3", None, client_context(ca_file, (cert, key))):
            pass
    assert f"certificate {serial} is revoked" in caplog.text


def _station_id(cpid: str) -> int:
    return int(Station.get(Station.cpid == cpid).id)


async def _true(value: bool) -> bool:
    return value


async def test_a_csr_for_another_id_is_not_signed(server: TestServer, api: Api) -> None:
    await add_station(api, "SEC3B")
    port = await tls_port(server)
    async with secure_charger(f"wss://127.0.0.1:{port}", "SEC3B", PASSWORD,
                              client_context(_pki(server) / "ca.pem")) as cp:
        from ocpp.v16 import call
        csr, _ = make_csr("SOMEONE-ELSE")
        answer = await cp.call(call.SignCertificate(csr=csr.decode()))
        assert answer.status == "Rejected"


def _signed_client(server: TestServer, tmp_path: Path, cpid: str, *,
                   ca: authority.Issued | None = None,
                   now: datetime | None = None) -> tuple[Path, Path]:
    """A client certificate for `cpid` signed by the site CA (or by `ca`), made at `now`."""
    folder = _pki(server)
    site = authority.Issued((folder / "ca.pem").read_bytes(), (folder / "ca.key").read_bytes())
    csr, key = make_csr(cpid)
    cert = authority.sign_csr(ca or site, csr, cpid, now=now)
    return (_write(tmp_path / f"{cpid}.pem", cert), _write(tmp_path / f"{cpid}.key", key))


@pytest.mark.parametrize("case", ["wrong_cn", "unknown_ca", "expired"])
async def test_bad_client_certificates_are_refused(server: TestServer, api: Api,
                                                   tmp_path: Path, caplog: Any,
                                                   case: str) -> None:
    await add_station(api, "SEC3C")
    await _set_profile(server, "SEC3C", 3)
    port = await tls_port(server)
    ca_file = _pki(server) / "ca.pem"
    if case == "wrong_cn":
        pair = _signed_client(server, tmp_path, "OTHER")
    elif case == "unknown_ca":
        pair = _signed_client(server, tmp_path, "SEC3C", ca=authority.create_ca("stranger"))
    else:
        pair = _signed_client(server, tmp_path, "SEC3C",
                              now=datetime.now(UTC) - timedelta(days=3 * 365))
    with pytest.raises((InvalidHandshake, ssl.SSLError, OSError)) as refused:
        async with secure_charger(f"wss://127.0.0.1:{port}", "SEC3C", None,
                                  client_context(ca_file, pair)) as cp:
            await cp.boot()  # TLS 1.3: a refused certificate shows at the first read
    if case == "wrong_cn":
        assert isinstance(refused.value, InvalidStatus)
        assert "CN 'OTHER' is not the charge point id" in caplog.text
    elif case == "expired":
        assert isinstance(refused.value, InvalidStatus)
        assert "expired at" in caplog.text


async def test_tls_1_0_client_is_refused(server: TestServer) -> None:
    port = await tls_port(server)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():  # TLS 1.0 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that this client really offers TLS 1.0
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        writer.close()


def _s_client(port: int, ca: Path) -> Callable[..., Awaitable[tuple[int, str]]]:
    async def s_client(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(ca),
            "-servername", "appliance.local", *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return int(proc.returncode or 0), out.decode(errors="replace")

    return s_client


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_openssl_s_client_handshake_facts(server: TestServer) -> None:
    s_client = _s_client(await tls_port(server), _pki(server) / "ca.pem")
    code, out = await s_client("-verify_return_error")
    assert code == 0, out
    assert "Verify return code: 0 (ok)" in out
    assert "TLSv1.3" in out
    code, out = await s_client("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert code == 0 and "ECDHE-ECDSA-AES128-GCM-SHA256" in out, out
    code, out = await s_client("-tls1_2", "-cipher", "AES128-SHA")  # no forward secrecy
    assert code != 0, out
    code, out = await s_client("-tls1_1")
    assert code != 0, out
    code, out = await s_client("-tls1_2", "-cipher", "AES128-GCM-SHA256")  # tls_rsa is off
    assert code != 0, out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_an_rsa_only_client_with_tls_rsa(make_settings: Any, start_app: Any) -> None:
    """`tls_rsa`: a client offering only the whitepaper's RSA suites gets the box's RSA
    certificate (from the same site CA); one offering ECDHE still gets ECDHE and the EC one."""
    server = await start_app(make_settings(tls_rsa=True))
    s_client = _s_client(await tls_port(server), _pki(server) / "ca.pem")
    for suite in ("AES128-GCM-SHA256", "AES256-GCM-SHA384"):  # TLS_RSA_WITH_AES_*_GCM_SHA*
        code, out = await s_client("-tls1_2", "-cipher", suite, "-verify_return_error")
        assert code == 0 and f"Cipher is {suite}" in out, out
        assert "Server public key is 3072 bit" in out and "Verify return code: 0 (ok)" in out
    code, out = await s_client("-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384")
    assert code == 0 and "Cipher is ECDHE-RSA-AES256-GCM-SHA384" in out, out
    code, out = await s_client("-tls1_2")  # everything OpenSSL offers: ECDHE first, EC key
    assert code == 0 and "Cipher is ECDHE-ECDSA-" in out and "256 bit" in out, out
    assert stat.S_IMODE(os.stat(_pki(server) / "server-rsa.key").st_mode) == 0o600


async def test_server_certificate_follows_a_new_address(server: TestServer) -> None:
    port = await tls_port(server)
    pki = server.app[keys.TLS]
    ctx = client_context(_pki(server) / "ca.pem")

    async def handshake(name: str) -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                  server_hostname=name)
        writer.close()

    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake("box.site.lan")
    names = sorted(authority.server_names(pki.server_file.read_bytes()))
    assert await asyncio.to_thread(pki.refresh, names) is False  # nothing changed
    assert await asyncio.to_thread(pki.refresh, [*names, "box.site.lan"]) is True
    await handshake("box.site.lan")  # the live port serves the new one


async def test_a_charger_certificate_is_renewed_ahead_of_expiry(server: TestServer, api: Api,
                                                                tmp_path: Path) -> None:
    from appliance.app import renew_certificates

    await add_station(api, "SEC3R")
    await _set_profile(server, "SEC3R", 3)
    old = datetime.now(UTC) - timedelta(days=authority.CHARGER_DAYS - 10)  # ends in 10 days
    cert, key = _signed_client(server, tmp_path, "SEC3R", now=old)
    issued = authority.info(cert.read_bytes())
    station = await server.app[keys.DATABASE].read(_station_id, "SEC3R")
    await server.app[keys.DATABASE].run(
        certificates.record_issued, station, issued.common_name, issued.serial,
        issued.fingerprint, issued.not_before, issued.not_after)
    port = await tls_port(server)
    state: dict[str, Any] = {}
    async with secure_charger(f"wss://127.0.0.1:{port}", "SEC3R", None,
                              client_context(_pki(server) / "ca.pem", (cert, key)), state) as cp:
        assert await cp.boot() == "Accepted"
        await renew_certificates(server.app)
        await eventually(lambda: _true("chain" in state))
    renewed = authority.info(state["chain"].encode())
    assert renewed.common_name == "SEC3R"
    assert renewed.not_after > issued.not_after + timedelta(days=300)


async def test_a_pending_station_gets_no_certificate(server: TestServer) -> None:
    port = await tls_port(server)
    async with secure_charger(f"wss://127.0.0.1:{port}", "NEWCOMER", None,
                              client_context(_pki(server) / "ca.pem")) as cp:
        assert await cp.boot() == "Pending"
        assert await cp.send_csr() == "Rejected"


async def test_added_cas_dates(server: TestServer, api: Api, tmp_path: Path,
                               caplog: Any) -> None:
    """An added CA out of date is refused at upload; one in date signs chargers' certificates
    until it runs out while the TLS context holds it, then they are refused, with why."""
    import aiohttp

    from tests.staff_client import staff_client

    now = datetime.now(UTC)
    days = timedelta(days=authority.CA_DAYS)

    async def upload(staff: Any, pem: bytes) -> tuple[int, str]:
        form = aiohttp.FormData()
        form.add_field("csrf_token", await staff.csrf("/settings/certificates"))
        form.add_field("action", "trust")
        form.add_field("ca", pem, filename="ca.pem")
        async with staff.session.post(staff.url("/settings/certificates"), data=form) as resp:
            return resp.status, await resp.text()

    expired = authority.create_ca("Old vendor", now=now - days - timedelta(days=1))
    early = authority.create_ca("Future vendor", now=now + timedelta(days=2))
    lasting = authority.create_ca("Vendor")
    brief = authority.create_ca("Brief vendor", now=now - days + timedelta(seconds=3))
    async with staff_client(server) as staff:
        status, html = await upload(staff, expired.cert_pem)
        assert status == 400 and "Old vendor site CA expired at" in html
        status, html = await upload(staff, early.cert_pem)
        assert status == 400 and "Future vendor site CA is not valid before" in html
        status, html = await upload(staff, authority.issue_server(lasting, ["x"]).cert_pem)
        assert status == 400 and "is not a CA certificate" in html
        for ca in (lasting, brief):
            status, html = await upload(staff, ca.cert_pem)
            assert status == 200, html
    assert b"Old vendor" not in (_pki(server) / "trusted.pem").read_bytes()
    await add_station(api, "SEC3V")
    await add_station(api, "SEC3W")
    for cpid in ("SEC3V", "SEC3W"):
        await _set_profile(server, cpid, 3)
    port = await tls_port(server)
    ca_file = _pki(server) / "ca.pem"
    good = _signed_client(server, tmp_path, "SEC3V", ca=lasting)
    async with secure_charger(f"wss://127.0.0.1:{port}", "SEC3V", None,
                              client_context(ca_file, good)) as cp:
        assert await cp.boot() == "Accepted"
    late = _signed_client(server, tmp_path, "SEC3W", ca=brief)
    await asyncio.sleep(max(0.0, (brief_end := authority.info(brief.cert_pem).not_after)
                            .timestamp() - datetime.now(UTC).timestamp()) + 0.2)
    assert datetime.now(UTC) >= brief_end
    with pytest.raises((InvalidHandshake, ssl.SSLError, OSError)):
        async with secure_charger(f"wss://127.0.0.1:{port}", "SEC3W", None,
                                  client_context(ca_file, late)) as cp:
            await cp.boot()
    assert "the added CA 'Brief vendor site CA', is valid from" in caplog.text
    # A context made now leaves the run-out CA out, and says so.
    server.app[keys.TLS].context()
    assert "the added CA Brief vendor site CA" in caplog.text

"""Security profiles at the OCPP endpoint (issue 19): what a connection presented (plain, TLS,
TLS with a client certificate), whether that is enough for the station, and the box's side of
SignCertificate: sign the charger's CSR with the site CA and send it back (CertificateSigned).
Version-neutral: ocpp/v201.py's SignCertificate uses `sign_csr`/`send_signed` as v16.py does, and
answers GetCertificateStatus and Get15118EVCertificate with the seams at the end."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from appliance import keys
from appliance.charging import certificates, stations
from appliance.db.database import Database
from appliance.errors import ApplianceError
from appliance.pki import authority
from appliance.pki.store import SiteTls
from appliance.pki.tls import Peer, Presented, peer_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    peer: Peer
    refusal: str | None = None  # why the connection is refused (for the charger; logged too)

    @property
    def certified(self) -> bool:
        """A client certificate of the site CA (or an added CA) for this very station: it
        stands instead of Basic auth."""
        return self.refusal is None and self.peer.presented is Presented.CLIENT_CERT


def presented(request: web.Request) -> Peer:
    transport = request.transport
    return peer_of(transport.get_extra_info("ssl_object") if transport is not None else None)


async def admit(request: web.Request, database: Database, cpid: str,
                auth: stations.StationAuth | None) -> Admission:
    """Check what the connection presented against the station's profile. A client
    certificate must name this station (CN), be in date and not revoked; a station at profile
    2 or 3 is refused on the plain port and below its profile (never lowered by a charger)."""
    peer = presented(request)
    address = request.remote or "?"
    now = datetime.now(UTC)
    pki = request.app.get(keys.TLS)
    # An added CA that ran out is the cause to name (its certificates run out with it).
    problem = pki.issuer_problem(peer.cert, now) if pki is not None and peer.cert else None
    problem = problem or peer.problem(cpid, now)
    if problem is None and peer.cert is not None and \
            await database.read(certificates.is_revoked, peer.cert.serial):
        problem = f"its certificate {peer.cert.serial} is revoked"
    if problem is not None:
        log.warning("%s: refused a client certificate from %s: %s", cpid, address, problem)
        return Admission(peer, f"client certificate refused: {problem}")
    needed = auth.security_profile if auth is not None else 1
    if peer.profile < needed:
        how = "on the plain port" if peer.presented is Presented.PLAIN \
            else "without a client certificate"
        log.warning("%s: refused from %s: the station is at security profile %d and connected "
                    "%s (profile %d)", cpid, address, needed, how, peer.profile)
        return Admission(peer, f"this station needs security profile {needed}")
    return Admission(peer)


async def connected(database: Database, auth: stations.StationAuth, peer: Peer) -> None:
    """An upgrade under way is done when the charger comes back at its target; one that
    comes back lower fell back (its page says so)."""
    profile, note = await database.run(certificates.connected_at, auth.id, peer.profile)
    if profile > auth.security_profile:
        log.info("%s: now at security profile %d", auth.cpid, profile)
    elif note.startswith("fell back"):
        log.warning("%s: %s", auth.cpid, note)


async def sign_csr(pki: SiteTls | None, database: Database, station_id: int, cpid: str,
                   csr: str) -> tuple[str, str | None]:
    """(status for SignCertificate, the signed certificate chain to send, or None)."""
    if pki is None or pki.ca is None:
        return "Rejected", None
    try:
        cert_pem = pki.sign(csr.encode("ascii", "replace"), cpid)
    except ApplianceError as err:
        log.warning("%s: refused to sign its CSR: %s", cpid, err.message)
        await database.run(certificates.record_command, station_id, "SignCertificate", {},
                           "Rejected", {"reason": err.message}, "charger")
        return "Rejected", None
    issued = authority.info(cert_pem)
    await database.run(certificates.record_issued, station_id, issued.common_name, issued.serial,
                       issued.fingerprint, issued.not_before, issued.not_after)
    log.info("%s: signed its CSR: certificate %s until %s", cpid, issued.serial,
             issued.not_after.date())
    return "Accepted", (cert_pem + pki.ca_pem).decode("ascii")


async def send_signed(conn: Any, database: Database, chain: str) -> None:
    """CertificateSigned with the chain (the charger's certificate, then the site CA)."""
    serial = authority.info(chain.encode("ascii")).serial
    try:
        answer = await conn.call("CertificateSigned", {"certificateChain": chain})
        status = str(answer.get("status", ""))
    except ApplianceError as err:
        status = "Failed"
        log.warning("%s: CertificateSigned not delivered: %s", conn.id, err.message)
    await database.run(certificates.record_command, conn.station_id, "CertificateSigned",
                       {"serial": serial}, status, {}, "charger")
    log.info("%s: CertificateSigned %s: %s", conn.id, serial, json.dumps(status))


# --- seams for OCPP 2.0.1 (ocpp/v201.py answers these messages with them) -----------------------
OCSP_TIMEOUT_S = 5.0


async def certificate_status(ocsp_request_data: dict[str, Any]) -> dict[str, Any]:
    """GetCertificateStatus: the charger's OCSP request sent to the responder it names; the
    answer's DER, base64, when it is a successful OCSP response, a clear Failed otherwise (a
    site box often has no route to a public responder)."""
    url = str(ocsp_request_data.get("responderURL", ""))
    try:
        der = authority.ocsp_request(
            str(ocsp_request_data.get("hashAlgorithm", "")),
            str(ocsp_request_data.get("issuerNameHash", "")),
            str(ocsp_request_data.get("issuerKeyHash", "")),
            str(ocsp_request_data.get("serialNumber", "")))
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"responder URL {url!r} is not http(s)")
        timeout = aiohttp.ClientTimeout(total=OCSP_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                url, data=der, headers={"Content-Type": "application/ocsp-request"}) as resp:
            answer = await resp.read()
            if resp.status != 200 or not authority.ocsp_answer_ok(answer):
                raise ValueError(f"the responder answered HTTP {resp.status} without a "
                                 "successful OCSP response")
    except (ApplianceError, ValueError, aiohttp.ClientError, TimeoutError) as err:
        why = err.message if isinstance(err, ApplianceError) else str(err) or type(err).__name__
        log.info("OCSP request to %s failed: %s", url or "(none)", why)
        return {"status": "Failed", "statusInfo": {"reasonCode": "OCSPFailed",
                                                   "additionalInfo": why[:512]}}
    return {"status": "Accepted", "ocspResult": base64.b64encode(answer).decode("ascii")}


def ev_certificate_unavailable() -> dict[str, Any]:
    """Get15118EVCertificate while no ISO 15118 contract-certificate service is configured (the
    seam for one: answer from it here)."""
    return {"status": "Failed", "exiResponse": "",
            "statusInfo": {"reasonCode": "NoContractService",
                           "additionalInfo": "no ISO 15118 contract-certificate service is "
                                             "configured on this site"}}

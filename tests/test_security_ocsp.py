"""The seams OCPP 2.0.1's handler answers with (issue 19, point 4): GetCertificateStatus sends
the charger's OCSP request to the responder it names (a local stand-in responder here, built on
`cryptography`'s OCSP builder) and returns its answer; an unreachable or broken responder is a
clear Failed. Get15118EVCertificate is Failed with a reason while no contract service exists."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from appliance.ocpp import security
from appliance.pki import authority
from tests.secure_charger import make_csr


def _hash_data(cert: x509.Certificate, issuer: x509.Certificate, url: str) -> dict[str, Any]:
    def sha256(data: bytes) -> str:
        digest = hashes.Hash(hashes.SHA256())
        digest.update(data)
        return digest.finalize().hex()

    # RFC 6960: the key hash is over the issuer's public key bits (an EC point here).
    bits = issuer.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint)
    return {"hashAlgorithm": "SHA256", "issuerNameHash": sha256(cert.issuer.public_bytes()),
            "issuerKeyHash": sha256(bits), "serialNumber": f"{cert.serial_number:x}",
            "responderURL": url}


async def test_certificate_status_through_a_responder(aiohttp_server: Any) -> None:
    ca = authority.create_ca("OCSP test")
    csr, _ = make_csr("CP-OCSP")
    cert = x509.load_pem_x509_certificate(authority.sign_csr(ca, csr, "CP-OCSP"))
    issuer = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    seen: list[bytes] = []

    async def responder(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(body)
        asked = ocsp.load_der_ocsp_request(body)
        assert asked.serial_number == cert.serial_number
        now = datetime.now(UTC)
        answer = (ocsp.OCSPResponseBuilder()
                  .add_response(cert, issuer, hashes.SHA256(), ocsp.OCSPCertStatus.GOOD, now,
                                now + timedelta(hours=1), None, None)
                  .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
                  .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
        return web.Response(body=answer.public_bytes(serialization.Encoding.DER),
                            content_type="application/ocsp-response")

    app = web.Application()
    app.router.add_post("/ocsp", responder)
    server: TestServer = await aiohttp_server(app, host="127.0.0.1")
    url = str(server.make_url("/ocsp"))
    answer = await security.certificate_status(_hash_data(cert, issuer, url))
    assert answer["status"] == "Accepted", answer
    response = ocsp.load_der_ocsp_response(base64.b64decode(answer["ocspResult"]))
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD and len(seen) == 1

    broken = await security.certificate_status(_hash_data(cert, issuer, url + "-missing"))
    assert broken["status"] == "Failed" and "HTTP 404" in broken["statusInfo"]["additionalInfo"]
    await server.close()
    gone = await security.certificate_status(_hash_data(cert, issuer, url))
    assert gone["status"] == "Failed"


def test_ev_certificate_is_failed_with_a_reason() -> None:
    answer = security.ev_certificate_unavailable()
    assert answer["status"] == "Failed" and answer["statusInfo"]["reasonCode"]
    _valid("Get15118EVCertificateResponse", answer)
    _valid("GetCertificateStatusResponse", {"status": "Failed", "statusInfo": {
        "reasonCode": "OCSPFailed", "additionalInfo": "x" * 512}})


def _valid(name: str, payload: dict[str, Any]) -> None:
    """Against the `ocpp` library's own OCPP 2.0.1 schema."""
    import json
    from pathlib import Path

    import jsonschema
    import ocpp

    schema = Path(ocpp.__file__).parent / "v201" / "schemas" / f"{name}.json"
    jsonschema.validate(payload, json.loads(schema.read_text()))

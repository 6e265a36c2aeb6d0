"""Certificates made with `cryptography`: the site CA, the box's server certificate for every
name and address it answers on, and a charger's certificate signed from its CSR."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.errors import N_, InvalidInput

CA_DAYS = 20 * 365  # a site CA outlives the chargers it is installed on
SERVER_DAYS = 397  # what browsers accept for a server certificate
CHARGER_DAYS = 2 * 365
RENEW_BEFORE = timedelta(days=30)  # server and charger certificates are renewed this early
RSA_MIN_BITS = 2048
RSA_SERVER_BITS = 3072  # NIST's size for use past 2030; OCPP asks for 2048 at least
EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")


class CertificateRefused(InvalidInput):
    """A CSR or an uploaded certificate we will not sign or serve."""

    code = "certificate_refused"


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key (PEM)."""

    cert_pem: bytes
    key_pem: bytes


def _now() -> datetime:
    return datetime.now(UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 fingerprint as people compare it: AB:CD:..."""
    digest = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def create_ca(site_name: str, now: datetime | None = None) -> Issued:
    """A new site CA: P-256 key, self-signed, may sign end-entity certificates only."""
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, site_name[:64] or "site"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{site_name[:40]} site CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(_pem(cert), _key_pem(key))


def _load_ca(ca: Issued) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(ca.cert_pem)
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateRefused("the site CA key is not an EC key")
    return cert, key


def _leaf(ca: Issued, subject: x509.Name, public_key: object, days: int,
          usage: x509.ObjectIdentifier,
          now: datetime) -> x509.CertificateBuilder:
    ca_cert, _ = _load_ca(ca)
    assert isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey))
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(min(now + timedelta(days=days), ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_cert.public_key()), critical=False))  # type: ignore[arg-type]


def _alt_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue_server(ca: Issued, names: list[str], now: datetime | None = None,
                 rsa_key: bool = False) -> Issued:
    """The box's server certificate for every name and address in `names` (first is the CN):
    a P-256 key, or an RSA one for chargers that speak only the TLS_RSA suites."""
    if not names:
        raise CertificateRefused("a server certificate needs at least one name")
    now = now or _now()
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = \
        rsa.generate_private_key(65537, RSA_SERVER_BITS) if rsa_key \
        else ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    _, ca_key = _load_ca(ca)
    cert = (_leaf(ca, subject, key.public_key(), SERVER_DAYS, ExtendedKeyUsageOID.SERVER_AUTH,
                  now)
            .add_extension(x509.SubjectAlternativeName([_alt_name(n) for n in names]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return Issued(_pem(cert), _key_pem(key))


def server_names(cert_pem: bytes) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n) for n in san.get_values_for_type(x509.DNSName)} | \
        {str(a) for a in san.get_values_for_type(x509.IPAddress)}


def needs_renewal(cert_pem: bytes, names: list[str], now: datetime | None = None) -> bool:
    """Renew a server certificate near its end, or when the box answers on a name it lacks."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    if cert.not_valid_after_utc - (now or _now()) < RENEW_BEFORE:
        return True
    return not {str(_alt_name(n).value) for n in names} <= server_names(cert_pem)


def sign_csr(ca: Issued, csr_pem: bytes, cpid: str, now: datetime | None = None) -> bytes:
    """A charger's client certificate from its CSR: the CSR's CN must be the charge point id,
    its self-signature must hold and its key be strong enough."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as err:
        raise CertificateRefused(N_("the CSR is not a PEM certificate request")) from err
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, ValueError):
        valid = False
    if not valid:
        raise CertificateRefused(N_("the CSR's signature does not hold"))
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or names[0].value != cpid:
        raise CertificateRefused(N_("the CSR's CN %(cn)s is not the charge point id %(cpid)s"),
                                 params={"cn": ",".join(str(n.value) for n in names),
                                         "cpid": cpid})
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < RSA_MIN_BITS:
            raise CertificateRefused(N_("the CSR's RSA key is shorter than 2048 bits"))
    elif not (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in EC_CURVES):
        raise CertificateRefused(N_("the CSR's key is neither RSA 2048+ nor a NIST P curve"))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cpid)]
                        + [a for a in csr.subject if a.oid == NameOID.ORGANIZATION_NAME][:1])
    _, ca_key = _load_ca(ca)
    cert = _leaf(ca, subject, key, CHARGER_DAYS, ExtendedKeyUsageOID.CLIENT_AUTH,
                 now or _now()).sign(ca_key, hashes.SHA256())
    return _pem(cert)


@dataclass(frozen=True)
class CertInfo:
    """What the box keeps about a certificate it signed or saw."""

    common_name: str
    serial: str  # hex
    not_before: datetime
    not_after: datetime
    fingerprint: str
    issuer: bytes = b""  # DER of the issuer's name: which CA signed it
    subject: bytes = b""  # DER of its own name

    def in_date(self, now: datetime) -> bool:
        return self.not_before <= now < self.not_after


def info(cert: bytes) -> CertInfo:
    """PEM or DER."""
    parsed = (x509.load_pem_x509_certificate(cert) if cert.lstrip().startswith(b"-----")
              else x509.load_der_x509_certificate(cert))
    names = parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    digest = parsed.fingerprint(hashes.SHA256())
    return CertInfo(str(names[0].value) if names else "", f"{parsed.serial_number:x}",
                    parsed.not_valid_before_utc, parsed.not_valid_after_utc,
                    ":".join(f"{b:02X}" for b in digest), parsed.issuer.public_bytes(),
                    parsed.subject.public_bytes())


def check_cas(pem: bytes, now: datetime | None = None) -> list[CertInfo]:
    """CA certificates a manager adds for chargers' certificates: PEM, CAs, and in date now
    (an expired or not yet valid CA would be refused at every handshake anyway, later and
    with less said)."""
    now = now or _now()
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as err:
        raise CertificateRefused(N_("the file is not a PEM certificate")) from err
    found = []
    for cert in certs:
        checked = info(_pem(cert))
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise CertificateRefused(N_("%(cn)s is not a CA certificate"),
                                     params={"cn": checked.common_name})
        if now < checked.not_before:
            raise CertificateRefused(N_("the CA %(cn)s is not valid before %(date)s"),
                                     params={"cn": checked.common_name,
                                             "date": checked.not_before.isoformat()})
        if now >= checked.not_after:
            raise CertificateRefused(N_("the CA %(cn)s expired at %(date)s"),
                                     params={"cn": checked.common_name,
                                             "date": checked.not_after.isoformat()})
        found.append(checked)
    return found


def check_pair(cert_chain_pem: bytes, key_pem: bytes) -> CertInfo:
    """A manager's own server certificate (chain) and key: parseable, matching, in date."""
    try:
        certs = x509.load_pem_x509_certificates(cert_chain_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as err:
        raise CertificateRefused(N_("the certificate or key is not PEM (a key must not have "
                                    "a passphrase)")) from err
    leaf = certs[0]
    if leaf.public_key() != key.public_key():
        raise CertificateRefused(N_("the key does not belong to the certificate"))
    if leaf.not_valid_after_utc <= _now():
        raise CertificateRefused(N_("the certificate has expired"))
    return info(_pem(leaf))


OCSP_HASHES: dict[str, hashes.HashAlgorithm] = {
    "SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(), "SHA512": hashes.SHA512()}


def ocsp_request(hash_algorithm: str, issuer_name_hash: str, issuer_key_hash: str,
                 serial_number: str) -> bytes:
    """A DER OCSP request for a certificate named as chargers name it (OCPP's hash data)."""
    algorithm = OCSP_HASHES.get(hash_algorithm.upper())
    if algorithm is None:
        raise CertificateRefused(N_("unknown hash algorithm %(name)s"),
                                 params={"name": hash_algorithm})
    try:
        builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            bytes.fromhex(issuer_name_hash), bytes.fromhex(issuer_key_hash),
            int(serial_number, 16), algorithm)
    except ValueError as err:
        raise CertificateRefused(N_("the certificate's hash data is not hexadecimal")) from err
    return builder.build().public_bytes(serialization.Encoding.DER)


def ocsp_answer_ok(der: bytes) -> bool:
    """Whether a responder's answer is a well-formed, successful OCSP response."""
    try:
        return ocsp.load_der_ocsp_response(der).response_status \
            is ocsp.OCSPResponseStatus.SUCCESSFUL
    except ValueError:
        return False

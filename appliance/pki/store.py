"""The box's certificates on disk (`<data dir>/pki/`): the site CA made on first start (its key
mode 0600, readable only by the service user), the server certificate for every name and
address the box answers on, renewed when due, a manager's own certificate, and added CAs."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import ssl
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from appliance.errors import N_
from appliance.pki import authority, tls
from appliance.pki.authority import Issued

log = logging.getLogger(__name__)

DEFAULT_NAMES = ("appliance.local", "localhost", "127.0.0.1")


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def box_names(host: str, base_url: str) -> list[str]:
    """Every name and address the box answers on: appliance.local, its hostname, its LAN
    addresses, the listen address and base_url's host."""
    names = list(DEFAULT_NAMES)
    hostname = socket.gethostname()
    names.append(hostname)
    try:
        for *_, sockaddr in socket.getaddrinfo(hostname, None, proto=socket.IPPROTO_TCP):
            names.append(str(sockaddr[0]))
    except OSError:
        pass
    try:  # the address of the default route (no packet is sent for a UDP connect)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            names.append(probe.getsockname()[0])
    except OSError:
        pass
    if host not in ("", "0.0.0.0", "::"):
        names.append(host)
    if base_url and urlsplit(base_url).hostname:
        names.append(str(urlsplit(base_url).hostname))
    seen: list[str] = []
    for name in names:
        if name and name not in seen and "%" not in name:
            seen.append(name)
    return seen


@dataclass
class SiteTls:
    """The certificates of one box. `own_cert`/`own_key` (the `tls_cert`/`tls_key` settings)
    replace the box's server certificate when set."""

    folder: Path
    own_cert: str = ""
    own_key: str = ""
    rsa: bool = False  # also an RSA server certificate and the RSA suites (`tls_rsa`)
    ca: Issued | None = None  # set by start()
    ssl_context: ssl.SSLContext | None = None
    port: int = 0  # the TLS port once it listens (0: not yet)
    added: list[authority.CertInfo] = field(default_factory=list)  # CAs a manager added

    def start(self, site_name: str, names: list[str]) -> ssl.SSLContext:
        """First start makes the CA; every start checks the server certificate."""
        self.ca = self.ensure_ca(site_name)
        self.ensure_server(self.ca, names)
        self.ssl_context = self.context()
        return self.ssl_context

    def refresh(self, names: list[str]) -> bool:
        """Renew the server certificate when due or when the box's addresses changed; the
        live context serves the new one to new connections."""
        assert self.ca is not None and self.ssl_context is not None
        renewed = self.ensure_server(self.ca, names)
        if renewed:
            self.reload(self.ssl_context)
        return renewed

    @property
    def ca_pem(self) -> bytes:
        assert self.ca is not None
        return self.ca.cert_pem

    @property
    def ca_fingerprint(self) -> str:
        return authority.fingerprint(self.ca_pem)

    def root_for_chargers(self) -> bytes:
        """The CA certificate a charger must trust for the TLS port: the last certificate of the
        chain being served (the site CA, or the root of a manager's own chain)."""
        cert_file, _ = self.serving_pair()
        chain = Path(cert_file).read_bytes()
        marker = b"-----BEGIN CERTIFICATE-----"
        return marker + chain.rsplit(marker, 1)[-1]

    def serving_info(self) -> tuple[str, authority.CertInfo, set[str]]:
        """(whose certificate is served: own | uploaded | box, its facts, its names)."""
        cert_file, _ = self.serving_pair()
        whose = "own" if self.own_cert else \
            "uploaded" if cert_file == str(self.uploaded_file) else "box"
        data = Path(cert_file).read_bytes()
        return whose, authority.info(data), authority.server_names(data)

    def sign(self, csr_pem: bytes, cpid: str) -> bytes:
        """A charger's certificate from its CSR (see authority.sign_csr)."""
        assert self.ca is not None
        return authority.sign_csr(self.ca, csr_pem, cpid)

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key_file(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_file(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key_file(self) -> Path:
        return self.folder / "server.key"

    @property
    def rsa_file(self) -> Path:
        return self.folder / "server-rsa.pem"

    @property
    def rsa_key_file(self) -> Path:
        return self.folder / "server-rsa.key"

    @property
    def uploaded_file(self) -> Path:  # a manager's certificate and chain, from the pages
        return self.folder / "own.pem"

    @property
    def uploaded_key_file(self) -> Path:
        return self.folder / "own.key"

    @property
    def trusted_file(self) -> Path:  # CAs a manager added for chargers' certificates
        return self.folder / "trusted.pem"

    def ensure_ca(self, site_name: str) -> Issued:
        """The site CA, made on first start. Its key stays in this folder, mode 0600."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)  # the CA key's folder: the service user's alone
        if not self.ca_file.exists() or not self.ca_key_file.exists():
            ca = authority.create_ca(site_name)
            _write(self.ca_key_file, ca.key_pem, private=True)
            _write(self.ca_file, ca.cert_pem)
            log.info("created the site CA (SHA-256 %s)", authority.fingerprint(ca.cert_pem))
            return ca
        os.chmod(self.ca_key_file, 0o600)  # whatever a copy or a restore left
        return Issued(self.ca_file.read_bytes(), self.ca_key_file.read_bytes())

    def ensure_server(self, ca: Issued, names: list[str]) -> bool:
        """Issue the server certificate (and the RSA one, with `rsa`) when missing, near its
        end or lacking a name; True when a new one was made."""
        pairs = [(self.server_file, self.server_key_file, False)]
        if self.rsa:
            pairs.append((self.rsa_file, self.rsa_key_file, True))
        renewed = False
        for cert_file, key_file, rsa_key in pairs:
            if cert_file.exists() and key_file.exists() and \
                    not authority.needs_renewal(cert_file.read_bytes(), names):
                continue
            issued = authority.issue_server(ca, names, rsa_key=rsa_key)
            _write(key_file, issued.key_pem, private=True)
            _write(cert_file, issued.cert_pem + ca.cert_pem)
            log.info("issued the box's %s server certificate for %s",
                     "RSA" if rsa_key else "EC", ", ".join(names))
            renewed = True
        return renewed

    def rsa_pair(self) -> tuple[str, str] | None:
        """The RSA certificate served beside the box's own EC one (`tls_rsa`); a manager's
        own certificate is served alone, whatever its key."""
        if not self.rsa or self.serving_pair()[0] != str(self.server_file):
            return None
        return str(self.rsa_file), str(self.rsa_key_file)

    def serving_pair(self) -> tuple[str, str]:
        """(certificate chain file, key file) the TLS port serves: the settings' files, then
        an uploaded pair, then the box's own."""
        if self.own_cert:
            return self.own_cert, self.own_key
        if self.uploaded_file.exists() and self.uploaded_key_file.exists():
            return str(self.uploaded_file), str(self.uploaded_key_file)
        return str(self.server_file), str(self.server_key_file)

    def upload(self, chain_pem: bytes, key_pem: bytes) -> authority.CertInfo:
        checked = authority.check_pair(chain_pem, key_pem)
        _write(self.uploaded_key_file, key_pem, private=True)
        _write(self.uploaded_file, chain_pem)
        return checked

    def remove_upload(self) -> None:
        for path in (self.uploaded_file, self.uploaded_key_file):
            path.unlink(missing_ok=True)

    def client_cas(self) -> bytes:
        """The site CA and the added CAs in date now (one out of date is left out, logged)."""
        now = datetime.now(UTC)
        kept = [self.ca_file.read_bytes()]
        for pem, cert in self._trusted():
            if cert.in_date(now):
                kept.append(pem)
            else:
                log.warning("the added CA %s (%s) is valid from %s to %s only: chargers' "
                            "certificates from it are refused", cert.common_name,
                            cert.fingerprint, cert.not_before.isoformat(),
                            cert.not_after.isoformat())
        return b"".join(kept)

    def _trusted(self) -> list[tuple[bytes, authority.CertInfo]]:
        if not self.trusted_file.exists():
            return []
        marker = b"-----BEGIN CERTIFICATE-----"
        parts = [marker + p for p in self.trusted_file.read_bytes().split(marker)[1:]]
        return [(p, authority.info(p)) for p in parts]

    def add_trusted(self, ca_pem: bytes) -> authority.CertInfo:
        """Add CAs whose certificates chargers may present: CAs in date, or refused."""
        checked = authority.check_cas(ca_pem)
        if not checked:
            raise authority.CertificateRefused(N_("the file holds no certificate"))
        _write(self.trusted_file, (self.trusted_file.read_bytes()
                                   if self.trusted_file.exists() else b"") + ca_pem)
        self.added = [c for _, c in self._trusted()]
        return checked[0]

    def issuer_problem(self, cert: authority.CertInfo, now: datetime) -> str | None:
        """Why the added CA that signed `cert` cannot stand for it now (it went out of date
        while the TLS context held it: the handshake does not check CAs' dates)."""
        issuers = [c for c in self.added if c.subject == cert.issuer]
        if not issuers or any(c.in_date(now) for c in issuers):
            return None
        late = issuers[0]
        return (f"its issuer, the added CA {late.common_name!r}, is valid from "
                f"{late.not_before.isoformat()} to {late.not_after.isoformat()} only")

    def context(self) -> ssl.SSLContext:
        cert, key = self.serving_pair()
        self.added = [c for _, c in self._trusted()]
        return tls.server_context(cert, key, self.client_cas(), self.rsa_pair())

    def reload(self, ctx: ssl.SSLContext) -> None:
        """New handshakes on a live context use the current files."""
        cert, key = self.serving_pair()
        ctx.load_cert_chain(cert, key)
        if (pair := self.rsa_pair()) is not None:
            ctx.load_cert_chain(*pair)
        ctx.load_verify_locations(cadata=self.client_cas().decode("ascii"))


# --- beside a database backup: the site CA goes with it, or a restored box has a new CA -----------
def archive_path(backup_file: Path) -> Path:
    return backup_file.with_name(backup_file.name + ".pki.tar")


def archive(folder: Path, target: Path) -> Path | None:
    """The files of the pki folder as a tar at `target` (mode 0600: it holds the CA key; each
    file keeps its own mode, the key's 0600). None when the box has no CA yet."""
    if not (folder / "ca.pem").is_file() or not (folder / "ca.key").is_file():
        return None
    tmp = target.with_name(target.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.endswith(".tmp"):
                tar.add(path, arcname=f"pki/{path.name}", recursive=False)
    os.replace(tmp, target)
    return target


def unpack(source: Path, folder: Path) -> Path | None:
    """Put an archived pki folder in place of `folder` (checked first: plain files under pki/,
    a CA certificate and its key). Returns where the replaced folder was kept, if any."""
    with tarfile.open(source) as tar:
        members = tar.getmembers()
        names = {m.name for m in members}
        if any(not m.isfile() or not m.name.startswith("pki/") or "/" in m.name[4:]
               for m in members) or not {"pki/ca.pem", "pki/ca.key"} <= names:
            raise ValueError(f"{source} is not a site CA archive of this appliance")
        staging = Path(tempfile.mkdtemp(prefix=".pki-restoring-", dir=folder.parent))
        try:
            tar.extractall(staging, filter="data")
            authority.fingerprint((staging / "pki" / "ca.pem").read_bytes())  # a certificate
            kept = None
            if folder.exists():
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                kept = folder.with_name(f"{folder.name}.pre-restore-{stamp}")
                os.replace(folder, kept)
            os.replace(staging / "pki", folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    os.chmod(folder, 0o700)
    os.chmod(folder / "ca.key", 0o600)
    return kept

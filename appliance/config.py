"""Boot settings: one frozen, documented `Settings`, loaded once from defaults, a TOML file,
`APPLIANCE_*` environment variables and command-line flags, in that order of strength."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.errors import ConfigError

ENV_PREFIX = "APPLIANCE_"
UNKNOWN_STATION_POLICIES = ("pending", "reject", "accept")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Every boot setting of the appliance. The README's settings table lists each of them."""

    data_dir: str = _setting(
        "", "Folder for the database, backups and uploads. Default: `~/.local/share/appliance`."
    )
    host: str = _setting("0.0.0.0", "Address the plain and the TLS port listen on.")
    port: int = _setting(
        8080, "The plain HTTP port: OCPP WebSocket (profile 1), pages and JSON API.")
    database_url: str = _setting(
        "", "Database. Default `sqlite:///<data_dir>/appliance.db`; `postgresql://...` for a "
        "server.")
    log_level: str = _setting("INFO", "DEBUG shows every OCPP frame; INFO state changes.")
    tls_port: int = _setting(
        8443, "The TLS port: the same routes over HTTPS and WSS (security profiles 2 and 3); "
        "0 turns it off.")
    tls_cert: str = _setting(
        "", "PEM certificate (and chain) file the TLS port serves instead of the box's own, "
        "which its site CA issues; with `tls_key`.")
    tls_key: str = _setting("", "PEM private key file for `tls_cert`.")
    tls_rsa: bool = _setting(
        False, "Also serve an RSA server certificate from the site CA and the OCPP security "
        "whitepaper's TLS_RSA_WITH_AES_128/256_GCM suites (no forward secrecy; ECDHE stays "
        "preferred), for chargers that offer nothing else.")
    base_url: str = _setting(
        "", "URL drivers' phones use to reach the box (QR codes). Default from host and port."
    )
    site_timezone: str = _setting("UTC", "IANA time zone of the site; days split at its midnight.")
    currency: str = _setting("INR", "ISO 4217 currency of the site; fixed once money exists.")
    unknown_station_policy: str = _setting(
        "pending",
        "What an unknown charge point id gets: `pending` (listed for approval), `reject` (404) "
        "or `accept` (commissioning only).",
    )
    pending_list_max: int = _setting(
        200, "How many unknown stations the approval list keeps; also the most connections of "
        "unapproved stations open at once.")
    pending_connections_per_address: int = _setting(
        20, "Most open connections of unapproved (unknown or pending) stations from one address.")
    upgrade_timeout: float = _setting(
        15.0, "Seconds a client has to send its request after connecting (a slow WebSocket "
        "upgrade is cut off); also how long an idle page connection is kept.")
    charger_message_rate: float = _setting(
        100.0, "Messages a second one charger may send on average; past it, its messages wait.")
    charger_message_burst: int = _setting(
        200, "Messages one charger may send at once above its rate (a reconnect's backlog).")
    charger_throttle_limit: float = _setting(
        60.0, "Seconds a charger may be held at its message rate without a pause before it is "
        "disconnected.")
    heartbeat_interval: int = _setting(300, "Heartbeat interval (s) sent to Accepted stations.")
    pending_interval: int = _setting(60, "Interval (s) sent to stations answered Pending.")
    call_timeout: float = _setting(10.0, "Seconds to wait for a charger's answer to our call.")
    clock_skew_limit: int = _setting(
        300, "Seconds a charger's clock may be off before we bill on our receipt time."
    )
    frame_log_size: int = _setting(200, "OCPP frames kept per station for support.")
    write_batch_max: int = _setting(
        500, "Most write jobs committed in one database transaction (group commit)."
    )
    read_threads: int = _setting(2, "Read-only database connections for pages and reports.")
    stale_session_hours: int = _setting(
        48, "Hours after which a suspect session (no StopTransaction) may be closed."
    )
    admin_password: str = _setting(
        "", "Password of the first `admin` login on an empty data dir; random when empty."
    )

    # Nightly reports by mail: off unless both a host and recipients are set.
    smtp_host: str = _setting("", "SMTP server for mailing the nightly report; empty: no mail.")
    smtp_port: int = _setting(25, "SMTP port (STARTTLS is used when the server offers it).")
    smtp_user: str = _setting("", "SMTP user name, if the server needs a login.")
    smtp_password: str = _setting("", "SMTP password, if the server needs a login.")
    smtp_from: str = _setting("", "Sender address of report mails.")
    report_recipients: str = _setting("", "Comma-separated addresses the nightly report goes to.")
    # The desk reader (appliance/rfid_reader): `ReaderSettings` validates these at start.
    reader_backend: str = _setting(
        "none", "Desk card reader: none, pcsc (USB CCID readers through pcscd) or serial.")
    reader_serial_port: str = _setting(
        "", "Serial port of a serial reader, e.g. /dev/ttyUSB0 or /dev/rfid-reader.")
    reader_serial_baud: int = _setting(9600, "Baud rate of a serial reader.")
    reader_serial_format: str = _setting(
        "line", "What a serial reader sends: line (one UID per line) or em4100 (STX, 10 hex, "
        "checksum, ETX; RDM6300-style 125 kHz readers).")
    reader_serial_line_base: str = _setting(
        "hex", "Digits of a line reader: hex, dec (the UID as a number) or dec8 (facility+card).")
    reader_uid_encoding: str = _setting(
        "hex", "Id tag form of a UID: hex, dec10 (last 4 bytes, 10 digits), dec8 (8H10D) or dec.")
    reader_uid_case: str = _setting("upper", "Hex letters: upper or lower.")
    reader_uid_byte_order: str = _setting(
        "normal", "UID byte order: normal (as the card gives it) or reversed (as some chargers "
        "send it).")
    reader_uid_prefix: str = _setting("", "Fixed text before the UID in an id tag.")
    reader_uid_suffix: str = _setting("", "Fixed text after the UID in an id tag.")
    reader_repeat_s: float = _setting(
        1.5, "Seconds in which the same card on the same reader counts as one tap.")
    # Online payments (appliance/payments): keys are entered on the settings page, encrypted.
    razorpay_api_base: str = _setting(
        "https://api.razorpay.com", "Razorpay's API base URL (a stand-in's or staging's in tests).")
    stripe_api_base: str = _setting(
        "https://api.stripe.com", "Stripe's API base URL (a stand-in's or staging's in tests).")
    twilio_api_base: str = _setting(
        "https://api.twilio.com", "Twilio's API base URL, for sign-up codes by SMS (a stand-in's "
        "in tests).")
    msg91_api_base: str = _setting(
        "https://control.msg91.com", "MSG91's API base URL, for sign-up codes by SMS (a "
        "stand-in's in tests).")
    push_contact: str = _setting(
        "mailto:operator@example.invalid", "Who runs this box, for Web Push services (a "
        "mailto: or https: address in each message's VAPID claims).")
    payment_retry_s: float = _setting(
        5.0, "Seconds between rounds of the loop that gives back unused payments and "
        "reconciles unconfirmed ones with the providers.")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'appliance.db'}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site_timezone)

    @property
    def public_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


SETTING_FIELDS: dict[str, dataclasses.Field[Any]] = {
    f.name: f for f in dataclasses.fields(Settings)
}


def _coerce(name: str, raw: Any) -> Any:
    kind = SETTING_FIELDS[name].type
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            return {"1": True, "true": True, "yes": True, "on": True, "0": False,
                    "false": False, "no": False, "off": False, "": False}[str(raw).lower()]
        return str(raw)
    except (TypeError, ValueError, KeyError) as err:
        raise ConfigError(f"setting {name}: {raw!r} is not a valid {kind}") from err


def _validate(s: Settings) -> None:
    problems: list[str] = []
    if not 0 < s.port < 65536:
        problems.append(f"port {s.port} is not between 1 and 65535")
    if not 0 <= s.tls_port < 65536 or s.tls_port == s.port:
        problems.append(f"tls_port {s.tls_port} is not between 0 (off) and 65535, or is `port`")
    if s.unknown_station_policy not in UNKNOWN_STATION_POLICIES:
        problems.append(
            f"unknown_station_policy must be one of {', '.join(UNKNOWN_STATION_POLICIES)}"
        )
    if s.log_level.upper() not in LOG_LEVELS:
        problems.append(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    try:
        ZoneInfo(s.site_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"site_timezone {s.site_timezone!r} is not an IANA time zone")
    if not re.fullmatch(r"[A-Z]{3}", s.currency):
        problems.append(f"currency {s.currency!r} is not an ISO 4217 code like INR")
    if bool(s.tls_cert) != bool(s.tls_key):
        problems.append("tls_cert and tls_key go together")
    if not s.db_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        problems.append("database_url must start with sqlite:/// or postgresql://")
    for name in ("heartbeat_interval", "pending_interval", "frame_log_size", "write_batch_max",
                 "read_threads", "pending_list_max", "pending_connections_per_address",
                 "upgrade_timeout", "charger_message_rate", "charger_message_burst",
                 "charger_throttle_limit"):
        if getattr(s, name) <= 0:
            problems.append(f"{name} must be positive")
    if s.call_timeout <= 0 or s.call_timeout >= 30:
        problems.append("call_timeout must be above 0 and well under 30 seconds")
    if problems:
        raise ConfigError("invalid settings: " + "; ".join(problems))


def load_settings(
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults < TOML file < environment < flags (`overrides`)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                from_file = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"cannot read config file {path}: {err}") from err
        unknown = sorted(set(from_file) - set(SETTING_FIELDS))
        if unknown:
            raise ConfigError(f"config file {path}: unknown settings {', '.join(unknown)}")
        values.update(from_file)
    for name in SETTING_FIELDS:
        if ENV_PREFIX + name.upper() in env:
            values[name] = env[ENV_PREFIX + name.upper()]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    coerced = {name: _coerce(name, raw) for name, raw in values.items()}
    if not coerced.get("data_dir"):
        coerced["data_dir"] = str(Path.home() / ".local" / "share" / "appliance")
    # A relative data dir is the working directory's (`--data-dir data`), fixed once here: the
    # database URL built from it must not read as an absolute path.
    coerced["data_dir"] = str(Path(coerced["data_dir"]).expanduser().absolute())
    if "log_level" in coerced:
        coerced["log_level"] = coerced["log_level"].upper()
    settings = Settings(**coerced)
    _validate(settings)
    return settings

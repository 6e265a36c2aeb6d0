"""The `ChargerControl` port: how pages, the API and billing command chargers without knowing
which OCPP version a charger speaks. The OCPP hub implements it (each version's module maps the
verbs to its own messages); `app.py` wires it.

Every verb raises ChargerOffline, ChargerCallError or ChargerTimeout (errors.py) when the call
cannot be made or is answered with an error; otherwise it returns the charger's status word
(Accepted, Rejected, NotSupported, RebootRequired, Unlocked, ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Trigger(StrEnum):
    """Messages a charger can be asked to send now."""

    BOOT = "boot"
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    METER_VALUES = "meter_values"
    FIRMWARE_STATUS = "firmware_status"
    DIAGNOSTICS_STATUS = "diagnostics_status"
    SIGN_CERTIFICATE = "sign_certificate"  # the charger sends a CSR for its client certificate


class CertificateKind(StrEnum):
    """Certificates a charger keeps (1.6 security extension; 2.0.1 has more kinds)."""

    CSMS_ROOT = "csms_root"  # the CA the central system's server certificate comes from
    MANUFACTURER_ROOT = "manufacturer_root"  # signs firmware


@dataclass(frozen=True)
class CertificateId:
    """A certificate as chargers name it: hashes of its issuer's name and key, and its serial."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


@dataclass(frozen=True)
class InstalledCertificates:
    status: str
    certificates: list[CertificateId]


@dataclass(frozen=True)
class ConfigurationItem:
    key: str
    value: str | None
    readonly: bool


@dataclass(frozen=True)
class Configuration:
    items: list[ConfigurationItem]
    unknown: list[str]  # keys asked for that the charger does not know

    def value(self, key: str) -> str | None:
        return next((i.value for i in self.items if i.key == key), None)


@dataclass(frozen=True)
class ListEntry:
    """One card in a charger's local authorization list. `status` None removes the card
    (differential updates only)."""

    id_tag: str
    status: str | None  # Accepted | Blocked | Expired | Invalid; None: remove
    parent_id_tag: str = ""
    expiry: str | None = None  # RFC 3339
    token_type: str = ""  # the card's kind of token (2.0.1's IdToken type); "": not said


@dataclass(frozen=True)
class ChargingLimit:
    """A current limit for a charger (the safe default for every session on it, or one
    session's), version-neutral: the version's module makes it a charging profile."""

    limit_a: float  # per phase
    phases: int | None = None  # None: whatever the charger uses
    session: str | None = None  # the charger's transaction reference; None: the default
    connector_id: int = 0  # 0: every connector (the default profile)
    profile_id: int = 1


@dataclass(frozen=True)
class Monitor:
    """A variable monitor (OCPP 2.0.1 SetVariableMonitoring): a configuration key as
    `change_configuration` names it, a kind (UpperThreshold, LowerThreshold, Delta, Periodic,
    PeriodicClockAligned), its value and severity (0 danger .. 9 debug)."""

    key: str
    kind: str
    value: float
    severity: int = 8
    monitor_id: int | None = None  # replace the charger's monitor of this id


@dataclass(frozen=True)
class TransactionStatus:
    ongoing: bool | None  # None: the question named no transaction
    messages_in_queue: bool


class ChargerControl(Protocol):
    def is_online(self, cpid: str) -> bool:
        """Whether a charger with this id (any case) has a live connection."""

    async def raw(self, cpid: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one version-specific OCPP call and return the charger's answer payload (the
        API's admin-only raw command endpoint). Raises InvalidOcppPayload too."""

    async def remote_start(self, cpid: str, connector_id: int, id_tag: str) -> str:
        """Ask the charger to start a session on a connector (> 0) for an id tag."""

    async def remote_stop(self, cpid: str, transaction_id: int) -> str:
        """Ask the charger to stop a transaction."""

    async def reset(self, cpid: str, hard: bool) -> str:
        """Reboot the charger (hard: at once, ending sessions; soft: gracefully)."""

    async def unlock(self, cpid: str, connector_id: int, evse_connector: int = 1) -> str:
        """Release a connector's cable lock (2.0.1: connector `evse_connector` of EVSE
        `connector_id`)."""

    async def set_availability(self, cpid: str, connector_id: int, operative: bool) -> str:
        """Take a connector (0: the whole charger) out of service, or back in."""

    async def trigger(self, cpid: str, message: Trigger, connector_id: int | None = None) -> str:
        """Ask the charger to send a message now."""

    async def clear_cache(self, cpid: str) -> str:
        """Empty the charger's authorization cache."""

    async def get_configuration(self, cpid: str, keys: list[str] | None = None) -> Configuration:
        """The charger's configuration (all of it, or the keys named)."""

    async def configuration_value(self, cpid: str, key: str) -> str | None:
        """One configuration value (None: the charger does not know the key). A value the
        connection already told us (its configuration read at boot, our own accepted change, an
        earlier answer) is not asked again for the keys worth keeping; after a reconnect it is."""

    async def change_configuration(self, cpid: str, key: str, value: str) -> str:
        """Set one configuration value."""

    async def change_configurations(self, cpid: str, values: dict[str, str]) -> dict[str, str]:
        """Set several configuration values (2.0.1: in as few SetVariables as the charger
        takes); each key's status. The station's key only through `set_auth_key`."""

    async def device_report(self, cpid: str, criteria: list[str], keys: list[str]
                            ) -> dict[str, dict[str, Any]]:
        """What the charger reports of the components or variables named (all: none named)
        meeting the criteria (Active, Available, Enabled, Problem): 2.0.1's GetReport, its
        entries also merged into the stored device model."""

    async def set_auth_key(self, cpid: str, key: str) -> str:
        """Give the charger its new Basic auth password (1.6's AuthorizationKey, 2.0.1's
        SecurityCtrlr.BasicAuthPassword); the caller keeps the old one working meanwhile."""

    async def transaction_status(self, cpid: str, transaction_id: int | None = None
                                 ) -> TransactionStatus:
        """Whether a transaction is still going on, and whether the charger still holds
        messages for it (2.0.1's GetTransactionStatus; 1.6 has none: InvalidInput)."""

    async def reserve(self, cpid: str, connector_id: int, id_tag: str, expiry: datetime,
                      reservation_id: int) -> str:
        """Keep a connector (2.0.1: an EVSE; 0: any) for a card until `expiry` (UTC)."""

    async def cancel_reservation(self, cpid: str, reservation_id: int) -> str:
        """End a reservation before it expires."""

    async def set_monitoring(self, cpid: str, monitors: list[Monitor]) -> list[str]:
        """Install variable monitors (2.0.1); one status per monitor, in order."""

    async def clear_monitoring(self, cpid: str, monitor_ids: list[int]) -> list[str]:
        """Remove variable monitors by id (2.0.1); one status per id."""

    async def set_monitoring_base(self, cpid: str, base: str) -> str:
        """All, FactoryDefault or HardWiredOnly monitors (2.0.1)."""

    async def customer_information(self, cpid: str, id_tag: str, report: bool, clear: bool
                                   ) -> str:
        """Ask the charger what it keeps of a card's holder (and/or forget it, 2.0.1); its
        report comes as NotifyCustomerInformation."""

    async def update_firmware(self, cpid: str, location: str, retrieve_at: datetime) -> str:
        """Have the charger fetch and install firmware from `location`."""

    async def publish_firmware(self, cpid: str, location: str, checksum: str) -> str:
        """Have a local controller serve firmware to the chargers behind it (2.0.1)."""

    async def get_local_list_version(self, cpid: str) -> int:
        """The version of the charger's local authorization list (-1 when it has none)."""

    async def send_local_list(self, cpid: str, version: int, entries: list[ListEntry],
                              full: bool) -> str:
        """Replace (full) or update (differential) the charger's local list."""

    async def set_charging_limit(self, cpid: str, limit: ChargingLimit) -> str:
        """Install a current limit (the charger's default, or one session's)."""

    async def clear_charging_limit(self, cpid: str, profile_id: int | None = None) -> str:
        """Remove a limit we installed (all of them when no id is given)."""

    async def install_certificate(self, cpid: str, kind: CertificateKind, pem: str) -> str:
        """Put a CA certificate on the charger."""

    async def installed_certificates(self, cpid: str, kind: CertificateKind
                                     ) -> InstalledCertificates:
        """The ids of the charger's certificates of a kind."""

    async def delete_certificate(self, cpid: str, certificate: CertificateId) -> str:
        """Remove a certificate from the charger."""

    async def set_security_profile(self, cpid: str, profile: int) -> str:
        """Ask the charger to reconnect at a higher security profile. Accepted: it will; the
        hub watches for it and records a fall-back when it does not come back at it."""


# Runs `fn(*args)` on the database writer, possibly with other calls of the same kind through
# their set-based form `many` (ocpp/batch.py's report writer); its result once committed.
Write = Callable[..., Awaitable[Any]]


class ChargerLeases(Protocol):
    """Hosted installations: the hub records here which process holds a charger's socket
    (appliance/cluster keeps the rows). A box has none."""

    async def opened(self, cpid: str, station_id: int, version: str,
                     write: Write | None = None) -> None:
        """A socket opened here: this process holds the charger now (speaking OCPP `version`:
        the station row says so in the same write). `write(fn, many, *args)`: how to run the
        write, with its set-based form `many` (the hub's report writer), else one by one."""

    async def closed(self, cpid: str, station_id: int) -> None:
        """The socket closed: let the charger go, unless another process took it over."""

    def holds(self, cpid: str) -> bool:
        """Whether this process still holds the charger (not taken over by another)."""

    async def starting(self) -> None:
        """At start: stations no live process holds are offline."""

"""The `ChargerControl` the pages and the API use on a hosted installation: a charger whose
socket is here is commanded by the hub at once; one held by another process is commanded there,
by NOTIFY, with the same answers and errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from appliance.charging.control import (
    CertificateId,
    CertificateKind,
    ChargerControl,
    ChargingLimit,
    Configuration,
    InstalledCertificates,
    ListEntry,
    Monitor,
    TransactionStatus,
    Trigger,
)
from appliance.cluster.node import Node


class RoutedControl:
    def __init__(self, local: ChargerControl, node: Node) -> None:
        self.local, self.node = local, node

    def is_online(self, cpid: str) -> bool:
        return self.local.is_online(cpid) or self.node.holder(cpid) is not None

    async def _call(self, verb: str, cpid: str, *args: Any) -> Any:
        if self.local.is_online(cpid):
            return await getattr(self.local, verb)(cpid, *args)
        return await self.node.request(cpid, verb, args)

    async def raw(self, cpid: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return cast("dict[str, Any]", await self._call("raw", cpid, action, payload))

    async def remote_start(self, cpid: str, connector_id: int, id_tag: str) -> str:
        return cast("str", await self._call("remote_start", cpid, connector_id, id_tag))

    async def remote_stop(self, cpid: str, transaction_id: int) -> str:
        return cast("str", await self._call("remote_stop", cpid, transaction_id))

    async def reset(self, cpid: str, hard: bool) -> str:
        return cast("str", await self._call("reset", cpid, hard))

    async def unlock(self, cpid: str, connector_id: int, evse_connector: int = 1) -> str:
        return cast("str", await self._call("unlock", cpid, connector_id, evse_connector))

    async def set_availability(self, cpid: str, connector_id: int, operative: bool) -> str:
        return cast("str", await self._call("set_availability", cpid, connector_id, operative))

    async def trigger(self, cpid: str, message: Trigger, connector_id: int | None = None) -> str:
        return cast("str", await self._call("trigger", cpid, message, connector_id))

    async def clear_cache(self, cpid: str) -> str:
        return cast("str", await self._call("clear_cache", cpid))

    async def get_configuration(self, cpid: str, keys: list[str] | None = None) -> Configuration:
        return cast("Configuration", await self._call("get_configuration", cpid, keys))

    async def configuration_value(self, cpid: str, key: str) -> str | None:
        return cast("str | None", await self._call("configuration_value", cpid, key))

    async def change_configuration(self, cpid: str, key: str, value: str) -> str:
        return cast("str", await self._call("change_configuration", cpid, key, value))

    async def change_configurations(self, cpid: str, values: dict[str, str]) -> dict[str, str]:
        return cast("dict[str, str]", await self._call("change_configurations", cpid, values))

    async def device_report(self, cpid: str, criteria: list[str], keys: list[str]
                            ) -> dict[str, dict[str, Any]]:
        return cast("dict[str, dict[str, Any]]",
                    await self._call("device_report", cpid, criteria, keys))

    async def set_auth_key(self, cpid: str, key: str) -> str:
        return cast("str", await self._call("set_auth_key", cpid, key))

    async def transaction_status(self, cpid: str, transaction_id: int | None = None
                                 ) -> TransactionStatus:
        return cast("TransactionStatus",
                    await self._call("transaction_status", cpid, transaction_id))

    async def reserve(self, cpid: str, connector_id: int, id_tag: str, expiry: datetime,
                      reservation_id: int) -> str:
        return cast("str", await self._call("reserve", cpid, connector_id, id_tag, expiry,
                                            reservation_id))

    async def cancel_reservation(self, cpid: str, reservation_id: int) -> str:
        return cast("str", await self._call("cancel_reservation", cpid, reservation_id))

    async def set_monitoring(self, cpid: str, monitors: list[Monitor]) -> list[str]:
        return cast("list[str]", await self._call("set_monitoring", cpid, monitors))

    async def clear_monitoring(self, cpid: str, monitor_ids: list[int]) -> list[str]:
        return cast("list[str]", await self._call("clear_monitoring", cpid, monitor_ids))

    async def set_monitoring_base(self, cpid: str, base: str) -> str:
        return cast("str", await self._call("set_monitoring_base", cpid, base))

    async def customer_information(self, cpid: str, id_tag: str, report: bool, clear: bool
                                   ) -> str:
        return cast("str", await self._call("customer_information", cpid, id_tag, report,
                                            clear))

    async def update_firmware(self, cpid: str, location: str, retrieve_at: datetime) -> str:
        return cast("str", await self._call("update_firmware", cpid, location, retrieve_at))

    async def publish_firmware(self, cpid: str, location: str, checksum: str) -> str:
        return cast("str", await self._call("publish_firmware", cpid, location, checksum))

    async def get_local_list_version(self, cpid: str) -> int:
        return cast("int", await self._call("get_local_list_version", cpid))

    async def send_local_list(self, cpid: str, version: int, entries: list[ListEntry],
                              full: bool) -> str:
        return cast("str", await self._call("send_local_list", cpid, version, entries, full))

    async def set_charging_limit(self, cpid: str, limit: ChargingLimit) -> str:
        return cast("str", await self._call("set_charging_limit", cpid, limit))

    async def clear_charging_limit(self, cpid: str, profile_id: int | None = None) -> str:
        return cast("str", await self._call("clear_charging_limit", cpid, profile_id))

    async def install_certificate(self, cpid: str, kind: CertificateKind, pem: str) -> str:
        return cast("str", await self._call("install_certificate", cpid, kind, pem))

    async def installed_certificates(self, cpid: str, kind: CertificateKind
                                     ) -> InstalledCertificates:
        return cast("InstalledCertificates",
                    await self._call("installed_certificates", cpid, kind))

    async def delete_certificate(self, cpid: str, certificate: CertificateId) -> str:
        return cast("str", await self._call("delete_certificate", cpid, certificate))

    async def set_security_profile(self, cpid: str, profile: int) -> str:
        return cast("str", await self._call("set_security_profile", cpid, profile))

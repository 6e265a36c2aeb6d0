"""Raising a station's security profile, the one flow the charger page and the API share: one
step up at a time; profile 2 puts the CA the TLS port serves from on the charger first, profile
3 needs a certificate the site CA signed for it; then the version's profile change through
`ChargerControl` (1.6: ChangeConfiguration SecurityProfile; 2.0.1: SetNetworkProfile,
NetworkConfigurationPriority, Reset), each command stored with its answer."""

from __future__ import annotations

from datetime import UTC, datetime

from appliance.charging import certificates
from appliance.charging.control import CertificateKind, ChargerControl
from appliance.db.database import Database
from appliance.errors import N_, InvalidInput


async def raise_profile(control: ChargerControl, database: Database, ca_root: bytes, cpid: str,
                        target: int, by: str) -> str:
    """Ask the charger to come back at `target` (its profile + 1). Returns the charger's status
    word; the hub watches for it to come back and notes a fall-back when it does not."""
    station_id = await database.read(certificates.station_id_of, cpid)
    await database.read(certificates.check_step, station_id, target)
    if target == 3 and not await database.read(certificates.has_valid_certificate, station_id,
                                               datetime.now(UTC)):
        raise InvalidInput(N_("the charger has no valid certificate from this box yet: ask it "
                              "for one first"))
    if target == 2:
        installed = await control.install_certificate(cpid, CertificateKind.CSMS_ROOT,
                                                      ca_root.decode())
        await database.run(certificates.record_command, station_id, "InstallCertificate",
                           {"type": "csms_root"}, installed, {}, by)
        if installed != "Accepted":
            raise InvalidInput(N_("the charger did not take the CA certificate (%(status)s): "
                                  "its profile stays"), params={"status": installed})
    status = await control.set_security_profile(cpid, target)
    await database.run(certificates.record_command, station_id, "SecurityProfile",
                       {"profile": target}, status, {}, by)
    return status

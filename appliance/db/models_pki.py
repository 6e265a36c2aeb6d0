"""Chargers' certificates (security profile 3, issue 19): what the site CA signed for each
station, and the certificate commands sent to chargers with their results. Migration
0017_security_profiles (which also adds the stations' profile columns)."""

from __future__ import annotations

from peewee import AutoField, CharField, DateTimeField, ForeignKeyField, Model, TextField

from appliance.db.models import BaseModel, Station, utcnow


class StationCertificate(BaseModel):
    """A client certificate the site CA signed from a station's CSR; `revoked_at` refuses it."""

    id = AutoField()
    station = ForeignKeyField(Station, on_delete="RESTRICT")
    station_id: int
    common_name = CharField(max_length=64)
    serial = CharField(max_length=64, unique=True)  # hex
    fingerprint = CharField(max_length=100)
    not_before = DateTimeField()
    not_after = DateTimeField(index=True)
    issued_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True)
    revoked_by = CharField(max_length=80, default="")


class CertificateCommand(BaseModel):
    """A certificate command (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate,
    CertificateSigned, a profile change) and what the charger answered, for its page."""

    id = AutoField()
    station = ForeignKeyField(Station, on_delete="RESTRICT")
    station_id: int
    action = CharField(max_length=40)
    request = TextField(default="")  # JSON, what was asked (no private keys ever)
    status = CharField(max_length=40, default="")
    result = TextField(default="")  # JSON, the answer's details
    by = CharField(max_length=80, default="")
    at = DateTimeField(default=utcnow, index=True)


MODELS: list[type[Model]] = [StationCertificate, CertificateCommand]

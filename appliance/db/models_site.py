"""Site settings: what staff edit in the pages (currency, policies), one row per key, the value
as JSON; the sites of the installation (a box has one) with what each owns of its own (name,
legal name, tax id, time zone, nightly time, the address on its stickers), and which staff work
at which sites."""

from __future__ import annotations

from peewee import AutoField, CharField, DateTimeField, ForeignKeyField, Model, TextField

from appliance.db.models import BaseModel, utcnow
from appliance.db.models_people import StaffUser


class SiteSetting(BaseModel):
    key = CharField(max_length=64, primary_key=True)
    value = TextField()  # JSON
    updated_at = DateTimeField(default=utcnow)
    updated_by = CharField(max_length=80, default="")


class Site(BaseModel):
    """One site of the installation. Empty texts take the installation's defaults (the boot
    settings' time zone, the nightly time's default); site 1 is the box's own."""

    id = AutoField()
    name = CharField(max_length=120, unique=True)
    legal_name = CharField(max_length=200, default="")
    tax_id = CharField(max_length=64, default="")
    address = TextField(default="")
    timezone = CharField(max_length=64, default="")
    nightly_time = CharField(max_length=5, default="")
    base_url = CharField(max_length=200, default="")
    holidays = TextField(default="")
    created_at = DateTimeField(default=utcnow)


class StaffSite(BaseModel):
    """A staff login that works at some sites only (role as its login's: admin = the site's
    manager, desk = its desk). A login without rows here works for the whole installation."""

    id = AutoField()
    staff = ForeignKeyField(StaffUser, on_delete="CASCADE", index=False)  # (staff, site) index
    staff_id: int
    site = ForeignKeyField(Site, on_delete="RESTRICT")
    site_id: int

    class Meta:
        indexes = ((("staff", "site"), True),)


MODELS: list[type[Model]] = [SiteSetting, Site, StaffSite]

"""Site settings: what staff edit in the pages (site name, legal name, tax id, currency, time
zone, policies), one row per key, the value as JSON."""

from __future__ import annotations

from peewee import CharField, DateTimeField, Model, TextField

from appliance.db.models import BaseModel, utcnow


class SiteSetting(BaseModel):
    key = CharField(max_length=64, primary_key=True)
    value = TextField()  # JSON
    updated_at = DateTimeField(default=utcnow)
    updated_by = CharField(max_length=80, default="")


MODELS: list[type[Model]] = [SiteSetting]

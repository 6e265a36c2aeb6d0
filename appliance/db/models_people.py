"""Login sessions of staff and drivers, held on the server so that logout, a password or PIN
reset and disabling end them at once (issue 15); the tables come with migration 0013."""

from __future__ import annotations

from peewee import AutoField, CharField, DateTimeField, IntegerField, Model

from appliance.db.models import BaseModel, utcnow


class LoginSession(BaseModel):
    """One browser's login. The cookie carries a random token; only its SHA-256 is stored, so a
    copy of the database logs nobody in. A session is alive while `ended_at` is empty and
    `expires_at` is ahead; drivers' sessions slide (`expires_at` moves on with use)."""

    id = AutoField()
    kind = CharField(max_length=8)  # staff | driver
    person_id = IntegerField()  # a staff_user or a driver id, by kind
    token_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)
    seen_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    ended_at = DateTimeField(null=True)
    ended_why = CharField(max_length=16, default="")  # logout | everywhere | reset | disabled ...
    address = CharField(max_length=64, default="")

    class Meta:
        indexes = ((("kind", "person_id"), False),)


MODELS: list[type[Model]] = [LoginSession]

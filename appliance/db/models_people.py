"""Staff logins, API tokens and the audit log; and login sessions of staff and drivers, held on
the server so that logout, a password or PIN reset and disabling end them at once (issue 15;
their table came with migration 0013)."""

from __future__ import annotations

from peewee import AutoField, BooleanField, CharField, DateTimeField, IntegerField, Model, TextField

from appliance.db.models import BaseModel, utcnow


class ApiToken(BaseModel):
    id = AutoField()
    name = CharField(max_length=64, unique=True)
    role = CharField(max_length=8)
    token_hash = CharField(max_length=64, unique=True)
    site_id = IntegerField(null=True)  # a token for one site only; None: the installation
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)


class StaffUser(BaseModel):
    id = AutoField()
    username = CharField(max_length=64, unique=True)
    role = CharField(max_length=8)  # admin | desk
    password_hash = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)
    disabled = BooleanField(default=False)
    language = CharField(max_length=16, default="")  # "": the site's language


class AuditLog(BaseModel):
    id = AutoField()
    actor = CharField(max_length=80)
    action = CharField(max_length=80)
    target = CharField(max_length=120, default="")
    detail = TextField(default="")
    at = DateTimeField(default=utcnow, index=True)
    site_id = IntegerField(null=True, index=True)  # the site acted on; None: the installation



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


MODELS: list[type[Model]] = [ApiToken, StaffUser, AuditLog, LoginSession]

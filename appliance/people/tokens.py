"""API tokens: only a hash is stored; the token itself is printed once at creation."""

from __future__ import annotations

import hashlib

from peewee import IntegrityError

from appliance.db import fastsql
from appliance.db.models import utcnow
from appliance.db.models_people import ApiToken
from appliance.errors import Conflict, InvalidInput, NotFound


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def holder(token: str) -> tuple[str, str, int | None] | None:
    """(name, role, its one site or None for the installation) of a live token, or None."""
    row = fastsql.get(ApiToken, ApiToken.token_hash, token_hash(token),
                      f"{fastsql.col(ApiToken.revoked_at)} IS NULL")  # cached SQL, one step
    return (row.name, row.role, row.site_id) if row else None


def create_token(name: str, role: str, token: str, site_id: int | None = None) -> None:
    if role not in ("admin", "desk"):
        raise InvalidInput("role must be admin or desk")
    try:
        with ApiToken._meta.database.atomic():
            ApiToken.create(name=name, role=role, token_hash=token_hash(token), site_id=site_id)
    except IntegrityError as err:
        raise Conflict(f"a token named {name} exists") from err


def list_tokens() -> list[tuple[str, str, str, str]]:
    return [(t.name, t.role, t.created_at.isoformat(timespec="seconds"),
             "revoked" if t.revoked_at else "active")
            for t in ApiToken.select().order_by(ApiToken.id)]


def revoke_token(name: str) -> None:
    count = (ApiToken.update(revoked_at=utcnow())
             .where((ApiToken.name == name) & ApiToken.revoked_at.is_null()).execute())
    if not count:
        raise NotFound(f"no active token named {name}")

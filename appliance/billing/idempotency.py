"""Idempotency keys for money requests: the first answer is stored per (principal, method, path,
key) with a hash of the body, in the same database call as the change it answers, so a retry
gets the stored answer and a different body under the same key is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.db.models_money import IdempotencyRecord
from appliance.errors import InvalidInput, Unprocessable

MAX_KEY = 120


@dataclass(frozen=True)
class Request:
    principal: str
    method: str
    path: str
    key: str
    body: dict[str, Any]

    @property
    def body_hash(self) -> str:
        text = json.dumps(self.body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_key(key: str) -> str:
    if not 0 < len(key) <= MAX_KEY or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be 1-{MAX_KEY} printable characters")
    return key


def once(req: Request, work: Callable[[], tuple[int, Any]], encode: Callable[[Any], str]
         ) -> tuple[int, Any]:
    """Run `work` (returning status and JSON-able data) once per key; a repeat with the same
    body gets the first answer, with another body 422. Run inside one `database.run`."""
    where = ((IdempotencyRecord.principal == req.principal)
             & (IdempotencyRecord.method == req.method) & (IdempotencyRecord.path == req.path)
             & (IdempotencyRecord.key == req.key))
    seen = IdempotencyRecord.get_or_none(where)
    if seen is not None:
        if seen.body_hash != req.body_hash:
            raise Unprocessable("this Idempotency-Key was used with a different body",
                                details={"idempotency_key": req.key})
        return seen.status, json.loads(seen.response)
    status, data = work()
    # Stored as the client saw it (`encode` is the API's own), so a repeat answers alike.
    IdempotencyRecord.create(principal=req.principal[:80], method=req.method,
                             path=req.path[:200], key=req.key, body_hash=req.body_hash,
                             status=status, response=encode(data))
    return status, data

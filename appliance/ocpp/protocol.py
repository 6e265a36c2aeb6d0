"""The version-independent half of a charger connection: OCPP-J framing, CALLERRORs by DESIGN's
codes, our routing over the library's `@on` route map, outgoing calls, and the frame log."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, TypeVar, cast

from ocpp.exceptions import (
    FormationViolationError,
    InternalError,
    NotSupportedError,
    OCPPError,
    ProtocolError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplemented,
)
from ocpp.routing import create_route_map
from ocpp.routing import on as library_on

from appliance.errors import ChargerCallError, ChargerOffline, ChargerTimeout, InvalidOcppPayload
from appliance.ocpp import validation

log = logging.getLogger(__name__)

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MESSAGE_ID_MAX = 36  # OCPP-J: a unique id is at most 36 characters (a UUID)
_STD_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

try:  # orjson parses and writes frames several times faster; the stdlib is the fallback
    import orjson

    _loads: Callable[[str], Any] = orjson.loads

    def _DUMPS(value: Any) -> str:  # noqa: N802 - it stands where a constant stood
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # Decimal and the like, from a person's raw command
            return _STD_DUMPS(value)
except ImportError:  # pragma: no cover - orjson is a dependency; kept for odd platforms
    _loads = json.loads

    def _DUMPS(value: Any) -> str:  # noqa: N802
        return _STD_DUMPS(value)

_KEY_VALUE = re.compile(
    r'("key"\s*:\s*"AuthorizationKey"(?:[^{}]*?)"value"\s*:\s*)"(?:[^"\\]|\\.)*"')
_VALUE_KEY = re.compile(
    r'("value"\s*:\s*)"(?:[^"\\]|\\.)*"((?:[^{}]*?)"key"\s*:\s*"AuthorizationKey")')


def redact(frame: str) -> str:
    """Hide AuthorizationKey values in frames we keep or log."""
    if "AuthorizationKey" not in frame:
        return frame
    frame = _KEY_VALUE.sub(r'\1"***"', frame)
    return _VALUE_KEY.sub(r'\1"***"\2', frame)


_H = TypeVar("_H", bound=Callable[..., Any])


def on(action: str) -> Callable[[_H], _H]:
    """The library's `@on(action)`, typed (the library has no types): it only marks a handler
    for `create_route_map`, which `Connection` reads."""
    return cast("Callable[[_H], _H]", library_on(action))


# The current second, as `ocpp_time` writes it and as the fields of a naive UTC datetime: every
# Heartbeat's answer and every received frame's time need "now", and strftime (4 us) and
# `datetime.now(UTC).replace(tzinfo=None)` (1.5 us) cost more than the rest of a Heartbeat's
# handling; formatted once a second, now costs some 0.3 us.
_second: tuple[int, str, tuple[int, int, int, int, int, int]] = (-1, "", (1970, 1, 1, 0, 0, 0))


def _now() -> tuple[int, str, tuple[int, int, int, int, int, int]]:
    """(microseconds into the second, the second as ocpp_time's prefix, its fields)."""
    global _second
    second, rest = divmod(time.time_ns(), 1_000_000_000)
    if second != _second[0]:
        moment = datetime.fromtimestamp(second, UTC)
        _second = (second, moment.strftime("%Y-%m-%dT%H:%M:%S."),
                   (moment.year, moment.month, moment.day, moment.hour, moment.minute,
                    moment.second))
    return rest // 1000, _second[1], _second[2]


def ocpp_time(moment: datetime | None = None) -> str:
    """`YYYY-MM-DDTHH:MM:SS.sssZ`: some firmwares reject `+00:00`."""
    if moment is None:
        micro, prefix, _ = _now()
        return f"{prefix}{micro // 1000:03d}Z"
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Transport(Protocol):
    async def send(self, message: str) -> None: ...


class Received(NamedTuple):
    """What a handler knows about the frame besides its payload. (A named tuple: one is made
    for every message, and a frozen dataclass's __init__ took twice as long.)"""

    raw: str
    flags: list[str]
    at: datetime  # our receipt time, naive UTC


Handler = Callable[[dict[str, Any], Received], Awaitable[dict[str, Any]]]


def _utcnow() -> datetime:
    """`datetime.now(UTC).replace(tzinfo=None)`, made from the second's cached fields."""
    micro, _, (year, month, day, hour, minute, second) = _now()
    return datetime(year, month, day, hour, minute, second, micro)


def call_error(unique_id: str, error: OCPPError) -> str:
    return _DUMPS([CALLERROR, unique_id, error.code, error.description, error.details or {}])


class Connection:
    """One charger's live OCPP-J connection. Subclasses add the version's handlers in
    `self.handlers`: action -> async fn(payload) -> response payload dict."""

    version = "1.6"
    lenient_actions: frozenset[str] = frozenset()
    # Error codes a version names differently (OCPP-J 2.0.1: FormatViolation).
    error_renames: dict[str, str] = {}
    # OCPP-J 1.6 ignores a frame of an unknown message type; 2.0.1 answers it.
    unknown_type_error: str | None = None

    def __init__(self, cpid: str, station_id: int, transport: Transport, *,
                 call_timeout: float, frame_sink: Callable[[int, str, str], None]) -> None:
        self.id = cpid
        self.station_id = station_id
        self._transport = transport
        self._call_timeout = call_timeout
        self._frame_sink = frame_sink
        self._call_lock: asyncio.Lock | None = None  # made at the first call (most make none)
        self._pending: tuple[str, asyncio.Future[Any]] | None = None
        self.closed = False
        self.heard_at = time.monotonic()  # when the charger last sent anything (the hub's sweep)
        # Made when first needed: most connections never hold either for long, and an empty
        # set or list is a few hundred bytes per connected charger.
        self.background: set[asyncio.Task[Any]] | None = None
        self._after_answer: list[Callable[[], Coroutine[Any, Any, Any]]] | None = None
        self.known_actions = validation.actions(self.version)
        # The highest connector id this charger may name (its NumberOfConnectors when known).
        self.connector_limit = 16
        # The host name the charger dialled (a 2.0.1 profile change gives it the same one).
        self.reached_as = ""

    # Handlers are registered with the library's `@on` decorator and found through its route
    # map, once per class (walking an instance's attributes costs ~100 µs and a bound method
    # each, per connection: a boot storm of thousands notices); each takes (payload, Received)
    # and returns the answer payload.
    _route_cache: dict[type, dict[str, Callable[..., Awaitable[dict[str, Any]]]]] = {}

    @property
    def handlers(self) -> dict[str, Callable[..., Awaitable[dict[str, Any]]]]:
        """Action -> the unbound handler function of this class (call with self first)."""
        cls = type(self)
        routes = Connection._route_cache.get(cls)
        if routes is None:
            routes = Connection._route_cache[cls] = {
                action: found["_on_action"].__func__
                for action, found in create_route_map(self).items() if "_on_action" in found
            }
        return routes

    def call_error(self, unique_id: str, error: OCPPError) -> str:
        code = self.error_renames.get(error.code, error.code)
        return _DUMPS([CALLERROR, unique_id, code, error.description, error.details or {}])

    def refusal(self, action: str) -> OCPPError | None:
        """An error to answer `action` with before looking at it (a version's rule)."""
        return None

    # --- sending ------------------------------------------------------------------------------
    async def send_frame(self, frame: str) -> None:
        self._frame_sink(self.station_id, "out", frame)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s <- %s", self.id, redact(frame))
        await self._transport.send(frame)

    # --- receiving ----------------------------------------------------------------------------
    async def route_message(self, raw: str) -> None:
        """Handle one text frame from the charger. Never raises for bad input."""
        self._frame_sink(self.station_id, "in", raw)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %s", self.id, redact(raw))
        try:
            msg = _loads(raw)
        except (ValueError, RecursionError):
            await self.send_frame(self.call_error("-1", FormationViolationError(
                details={"cause": "frame is not JSON"})))
            return
        if not isinstance(msg, list) or len(msg) < 3 or type(msg[0]) is not int:
            unique_id = msg[1] if isinstance(msg, list) and len(msg) > 1 \
                and isinstance(msg[1], str) else "-1"
            await self.send_frame(self.call_error(unique_id, FormationViolationError(
                details={"cause": "frame is not an OCPP-J message array"})))
            return
        kind = msg[0]
        if kind == CALL:
            await self._on_call(msg, raw)
        elif kind in (CALLRESULT, CALLERROR):
            self._on_answer(raw, msg)
        elif self.unknown_type_error is not None:
            unique_id = msg[1] if isinstance(msg[1], str) else "-1"
            await self.send_frame(_DUMPS([CALLERROR, unique_id, self.unknown_type_error,
                                          f"message type {kind}", {}]))
        else:
            # OCPP-J 1.6 (4.1.3): a message type number we do not know is ignored, not answered.
            log.info("%s: ignored a frame of unknown message type %s", self.id, kind)

    async def _on_call(self, msg: list[Any], raw: str) -> None:
        unique_id = msg[1] if isinstance(msg[1], str) else "-1"
        if len(msg) != 4 or not isinstance(msg[1], str) or not isinstance(msg[2], str):
            await self.send_frame(self.call_error(unique_id, FormationViolationError(
                details={"cause": "a CALL is [2, uniqueId, action, payload]"})))
            return
        if len(unique_id) > MESSAGE_ID_MAX:
            await self.send_frame(self.call_error(unique_id, FormationViolationError(
                details={"cause": f"a message id is at most {MESSAGE_ID_MAX} characters"})))
            return
        action, payload = msg[2], msg[3]
        if not isinstance(payload, dict):
            await self.send_frame(self.call_error(unique_id, ProtocolError(
                details={"cause": "payload is not a JSON object"})))
            return
        handler = self.handlers.get(action)
        if handler is None:
            error: OCPPError = (NotSupportedError if action in self.known_actions
                                else OcppNotImplemented)(details={"cause": f"{action}"})
            await self.send_frame(self.call_error(unique_id, error))
            return
        refused = self.refusal(action)
        if refused is not None:
            await self.send_frame(self.call_error(unique_id, refused))
            return
        flags: list[str] = []
        try:
            validation.validate(self.version, action, payload)
        except OCPPError as err:
            if action not in self.lenient_actions or not self.business_key_readable(action,
                                                                                     payload):
                await self.send_frame(self.call_error(unique_id, err))
                return
            flags.append("schema_violation")  # a report we must not drop: answer it, flagged
            log.warning("%s: %s fails its schema (%s); kept and flagged", self.id, action,
                        err.details.get("cause"))
        try:
            response = await handler(self, payload, Received(raw, flags, _utcnow()))
        except OCPPError as err:
            await self.send_frame(self.call_error(unique_id, err))
            return
        except Exception:
            log.exception("%s: handling %s failed", self.id, action)
            await self.send_frame(self.call_error(unique_id, InternalError(
                details={"cause": "the central system could not handle this message"})))
            return
        await self.send_frame(_DUMPS([CALLRESULT, unique_id, response]))
        after, self._after_answer = self._after_answer, None
        while after:
            self.spawn(after.pop(0)())

    def after_answer(self, work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Start `work` once the answer to the call being handled has gone out."""
        if self._after_answer is None:
            self._after_answer = [work]
        else:
            self._after_answer.append(work)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Background work of this connection; cancelled when the connection ends."""
        task = asyncio.get_running_loop().create_task(work)
        if self.background is None:
            self.background = set()
        self.background.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        if self.background is not None:
            self.background.discard(task)
            if not self.background:
                self.background = None

    def business_key_readable(self, action: str, payload: dict[str, Any]) -> bool:
        return False

    def _on_answer(self, raw: str, msg: list[Any]) -> None:
        if self._pending is None or len(msg) < 2 or msg[1] != self._pending[0]:
            log.warning("%s: answer to no pending call: %.200s", self.id, raw)
            return
        future = self._pending[1]
        if not future.done():
            future.set_result(msg)

    # --- outgoing calls -----------------------------------------------------------------------
    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one CALL and return the answer payload. One outstanding call per connection."""
        if action not in self.known_actions:
            raise InvalidOcppPayload(f"{action} is not an OCPP {self.version} action")
        try:
            validation.validate(self.version, action, payload)
        except OCPPError as err:
            raise InvalidOcppPayload(f"payload invalid for {action}: {err.details.get('cause')}",
                                     details={"ocpp_error": err.code}) from err
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()
        async with self._call_lock:
            if self.closed:
                raise ChargerOffline(f"charger {self.id} is offline")
            unique_id = str(uuid.uuid4())
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending = (unique_id, future)
            try:
                await self.send_frame(_DUMPS([CALL, unique_id, action, payload]))
                answer = await asyncio.wait_for(future, self._call_timeout)
            except ConnectionResetError as err:  # the socket closed under the call
                raise ChargerOffline(f"charger {self.id} went offline") from err
            except TimeoutError as err:
                raise ChargerTimeout(
                    f"charger {self.id} did not answer {action} in {self._call_timeout:g} s"
                ) from err
            finally:
                self._pending = None
        return self._answer_payload(action, answer)

    def _answer_payload(self, action: str, answer: list[Any]) -> dict[str, Any]:
        if answer[0] == CALLERROR:
            code = answer[2] if len(answer) > 2 else "GenericError"
            description = answer[3] if len(answer) > 3 else ""
            raise ChargerCallError(
                f"charger answered {action} with {code}: {description}",
                details={"code": code, "description": description,
                         "error_details": answer[4] if len(answer) > 4 else {}},
            )
        payload = answer[2] if len(answer) > 2 and isinstance(answer[2], dict) else {}
        try:
            validation.validate(self.version, action, payload, response=True)
        except OCPPError as err:
            log.warning("%s: answer to %s fails its schema: %s", self.id, action,
                        err.details.get("cause"))
        return payload

    def connection_lost(self) -> None:
        """Fail the pending call at once: a pending call ends with its connection."""
        self.closed = True
        for task in list(self.background or ()):
            task.cancel()
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(ChargerOffline(f"charger {self.id} disconnected"))


"""The OCPP-J WebSocket endpoint `/ocpp/{charge_point_id}`: checks the id, the station, its
credentials and the subprotocol before the upgrade, then hands the upgraded socket to a
`ChargerSocket` (wsproto.py), which runs the connection until it closes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from time import monotonic

from aiohttp import web

from appliance import keys
from appliance.charging import stations
from appliance.config import Settings
from appliance.db.models import utcnow
from appliance.errors import Unavailable
from appliance.ocpp import security
from appliance.ocpp.guard import MessageBudget
from appliance.ocpp.hub import Hub
from appliance.ocpp.v16 import ChargePoint16
from appliance.ocpp.v201 import ChargePoint201
from appliance.ocpp.wsproto import MAX_MESSAGE, HandedOver, WebSocket, handover
from appliance.pki.tls import Peer

log = logging.getLogger(__name__)

SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")  # our order of preference
VERSIONS = {"ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}
RECONNECT_TRIGGER_DELAY_S = 10.0  # a charger that boots does so at once after connecting


class LoginLimiter:
    """Failed charger logins per source address, with backoff. Credentials are checked first
    and the right ones always get in: a stranger guessing at a station's id cannot lock the
    real charger out (counting per station id did). Past FREE failures an address is refused
    for a time that doubles with every further failure, up to BLOCK_MAX_S; it is forgotten
    FORGET_S after its last failure. At most ADDRESSES_MAX addresses are remembered."""

    FREE = 5
    BLOCK_BASE_S = 1.0
    BLOCK_MAX_S = 300.0
    FORGET_S = 900.0
    ADDRESSES_MAX = 10_000

    def __init__(self) -> None:
        # address -> (failures, time of the last one, blocked until); insertion order is age
        self._failures: dict[str, tuple[int, float, float]] = {}

    def blocked(self, address: str) -> bool:
        entry = self._failures.get(address)
        if entry is None:
            return False
        now = time.monotonic()
        if now - entry[1] > self.FORGET_S:
            del self._failures[address]
            return False
        return now < entry[2]

    def failed(self, address: str) -> None:
        now = time.monotonic()
        count, last, _ = self._failures.pop(address, (0, now, 0.0))
        if now - last > self.FORGET_S:
            count = 0
        count += 1
        until = now + min(self.BLOCK_MAX_S, self.BLOCK_BASE_S * 2 ** (count - self.FREE)) \
            if count >= self.FREE else 0.0
        self._failures[address] = (count, now, until)
        while len(self._failures) > self.ADDRESSES_MAX:
            del self._failures[next(iter(self._failures))]




class ChargerSocket(WebSocket):
    """A charger's socket once upgraded: each text message goes to its connection, within the
    charger's message budget; the hub closes it through `close_transport` (a bound method, not
    a closure per connection); once it is gone, the hub and the gate are told."""

    __slots__ = ("conn", "budget", "release", "app")

    def __init__(self, app: web.Application) -> None:
        super().__init__()
        self.app = app
        self.conn: ChargePoint16 | ChargePoint201 | None = None
        self.budget: MessageBudget | None = None
        self.release: str | None = None  # the address whose pending-gate count it holds

    async def handle(self, message: str) -> bool:
        conn, budget = self.conn, self.budget
        assert conn is not None and budget is not None
        wait = budget.take()
        # Within its budget and not busy (nearly always): no coroutine for the wait.
        if (wait > 0.0 or budget.busy) and not await _within_budget(self, conn, budget, wait):
            return False
        await conn.route_message(message)
        return True

    def heard(self) -> None:
        if self.conn is not None:
            self.conn.heard_at = monotonic()

    def gone(self) -> None:
        release = self.release  # the connection no longer counts once its socket is gone
        if release is not None:
            self.release = None
            self.app[keys.GATE].release(release)

    async def ended(self) -> None:
        conn = self.conn
        try:
            if conn is not None:
                await _ended(self, self.app[keys.HUB], conn)
        except Exception:
            log.exception("%s: could not record the disconnection", conn and conn.id)
        finally:
            self.gone()  # if it went before the release was set
            self.conn = None  # conn -> socket -> conn: no cycle left for the collector

    async def close_transport(self, going_away: bool = False, silent: bool = False) -> None:
        """Close the socket: replaced (1000), the box going away (1001), or a charger silent
        past its limit (1000, no reason, as before the hub swept for silence)."""
        if silent:
            await self.close(1000)
            return
        await self.close(1001 if going_away else 1000,
                         b"going away" if going_away else b"replaced")


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("latin-1").partition(":")
    except (binascii.Error, ValueError):
        return None
    return user, password


def _offered(request: web.Request) -> list[str]:
    raw = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def choose_subprotocol(offered: list[str], pin: str = "") -> str | None:
    """The first of our subprotocols the charger offers; a station pinned to a version gets
    only that one, whatever else it offers."""
    ours = [p for p in SUBPROTOCOLS if not pin or VERSIONS[p] == pin]
    return next((p for p in ours if p in offered), None)


def _refuse(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n",
                        headers={"WWW-Authenticate": 'Basic realm="OCPP"'} if status == 401 else {})


async def ocpp_endpoint(request: web.Request) -> web.StreamResponse:
    # Once upgraded, the socket is served by its `ChargerSocket` (wsproto.py), not by this
    # handler: it returns at once, and aiohttp's request, its handler and their tasks go.
    opened = await _admit(request)
    if isinstance(opened, web.StreamResponse):
        return opened
    ws, sock = opened
    del opened
    conn = sock.conn
    assert conn is not None
    try:
        sock.budget = await _started(ws.ws_protocol, request.app[keys.HUB], conn,
                                     request.app[keys.SETTINGS])
    except BaseException:
        sock.start()  # its end (the hub told, the gate released) runs once the socket is gone
        if sock.transport is not None:
            sock.transport.abort()
        raise
    sock.start()
    return ws


Opened = tuple[HandedOver, ChargerSocket]


async def _admit(request: web.Request) -> web.StreamResponse | Opened:
    """A refusal, or the upgraded socket (its connection on it, and the address whose
    pending-gate count it holds, released once it closes; None for an approved station)."""
    app = request.app
    database = app[keys.DATABASE]
    cpid = request.match_info["cpid"]
    if not stations.valid_cpid(cpid):
        return _refuse(404, "not a valid charge point id")
    auth = await database.read_gathered(stations.load_auth_many, cpid)
    limiter = app[keys.LIMITER]
    if auth is not None and auth.cpid != cpid:
        return _refuse(404, "this id differs only by case from a known station")
    admission = await security.admit(request, database, cpid, auth)
    if admission.refusal is not None:
        return _refuse(403, admission.refusal)
    peer = admission.peer  # passed on, not kept on the request for the socket's life
    if auth is not None and auth.auth_mode == "basic" and auth.key_salt \
            and not admission.certified:  # profile 3: the client certificate is the login
        creds = _basic_credentials(request)
        used = stations.which_key(auth, creds[1]) if creds and creds[0] == cpid else None
        if used is None:
            address = request.remote or "?"
            if limiter.blocked(address):
                return _refuse(429, "too many failed logins; try again later")
            limiter.failed(address)
            log.warning("%s: refused a login with wrong credentials from %s", cpid, address)
            return _refuse(401, "wrong or missing credentials")
        if used == 0 and auth.key_hashes[1:] and auth.key_hashes[1]:
            await database.run(stations.forget_previous_key, auth.id)
            log.info("%s: logged in with its new key; the old key no longer works", cpid)
    offered = _offered(request)
    pin = auth.ocpp_pin if auth is not None else ""
    chosen = choose_subprotocol(offered, pin)
    if chosen is None and (offered or not (auth and auth.allow_no_subprotocol)):
        ours = [p for p in SUBPROTOCOLS if not pin or VERSIONS[p] == pin]
        return _refuse(400, f"offer one of these subprotocols: {', '.join(ours)}")
    if auth is not None and auth.approved:
        return await _open(request, auth, chosen, peer)
    return await _open_unapproved(request, cpid, auth, chosen, peer)


async def _open_unapproved(request: web.Request, cpid: str, auth: stations.StationAuth | None,
                           chosen: str | None, peer: Peer) -> web.StreamResponse | Opened:
    """An unknown or pending station: its connections are bounded per address and in total,
    and the approval list at its length; nothing it does is honoured until staff approve it."""
    app = request.app
    settings, database, gate = app[keys.SETTINGS], app[keys.DATABASE], app[keys.GATE]
    if auth is None and settings.unknown_station_policy == "reject":
        return _refuse(404, "unknown charge point id")
    address = request.remote or "?"
    refusal = gate.admit(address)
    if refusal is not None:
        log.warning("%s: refused from %s: %s", cpid, address, refusal)
        return _refuse(503, refusal)
    held = True  # released here unless the socket opened: then once it closes
    try:
        if auth is None:
            try:
                auth = await database.run(stations.admit_unknown, cpid,
                                          settings.unknown_station_policy,
                                          settings.pending_list_max)
            except Unavailable as err:
                log.warning("%s: refused from %s: %s", cpid, address, err.message)
                return _refuse(503, err.message)
            log.info("%s: unknown station admitted as %s", cpid, settings.unknown_station_policy)
        opened = await _open(request, auth, chosen, peer)
        opened[1].release = address
        held = False
        return opened
    finally:
        if held:
            gate.release(address)


async def _open(request: web.Request, auth: stations.StationAuth, chosen: str | None,
                peer: Peer) -> Opened:
    hub = request.app[keys.HUB]
    reached_as = request.url.host or ""
    # No extension (permessage-deflate) is negotiated: our frames are plain.
    ws = HandedOver(protocols=[chosen] if chosen else (), autoping=False,
                    max_msg_size=MAX_MESSAGE, compress=False)
    sock = ChargerSocket(request.app)
    await handover(request, ws, sock)
    try:
        if auth.profile_target:
            await security.connected(request.app[keys.DATABASE], auth, peer)
        # No subprotocol (a per-station switch for old firmwares) is 1.6.
        kind = ChargePoint201 if chosen == "ocpp2.0.1" else ChargePoint16
        conn = kind(auth.cpid, auth.id, sock, hub.services, hub.log_frame,
                    auth.registration, auth.managed)
        conn.connector_limit = stations.connector_limit(auth.declared_connectors)
        conn.reached_as = reached_as
        conn.close_transport = sock.close_transport  # type: ignore[union-attr]
        sock.conn = conn  # its version goes to the station with its online mark (the hub)
    except BaseException:
        if sock.transport is not None:
            sock.transport.abort()  # not started: nothing was told of it yet
        raise
    return ws, sock


async def _started(subprotocol: str | None, hub: Hub, conn: ChargePoint16 | ChargePoint201,
                   settings: Settings) -> MessageBudget:
    """The connection is the station's now; its message budget. (Logged here, not in the
    endpoint's frame: a log call reads its caller's frame, which for a coroutine living as long
    as the socket would make a frame object kept all that time.)"""
    await hub.connection_opened(conn)
    conn.spawn(conn.after_connect(RECONNECT_TRIGGER_DELAY_S))
    log.info("%s: connected (%s)", conn.id, subprotocol or "no subprotocol")
    return MessageBudget(settings.charger_message_rate, settings.charger_message_burst,
                         settings.charger_throttle_limit)


async def _ended(sock: WebSocket, hub: Hub, conn: ChargePoint16 | ChargePoint201) -> None:
    await hub.connection_closed(conn)
    if not sock.closed:
        await sock.close()
    log.info("%s: disconnected at %s", conn.id, utcnow().isoformat())


async def _within_budget(sock: WebSocket, conn: ChargePoint16 | ChargePoint201,
                         budget: MessageBudget, wait: float) -> bool:
    """Wait out the charger's message budget (`wait`: what `budget.take()` said for this
    message); False (closed with 1008) once it has been held at its rate for too long. A busy
    connection also lets the others have a turn: a socket whose frames are already buffered
    would otherwise be served without the loop switching."""
    if wait > 0.0:
        if budget.exhausted:
            log.warning("%s: held at its message rate for %.0f s; disconnecting", conn.id,
                        budget.throttled_s)
            await sock.close(1008, b"message rate exceeded")
            return False
        await asyncio.sleep(wait)
    elif budget.busy:
        await asyncio.sleep(0)
    return True

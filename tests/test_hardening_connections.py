"""Issue 15, connections: strangers cannot hold unbounded unapproved connections or slow
requests, and one flooding charger neither slows the others nor stays connected."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from appliance.app import create_app
from tests.charger import ClientTransport, SimCharger, ws_url
from tests.conftest import Api, add_station, basic_auth, make_token


@contextlib.asynccontextmanager
async def _socket(server: TestServer, cpid: str, local: str = "127.0.0.1",
                  password: str | None = None) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    headers = {"Authorization": basic_auth(cpid, password)} if password else {}
    connector = aiohttp.TCPConnector(local_addr=(local, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.ws_connect(ws_url(server, cpid), protocols=("ocpp1.6",),
                                      headers=headers) as ws:
            yield ws


async def _status(server: TestServer, cpid: str, local: str = "127.0.0.1") -> int:
    try:
        async with _socket(server, cpid, local):
            return 101
    except aiohttp.WSServerHandshakeError as err:
        return err.status


async def test_unapproved_connections_are_bounded_per_address(start_app: Any,
                                                              make_settings: Any) -> None:
    server = await start_app(make_settings(pending_connections_per_address=2))
    async with contextlib.AsyncExitStack() as stack:
        for cpid in ("NEW-A", "NEW-B"):
            await stack.enter_async_context(_socket(server, cpid))
        assert await _status(server, "NEW-C") == 503
        assert await _status(server, "NEW-C", "127.0.0.2") == 101  # another address may
    assert await _status(server, "NEW-C") == 101  # once the first two have gone


async def test_unapproved_connections_and_the_pending_list_keep_their_bound(
        start_app: Any, make_settings: Any) -> None:
    server = await start_app(make_settings(pending_list_max=3,
                                           pending_connections_per_address=10))
    async with contextlib.AsyncExitStack() as stack:
        for i in range(3):
            await stack.enter_async_context(_socket(server, f"NEW-{i}", f"127.0.0.{i + 1}"))
        assert await _status(server, "NEW-X", "127.0.0.9") == 503
        token = await make_token(server)
        async with aiohttp.ClientSession() as session:
            api = Api(session, str(server.make_url("")).rstrip("/"), token)
            pending = (await api.get("/stations?approved=false"))["items"]
    assert sorted(s["id"] for s in pending) == ["NEW-0", "NEW-1", "NEW-2"]


async def test_a_slow_upgrade_is_cut_off(aiohttp_server: Any, make_settings: Any,
                                         backend_url: Any) -> None:
    from appliance.app import server_options  # new with issue 15; the module runs without it

    settings = make_settings(upgrade_timeout=1.0)
    server = await aiohttp_server(create_app(settings), host="127.0.0.1",
                                  **server_options(settings))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    try:
        writer.write(b"GET /ocpp/SLOW-1 HTTP/1.1\r\nHost: x\r\n")
        for i in range(30):  # a header every 0.2 s, never the end of the request
            await asyncio.sleep(0.2)
            if reader.at_eof():
                break
            writer.write(f"X-Slow-{i}: y\r\n".encode())
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        data = await asyncio.wait_for(reader.read(), 3)
    finally:
        writer.close()
    assert data == b"" and time.monotonic() - started < 3.5


def test_silence_limit_is_shorter_for_pending_sockets(make_settings: Any) -> None:
    from appliance.ocpp.hub import silence_limit

    settings = make_settings()

    class Conn:
        registration = "Pending"

    pending = silence_limit(Conn(), settings)  # type: ignore[arg-type]
    Conn.registration = "Accepted"
    accepted = silence_limit(Conn(), settings)  # type: ignore[arg-type]
    assert pending == 2 * settings.pending_interval + 30 < accepted


async def test_a_silent_socket_is_closed_by_the_hubs_sweep_and_a_talking_one_is_not(
        start_app: Any, make_settings: Any) -> None:
    """One sweep over every connection instead of a timer per socket: past its silence limit
    a charger is closed (1000) and goes offline; one that spoke within it stays."""
    from appliance import keys
    from appliance.ocpp.hub import silence_limit

    settings = make_settings()
    server = await start_app(settings)
    hub = server.app[keys.HUB]
    token = await make_token(server)
    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"), token)
        await add_station(api, "HUSH-1", "secret-pass-1")
        await add_station(api, "TALK-1", "secret-pass-2")
    async with _socket(server, "HUSH-1", password="secret-pass-1") as hush, \
            _socket(server, "TALK-1", password="secret-pass-2") as talk:
        for _ in range(100):
            if hub.count == 2:
                break
            await asyncio.sleep(0.02)
        quiet, chatty = hub.get("HUSH-1"), hub.get("TALK-1")
        assert quiet is not None and chatty is not None
        now = time.monotonic()
        limit = silence_limit(quiet, settings)
        quiet.heard_at = now - limit - 1
        chatty.heard_at = now - limit + 5
        assert hub.close_silent(now) == 1
        closing = await hush.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1000
        await talk.send_str(json.dumps([2, "t1", "Heartbeat", {}]))
        answer = await talk.receive(timeout=5)
        assert answer.type == aiohttp.WSMsgType.TEXT and json.loads(answer.data)[0] == 3
        assert chatty.heard_at > now  # every frame counts as heard
        for _ in range(100):
            if not hub.is_online("HUSH-1"):
                break
            await asyncio.sleep(0.02)
        assert not hub.is_online("HUSH-1") and hub.is_online("TALK-1")
        assert hub.close_silent(time.monotonic()) == 0


@pytest.mark.allow_loop_stall
async def test_a_flooding_charger_is_throttled_and_disconnected(start_app: Any,
                                                                 make_settings: Any) -> None:
    server = await start_app(make_settings(charger_message_rate=200.0,
                                           charger_message_burst=50,
                                           charger_throttle_limit=2.0))
    token = await make_token(server)
    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"), token)
        await add_station(api, "FLOOD-1", "secret-pass-1")
        await add_station(api, "QUIET-1", "secret-pass-2")
    async with _socket(server, "FLOOD-1", password="secret-pass-1") as flood, \
            _socket(server, "QUIET-1", password="secret-pass-2") as quiet:
        latencies: list[float] = []

        async def steady() -> None:
            for i in range(40):
                started = time.monotonic()
                await quiet.send_str(json.dumps([2, f"q{i}", "Heartbeat", {}]))
                msg = await quiet.receive(timeout=5)
                assert msg.type == aiohttp.WSMsgType.TEXT
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.05)

        async def flooding() -> tuple[int, int | None]:
            frames = json.dumps([2, "f0", "Heartbeat", {}])
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                for i in range(20_000):
                    await flood.send_str(frames.replace('"f0"', f'"f{i}"'))
                    if i % 200 == 0:
                        await asyncio.sleep(0)
            answers = 0
            while True:
                msg = await flood.receive(timeout=10)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return answers, flood.close_code
                answers += 1

        (answers, code), _ = await asyncio.gather(flooding(), steady())
    assert code == 1008  # policy violation: disconnected for its rate
    assert answers < 20_000
    latencies.sort()
    assert latencies[len(latencies) // 2] < 0.05 and latencies[-1] < 1.0, latencies


class NoKeyCharger(SimCharger):
    """A charger whose firmware cannot take an AuthorizationKey."""

    @on(Action.change_configuration)
    async def on_change_configuration(self, **kw: Any) -> call_result.ChangeConfiguration:
        await self._behave("ChangeConfiguration", kw)
        if kw["key"] == "AuthorizationKey":
            return call_result.ChangeConfiguration(status="NotSupported")
        self.configuration[kw["key"]] = kw["value"]
        return call_result.ChangeConfiguration(status="Accepted")


async def test_approval_without_a_key_leaves_no_station_open(server: TestServer,
                                                             api: Api) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(ws_url(server, "NOKEY-1"), protocols=("ocpp1.6",))
        cp = NoKeyCharger("NOKEY-1", ClientTransport(ws))
        task = asyncio.create_task(cp.start())
        try:
            assert (await cp.boot()).status == "Pending"
            status, body = await api.request("PATCH", "/stations/NOKEY-1", {"approved": True})
            assert status == 409, body
            assert "NotSupported" in json.dumps(body)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
            await ws.close()
    station = await api.get("/stations/NOKEY-1")
    assert station["approved"] is False and station["has_password"] is False
    # Offline, it cannot take a key either: approval is refused the same way.
    status, _ = await api.request("PATCH", "/stations/NOKEY-1", {"approved": True})
    assert status == 409
    # The explicit choices work: a password, or auth_mode "none" (shown in red).
    ok = await api.patch("/stations/NOKEY-1", {"approved": True, "password": "given-pass-12"})
    assert ok["approved"] is True and ok["has_password"] is True

"""Shared fixtures: the real app on 127.0.0.1 over a real SQLite file in a temporary data dir,
an admin API client, and simulated chargers (the `ocpp` library's ChargePoint over real
WebSockets)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.app import create_app
from appliance.config import Settings, load_settings
from tests.charger import SimCharger, connect_charger

# The backend switch's fixtures, and its hook registering the sqlite_only marker.
from tests.pg import (  # noqa: F401
    backend_env,
    backend_url,
    pg_cluster,
    pg_cluster_first,
    pg_url,
    pytest_configure,
)


class ErrorLogGuard(logging.Handler):
    """Fails a test that logs an unexpected ERROR (tests that expect one say so)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def error_log_guard(request: pytest.FixtureRequest) -> Any:
    guard = ErrorLogGuard()
    logging.getLogger().addHandler(guard)
    yield guard
    logging.getLogger().removeHandler(guard)
    if "allow_error_logs" not in request.keywords:
        unexpected = [f"{r.name}: {r.getMessage()}" for r in guard.records]
        assert not unexpected, f"unexpected ERROR logs: {unexpected}"


# Far above any honest callback on a busy 2-core machine; gross blocking trips it.
LOOP_STALL_LIMIT_S = 2.0


@pytest.fixture(autouse=True)
async def loop_stall_guard(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fails an async test during which the event loop stopped turning for over two seconds:
    something blocked it (database work outside the seam, a sync sleep, a blocking call)."""
    if not asyncio.iscoroutinefunction(getattr(request.node, "function", None)):
        yield
        return
    worst = 0.0

    async def watch() -> None:
        nonlocal worst
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.05)
            worst = max(worst, loop.time() - before - 0.05)

    task = asyncio.create_task(watch())
    yield
    task.cancel()
    if "allow_loop_stall" not in request.keywords:
        assert worst < LOOP_STALL_LIMIT_S, f"the event loop stalled for {worst:.2f} s"


OFF_NETWORK = "http://127.0.0.1:9"  # the discard port: nothing listens


@pytest.fixture
def make_settings(tmp_path: Path, backend_url: str | None) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values = {"data_dir": str(tmp_path / "data"), "host": "127.0.0.1", "port": 8080,
                  "call_timeout": 2.0, "database_url": backend_url}
        # Tests reach nothing beyond 127.0.0.1: a provider a test turns on without its stand-in
        # (the pages' tours) meets a closed local port, never the provider's real address.
        values.update({f.name: OFF_NETWORK for f in dataclasses.fields(Settings)
                       if f.name.endswith("_api_base")})
        values.update(overrides)
        return load_settings(environ={}, overrides=values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def start_app(backend_url: str | None, aiohttp_server: Any
                    ) -> Callable[[Settings], Awaitable[TestServer]]:
    # backend_url first: its database is made before the server and dropped after it stops.
    async def start(settings: Settings) -> TestServer:
        server = await aiohttp_server(create_app(settings), host="127.0.0.1")
        await _scheduler_settled(server)
        return server

    return start


async def _scheduler_settled(server: TestServer) -> None:
    """The app's own catch-up at start (once this process leads: on PostgreSQL, a moment after
    start) has run, so a test that writes days or runs them itself does not race it."""
    scheduler = server.app.get(keys.SCHEDULER)
    if scheduler is None:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await scheduler.caught_up.wait()


@pytest.fixture
async def server(start_app: Any, settings: Settings) -> TestServer:
    return await start_app(settings)


class Api:
    """A tiny JSON client for /api/v1 with a Bearer token."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session, self.base, self.token = session, base, token

    async def request(self, method: str, path: str, body: Any = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        async with self.session.request(method, self.base + "/api/v1" + path, json=body,
                                        headers=all_headers) as resp:
            data = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, data

    async def get(self, path: str) -> Any:
        status, data = await self.request("GET", path)
        assert status == 200, (status, data)
        return data

    async def post(self, path: str, body: Any = None, expect: int = 201) -> Any:
        status, data = await self.request("POST", path, body)
        assert status == expect, (status, data)
        return data

    async def patch(self, path: str, body: Any) -> Any:
        status, data = await self.request("PATCH", path, body)
        assert status == 200, (status, data)
        return data


async def make_token(server: TestServer, role: str = "admin") -> str:
    from appliance.people.tokens import create_token

    token = secrets.token_urlsafe(24)
    await server.app[keys.DATABASE].run(create_token, f"test-{role}-{token[:6]}", role, token)
    return token


@pytest.fixture
async def api(server: TestServer) -> AsyncIterator[Api]:
    token = await make_token(server)
    async with aiohttp.ClientSession() as session:
        yield Api(session, str(server.make_url("")).rstrip("/"), token)


@pytest.fixture
def charger(server: TestServer) -> Callable[..., Any]:
    """`async with charger("CP1", password="...") as cp:` a booted-or-not simulated charger."""

    @asynccontextmanager
    async def open_charger(cpid: str, password: str | None = None, **kw: Any
                           ) -> AsyncIterator[SimCharger]:
        async with connect_charger(server, cpid, password, **kw) as cp:
            yield cp

    return open_charger


async def add_station(api: Api, cpid: str, password: str = "secret-pass-1",
                      managed: bool = False) -> dict[str, Any]:
    """A registered station; unmanaged (a test bench) unless a test is about managed config."""
    return await api.post("/stations", {"id": cpid, "password": password, "managed": managed})


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0  # noqa: ASYNC109
                     ) -> None:
    """Wait until an async condition holds (for effects that land after an answer)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)

"""A logged-in staff member's plain HTTP client (cookies, CSRF token) for page tests that need
no JavaScript."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.people.staff import create_staff

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class StaffClient:
    def __init__(self, session: aiohttp.ClientSession, server: TestServer) -> None:
        self.session, self.server = session, server

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.url(path), allow_redirects=False) as resp:
            return resp.status, await resp.text()

    async def csrf(self, path: str = "/login") -> str:
        _, html = await self.get(path)
        match = CSRF.search(html)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    async def post(self, path: str, form: dict[str, Any], *, csrf: bool = True,
                   from_page: str = "/") -> tuple[int, str]:
        data = dict(form)
        if csrf:
            data["csrf_token"] = await self.csrf(from_page)
        async with self.session.post(self.url(path), data=data, allow_redirects=False) as resp:
            return resp.status, await resp.text()


@asynccontextmanager
async def staff_client(server: TestServer, role: str = "admin", username: str | None = None,
                       password: str = "a-good-password-1") -> AsyncIterator[StaffClient]:
    username = username or f"{role}-user"
    await server.app[keys.DATABASE].run(create_staff, username, role, password)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        client = StaffClient(session, server)
        status, _ = await client.post("/login", {"username": username, "password": password},
                                      from_page="/login")
        assert status == 303
        yield client

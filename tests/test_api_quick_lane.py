"""A desk top-up through the API never waits for the pages' reads: its one read, the API token's
look-up, goes through the database's quick lane (a reader thread of its own), and its write
through the writer's page lane. Here every reader thread of the pages is held busy (as a big
site's dashboards hold them) while the top-up is made, through the real app on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading

from aiohttp.test_utils import TestServer

from appliance import keys
from tests.conftest import Api, make_token

GUARD_S = 20  # far above a top-up on an idle machine; only a top-up stuck behind the reads hits it


async def test_a_top_up_does_not_wait_behind_the_pages_reads(server: TestServer,
                                                              api: Api) -> None:
    database = server.app[keys.DATABASE]
    driver = await api.post("/drivers", {"name": "Quick Desk", "phone": "+91 90000 31337"})
    held, release = threading.Semaphore(0), threading.Event()

    def page_read() -> None:  # a page's read that takes its reader thread until released
        held.release()
        release.wait(GUARD_S * 2)

    readers = server.app[keys.SETTINGS].read_threads
    pages = [asyncio.create_task(database.read(page_read)) for _ in range(readers)]
    try:
        for _ in range(readers):  # every page reader is busy now
            assert await asyncio.to_thread(held.acquire, True, GUARD_S)
        topup = await asyncio.wait_for(api.post(f"/drivers/{driver['id']}/topups",
                                                {"amount": 5000, "method": "cash"}), GUARD_S)
        assert topup["amount"]["amount"] == 5000, topup
        assert not any(p.done() for p in pages)  # it did not wait for them
    finally:
        release.set()
        await asyncio.gather(*pages)
    account = (await api.get(f"/drivers/{driver['id']}"))["account"]
    assert account["balance"]["amount"] == 5000


async def test_a_revoked_or_unknown_token_is_refused(server: TestServer, api: Api) -> None:
    """The quick lane's look-up (one statement, no transaction around it) takes a live token's
    hash only: a revoked token and one never issued answer 401, and the live one still works."""
    from appliance.people.tokens import revoke_token

    other = Api(api.session, api.base, await make_token(server, "desk"))
    assert (await other.request("GET", "/drivers"))[0] == 200
    await server.app[keys.DATABASE].run(revoke_token, f"test-desk-{other.token[:6]}")
    assert (await other.request("GET", "/drivers"))[0] == 401
    assert (await Api(api.session, api.base, "never-issued").request("GET", "/drivers"))[0] == 401
    assert (await api.request("GET", "/drivers"))[0] == 200

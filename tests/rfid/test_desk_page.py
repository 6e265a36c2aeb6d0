"""The card desk in a real browser: a card tapped on the virtual PC/SC reader appears on the open
issuing page, is bound to a new driver, and then authorizes at a simulated charger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from appliance import keys
from appliance.people.staff import create_staff
from tests.browser import browser, shoot_both  # noqa: F401
from tests.charger import connect_charger
from tests.conftest import Api, make_token

from .vcard import VirtualCard

pytestmark = pytest.mark.usefixtures("running_pcscd")


@asynccontextmanager
async def tapped(uid: bytes) -> AsyncIterator[None]:
    """A card on the virtual reader; putting it down and lifting it block, so off the loop."""
    card = VirtualCard(uid)
    await asyncio.to_thread(card.insert)
    try:
        yield
    finally:
        await asyncio.to_thread(card.remove)


async def test_tap_on_the_desk_reader_issues_a_card(start_app: Any, make_settings: Any,
                                                    browser: Any) -> None:
    server = await start_app(make_settings(reader_backend="pcsc"))
    database = server.app[keys.DATABASE]
    await database.run(create_staff, "desk1", "desk", "desk-password-1")
    page = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
    await page.goto(str(server.make_url("/login")))
    await page.fill("#username", "desk1")
    await page.fill("#password", "desk-password-1")
    await page.click("main button[type=submit]")
    await page.goto(str(server.make_url("/desk")))
    for _ in range(100):  # the reader thread sees the virtual readers within a moment
        if server.app[keys.READER].readers:
            break
        await asyncio.sleep(0.05)
    await page.wait_for_timeout(300)  # the page's event stream is connected
    async with tapped(bytes.fromhex("04A1B2C3")):
        await page.wait_for_url(lambda url: url.endswith("/desk?id_tag=04A1B2C3"),
                                timeout=10_000)
    assert await page.get_attribute("#tap-result", "data-state") == "unknown"
    await shoot_both(page, "desk-tap")
    await page.click("#new-driver")
    assert await page.input_value("#tapped-tag") == "04A1B2C3"
    await page.fill("#name", "Ravi Shah")
    await page.select_option("#mode", "personal")
    await page.click("main form button[type=submit]")
    await page.wait_for_url("**/drivers/*")
    assert "04A1B2C3" in await page.locator("#driver-cards").text_content()
    # Tapping the card again opens its driver straight away.
    await page.goto(str(server.make_url("/desk")))
    await page.wait_for_timeout(1600)  # past the reader's repeat window: a new tap
    async with tapped(bytes.fromhex("04A1B2C3")):
        await page.wait_for_url(lambda url: "tapped=04A1B2C3" in url, timeout=10_000)
    await page.context.close()
    token = await make_token(server)
    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"), token)
        await api.post("/stations", {"id": "DESKCP", "password": "secret-pass-1",
                                     "managed": False})
    async with connect_charger(server, "DESKCP", "secret-pass-1") as cp:
        await cp.boot()
        assert (await cp.authorize("04a1b2c3"))["status"] == "Accepted"

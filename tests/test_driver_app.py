"""The installable driver app: the manifest and its icons, the service worker at the root scope
keeping the shell and the last receipt for offline use, and the scanner page, in Chromium."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestServer

from tests import browser as browser_fixtures
from tests.browser import PHONE, shoot

browser = browser_fixtures.browser


async def test_manifest_icons_and_worker_are_served(server: TestServer, browser: Any) -> None:
    context = await browser.new_context(viewport=PHONE, is_mobile=True)
    page = await context.new_page()
    await page.goto(str(server.make_url("/scan")))
    manifest = json.loads(await (await page.request.get(
        str(server.make_url("/static/driver.webmanifest")))).text())
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/scan"
    for icon in manifest["icons"]:
        resp = await page.request.get(str(server.make_url(icon["src"])))
        assert resp.ok and (await resp.body())[:4] == b"\x89PNG"
    # The worker installs with the whole site as its scope and caches the shell.
    scope = await page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == str(server.make_url("/"))
    cached = await page.evaluate(
        "caches.open('driver-shell-v1').then(c => c.keys()).then(k => k.map(r => r.url))")
    assert str(server.make_url("/static/driver.css")) in cached
    # Headless Chromium has no BarcodeDetector: the page says how to scan instead.
    assert await page.locator("[data-note=unsupported]").is_visible() or \
        await page.locator("[data-note=denied]").is_visible() or \
        await page.locator("[data-note=looking]").is_visible()
    await shoot(page, "driver-app-scan")
    await context.close()

"""The installable driver app: the manifest and its icons, the service worker at the root scope
keeping the shell and the last receipt for offline use, and the scanner page, in Chromium."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import segno
from aiohttp.test_utils import TestServer

from appliance.web.admin.stickers import connector_url
from tests import browser as browser_fixtures
from tests.browser import ARGS, CHROMIUM, PHONE, shoot
from tests.conftest import Api
from tests.driver_fixtures import site_with_charger

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
    # The page always says something: to open the camera while the browser asks for it (a
    # headless browser may never answer), then what came of it.
    await page.locator(", ".join(f"{s}:visible" for s in (
        "#scan-note", "[data-note=unsupported]", "[data-note=denied]", "[data-note=looking]"))
                       ).first.wait_for(state="visible", timeout=15_000)
    await shoot(page, "driver-app-scan")
    await context.close()


def _y4m_of_qr(text: str, path: Path, size: int = 480, frames: int = 3) -> None:
    """A few frames of raw video (YUV 4:2:0) showing the sticker's QR code, white around it:
    what Chromium's fake camera plays in a loop."""
    matrix = [list(row) for row in segno.make(text, error="m", micro=False).matrix]
    border = 4
    modules = len(matrix) + 2 * border
    scale = size // modules
    offset = (size - modules * scale) // 2 + border * scale
    luma = bytearray(b"\xeb" * size * size)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = (offset + y * scale + dy) * size + offset + x * scale
                    luma[start:start + scale] = b"\x10" * scale
    chroma = b"\x80" * (size // 2) * (size // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{size} H{size} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + bytes(luma) + chroma + chroma)


async def test_scanner_reads_a_sticker_from_the_camera(server: TestServer, api: Api,
                                                       charger: Any, tmp_path: Path) -> None:
    """The app's scanner reads the QR a sticker prints off Chromium's fake camera (with the
    vendored decoder where the browser has no BarcodeDetector) and opens the connector."""
    await site_with_charger(api, "SCAN-1")
    sticker = connector_url(str(server.make_url("")), "SCAN-1", 1)
    video = tmp_path / "sticker.y4m"
    _y4m_of_qr(sticker, video)
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    from playwright.async_api import async_playwright

    async with charger("SCAN-1", "secret-pass-1") as cp, async_playwright() as pw:
        await cp.boot()
        await cp.status(1, "Available")
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=[
            *ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
        try:
            context = await chromium.new_context(viewport=PHONE, is_mobile=True,
                                                 permissions=["camera"])
            page = await context.new_page()
            # The scanner may read the code and leave before the test looks: which decoder
            # /scan chose is kept in sessionStorage, which outlives the navigation.
            await page.add_init_script("""new MutationObserver(() => {
                const s = document.documentElement.dataset.scanner;
                if (s) sessionStorage.setItem("seen-scanner", s);
            }).observe(document, {attributes: true, subtree: true});""")
            await page.goto(str(server.make_url("/scan")))
            await page.wait_for_url("**/c/SCAN-1/1", timeout=30_000)
            native = await page.evaluate("'BarcodeDetector' in window")
            # Debian's Chromium has no BarcodeDetector: the vendored decoder reads the frames.
            assert (await page.evaluate("sessionStorage.getItem('seen-scanner')")
                    == ("native" if native else "jsqr"))
            assert "SCAN-1" in await page.title(), await page.content()
            assert await page.get_attribute("html", "data-scanner") is None  # a new page
            await shoot(page, "driver-app-scanned")
        finally:
            await chromium.close()

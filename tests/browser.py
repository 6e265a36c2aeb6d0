"""A real headless Chromium (Debian's) driven by playwright, and screenshots people can look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


async def staff_page(browser: Any, server: Any, user: str, password: str) -> Any:
    """A desktop page of a new browser context, signed in as `user` at the site's front page.
    Close it with `page.context.close()`."""
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(str(server.make_url("/login")))
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/")
    return page


async def shoot(page: Any, name: str) -> None:
    """Full-page screenshot at the page's current size into screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def shoot_both(page: Any, name: str) -> None:
    await page.set_viewport_size(DESKTOP)
    await shoot(page, f"{name}-desktop")
    await page.set_viewport_size(PHONE)
    await shoot(page, f"{name}-phone")
    await page.set_viewport_size(DESKTOP)

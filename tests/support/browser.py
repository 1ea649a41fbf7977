"""A real browser for the dashboard's tests: Debian's Chromium, driven by Playwright.

Playwright never downloads a browser here (``playwright install`` is never run): it drives the
OS package at ``CHROMIUM``, which ``make tools`` installs. Screenshots go to
``.artifacts/screenshots/`` (git-ignored), kept as the run's artifacts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

__all__ = ["CHROMIUM", "SCREENSHOTS", "chromium", "drawn_pixels", "screenshot", "sign_in"]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make tools` installs Debian's chromium package")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(browser: Browser, url: str, token: str) -> Page:
    """A fresh browser context (its own cookies) signed in with ``token`` through the form."""
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{url}/")
    await page.fill("input[name=token]", token)
    await page.click("form.sign-in button[type=submit]")
    await page.wait_for_selector("#who:not([hidden])")
    return page


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


# Counts the pixels of a chart's canvas, inside its plot area, within a few levels of one of its
# series' colour: what was drawn, not what was meant to be.
_PIXELS = """([key, label]) => {
  const chart = window.alertpipe.graphs.charts.find(
    (c) => `${c.scope.dimension}|${c.scope.key}` === key && c.spec.id === label);
  if (!chart) return null;
  const u = chart.u;
  const hex = chart.spec.series[0].color;
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const { left, top, width, height } = u.bbox;
  const pixels = u.ctx.getImageData(left, top, width, height).data;
  let near = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3] > 200 && want.every((c, k) => Math.abs(pixels[i + k] - c) < 40)) near += 1;
  }
  return { near, points: u.data[1].filter((v) => v !== null).length, values: u.data[1] };
}"""


async def drawn_pixels(page: Page, scope_key: str, chart: str) -> dict[str, Any] | None:
    """``{near, points, values}`` of one chart: pixels in its first series' colour, the points
    that series holds, and the values (None: no such chart on the page)."""
    found: dict[str, Any] | None = await page.evaluate(_PIXELS, [scope_key, chart])
    return found

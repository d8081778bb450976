"""Browser test harness: Playwright for Python driving Debian's Chromium against the live test server.

Tests mark themselves ``@pytest.mark.browser`` and take the ``phone_page`` (390x844, touch) or
``desktop_page`` fixture; ``browser_login(page, live_server, email, password)`` signs in through the form.
No browser is ever downloaded: the system's /usr/bin/chromium is launched.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE_VIEWPORT = {"width": 390, "height": 844}
SCREENSHOT_DIR = Path(os.environ.get("BROWSER_SCREENSHOTS", "/tmp/fleet-screenshots"))


@pytest.fixture(scope="session")
def chromium_browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the live server's test
    # data happen before pages load, in the same thread, which Django would otherwise refuse.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def phone_page(chromium_browser):
    context = chromium_browser.new_context(
        viewport=PHONE_VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True, locale="en-GB"
    )
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desktop_page(chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    yield page
    context.close()


def browser_login(page, live_server, email: str, password: str) -> None:
    """Sign in through the portal's login form and wait for the dashboard."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot for people to look at (CI keeps none; the path is printed)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

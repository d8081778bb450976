"""Browser flows in headless Chromium: the portal as a phone user sees it."""

import pytest

from accounts.choices import Role
from accounts.tests.factories import TEST_PASSWORD
from assets.tests.factories import AssetFactory
from fleet.testing.browser import browser_login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_customer_admin_opens_asset_list_on_a_phone(live_server, phone_page, customer, site, other_asset, make_member):
    mine = AssetFactory(customer=customer, site=site, serial_number="MFP-PHONE-001")
    admin = make_member(customer, Role.CUSTOMER_ADMIN, email="phone-admin@acme.example")

    browser_login(phone_page, live_server, admin.email, TEST_PASSWORD)
    phone_page.click("[data-nav-toggle]")
    phone_page.click("#main-nav >> text=Assets")
    phone_page.wait_for_url(f"{live_server.url}/assets/")

    body = phone_page.inner_text("main")
    assert mine.serial_number in body
    assert other_asset.serial_number not in body
    # Usable at phone width: nothing wider than the viewport.
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone_page, "asset-list-phone")

"""A technician completes a work order on a phone (390x844): My day, start work, a part, the signature, done."""

import pytest
from django.urls import reverse

from accounts.choices import Role
from accounts.tests.factories import TEST_PASSWORD
from assets.tests.factories import AssetFactory, PartTypeFactory, SiteFactory
from fleet.testing.browser import browser_login, screenshot
from maintenance import services
from maintenance.choices import WorkOrderStatus
from maintenance.models import WorkOrder
from maintenance.tests.factories import WorkOrderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_technician_completes_a_work_order_with_a_part_and_a_signature_on_a_phone(
    live_server, phone_page, provider, customer, make_member, media
):
    site = SiteFactory(customer=customer, name="Tokyo HQ", address_line1="丸の内1-6-5", city="千代田区")
    asset = AssetFactory(customer=customer, site=site, serial_number="MFP-PHONE-042")
    part_type = PartTypeFactory(name="Pickup roller", code="RLR-42")
    part_type.asset_models.add(asset.asset_model)
    desk = make_member(provider, Role.SERVICE_DESK, email="desk@provider.example")
    technician = make_member(provider, Role.TECHNICIAN, email="tech@provider.example")
    make_member(customer, Role.CUSTOMER_ADMIN, email="admin@acme.example")
    work_order = WorkOrderFactory(asset=asset, description="Paper jams in tray 2")
    services.work_order_assign(work_order=work_order, technician=technician, by=desk)
    page = phone_page
    base = live_server.url
    detail = reverse("maintenance:work_order_detail", args=[work_order.pk])

    browser_login(page, live_server, technician.email, TEST_PASSWORD)
    page.click("[data-nav-toggle]")
    page.click("#main-nav >> text=My day")
    page.wait_for_url(base + reverse("maintenance:my_day"))
    assert work_order.number in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "technician-my-day-phone")

    page.click(f"text={work_order.number}")
    page.wait_for_url(base + detail)
    page.click("button.transition-in_progress")
    page.wait_for_url(base + detail)
    assert page.locator("button.transition-on_hold").count() == 1  # now in progress

    page.click("#work summary:has-text('Add a part')")
    part_form = page.locator("form[action$='/work/parts/']")
    part_form.locator("select[name=part_type]").select_option(str(part_type.pk))
    part_form.locator("input[name=quantity]").fill("2")
    part_form.locator("button[type=submit]").click()
    page.wait_for_url(base + detail + "**")
    assert "Pickup roller" in page.inner_text("#work")

    complete = page.locator("form[action$='/complete/']")
    complete.locator("textarea[name=notes]").fill("Replaced the pickup roller; 100 test prints without a jam.")
    canvas = complete.locator("[data-signature-canvas]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] / 2)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(box["x"] + 20 + step * 20, box["y"] + box["height"] / 2 + (15 if step % 2 else -15))
    page.mouse.up()
    assert complete.locator("input[name=signature]").input_value().startswith("data:image/png;base64,")
    complete.locator("input[name=signed_by_name]").fill("Naoko Ito")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    complete.locator("button[type=submit]").click()

    page.wait_for_url(base + reverse("maintenance:work_order_summary", args=[work_order.pk]))
    summary = page.inner_text("main")
    assert "Pickup roller" in summary and "Naoko Ito" in summary
    assert page.locator(f"a[href='{reverse('maintenance:work_order_report', args=[work_order.pk])}']").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "technician-summary-phone")

    work_order = WorkOrder.objects.get(pk=work_order.pk)
    assert work_order.status == WorkOrderStatus.COMPLETED
    assert list(work_order.parts.values_list("part_type__code", "quantity")) == [("RLR-42", 2)]
    assert work_order.signature and work_order.signature.size > 0
    assert work_order.signed_by_name == "Naoko Ito"
    assert work_order.completion_report_sent_at is not None  # the report went to the customer's admin

"""The whole path of a fault, through the portal: a device reports a severe fault code, the alert opens a work
order, the desk dispatches it, the technician replaces a part and the customer signs, the desk closes it, and the
customer sees it closed with its report while the asset records the part installed."""

import base64
import io

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from assets.tests.factories import PartTypeFactory
from maintenance.choices import WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.models import PartInstallation, WorkOrder
from maintenance.tests.factories import ServiceLevelFactory
from telemetry.choices import AlertRuleKind, Severity
from telemetry.ingest import telemetry_ingest
from telemetry.models import Alert
from telemetry.tests.alert_factories import AlertRuleFactory

pytestmark = pytest.mark.django_db


def _signature() -> str:
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 100), (0, 0, 0, 255)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _post(client, user, name: str, work_order: WorkOrder, data: dict):
    client.force_login(user)
    response = client.post(reverse(f"maintenance:{name}", args=[work_order.pk]), data)
    assert response.status_code == 302, response
    return response


def test_a_severe_fault_code_ends_in_a_closed_order_with_its_report_and_the_part_on_the_asset(
    client, provider, customer, asset, service_desk, technician, customer_admin, django_capture_on_commit_callbacks
):
    ServiceLevelFactory(provider=provider)
    AlertRuleFactory(
        provider=provider,
        kind=AlertRuleKind.EVENT_CODE,
        code_pattern="SC5*",
        supply="",
        threshold=None,
        severity=Severity.CRITICAL,
    )
    drum = PartTypeFactory(code="DRM-1", name="Drum unit")
    drum.asset_models.add(asset.asset_model)

    with django_capture_on_commit_callbacks(execute=True):
        telemetry_ingest(
            customer=customer,
            items=[{"type": "event", "asset": asset.pk, "code": "SC542", "occurred_at": timezone.now().isoformat()}],
        )
    alert = Alert.objects.get(asset=asset)
    work_order = WorkOrder.objects.get(alert=alert)
    assert (work_order.kind, work_order.source) == (WorkOrderKind.CORRECTIVE, WorkOrderSource.ALERT)

    _post(client, service_desk, "work_order_assign", work_order, {"technician": technician.pk})
    _post(client, technician, "work_order_transition", work_order, {"to_status": WorkOrderStatus.IN_PROGRESS})
    _post(
        client,
        technician,
        "work_order_part_add",
        work_order,
        {"part_type": drum.pk, "quantity": "1", "replaces_installed": "on"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        _post(
            client,
            technician,
            "work_order_complete",
            work_order,
            {"notes": "Drum replaced.", "signature": _signature(), "signed_by_name": "Hanako Sato"},
        )
    _post(client, service_desk, "work_order_transition", work_order, {"to_status": WorkOrderStatus.CLOSED})

    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.CLOSED
    assert work_order.signature and work_order.signed_by_name == "Hanako Sato"
    assert list(work_order.parts.values_list("part_type", "replaces_installed")) == [(drum.pk, True)]
    installation = PartInstallation.objects.get(asset=asset)
    assert (installation.part_type, installation.work_order) == (drum, work_order)

    client.force_login(customer_admin)
    page = client.get(reverse("maintenance:work_order_detail", args=[work_order.pk]))
    assert page.status_code == 200
    assert str(WorkOrderStatus.CLOSED.label) in page.content.decode()
    assert reverse("maintenance:work_order_report", args=[work_order.pk]) in page.content.decode()
    report = client.get(reverse("maintenance:work_order_report", args=[work_order.pk]))
    assert report.status_code == 200
    assert report["Content-Type"] == "application/pdf"
    assert b"".join(report.streaming_content if report.streaming else [report.content]).startswith(b"%PDF")

    reports = [message for message in mail.outbox if customer_admin.email in message.to]
    assert len(reports) == 1
    assert reports[0].attachments and reports[0].attachments[0][2] == "application/pdf"

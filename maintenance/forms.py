"""Forms of the maintenance pages: creating and requesting work orders, assigning, moving and completing them."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from assets.models import Asset, Site
from fleet.tenancy import access_for
from maintenance.choices import ErasureMethod, Priority, WorkOrderKind, WorkOrderStatus
from maintenance.filters import technicians_for

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DAMAGE_CHOICES = [("", _("Not assessed")), ("false", _("No: wear or a fault")), ("true", _("Yes: billable"))]


def organisation_id_of(user) -> int | None:
    """The user's own organisation: a service request names its sites only (provider staff have none)."""
    access = access_for(user)
    return access.organisation_id if access is not None else None


class WorkOrderCreateForm(forms.Form):
    """Dispatching staff open a work order for one of their customers."""

    customer = forms.ModelChoiceField(label=_("Customer"), queryset=Organisation.objects.none())
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    asset = forms.ModelChoiceField(label=_("Asset"), queryset=Asset.objects.none(), required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=WorkOrderKind.choices, initial=WorkOrderKind.CORRECTIVE)
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial=Priority.P3)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = Organisation.objects.visible_to(user).customers().order_by("name")
        self.fields["site"].queryset = Site.objects.visible_to(user).select_related("customer").order_by("name")
        self.fields["asset"].queryset = Asset.objects.visible_to(user).order_by("serial_number")


class ServiceRequestForm(forms.Form):
    """A customer's user asks for service at one of their sites, optionally for one asset."""

    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    asset = forms.ModelChoiceField(label=_("Asset"), queryset=Asset.objects.none(), required=False)
    description = forms.CharField(
        label=_("What is the problem?"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        organisation_id = organisation_id_of(user)
        self.fields["site"].queryset = (
            Site.objects.visible_to(user).filter(customer_id=organisation_id).order_by("name")
        )
        self.fields["asset"].queryset = (
            Asset.objects.visible_to(user).filter(customer_id=organisation_id).order_by("serial_number")
        )


class WorkOrderTransitionForm(forms.Form):
    to_status = forms.ChoiceField(label=_("New status"), choices=WorkOrderStatus.choices)
    note = forms.CharField(label=_("Note"), max_length=2000, required=False)


class WorkOrderAssignForm(forms.Form):
    technician = forms.ModelChoiceField(label=_("Technician"), queryset=None)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["technician"].queryset = technicians_for(user)


class SignaturePadWidget(forms.HiddenInput):
    """A hidden input that ``static/js/signature.js`` fills with the PNG data URL drawn on a canvas pad."""

    def render(self, name, value, attrs=None, renderer=None):
        from django.template.loader import render_to_string

        hidden = super().render(name, "", attrs, renderer)  # a drawn signature is never sent back to the page
        return render_to_string("maintenance/work/_signature_pad.html", {"hidden": hidden, "name": name})


class WorkOrderCompleteForm(forms.Form):
    notes = forms.CharField(label=_("What was done?"), widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)
    signature = forms.CharField(label=_("Customer's signature"), required=False, widget=SignaturePadWidget)
    signed_by_name = forms.CharField(label=_("Signed by (name)"), max_length=200, required=False)
    erasure_method = forms.ChoiceField(
        label=_("Storage erasure method"),
        choices=[("", _("Not a removal")), *ErasureMethod.choices],
        required=False,
        help_text=_("Required when an MFP or printer is removed."),
    )
    erasure_storage = forms.CharField(
        label=_("Storage erased"),
        max_length=200,
        required=False,
        help_text=_("For example: HDD 320 GB, serial number."),
    )
    damage_avoidable = forms.TypedChoiceField(
        label=_("Damage avoidable by the customer?"),
        choices=DAMAGE_CHOICES,
        coerce=lambda value: value == "true",
        empty_value=None,
        required=False,
    )
    down_from = forms.DateTimeField(label=_("Down from"), required=False, widget=DATETIME_WIDGET)
    down_until = forms.DateTimeField(label=_("Down until"), required=False, widget=DATETIME_WIDGET)

    def __init__(self, *args, erasure: bool = True, **kwargs):
        """``erasure=False`` leaves out the storage-erasure fields (only removals of MFPs and printers need them)."""
        super().__init__(*args, **kwargs)
        if not erasure:
            del self.fields["erasure_method"], self.fields["erasure_storage"]

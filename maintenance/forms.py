"""Forms of the maintenance pages: creating and requesting work orders, assigning, moving and completing them."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from assets.models import Asset, Site
from fleet.tenancy import access_for
from maintenance.choices import Priority, WorkOrderKind, WorkOrderStatus
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


class WorkOrderCompleteForm(forms.Form):
    notes = forms.CharField(label=_("What was done?"), widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)
    damage_avoidable = forms.TypedChoiceField(
        label=_("Damage avoidable by the customer?"),
        choices=DAMAGE_CHOICES,
        coerce=lambda value: value == "true",
        empty_value=None,
        required=False,
    )
    down_from = forms.DateTimeField(label=_("Down from"), required=False, widget=DATETIME_WIDGET)
    down_until = forms.DateTimeField(label=_("Down until"), required=False, widget=DATETIME_WIDGET)

"""Portal forms of the asset registry."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Organisation
from assets.imports import FILE_TOO_LARGE, FLEET_IMPORT_MAX_BYTES, fleet_import_decode
from assets.models import Site


class AssetMoveForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none(), label=_("Site"))
    location_note = forms.CharField(
        label=_("Location"),
        max_length=200,
        required=False,
        help_text=_("Where it stands on the site, e.g. 3F copy room."),
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def __init__(self, *args, sites=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites if sites is not None else Site.objects.none()


class FleetImportForm(forms.Form):
    """Upload of a fleet CSV: checked first (dry run) unless the user asks to apply it straight away."""

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8 (Excel: CSV UTF-8) or Shift_JIS, at most 10 MB, with a header row."),
    )
    customer = forms.ModelChoiceField(
        queryset=Organisation.objects.none(),
        label=_("Customer"),
        required=False,
        empty_label=_("Each row's customer_code"),
        help_text=_("Choose a customer to import its assets without a customer_code column."),
    )
    dry_run = forms.BooleanField(
        label=_("Dry run: check the file and show what would change, without writing anything"),
        required=False,
        initial=True,
    )

    def __init__(self, *args, customers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers if customers is not None else Organisation.objects.none()
        self.decoded: tuple[str, str] | None = None

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > FLEET_IMPORT_MAX_BYTES:
            raise forms.ValidationError(FILE_TOO_LARGE, code="too_large")
        self.decoded = fleet_import_decode(data=upload.read(), filename=upload.name)
        return upload


class SiteOperatorsForm(forms.Form):
    operators = forms.ModelMultipleChoiceField(
        queryset=Membership.objects.none(),
        label=_("Operators at this site"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Customer operators see the assets of their sites only."),
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["operators"].queryset = candidates
        self.fields["operators"].label_from_instance = lambda membership: membership.user.email

"""Portal forms of the asset registry."""

from django import forms
from django.utils.translation import gettext_lazy as _

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

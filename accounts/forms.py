"""Portal forms of accounts."""

import unicodedata

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext_lazy as _

from accounts.choices import CUSTOMER_ROLES, Role
from accounts.models import Organisation, User


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("E-mail address"), widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    def clean_username(self) -> str:
        # Addresses are stored lower-cased; phones capitalise the first letter. The lockout counts per address.
        return self.cleaned_data["username"].lower()


class InvitationAwarePasswordResetForm(PasswordResetForm):
    """Also reaches invited users who have not chosen a password yet, once their invitation link expired."""

    def get_users(self, email):
        wanted = unicodedata.normalize("NFKC", email).casefold()
        users = User.objects.filter(email__iexact=email, is_active=True)
        return (user for user in users if unicodedata.normalize("NFKC", user.email).casefold() == wanted)


class UserCreateForm(forms.Form):
    organisation = forms.ModelChoiceField(queryset=Organisation.objects.none(), label=_("Organisation"))
    email = forms.EmailField(label=_("E-mail address"))
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("Organisation's language")), ("en", "English"), ("ja", "日本語")],
        required=False,
    )

    def __init__(self, *args, organisations, access, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations
        if not access.is_provider_staff:
            self.fields["organisation"].initial = access.organisation_id
            self.fields["role"].choices = [(role.value, role.label) for role in CUSTOMER_ROLES]

    def send_invitation(self, *, request, user) -> None:
        """E-mail the new user a link to choose their password (the password-reset flow)."""
        context = {
            "email": user.email,
            "domain": request.get_host(),
            "uid": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
            "protocol": "https" if request.is_secure() else "http",
        }
        PasswordResetForm().send_mail(
            "accounts/email/invitation_subject.txt", "accounts/email/invitation.txt", context, None, user.email
        )

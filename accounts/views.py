"""Portal pages of accounts: sign-in and passwords, organisations, and the users an admin manages."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views import View
from django.views.generic import FormView

from accounts import selectors, services
from accounts.choices import OrganisationKind, Role
from accounts.filters import MembershipFilterSet, OrganisationFilterSet
from accounts.forms import EmailAuthenticationForm, InvitationAwarePasswordResetForm, UserCreateForm
from accounts.roles import Capability
from fleet.tables import Column
from fleet.views import FilteredListView, PortalMixin, TenantDetailView


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/form_page.html"
    success_url = reverse_lazy("accounts:password_change_done")
    extra_context = {"title": _("Change password")}


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/message_page.html"
    extra_context = {"title": _("Password changed"), "message": _("Your password was changed.")}


class PasswordResetView(auth_views.PasswordResetView):
    form_class = InvitationAwarePasswordResetForm
    template_name = "accounts/form_page.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")
    extra_context = {"title": _("Reset your password")}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/message_page.html"
    extra_context = {
        "title": _("Check your e-mail"),
        "message": _("If an account exists for that address, we sent a link to choose a new password."),
    }


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/form_page.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
    extra_context = {"title": _("Choose a new password")}


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/message_page.html"
    extra_context = {"title": _("Password set"), "message": _("Your password was set. You can sign in now.")}


ORGANISATION_COLUMNS = (
    Column("name", _("Name"), "name", sort="name", link=True),
    Column("code", _("Code"), "code", sort="code"),
    Column("kind", _("Kind"), "kind", sort="kind", choices=dict(OrganisationKind.choices)),
    Column("city", _("City"), "city", sort="city"),
    Column("country", _("Country"), "country"),
    Column("sites", _("Sites"), "site_count", sort="site_count"),
    Column("assets", _("Assets"), "asset_count", sort="asset_count"),
)

MEMBER_COLUMNS = (
    Column("email", _("E-mail"), "user__email", sort="user__email"),
    Column("name", _("Name"), "user__last_name", sort="user__last_name"),
    Column("organisation", _("Organisation"), "organisation__name", sort="organisation__name"),
    Column("role", _("Role"), "role", sort="role", choices=dict(Role.choices)),
    Column("active", pgettext_lazy("user account", "Active"), "user__is_active", sort="user__is_active"),
    Column("last_login", _("Last sign-in"), "user__last_login", sort="user__last_login"),
)


class OrganisationListView(FilteredListView):
    selector = staticmethod(selectors.organisation_list)
    filterset_class = OrganisationFilterSet
    columns = ORGANISATION_COLUMNS
    default_sort = "name"
    title = _("Organisations")
    csv_filename = "organisations"
    detail_url_name = "accounts:organisation_detail"


class OrganisationDetailView(TenantDetailView):
    selector = staticmethod(selectors.organisation_list)
    template_name = "accounts/organisation_detail.html"
    context_object_name = "organisation"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["account_managers"] = self.object.account_managers.order_by("email")
        context["may_download_register"] = self.object.kind == OrganisationKind.CUSTOMER and self.access.can(
            Capability.DOWNLOAD_REPORTS
        )
        return context


class MemberListView(FilteredListView):
    required_capability = Capability.MANAGE_USERS
    selector = staticmethod(selectors.member_list)
    filterset_class = MembershipFilterSet
    columns = MEMBER_COLUMNS
    default_sort = "email"
    title = _("Users")
    csv_filename = "users"
    row_actions_template = "accounts/_member_actions.html"
    create_url_name = "accounts:member_create"


class MemberCreateView(PortalMixin, FormView):
    """A customer admin adds a user to their organisation (a provider admin to any of theirs)."""

    required_capability = Capability.MANAGE_USERS
    form_class = UserCreateForm
    template_name = "accounts/form_page.html"
    extra_context = {"title": _("Add a user")}

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["organisations"] = selectors.organisation_list(user=self.request.user)
        kwargs["access"] = self.access
        return kwargs

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            user = services.user_create(
                organisation=data["organisation"],
                email=data["email"],
                role=data["role"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                language=data["language"],
                by=self.request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        form.send_invitation(request=self.request, user=user)
        messages.success(self.request, _("The user was added and an e-mail to choose a password was sent."))
        return redirect("accounts:member_list")


class MemberActiveView(PortalMixin, View):
    """Deactivate or reactivate a member (POST ``active=0|1``)."""

    required_capability = Capability.MANAGE_USERS

    def post(self, request, pk: int):
        membership = get_object_or_404(selectors.member_list(user=request.user), pk=pk)
        try:
            services.user_set_active(user=membership.user, active=request.POST.get("active") == "1", by=request.user)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Saved."))
        return redirect("accounts:member_list")

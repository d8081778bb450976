"""Portal pages of accounts: sign-in and lockout on every entry point, passwords, and member management."""

import re

import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api.views import SIGN_IN_LOCKED_OUT
from accounts.choices import Role
from accounts.models import Membership, User
from accounts.services import CANNOT_DEACTIVATE_SELF, EMAIL_TAKEN
from accounts.tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "lantern-harbour-maple-27"
SHORT_PASSWORD = "k8#Lm2$pQz1"  # eleven characters, otherwise strong
WRONG_PASSWORD = "not-the-password-at-all"
LINK = re.compile(r"https?://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)")


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def link_in(message) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


def choose_password(client, link: str, password: str):
    """Follow a password link from an e-mail to the form and submit ``password``."""
    response = client.get(link)
    assert response.status_code == 302  # Django moves the token into the session first
    return client.post(response.url, {"new_password1": password, "new_password2": password})


# Sign-in and sign-out


def test_login_page_renders(client):
    response = client.get(reverse("accounts:login"))

    assert response.status_code == 200
    assert 'type="email"' in response.text


def test_login_with_e_mail_and_password_opens_the_dashboard(client, customer_admin):
    response = client.post(reverse("accounts:login"), {"username": customer_admin.email, "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("portal:dashboard")
    assert signed_in(client)


def test_login_ignores_the_case_of_the_e_mail_address(client, customer_admin):
    response = client.post(
        reverse("accounts:login"), {"username": customer_admin.email.capitalize(), "password": TEST_PASSWORD}
    )

    assert response.status_code == 302
    assert signed_in(client)


def test_login_with_wrong_password_shows_the_form_again(client, customer_admin):
    response = client.post(reverse("accounts:login"), {"username": customer_admin.email, "password": WRONG_PASSWORD})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not signed_in(client)


def test_inactive_user_cannot_sign_in(client, customer_admin):
    User.objects.filter(pk=customer_admin.pk).update(is_active=False)

    response = client.post(reverse("accounts:login"), {"username": customer_admin.email, "password": TEST_PASSWORD})

    assert response.status_code == 200
    assert not signed_in(client)


def test_login_follows_a_local_next_but_not_another_host(client, customer_admin):
    credentials = {"username": customer_admin.email, "password": TEST_PASSWORD}

    local = client.post(f"{reverse('accounts:login')}?next=/accounts/users/", credentials)
    client.logout()
    foreign = client.post(f"{reverse('accounts:login')}?next=https://evil.example/", credentials)

    assert local.url == "/accounts/users/"
    assert foreign.url == reverse("portal:dashboard")


def test_logout_is_a_post(client, customer_admin):
    client.force_login(customer_admin)

    assert client.get(reverse("accounts:logout")).status_code == 405
    assert signed_in(client)

    response = client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    assert not signed_in(client)


def test_pages_need_a_signed_in_user(client):
    response = client.get(reverse("portal:dashboard"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


# Lockout after repeated failures, on every entry point


def fail_portal_login(client, email: str, times: int) -> None:
    for _ in range(times):
        client.post(reverse("accounts:login"), {"username": email, "password": WRONG_PASSWORD})


def test_portal_login_locks_out_after_the_failure_limit_even_with_the_right_password(client, customer_admin):
    fail_portal_login(client, customer_admin.email, settings.AXES_FAILURE_LIMIT)

    response = client.post(reverse("accounts:login"), {"username": customer_admin.email, "password": TEST_PASSWORD})

    assert response.status_code in (403, 429)
    assert "Account locked" in response.text
    assert not signed_in(client)


def test_portal_lockout_cannot_be_dodged_by_changing_the_case_of_the_address(client, customer_admin):
    fail_portal_login(client, customer_admin.email.upper(), settings.AXES_FAILURE_LIMIT)

    response = client.post(reverse("accounts:login"), {"username": customer_admin.email, "password": TEST_PASSWORD})

    assert response.status_code in (403, 429)
    assert not signed_in(client)


def test_portal_login_below_the_limit_still_signs_in_and_resets_the_count(client, customer_admin):
    credentials = {"username": customer_admin.email, "password": TEST_PASSWORD}
    fail_portal_login(client, customer_admin.email, settings.AXES_FAILURE_LIMIT - 1)
    assert client.post(reverse("accounts:login"), credentials).status_code == 302
    client.logout()

    fail_portal_login(client, customer_admin.email, settings.AXES_FAILURE_LIMIT - 1)

    assert client.post(reverse("accounts:login"), credentials).status_code == 302


def test_portal_lockout_is_per_address(client, customer_admin, make_member, customer):
    colleague = make_member(customer, Role.CUSTOMER_VIEWER)
    fail_portal_login(client, customer_admin.email, settings.AXES_FAILURE_LIMIT)

    response = client.post(reverse("accounts:login"), {"username": colleague.email, "password": TEST_PASSWORD})

    assert response.status_code == 302


def test_admin_login_locks_out_after_the_failure_limit_even_with_the_right_password(client):
    staff = UserFactory(email="root@provider.example", is_staff=True, is_superuser=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": staff.email, "password": WRONG_PASSWORD})

    response = client.post("/admin/login/", {"username": staff.email, "password": TEST_PASSWORD})

    assert response.status_code in (403, 429)
    assert not signed_in(client)


def test_admin_login_works_before_the_limit(client):
    staff = UserFactory(email="root@provider.example", is_staff=True, is_superuser=True)

    response = client.post("/admin/login/", {"username": staff.email, "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert signed_in(client)


@pytest.fixture
def token_client():
    cache.clear()  # the token endpoint's throttle counts in the cache
    yield APIClient()
    cache.clear()


def request_token(api: APIClient, email: str, password: str):
    return api.post(reverse("api-token"), {"username": email, "password": password}, format="json")


def test_api_token_is_issued_for_the_right_password(token_client, customer_admin):
    response = request_token(token_client, customer_admin.email, TEST_PASSWORD)

    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


def test_api_token_wrong_password_is_a_400(token_client, customer_admin):
    response = request_token(token_client, customer_admin.email, WRONG_PASSWORD)

    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_api_token_locks_out_after_the_failure_limit_with_a_json_answer(token_client, customer_admin):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert request_token(token_client, customer_admin.email, WRONG_PASSWORD).status_code == 400
    request_token(token_client, customer_admin.email, WRONG_PASSWORD)

    response = request_token(token_client, customer_admin.email, TEST_PASSWORD)

    assert response.status_code in (403, 429)
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": str(SIGN_IN_LOCKED_OUT)}
    assert "token" not in response.json()


def test_failures_on_the_portal_lock_the_api_too(client, token_client, customer_admin):
    fail_portal_login(client, customer_admin.email, settings.AXES_FAILURE_LIMIT)

    response = request_token(token_client, customer_admin.email, TEST_PASSWORD)

    assert response.status_code in (403, 429)
    assert response.json() == {"detail": str(SIGN_IN_LOCKED_OUT)}


def test_failures_on_the_api_lock_the_portal_too(client, token_client, customer_admin):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        request_token(token_client, customer_admin.email, WRONG_PASSWORD)

    response = client.post(reverse("accounts:login"), {"username": customer_admin.email, "password": TEST_PASSWORD})

    assert response.status_code in (403, 429)
    assert not signed_in(client)


# Passwords


def test_password_change_keeps_the_session_and_takes_the_new_password(client, customer_admin):
    client.force_login(customer_admin)

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": TEST_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_change_done")
    assert signed_in(client)
    assert User.objects.get(pk=customer_admin.pk).check_password(NEW_PASSWORD)


def test_password_change_refuses_a_short_password(client, customer_admin):
    client.force_login(customer_admin)

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": TEST_PASSWORD, "new_password1": SHORT_PASSWORD, "new_password2": SHORT_PASSWORD},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    assert User.objects.get(pk=customer_admin.pk).check_password(TEST_PASSWORD)


def test_password_change_needs_the_old_password(client, customer_admin):
    client.force_login(customer_admin)

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": WRONG_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors


def test_password_reset_e_mail_link_sets_a_new_password(client, customer_admin):
    response = client.post(reverse("accounts:password_reset"), {"email": customer_admin.email})
    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [customer_admin.email]
    link = link_in(mail.outbox[0])

    refused = choose_password(client, link, SHORT_PASSWORD)
    assert refused.status_code == 200
    assert refused.context["form"].errors["new_password2"]

    accepted = client.post(refused.wsgi_request.path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert accepted.status_code == 302
    assert accepted.url == reverse("accounts:password_reset_complete")

    signed = client.post(reverse("accounts:login"), {"username": customer_admin.email, "password": NEW_PASSWORD})
    assert signed.status_code == 302


def test_password_reset_link_works_only_once(client, customer_admin):
    client.post(reverse("accounts:password_reset"), {"email": customer_admin.email})
    link = link_in(mail.outbox[0])
    choose_password(client, link, NEW_PASSWORD)

    response = client.get(link)

    assert response.status_code == 200
    assert response.context["validlink"] is False


def test_password_reset_for_an_unknown_address_sends_nothing_and_looks_the_same(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@nowhere.example"})

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_password_reset_sends_nothing_to_an_inactive_user(client, customer_admin):
    User.objects.filter(pk=customer_admin.pk).update(is_active=False)

    client.post(reverse("accounts:password_reset"), {"email": customer_admin.email})

    assert mail.outbox == []


# Member management


def test_customer_admin_lists_only_their_own_organisations_users(client, customer_admin, other_admin, provider_admin):
    client.force_login(customer_admin)

    response = client.get(reverse("accounts:member_list"))

    assert response.status_code == 200
    assert customer_admin.email in response.text
    assert other_admin.email not in response.text
    assert provider_admin.email not in response.text


def test_member_csv_export_holds_only_the_admins_organisation(client, customer_admin, other_admin):
    client.force_login(customer_admin)

    response = client.get(reverse("accounts:member_list"), {"format": "csv"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")

    assert customer_admin.email in body
    assert other_admin.email not in body
    assert "Customer admin" in body


def add_member(client, organisation, **fields):
    data = {"organisation": organisation.pk, "email": "new.person@acme.example", "role": Role.CUSTOMER_VIEWER}
    data.update(fields)
    return client.post(reverse("accounts:member_create"), data)


def test_customer_admin_adds_a_user_who_is_invited_to_choose_a_password(client, customer_admin, customer):
    client.force_login(customer_admin)

    response = add_member(client, customer, first_name="Jiro", last_name="Suzuki")

    assert response.status_code == 302
    assert response.url == reverse("accounts:member_list")
    user = User.objects.get(email="new.person@acme.example")
    assert not user.has_usable_password()
    assert (user.membership.organisation, user.membership.role) == (customer, Role.CUSTOMER_VIEWER)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@acme.example"]

    client.logout()
    assert choose_password(client, link_in(mail.outbox[0]), NEW_PASSWORD).status_code == 302
    signed = client.post(reverse("accounts:login"), {"username": user.email, "password": NEW_PASSWORD})
    assert signed.status_code == 302


def test_invited_user_whose_link_expired_can_ask_for_a_new_one(client, customer_admin, customer):
    client.force_login(customer_admin)
    add_member(client, customer)
    client.logout()
    mail.outbox.clear()

    client.post(reverse("accounts:password_reset"), {"email": "new.person@acme.example"})

    assert len(mail.outbox) == 1
    assert choose_password(client, link_in(mail.outbox[0]), NEW_PASSWORD).status_code == 302
    assert User.objects.get(email="new.person@acme.example").check_password(NEW_PASSWORD)


def test_customer_admin_cannot_give_a_provider_role(client, customer_admin, customer):
    client.force_login(customer_admin)

    response = add_member(client, customer, role=Role.PROVIDER_ADMIN)

    assert response.status_code == 200
    assert "role" in response.context["form"].errors
    assert not User.objects.filter(email="new.person@acme.example").exists()
    assert mail.outbox == []


def test_customer_admin_cannot_add_a_user_to_another_organisation(client, customer_admin, other_customer):
    client.force_login(customer_admin)

    response = add_member(client, other_customer)

    assert response.status_code == 200
    assert "organisation" in response.context["form"].errors
    assert not User.objects.filter(email="new.person@acme.example").exists()


def test_adding_a_user_with_a_taken_e_mail_is_a_form_error(client, customer_admin, customer, other_admin):
    client.force_login(customer_admin)

    response = add_member(client, customer, email=other_admin.email.upper())

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [str(EMAIL_TAKEN)]
    assert mail.outbox == []


def test_provider_admin_gets_a_form_error_for_a_customer_role_in_the_provider(client, provider_admin, provider):
    client.force_login(provider_admin)

    response = add_member(client, provider, email="desk@provider.example", role=Role.CUSTOMER_ADMIN)

    assert response.status_code == 200
    assert response.context["form"].errors["role"]
    assert not User.objects.filter(email="desk@provider.example").exists()


def deactivate(client, user, active: str = "0"):
    return client.post(reverse("accounts:member_active", args=[user.membership.pk]), {"active": active}, follow=True)


def test_customer_admin_deactivates_a_user_who_is_signed_out_at_once(client, customer_admin, customer, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    viewer_client = Client()
    viewer_client.force_login(viewer)
    client.force_login(customer_admin)

    response = deactivate(client, viewer)

    assert response.status_code == 200
    assert not User.objects.get(pk=viewer.pk).is_active
    assert viewer_client.get(reverse("portal:dashboard")).status_code == 302
    reactivated = deactivate(client, viewer, active="1")
    assert reactivated.status_code == 200
    assert User.objects.get(pk=viewer.pk).is_active


def test_customer_admin_cannot_deactivate_themselves(client, customer_admin):
    client.force_login(customer_admin)

    response = deactivate(client, customer_admin)

    assert response.status_code == 200
    assert str(CANNOT_DEACTIVATE_SELF) in [str(message) for message in response.context["messages"]]
    assert User.objects.get(pk=customer_admin.pk).is_active


def test_deactivating_another_tenants_member_is_a_404(client, customer_admin, other_admin):
    client.force_login(customer_admin)

    response = client.post(reverse("accounts:member_active", args=[other_admin.membership.pk]), {"active": "0"})

    assert response.status_code == 404
    assert User.objects.get(pk=other_admin.pk).is_active


def test_deactivating_an_unknown_member_is_a_404(client, customer_admin):
    client.force_login(customer_admin)
    missing = Membership.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000

    assert client.post(reverse("accounts:member_active", args=[missing]), {"active": "0"}).status_code == 404


@pytest.mark.parametrize("role", [Role.CUSTOMER_VIEWER, Role.CUSTOMER_OPERATOR])
def test_customer_roles_without_user_management_get_404_on_user_pages(
    client, customer, make_member, role, customer_admin
):
    user = make_member(customer, role)
    client.force_login(user)

    assert client.get(reverse("accounts:member_list")).status_code == 404
    assert client.get(reverse("accounts:member_create")).status_code == 404
    assert add_member(client, customer).status_code == 404
    response = client.post(reverse("accounts:member_active", args=[customer_admin.membership.pk]), {"active": "0"})
    assert response.status_code == 404
    assert User.objects.get(pk=customer_admin.pk).is_active


def test_user_without_membership_is_refused(client):
    client.force_login(UserFactory())

    assert client.get(reverse("accounts:member_list")).status_code == 403
    assert client.get(reverse("assets:asset_list")).status_code == 403


def test_user_without_membership_is_told_why_on_the_dashboard(client, asset):
    client.force_login(UserFactory())

    response = client.get(reverse("portal:dashboard"), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "not a member of any organisation" in response.text
    assert response.context["tiles"] == []
    assert asset.serial_number not in response.text


def test_user_of_a_deactivated_organisation_sees_no_figures(client, customer, customer_admin, asset):
    type(customer).objects.filter(pk=customer.pk).update(is_active=False)
    client.force_login(customer_admin)

    response = client.get(reverse("portal:dashboard"))

    assert response.status_code == 200
    assert response.context["tiles"] == []
    assert client.get(reverse("assets:asset_detail", args=[asset.pk])).status_code == 403


def test_dashboard_shows_an_account_manager_only_their_customers(client, provider, customer, other_customer):
    from accounts.tests.factories import member as make

    manager = make(provider, Role.ACCOUNT_MANAGER)
    customer.account_managers.add(manager)
    client.force_login(manager)
    tiles = {tile.template_name: tile.context for tile in client.get(reverse("portal:dashboard")).context["tiles"]}
    customers = tiles["accounts/_dashboard_tiles.html"]
    assert customers["count"] == 1
    assert [c.pk for c in customers["largest"]] == [customer.pk]


def test_dashboard_has_no_customer_tile_for_customer_users(client, customer_admin):
    client.force_login(customer_admin)
    names = [tile.template_name for tile in client.get(reverse("portal:dashboard")).context["tiles"]]
    assert "accounts/_dashboard_tiles.html" not in names

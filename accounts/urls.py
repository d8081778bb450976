"""Portal URLs of accounts: sign-in, passwords, organisations and users."""

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/done/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("organisations/", views.OrganisationListView.as_view(), name="organisation_list"),
    path("organisations/<int:pk>/", views.OrganisationDetailView.as_view(), name="organisation_detail"),
    path("users/", views.MemberListView.as_view(), name="member_list"),
    path("users/add/", views.MemberCreateView.as_view(), name="member_create"),
    path("users/<int:pk>/active/", views.MemberActiveView.as_view(), name="member_active"),
]

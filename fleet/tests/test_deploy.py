"""Production readiness: `check --deploy` with production-like settings, security headers, migrations in step."""

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.urls import reverse

MANAGE = str(settings.BASE_DIR / "manage.py")
PRINT_SETTINGS = """
import json
import django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "MIDDLEWARE": s.MIDDLEWARE,
    "SECURE_CSP": {key: [str(value) for value in values] for key, values in s.SECURE_CSP.items()},
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "SESSION_COOKIE_HTTPONLY": s.SESSION_COOKIE_HTTPONLY,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": s.SECURE_HSTS_SECONDS,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": s.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "SECURE_CONTENT_TYPE_NOSNIFF": s.SECURE_CONTENT_TYPE_NOSNIFF,
    "X_FRAME_OPTIONS": s.X_FRAME_OPTIONS,
    "PASSWORD_HASHERS": s.PASSWORD_HASHERS,
    "AUTHENTICATION_BACKENDS": s.AUTHENTICATION_BACKENDS,
    "MAIL_BACKEND": s.MAILERS["default"]["BACKEND"],
    "STATICFILES_BACKEND": s.STORAGES["staticfiles"]["BACKEND"],
}))
"""


def clean_environment(**variables: str) -> dict[str, str]:
    """The process environment without the project's variables (the test settings set some), plus ``variables``."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(variables)
    return env


def production_environment() -> dict[str, str]:
    return clean_environment(
        DJANGO_SETTINGS_MODULE="fleet.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="fleet.example.com",
        STATIC_MANIFEST="1",
    )


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def production_settings() -> dict:
    result = run(["-c", PRINT_SETTINGS], production_environment())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_passes_without_warnings_in_production_configuration():
    result = run([MANAGE, "check", "--deploy", "--fail-level", "WARNING"], production_environment())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_configuration_turns_debug_off_and_secures_cookies(production_settings):
    assert production_settings["DEBUG"] is False
    assert production_settings["SESSION_COOKIE_SECURE"] is True
    assert production_settings["SESSION_COOKIE_HTTPONLY"] is True
    assert production_settings["CSRF_COOKIE_SECURE"] is True
    assert production_settings["SECURE_SSL_REDIRECT"] is True
    assert production_settings["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert production_settings["X_FRAME_OPTIONS"] == "DENY"


def test_production_configuration_sends_hsts_for_a_year_or_more(production_settings):
    assert production_settings["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert production_settings["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True


def test_production_configuration_enforces_a_content_security_policy(production_settings):
    middleware = production_settings["MIDDLEWARE"]
    csp = production_settings["SECURE_CSP"]

    assert "django.middleware.csp.ContentSecurityPolicyMiddleware" in middleware
    assert csp["script-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in source for sources in csp.values() for source in sources)


def test_production_configuration_hashes_passwords_with_argon2_and_locks_out_by_axes(production_settings):
    assert production_settings["PASSWORD_HASHERS"][0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert production_settings["AUTHENTICATION_BACKENDS"][0] == "axes.backends.AxesStandaloneBackend"
    assert "axes.middleware.AxesMiddleware" in production_settings["MIDDLEWARE"]


def test_production_configuration_sends_real_mail_and_serves_hashed_static_files(production_settings):
    assert production_settings["MAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert production_settings["STATICFILES_BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_argon2_is_installed_for_the_production_hasher():
    from django.contrib.auth.hashers import Argon2PasswordHasher

    assert Argon2PasswordHasher().library == "argon2"
    assert Argon2PasswordHasher()._load_library().__name__ == "argon2"


@pytest.mark.parametrize("secret_key", [None, ""])
def test_missing_secret_key_with_debug_off_is_an_error(secret_key):
    env = production_environment()
    del env["SECRET_KEY"]
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key

    result = run(["-c", "import django; django.setup()"], env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_debug_without_secret_key_runs_the_demo():
    env = clean_environment(DJANGO_SETTINGS_MODULE="fleet.settings", DEBUG="1")

    result = run(["-c", PRINT_SETTINGS], env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["DEBUG"] is True


def test_migrations_are_in_step_with_the_models():
    env = clean_environment(DJANGO_SETTINGS_MODULE="fleet.test_settings")

    result = run([MANAGE, "makemigrations", "--check", "--dry-run"], env)

    assert result.returncode == 0, result.stdout + result.stderr


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["accounts:login", "portal:dashboard"])
def test_portal_pages_carry_a_csp_without_inline_scripts(client, customer_admin, url_name):
    client.force_login(customer_admin)

    response = client.get(reverse(url_name), follow=True)

    assert response.status_code == 200
    directives = csp_directives(response["Content-Security-Policy"])
    scripts = directives.get("script-src", directives["default-src"])
    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts
    assert scripts == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_portal_pages_have_no_inline_scripts_or_handlers(client, customer_admin):
    client.force_login(customer_admin)

    text = client.get(reverse("portal:dashboard")).text

    assert "<script>" not in text
    assert " onclick=" not in text and " onchange=" not in text
    assert all('src="' in tag for tag in text.split("<script")[1:])

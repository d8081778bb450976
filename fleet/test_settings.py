"""Settings for the test suite: the project's settings with a fast password hasher and no HTTPS redirect."""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-key-not-used-anywhere-else-0123456789abcdef")
os.environ.setdefault("STATIC_MANIFEST", "0")

from fleet.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False
CELERY_TASK_ALWAYS_EAGER = True
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

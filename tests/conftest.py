import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Uploaded files go to a per-test folder, never into the checkout."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TELEMED_ALLOW_AUDIT_PURGE = True


def pytest_configure(config):
    settings.TELEMED_ALLOW_AUDIT_PURGE = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def on_postgresql():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL (CI does)")

"""System checks for the facilities app's settings (a bad value fails loudly at start-up)."""

from django.conf import settings
from django.core import checks

from .choices import PracticeScope


@checks.register(checks.Tags.compatibility)
def ecg_scopes_known(app_configs=None, **kwargs):
    """``TELEMED_ECG_SCOPES`` names scopes of practice that exist (JL-P5)."""
    unknown = [s for s in settings.TELEMED_ECG_SCOPES if s not in PracticeScope.values]
    if unknown or not settings.TELEMED_ECG_SCOPES:
        return [
            checks.Error(
                f"TELEMED_ECG_SCOPES={settings.TELEMED_ECG_SCOPES!r}: each must be a PracticeScope code, e.g. imaging,internal",
                id="facilities.E001",
            )
        ]
    return []

"""The test suite's settings: the portal's own (telemed/settings.py), served over plain http.

The test client and the browser tests speak plain http to a local server, so the suite opts out of
HTTPS-only explicitly (TELEMED_ALLOW_HTTP, JL-A2) — here, before the settings are read, and for
every process the tests start. tests/telemed/test_http_hardening.py checks the production defaults.
"""

import os

os.environ["TELEMED_ALLOW_HTTP"] = "1"

from telemed.settings import *  # noqa: E402, F403

# The webhook tests' receiver listens on 127.0.0.1 (tests/telemed/test_webhooks.py).
TELEMED_WEBHOOK_ALLOW_PRIVATE = True

# Issue 11 (docs/scaling.md): a second database standing in for the dashboards' read replica. It is
# created only for the tests that ask for it (tests/telemed/test_scaling.py), never mirrored, so
# those tests see which database each read really went to.
DATABASES["replica"] = {  # noqa: F405
    **DATABASES["default"],  # noqa: F405
    # Tables straight from the models (no migrations): faster, and the rollups are all it needs.
    "TEST": {"MIGRATE": False, "NAME": None if DATABASES["default"]["ENGINE"].endswith("sqlite3")  # noqa: F405
             else f"test_{DATABASES['default']['NAME']}_replica"},  # noqa: F405
}

# JL-A1, issue 11: a test's transaction never commits, so events are chained inside the writer's
# transaction; the sequencer's own tests switch to "worker" (tests/audit/test_sequencer.py).
TELEMED_AUDIT_SEQUENCER = "inline"

"""schemathesis hooks for tests/telemed/test_api_fuzz.py (loaded through ``SCHEMATHESIS_HOOKS``).

``Idempotency-Key``: a partner sends a fresh key per distinct request and the same key only when it
retries that request; the same key with another body is the documented 422 ``idempotency_key_reused``.
The fuzzer draws keys from a small space (``"0"`` again and again), so a well-formed key is made unique
per call: the fuzzer then asks what a partner would ask. A malformed key (the negative cases) is sent as
drawn, so that its refusal is still checked.
"""

import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and WELL_FORMED.fullmatch(value):
            headers[name] = f"fuzz-{uuid.uuid4().hex}"

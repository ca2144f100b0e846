"""A fixed-window rate limit per client address, counted in the default cache (JL-O6's public pages).

``over_limit(scope, request, rate="5/hour")`` counts this request and says whether it is one too
many. The window is the current period of ``timezone.now()`` (so tests move it with time-machine).
With a per-process cache (the default ``LocMemCache``) each worker process counts on its own; set a
shared cache (Redis) in production for one count per address.
"""

from __future__ import annotations

from django.core.cache import cache
from django.utils import timezone

from .context import client_ip


def parse_rate(value: str) -> tuple[int, int]:
    count, _slash, unit = value.replace(" ", "").partition("/")
    return int(count), {"minute": 60, "hour": 3600, "day": 86400}[unit]


def over_limit(scope: str, request, *, rate: str) -> bool:
    limit, period = parse_rate(rate)
    window = int(timezone.now().timestamp()) // period
    key = f"telemed:ratelimit:{scope}:{client_ip(request) or 'unknown'}:{window}"
    cache.add(key, 0, timeout=period + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=period + 60)
        count = 1
    return count > limit

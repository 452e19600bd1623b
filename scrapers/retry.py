"""Pure helpers of polite clients: Retry-After, backoff with full jitter, X-Robots-Tag opt-outs.

Kept free of I/O and clocks (the caller passes ``now`` and a random source) so each rule is a
table-driven test.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# the directives img2dataset honours by default: an image marked so is not fetched for datasets
OPT_OUT_DIRECTIVES = frozenset({"noai", "noimageai", "noindex", "noimageindex", "none"})


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)].

    Full jitter spreads the retries of many failed URLs instead of sending them back together.
    """
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    return (rng or random).uniform(0.0, ceiling)


def opt_out(header_values: Iterable[str], agent: str) -> str | None:
    """The X-Robots-Tag directive that opts this image out for ``agent``, or None.

    A value may name a user agent (``otherbot: noindex``); such a value only binds that agent.
    """
    for value in header_values:
        scope, _, rest = value.partition(":")
        directives = value
        if rest and " " not in scope.strip() and scope.strip().lower() not in OPT_OUT_DIRECTIVES:
            if scope.strip().lower() not in (agent.lower(), "*"):
                continue
            directives = rest
        for directive in directives.split(","):
            token = directive.strip().lower()
            if token in OPT_OUT_DIRECTIVES:
                return token
    return None

"""Per-host politeness for the downloader: a concurrency cap and a token bucket per host.

Defaults follow each service's published etiquette: upload.wikimedia.org at most 2 concurrent
fetches; Flickr's static image hosts a few (image fetches are not API calls); any other host,
review sites included, one connection and one request a second. A 429 or 503 pauses the host
for its Retry-After (or a growing backoff when it gives none), so a refusing host is left alone
instead of being hammered by the other workers. A caller that will not wait that long passes
``slot(max_pause=...)``: a longer pause raises ``HostPaused`` instead of sleeping it out, so the
task can be handed back with its time.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from scrapers.retry import backoff_delay


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Limits for hosts matching ``pattern`` (a glob on ``host`` or ``host:port``)."""

    pattern: str
    concurrency: int
    rate: float  # requests per second; math.inf for none
    burst: int = 1

    def matches(self, host: str, port: int | None) -> bool:
        return fnmatch.fnmatch(host, self.pattern) or (
            port is not None and fnmatch.fnmatch(f"{host}:{port}", self.pattern))


DEFAULT_POLICIES = (
    HostPolicy("upload.wikimedia.org", concurrency=2, rate=5.0, burst=2),
    HostPolicy("*.staticflickr.com", concurrency=4, rate=10.0, burst=4),
    HostPolicy("*", concurrency=1, rate=1.0, burst=1),
)
UNLIMITED = HostPolicy("*", concurrency=1_000_000, rate=math.inf, burst=1)


def policy_for(host: str, port: int | None, policies: Sequence[HostPolicy]) -> HostPolicy:
    """The first policy that matches (user policies come before the defaults)."""
    for policy in policies:
        if policy.matches(host, port):
            return policy
    return DEFAULT_POLICIES[-1]


def share_policies(policies: Sequence[HostPolicy], downloaders: int) -> tuple[HostPolicy, ...]:
    """Each of ``downloaders`` parallel downloaders' part of the limits, so together they stay
    as polite to a host as one downloader would be (at least one request at a time each)."""
    if downloaders <= 1:
        return tuple(policies)
    return tuple(HostPolicy(p.pattern, max(1, p.concurrency // downloaders), p.rate / downloaders,
                            max(1, p.burst // downloaders)) for p in policies)


def parse_host_limit(text: str) -> HostPolicy:
    """``PATTERN=CONCURRENCY[:RATE]`` from the command line (RATE ``inf`` lifts the rate)."""
    pattern, sep, rest = text.partition("=")
    conc, _, rate = rest.partition(":")
    try:
        policy = HostPolicy(pattern.strip(), int(conc), float(rate) if rate else 1.0,
                            burst=max(1, int(conc)))
    except ValueError:
        policy = None
    if not sep or not pattern.strip() or policy is None or policy.concurrency < 1 or policy.rate <= 0:
        raise ValueError(f"bad host limit {text!r}: use PATTERN=CONCURRENCY[:RATE], "
                         "e.g. upload.wikimedia.org=2:5")
    return policy


class HostPaused(Exception):
    """The host asked for a longer pause than the caller waits: ``seconds`` until it ends."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the host asked to wait {seconds:.0f} s")
        self.seconds = seconds


class HostGate:
    """One host's semaphore, token bucket and pause; ``slot()`` waits for all three."""

    def __init__(self, policy: HostPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._sem = asyncio.Semaphore(policy.concurrency)
        self._tokens = float(policy.burst)
        self._stamp = clock()
        self._paused_until = 0.0
        self._refusals = 0
        self.active = 0
        self.peak = 0

    @asynccontextmanager
    async def slot(self, max_pause: float = math.inf) -> AsyncIterator[None]:
        async with self._sem:
            await self._take_token(max_pause)
            self.active += 1
            self.peak = max(self.peak, self.active)
            try:
                yield
            finally:
                self.active -= 1

    def refused(self, retry_after: float | None) -> float:
        """The host said 429/503: pause it; returns the pause in seconds."""
        self._refusals += 1
        pause = retry_after if retry_after is not None else backoff_delay(
            self._refusals, 1.0, 300.0, random.Random())
        self.hold(pause)
        return pause

    def hold(self, seconds: float) -> None:
        """Pause the host for ``seconds`` from now (or keep a longer pause it already has)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def paused_for(self) -> float:
        """Seconds until the host may be asked again (0 when it is not paused)."""
        return max(0.0, self._paused_until - self.clock())

    def succeeded(self) -> None:
        self._refusals = 0

    async def _take_token(self, max_pause: float) -> None:
        while True:
            now = self.clock()
            if now < self._paused_until:
                if self._paused_until - now > max_pause:
                    raise HostPaused(self._paused_until - now)
                await asyncio.sleep(self._paused_until - now)
                continue
            if math.isinf(self.policy.rate):
                return
            self._tokens = min(float(self.policy.burst),
                               self._tokens + (now - self._stamp) * self.policy.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / self.policy.rate)

"""Per-host politeness for the downloader: a concurrency cap, a request bucket and a byte bucket.

Defaults follow each service's published etiquette: upload.wikimedia.org at most 2 concurrent
fetches and 25 Mbps (its robot policy: 5 requests a second of 3-4 MB originals alone would be
~150 Mbps); Flickr's static image hosts a few (image fetches are not API calls); any other host,
review sites included, one connection and one request a second. The byte rate is paid while the
body streams (``HostGate.take_bytes``), by every connection to the host from one shared bucket,
so more connections never mean more bandwidth. A 429 or 503 pauses the host for its Retry-After
(or a growing backoff when it gives none), so a refusing host is left alone instead of being
hammered by the other workers.
A caller that will not wait that long passes ``slot(max_pause=...)``: a longer pause raises
``HostPaused`` instead of sleeping it out, so the task can be handed back with its time.
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

BYTES_PER_MEGABIT = 125_000
BYTE_BURST = 0.1  # seconds of a host's byte rate an idle bucket may save up


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Limits for hosts matching ``pattern`` (a glob on ``host`` or ``host:port``)."""

    pattern: str
    concurrency: int
    rate: float  # requests per second; math.inf for none
    burst: int = 1
    mbps: float = math.inf  # megabits per second of bodies, all connections together; inf for none

    @property
    def byte_rate(self) -> float:
        """Bytes per second (``mbps`` is in the unit hosts publish their limits in)."""
        return self.mbps * BYTES_PER_MEGABIT

    def matches(self, host: str, port: int | None) -> bool:
        return fnmatch.fnmatch(host, self.pattern) or (
            port is not None and fnmatch.fnmatch(f"{host}:{port}", self.pattern))


DEFAULT_POLICIES = (
    HostPolicy("upload.wikimedia.org", concurrency=2, rate=5.0, burst=2, mbps=25.0),
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
                            max(1, p.burst // downloaders), p.mbps / downloaders) for p in policies)


def parse_host_limit(text: str) -> HostPolicy:
    """``PATTERN=CONCURRENCY[:RATE[:MBPS]]`` from the command line.

    RATE is requests a second (1 when left out), MBPS megabits a second of bodies (no limit when
    left out); ``inf`` lifts either.
    """
    pattern, sep, rest = text.partition("=")
    parts = rest.split(":")
    policy = None
    if sep and pattern.strip() and len(parts) <= 3:
        conc, rate, mbps = [*parts, "", ""][:3]
        try:
            policy = HostPolicy(pattern.strip(), int(conc), _positive(rate, 1.0),
                                burst=max(1, int(conc)), mbps=_positive(mbps, math.inf))
        except ValueError:
            policy = None
    if policy is None or policy.concurrency < 1:
        raise ValueError(f"bad host limit {text!r}: use PATTERN=CONCURRENCY[:RATE[:MBPS]], "
                         "e.g. upload.wikimedia.org=2:5:25")
    return policy


def _positive(text: str, default: float) -> float:
    """A rate from the command line: a positive number or ``inf`` (``default`` when empty)."""
    if not text.strip():
        return default
    value = float(text)
    if math.isnan(value) or value <= 0:
        raise ValueError(text)
    return value
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
        self._bytes = 0.0  # the byte bucket starts empty: even a host's first file keeps its rate
        self._bytes_stamp = clock()
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

    async def take_bytes(self, n: int) -> None:
        """Pay for ``n`` bytes just received: sleep until the host's shared bucket is out of debt.

        Not reading is what slows the sender (TCP flow control), so a connection that waits here
        holds its share of the host's bandwidth down; a chunk larger than the bucket is simply
        paid off over a longer sleep.
        """
        rate = self.policy.byte_rate
        if math.isinf(rate):
            return
        now = self.clock()
        self._bytes = min(rate * BYTE_BURST, self._bytes + (now - self._bytes_stamp) * rate) - n
        self._bytes_stamp = now
        if self._bytes < 0:
            await asyncio.sleep(-self._bytes / rate)

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

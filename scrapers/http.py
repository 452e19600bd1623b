"""A polite, serial HTTP client for API and gallery pages (``requests``).

Scraping is a trickle of small requests, so it stays synchronous and serial: one request at a
time per client, at least ``min_interval`` seconds apart per host (or what the host's
robots.txt asks), Retry-After honoured on 429/503, exponential backoff with jitter on other transient
failures, and a host paused after repeated 429s. Clock and sleep are injectable for tests.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from scrapers.base import SourceError, one_line
from scrapers.retry import backoff_delay, parse_retry_after

TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Etiquette:
    """How gently to ask: spacing per host, retries, and how long any one wait may be."""

    min_interval: float = 1.0
    retries: int = 4
    backoff_base: float = 2.0
    backoff_cap: float = 120.0
    max_wait: float = 600.0
    timeout: float = 30.0


class PoliteClient:
    """GET with spacing and retries; every answer it returns has a non-error status."""

    def __init__(self, user_agent: str, etiquette: Etiquette | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.etiquette = etiquette or Etiquette()
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": user_agent, "Accept-Encoding": "gzip"})
        self.sleep, self.clock = sleep, clock
        self.requests = 0
        self._interval: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._paused: dict[str, float] = {}

    def set_interval(self, host: str, seconds: float) -> None:
        """Space requests to ``host`` this far apart: what its robots.txt asks, in place of the default."""
        self._interval[host] = max(0.0, seconds)

    def wait(self, seconds: float) -> None:
        """Sleep as asked by a server, but never longer than the etiquette's ``max_wait``."""
        if seconds > self.etiquette.max_wait:
            raise SourceError(f"the server asked to wait {seconds:.0f} s (more than "
                              f"{self.etiquette.max_wait:.0f} s): try again later", retryable=True)
        self.sleep(max(0.0, seconds))

    def get(self, url: str, params: Mapping[str, Any] | None = None,
            accept: Callable[[requests.Response], bool] | None = None) -> requests.Response:
        """GET ``url``; retry transient failures; raise ``SourceError`` when it cannot succeed.

        ``accept`` lets a caller treat a 4xx as an answer (robots.txt: 404 means "no rules").
        The error is ``retryable`` when the last failure was transient (network, 408/429/5xx),
        not when the server refused the request itself (403, 404...).
        """
        host = urlsplit(url).netloc
        last, transient = "no attempt", True
        for attempt in range(self.etiquette.retries + 1):
            self._space(host)
            try:
                response = self.session.get(url, params=params, timeout=self.etiquette.timeout)
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}"
                if attempt < self.etiquette.retries:
                    self.sleep(self._backoff(attempt))
                continue
            if response.ok or (accept is not None and accept(response)):
                return response
            last = f"HTTP {response.status_code}"
            if response.status_code not in TRANSIENT:
                transient = False
                break
            self._after_refusal(host, response, attempt)
        raise SourceError(one_line(f"GET {_public(url)} failed: {last}"), retryable=transient)

    def _after_refusal(self, host: str, response: requests.Response, attempt: int) -> None:
        """Wait as the server asks (Retry-After) or back off; a 429 also pauses the host."""
        delay = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        if delay is None:
            delay = self._backoff(attempt)
        if response.status_code == 429:
            self._paused[host] = max(self._paused.get(host, 0.0), self.clock() + delay)
        if attempt < self.etiquette.retries:
            self.wait(delay)

    def _space(self, host: str) -> None:
        """Wait until the host's spacing (as it is now: robots.txt may have changed it) has passed."""
        interval = self._interval.get(host, self.etiquette.min_interval)
        due = max(self._last.get(host, float("-inf")) + interval, self._paused.get(host, 0.0))
        now = self.clock()
        if due > now:
            self.sleep(due - now)
        self._last[host] = self.clock()
        self.requests += 1

    def _backoff(self, attempt: int) -> float:
        e = self.etiquette
        return backoff_delay(attempt, e.backoff_base, e.backoff_cap, random.Random())


def _public(url: str) -> str:
    """A URL without its query (which may hold parameters a user would not want echoed)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"

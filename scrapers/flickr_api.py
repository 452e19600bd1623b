"""Calling the Flickr REST API through ``flickrapi``: counted, budgeted, retried, secret-safe.

Every request is an API call against the key's hourly quota (3,600), so each one is counted,
and a sliding one-hour window makes the caller wait before it would exceed the budget (calls of
earlier runs in the last hour are passed in from the catalog). flickrapi itself neither throttles
nor retries; this wrapper retries transient failures (HTTP errors, ``stat: fail`` with a
service-unavailable code) and turns the rest into one-line ``SourceError``\\s with the key and
secret redacted: a server (or a proxy) may echo them. A missing key or an impossible budget is
the user's to fix: a ``ConfigError``, never retried.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.errors import ConfigError
from scrapers.base import SourceError, one_line, redact
from scrapers.retry import backoff_delay

HOUR = 3600.0
# stat:fail codes that mean "try again later" (service unavailable, search unavailable, write failed)
TRANSIENT_CODES = frozenset({0, 10, 105, 106, 201})


@dataclass(frozen=True, slots=True)
class FlickrCredentials:
    """Key and secret, from FLICKR_API_KEY / FLICKR_API_SECRET only. ``repr`` never shows them."""

    key: str
    secret: str

    def __repr__(self) -> str:
        return "FlickrCredentials(key=[redacted], secret=[redacted])"

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> FlickrCredentials:
        key, secret = environ.get("FLICKR_API_KEY", ""), environ.get("FLICKR_API_SECRET", "")
        if not key.strip() or not secret.strip():
            raise ConfigError("set FLICKR_API_KEY and FLICKR_API_SECRET (a Flickr API key) to scrape "
                              "Flickr: https://www.flickr.com/services/apps/create/")
        return cls(key.strip(), secret.strip())


class CallBudget:
    """At most ``per_hour`` calls in any sliding hour; ``wait`` sleeps until one is free.

    Earlier calls (other runs') come in as ``ages``, seconds since each was made, so each leaves
    the window an hour after it was made; ``already_used`` calls count as made just now.
    """

    def __init__(self, per_hour: int, already_used: int = 0, *,
                 ages: Iterable[float] = (),
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if per_hour < 1:
            raise ConfigError("the Flickr API budget must be at least 1 call per hour")
        self.per_hour, self.clock, self.sleep = per_hour, clock, sleep
        now = clock()
        earlier = sorted(now - age for age in ages) + [now] * already_used
        self._calls: deque[float] = deque(earlier[-per_hour:])

    def wait(self, notice: Callable[[str], None] | None = None) -> None:
        now = self.clock()
        while self._calls and self._calls[0] <= now - HOUR:
            self._calls.popleft()
        if len(self._calls) >= self.per_hour:
            pause = self._calls[0] + HOUR - now
            if notice:
                notice(f"flickr: API budget of {self.per_hour} calls/hour reached; "
                       f"waiting {pause:.0f} s")
            self.sleep(pause)
            self._calls.popleft()
        self._calls.append(self.clock())


class FlickrCaller:
    """``call(method, **params)`` → parsed JSON, through flickrapi's OAuth-signed POST."""

    def __init__(self, credentials: FlickrCredentials, budget: CallBudget, *, endpoint: str | None,
                 timeout: float = 30.0, retries: int = 3, backoff_base: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep,
                 notice: Callable[[str], None] | None = None) -> None:
        import flickrapi

        # flickrapi logs whole error bodies; nothing of it may reach a terminal or a log file
        logging.getLogger("flickrapi").disabled = True
        self._api = flickrapi.FlickrAPI(credentials.key, credentials.secret, format="parsed-json",
                                        store_token=False, cache=False, timeout=timeout)
        if endpoint:
            self._api.REST_URL = endpoint
        self._secrets = (credentials.key, credentials.secret)
        self.budget, self.retries, self.backoff_base = budget, retries, backoff_base
        self.sleep, self.notice = sleep, notice
        self.calls = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        from flickrapi.exceptions import FlickrError
        from requests import RequestException

        last, transient = "", True
        for attempt in range(self.retries + 1):
            self.budget.wait(self.notice)
            self.calls += 1
            try:
                return self._api.do_flickr_call(method, **params)
            except FlickrError as exc:
                last = str(exc)
                if exc.code is not None and exc.code not in TRANSIENT_CODES:
                    transient = False  # the API refused the request itself (e.g. 100: invalid key)
                    break
            except (RequestException, ValueError) as exc:
                last = type(exc).__name__
            if attempt < self.retries:
                self.sleep(backoff_delay(attempt, self.backoff_base, 60.0, random.Random()))
        raise SourceError(one_line(redact(f"flickr {method} failed: {last}", self._secrets)),
                          retryable=transient)

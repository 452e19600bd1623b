"""Calling the Flickr REST API through ``flickrapi``: counted, budgeted, retried, secret-safe.

Every request is an API call against the key's hourly quota (3,600), so each one is counted,
and a sliding one-hour window makes the caller wait before it would exceed the budget (calls of
earlier runs in the last hour are passed in from the catalog). flickrapi itself neither throttles
nor retries; this wrapper retries transient failures (HTTP errors, ``stat: fail`` with a
service-unavailable code) and turns the rest into one-line ``SourceError``\\s with the key and
secret redacted: a server (or a proxy) may echo them. A missing key or an impossible budget is
the user's to fix: a ``ConfigError``, never retried.

flickrapi logs every non-200 answer's body at ERROR level, through per-class child loggers
(``flickrapi.auth.OAuthFlickrInterface``, ...) that a parent's ``disabled`` flag does not stop,
and a server that echoes the request puts the key in that body; requests-oauthlib and oauthlib
log the signed request itself at DEBUG. So those logger trees are cut off at their roots
(``silence_flickrapi``), and nothing of an exception but its
type, or a message with every form of the secrets redacted, leaves this module.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigError
from scrapers.base import SourceError, one_line, redact
from scrapers.retry import backoff_delay

if TYPE_CHECKING:
    from collections.abc import Iterable

HOUR = 3600.0
# stat:fail codes that mean "try again later" (service unavailable, search unavailable, write failed)
TRANSIENT_CODES = frozenset({0, 10, 105, 106, 201})
# HTTP statuses a later attempt may get past; any other non-200 is the request's own fault
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_STATUS = re.compile(r"Status code (\d{3}) received")
# flickrapi logs answers at ERROR; the OAuth layers under it log the signed request at DEBUG
SECRET_LOGGERS = ("flickrapi", "requests_oauthlib", "oauthlib")


def silence_flickrapi() -> None:
    """Keep every record of flickrapi's and its OAuth layers' loggers from any handler.

    Records of a child logger propagate to its ancestors' handlers whatever the ancestors'
    ``disabled`` flags say, so each tree's root gets a level above CRITICAL (children without
    a level of their own inherit it), a handler that drops everything and no propagation
    (records that get past a child's own level stop there).
    """
    for name in SECRET_LOGGERS:
        root = logging.getLogger(name)
        root.setLevel(logging.CRITICAL + 1)
        root.propagate = False
        if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
            root.addHandler(logging.NullHandler())


def secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret as a server might echo it: as is, percent-encoded, form-encoded."""
    from urllib.parse import quote, quote_plus

    forms = {form for s in secrets if s for form in (s, quote(s, safe=""), quote_plus(s))}
    return tuple(sorted(forms, key=len, reverse=True))  # longest first: no half-redacted form


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

        silence_flickrapi()  # it logs whole error bodies: nothing of them may reach any output
        self._api = flickrapi.FlickrAPI(credentials.key, credentials.secret, format="parsed-json",
                                        store_token=False, cache=False, timeout=timeout)
        if endpoint:
            self._api.REST_URL = endpoint
        self._secrets = secret_forms((credentials.key, credentials.secret))
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
                if not _may_pass_later(exc.code, last):
                    transient = False  # the API refused the request itself (e.g. 100: invalid key)
                    break
            except RequestException as exc:  # its text names the URL, which may carry a key
                last = type(exc).__name__
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # flickrapi reading an answer that is not Flickr's JSON (a proxy's page, a list)
                last = f"unreadable answer ({type(exc).__name__})"
            if attempt < self.retries:
                self.sleep(backoff_delay(attempt, self.backoff_base, 60.0, random.Random()))
        raise SourceError(one_line(redact(f"flickr {method} failed: {last}", self._secrets)),
                          retryable=transient)


def _may_pass_later(code: int | None, message: str) -> bool:
    """Whether a ``FlickrError`` is worth another attempt: a transient ``stat: fail`` code, or
    an HTTP status a retry may get past (flickrapi gives no code for those, only its message)."""
    if code is not None:
        return code in TRANSIENT_CODES
    status = _STATUS.search(message)
    return status is None or int(status[1]) in TRANSIENT_STATUSES

"""What one HTTP answer means for a download: status, headers, redirects, client errors.

Pure functions of an aiohttp response (and the host's gate, which a refusal pauses), kept apart
from ``scrapers.download``'s scheduling so each can be read on its own. Every ``Problem`` carries
its ``FailureReason`` code, which the catalog counts and caps attempts by.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from yarl import URL

from pipeline.records import DownloadDeferral, DownloadTask, FailureReason
from scrapers.base import one_line
from scrapers.fetch import FetchOptions, Problem
from scrapers.limits import HostGate
from scrapers.retry import parse_retry_after

JPEG_TYPES = frozenset({"image/jpeg", "image/jpg", "image/pjpeg", "application/octet-stream",
                        "binary/octet-stream", ""})
REFUSALS = frozenset({429, 503})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def redirect_target(resp: aiohttp.ClientResponse) -> URL | None:
    """Where a redirect points (relative to the URL asked), or None for any other answer."""
    location = resp.headers.get("Location")
    if resp.status not in REDIRECTS or not location:
        return None
    try:
        return resp.url.join(URL(location))
    except ValueError:
        raise Problem(one_line(f"invalid redirect Location {location[:80]!r}"), permanent=True,
                      code=FailureReason.REDIRECT) from None


def deferral(task: DownloadTask, why: str, seconds: float) -> DownloadDeferral:
    return DownloadDeferral(task.key, f"not tried: {why} {seconds:.0f} s",
                            datetime.now(UTC) + timedelta(seconds=seconds))


def check_status(resp: aiohttp.ClientResponse, gate: HostGate) -> None:
    if resp.status in (200, 206):  # a 206 only answers our Range (scrapers.resume checks it)
        return
    reason = f"HTTP {resp.status} {resp.reason or ''}".strip()
    if resp.status in REFUSALS:
        wish = parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC))
        gate.refused(wish)  # the host pauses; the URL waits its Retry-After, or its own backoff
        raise Problem(reason, retry_after=wish, code=FailureReason.REFUSED)
    if resp.status == 416:  # the kept bytes were dropped: the next attempt starts over
        raise Problem(f"{reason} (the range asked for)", code=FailureReason.CUT_SHORT)
    raise Problem(reason, permanent=400 <= resp.status < 500 and resp.status not in (408, 425),
                  code=FailureReason.HTTP_ERROR)


def check_headers(resp: aiohttp.ClientResponse, opts: FetchOptions) -> int | None:
    """The declared length to check the body against (None when unknown or encoded)."""
    content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in JPEG_TYPES:
        # an HTML page where an image should be is often an outage or rate-limit page: retry it
        raise Problem(one_line(f"unexpected content type {content_type[:60]}"),
                      permanent=not content_type.startswith("text/"), code=FailureReason.WRONG_TYPE)
    declared = resp.content_length
    if declared is not None and declared > opts.max_bytes:
        raise Problem(f"declared {declared} bytes, over the {opts.max_bytes} byte cap", permanent=True,
                      code=FailureReason.TOO_BIG)
    encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    return None if encoded else declared


def problem_of(exc: BaseException, opts: FetchOptions) -> Problem:
    """What a client or socket error means for the next attempt (most specific first)."""
    code = FailureReason
    if isinstance(exc, aiohttp.TooManyRedirects):
        return Problem(f"redirect loop (more than {opts.max_redirects} redirects)", permanent=True,
                       code=code.REDIRECT)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Problem("body cut short (the connection closed before the end)", code=code.CUT_SHORT)
    if isinstance(exc, TimeoutError):
        return Problem("timed out waiting for the server", code=code.TIMEOUT)
    if isinstance(exc, aiohttp.InvalidURL):
        return Problem("invalid URL", permanent=True, code=code.BAD_URL)
    return Problem(one_line(f"connection failed ({type(exc).__name__})"), code=code.CONNECTION)

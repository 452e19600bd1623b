"""The downloader: claimed tasks in, typed results out, with aiohttp and per-host politeness.

Tasks are queued per host and each host gets at most its policy's number of runners, so a slow
or refusing host never blocks the others' workers; a global semaphore caps total concurrency.
Every request, a redirected one included, runs under its own host's gate (its concurrency,
request rate, pause and byte rate): redirects are followed here, hop by hop, and only to hosts
the task's source allows (``scrapers.hosts``).
The caller (``flows.stages.acquire``) feeds tasks lazily (claims from the catalog) and writes each
result as it arrives, which is what makes a killed download resumable.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from yarl import URL

from pipeline.records import CandidateSkip, DownloadDeferral, DownloadTask, Reason
from scrapers.base import AGENT, one_line, user_agent
from scrapers.fetch import FetchOptions, Incoming, Problem, Result, failure, fetch_local
from scrapers.hosts import CONTACT_MISSING, DEFAULT_RULES, HostRules
from scrapers.limits import DEFAULT_POLICIES, HostGate, HostPolicy, policy_for
from scrapers.retry import opt_out, parse_retry_after

CHUNK = 256 * 1024
JPEG_TYPES = frozenset({"image/jpeg", "image/jpg", "image/pjpeg", "application/octet-stream",
                        "binary/octet-stream", ""})
REFUSALS = frozenset({429, 503})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
LOCAL_SOURCE = "dir"
_END = object()


@dataclass(frozen=True, slots=True)
class DownloaderConfig:
    fetch: FetchOptions
    concurrency: int = 16
    policies: tuple[HostPolicy, ...] = DEFAULT_POLICIES
    user_agent: str = user_agent(None)
    defer_after: float = 60.0  # a host paused longer than this: its tasks are handed back
    hosts: HostRules = DEFAULT_RULES  # where redirects may lead, and which hosts want a contact


def host_key(url: str) -> tuple[str, int | None]:
    parsed = URL(url)
    return (parsed.host or "", parsed.port) if parsed.scheme != "file" else ("file", None)


class Downloader:
    """``batches(tasks)`` fetches every task and yields one result per task, as each finishes."""

    def __init__(self, config: DownloaderConfig) -> None:
        self.config = config
        self.gates: dict[tuple[str, int | None], HostGate] = {}

    def gate(self, host: tuple[str, int | None]) -> HostGate:
        if host not in self.gates:
            policy = policy_for(*host, self.config.policies) if host[0] != "file" else HostPolicy(
                "file", self.config.concurrency, float("inf"))
            self.gates[host] = HostGate(policy)
        return self.gates[host]

    async def batches(self, tasks: AsyncIterable[DownloadTask]) -> AsyncIterator[list[Result]]:
        """Results as they arrive: each batch holds what finished while the caller was busy
        with the previous one (one result when the caller keeps up), so writing a batch in one
        transaction loses nothing to batching and keeps up with fast hosts."""
        out: asyncio.Queue[Any] = asyncio.Queue()
        opts = self.config.fetch
        timeout = aiohttp.ClientTimeout(total=opts.total_timeout, connect=opts.connect_timeout,
                                        sock_read=opts.read_timeout)
        connector = aiohttp.TCPConnector(limit=self.config.concurrency, ttl_dns_cache=300)
        async with aiohttp.ClientSession(headers={"User-Agent": self.config.user_agent},
                                         timeout=timeout, connector=connector,
                                         trust_env=True) as session:
            producer = asyncio.create_task(self._produce(tasks, session, out))
            try:
                ended = False
                while not ended:
                    batch = [await out.get()]
                    while not out.empty():
                        batch.append(out.get_nowait())
                    ended = batch[-1] is _END
                    if results := [r for r in batch if r is not _END]:
                        yield results
                await producer
            finally:
                if not producer.done():
                    producer.cancel()
                    await asyncio.gather(producer, return_exceptions=True)

    async def _produce(self, tasks: AsyncIterable[DownloadTask], session: aiohttp.ClientSession,
                       out: asyncio.Queue[Any]) -> None:
        room = asyncio.Semaphore(2 * self.config.concurrency)
        total = asyncio.Semaphore(self.config.concurrency)
        queues: dict[tuple[str, int | None], deque[DownloadTask]] = {}
        runners: dict[tuple[str, int | None], int] = {}

        async def run_host(host: tuple[str, int | None]) -> None:
            gate, queue = self.gate(host), queues[host]
            while queue:
                task = queue.popleft()
                result: Result | None = self._defer(task, gate)
                if result is None:
                    result = await self._fetch(session, task, gate, total)
                await out.put(result)
                room.release()
            runners[host] -= 1

        try:
            iterator = aiter(tasks)
            async with asyncio.TaskGroup() as group:
                while True:
                    await room.acquire()
                    try:
                        task = await anext(iterator)
                    except StopAsyncIteration:
                        break
                    host = host_key(task.url)
                    queues.setdefault(host, deque()).append(task)
                    if runners.get(host, 0) < self.gate(host).policy.concurrency:
                        runners[host] = runners.get(host, 0) + 1
                        group.create_task(run_host(host))
        finally:
            await out.put(_END)

    def _defer(self, task: DownloadTask, gate: HostGate) -> DownloadDeferral | None:
        """Hand the task back, unattempted, when its host asked for a longer pause than we wait."""
        pause = gate.paused_for()
        if pause <= self.config.defer_after:
            return None
        return DownloadDeferral(task.key, f"not tried: the host asked to wait {pause:.0f} s",
                                datetime.now(UTC) + timedelta(seconds=pause))

    async def _fetch(self, session: aiohttp.ClientSession, task: DownloadTask, gate: HostGate,
                     total: asyncio.Semaphore) -> Result:
        opts = self.config.fetch
        if task.url.startswith("file:"):
            if task.key.source != LOCAL_SOURCE:  # a remote API must not make us read local files
                return failure(task, Problem("file URL from a remote source", permanent=True), opts,
                               datetime.now(UTC))
            async with gate.slot(), total:
                return await asyncio.to_thread(fetch_local, task, opts)
        try:
            return await self._fetch_http(session, task, total)
        except Problem as problem:
            return failure(task, problem, opts, datetime.now(UTC))
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            return failure(task, _problem_of(exc), opts, datetime.now(UTC))

    async def _fetch_http(self, session: aiohttp.ClientSession, task: DownloadTask,
                          total: asyncio.Semaphore) -> Result:
        """Request by request, each in its own host's gate: a redirect's target is checked
        against the source's hosts and then waits for its own host's limits (the hop before
        gave its slot back first, so two hosts redirecting to each other never deadlock)."""
        url: str | URL = task.url
        for _ in range(self.config.fetch.max_redirects + 1):
            if self.config.hosts.needs_contact(URL(url)):
                raise Problem(CONTACT_MISSING)
            gate = self.gate(host_key(str(url)))
            async with gate.slot(), total, session.get(url, allow_redirects=False) as resp:
                target = _redirect_target(resp)
                if target is None:
                    return await self._receive(resp, task, gate)
            refusal = self.config.hosts.redirect_refusal(task.key.source, URL(task.url), target)
            if refusal:
                raise Problem(refusal, permanent=True)
            url = target
        raise Problem(f"redirect loop (more than {self.config.fetch.max_redirects} redirects)",
                      permanent=True)

    async def _receive(self, resp: aiohttp.ClientResponse, task: DownloadTask, gate: HostGate) -> Result:
        opts = self.config.fetch
        _check_status(resp, gate)
        token = opt_out(resp.headers.getall("X-Robots-Tag", []), AGENT)
        if token:
            return CandidateSkip(task.key, Reason.OPT_OUT, f"X-Robots-Tag: {token}")
        declared = _check_headers(resp, opts)
        with Incoming(opts, bool(task.expected_sha1)) as sink:
            async for chunk in resp.content.iter_chunked(CHUNK):
                sink.write(chunk)
                await gate.take_bytes(len(chunk))  # the host's byte rate, shared by its connections
            sink.verify(task, declared)
            gate.succeeded()
            return await asyncio.to_thread(sink.commit, task, resp.content_type)


def _redirect_target(resp: aiohttp.ClientResponse) -> URL | None:
    """Where a redirect points (relative to the URL asked), or None for any other answer."""
    location = resp.headers.get("Location")
    if resp.status not in REDIRECTS or not location:
        return None
    try:
        return resp.url.join(URL(location))
    except ValueError:
        raise Problem(one_line(f"invalid redirect Location {location[:80]!r}"), permanent=True) from None


def _check_status(resp: aiohttp.ClientResponse, gate: HostGate) -> None:
    if resp.status == 200:
        return
    reason = f"HTTP {resp.status} {resp.reason or ''}".strip()
    if resp.status in REFUSALS:
        wish = parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC))
        gate.refused(wish)  # the host pauses; the URL waits its Retry-After, or its own backoff
        raise Problem(reason, retry_after=wish)
    raise Problem(reason, permanent=400 <= resp.status < 500 and resp.status not in (408, 425))


def _check_headers(resp: aiohttp.ClientResponse, opts: FetchOptions) -> int | None:
    """The declared length to check the body against (None when unknown or encoded)."""
    content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in JPEG_TYPES:
        # an HTML page where an image should be is often an outage or rate-limit page: retry it
        raise Problem(one_line(f"unexpected content type {content_type[:60]}"),
                      permanent=not content_type.startswith("text/"))
    declared = resp.content_length
    if declared is not None and declared > opts.max_bytes:
        raise Problem(f"declared {declared} bytes, over the {opts.max_bytes} byte cap", permanent=True)
    encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    return None if encoded else declared


def _problem_of(exc: BaseException) -> Problem:
    """What a client or socket error means for the next attempt (most specific first)."""
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Problem("body cut short (the connection closed before the end)")
    if isinstance(exc, TimeoutError):
        return Problem("timed out waiting for the server")
    if isinstance(exc, aiohttp.InvalidURL):
        return Problem("invalid URL", permanent=True)
    return Problem(one_line(f"connection failed ({type(exc).__name__})"))

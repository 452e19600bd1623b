"""The downloader: claimed tasks in, typed results out, with aiohttp and per-host politeness.

Tasks are queued per host and each host gets at most its policy's number of runners, so a slow
or refusing host never blocks the others' workers; a global semaphore caps total concurrency.
The caller (``flows.stages.acquire``) feeds tasks lazily (claims from the catalog) and writes each
result as it arrives, which is what makes a killed download resumable.

No task waits longer than ``defer_after`` (the stage caps it at ``--wait-retries``): a host that
asked for a longer pause gets its tasks handed back, untried, with the time the pause ends, and
so does everything after a full disk. The pauses hosts ask for are handed to the caller
(``take_pauses``) to be kept in the catalog, and a new downloader starts from the pauses kept
there (``pauses``), so it does not ask a paused host again. A body cut short is parked and the
next attempt asks only for the rest (``scrapers.partial``, ``scrapers.resume``).

Every request, redirected ones included, waits in its own host's gate (concurrency, request
rate, pause and byte rate): redirects are followed here, hop by hop, and only to hosts the task's
source allows (``scrapers.hosts``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from yarl import URL

from pipeline.records import (
    CandidateSkip,
    DownloadDeferral,
    DownloadFailure,
    DownloadTask,
    FailureReason,
    HostPause,
    Reason,
)
from scrapers.base import AGENT, user_agent
from scrapers.fetch import FetchOptions, Incoming, Problem, Result, failure, fetch_local
from scrapers.hosts import CONTACT_MISSING, DEFAULT_RULES, HostRules
from scrapers.limits import DEFAULT_POLICIES, HostGate, HostPaused, HostPolicy, policy_for
from scrapers.partial import Kept, PartialStore
from scrapers.responses import (
    check_headers,
    check_status,
    deferral,
    problem_of,
    redirect_target,
)
from scrapers.resume import range_headers, resume_validator, whole_length
from scrapers.retry import opt_out

CHUNK = 256 * 1024
LOCAL_SOURCE = "dir"
DISK_FULL_WAIT = 300.0  # after a full disk, the tasks still to come are handed back for this long
# what ends a body early: what arrived may be kept and resumed
CUTS = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError)
_END = object()


@dataclass(frozen=True, slots=True)
class DownloaderConfig:
    fetch: FetchOptions
    concurrency: int = 16
    policies: tuple[HostPolicy, ...] = DEFAULT_POLICIES
    user_agent: str = user_agent(None)
    defer_after: float = 60.0  # the longest wait for a paused host; longer: its tasks are handed back
    hosts: HostRules = DEFAULT_RULES  # where redirects may lead, and which hosts want a contact


def host_key(url: str) -> tuple[str, int | None]:
    parsed = URL(url)
    return (parsed.host or "", parsed.port) if parsed.scheme != "file" else ("file", None)


class Downloader:
    """``batches(tasks)`` fetches every task and yields one result per task, as each finishes."""

    def __init__(self, config: DownloaderConfig, pauses: Iterable[HostPause] = ()) -> None:
        self.config = config
        self.gates: dict[tuple[str, int | None], HostGate] = {}
        self.partials = PartialStore(config.fetch)
        self._new_pauses: list[HostPause] = []
        self._disk_full_until = 0.0
        self.honour(pauses)

    def honour(self, pauses: Iterable[HostPause]) -> None:
        """Pause hosts as recorded in the catalog (by an earlier run, or another downloader)."""
        now = datetime.now(UTC)
        for pause in pauses:
            self.gate((pause.host, pause.port)).hold((pause.until - now).total_seconds())

    def take_pauses(self) -> list[HostPause]:
        """The pauses hosts asked for since the last call, for the caller to keep."""
        pauses, self._new_pauses = self._new_pauses, []
        return pauses

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
                    try:
                        result = await self._fetch(session, task, gate, total)
                    except HostPaused as paused:  # the pause began while this task waited its turn
                        result = deferral(task, "the host asked to wait", paused.seconds)
                if isinstance(result, DownloadFailure) and result.code is FailureReason.DISK_FULL:
                    self._disk_full_until = time.monotonic() + DISK_FULL_WAIT
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
        """Hand the task back, unattempted, after a full disk, or when its host asked for a
        longer pause than we wait."""
        disk = self._disk_full_until - time.monotonic()
        if disk > 0:
            return deferral(task, "the disk is full; again in", disk)
        pause = gate.paused_for()
        if pause <= self.config.defer_after:
            return None
        return deferral(task, "the host asked to wait", pause)

    async def _fetch(self, session: aiohttp.ClientSession, task: DownloadTask, gate: HostGate,
                     total: asyncio.Semaphore) -> Result:
        """One attempt; ``HostPaused`` (a gate that would wait past ``defer_after``) propagates."""
        opts = self.config.fetch
        if task.url.startswith("file:"):
            if task.key.source != LOCAL_SOURCE:  # a remote API must not make us read local files
                return failure(task, Problem("file URL from a remote source", permanent=True,
                                             code=FailureReason.BAD_URL), opts, datetime.now(UTC))
            async with gate.slot(self.config.defer_after), total:
                return await asyncio.to_thread(fetch_local, task, opts)
        try:
            result = await self._fetch_http(session, task, total)
        except Problem as problem:
            result = self._failed(task, problem)
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            result = self._failed(task, problem_of(exc, opts))
        final = not isinstance(result, DownloadFailure) or result.permanent
        if final and self.partials.has(task):
            self.partials.discard(task)  # no attempt will resume it
        return result

    def _failed(self, task: DownloadTask, problem: Problem) -> DownloadFailure:
        """The failure, noting the pause a refusing host asked for (to be kept in the catalog)."""
        now = datetime.now(UTC)
        host = host_key(task.url)
        pause = self.gate(host).paused_for() if problem.code is FailureReason.REFUSED else 0.0
        if pause > 0:
            self._new_pauses.append(HostPause(host[0], host[1], now + timedelta(seconds=pause)))
        return failure(task, problem, self.config.fetch, now)

    async def _fetch_http(self, session: aiohttp.ClientSession, task: DownloadTask,
                          total: asyncio.Semaphore) -> Result:
        """Request by request, each in its own host's gate: a redirect's target is checked
        against the source's hosts and then waits for its own host's limits (the hop before
        gave its slot back first, so two hosts redirecting to each other never deadlock). The
        Range of kept bytes is asked on every hop: the last one answers it."""
        kept = self.partials.peek(task) if self.partials.has(task) else None
        ask = range_headers(kept.size, kept.validator) if kept else {}
        url: str | URL = task.url
        for _ in range(self.config.fetch.max_redirects + 1):
            if self.config.hosts.needs_contact(URL(url)):
                raise Problem(CONTACT_MISSING)
            gate = self.gate(host_key(str(url)))
            async with gate.slot(self.config.defer_after), total, \
                    session.get(url, allow_redirects=False, headers=ask) as resp:
                target = redirect_target(resp)
                if target is None:
                    return await self._answer(task, resp, gate, kept)
            refusal = self.config.hosts.redirect_refusal(task.key.source, URL(task.url), target)
            if refusal:
                raise Problem(refusal, permanent=True, code=FailureReason.REDIRECT)
            url = target
        raise Problem(f"redirect loop (more than {self.config.fetch.max_redirects} redirects)",
                      permanent=True, code=FailureReason.REDIRECT)

    async def _answer(self, task: DownloadTask, resp: aiohttp.ClientResponse, gate: HostGate,
                      kept: Kept | None) -> Result:
        """The final answer: checked, streamed into storage (after the kept bytes on a 206)."""
        opts = self.config.fetch
        if resp.status == 416 and kept is not None:  # the kept bytes do not fit the file now
            self.partials.discard(task)
        check_status(resp, gate)
        token = opt_out(resp.headers.getall("X-Robots-Tag", []), AGENT)
        if token:
            return CandidateSkip(task.key, Reason.OPT_OUT, f"X-Robots-Tag: {token}")
        declared = check_headers(resp, opts)
        with await self._sink(task, resp.status, kept) as sink:
            declared = whole_length(resp.status, resp.headers, sink.size, declared)
            await self._receive(task, resp, sink, kept, gate)
            sink.verify(task, declared)
            gate.succeeded()
            return await asyncio.to_thread(sink.commit, task, resp.content_type)

    async def _sink(self, task: DownloadTask, status: int, kept: Kept | None) -> Incoming:
        """Where the body goes: after the kept bytes when the server continues them (206), else
        a new temporary file (kept bytes the server will not continue are dropped)."""
        if kept is not None and status == 206:
            return await asyncio.to_thread(self.partials.take, task, kept)
        if kept is not None:
            self.partials.discard(task)
        return Incoming(self.config.fetch, bool(task.expected_sha1))

    async def _receive(self, task: DownloadTask, resp: aiohttp.ClientResponse, sink: Incoming,
                       kept: Kept | None, gate: HostGate) -> None:
        """Stream the body into ``sink``, paying the host's byte rate as it arrives; a body cut
        short is parked for the next attempt when the server named a validator to resume it with."""
        try:
            async for chunk in resp.content.iter_chunked(CHUNK):
                sink.write(chunk)
                await gate.take_bytes(len(chunk))  # the host's byte rate, shared by its connections
        except CUTS:
            validator = resume_validator(resp.headers) or (kept.validator if kept else None)
            if validator:
                await asyncio.to_thread(self.partials.park, task, sink, validator)
            raise

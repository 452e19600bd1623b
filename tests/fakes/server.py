"""Serving an aiohttp app on 127.0.0.1 from a background thread, with a per-host request meter.

The thread has its own event loop, so synchronous clients (requests, flickrapi), asyncio clients
in the test's loop and ``camid`` subprocesses can all reach the same server. The meter counts
requests in flight per Host header (peak concurrency), arrival times and paths, so a test can
check that camid never exceeded a limit.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Meter:
    """What the server saw: peak concurrent requests per host, arrivals, paths, user agents."""

    def __init__(self) -> None:
        self.active: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.paths: Counter[str] = Counter()
        self.agents: set[str] = set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.host
        self.active[host] += 1
        self.peak[host] = max(self.peak[host], self.active[host])
        self.arrivals[host].append(time.monotonic())
        self.paths[request.path] += 1
        self.agents.add(request.headers.get("User-Agent", ""))
        try:
            return await handler(request)
        finally:
            self.active[host] -= 1

    def gaps(self, host: str) -> list[float]:
        times = self.arrivals[host]
        return [b - a for a, b in itertools.pairwise(times)]


class Loopback:
    """``with Loopback(app) as server: server.url("/path")``: the app served on a free port."""

    def __init__(self, app: web.Application) -> None:
        self.meter = Meter()
        app.middlewares.insert(0, self.meter.middleware)
        self.app = app
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> Loopback:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:  # handlers still sleeping in a scripted fault
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


async def send_bytes(request: web.Request, body: bytes, content_type: str = "image/jpeg",
                     headers: dict[str, str] | None = None, chunk: int = 64 * 1024) -> web.StreamResponse:
    """Stream ``body`` with a Content-Length (the handler ends only when it is sent: the meter
    sees the whole transfer as in flight)."""
    response = web.StreamResponse(headers={"Content-Type": content_type, **(headers or {})})
    response.content_length = len(body)
    await response.prepare(request)
    for i in range(0, len(body), chunk):
        await response.write(body[i:i + chunk])
    await response.write_eof()
    return response

"""A plain image host with scripted faults, for the downloader.

``FileHost(files, faults)`` serves ``/img/<name>``. ``faults[name]`` is a list of behaviours
used one per request, in order; when the list runs out the file is served normally. So
``{"a": ["429:120"]}`` answers one 429 with ``Retry-After: 120`` and then the image.

Behaviours: ``429:<retry-after>``, ``429-date:<seconds>`` (an HTTP date), ``503``, ``404``,
``reset`` (connection closed before any answer), ``truncated`` (full Content-Length, half the
body, then the connection closes), ``slow:<seconds>`` (half the body, then a pause), ``html200``
(an HTML error page with status 200), ``html-as-jpeg`` (the same, labelled image/jpeg),
``wrongtype`` (image/png), ``loop`` (a redirect to itself), ``big`` (declares a huge
Content-Length), ``big-chunked`` (endless chunked body, no length), ``noai`` (X-Robots-Tag),
``no-eoi`` (the file without its end marker, with a matching Content-Length), ``cut:<bytes>``
(full Content-Length, that many bytes, then the connection closes), ``416`` (range not
satisfiable).

Like most real servers, it names an ETag and serves byte ranges (``Range``, honouring
``If-Range``) unless ``ranges=False``. ``requests`` logs every request as (name, Range header,
body bytes sent). ``RateLimitedHost`` answers its first request with a 429 and a long
Retry-After, and every request after it with a 429 until that pause ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from aiohttp import web

from tests.fakes.server import send_bytes

HTML = b"<!doctype html><html><body><h1>Temporarily unavailable</h1></body></html>"


class FileHost:
    def __init__(self, files: dict[str, bytes], faults: dict[str, list[str]] | None = None,
                 latency: float = 0.0, ranges: bool = True) -> None:
        self.files = files
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        self.latency = latency
        self.ranges = ranges
        self.served: dict[str, int] = {}
        self.requests: list[tuple[str, str | None, int]] = []

    def etag(self, name: str) -> str:
        return '"' + hashlib.sha256(self.files.get(name, b"")).hexdigest()[:16] + '"'

    def _validators(self, name: str) -> dict[str, str]:
        return {"ETag": self.etag(name), "Accept-Ranges": "bytes"} if self.ranges else {}

    def heal(self, *keep: str) -> None:
        """Clear every scripted fault except those of ``keep`` (a transient outage ends)."""
        self.faults = {k: v for k, v in self.faults.items() if k in keep}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/img/{name}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if self.latency:
            await asyncio.sleep(self.latency)
        queue = self.faults.get(name) or []
        behaviour = queue.pop(0) if queue else "ok"
        if name not in self.files and behaviour == "ok":
            raise web.HTTPNotFound()
        return await self._behave(request, name, behaviour)

    async def _behave(self, request: web.Request, name: str, behaviour: str) -> web.StreamResponse:
        kind, _, arg = behaviour.partition(":")
        body = self.files.get(name, b"")
        if kind == "ok":
            self.served[name] = self.served.get(name, 0) + 1
            return await self._serve(request, name, body)
        if kind == "cut":
            return await self._cut(request, name, body, int(arg))
        if kind in ("429", "429-date", "503"):
            status = 503 if kind == "503" else 429
            headers = {}
            if kind == "429-date":
                when = datetime.now(UTC) + timedelta(seconds=float(arg))
                headers["Retry-After"] = format_datetime(when, usegmt=True)
            elif arg:
                headers["Retry-After"] = arg
            return web.Response(status=status, headers=headers, text="slow down")
        if kind == "404":
            raise web.HTTPNotFound()
        if kind == "416":
            raise web.HTTPRequestRangeNotSatisfiable()
        if kind == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if kind in ("truncated", "slow"):
            return await self._partial(request, body, float(arg) if arg else 0.0, kind == "truncated")
        return await self._odd(request, name, kind, body)

    async def _serve(self, request: web.Request, name: str, body: bytes) -> web.StreamResponse:
        """The file, or the range asked for when If-Range (if any) names the file as it is."""
        asked = request.headers.get("Range")
        start = _range_start(asked, len(body)) if self.ranges else None
        if start is not None and request.headers.get("If-Range", self.etag(name)) == self.etag(name):
            self.requests.append((name, asked, len(body) - start))
            response = web.StreamResponse(status=206, headers={
                "Content-Type": "image/jpeg", "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}",
                **self._validators(name)})
            response.content_length = len(body) - start
            await response.prepare(request)
            await response.write(body[start:])
            await response.write_eof()
            return response
        self.requests.append((name, asked, len(body)))
        return await send_bytes(request, body, headers=self._validators(name))

    async def _cut(self, request: web.Request, name: str, body: bytes, keep: int) -> web.StreamResponse:
        self.requests.append((name, request.headers.get("Range"), keep))
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg", **self._validators(name)})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[:keep])
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()
        return response

    async def _partial(self, request: web.Request, body: bytes, pause: float,
                       close: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[:len(body) // 2])
        if close:
            await asyncio.sleep(0.01)
            assert request.transport is not None
            request.transport.close()
            return response
        await asyncio.sleep(pause)
        await response.write(body[len(body) // 2:])
        await response.write_eof()
        return response

    async def _odd(self, request: web.Request, name: str, kind: str, body: bytes) -> web.StreamResponse:
        if kind == "html200":
            return await send_bytes(request, HTML, "text/html; charset=utf-8")
        if kind == "html-as-jpeg":
            return await send_bytes(request, HTML, "image/jpeg")
        if kind == "wrongtype":
            return await send_bytes(request, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
        if kind == "loop":
            raise web.HTTPFound(location=f"/img/{name}")
        if kind == "big":
            return await send_bytes(request, b"\xff\xd8\xff" + b"\x00" * (1 << 20))
        if kind == "big-chunked":
            response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(256):
                await response.write(b"\xff\xd8\xff" + b"\x00" * 65533)
            await response.write_eof()
            return response
        if kind == "noai":
            return await send_bytes(request, body, headers={"X-Robots-Tag": "noai, noimageai"})
        if kind == "no-eoi":
            return await send_bytes(request, body[:-2])
        raise AssertionError(f"unknown behaviour {kind!r}")


def _range_start(asked: str | None, size: int) -> int | None:
    """The first byte of ``bytes=N-`` (the only form camid asks for); None for anything else."""
    if not asked or not asked.startswith("bytes=") or not asked.endswith("-"):
        return None
    first = asked[len("bytes="):-1]
    return int(first) if first.isdigit() and int(first) < size else None


class RateLimitedHost(FileHost):
    """Answers the first request (after ``first_latency`` s, while others are served) with 429 and
    ``Retry-After: pause``; from then on every request with 429 and the pause's remaining
    seconds, until it ends."""

    def __init__(self, files: dict[str, bytes], pause: float, first_latency: float = 0.0) -> None:
        super().__init__(files)
        self.pause, self.first_latency = pause, first_latency
        self.first_seen = False
        self.paused_until = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not self.first_seen:
            self.first_seen = True
            self.requests.append((name, None, 0))
            await asyncio.sleep(self.first_latency)
            self.paused_until = time.monotonic() + self.pause
            return web.Response(status=429, headers={"Retry-After": str(int(self.pause))})
        left = self.paused_until - time.monotonic()
        if left > 0:
            self.requests.append((name, None, 0))
            return web.Response(status=429, headers={"Retry-After": str(int(left))})
        return await super().handle(request)

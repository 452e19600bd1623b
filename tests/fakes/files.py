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
``no-eoi`` (the file without its end marker, with a matching Content-Length).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from aiohttp import web

from tests.fakes.server import send_bytes

HTML = b"<!doctype html><html><body><h1>Temporarily unavailable</h1></body></html>"


class FileHost:
    def __init__(self, files: dict[str, bytes], faults: dict[str, list[str]] | None = None,
                 latency: float = 0.0) -> None:
        self.files = files
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        self.latency = latency
        self.served: dict[str, int] = {}

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
            return await send_bytes(request, body)
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
        if kind == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if kind in ("truncated", "slow"):
            return await self._partial(request, body, float(arg) if arg else 0.0, kind == "truncated")
        return await self._odd(request, name, kind, body)

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

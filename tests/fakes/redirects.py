"""A host that answers with redirects, for the downloader's redirect rules.

``Redirector(locations)`` answers ``/r/<name>`` with a 302 to ``locations[name]`` (absolute,
relative, or not HTTP at all: ``file:///etc/passwd``), and serves ``files`` at ``/img/<name>`` so a
redirect may also stay on this host.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.server import send_bytes


class Redirector:
    def __init__(self, locations: dict[str, str], files: dict[str, bytes] | None = None) -> None:
        self.locations = locations
        self.files = files or {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/r/{name}", self.redirect)
        app.router.add_get("/img/{name}", self.image)
        return app

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        location = self.locations.get(request.match_info["name"])
        if location is None:
            raise web.HTTPNotFound()
        return web.Response(status=302, headers={"Location": location})

    async def image(self, request: web.Request) -> web.StreamResponse:
        body = self.files.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return await send_bytes(request, body)

"""A MediaWiki Action API (``/w/api.php``) and upload host for Wikimedia Commons, on loopback.

Answers ``generator=categorymembers`` + ``prop=imageinfo`` in formatversion 2 with the
``continue`` protocol (``gcmcontinue``), the file's EXIF as ``metadata``, ``extmetadata`` with
licence and an HTML artist, SHA-1 and size. It refuses browser-like or contact-less User-Agents
(403) and answers ``maxlag`` errors (HTTP 200 with Retry-After) for the first ``lagged`` calls.
``list=categorymembers&cmtype=subcat`` lists a category's ``subcats`` (``cmcontinue``, pages of
``cmlimit``), so a test can build a category graph, cycles included. Files are served at
``/upload/<pageid>.jpg``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.server import send_bytes


@dataclass
class CommonsFile:
    pageid: int
    category: str
    jpeg: bytes
    make: str = "Apple"
    model: str = "iPhone 6"
    software: str = "8.1.2"
    width: int = 3264
    height: int = 2448
    licence: str = "CC BY-SA 4.0"
    artist: str = '<a href="//commons.wikimedia.org/wiki/User:Alice">Alice</a>'
    sha1: str | None = None  # None: the real one


@dataclass
class FakeCommons:
    files: list[CommonsFile]
    lagged: int = 0
    retry_after: str = "0"
    base: str = ""
    calls: int = 0
    params_seen: list[dict[str, str]] = field(default_factory=list)
    subcats: dict[str, list[str]] = field(default_factory=dict)  # category -> its subcategories

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/w/api.php", self.api)
        app.router.add_get("/upload/{name}", self.upload)
        return app

    async def api(self, request: web.Request) -> web.Response:
        self.calls += 1
        agent = request.headers.get("User-Agent", "")
        if not agent.startswith("camid/") or "(" not in agent or "Mozilla" in agent:
            return web.Response(status=403, text="Please set a user-agent with contact information")
        params = dict(request.query)
        self.params_seen.append(params)
        if self.lagged > 0:
            self.lagged -= 1
            return web.json_response(
                {"error": {"code": "maxlag", "info": "Waiting for a database server: 7 seconds lagged"}},
                headers={"Retry-After": self.retry_after})
        if params.get("list") == "categorymembers":
            return web.json_response(self.subcategories(params))
        return web.json_response(self.query(params))

    def subcategories(self, params: dict[str, str]) -> dict:
        assert params.get("cmtype") == "subcat", params  # no other member type is listed here
        members = self.subcats.get(params["cmtitle"].removeprefix("Category:"), [])
        start = int(params.get("cmcontinue", "subcat|0").split("|")[-1])
        batch = int(params.get("cmlimit", "10"))
        rows = [{"pageid": 9000 + i, "ns": 14, "title": f"Category:{name}"}
                for i, name in enumerate(members[start:start + batch], start)]
        doc: dict = {"batchcomplete": True, "query": {"categorymembers": rows}}
        if start + batch < len(members):
            doc["continue"] = {"cmcontinue": f"subcat|{start + batch}", "continue": "-||"}
        return doc

    def query(self, params: dict[str, str]) -> dict:
        category = params["gcmtitle"].removeprefix("Category:")
        members = [f for f in self.files if f.category == category]
        start = int(params.get("gcmcontinue", "file|0").split("|")[-1])
        batch = int(params.get("gcmlimit", "10"))
        doc: dict = {"batchcomplete": True,
                     "query": {"pages": [self.page(f) for f in members[start:start + batch]]}}
        if start + batch < len(members):
            doc["continue"] = {"gcmcontinue": f"file|{start + batch}", "continue": "gcmcontinue||"}
        return doc

    def page(self, f: CommonsFile) -> dict:
        info = {"size": len(f.jpeg), "width": f.width, "height": f.height,
                "url": f"{self.base}/upload/{f.pageid}.jpg",
                "descriptionurl": f"{self.base}/wiki/File:{f.pageid}.jpg",
                "sha1": f.sha1 or hashlib.sha1(f.jpeg).hexdigest(), "mime": "image/jpeg",
                "metadata": [{"name": "Make", "value": f.make}, {"name": "Model", "value": f.model},
                             {"name": "Software", "value": f.software}],
                "extmetadata": {"LicenseShortName": {"value": f.licence},
                                "Artist": {"value": f.artist}}}
        return {"pageid": f.pageid, "ns": 6, "title": f"File:{f.pageid}.jpg", "imageinfo": [info]}

    async def upload(self, request: web.Request) -> web.StreamResponse:
        pageid = int(request.match_info["name"].split(".")[0])
        for f in self.files:
            if f.pageid == pageid:
                return await send_bytes(request, f.jpeg)
        raise web.HTTPNotFound()


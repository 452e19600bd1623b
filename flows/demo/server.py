"""A loopback server speaking the Wikimedia Commons Action API shape, for the offline demo.

It answers ``action=query&generator=categorymembers ... prop=imageinfo`` with the continuation
protocol (and ``list=categorymembers``, the subcategories camid walks, with none: the demo's
categories are flat) and serves the original files, so the demo runs camid's real Wikimedia scraper and
downloader against it: nothing demo-specific happens on camid's side of the socket. Metadata is
computed from each file's own header, as Commons extracts it on upload.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web

from flows.demo.world import DemoFile
from pipeline.facts import facts_from_bytes

API_PATH = "/w/api.php"


@dataclass
class CommonsFake:
    """The served world: files by category, and the address once started."""

    files: Sequence[DemoFile]
    host: str = "127.0.0.1"
    port: int = 0
    requests: int = 0
    _thread: threading.Thread | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _runner: web.AppRunner | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._ids = {f.name: 1000 + i for i, f in enumerate(self.files)}  # page ids are site-wide

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}{API_PATH}"

    def start(self) -> CommonsFake:
        """Serve from a background thread (its own event loop) until ``stop``."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("demo server did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> CommonsFake:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get(API_PATH, self._api)
        app.router.add_get("/wikipedia/commons/{a}/{ab}/{name}", self._file)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, self.port)
        self._loop.run_until_complete(site.start())
        # aiohttp offers no public accessor for the port a port-0 site was given
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a started TCPSite has a server
        ready.set()
        self._loop.run_forever()

    async def _api(self, request: web.Request) -> web.Response:
        self.requests += 1
        q = request.query
        if q.get("action") == "query" and q.get("list") == "categorymembers":  # no subcategories here
            return web.json_response({"batchcomplete": True, "query": {"categorymembers": []}})
        if q.get("action") != "query" or q.get("generator") != "categorymembers":
            return web.json_response({"error": {"code": "badvalue", "info": "unsupported query"}})
        title = q.get("gcmtitle", "").removeprefix("Category:")
        members = [f for f in self.files if f.category == title]
        start = int(q.get("gcmcontinue", "0") or 0)
        limit = min(int(q.get("gcmlimit", "50") or 50), 500)
        page = members[start:start + limit]
        base = f"http://{self.host}:{self.port}"
        doc: dict[str, object] = {"batchcomplete": True,
                                  "query": {"pages": [_page(f, base, self._ids[f.name]) for f in page]}}
        if start + limit < len(members):
            doc["continue"] = {"gcmcontinue": str(start + limit), "continue": "gcmcontinue||"}
        return web.json_response(doc)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        for f in self.files:
            if f.name == name:
                return web.Response(body=f.data, content_type="image/jpeg")
        raise web.HTTPNotFound()


def file_url(base: str, name: str) -> str:
    digest = hashlib.md5(name.encode()).hexdigest()  # Commons' upload path layout
    return f"{base}/wikipedia/commons/{digest[0]}/{digest[:2]}/{quote(name)}"


def _page(f: DemoFile, base: str, pageid: int) -> dict[str, object]:
    info: dict[str, object] = {
        "size": len(f.data),
        "url": file_url(base, f.name),
        "descriptionurl": f"{base}/wiki/File:{quote(f.name)}",
        "sha1": hashlib.sha1(f.data).hexdigest(),
        "mime": "image/jpeg",
        "metadata": [],
        "extmetadata": {
            "LicenseShortName": {"value": f.licence},
            "Artist": {"value": f'<a href="{base}/wiki/User:{f.author}">{f.author}</a>'},
        },
    }
    facts = facts_from_bytes(f.data)
    if facts.error is None:
        pairs = (("Make", facts.make), ("Model", facts.model), ("Software", facts.software),
                 ("DateTimeOriginal", facts.datetime_original))
        info["metadata"] = [{"name": k, "value": v} for k, v in pairs if v]
        info.update({"width": facts.width, "height": facts.height})
    return {"pageid": pageid, "ns": 6, "title": f"File:{f.name}", "imageinfo": [info]}

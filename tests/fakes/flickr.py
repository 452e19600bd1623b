"""A Flickr REST endpoint and static image host (the shapes of sources.md), on loopback.

``/services/rest/`` answers ``flickr.photos.search`` as flickrapi calls it (an OAuth-signed POST,
``format=json&nojsoncallback=1``): text/tags and licence filters, inclusive upload-date windows,
``sort=date-posted-asc``, pages, a result cap past which pages repeat (Flickr's 4,000), numbers
sometimes as strings. A wrong key gets ``{"stat": "fail", "code": 100}`` with the key echoed
back (to prove camid redacts it); ``fail_next`` scripts transient failures; ``echo_status``
answers every call with that status and the whole request echoed in the body (query string,
headers, form), as some proxies and error pages do. Originals are served at
``/photos/<id>_o.jpg``; a photo with ``url_o=False`` has an original that may be fetched but
no ``url_o`` in the answer (its size then comes only as ``o_width``/``o_height``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.server import send_bytes


@dataclass
class Photo:
    id: str
    upload: int
    jpeg: bytes
    width: int = 3264
    height: int = 2448
    license: str = "4"
    words: tuple[str, ...] = ("iphone 6",)
    owner: str = "12345@N00"
    ownername: str = "Alice"
    fmt: str = "jpg"
    downloadable: bool = True
    url_o: bool = True


@dataclass
class FakeFlickr:
    photos: list[Photo]
    key: str
    cap: int = 4000
    fail_next: list[tuple[int, str]] = field(default_factory=list)
    echo_status: int | None = None
    base: str = ""
    calls: int = 0
    windows: list[tuple[int, int]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/services/rest/", self.rest)
        app.router.add_get("/photos/{name}", self.original)
        return app

    async def rest(self, request: web.Request) -> web.Response:
        self.calls += 1
        params = dict(request.query)
        form = await request.post()
        params.update({k: str(v) for k, v in form.items()})
        if self.echo_status is not None:
            echoed = [request.path_qs, *(f"{k}: {v}" for k, v in request.headers.items()),
                      *(f"{k}={v}" for k, v in form.items())]
            return web.Response(status=self.echo_status, text="&".join(echoed))
        consumer = re.search(r'oauth_consumer_key="([^"]*)"', request.headers.get("Authorization", ""))
        if consumer is None or consumer[1] != self.key:
            given = consumer[1] if consumer else ""
            return _json({"stat": "fail", "code": 100,
                          "message": f"Invalid API Key (Key has invalid format: {given})"})
        if self.fail_next:
            code, message = self.fail_next.pop(0)
            if code >= 500:
                return web.Response(status=code, text=message)
            return _json({"stat": "fail", "code": code, "message": message})
        if params.get("method") != "flickr.photos.search":
            return _json({"stat": "fail", "code": 112, "message": "Method not found"})
        return _json(self.search(params))

    def search(self, params: dict[str, str]) -> dict:
        lo, hi = int(params.get("min_upload_date", 0)), int(params.get("max_upload_date", 2**40))
        self.windows.append((lo, hi))
        wanted = (params.get("text") or params.get("tags") or "").lower()
        licences = set(params.get("license", "").split(",")) - {""}
        hits = sorted((p for p in self.photos
                       if lo <= p.upload <= hi and any(wanted in w for w in p.words)
                       and (not licences or p.license in licences)), key=lambda p: (p.upload, p.id))
        per_page = int(params.get("per_page", 100))
        page = int(params.get("page", 1))
        pages = max(1, -(-len(hits) // per_page))
        start = (page - 1) * per_page
        if start >= self.cap:  # Flickr: past the cap, the first results come back again
            start = 0
        rows = [self.row(p) for p in hits[start:start + per_page]]
        return {"photos": {"page": page, "pages": str(pages), "perpage": per_page,
                           "total": str(len(hits)), "photo": rows}, "stat": "ok"}

    def row(self, p: Photo) -> dict:
        row = {"id": p.id, "owner": p.owner, "secret": "abc", "server": "65535", "farm": 66,
               "title": "photo", "license": p.license, "datetaken": "2015-06-01 12:00:00",
               "ownername": p.ownername, "originalformat": p.fmt}
        if p.downloadable:  # o_dims: o_width/o_height; url_o: url_o with width_o/height_o
            row.update(originalsecret="def", o_width=str(p.width), o_height=p.height)
            if p.url_o:
                row.update(url_o=f"{self.base}/photos/{p.id}_o.{p.fmt}", width_o=str(p.width),
                           height_o=p.height)
        return row

    async def original(self, request: web.Request) -> web.StreamResponse:
        photo_id = request.match_info["name"].split("_")[0]
        for p in self.photos:
            if p.id == photo_id:
                return await send_bytes(request, p.jpeg)
        raise web.HTTPNotFound()


def _json(doc: dict) -> web.Response:
    return web.Response(text=json.dumps(doc), content_type="application/json")

"""A review site on loopback that speaks both gallery shapes camid knows, with a robots.txt.

DPReview: ``/sample-galleries`` (``tr.gallery[data-gallery]`` rows) and
``/sample-galleries/data/get-gallery?galleryId=...`` (``{"gallery": ..., "images": [{"url"}]}``).
GSMArena-style: ``/reviews.php3`` linking ``<slug>-review-<id>.php``, review pages linking their
other pages (``...p<N>.php``), thumbnails with a size token and links to full-size samples.
Links to another host and to a robots-disallowed path are planted to prove camid does not follow
them. Like DPReview, the site answers 429 to a client that comes back sooner than its
Crawl-delay: a polite client never sees one. Paths in ``gone`` answer 404 (a site that moved).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.server import Handler, send_bytes

GALLERIES = """<html><body><table>
<tr class="gallery" data-gallery="11">
  <td><a href="/sample-galleries/11">Apple iPhone 6 sample gallery</a></td></tr>
<tr class="gallery" data-gallery="12">
  <td><a href="/sample-galleries/12">Sony Alpha NEX-7 real-world samples</a></td></tr>
<tr class="gallery" data-gallery="13"><td><a href="/sample-galleries/13">Canon EOS 5D Mark IV</a></td></tr>
</table></body></html>"""

LISTING = """<html><body>
<a href="htc_one-review-919.php"><h3>HTC One review</h3></a>
<a href="canon_phone-review-5.php"><h3>Canon phone review</h3></a>
<a href="/news.php3">News</a></body></html>"""

REVIEW_P1 = """<html><body><a href="htc_one-review-919p2.php">Camera samples</a>
<a href="https://elsewhere.invalid/htc_one-review-919p3.php">Mirror</a>
<p>No pictures on the first page.</p></body></html>"""

REVIEW_P2 = """<html><body><a href="htc_one-review-919.php">Intro</a>
<a href="/imgroot/htc-one/camera/s1.jpg"><img src="/imgroot/htc-one/camera/-x400/s1.jpg"></a>
<img src="/imgroot/htc-one/camera/-727w2/s2.jpg">
<img src="/private/htc-one/-x400/s3.jpg">
<a href="http://elsewhere.invalid/stolen.jpg">elsewhere</a></body></html>"""


@dataclass
class FakeReviews:
    images: dict[str, bytes]
    crawl_delay: float = 0.05
    robots_status: int = 200
    last: float = 0.0
    too_soon: int = 0
    pages: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.polite_only])
        app.router.add_get("/robots.txt", self.robots)
        app.router.add_get("/sample-galleries", self.text(GALLERIES))
        app.router.add_get("/sample-galleries/data/get-gallery", self.gallery)
        app.router.add_get("/reviews.php3", self.text(LISTING))
        app.router.add_get("/htc_one-review-919.php", self.text(REVIEW_P1))
        app.router.add_get("/htc_one-review-919p2.php", self.text(REVIEW_P2))
        app.router.add_get("/{path:(imgroot|private|dp)/.*}", self.image)
        return app

    @web.middleware
    async def polite_only(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        now = time.monotonic()
        # arrival times jitter by tens of ms on a loaded 2-core machine; a client that ignores the
        # delay sends requests about 1 ms apart, so half the delay still tells the two apart
        hurried = now - self.last < self.crawl_delay * 0.5 and request.path != "/robots.txt"
        self.last = now
        self.pages.append(request.path_qs)
        if hurried:
            self.too_soon += 1
            return web.Response(status=429, headers={"Retry-After": "1"})
        if request.path in self.gone:
            return web.Response(status=404, text="moved")
        return await handler(request)

    async def robots(self, request: web.Request) -> web.Response:
        if self.robots_status != 200:
            return web.Response(status=self.robots_status)
        # urllib.robotparser reads whole-second Crawl-delays only: sub-second spacing is a Request-rate
        pace = (f"Crawl-delay: {int(self.crawl_delay)}" if self.crawl_delay >= 1 or not self.crawl_delay
                else f"Request-rate: {round(1 / self.crawl_delay)}/1")
        return web.Response(text=f"User-agent: *\n{pace}\nDisallow: /private/\n")

    def text(self, html: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=html, content_type="text/html")
        return handler

    async def gallery(self, request: web.Request) -> web.Response:
        gid = request.query["galleryId"]
        base = f"http://{request.host}"
        images = [{"id": n, "url": f"{base}/dp/{gid}/{n}.jpg"} for n in ("a", "b")]
        images += [{"id": "c", "url": "http://elsewhere.invalid/c.jpg"},
                   {"id": "d", "url": f"{base}/private/d.jpg"}, {"id": "raw", "rawUrl": "x.arw"}]
        return web.json_response({"gallery": {"id": gid}, "images": images})

    async def image(self, request: web.Request) -> web.StreamResponse:
        body = self.images.get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        return await send_bytes(request, body)

"""Review-site sample galleries: DPReview's gallery JSON and GSMArena-style HTML review pages.

Both obey robots.txt (``Robots``: can_fetch, Crawl-delay, Request-rate) and space requests per
host through the serial ``PoliteClient`` (>= 1 s by default). Links are followed, and image URLs
emitted, only on hosts the site allows (its own and its image CDN; with ``--endpoint``, that
server alone), so a gallery cannot send the crawler elsewhere. Galleries mix cameras and raw
conversions: the candidate's camera is only the title that matched, the label comes from EXIF.

A site that fails (its listing cannot be fetched, or its robots.txt cannot be read, which
forbids everything) does not stop the other sites; at the end it is told through ``notice``,
or, when every site failed, the scrape fails with each site's reason rather than ending as
"0 found".
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

from pipeline.records import Candidate
from pipeline.registry import Camera, normalise
from scrapers.base import Found, SourceError
from scrapers.hosts import REVIEW_SITE_HOSTS
from scrapers.http import PoliteClient
from scrapers.robots import Robots

MAX_REVIEW_PAGES = 30
SIZE_TOKEN = re.compile(r"/-[a-z0-9]*\d[a-z0-9]*/", re.IGNORECASE)
REVIEW_HREF = re.compile(r"^(?P<stem>[\w.-]+-review-\d+)(?:p\d+)?\.php$")


@dataclass(frozen=True, slots=True)
class Site:
    """A review site: where it lives and which hosts its links may lead to."""

    name: str
    base: str
    hosts: tuple[str, ...]

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and any(
            fnmatch.fnmatch(parts.netloc.lower(), h) for h in self.hosts)

    def at(self, endpoint: str) -> Site:
        """The same site served from ``endpoint`` (a mirror or a test server): that host only."""
        return replace(self, base=endpoint.rstrip("/"), hosts=(urlsplit(endpoint).netloc.lower(),))


# the hosts are the downloader's too (scrapers/hosts.py): a sample may redirect only among them
DPREVIEW = Site("dpreview", "https://www.dpreview.com", REVIEW_SITE_HOSTS["dpreview"])
GSMARENA = Site("gsmarena", "https://www.gsmarena.com", REVIEW_SITE_HOSTS["gsmarena"])
SITES = {s.name: s for s in (DPREVIEW, GSMARENA)}


# ---- parsing (pure) --------------------------------------------------------------------------


def title_matches(text: str, titles: Sequence[str]) -> bool:
    """A gallery title names the camera: the title as whole words ("iPhone 6" not "iPhone 6s")."""
    flat = normalise(text)
    return any(re.search(rf"(?<![\w]){re.escape(normalise(t))}(?![\w])", flat) for t in titles if t)


def dpreview_galleries(html: str) -> list[tuple[str, str]]:
    """(gallery id, title) of every ``tr.gallery[data-gallery]`` row of /sample-galleries."""
    soup = BeautifulSoup(html, "html.parser")
    return [(str(row["data-gallery"]), row.get_text(" ", strip=True))
            for row in soup.select("tr.gallery[data-gallery]")]


def dpreview_images(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(image id, JPEG url) of a gallery's JSON (``images[].url``; raw files are not wanted)."""
    images = doc.get("images") if isinstance(doc, dict) else None
    return [(str(img.get("id") or img["url"]), str(img["url"]))
            for img in images or () if isinstance(img, dict) and img.get("url")]


def review_links(html: str, page_url: str) -> list[tuple[str, str]]:
    """(absolute URL, link text) of the review articles a listing page links to."""
    soup = BeautifulSoup(html, "html.parser")
    return [(urljoin(page_url, str(a["href"])), a.get_text(" ", strip=True))
            for a in soup.select("a[href]") if REVIEW_HREF.match(str(a["href"]).rsplit("/", 1)[-1])]


def review_pages(html: str, page_url: str) -> list[str]:
    """Other pages of the same review (``<stem>p<N>.php``), absolute, in page order."""
    stem = REVIEW_HREF.match(urlsplit(page_url).path.rsplit("/", 1)[-1])
    if stem is None:
        return []
    soup = BeautifulSoup(html, "html.parser")
    urls = []
    for a in soup.select("a[href]"):
        match = REVIEW_HREF.match(str(a["href"]).rsplit("/", 1)[-1])
        if match and match["stem"] == stem["stem"]:
            urls.append(urljoin(page_url, str(a["href"])))
    return list(dict.fromkeys(urls))


def full_size(url: str) -> str:
    """A thumbnail URL without its size token (``/-x400/``, ``/-727w2/``): the full sample."""
    return SIZE_TOKEN.sub("/", url, count=1)


def review_images(html: str, page_url: str) -> list[str]:
    """Full-size JPEG URLs of a review page: linked originals and de-tokenised thumbnails."""
    soup = BeautifulSoup(html, "html.parser")
    urls = [urljoin(page_url, str(a["href"])) for a in soup.select("a[href]")
            if re.search(r"\.jpe?g$", urlsplit(str(a["href"])).path, re.IGNORECASE)]
    urls += [full_size(urljoin(page_url, str(img["src"]))) for img in soup.select("img[src]")
             if SIZE_TOKEN.search(str(img["src"]))]
    return list(dict.fromkeys(urls))


# ---- fetching ----------------------------------------------------------------------------------


class ReviewsSource:
    """Sample galleries of the chosen sites, for each camera's ``review_gallery_titles``."""

    name = "reviews"

    def __init__(self, client: PoliteClient, sites: Sequence[Site] = (DPREVIEW, GSMARENA),
                 notice: Callable[[str], None] = print) -> None:
        self.client, self.sites, self.notice = client, tuple(sites), notice
        self.robots = Robots(client)
        self.refused = 0  # links not followed: another host, or disallowed by robots.txt
        self.failed: dict[str, SourceError] = {}  # site name -> why it failed

    @property
    def api_calls(self) -> int:
        return self.client.requests

    def find(self, cameras: Sequence[Camera]) -> Iterator[Found]:
        for site in self.sites:
            try:
                yield from (self._dpreview(site, cameras) if site.name == "dpreview"
                            else self._html_reviews(site, cameras))
            except SourceError as exc:
                self.failed[site.name] = exc
        if self.sites and len(self.failed) == len(self.sites):
            reasons = "; ".join(f"{name}: {exc}" for name, exc in self.failed.items())
            raise SourceError(f"reviews: every site failed ({reasons})",
                              retryable=all(e.retryable for e in self.failed.values()))
        for name, error in self.failed.items():  # the others' candidates are kept: say what is not
            self.notice(f"reviews: {name} failed, its galleries are left out: {error}")

    def _listing(self, site: Site, url: str) -> Any:
        """A site's first page; a robots.txt that could not be read fails the site (it forbids
        everything, so nothing of the site could be asked)."""
        listing = self._get(site, url)
        failure = self.robots.failure(url) if listing is None else None
        if failure is not None:
            raise SourceError(f"its robots.txt could not be read ({failure})", retryable=True)
        return listing

    def _get(self, site: Site, url: str, **params: str) -> Any:
        """A page of the site, or None when robots.txt or the host rules forbid it."""
        if not site.allows(url) or not self.robots.allowed(url):
            self.refused += 1
            return None
        return self.client.get(url, params=params or None)

    def _dpreview(self, site: Site, cameras: Sequence[Camera]) -> Iterator[Found]:
        listing = self._listing(site, f"{site.base}/sample-galleries")
        if listing is None:
            return
        for gallery_id, title in dpreview_galleries(listing.text):
            camera = _camera_for(title, cameras)
            if camera is None:
                continue
            answer = self._get(site, f"{site.base}/sample-galleries/data/get-gallery",
                               galleryId=gallery_id, isMobile="false")
            if answer is None:
                continue
            try:
                doc = answer.json()
            except ValueError:
                raise SourceError(f"dpreview: gallery {gallery_id} is not JSON") from None
            page = f"{site.base}/sample-galleries/{gallery_id}"
            for image_id, url in dpreview_images(doc):
                yield from self._candidate(site, f"dpreview:{gallery_id}:{image_id}", url, camera, page)

    def _html_reviews(self, site: Site, cameras: Sequence[Camera]) -> Iterator[Found]:
        listing = self._listing(site, f"{site.base}/reviews.php3")
        if listing is None:
            return
        for review_url, text in review_links(listing.text, listing.url):
            camera = _camera_for(text, cameras)
            if camera is not None:
                yield from self._review(site, review_url, camera)

    def _review(self, site: Site, first: str, camera: Camera) -> Iterator[Found]:
        todo, seen = [first], set[str]()
        while todo and len(seen) < MAX_REVIEW_PAGES:
            url = todo.pop(0)
            if url in seen:
                continue
            seen.add(url)
            page = self._get(site, url)
            if page is None:
                continue
            todo += [u for u in review_pages(page.text, url) if u not in seen]
            for image in review_images(page.text, url):
                key = f"{site.name}:{urlsplit(image).path}"
                yield from self._candidate(site, key[:255], image, camera, url)

    def _candidate(self, site: Site, source_id: str, url: str, camera: Camera,
                   page: str) -> Iterator[Found]:
        if not site.allows(url) or not self.robots.allowed(url):
            self.refused += 1
            return
        yield Candidate(source="reviews", source_id=source_id[:255], url=url, camera=camera.id,
                        page_url=page, author=site.name)


def _camera_for(title: str, cameras: Sequence[Camera]) -> Camera | None:
    """The camera whose gallery title names this gallery (the longest title wins)."""
    hits = [(len(t), c) for c in cameras for t in c.queries.review_gallery_titles
            if title_matches(title, (t,))]
    return max(hits, key=lambda h: h[0])[1] if hits else None

"""Flickr: ``flickr.photos.search`` per registry query, sliced into upload-date windows.

Any query returns at most its first 4,000 results, so the upload-date range is cut into windows
of at most ``window_max`` results (a window over that is halved, again and again), and photos are
deduplicated by id across windows and queries. Originals whose size is not a native size of the
queried camera, or that are not JPEGs, are ruled out here, before any download, by the verdict's
own rules (``pipeline.prefilter``). The size comes with ``url_o`` (``width_o``/``height_o``) and,
for any original, with ``o_dims`` (``o_width``/``o_height``): an original without ``url_o`` (its
URL built from ``originalsecret``) is judged by the latter. Photos without a downloadable
original at all are only counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.policy import Policy, load_policy
from pipeline.prefilter import MetadataFacts, prefilter
from pipeline.records import Candidate
from pipeline.registry import Camera
from scrapers.base import Found, screened
from scrapers.flickr_api import FlickrCaller

SEARCH = "flickr.photos.search"
EXTRAS = "url_o,o_dims,original_format,license,owner_name,date_taken,date_upload"
LICENCES = {
    "0": "All Rights Reserved", "1": "CC BY-NC-SA 2.0", "2": "CC BY-NC 2.0",
    "3": "CC BY-NC-ND 2.0", "4": "CC BY 2.0", "5": "CC BY-SA 2.0", "6": "CC BY-ND 2.0",
    "7": "No known copyright restrictions", "8": "United States Government Work",
    "9": "CC0 1.0", "10": "Public Domain Mark 1.0",
}
# Creative Commons and public domain: everything but "all rights reserved"
DEFAULT_LICENCES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10")
FLICKR_START = datetime(2004, 2, 1, tzinfo=UTC)
RESULT_CAP = 4000
FORMATS = {"jpg": "jpeg"}  # Flickr's originalformat -> the format's name in ``ImageFacts.format``


@dataclass(frozen=True, slots=True)
class FlickrOptions:
    licences: tuple[str, ...] = DEFAULT_LICENCES
    per_page: int = 500
    window_max: int = 3000
    start: datetime = FLICKR_START
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of ``photos.search``: numbers arrive as strings or ints, both are accepted."""

    page: int
    pages: int
    total: int
    photos: tuple[dict[str, Any], ...] = field(default=())


def parse_search(doc: dict[str, Any]) -> SearchPage:
    photos = doc.get("photos") or {}
    return SearchPage(page=_int(photos.get("page")) or 1, pages=_int(photos.get("pages")) or 0,
                      total=_int(photos.get("total")) or 0,
                      photos=tuple(p for p in photos.get("photo") or () if isinstance(p, dict)))


def original_url(photo: dict[str, Any]) -> str | None:
    """``url_o``, or the static URL built from ``originalsecret`` (both only when downloadable)."""
    if photo.get("url_o"):
        return str(photo["url_o"])
    secret, fmt = photo.get("originalsecret"), photo.get("originalformat") or "jpg"
    if secret and photo.get("server") and photo.get("id"):
        return f"https://live.staticflickr.com/{photo['server']}/{photo['id']}_{secret}_o.{fmt}"
    return None


def judge_photo(photo: dict[str, Any], camera: Camera, policy: Policy) -> Found | None:
    """A candidate, a skip with its reason, or None (no original may be fetched)."""
    url = original_url(photo)
    if url is None or not url.startswith(("https://", "http://")) or not photo.get("id"):
        return None
    width, height = original_size(photo)
    candidate = Candidate(
        source="flickr", source_id=str(photo["id"]), url=url, camera=camera.id,
        page_url=f"https://www.flickr.com/photos/{photo.get('owner', '_')}/{photo['id']}",
        licence=LICENCES.get(str(photo.get("license", ""))),
        author=str(photo["ownername"]) if photo.get("ownername") else None,
        width=width, height=height)
    return screened(candidate, prefilter(metadata_facts(photo), camera, policy))


def metadata_facts(photo: dict[str, Any]) -> MetadataFacts:
    """What the search result says of the original: its format and ``o_dims`` (no EXIF at all)."""
    fmt = str(photo.get("originalformat") or "").strip().lower()
    width, height = original_size(photo)
    return MetadataFacts(format=FORMATS.get(fmt, fmt) or None, width=width, height=height)


def original_size(photo: dict[str, Any]) -> tuple[int | None, int | None]:
    """The original's pixel size: ``url_o``'s ``width_o``/``height_o``, else ``o_dims``'s
    ``o_width``/``o_height`` (given whether or not ``url_o`` is); None where neither says."""
    for w_key, h_key in (("width_o", "height_o"), ("o_width", "o_height")):
        width, height = _int(photo.get(w_key)), _int(photo.get(h_key))
        if width and height and width > 0 and height > 0:
            return width, height
    return None, None


class FlickrSource:
    """Searches each camera's ``flickr_text`` and ``flickr_tags`` queries, window by window."""

    name = "flickr"

    def __init__(self, caller: FlickrCaller, options: FlickrOptions | None = None,
                 policy: Policy | None = None) -> None:
        """``policy`` is the curation policy the pre-filter applies (None: the default one)."""
        self.caller = caller
        self.options = options or FlickrOptions()
        self.policy = policy or load_policy()
        self.no_original = 0
        self._seen: set[str] = set()

    @property
    def api_calls(self) -> int:
        return self.caller.calls

    def find(self, cameras: Sequence[Camera]) -> Iterator[Found]:
        for camera in cameras:
            queries = [{"text": t} for t in camera.queries.flickr_text]
            queries += [{"tags": t, "tag_mode": "all"} for t in camera.queries.flickr_tags]
            for query in queries:
                for photo in self.search(query):
                    found = judge_photo(photo, camera, self.policy)
                    if found is None:
                        self.no_original += 1
                    else:
                        yield found

    def search(self, query: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Every photo of ``query`` once, however many windows it takes."""
        end = self.options.end or datetime.now(UTC)
        windows = [(int(self.options.start.timestamp()), int(end.timestamp()))]
        while windows:
            lo, hi = windows.pop()
            first = self._page(query, lo, hi, 1)
            if first.total > self.options.window_max and hi > lo:
                mid = (lo + hi) // 2
                windows += [(mid + 1, hi), (lo, mid)]  # earlier half first (popped last-in)
                continue
            yield from self._fresh(first.photos)
            last_page = min(first.pages, -(-RESULT_CAP // self.options.per_page))
            for page in range(2, last_page + 1):
                yield from self._fresh(self._page(query, lo, hi, page).photos)

    def _page(self, query: dict[str, str], lo: int, hi: int, page: int) -> SearchPage:
        doc = self.caller.call(
            SEARCH, **query, license=",".join(self.options.licences), content_type=1,
            media="photos", sort="date-posted-asc", extras=EXTRAS, per_page=self.options.per_page,
            page=page, min_upload_date=lo, max_upload_date=hi)
        return parse_search(doc)

    def _fresh(self, photos: tuple[dict[str, Any], ...]) -> Iterator[dict[str, Any]]:
        for photo in photos:
            photo_id = str(photo.get("id", ""))
            if photo_id and photo_id not in self._seen:
                self._seen.add(photo_id)
                yield photo


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

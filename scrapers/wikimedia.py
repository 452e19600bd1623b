"""Wikimedia Commons: the files of each camera's "Taken with ..." categories, with their metadata.

One serial API request per 50 files (``generator=categorymembers`` + ``prop=imageinfo``),
following the ``continue`` object until the answer has none, always with ``maxlag=5``. The
categories' subcategories (``list=categorymembers&cmtype=subcat``, continued the same way) are
walked breadth-first down to ``depth`` levels below each camera's own: Commons splits "Taken
with" categories by lens, year or photographer. Each category is asked once and each file
yielded once however many categories hold it, so a cycle in the category graph (they exist)
ends the walk instead of looping. A lagged
API answers ``{"error": {"code": "maxlag"}}`` with a Retry-After, and we wait that long. The
file's own EXIF (``metadata``) pre-filters before download, by the verdict's own rules
(``pipeline.prefilter``): a Make/Model of no registry camera, an edit in Software, a non-native
size or a non-JPEG is ruled out with its reason. The candidate carries the SHA-1 and size the
downloader verifies, and the licence and artist.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from bs4 import BeautifulSoup

from pipeline.policy import Policy, load_policy
from pipeline.prefilter import MetadataFacts, prefilter
from pipeline.records import Candidate
from pipeline.registry import Camera, Registry
from scrapers.base import Found, SourceError, one_line, screened
from scrapers.http import PoliteClient
from scrapers.retry import parse_retry_after

API = "https://commons.wikimedia.org/w/api.php"
IIPROP = "url|size|sha1|mime|metadata|commonmetadata|extmetadata"
MAXLAG_RETRIES = 5
# One level below a camera's categories: the lens, year and photographer subdivisions of
# "Taken with X" hold that camera's files; deeper levels add an API call per category for few
# more files and drift into categories about the subjects, whose files the pre-filter's EXIF
# check then rules out anyway. ``camid scrape wikimedia --depth N`` changes it.
DEFAULT_DEPTH = 1
# MIME types whose subtype is not the format's name in ``ImageFacts.format``
MIME_FORMATS = {"image/jpg": "jpeg", "image/pjpeg": "jpeg", "image/svg+xml": "svg", "image/heic": "heif"}


def category_params(category: str, batch: int = 50) -> dict[str, str]:
    """The query of one category's files (continuation parameters are merged in by the caller)."""
    title = category if category.startswith("Category:") else f"Category:{category}"
    return {"action": "query", "generator": "categorymembers", "gcmtitle": title,
            "gcmtype": "file", "gcmlimit": str(batch), "prop": "imageinfo", "iiprop": IIPROP,
            "iimetadataversion": "latest", "format": "json", "formatversion": "2", "maxlag": "5"}


def category_title(category: str) -> str:
    """``Category:Name`` as MediaWiki spells it: underscores are spaces, the first letter capital."""
    name = " ".join(category.removeprefix("Category:").replace("_", " ").split())
    return f"Category:{name[:1].upper()}{name[1:]}"


def subcategory_params(category: str, batch: int = 500) -> dict[str, str]:
    """The query of one category's subcategories (500: the most a client without bot rights gets)."""
    return {"action": "query", "list": "categorymembers", "cmtitle": category_title(category),
            "cmtype": "subcat", "cmlimit": str(batch), "format": "json", "formatversion": "2",
            "maxlag": "5"}


def subcategories_of(doc: dict[str, Any]) -> list[str]:
    """The titles of a ``list=categorymembers`` answer's members."""
    members = (doc.get("query") or {}).get("categorymembers") or []
    return [str(m["title"]) for m in members if isinstance(m, dict) and m.get("title")]


def pages_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer's pages: a list (formatversion=2) or a dict keyed by page id (version 1)."""
    pages = (doc.get("query") or {}).get("pages") or []
    return list(pages.values()) if isinstance(pages, dict) else list(pages)


def metadata_of(info: dict[str, Any]) -> dict[str, str]:
    """EXIF fields as name → text, from ``metadata`` then ``commonmetadata`` (first one wins)."""
    fields: dict[str, str] = {}
    for item in (info.get("metadata") or []) + (info.get("commonmetadata") or []):
        if isinstance(item, dict) and isinstance(item.get("value"), str | int | float):
            fields.setdefault(str(item.get("name")), str(item["value"]).strip())
    return fields


def ext_value(info: dict[str, Any], name: str) -> str | None:
    """An extmetadata field as plain text (Artist arrives as HTML)."""
    value = ((info.get("extmetadata") or {}).get(name) or {}).get("value")
    if not value:
        return None
    text = BeautifulSoup(str(value), "html.parser").get_text(" ", strip=True)
    return one_line(text, 500) or None


def judge_file(page: dict[str, Any], camera: Camera, registry: Registry,
               policy: Policy) -> Found | None:
    """The candidate for one file page, or its skip; None when the page has no file."""
    infos = page.get("imageinfo") or []
    if not infos or not str(infos[0].get("url", "")).startswith(("https://", "http://")):
        return None
    info = infos[0]
    candidate = Candidate(
        source="wikimedia", source_id=str(page.get("pageid") or page.get("title")),
        url=str(info["url"]), camera=camera.id, page_url=info.get("descriptionurl"),
        licence=ext_value(info, "LicenseShortName"), author=ext_value(info, "Artist"),
        expected_sha1=str(info["sha1"]).lower() if info.get("sha1") else None,
        expected_bytes=info.get("size"), width=info.get("width"), height=info.get("height"))
    return screened(candidate, prefilter(metadata_facts(info), camera, policy, registry))


def metadata_facts(info: dict[str, Any]) -> MetadataFacts:
    """What the file's imageinfo says: the MIME type, EXIF Make/Model/Software and the size."""
    meta = metadata_of(info)
    mime = str(info.get("mime") or "").strip().lower()
    return MetadataFacts(format=MIME_FORMATS.get(mime, mime.rpartition("/")[2]) or None,
                         make=meta.get("Make") or None, model=meta.get("Model") or None,
                         software=meta.get("Software") or None,
                         width=_size(info.get("width")), height=_size(info.get("height")))


def _size(value: Any) -> int | None:
    """A positive pixel count, or None (Commons gives 0 for sizes it does not know)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class WikimediaSource:
    """Walks each camera's ``commons_categories`` through the Action API, serially."""

    name = "wikimedia"

    def __init__(self, client: PoliteClient, registry: Registry, policy: Policy | None = None,
                 endpoint: str | None = None, batch: int = 50, depth: int = DEFAULT_DEPTH,
                 subcategory_batch: int = 500) -> None:
        """``policy`` is the curation policy the pre-filter applies (None: the default one);
        ``depth`` how many levels of subcategories are walked (0: the categories alone)."""
        self.client, self.registry = client, registry
        self.policy = policy or load_policy()
        self.endpoint, self.batch, self.depth = endpoint or API, batch, depth
        self.subcategory_batch = subcategory_batch
        self.calls = 0
        self._visited: set[str] = set()  # categories asked, for every camera: each asked once
        self._seen: set[str] = set()  # files yielded

    @property
    def api_calls(self) -> int:
        return self.calls

    def find(self, cameras: Sequence[Camera]) -> Iterator[Found]:
        for camera in cameras:
            for category in self.categories(camera.queries.commons_categories):
                for page in self.category_files(category):
                    key = str(page.get("pageid") or page.get("title"))
                    if key in self._seen:
                        continue
                    self._seen.add(key)
                    found = judge_file(page, camera, self.registry, self.policy)
                    if found is not None:
                        yield found

    def categories(self, roots: Iterable[str]) -> Iterator[str]:
        """``roots`` and their subcategories down to ``depth``, breadth-first, each once.

        A category's subcategories are asked for after its files were taken (the caller reads
        them before asking for the next category), so the first candidates come at once.
        """
        queue = deque((category_title(root), 0) for root in roots)
        while queue:
            category, level = queue.popleft()
            if category in self._visited:
                continue
            self._visited.add(category)
            yield category
            if level < self.depth:
                queue.extend((category_title(sub), level + 1) for sub in self.subcategories(category))

    def subcategories(self, category: str) -> list[str]:
        """Every subcategory of the category, following ``continue`` to the end."""
        return [title for doc in self._continued(subcategory_params(category, self.subcategory_batch))
                for title in subcategories_of(doc)]

    def category_files(self, category: str) -> Iterator[dict[str, Any]]:
        """Every file page of the category, following ``continue`` to the end."""
        for doc in self._continued(category_params(category, self.batch)):
            yield from pages_of(doc)

    def _continued(self, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """The answers to a query and to each continuation of it, until one has no ``continue``."""
        cont: dict[str, Any] = {}
        while True:
            doc = self._query({**params, **cont})
            yield doc
            cont = doc.get("continue") or {}
            if not cont:
                return

    def _query(self, params: dict[str, Any]) -> dict[str, Any]:
        """One API request; a maxlag answer waits its Retry-After (or 5 s) and asks again."""
        for _ in range(MAXLAG_RETRIES + 1):
            self.calls += 1
            response = self.client.get(self.endpoint, params=params)
            try:
                doc = response.json()
            except ValueError:
                raise SourceError("wikimedia: the API answered with something other than JSON") from None
            error = doc.get("error") if isinstance(doc, dict) else None
            if not error:
                return doc
            if error.get("code") != "maxlag":
                raise SourceError(one_line(f"wikimedia API error {error.get('code')}: "
                                           f"{error.get('info', '')}"),
                                  retryable=str(error.get("code")).startswith(  # may pass later
                                      ("ratelimited", "readonly", "internal_api_error")))
            delay = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
            self.client.wait(5.0 if delay is None else delay)
        raise SourceError("wikimedia: the API stayed lagged (maxlag) after several waits; try later",
                          retryable=True)

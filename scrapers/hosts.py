"""Where files may come from: each source's image hosts, the hosts a user adds, who wants a contact.

A source serves its files from a few known hosts, so an image URL elsewhere (a loopback or
private address, another domain) is not the source's file, whoever named it: an API answer
naming one is skipped before any request is made (``HostScreen``), and a redirect to one is not
followed (``HostRules.redirect_refusal``). A ``dir`` URL list has no such hosts: each URL's own
host is whatever the user listed, and ``camid download --follow-host PATTERN`` allows more
redirect targets, for any source. A redirect to a URL that is not HTTP(S) (``file:``, ``ftp:``,
``data:``) or to a host not allowed is refused for good: the same answer comes back on every
attempt. The rules are data (``DEFAULT_SOURCE_HOSTS``), so tests allow their loopback servers
with ``HostRules.allowing``. Patterns are globs on ``host`` or ``host:port``, as for
``--host-limit``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from yarl import URL

from pipeline.records import Reason
from pipeline.registry import Camera
from scrapers.base import Found, Skipped, Source

WEB_SCHEMES = ("http", "https")
FLICKR_HOSTS = ("*.staticflickr.com", "*.flickr.com")
WIKIMEDIA_HOSTS = ("upload.wikimedia.org",)
REVIEW_SITE_HOSTS = {"dpreview": ("www.dpreview.com", "*.img-dpreview.com"),
                     "gsmarena": ("www.gsmarena.com", "*.gsmarena.com")}
# hosts whose operators ask every client for a contact in its User-Agent (Wikimedia's policy)
CONTACT_HOSTS = ("*.wikimedia.org", "*.wikipedia.org")
CONTACT_MISSING = ("Wikimedia asks every client for a contact: pass --contact EMAIL|URL or set "
                   "CAMID_CONTACT")


@dataclass(frozen=True, slots=True)
class SourceHosts:
    """The hosts one source serves its files from; with ``own_host``, each URL's own host too."""

    source: str
    patterns: tuple[str, ...]
    own_host: bool = False

    def serves(self, url: URL) -> bool:
        """Is ``url`` a web URL on one of these hosts? (An ``own_host`` source names its own.)"""
        return url.scheme in WEB_SCHEMES and bool(url.host) and (
            self.own_host or host_matches(url, self.patterns))


DEFAULT_SOURCE_HOSTS = (
    SourceHosts("flickr", FLICKR_HOSTS),
    SourceHosts("wikimedia", WIKIMEDIA_HOSTS),
    SourceHosts("reviews", tuple(h for hosts in REVIEW_SITE_HOSTS.values() for h in hosts)),
    SourceHosts("dir", (), own_host=True),
)


def host_matches(url: URL, patterns: Sequence[str]) -> bool:
    """Does the URL's ``host`` or ``host:port`` match one of the globs (case-insensitively)?"""
    host = (url.host or "").lower()
    named = f"{host}:{url.port}" if url.port is not None else host
    return any(fnmatchcase(host, p.lower()) or fnmatchcase(named, p.lower()) for p in patterns)


def where(url: URL) -> str:
    """The host as a message names it: ``host``, or ``host:port`` when the URL gives a port."""
    return f"{url.host}:{url.explicit_port}" if url.explicit_port is not None else str(url.host)


@dataclass(frozen=True, slots=True)
class HostRules:
    """The downloader's rules: each source's hosts, the user's ``--follow-host`` patterns, and
    whether its User-Agent carries a contact (which ``CONTACT_HOSTS`` require)."""

    sources: tuple[SourceHosts, ...] = DEFAULT_SOURCE_HOSTS
    follow: tuple[str, ...] = ()
    contact: bool = False

    def hosts_of(self, source: str) -> SourceHosts:
        """The source's hosts; a source camid has no list for is held to each URL's own host."""
        for hosts in self.sources:
            if hosts.source == source:
                return hosts
        return SourceHosts(source, (), own_host=True)

    def allowing(self, source: str, *patterns: str) -> HostRules:
        """These rules with more hosts for ``source`` (a test's loopback servers, a mirror)."""
        hosts = self.hosts_of(source)
        others = tuple(h for h in self.sources if h.source != source)
        return replace(self, sources=(*others, replace(hosts, patterns=hosts.patterns + patterns)))

    def redirect_refusal(self, source: str, origin: URL, target: URL) -> str | None:
        """Why a redirect of ``source``'s file from ``origin`` to ``target`` is not followed
        (None: follow it). The original URL's own host counts only where the source has no
        list of its own (``dir``): a Flickr URL that sends us to its own mirror is still off Flickr."""
        if target.scheme not in WEB_SCHEMES:
            return f"redirect to a non-HTTP URL ({target.scheme or 'no scheme'}:) refused"
        if not target.host:
            return "redirect to a URL without a host refused"
        hosts = self.hosts_of(source)
        if hosts.own_host and _same_host(origin, target):
            return None
        if host_matches(target, hosts.patterns + self.follow):
            return None
        return (f"redirect to {where(target)} refused: not a host {source} files come from "
                "(allow it with camid download --follow-host)")

    def needs_contact(self, url: URL) -> bool:
        """Would fetching ``url`` break its host's rule that clients name a contact?"""
        return not self.contact and host_matches(url, CONTACT_HOSTS)


DEFAULT_RULES = HostRules()


def _same_host(a: URL, b: URL) -> bool:
    """The same host and the same port as written (http -> https on default ports is the same)."""
    return (a.host or "").lower() == (b.host or "").lower() and a.explicit_port == b.explicit_port


def source_hosts(source: str, endpoint: str | None = None) -> SourceHosts:
    """The hosts ``source``'s API answers may name; an ``--endpoint`` (a mirror or a test
    server) serves files from its own host too."""
    hosts = DEFAULT_RULES.hosts_of(source)
    if endpoint:
        served = URL(endpoint)
        if served.host:
            hosts = replace(hosts, patterns=(*hosts.patterns, where(served)))
    return hosts


def screen(found: Found, hosts: SourceHosts) -> Found:
    """The candidate, or its skip when its URL is not on a host the source serves from.

    A skip, not a failure: nothing was tried, and nothing ever should be (the catalog records
    it as skipped with ``off_source_host``, before any request to that host)."""
    if isinstance(found, Skipped):
        return found
    try:
        url = URL(found.url)
    except ValueError:
        return Skipped(found, Reason.OFF_SOURCE_HOST, "not a URL")
    if hosts.serves(url):
        return found
    if url.scheme not in WEB_SCHEMES or not url.host:
        detail = f"a {url.scheme or 'relative'}: URL, not a file {hosts.source} serves over the web"
    else:
        detail = f"{where(url)} is not a host {hosts.source} serves files from"
    return Skipped(found, Reason.OFF_SOURCE_HOST, detail)


class HostScreen:
    """A source whose answers are screened by ``screen``: what the CLI, flows and demo scrape."""

    def __init__(self, source: Source, hosts: SourceHosts) -> None:
        self.source, self.hosts, self.name = source, hosts, source.name

    @property
    def api_calls(self) -> int:
        return self.source.api_calls

    def find(self, cameras: Sequence[Camera]) -> Iterator[Found]:
        for found in self.source.find(cameras):
            yield screen(found, self.hosts)

"""robots.txt, read once per host through the polite client (``urllib.robotparser`` rules).

Missing rules (4xx) allow everything; an unreachable or failing robots.txt (5xx, network) forbids
everything, as RFC 9309 asks. ``Crawl-delay`` and ``Request-rate``, when given, set the client's
spacing for that host (otherwise the client's default, 1 s for review sites, holds).
"""

from __future__ import annotations

from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from scrapers.base import AGENT, SourceError
from scrapers.http import PoliteClient


class Robots:
    """The rules of every host a source visits, fetched on first contact."""

    def __init__(self, client: PoliteClient, agent: str = AGENT) -> None:
        self.client = client
        self.agent = agent
        self._rules: dict[str, RobotFileParser] = {}
        self.failures: dict[str, str] = {}  # host -> why its robots.txt could not be read

    def allowed(self, url: str) -> bool:
        return self._for(url).can_fetch(self.agent, url)

    def failure(self, url: str) -> str | None:
        """Why the rules of ``url``'s host forbid everything because they could not be read."""
        return self.failures.get(urlsplit(url).netloc)

    def _for(self, url: str) -> RobotFileParser:
        parts = urlsplit(url)
        host = parts.netloc
        if host not in self._rules:
            self._rules[host] = self._fetch(host, f"{parts.scheme}://{host}/robots.txt")
            delay = self.delay(self._rules[host])
            if delay is not None:
                self.client.set_interval(host, delay)
        return self._rules[host]

    def delay(self, rules: RobotFileParser) -> float | None:
        """Seconds between requests the rules ask of us; None when they say nothing."""
        delays: list[float] = []
        crawl_delay = rules.crawl_delay(self.agent)
        if crawl_delay is not None:
            delays.append(float(crawl_delay))
        rate = rules.request_rate(self.agent)
        if rate is not None and rate.requests > 0:
            delays.append(rate.seconds / rate.requests)
        return max(delays) if delays else None

    def _fetch(self, host: str, robots_url: str) -> RobotFileParser:
        rules = RobotFileParser(robots_url)
        try:
            response = self.client.get(robots_url, accept=lambda r: 400 <= r.status_code < 500)
        except SourceError as exc:
            self.failures[host] = str(exc)
            rules.parse(["User-agent: *", "Disallow: /"])  # unreachable robots.txt: ask nothing
            return rules
        if response.status_code >= 400:
            rules.parse([])  # no robots.txt (4xx): everything is allowed
        else:
            rules.parse(response.text.splitlines())
        return rules

"""Sources by name: the one factory the CLI, the Prefect flows and the demo build sources with.

Flickr's key and secret come from the environment only and are never echoed; Wikimedia refuses
to be asked without a contact. What an API answers is screened by host (``scrapers.hosts``): a
file URL off the source's image hosts (or the ``--endpoint``'s own) is skipped, never fetched.
Each source's packages are imported only when it is chosen.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import CamidError

if TYPE_CHECKING:
    from db import Catalog
    from pipeline.registry import Registry
    from scrapers.base import Source
    from scrapers.flickr_api import CallBudget

SOURCES = ("flickr", "wikimedia", "reviews", "dir")
REVIEW_SITES = ("dpreview", "gsmarena")


def make_source(source: str, catalog: Catalog, registry: Registry, *, endpoint: str | None = None,
                contact: str | None = None, licences: tuple[str, ...] = (), budget: int = 3600,
                sites: tuple[str, ...] = (), folder: Path | None = None,
                url_list: Path | None = None, depth: int | None = None,
                notice: Callable[[str], None] = print) -> Source:
    """The source object for ``camid scrape SOURCE``, the ``scrape`` flow and the demo.

    ``depth`` is how many levels of Commons subcategories are walked (None: the source's
    default); ``notice`` hears what a source leaves out or waits for, as it happens. Every source
    but ``dir`` (the user's own files and URLs) answers through a screen that skips image URLs
    off the source's own hosts.
    """
    from scrapers.hosts import HostScreen, source_hosts

    if source == "dir":
        return _dir(folder, url_list, notice)
    if source == "flickr":
        made = _flickr(catalog, endpoint, licences, budget, notice)
    elif source == "wikimedia":
        made = _wikimedia(registry, endpoint, contact, depth)
    else:
        made = _reviews(endpoint, contact, sites, notice)
    return HostScreen(made, source_hosts(source, endpoint))


def _flickr(catalog: Catalog, endpoint: str | None, licences: tuple[str, ...], budget: int,
            notice: Callable[[str], None]) -> Source:
    from scrapers.flickr import DEFAULT_LICENCES, LICENCES, FlickrOptions, FlickrSource
    from scrapers.flickr_api import FlickrCaller, FlickrCredentials

    credentials = FlickrCredentials.from_env(dict(os.environ))
    chosen = tuple(x.strip() for item in licences for x in item.split(",") if x.strip())
    unknown = [x for x in chosen if x not in LICENCES]
    if unknown:
        raise CamidError(f"unknown Flickr licence id {unknown[0]!r}: use {', '.join(LICENCES)}")
    caller = FlickrCaller(credentials, flickr_budget(catalog, budget), endpoint=endpoint, notice=notice)
    return FlickrSource(caller, FlickrOptions(licences=chosen or DEFAULT_LICENCES))


def flickr_budget(catalog: Catalog, per_hour: int, **clocks: Any) -> CallBudget:
    """The hourly Flickr budget with the calls of the last hour at the times they were made
    (as the catalog stamped them), so each frees its place an hour after it was made."""
    from datetime import UTC, datetime, timedelta

    from scrapers.flickr_api import CallBudget

    now = datetime.now(UTC)
    ages = [(now - at).total_seconds() for at, calls in
            catalog.api_call_times("flickr", now - timedelta(hours=1)) for _ in range(calls)]
    return CallBudget(per_hour, ages=ages, **clocks)


def _wikimedia(registry: Registry, endpoint: str | None, contact: str | None,
               depth: int | None) -> Source:
    from pipeline.policy import load_policy
    from scrapers.base import user_agent
    from scrapers.http import Etiquette, PoliteClient
    from scrapers.wikimedia import DEFAULT_DEPTH, WikimediaSource

    if not contact:
        raise CamidError("Wikimedia asks every client for a contact: pass --contact EMAIL|URL "
                         "or set CAMID_CONTACT")
    client = PoliteClient(user_agent(contact), Etiquette(min_interval=0.0))  # serial calls
    return WikimediaSource(client, registry, load_policy(), endpoint=endpoint,
                           depth=DEFAULT_DEPTH if depth is None else depth)


def _reviews(endpoint: str | None, contact: str | None, sites: tuple[str, ...],
             notice: Callable[[str], None]) -> Source:
    from scrapers.base import user_agent
    from scrapers.http import PoliteClient
    from scrapers.reviews import SITES, ReviewsSource

    chosen = [SITES[name] for name in (sites or REVIEW_SITES)]
    if endpoint:
        chosen = [site.at(endpoint) for site in chosen]
    return ReviewsSource(PoliteClient(user_agent(contact)), chosen, notice=notice)


def _dir(folder: Path | None, url_list: Path | None, notice: Callable[[str], None]) -> Source:
    from scrapers.folder import DirSource

    return DirSource(folder, url_list, notice=notice)

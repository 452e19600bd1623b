"""Sources by name: the one factory the CLI, the Prefect flows and the demo build sources with.

Flickr's key and secret come from the environment only and are never echoed; Wikimedia refuses
to be asked without a contact. Each source's packages are imported only when it is chosen.
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
                url_list: Path | None = None,
                notice: Callable[[str], None] = print) -> Source:
    """The source object for ``camid scrape SOURCE``, the ``scrape`` flow and the demo."""
    if source == "flickr":
        return _flickr(catalog, endpoint, licences, budget, notice)
    if source == "wikimedia":
        return _wikimedia(registry, endpoint, contact)
    if source == "reviews":
        return _reviews(endpoint, contact, sites)
    return _dir(folder, url_list)


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


def _wikimedia(registry: Registry, endpoint: str | None, contact: str | None) -> Source:
    from pipeline.policy import load_policy
    from scrapers.base import user_agent
    from scrapers.http import Etiquette, PoliteClient
    from scrapers.wikimedia import WikimediaSource

    if not contact:
        raise CamidError("Wikimedia asks every client for a contact: pass --contact EMAIL|URL "
                         "or set CAMID_CONTACT")
    client = PoliteClient(user_agent(contact), Etiquette(min_interval=0.0))  # serial calls
    return WikimediaSource(client, registry, load_policy(), endpoint=endpoint)


def _reviews(endpoint: str | None, contact: str | None, sites: tuple[str, ...]) -> Source:
    from scrapers.base import user_agent
    from scrapers.http import PoliteClient
    from scrapers.reviews import SITES, ReviewsSource

    chosen = [SITES[name] for name in (sites or REVIEW_SITES)]
    if endpoint:
        chosen = [site.at(endpoint) for site in chosen]
    return ReviewsSource(PoliteClient(user_agent(contact)), chosen)


def _dir(folder: Path | None, url_list: Path | None) -> Source:
    from scrapers.folder import DirSource

    return DirSource(folder, url_list)

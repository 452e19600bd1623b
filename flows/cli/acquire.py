"""`camid scrape` and `camid download`: the acquisition stage's commands.

A thin door: options go to ``flows.stages.sources.make_source`` and
``flows.stages.configs.downloader_config``, and ``flows.stages.acquire`` does the work. Heavy
packages (requests, flickrapi, aiohttp, SQLAlchemy) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from flows.cli.context import registry_of, settings_of
from flows.stages.sources import REVIEW_SITES, SOURCES
from pipeline.errors import CamidError
from pipeline.records import FailureReason

FAILURE_CODES = tuple(code.value for code in FailureReason)


@click.command()
@click.argument("source", type=click.Choice(SOURCES))
@click.option("--camera", "cameras_", multiple=True, metavar="ID", help="Registry class id (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after this many new candidates.")
@click.option("--endpoint", metavar="URL", help="API or site base URL (a mirror or test server).")
@click.option("--licence", "licences", multiple=True, metavar="IDS",
              help="flickr: licence ids, comma-separated or repeated [default: 1-10, CC and public "
                   "domain].")
@click.option("--budget", type=click.IntRange(min=1), default=3600, show_default=True,
              help="flickr: API calls per hour.")
@click.option("--contact", envvar="CAMID_CONTACT", metavar="EMAIL|URL",
              help="Contact for the User-Agent (required by Wikimedia) [env CAMID_CONTACT].")
@click.option("--depth", type=click.IntRange(min=0), metavar="N",
              help="wikimedia: levels of subcategories walked below each camera's categories "
                   "[default: 1; 0: the categories alone].")
@click.option("--site", "sites", multiple=True, type=click.Choice(REVIEW_SITES),
              help="reviews: which sites [default: all].")
@click.option("--path", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="dir: a folder of your own JPEGs.")
@click.option("--url-list", type=click.Path(dir_okay=False, path_type=Path),
              help="dir: a file with one image URL per line.")
@click.pass_context
def scrape(ctx: click.Context, source: str, cameras_: tuple[str, ...], limit: int | None,
           endpoint: str | None, licences: tuple[str, ...], budget: int, contact: str | None,
           depth: int | None, sites: tuple[str, ...], folder: Path | None,
           url_list: Path | None) -> None:
    """Find candidate originals on a SOURCE and add them to the catalog."""
    from db import Catalog
    from flows.stages.acquire import scrape as run_scrape
    from flows.stages.sources import make_source

    settings, registry = settings_of(ctx), registry_of(ctx)
    try:
        cameras = [registry.get(c) for c in cameras_] if cameras_ else list(registry.cameras)
    except KeyError as exc:
        raise CamidError(str(exc.args[0])) from None
    with Catalog.open(settings.catalog_url) as catalog:
        made = make_source(source, catalog, registry, endpoint=endpoint, contact=contact,
                           licences=licences, budget=budget, sites=sites, folder=folder,
                           url_list=url_list, depth=depth, notice=lambda m: click.echo(m, err=True))
        report = run_scrape(catalog, made, cameras, limit)
    skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(report.skipped.items())) or "none"
    click.echo(f"{report.source}: {report.found} found, {report.added} new candidate(s); "
               f"ruled out before download: {skipped}; {report.api_calls} API call(s)")


@click.command()
@click.option("--limit", type=click.IntRange(min=1), help="Fetch at most this many candidates.")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
              help="Total concurrent downloads.")
@click.option("--host-limit", "host_limits", multiple=True, metavar="PATTERN=N[:RATE[:MBPS]]",
              help="Per-host concurrency, requests/s and megabits/s of bodies (shared by the host's "
                   "connections; none when MBPS is left out) for hosts matching PATTERN (repeatable); "
                   "defaults: upload.wikimedia.org=2:5:25, *.staticflickr.com=4:10, others 1:1.")
@click.option("--follow-host", "follow_hosts", multiple=True, metavar="PATTERN",
              help="Also follow redirects to hosts matching PATTERN (host or host:port glob; "
                   "repeatable). Otherwise a redirect may lead only to the source's own image hosts "
                   "(for a URL list: the URL's own host); anywhere else, or to a non-HTTP URL, the "
                   "URL fails for good.")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=60.0, show_default=True,
              help="Seconds without data before a download is abandoned.")
@click.option("--max-bytes", type=click.IntRange(min=1024), default=64 << 20, show_default=True,
              help="Largest body accepted.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=6, show_default=True,
              help="Attempts before a URL is given up.")
@click.option("--backoff", type=click.FloatRange(min=0.0), default=30.0, show_default=True,
              help="Base of the exponential backoff, in seconds.")
@click.option("--wait-retries", type=click.FloatRange(min=0.0), default=10.0, show_default=True,
              help="Wait for retries due within this many seconds before finishing; no wait lasts "
                   "longer (a host that asks for a longer pause has its URLs handed back).")
@click.option("--contact", envvar="CAMID_CONTACT", metavar="EMAIL|URL",
              help="Contact for the User-Agent (required for Wikimedia hosts: without one, a run "
                   "with URLs due there stops before fetching) [env CAMID_CONTACT].")
@click.option("--retry-failed", is_flag=True,
              help="First re-queue the URLs that were given up (failed for good), with fresh attempts.")
@click.option("--reason", "reasons", multiple=True, metavar="CODE",
              help="With --retry-failed: only URLs whose last failure has this code, matched exactly "
                   "(repeatable or comma-separated; `camid stats` counts them): "
                   + ", ".join(FAILURE_CODES) + ".")
@click.pass_context
def download(ctx: click.Context, limit: int | None, concurrency: int, host_limits: tuple[str, ...],
             follow_hosts: tuple[str, ...], timeout: float, max_bytes: int, max_attempts: int,
             backoff: float, wait_retries: float, contact: str | None, retry_failed: bool,
             reasons: tuple[str, ...]) -> None:
    """Fetch pending candidates into content-addressed storage."""
    from db import Catalog
    from flows.progress import progress_ticker
    from flows.stages.acquire import download as run_download
    from flows.stages.configs import downloader_config

    settings = settings_of(ctx)
    codes = _failure_codes(reasons, retry_failed)
    config = downloader_config(settings.data_dir, concurrency=concurrency, host_limits=host_limits,
                               contact=contact, timeout=timeout, max_bytes=max_bytes,
                               max_attempts=max_attempts, backoff=backoff, follow_hosts=follow_hosts)
    with Catalog.open(settings.catalog_url) as catalog:
        if retry_failed:
            requeued = catalog.requeue_failed(codes)
            which = f" (last failure {', '.join(codes)})" if codes else ""
            click.echo(f"re-queued {requeued} URL(s) that had been given up{which}")
        with progress_ticker() as tick:
            report = run_download(catalog, config, limit, tick, horizon=wait_retries)
    rate = report.bytes / max(report.seconds, 1e-9) / 1e6
    click.echo(f"stored {report.stored} file(s) ({report.bytes / 1e6:.1f} MB, {rate:.1f} MB/s); "
               f"{report.failed} failed (will retry), {report.gave_up} failed for good, "
               f"{report.skipped} opted out, {report.deferred} deferred untried (the host asked "
               "to wait, or the disk was full)")
    if report.failed_by_reason:
        click.echo("failed by reason: " + ", ".join(
            f"{code} {n}" for code, n in sorted(report.failed_by_reason.items())))
    if report.next_retry_at is not None:
        click.echo(f"next retry due at {report.next_retry_at:%Y-%m-%d %H:%M:%S} UTC")


def _failure_codes(reasons: tuple[str, ...], retry_failed: bool) -> list[str] | None:
    """The ``--reason`` codes (None: every given-up URL), each one a known code."""
    codes = [c.strip().lower() for item in reasons for c in item.split(",") if c.strip()]
    if codes and not retry_failed:
        raise CamidError("--reason chooses which given-up URLs --retry-failed re-queues: "
                         "give --retry-failed too")
    unknown = [c for c in codes if c not in FAILURE_CODES]
    if unknown:
        raise CamidError(f"--reason {unknown[0]!r} is not a failure code: use one of "
                         + ", ".join(FAILURE_CODES))
    return codes or None


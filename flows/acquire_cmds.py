"""`camid scrape` and `camid download`: the acquisition stage's commands."""

from __future__ import annotations

import click

from flows.context import not_yet

SOURCES = ("flickr", "wikimedia", "reviews", "dir")


@click.command()
@click.argument("source", type=click.Choice(SOURCES))
@click.option("--camera", "cameras_", multiple=True, metavar="ID", help="Registry class id (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after this many new candidates.")
@click.option("--endpoint", metavar="URL", help="API or site base URL (a mirror or test server).")
def scrape(source: str, cameras_: tuple[str, ...], limit: int | None, endpoint: str | None) -> None:
    """Find candidate originals on a SOURCE and add them to the catalog."""
    raise not_yet("scrape", 4)


@click.command()
@click.option("--limit", type=click.IntRange(min=1), help="Fetch at most this many candidates.")
@click.option("--concurrency", type=click.IntRange(min=1), help="Total concurrent downloads.")
def download(limit: int | None, concurrency: int | None) -> None:
    """Fetch pending candidates into content-addressed storage."""
    raise not_yet("download", 4)

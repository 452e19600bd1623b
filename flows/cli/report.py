"""``camid report``: the dataset card, one self-contained HTML page."""

from __future__ import annotations

import click

from flows.cli.context import registry_of, settings_of


@click.command()
@click.argument("name", required=False)
@click.option("--per-camera", type=click.IntRange(min=0, max=500), default=24, show_default=True,
              help="Accepted thumbnails shown per camera.")
@click.option("--per-reason", type=click.IntRange(min=0, max=500), default=8, show_default=True,
              help="Rejected thumbnails shown per rejection reason.")
@click.pass_context
def report(ctx: click.Context, name: str | None, per_camera: int, per_reason: int) -> None:
    """Write the dataset card of NAME (<data-dir>/datasets/NAME/report.html), or of the whole
    catalog without NAME (<data-dir>/report.html).

    Per camera: its funnel, a grid of accepted thumbnails, size and quality histograms,
    uploaders and licences; per rejection reason: examples with the measured value that failed;
    the split; provenance; and datasheet sections. Thumbnails are embedded: one file to share.
    """
    from db import Catalog
    from flows.stages.report import write_dataset_card

    settings = settings_of(ctx)
    with Catalog.open(settings.catalog_url) as catalog:
        result = write_dataset_card(catalog, settings.data_dir, registry_of(ctx), name, per_camera=per_camera,
                              per_reason=per_reason)
    click.echo(f"wrote {result.path}: {result.images} file(s), {result.thumbnails} thumbnail(s), "
               f"{result.bytes / 1e6:.2f} MB in {result.seconds:.1f} s")

"""The ``camid`` command line.

Start-up stays light: heavy packages (SQLAlchemy, torch, Prefect, albumentations, rich) are
imported inside the commands that use them, so ``camid --help``, ``cameras --json`` and
``stats --json`` start in well under half a second (``bench/startup.py`` measures them; ``stats``
on a SQLite catalog reads it through ``db.stats_sqlite``, without SQLAlchemy). User mistakes end
as one ``camid: error: ...`` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click

from flows.cli.context import registry_of, settings_of
from pipeline import __version__
from pipeline.errors import CamidError
from pipeline.settings import resolve_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--catalog", metavar="URL", envvar="CAMID_CATALOG",
              help="SQLAlchemy URL of the catalog [env CAMID_CATALOG; default: "
                   "sqlite:///<data-dir>/catalog.db].")
@click.option("--data-dir", metavar="DIR", envvar="CAMID_DATA_DIR",
              help="Where images, datasets and runs live [env CAMID_DATA_DIR; default: camid-data].")
@click.option("--registry", metavar="PATH", envvar="CAMID_REGISTRY",
              help="Your camera registry TOML, merged over the built-in one [env CAMID_REGISTRY].")
@click.version_option(__version__, prog_name="camid")
@click.pass_context
def cli(ctx: click.Context, catalog: str | None, data_dir: str | None, registry: str | None) -> None:
    """camid: camera-model identification datasets and models, end to end."""
    ctx.obj = resolve_settings(data_dir=data_dir, catalog=catalog, registry=registry)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document for machines.")
@click.pass_context
def cameras(ctx: click.Context, as_json: bool) -> None:
    """List the registry's cameras: aliases, exclusions, native sizes, queries."""
    from pipeline.registry_load import camera_to_json

    registry = registry_of(ctx)
    if as_json:
        doc = {"registry_hash": registry.hash, "files": list(registry.files),
               "cameras": [camera_to_json(c) for c in registry.cameras]}
        click.echo(json.dumps(doc, indent=2))
        return
    from rich.console import Console

    from flows.cli.render import cameras_table

    Console().print(cameras_table(registry))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document for machines.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Catalog statistics per camera and source: candidates, downloads, verdicts, reasons."""
    from db.stats_sqlite import read_stats  # a SQLite catalog at head: no SQLAlchemy to import
    from pipeline.summary import stats_to_json

    result = read_stats(settings_of(ctx).catalog_url)
    if as_json:
        click.echo(json.dumps(stats_to_json(result), indent=2))
        return
    from rich.console import Console

    from flows.cli.render import print_stats

    print_stats(Console(), result)


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object per file.")
@click.option("--policy", type=click.Path(dir_okay=False), help="Curation policy TOML.")
@click.option("--header-only", is_flag=True, help="Skip the pixel stage (header checks alone, no decode).")
@click.option("--learned", is_flag=True,
              help="Judge signatures against those the catalog has learned, not the registry's alone.")
@click.pass_context
def inspect(ctx: click.Context, files: tuple[str, ...], as_json: bool, policy: str | None,
            header_only: bool, learned: bool) -> None:
    """Facts, pixel measurements and verdict for FILES; no catalog needed.

    Every file gets its line, readable or not; the exit status is 0 when every file was judged.
    """
    from flows.stages.inspect import inspect_files, inspection_to_json
    from pipeline.policy import HEADER_ONLY, load_policy
    from pipeline.signature_book import EMPTY_BOOK

    registry = registry_of(ctx)
    resolved = load_policy(policy, HEADER_ONLY if header_only else None)
    book = EMPTY_BOOK
    if learned:
        from db import Catalog
        from flows.stages.learning import learn_book

        with Catalog.open(settings_of(ctx).catalog_url) as catalog:
            book = learn_book(catalog, registry, resolved)
    items = inspect_files(files, registry, resolved, book)
    if as_json:
        for item in items:
            click.echo(inspection_to_json(item))
        return
    from rich.console import Console

    from flows.cli.render import inspection_table

    Console().print(inspection_table(list(items)))


@cli.command()
@click.option("--camera", metavar="ID", help="Only this registry camera.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document for machines.")
@click.option("--policy", type=click.Path(dir_okay=False), help="Curation policy TOML (min_uploaders).")
@click.pass_context
def signatures(ctx: click.Context, camera: str | None, as_json: bool, policy: str | None) -> None:
    """Each camera's encoder signatures (firmware, files, uploaders, learned, parts) and thumbnails."""
    from db import Catalog
    from flows.stages.learning import learn_book
    from flows.stages.signatures import rows_to_json, signature_rows, thumbnail_lines
    from pipeline.policy import load_policy

    registry, resolved = registry_of(ctx), load_policy(policy)
    if camera is not None and camera not in registry:
        raise CamidError(f"unknown camera {camera!r}; known: {', '.join(registry.ids)}")
    with Catalog.open(settings_of(ctx).catalog_url) as catalog:
        book = learn_book(catalog, registry, resolved)
        rows = signature_rows(catalog, registry, resolved, camera, book)
    if as_json:
        click.echo(json.dumps(rows_to_json(rows, resolved, book.thumbnails), indent=2))
        return
    from rich.console import Console

    from flows.cli.render import signatures_table

    Console().print(signatures_table(rows, int(resolved.threshold("encoder.min_uploaders"))))
    for line in thumbnail_lines(book.thumbnails, camera):
        click.echo(line)


@cli.command()
@click.option("--policy", type=click.Path(dir_okay=False), help="Curation policy TOML.")
@click.pass_context
def curate(ctx: click.Context, policy: str | None) -> None:
    """Judge downloaded files: read facts of new files, re-judge only what changed."""
    from db import Catalog
    from flows.progress import progress_ticker
    from flows.stages.curate import curate as run_curate
    from pipeline.policy import load_policy

    settings = settings_of(ctx)
    registry, resolved = registry_of(ctx), load_policy(policy)
    with Catalog.open(settings.catalog_url) as catalog, progress_ticker() as tick:
        report = run_curate(catalog, settings.data_dir, registry, resolved, tick)
    click.echo(f"read {report.read} new file(s), checked the pixels of {report.measured}, judged "
               f"{report.judged}: {report.accepted} accepted, {report.rejected} not accepted; hashed "
               f"{report.hashed} accepted file(s) for near duplicates")


@cli.command()
@click.argument("name")
@click.option("--val-per-class", type=click.IntRange(min=1), default=None,
              help="Validation images per class [default: 100, as in the paper].")
@click.option("--val-fraction", type=click.FloatRange(min=0.0, max=0.5, min_open=True), default=None,
              help="Validation share per class instead of a count.")
@click.option("--test-per-class", type=click.IntRange(min=0), default=None,
              help="Test images per class, from devices training never sees [default: as validation; "
                   "0: no test split].")
@click.option("--test-fraction", type=click.FloatRange(min=0.0, max=0.5, min_open=True), default=None,
              help="Test share per class instead of a count.")
@click.option("--hold-out", "hold_out", multiple=True, metavar="CAMERA",
              help="Keep this registry camera out of the classes; its files go to heldout.csv, on which "
                   "`camid evaluate` measures unknown-camera detection (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--replace", is_flag=True,
              help="Write NAME again if an earlier export made it (never a folder camid did not make).")
@click.pass_context
def export(ctx: click.Context, name: str, val_per_class: int | None, val_fraction: float | None,
           test_per_class: int | None, test_fraction: float | None, hold_out: tuple[str, ...], seed: int,
           replace: bool) -> None:
    """Write <data-dir>/datasets/NAME/: train/val/test CSVs, manifest.json, ATTRIBUTION.md, and
    per split a folder with metadata.csv (Hugging Face imagefolder).

    Test holds only devices that training never sees. Every stored file is checked against its
    SHA-256 first; an existing NAME needs --replace.
    """
    from db import Catalog
    from flows.cli.render import export_summary, shortfall_lines
    from flows.stages.curate import export as run_export

    if val_per_class is not None and val_fraction is not None:
        raise click.UsageError("give --val-per-class or --val-fraction, not both")
    if test_per_class is not None and test_fraction is not None:
        raise click.UsageError("give --test-per-class or --test-fraction, not both")
    if val_fraction is None and val_per_class is None:
        val_per_class = 100
    settings = settings_of(ctx)
    with Catalog.open(settings.catalog_url) as catalog:
        report = run_export(catalog, settings.data_dir, name, registry_of(ctx), seed, val_per_class,
                            val_fraction, replace=replace, test_per_class=test_per_class,
                            test_fraction=test_fraction, hold_out=hold_out)
    click.echo(export_summary(report))
    for split, counts in report.counts.items():
        click.echo(f"  {split}: " + (", ".join(f"{label} {n}" for label, n in counts.items()) or "none"))
    for line in shortfall_lines(report):
        click.echo(line)


@cli.command()
@click.option("--quick", is_flag=True, help="A smaller world for tests (< 3 minutes).")
@click.pass_context
def demo(ctx: click.Context, quick: bool) -> None:
    """The whole pipeline on a generated camera world served on loopback (no keys, no network).

    Works in <data-dir>/demo with its own SQLite catalog, which each run rebuilds.
    """
    from rich.console import Console

    from flows.demo.run import run_demo
    from flows.progress import progress_ticker

    console = Console(soft_wrap=True)  # in a log, one message stays one line

    def say(message: str) -> None:  # "[download]" is a stage's name, not rich markup
        console.print(message, markup=False, highlight=False)

    root = settings_of(ctx).data_dir / "demo"
    with progress_ticker() as tick:
        summary = run_demo(root, quick, tick, say)
    console.print(f"accepted {summary.accepted} originals; rejected by reason: "
                  + ", ".join(f"{r} {n}" for r, n in sorted(summary.rejected_by_reason.items())))
    bad = [d.name for d in summary.decoys if not d.ok]
    console.print(f"decoys rejected with the right reasons: {len(summary.decoys) - len(bad)}"
                  f"/{len(summary.decoys)}" + (f" (wrong: {', '.join(bad)})" if bad else ""))
    console.print(f"weighted accuracy {summary.weighted_accuracy:.3f} (unaltered "
                  f"{summary.accuracy_unaltered:.3f}, altered {summary.accuracy_altered:.3f}; chance "
                  f"{1 / summary.classes:.3f}) in {summary.elapsed_s:.0f} s")
    console.print(f"report: {root / 'demo-report.md'}; summary: {root / 'demo-summary.json'}; "
                  f"dataset card: {summary.dataset_dir / 'report.html'}")


@cli.command()
def serve() -> None:
    """Serve all Prefect deployments from this process (scrape/flickr, scrape/wikimedia,
    scrape/reviews, download/default, curate/default, train/default, evaluate/default,
    end-to-end/default). Point PREFECT_API_URL at your Prefect server first."""
    from flows.prefect_flows import serve_all

    serve_all()


def _register_stage_commands() -> None:
    """Commands of other stages live in their own modules (light at import: heavy imports are
    inside the command functions)."""
    from flows.cli import acquire, report, training

    for command in (acquire.scrape, acquire.download, training.train,
                    training.evaluate, training.predict, training.export_model, report.report):
        cli.add_command(command)


_register_stage_commands()


def click_error_line(exc: click.ClickException) -> str:
    """Click's message in camid's one-line form, with where to read more for a usage error.

    Click's own form is the usage line, a hint and "Error: ..." on three lines; camid's
    errors are one ``camid: error: ...`` line whoever raised them (the exit code stays click's:
    2 for usage errors).
    """
    text = " ".join(exc.format_message().split())
    if len(text) > 1 and text[0].isupper() and text[1].islower():  # "No such ..." but not "NAME"
        text = text[0].lower() + text[1:]
    text = text.removesuffix(".")
    ctx = exc.ctx if isinstance(exc, click.UsageError) else None
    return f"{text} ({ctx.command_path} --help)" if ctx is not None else text


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: click's parsing, with camid's one-line errors."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="camid",
                        standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("camid: aborted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `camid`: the help is the answer
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"camid: error: {click_error_line(exc)}", err=True)
        sys.exit(exc.exit_code)
    except CamidError as exc:
        click.echo(f"camid: error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("camid: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)

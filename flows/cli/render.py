"""Human-readable output of the CLI (rich tables). JSON output stays in the commands themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flows.stages.inspect import Inspection
from flows.stages.signatures import SignatureRow
from pipeline.catalog_stats import CatalogStats, ValueCount
from pipeline.registry import Registry
from pipeline.summary import SourceSummary, api_call_figures, summarise, total

if TYPE_CHECKING:  # the export stage pulls in the catalog: not for `camid cameras`
    from flows.stages.curate import ExportReport


def export_summary(report: ExportReport) -> str:
    """The export's first line: images per split, groups, and whether test devices are unseen."""
    if not report.test:
        held_out = "no test split"
    elif report.test_devices_unseen:
        held_out = "test devices unseen in train"
    else:
        held_out = "SOME TEST DEVICES ARE ALSO IN TRAIN"
    return (f"wrote {report.directory}: {report.train} train, {report.val} validation, {report.test} "
            f"test images ({held_out}; {report.groups} device/uploader/duplicate groups, "
            f"{report.clusters} near-duplicate clusters)"
            + (f"; {report.heldout} images of held-out cameras in heldout.csv" if report.heldout else ""))


def shortfall_lines(report: ExportReport) -> list[str]:
    """One line per held-out split that got fewer of some class than asked, with the why."""
    lines = []
    for split in ("test", "val"):
        short = [s for s in report.shortfalls if s.split == split]
        if short:
            lines.append(f"  {split} is short in {len(short)} class(es), {short[0].reason}: "
                         + ", ".join(f"{s.label} {s.taken}/{s.target}" for s in short))
    return lines


def cameras_table(registry: Registry) -> Table:
    table = Table(title=f"{len(registry.cameras)} cameras (registry {registry.hash[:12]})")
    for col in ("id", "name", "make", "models", "excluded", "native sizes", "min q"):
        table.add_column(col)
    for cam in registry.cameras:
        table.add_row(
            cam.id,
            cam.name,
            ", ".join(cam.makes),
            ", ".join(cam.models),
            ", ".join(cam.exclude_models) or "-",
            ", ".join(f"{w}x{h}" for w, h in cam.sizes),
            str(cam.min_quality),
        )
    return table


# the per camera and source table: (column title, SourceSummary field)
_COUNT_COLUMNS = (("candidates", "candidates"), ("pending", "pending"), ("will retry", "will_retry"),
                  ("gave up", "gave_up"), ("skipped", "skipped"), ("downloaded", "downloaded"),
                  ("accepted", "accepted"), ("rejected", "rejected"))


def print_stats(console: Console, stats: CatalogStats) -> None:
    """Per camera and source counts, rejections by reason, why candidates were ruled out or
    failed, then the distributions."""
    lines = summarise(stats)
    table = Table(title="Catalog: candidates per claimed camera and source (failed: will retry "
                        "or gave up)")
    table.add_column("camera")
    table.add_column("source")
    for title, _ in _COUNT_COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("top rejection reasons")
    for line in (*lines, total(lines)) if lines else ():
        table.add_row(
            line.camera or ("(all)" if line.source == "all" else "(none)"),
            line.source,
            *(str(getattr(line, f)) for _, f in _COUNT_COLUMNS),
            _top(line.rejected_by_reason),
        )
    if not lines:
        console.print("The catalog is empty: run `camid scrape SOURCE` to add candidates.")
    else:
        console.print(table)
        console.print(_reasons_table(lines))
    if stats.api_calls:
        console.print(_api_calls_table(stats))
    for title, values in (("JPEG quality of stored files", stats.quality),
                          ("Most common sizes", stats.sizes),
                          ("Licences of candidates", stats.licences)):
        if values:
            console.print(_value_table(title, values))


def _top(counts: tuple[tuple[str, int], ...], n: int = 3) -> str:
    return ", ".join(f"{r} {c}" for r, c in sorted(counts, key=lambda kv: -kv[1])[:n]) or "-"


def _reasons_table(lines: tuple[SourceSummary, ...]) -> Table:
    """Per source: why candidates were ruled out before download, and why downloads failed
    (the codes `camid download --retry-failed --reason CODE` takes)."""
    table = Table(title="Why candidates were ruled out before download, or failed")
    for col in ("source", "ruled out before download", "failed, will retry", "failed, gave up"):
        table.add_column(col)
    by_source: dict[str, list[SourceSummary]] = {}
    for line in lines:
        by_source.setdefault(line.source, []).append(line)
    for source, group in sorted(by_source.items()):
        merged = total(tuple(group))
        table.add_row(source, _top(merged.skipped_by_reason, 5), _top(merged.will_retry_by_reason, 5),
                      _top(merged.gave_up_by_reason, 5))
    return table


def _api_calls_table(stats: CatalogStats) -> Table:
    """Scrape-run API calls per source and what each accepted image cost in calls."""
    table = Table(title="API calls of scrape runs")
    for col in ("source", "runs", "API calls", "accepted", "calls per accepted image"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for a in stats.api_calls:
        fig = api_call_figures(a.source, stats)
        per = fig["api_calls_per_accepted"]
        table.add_row(a.source, str(fig["runs"]), str(fig["api_calls"]), str(fig["accepted"]),
                      "-" if per is None else f"{per:.2f}")
    return table


def _value_table(title: str, values: tuple[ValueCount, ...]) -> Table:
    table = Table(title=title)
    table.add_column("value")
    table.add_column("count", justify="right")
    for v in values:
        table.add_row(v.value, str(v.count))
    return table


def inspection_table(items: list[Inspection]) -> Table:
    table = Table(title=f"{len(items)} file(s)", expand=True)
    table.add_column("file", overflow="fold", ratio=3)
    for col in ("camera (EXIF)", "size", "quality (IM / camid)", "label", "verdict"):
        table.add_column(col, overflow="fold", ratio=2 if col in ("camera (EXIF)", "verdict") else 1)
    for item in items:
        f, v = item.facts, item.verdict
        camera = " ".join(x for x in (f.make, f.model) if x) or "-"
        size = f"{f.width}x{f.height}" if f.width else "-"
        quality = f"{f.quality_imagemagick} / {f.quality}" if f.quality is not None else "-"
        reasons = "; ".join(f"{r.value}: {d}" for r, d in zip(v.reasons, v.details, strict=True))
        verdict = "[green]accepted[/]" if v.accepted else f"[red]{escape(reasons)}[/]"
        if v.flags:
            verdict += f" [yellow]({', '.join(v.flags)})[/]"
        if f.error:
            verdict += f" ({f.error})"
        table.add_row(item.path, camera, size, quality, v.label or "-", verdict)
    return table


def signatures_table(rows: list[SignatureRow], min_uploaders: int) -> Table:
    table = Table(title=f"{len(rows)} signature(s); the camera's own from {min_uploaders} uploaders on",
                  expand=True)
    for col, ratio in (("camera", 2), ("signature", 3), ("own", 1), ("files", 1), ("uploaders", 1),
                       ("firmware", 2), ("parts", 6)):
        table.add_column(col, overflow="fold", ratio=ratio)
    for row in rows:
        own = "registry" if row.registry else ("learned" if row.established else "-")
        firmware = ", ".join(str(f["software"]) or "(none)" for f in row.firmware) or "-"
        parts = "; ".join(f"{k}: {v}" for k, v in (row.parts or {}).items()) or "(no file in the catalog)"
        table.add_row(row.camera, row.id, own, str(row.files), str(row.uploaders), escape(firmware),
                      escape(parts))
    return table


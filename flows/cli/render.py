"""Human-readable output of the CLI (rich tables). JSON output stays in the commands themselves."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flows.stages.inspect import Inspection
from flows.stages.signatures import SignatureRow
from pipeline.records import CatalogStats, ValueCount
from pipeline.registry import Registry
from pipeline.summary import api_call_figures, summarise, total


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


def print_stats(console: Console, stats: CatalogStats) -> None:
    """Per camera and source counts, rejections by reason, then the distributions."""
    lines = summarise(stats)
    table = Table(title="Catalog: candidates per claimed camera and source")
    cols = ("camera", "source", "candidates", "pending", "failed", "skipped", "downloaded",
            "accepted", "rejected", "top rejection reasons")
    for col in cols:
        table.add_column(col, justify="left" if col in ("camera", "source") or "reason" in col
                         else "right")
    for line in (*lines, total(lines)) if lines else ():
        top = sorted(line.rejected_by_reason, key=lambda kv: -kv[1])[:3]
        table.add_row(
            line.camera or ("(all)" if line.source == "all" else "(none)"),
            line.source,
            *(str(getattr(line, c)) for c in cols[2:9]),
            ", ".join(f"{r} {n}" for r, n in top) or "-",
        )
    if not lines:
        console.print("The catalog is empty: run `camid scrape SOURCE` to add candidates.")
    else:
        console.print(table)
    if stats.api_calls:
        console.print(_api_calls_table(stats))
    for title, values in (("JPEG quality of stored files", stats.quality),
                          ("Most common sizes", stats.sizes),
                          ("Licences of candidates", stats.licences)):
        if values:
            console.print(_value_table(title, values))


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


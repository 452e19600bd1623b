"""Prefect artifacts: what people would rather see than read, attached to flow runs.

Tables for catalog statistics and rejection reasons, markdown for dataset and training summaries
(Prefect's image artifact takes only a URL, so plots are linked as files and their numbers are
put in the markdown itself).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from pipeline.catalog_stats import CatalogStats
from pipeline.summary import summarise, summary_to_json, total


def _key(text: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes only."""
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def publish_stats(stats: CatalogStats, stage: str) -> None:
    """Catalog statistics per camera and source, and rejections by reason, as two tables."""
    lines = summarise(stats)
    rows = [{k: v for k, v in summary_to_json(x).items() if not isinstance(v, dict)}  # counts only
            for x in lines]
    create_table_artifact(key=_key(f"catalog-stats-{stage}"), table=rows or [{"candidates": 0}],
                          description=f"Catalog after {stage}: candidates per claimed camera and source")
    reasons = [{"reason": r, "files": n} for r, n in sorted(total(lines).rejected_by_reason,
                                                            key=lambda kv: -kv[1])]
    create_table_artifact(key=_key(f"rejections-{stage}"), table=reasons or [{"reason": "-", "files": 0}],
                          description=f"Rejections by reason after {stage}")


def publish_manifest(directory: Path) -> None:
    doc = json.loads((directory / "manifest.json").read_text())
    lines = [f"# Dataset `{doc['name']}`", "", f"Written to `{directory}`.", "",
             "| class | train | val | test |", "|---|---:|---:|---:|"]
    counts = doc["counts"]
    for label in doc["classes"]:
        lines.append(f"| {label} | " + " | ".join(str(counts.get(split, {}).get(label, 0))
                                                 for split in ("train", "val", "test")) + " |")
    if "test_devices_unseen" in doc:
        lines += ["", f"test devices unseen in train: {'yes' if doc['test_devices_unseen'] else 'NO'}"]
    lines += ["", f"registry `{doc['registry_hash'][:12]}`, policy `{doc['policy_hash'][:12]}`, "
              f"seed {doc['seed']}, rows `{doc['rows_sha256'][:12]}`"]
    card = directory / "report.html"
    if card.is_file():  # `camid report`'s dataset card: thumbnails, rejections, split, datasheet
        lines += ["", f"Dataset card: [{card.name}]({card.resolve().as_uri()})"]
    create_markdown_artifact(key=_key(f"dataset-{doc['name']}"), markdown="\n".join(lines),
                             description="Exported dataset manifest")


def publish_run(run_dir: Path, title: str, metrics: Mapping[str, object], plots: Sequence[Path]) -> None:
    """Training or evaluation results: headline numbers and links to the PNG plots."""
    lines = [f"# {title}", "", f"Run directory: `{run_dir}`", "", "| metric | value |", "|---|---:|"]
    for name, value in metrics.items():
        if isinstance(value, int | float):
            lines.append(f"| {name} | {value:.4f} |" if isinstance(value, float) else f"| {name} | {value} |")
    lines.append("")
    lines += [f"- [{p.name}]({p.resolve().as_uri()})" for p in plots if p.exists()]
    create_markdown_artifact(key=_key(f"{title}-{run_dir.name}"), markdown="\n".join(lines),
                             description=title)

"""The demo's outputs: ``demo-summary.json`` for machines and ``demo-report.md`` for people."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.manifest import atomic_write


@dataclass(frozen=True, slots=True)
class DecoyOutcome:
    """What happened to one decoy, against what the demo expected."""

    name: str
    expected: tuple[str, ...]
    status: str
    reasons: tuple[str, ...]
    detail: str | None = None

    @property
    def ok(self) -> bool:
        """Rejected or ruled out with every expected reason; a download refused for good counts
        when its error names the expected reason (a file truncated at the source never arrives)."""
        if self.status in ("rejected", "skipped"):
            return set(self.expected) <= set(self.reasons)
        words = (self.detail or "").lower()
        return self.status == "failed" and all(r.replace("_", " ") in words for r in self.expected)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    accepted: int
    rejected_by_reason: Mapping[str, int]
    weighted_accuracy: float
    accuracy_unaltered: float
    accuracy_altered: float
    elapsed_s: float
    data_dir: Path
    dataset_dir: Path
    run_dir: Path
    decoys: Sequence[DecoyOutcome]
    stages_s: Mapping[str, float]
    classes: int
    split: str = "test"
    weighted_accuracy_ci95: Sequence[float] = ()
    baseline_weighted_accuracy: float | None = None
    test_devices_unseen: bool | None = None
    forensic: Mapping[str, Any] | None = None  # metrics.json's forensic section


def write_summary(summary: DemoSummary) -> Path:
    doc = {
        "accepted": summary.accepted,
        "rejected_by_reason": dict(sorted(summary.rejected_by_reason.items())),
        "weighted_accuracy": round(summary.weighted_accuracy, 4),
        "weighted_accuracy_ci95": list(summary.weighted_accuracy_ci95),
        "split": summary.split,
        "test_devices_unseen": summary.test_devices_unseen,
        "baseline_weighted_accuracy": None if summary.baseline_weighted_accuracy is None
        else round(summary.baseline_weighted_accuracy, 4),
        **_forensic_keys(summary.forensic),
        "accuracy_unaltered": round(summary.accuracy_unaltered, 4),
        "accuracy_altered": round(summary.accuracy_altered, 4),
        "chance_accuracy": round(1 / summary.classes, 4),
        "elapsed_s": round(summary.elapsed_s, 1),
        "stages_s": {k: round(v, 1) for k, v in summary.stages_s.items()},
        "data_dir": str(summary.data_dir),
        "dataset_dir": str(summary.dataset_dir),
        "run_dir": str(summary.run_dir),
        "decoys": [{"file": d.name, "expected": list(d.expected), "status": d.status,
                    "reasons": list(d.reasons), "detail": d.detail, "ok": d.ok} for d in summary.decoys],
    }
    return _write(summary.data_dir / "demo-summary.json", json.dumps(doc, indent=2) + "\n")


def write_report(summary: DemoSummary, plots: Sequence[Path]) -> Path:
    """A Markdown report with the numbers and the plots (linked relative to the data dir)."""
    lines = [
        "# camid demo report", "",
        f"{summary.classes} simulated camera models (and one held out as unknown), served by a loopback "
        "Wikimedia Commons API, went through "
        f"scrape -> download -> curate -> export -> train -> evaluate in {summary.elapsed_s:.0f} s.", "",
        "## Curation", "", f"- accepted originals: **{summary.accepted}**",
    ]
    lines += [f"- rejected `{r}`: {n}" for r, n in sorted(summary.rejected_by_reason.items())]
    lines += ["", "| decoy | expected | outcome | ok |", "|---|---|---|---|"]
    lines += [f"| {d.name} | {', '.join(d.expected)} | {d.status}: "
              f"{', '.join(d.reasons) or d.detail or '-'} | {'yes' if d.ok else '**no**'} |"
              for d in summary.decoys]
    lines += [
        "", f"## Identification (2018 challenge protocol on the {summary.split} split)", "",
        f"- weighted accuracy: **{summary.weighted_accuracy:.3f}** {_interval(summary)}"
        f"(0.7 x unaltered {summary.accuracy_unaltered:.3f} + 0.3 x altered "
        f"{summary.accuracy_altered:.3f}; chance is {1 / summary.classes:.3f})",
        f"- test devices unseen in training: {summary.test_devices_unseen}",
        "- baseline (nearest centroid on trace features, same crops): "
        + _number(summary.baseline_weighted_accuracy),
        "",
        *_forensic_lines(summary.forensic),
        f"Dataset: `{summary.dataset_dir}`; run: `{summary.run_dir}`.", "",
        "## Time per stage", "", "| stage | seconds |", "|---|---:|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in summary.stages_s.items()]
    lines += ["", "## Plots", ""]
    for plot in plots:
        if plot.exists():
            rel = os.path.relpath(plot, summary.data_dir)
            lines += [f"### {plot.stem.replace('_', ' ')}", "", f"![{plot.stem}]({rel})", ""]
    return _write(summary.data_dir / "demo-report.md", "\n".join(lines) + "\n")



def _forensic_keys(forensic: Mapping[str, Any] | None) -> dict[str, Any]:
    """The verdict's headline numbers (test split; open set against the held-out camera)."""
    if not forensic:
        return {"open_set_auroc": None, "ece_before": None, "ece_after": None}
    keys = ("open_set_auroc", "ece_before", "ece_after", "temperature", "false_alarm_measured",
            "unknown_detection_rate")
    out: dict[str, Any] = {k: None if forensic.get(k) is None else round(float(forensic[k]), 4) for k in keys}
    out["open_set_score"] = forensic.get("open_set_score")
    out["open_set_auroc_ci95"] = [round(v, 4) for v in forensic.get("open_set_auroc_ci95", [])]
    out["open_set_by_score"] = {m: None if v["auroc"] is None else round(v["auroc"], 4)
                                for m, v in forensic.get("open_set", {}).items()}
    out["held_out_cameras"] = forensic.get("heldout_cameras", [])
    out["exif_false_agree"] = forensic.get("exif", {}).get("false_agree")
    out["exif_false_disagree"] = forensic.get("exif", {}).get("false_disagree")
    return out


def _forensic_lines(forensic: Mapping[str, Any] | None) -> list[str]:
    if not forensic:
        return []
    keys = _forensic_keys(forensic)
    return ["## The forensic verdict (whole images, test split)", "",
            f"- expected calibration error: {_number(keys['ece_before'])} before, "
            f"**{_number(keys['ece_after'])}** after temperature scaling "
            f"(T = {_number(keys['temperature'])})",
            f"- unknown camera ({', '.join(keys['held_out_cameras']) or 'none held out'}): AUROC "
            f"**{_number(keys['open_set_auroc'])}** ({keys['open_set_score']}); at the threshold for "
            f"{forensic.get('false_alarm_target', 0.05):.0%} false alarms on validation: "
            f"{_number(keys['false_alarm_measured'])} of test images flagged, "
            f"{_number(keys['unknown_detection_rate'])} of held-out ones",
            f"- EXIF check: forged claims supported {_number(keys['exif_false_agree'])}, true claims refused "
            f"{_number(keys['exif_false_disagree'])}", ""]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _interval(summary: DemoSummary) -> str:
    ci = list(summary.weighted_accuracy_ci95)
    return f"(95% interval {ci[0]:.3f}-{ci[1]:.3f}) " if len(ci) == 2 else ""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)
    return path

"""The curation policy: which checks apply, their thresholds, and its content hash.

Defaults live in ``policy.toml`` (package data); a user's file is merged over them table by table
and validated with errors that name the file and field. The hash of the resolved policy is stored
with each verdict, so a changed policy is noticed and only what it affects is judged again.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.errors import CamidError

CHECKS = ("require_jpeg", "require_eoi", "reject_corrupt", "require_exif", "edits", "exif_size",
          "quality", "native_size", "scan", "encoder", "reject_resaved", "pixel_decode", "thumbnail",
          "recompressed", "resampled", "local_edit")
PIXEL_CHECKS = frozenset({"pixel_decode", "thumbnail", "recompressed", "resampled", "local_edit"})
# numeric thresholds per table: name -> (lowest, highest) allowed value
THRESHOLDS: dict[str, dict[str, tuple[float, float]]] = {
    "scan": {"noise_floor": (0.0, 64.0), "min_byte_variety": (0.0, 1.0)},
    "encoder": {"min_uploaders": (1, 1_000_000)},
    "pixels": {"max_flat": (0.0, 1.0), "max_thumbnail_error": (0.0, 255.0),
               "max_thumbnail_local": (0.0, 255.0),
               "learned_thumbnail_factor": (1.0, 100.0), "learned_thumbnail_floor": (0.0, 255.0),
               "max_resampling": (-1.0, 1.0),
               "max_smoothing": (0.0, 16.0), "max_edge_blur": (0.0, 8.0),
               "max_noise_excess": (0.0, 16.0), "max_noise_deficit": (0.0, 16.0),
               "max_stability": (0.0, 16.0), "max_copy_move": (0.0, 1.0),
               "max_recompression": (0.0, 1.0)},
}
ESTIMATES = ("corrected", "imagemagick")


class PolicyError(CamidError):
    """A policy file is malformed; the message names the file and field."""


@dataclass(frozen=True)
class Policy:
    checks: frozenset[str]
    estimate: str
    min_quality: int
    editors: tuple[re.Pattern[str], ...]
    unknown_is_edit: bool
    hash: str
    thresholds: dict[str, float] = field(default_factory=dict)  # "table.name" -> value

    def applies(self, check: str) -> bool:
        return check in self.checks

    def threshold(self, name: str) -> float:
        """A numeric threshold by ``table.name`` (e.g. ``pixels.max_flat``)."""
        return self.thresholds[name]

    @property
    def pixel_checks(self) -> frozenset[str]:
        """The pixel-stage checks switched on: the stage runs when there is at least one."""
        return self.checks & PIXEL_CHECKS

    def is_editor(self, software: str) -> bool:
        return any(p.search(software) for p in self.editors)


def load_policy(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Policy:
    """The default policy, with the file at ``path`` merged over it, then ``overrides`` (tables).

    ``overrides`` is how commands switch checks off for a run (``camid inspect --header-only``):
    the result is an ordinary policy, hashed like any other.
    """
    text = resources.files("pipeline").joinpath("policy.toml").read_text(encoding="utf-8")
    doc = _parse("policy.toml (built in)", text)
    name = "policy.toml (built in)"
    if path is not None:
        name = str(path)
        try:
            user = _parse(name, Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read policy file: {exc.strerror or exc}") from None
        _merge(name, doc, user)
    if overrides:
        _merge(name, doc, overrides)
    return _build(name, doc)


def _merge(name: str, doc: dict[str, Any], user: dict[str, Any]) -> None:
    for table, values in user.items():
        if table not in doc:
            raise PolicyError(f"{name}: unknown table [{table}]")
        if not isinstance(values, dict):
            raise PolicyError(f"{name}: [{table}] must be a table")
        doc[table].update(values)


HEADER_ONLY = {"checks": {check: False for check in PIXEL_CHECKS}}


def _build(name: str, doc: dict[str, Any]) -> Policy:
    checks = doc["checks"]
    for key, value in checks.items():
        if key not in CHECKS:
            raise PolicyError(f"{name}: [checks]: unknown check '{key}' (known: {', '.join(CHECKS)})")
        if not isinstance(value, bool):
            raise PolicyError(f"{name}: [checks]: field '{key}' must be true or false")
    quality, software = doc["quality"], doc["software"]
    _known(name, "quality", quality, {"estimate", "min_quality"})
    _known(name, "software", software, {"editors", "unknown_is_edit"})
    if quality["estimate"] not in ESTIMATES:
        raise PolicyError(f"{name}: [quality]: field 'estimate' must be one of {', '.join(ESTIMATES)}")
    mq = quality["min_quality"]
    if isinstance(mq, bool) or not isinstance(mq, int) or not 0 <= mq <= 100:
        raise PolicyError(f"{name}: [quality]: field 'min_quality' must be an integer from 0 to 100")
    if not isinstance(software["unknown_is_edit"], bool):
        raise PolicyError(f"{name}: [software]: field 'unknown_is_edit' must be true or false")
    editors = software["editors"]
    if not isinstance(editors, list) or not all(isinstance(e, str) and e for e in editors):
        raise PolicyError(f"{name}: [software]: field 'editors' must be a list of regexes")
    try:
        patterns = tuple(re.compile(e, re.IGNORECASE) for e in editors)
    except re.error as exc:
        raise PolicyError(f"{name}: [software]: field 'editors': bad regex: {exc}") from None
    canon = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return Policy(
        checks=frozenset(k for k, v in checks.items() if v),
        estimate=quality["estimate"],
        min_quality=mq,
        editors=patterns,
        unknown_is_edit=software["unknown_is_edit"],
        hash=hashlib.sha256(canon).hexdigest(),
        thresholds=_thresholds(name, doc),
    )


def _thresholds(name: str, doc: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for table, limits in THRESHOLDS.items():
        values = doc.get(table, {})
        _known(name, table, values, set(limits))
        for key, (low, high) in limits.items():
            value = values.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise PolicyError(f"{name}: [{table}]: field '{key}' must be a number from {low} to {high}")
            out[f"{table}.{key}"] = value
    return out


def _known(name: str, table: str, values: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(values) - allowed
    if unknown:
        raise PolicyError(f"{name}: [{table}]: unknown field(s): {', '.join(sorted(unknown))}")


def _parse(name: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{name}: not valid TOML: {exc}") from None

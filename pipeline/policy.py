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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.errors import CamidError

CHECKS = ("require_jpeg", "require_eoi", "reject_corrupt", "require_exif", "edits", "exif_size",
          "quality", "native_size")
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

    def applies(self, check: str) -> bool:
        return check in self.checks

    def is_editor(self, software: str) -> bool:
        return any(p.search(software) for p in self.editors)


def load_policy(path: str | Path | None = None) -> Policy:
    """The default policy, with the file at ``path`` merged over it."""
    text = resources.files("pipeline").joinpath("policy.toml").read_text(encoding="utf-8")
    doc = _parse("policy.toml (built in)", text)
    name = "policy.toml (built in)"
    if path is not None:
        name = str(path)
        try:
            user = _parse(name, Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read policy file: {exc.strerror or exc}") from None
        for table, values in user.items():
            if table not in doc:
                raise PolicyError(f"{name}: unknown table [{table}]")
            if not isinstance(values, dict):
                raise PolicyError(f"{name}: [{table}] must be a table")
            doc[table].update(values)
    return _build(name, doc)


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
    )


def _known(name: str, table: str, values: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(values) - allowed
    if unknown:
        raise PolicyError(f"{name}: [{table}]: unknown field(s): {', '.join(sorted(unknown))}")


def _parse(name: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{name}: not valid TOML: {exc}") from None

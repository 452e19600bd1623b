"""HTTP range requests for resuming a body cut short: what to ask, and what an answer means.

Pure rules over headers (no I/O), so each is a table-driven test. A cut body is worth keeping
only when the server named a validator that ``If-Range`` may carry (a strong ETag, else
Last-Modified) and did not say ``Accept-Ranges: none``; the next attempt asks for the rest with
``Range: bytes=<kept>-`` and ``If-Range: <validator>``. The server answers 206 with the rest when
the file is unchanged, or 200 with the whole file when it changed or ranges are not served: then
the kept bytes are dropped and the body starts over, so an answer can never splice two versions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipeline.records import FailureReason
from scrapers.fetch import Problem

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def resume_validator(headers: Mapping[str, str]) -> str | None:
    """What ``If-Range`` may send back for this answer's body (None: do not keep it)."""
    if headers.get("Accept-Ranges", "").strip().lower() == "none":
        return None
    if headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        return None  # a range of an encoded body is not a range of the file
    etag = headers.get("ETag", "").strip()
    if etag and not etag.startswith("W/"):  # weak tags are not allowed in If-Range (RFC 9110)
        return etag
    return headers.get("Last-Modified", "").strip() or None


def range_headers(kept: int, validator: str | None) -> dict[str, str]:
    """The request headers that ask for what follows ``kept`` bytes (none: ask for the whole)."""
    if kept <= 0 or not validator:
        return {}
    return {"Range": f"bytes={kept}-", "If-Range": validator}


def content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes FIRST-LAST/TOTAL`` as numbers (TOTAL None for ``*``); None when malformed."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    first, last, total = int(match[1]), int(match[2]), None if match[3] == "*" else int(match[3])
    if last < first or (total is not None and last >= total):
        return None
    return first, last, total


def whole_length(status: int, headers: Mapping[str, str], kept: int,
                 declared: int | None) -> int | None:
    """The length the whole file must have once this answer's body follows ``kept`` bytes.

    A 200 is the whole file (``kept`` is 0: the bytes kept were dropped). A 206 must continue
    exactly after the kept bytes and say the file's total length.
    """
    if status != 206:
        return declared
    span = content_range(headers.get("Content-Range"))
    if kept == 0 or span is None or span[0] != kept or span[2] is None \
            or (declared is not None and declared != span[1] - span[0] + 1):
        raise Problem(f"a partial answer that does not continue the {kept} bytes kept "
                      f"(Content-Range {headers.get('Content-Range', 'missing')!r})",
                      code=FailureReason.CUT_SHORT)
    return span[2]

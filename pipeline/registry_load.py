"""Loading, validating and merging camera registry files.

A registry file is user input: every problem is reported as a ``RegistryError`` naming the file,
the camera entry and the field, so a typo never silently drops a camera or an alias. The merged
registry is hashed over its canonical JSON form, so the hash changes exactly when the content
that decides labels and filters changes (not when comments or key order do).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.errors import RegistryError
from pipeline.registry import Camera, CameraQueries, EncoderRules, Registry

DEFAULT_NAME = "cameras.toml (built in)"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SIZE_RE = re.compile(r"^(\d{2,6})x(\d{2,6})$")
STR_LISTS = ("makes", "models", "exclude_models", "sizes", "firmware_software")
CAMERA_FIELDS = {"name", "enabled", "min_quality", "queries", "encoder", *STR_LISTS}
ENCODER_BOOLS = ("jfif", "progressive", "ijg_tables")
ENCODER_FIELDS = {"signatures", "huffman", "subsampling", *ENCODER_BOOLS}
HUFFMAN = ("standard", "optimised")
SIGNATURE_RE = re.compile(r"^[0-9a-f]{6}(-[0-9a-f]{6}){7}$")
REQUIRED = ("name", "makes", "models", "sizes")
QUERY_FIELDS = set(CameraQueries.__dataclass_fields__)


def load_registry(path: str | os.PathLike[str] | None = None) -> Registry:
    """The built-in registry, with ``path`` (or ``$CAMID_REGISTRY``) merged over it."""
    path = path or os.environ.get("CAMID_REGISTRY") or None
    sources = [(DEFAULT_NAME, _read_default())]
    if path is not None:
        sources.append((str(path), _read_file(Path(path))))
    return build_registry(sources)


def build_registry(sources: Iterable[tuple[str, dict[str, Any]]]) -> Registry:
    """Merge parsed registry documents in order, validate the result and hash it."""
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    min_quality = 95
    names = []
    for name, doc in sources:
        names.append(name)
        min_quality = _merge_document(name, doc, merged, origin, min_quality)
    cameras = tuple(
        _camera(origin[cid], cid, entry, min_quality)
        for cid, entry in merged.items()
        if entry.get("enabled", True)
    )
    if not cameras:
        raise RegistryError(f"{names[-1]}: the registry has no enabled camera")
    _check_ambiguous(cameras, origin, names)
    return Registry(cameras=cameras, files=tuple(names), hash=registry_hash(cameras))


def registry_hash(cameras: tuple[Camera, ...]) -> str:
    """sha256 over the canonical JSON of the cameras (what labels and filters depend on)."""
    canon = [camera_to_json(c) for c in cameras]
    blob = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def camera_to_json(camera: Camera) -> dict[str, Any]:
    """A plain JSON form of one camera, for ``camid cameras --json`` and for hashing."""
    q = camera.queries
    return {
        "id": camera.id,
        "name": camera.name,
        "makes": list(camera.makes),
        "models": list(camera.models),
        "exclude_models": list(camera.exclude_models),
        "sizes": [f"{w}x{h}" for w, h in camera.sizes],
        "firmware_software": list(camera.firmware_software),
        "min_quality": camera.min_quality,
        "queries": {f: list(getattr(q, f)) for f in sorted(QUERY_FIELDS)},
        "encoder": _encoder_to_json(camera.encoder),
    }


def _encoder_to_json(rules: EncoderRules) -> dict[str, Any]:
    return {"signatures": list(rules.signatures), "jfif": rules.jfif, "progressive": rules.progressive,
            "ijg_tables": rules.ijg_tables, "huffman": rules.huffman, "subsampling": list(rules.subsampling)}


def _read_default() -> dict[str, Any]:
    text = resources.files("pipeline").joinpath("cameras.toml").read_text(encoding="utf-8")
    return _parse(DEFAULT_NAME, text)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(f"{path}: registry file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read registry file: {exc}") from None
    return _parse(str(path), text)


def _parse(name: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{name}: not valid TOML: {exc}") from None


def _merge_document(
    name: str,
    doc: dict[str, Any],
    merged: dict[str, dict[str, Any]],
    origin: dict[str, str],
    min_quality: int,
) -> int:
    """Fold one document into ``merged``: named fields replace, new ids add. Returns the default
    minimum quality in force after this document."""
    unknown = set(doc) - {"defaults", "cameras"}
    if unknown:
        raise RegistryError(f"{name}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    defaults = _table(doc.get("defaults", {}), f"{name}: [defaults]")
    if set(defaults) - {"min_quality"}:
        raise RegistryError(f"{name}: [defaults]: only 'min_quality' is allowed")
    if "min_quality" in defaults:
        min_quality = _quality(defaults["min_quality"], f"{name}: [defaults]: field 'min_quality'")
    for cid, entry in _table(doc.get("cameras", {}), f"{name}: [cameras]").items():
        where = f"{name}: camera {cid!r}"
        if not ID_RE.match(cid):
            raise RegistryError(f"{where}: id must be letters, digits, '.', '_' or '-'")
        entry = _table(entry, where)
        unknown = set(entry) - CAMERA_FIELDS
        if unknown:
            raise RegistryError(f"{where}: unknown field(s): {', '.join(sorted(unknown))}")
        if not isinstance(entry.get("enabled", True), bool):
            raise RegistryError(f"{where}: field 'enabled' must be true or false")
        merged.setdefault(cid, {}).update(entry)
        origin[cid] = name
    return min_quality


def _camera(name: str, cid: str, entry: dict[str, Any], default_quality: int) -> Camera:
    where = f"{name}: camera {cid!r}"
    for req in REQUIRED:
        if req not in entry:
            raise RegistryError(f"{where}: missing required field '{req}'")
    if not isinstance(entry["name"], str) or not entry["name"].strip():
        raise RegistryError(f"{where}: field 'name' must be a non-empty string")
    lists = {f: _str_list(entry.get(f, []), f"{where}: field '{f}'") for f in STR_LISTS}
    for req in ("makes", "models", "sizes"):
        if not lists[req]:
            raise RegistryError(f"{where}: field '{req}' must not be empty")
    for pattern in lists["firmware_software"]:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise RegistryError(f"{where}: field 'firmware_software': bad regex {pattern!r}: {exc}") from None
    quality = entry.get("min_quality", default_quality)
    return Camera(
        id=cid,
        name=entry["name"].strip(),
        makes=lists["makes"],
        models=lists["models"],
        exclude_models=lists["exclude_models"],
        sizes=tuple(_size(s, f"{where}: field 'sizes'") for s in lists["sizes"]),
        firmware_software=lists["firmware_software"],
        min_quality=_quality(quality, f"{where}: field 'min_quality'"),
        queries=_queries(entry.get("queries", {}), where),
        encoder=_encoder(entry.get("encoder", {}), where),
    )


def _encoder(value: Any, where: str) -> EncoderRules:
    """``[cameras.ID.encoder]``: allowed signatures and rules on what the firmware writes."""
    table = _table(value, f"{where}: field 'encoder'")
    unknown = set(table) - ENCODER_FIELDS
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) in 'encoder': {', '.join(sorted(unknown))}")
    for name in ENCODER_BOOLS:
        if name in table and not isinstance(table[name], bool):
            raise RegistryError(f"{where}: field 'encoder.{name}' must be true or false")
    huffman = table.get("huffman")
    if huffman is not None and huffman not in HUFFMAN:
        raise RegistryError(f"{where}: field 'encoder.huffman' must be one of {', '.join(HUFFMAN)}")
    signatures = _str_list(table.get("signatures", []), f"{where}: field 'encoder.signatures'")
    for sig in signatures:
        if not SIGNATURE_RE.match(sig):
            raise RegistryError(f"{where}: field 'encoder.signatures': {sig!r} is not a signature id "
                                "(eight 6-hex parts joined by '-', as `camid signatures` prints)")
    return EncoderRules(signatures=signatures, jfif=table.get("jfif"), progressive=table.get("progressive"),
                        ijg_tables=table.get("ijg_tables"), huffman=huffman,
                        subsampling=_str_list(table.get("subsampling", []),
                                              f"{where}: field 'encoder.subsampling'"))


def _queries(value: Any, where: str) -> CameraQueries:
    table = _table(value, f"{where}: field 'queries'")
    unknown = set(table) - QUERY_FIELDS
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) in 'queries': {', '.join(sorted(unknown))}")
    return CameraQueries(**{k: _str_list(v, f"{where}: field 'queries.{k}'") for k, v in table.items()})


def _check_ambiguous(cameras: tuple[Camera, ...], origin: dict[str, str], files: list[str]) -> None:
    """A literal model alias must not also be claimed by another camera of the same make.

    The error names the camera from the later file (usually the user's), which is the one to fix.
    """
    for cam in cameras:
        for model in (m for m in cam.models if not any(ch in m for ch in "*?[")):
            for other in cameras:
                if other is cam or not any(other.has_make(m) for m in cam.makes):
                    continue
                if other.matches_model(model) and not other.excludes_model(model):
                    culprit = max((cam, other), key=lambda c: files.index(origin[c.id]))
                    raise RegistryError(
                        f"{origin[culprit.id]}: camera {culprit.id!r}: field 'models': {model!r} is "
                        f"claimed by both {cam.id!r} and {other.id!r}; add it to one camera's "
                        "'exclude_models'"
                    )


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RegistryError(f"{where}: must be a table")
    return value


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RegistryError(f"{where}: must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _size(text: str, where: str) -> tuple[int, int]:
    m = SIZE_RE.match(text.strip().lower())
    if not m:
        raise RegistryError(f"{where}: {text!r} is not WIDTHxHEIGHT (e.g. '4032x3024')")
    return int(m.group(1)), int(m.group(2))


def _quality(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise RegistryError(f"{where}: must be an integer from 1 to 100, got {value!r}")
    return value

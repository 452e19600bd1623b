"""The camera registry: which cameras camid knows and how to recognise their files.

Data, not code, names cameras: everything here is read from ``cameras.toml`` (package data) and
an optional user file merged over it (see ``registry_load``). This module holds the typed
registry and the questions the rest of camid asks it: which class does an EXIF Make/Model pair
belong to, is a size native, is a Software string firmware rather than an editor.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cached_property

from pipeline.records import Reason


def normalise(text: str) -> str:
    """Case-fold and collapse whitespace: EXIF strings differ in case and padding across firmware."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True, slots=True)
class CameraQueries:
    """What each scraper asks its source for. Never used to label a file."""

    flickr_text: tuple[str, ...] = ()
    flickr_tags: tuple[str, ...] = ()
    flickr_camera: tuple[str, ...] = ()
    commons_categories: tuple[str, ...] = ()
    review_gallery_titles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EncoderRules:
    """What the registry says a camera's firmware writes (``[cameras.ID.encoder]``).

    ``signatures`` are signature ids (``camid signatures``) accepted as the camera's, as if the
    catalog had learned them. The other fields are rules; None means "no rule". A file breaking
    ``jfif``, ``progressive`` or ``huffman`` was rewritten by other software (its container); one
    breaking ``ijg_tables`` or ``subsampling`` was re-encoded (its pixels).
    """

    signatures: tuple[str, ...] = ()
    jfif: bool | None = None  # False: the firmware never writes a JFIF APP0
    progressive: bool | None = None  # False: never progressive
    ijg_tables: bool | None = None  # False: its tables are never libjpeg's standard ones
    huffman: str | None = None  # "standard" or "optimised"
    subsampling: tuple[str, ...] = ()  # allowed chroma subsamplings ("4:2:0", ...); () = any


@dataclass(frozen=True)
class Camera:
    """One class of the classifier: a camera model and how its original files look."""

    id: str
    name: str
    makes: tuple[str, ...]
    models: tuple[str, ...]
    exclude_models: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    firmware_software: tuple[str, ...]
    min_quality: int
    queries: CameraQueries
    encoder: EncoderRules = EncoderRules()

    @cached_property
    def _make_set(self) -> frozenset[str]:
        return frozenset(normalise(m) for m in self.makes)

    @cached_property
    def _model_re(self) -> re.Pattern[str]:
        return _globs_to_regex(self.models)

    @cached_property
    def _exclude_re(self) -> re.Pattern[str] | None:
        return _globs_to_regex(self.exclude_models) if self.exclude_models else None

    @cached_property
    def _firmware_res(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p) for p in self.firmware_software)

    def has_make(self, make: str) -> bool:
        return normalise(make) in self._make_set

    def matches_model(self, model: str) -> bool:
        return self._model_re.fullmatch(normalise(model)) is not None

    def excludes_model(self, model: str) -> bool:
        return self._exclude_re is not None and self._exclude_re.fullmatch(normalise(model)) is not None

    def is_native_size(self, width: int, height: int) -> bool:
        """Native sensor output in either orientation (phones store both ways)."""
        return (width, height) in self.sizes or (height, width) in self.sizes

    def is_firmware_software(self, software: str) -> bool:
        """True for the camera's own firmware strings; an empty Software is never an edit."""
        text = software.strip()
        return not text or any(p.search(text) for p in self._firmware_res)


def _globs_to_regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One compiled alternation of shell-style globs over normalised strings."""
    parts = (fnmatch.translate(normalise(p)) for p in patterns)
    return re.compile("|".join(f"(?:{p})" for p in parts))


@dataclass(frozen=True, slots=True)
class LabelMatch:
    """The class an EXIF Make/Model pair names, or why it names none."""

    label: str | None
    reason: Reason | None


@dataclass(frozen=True)
class Registry:
    """The merged registry, with a content hash that every manifest and verdict records."""

    cameras: tuple[Camera, ...]
    files: tuple[str, ...]
    hash: str

    @cached_property
    def _by_id(self) -> dict[str, Camera]:
        return {c.id: c for c in self.cameras}

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.cameras)

    def get(self, camera_id: str) -> Camera:
        try:
            return self._by_id[camera_id]
        except KeyError:
            known = ", ".join(self.ids)
            raise KeyError(f"unknown camera {camera_id!r}; known: {known}") from None

    def __contains__(self, camera_id: object) -> bool:
        return camera_id in self._by_id

    def match(self, make: str | None, model: str | None) -> LabelMatch:
        """Label a file from its own EXIF Make and Model (never from the query that found it).

        A camera's exclusions win over its own aliases, so a glob such as ``SM-N900*`` never
        swallows a look-alike; a model excluded by one camera can still be another's alias
        (a user who adds the Nexus 6P gets it labelled, not excluded).
        """
        if not make or not model:
            return LabelMatch(None, Reason.UNKNOWN_CAMERA)
        same_make = [c for c in self.cameras if c.has_make(make)]
        hits = [c for c in same_make if c.matches_model(model) and not c.excludes_model(model)]
        if len(hits) == 1:
            return LabelMatch(hits[0].id, None)
        if not hits and any(c.excludes_model(model) for c in same_make):
            return LabelMatch(None, Reason.EXCLUDED_MODEL)
        return LabelMatch(None, Reason.UNKNOWN_CAMERA)

"""curate on a catalog with both stages: learned signatures, the pixel stage, crash safety,
`camid signatures`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from db import Catalog
from flows.demo.exif import camera_exif, thumbnail_of
from flows.stages.curate import curate, export
from pipeline.policy import load_policy
from pipeline.quality import IJG_CHROMINANCE, IJG_LUMINANCE, scale_ijg_table
from pipeline.records import CandidateStatus
from pipeline.registry_load import load_registry
from tests import jpegs
from tests.test_curation import add_downloaded

SIZE = (384, 288)
REGISTRY = f"""
[cameras.Acme-A1]
name = "Acme A1"
makes = ["Acme"]
models = ["A1"]
sizes = ["{SIZE[0]}x{SIZE[1]}"]
firmware_software = ['^A1 v1\\.0$']
"""
# the camera's own tables: libjpeg's at 96 with a few entries changed, so they are nobody else's
TABLES = [list(scale_ijg_table(IJG_LUMINANCE, 96)), list(scale_ijg_table(IJG_CHROMINANCE, 96))]
TABLES[0][9] += 1


def camera_file(seed: int, pixels: np.ndarray | None = None, *, quality: int | None = None,
                thumbnail_from: np.ndarray | None = None, extra: bytes = b"") -> bytes:
    """A file as the Acme A1 writes it (its tables, EXIF with thumbnail), or a copy saved otherwise."""
    own = jpegs.camera_pixels(SIZE, seed) if pixels is None else pixels
    exif = camera_exif("Acme", "A1", "A1 v1.0", datetime(2024, 5, 1), SIZE,
                       thumbnail_of(own if thumbnail_from is None else thumbnail_from))
    out = io.BytesIO()
    options = {"quality": quality} if quality else {"qtables": TABLES}
    Image.fromarray(own).save(out, "JPEG", exif=exif, subsampling=2, **options)
    data = out.getvalue()
    return jpegs.splice(data, extra) if extra else data


@pytest.fixture
def world(tmp_path: Path, catalog_url: str):
    reg_path = tmp_path / "cams.toml"
    reg_path.write_text(REGISTRY)
    registry = load_registry(reg_path)
    data = tmp_path / "data"
    catalog = Catalog.open(catalog_url)

    def add(name: str, content: bytes, author: str) -> str:
        return add_downloaded(catalog, data, tmp_path, name, content, author, "Acme-A1")

    # eight originals from four uploaders: enough for the signature to be learned
    for i in range(8):
        add(f"own{i}", camera_file(i), f"fan{i % 4}")
    yield registry, data, catalog, add, reg_path
    catalog.close()


def _status(catalog: Catalog, name: str) -> tuple[CandidateStatus | None, tuple[str, ...]]:
    outcome = next(o for o in catalog.outcomes("flickr") if o.source_id == name)
    return outcome.status, outcome.reasons


def _resampled(seed: int) -> np.ndarray:
    small = Image.fromarray(jpegs.camera_pixels(SIZE, seed)).resize((SIZE[0] // 2, SIZE[1] // 2),
                                                                   Image.Resampling.BICUBIC)
    return np.asarray(small.resize(SIZE, Image.Resampling.BICUBIC))


def _pasted(seed: int) -> np.ndarray:
    pixels = jpegs.camera_pixels(SIZE, seed).copy()
    pixels[40:136, 250:346] = jpegs.camera_pixels(SIZE, seed + 50)[100:196, 5:101]
    return pixels


def test_both_stages_and_learned_signatures(world) -> None:
    registry, data, catalog, add, _ = world
    add("reencoded", camera_file(20, quality=95), "mallory")  # libjpeg's tables
    add("xmp", camera_file(21, extra=jpegs.xmp_app1()), "trent")  # container rewritten only
    add("resampled", camera_file(22, _resampled(22)), "eve")  # the camera's header, other pixels
    add("pasted", camera_file(23, _pasted(23), thumbnail_from=jpegs.camera_pixels(SIZE, 23)), "eve")
    report = curate(catalog, data, registry, load_policy())
    assert report.read == 12 and report.measured == 11  # the re-encode never reaches the pixel stage
    assert all(_status(catalog, f"own{i}")[0] is CandidateStatus.ACCEPTED for i in range(8))
    assert _status(catalog, "reencoded") == (CandidateStatus.REJECTED, ("foreign_encoder",))
    assert _status(catalog, "xmp")[0] is CandidateStatus.ACCEPTED  # resaved is a fact
    assert "resampled" in _status(catalog, "resampled")[1]
    assert "thumbnail_mismatch" in _status(catalog, "pasted")[1]
    reasons = {r.reason for r in catalog.stats().reasons}
    assert {"foreign_encoder", "resampled", "thumbnail_mismatch"} <= reasons
    assert curate(catalog, data, registry, load_policy()).judged == 0  # nothing changed
    report = export(catalog, data, "ds", registry, seed=0, per_class=2, fraction=None)
    assert report.train + report.val + report.test == 9  # eight originals and the XMP copy


def _faint_overlay(seed: int) -> np.ndarray:
    """A 64 px patch of another photo laid over at 20% opacity: a ghosted-in object."""
    pixels = jpegs.camera_pixels(SIZE, seed).astype(np.float32)
    other = jpegs.camera_pixels(SIZE, seed + 50)[20:84, 30:94]
    pixels[100:164, 150:214] = 0.8 * pixels[100:164, 150:214] + 0.2 * other
    return np.clip(pixels, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("policy_table", "rejected"), [
    ({}, True),  # the Acme A1's thumbnails agree to 0.2 grey levels: its learned limit is the floor, 3
    ({"learned_thumbnail_floor": 16.0}, False),  # no tighter than the policy's own 16
])
def test_the_thumbnail_limit_is_learned_per_camera(world, policy_table, rejected: bool) -> None:
    """A faint overlay differs from its thumbnail by 6 grey levels in one region: within what loose
    cameras' thumbnails differ (the policy's 16), far beyond what this camera's own do."""
    registry, data, catalog, add, _ = world
    add("faint", camera_file(24, _faint_overlay(24), thumbnail_from=jpegs.camera_pixels(SIZE, 24)), "eve")
    curate(catalog, data, registry, load_policy(overrides={"pixels": policy_table}))
    status, reasons = _status(catalog, "faint")
    assert (status is CandidateStatus.REJECTED) == rejected
    assert (reasons == ("thumbnail_mismatch",)) == rejected
    assert all(_status(catalog, f"own{i}")[0] is CandidateStatus.ACCEPTED for i in range(8))


def test_the_pixel_stage_survives_a_crash(world, monkeypatch) -> None:
    """Killed half-way, nothing is accepted without its pixel check; the next run finishes."""
    registry, data, catalog, _, _ = world
    import flows.stages.curate
    import pipeline.pixels

    calls = {"n": 0}
    real = pipeline.pixels.read_pixels

    def dying(path, facts):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt("killed")
        return real(path, facts)

    monkeypatch.setattr(flows.stages.curate, "PIXEL_BATCH", 2)
    monkeypatch.setattr(pipeline.pixels, "read_pixels", dying)
    with pytest.raises(KeyboardInterrupt):
        curate(catalog, data, registry, load_policy())
    states = [_status(catalog, f"own{i}") for i in range(8)]
    assert not any(s is CandidateStatus.ACCEPTED for s, _ in states)  # judged before the crash: unchecked
    monkeypatch.setattr(pipeline.pixels, "read_pixels", real)
    report = curate(catalog, data, registry, load_policy())
    assert report.measured == 6  # the two saved before the crash are not measured again
    assert all(_status(catalog, f"own{i}")[0] is CandidateStatus.ACCEPTED for i in range(8))


CAMID = Path(sys.executable).with_name("camid")


def test_signatures_command(world, tmp_path: Path) -> None:
    registry, data, catalog, add, reg_path = world
    add("reencoded", camera_file(20, quality=95), "mallory")
    curate(catalog, data, registry, load_policy())
    url = str(catalog.engine.url.render_as_string(hide_password=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMID_")} | {"COLUMNS": "250"}
    base = [str(CAMID), "--catalog", url, "--registry", str(reg_path), "signatures"]
    out = subprocess.run([*base, "--json", "--camera", "Acme-A1"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["min_uploaders"] == 3
    [camera] = doc["cameras"]
    own, other = camera["signatures"]  # the learned one first
    assert own["established"] and own["files"] == 8 and own["uploaders"] == 4
    assert own["firmware"] == [{"software": "A1 v1.0", "files": 8, "uploaders": 4, "established": True}]
    assert own["parts"]["tables"].startswith("sha:") and own["parts"]["thumbnail"].startswith("160x")
    assert not other["established"] and other["parts"]["tables"] == "ijg:95"
    thumb = camera["thumbnail"]  # eight originals from four uploaders, agreeing to under 0.2 grey levels
    assert (thumb["files"], thumb["uploaders"], thumb["limit"]) == (8, 4, 3.0) and thumb["median"] < 0.3
    table = subprocess.run(base, capture_output=True, text=True, env=env, timeout=120)
    assert table.returncode == 0 and "learned" in table.stdout and own["id"][:20] in table.stdout
    assert "Acme-A1: thumbnails differ from the image by a median" in table.stdout
    bad = subprocess.run([*base, "--camera", "Nope"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith("camid: error: unknown camera 'Nope'")

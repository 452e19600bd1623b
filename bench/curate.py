"""Benchmark: curation's two stages, per core, against their baselines in the same run.

The header stage (facts with the scan walk and encoder signature, then the verdict) over the
real sample set (``../shared/realworld``, or ``--dir``), several rounds so the timing is stable,
against one ``exiftool -fast`` process reading the tags curation needs from the same files the
same number of times (Debian's ``libimage-exiftool-perl``, installed here if missing).

The pixel stage on 12 MP files (the real 4032x3024 sample when present, and generated 12 MP
camera-like files with a thumbnail), against a full RGB decode of the same files by the same
libjpeg-turbo. Times are CPU seconds of this process (``time.process_time``) with one BLAS and
one OpenCV thread, so per core (the curate flow runs files in parallel, not threads in a file).

    .venv/bin/python bench/curate.py [--dir DIR] [--rounds 20] [--pixel-rounds 5]

Ends with: ``bench curate: files=... camid_files_per_s=... exiftool_files_per_s=...
pixel_12mp_files_per_s=... full_decode_12mp_files_per_s=... pixel_cost_vs_full_decode=... ratio=...``
(ratio: camid's header stage over exiftool)
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # per-core figures: before numpy is imported

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pipeline.facts import read_facts
from pipeline.policy import load_policy
from pipeline.registry_load import load_registry
from pipeline.verdict import judge

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "realworld" / "exif-samples"
EXIFTOOL_TAGS = ("-Make", "-Model", "-Software", "-DateTimeOriginal", "-Orientation",
                 "-ExifImageWidth", "-ExifImageHeight", "-ImageSize", "-XMP:CreatorTool",
                 "-JPEGQualityEstimate", "-MakerNotes")


def ensure_exiftool() -> str:
    found = shutil.which("exiftool")
    if found:
        return found
    print("installing libimage-exiftool-perl (Debian) for the baseline...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "libimage-exiftool-perl"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("exiftool") or "exiftool"


def camid_rate(files: list[Path], rounds: int) -> float:
    registry, policy = load_registry(), load_policy()
    for path in files:  # warm the page cache and imports
        judge(read_facts(path), registry, policy)
    start = time.process_time()
    for _ in range(rounds):
        for path in files:
            judge(read_facts(path), registry, policy)
    return len(files) * rounds / (time.process_time() - start)


def exiftool_rate(exiftool: str, files: list[Path], rounds: int) -> float:
    """One exiftool process over the list repeated ``rounds`` times (CPU time of the child)."""
    with tempfile.NamedTemporaryFile("w", suffix=".args", delete=False) as argfile:
        for _ in range(rounds):
            argfile.writelines(f"{p}\n" for p in files)
    try:
        before = os.times()
        subprocess.run([exiftool, "-fast", "-json", "-q", "-q", *EXIFTOOL_TAGS, "-@", argfile.name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        after = os.times()
    finally:
        os.unlink(argfile.name)
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return len(files) * rounds / cpu


def twelve_mp_files(real_dir: Path, count: int = 3) -> list[bytes]:
    """The real 12 MP sample (when there) and generated 4032x3024 camera-like files, quality 95,
    with a camera's EXIF and thumbnail (as camera files have: the pixel stage compares them)."""
    import io
    from datetime import datetime

    import numpy as np
    from PIL import Image

    from flows.demo.exif import camera_exif, thumbnail_of

    found = [p.read_bytes() for p in real_dir.rglob("42_IndexError.jpg")]
    rng = np.random.default_rng(0)
    while len(found) < count:
        coarse = rng.integers(30, 225, (48, 63, 3), dtype=np.uint8)
        scene = np.asarray(Image.fromarray(coarse).resize((4032, 3024), Image.Resampling.BICUBIC), np.int16)
        noisy = np.clip(scene + rng.normal(0, 2.5, (3024, 4032, 1)), 0, 255).astype(np.uint8)
        exif = camera_exif("Bench", "B12", "B12 1.0", datetime(2026, 1, 1), (4032, 3024), thumbnail_of(noisy))
        out = io.BytesIO()
        Image.fromarray(noisy).save(out, "JPEG", quality=95, exif=exif)
        found.append(out.getvalue())
    return found


def pixel_rates(datas: list[bytes], rounds: int) -> tuple[float, float]:
    """(pixel stage, full RGB decode) files per CPU second on the same files."""
    import simplejpeg

    from pipeline.facts import facts_from_bytes
    from pipeline.pixels import measure

    facts = [facts_from_bytes(d) for d in datas]
    for data, fact in zip(datas, facts, strict=True):  # warm-up: imports, caches
        measure(data, fact)
    start = time.process_time()
    for _ in range(rounds):
        for data, fact in zip(datas, facts, strict=True):
            measure(data, fact)
    ours = len(datas) * rounds / (time.process_time() - start)
    start = time.process_time()
    for _ in range(rounds):
        for data in datas:
            simplejpeg.decode_jpeg(data, colorspace="RGB")
    full = len(datas) * rounds / (time.process_time() - start)
    return ours, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pixel-rounds", type=int, default=5)
    args = parser.parse_args()
    files = sorted(p for p in args.dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"no JPEG files under {args.dir}")
    exiftool = ensure_exiftool()
    ours = camid_rate(files, args.rounds)
    theirs = exiftool_rate(exiftool, files, args.rounds)
    pixels, full = pixel_rates(twelve_mp_files(args.dir), args.pixel_rounds)
    print(f"bench curate: files={len(files)} rounds={args.rounds} camid_files_per_s={ours:.0f} "
          f"exiftool_files_per_s={theirs:.0f} pixel_12mp_files_per_s={pixels:.1f} "
          f"full_decode_12mp_files_per_s={full:.1f} pixel_cost_vs_full_decode={full / pixels:.2f} "
          f"ratio={ours / theirs:.2f}")


if __name__ == "__main__":
    main()

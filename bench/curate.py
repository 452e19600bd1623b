"""Benchmark: facts + verdict per second on real files, against ``exiftool -fast`` in batch mode.

Runs camid's header reader and verdict over the real sample set (``../shared/realworld``, or
``--dir``), several rounds so the timing is stable, on one core. In the same run it gives the
same files (the same number of times) to one ``exiftool -fast`` process reading the tags
curation needs, and prints both rates and their ratio. exiftool comes from Debian's
``libimage-exiftool-perl``, installed here if missing.

    .venv/bin/python bench/curate.py [--dir DIR] [--rounds 20]

Ends with: ``bench curate: files=... camid_files_per_s=... exiftool_files_per_s=... ratio=...``
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    files = sorted(p for p in args.dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"no JPEG files under {args.dir}")
    exiftool = ensure_exiftool()
    ours = camid_rate(files, args.rounds)
    theirs = exiftool_rate(exiftool, files, args.rounds)
    print(f"bench curate: files={len(files)} rounds={args.rounds} camid_files_per_s={ours:.0f} "
          f"exiftool_files_per_s={theirs:.0f} ratio={ours / theirs:.2f}")


if __name__ == "__main__":
    main()

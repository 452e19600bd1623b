"""Benchmark: false-accept and false-reject rates of curation on altered copies of camera originals.

Every real original of ``../shared/realworld`` (``tests.pixeltrue.REAL_ORIGINALS``) and the demo
world's simulated originals, each registered as its own camera with its own signature, then
every kind of altered copy of each (``tests.forgeries.KINDS``), judged by the header stage and
the pixel stage of the default policy. Prints a table per kind (how many copies, how many each
stage caught, how many got through) and ends with

    bench pixeltrue: originals=N originals_rejected=N copies=N copies_accepted=N benign=N
    benign_rejected=N ratio=<share of altered copies rejected>

    .venv/bin/python bench/pixeltrue.py [--realworld DIR] [--demo-per-camera 3] [--verbose]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.policy import load_policy
from tests.pixeltrue import evaluate, load_demo, load_real

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "realworld" / "exif-samples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realworld", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--demo-per-camera", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="One line per file and copy.")
    args = parser.parse_args()
    originals = load_real(args.realworld) if (args.realworld / "jpg").is_dir() else []
    originals += load_demo(args.demo_per_camera)
    rows: dict[str, list] = defaultdict(list)
    for outcome in evaluate(originals, load_policy()):
        rows[outcome.kind].append(outcome)
        if args.verbose:
            print(f"{outcome.kind:22s} {outcome.name[:34]:34s} accepted={outcome.accepted} "
                  f"header={[r.value for r in outcome.header]} pixels={[r.value for r in outcome.pixels]}")
    print(f"{'kind':22s} {'files':>5s} {'header':>7s} {'pixels':>7s} {'accepted':>8s}  reasons")
    totals = defaultdict(int)
    for kind, outcomes in rows.items():
        header = sum(bool(o.header) for o in outcomes)
        pixel_only = sum(bool(o.pixels) and not o.header for o in outcomes)
        accepted = sum(o.accepted for o in outcomes)
        reasons = defaultdict(int)
        for o in outcomes:
            for r in {*o.header, *o.pixels}:
                reasons[r.value] += 1
        top = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda x: -x[1])[:4])
        print(f"{kind:22s} {len(outcomes):5d} {header:7d} {pixel_only:7d} {accepted:8d}  {top}")
        group = "originals" if kind == "original" else ("benign" if outcomes[0].camera_pixels else "copies")
        totals[group] += len(outcomes)
        totals[group + "_accepted"] += accepted
    copies, through = totals["copies"], totals["copies_accepted"]
    print(f"bench pixeltrue: originals={totals['originals']} "
          f"originals_rejected={totals['originals'] - totals['originals_accepted']} copies={copies} "
          f"copies_accepted={through} benign={totals['benign']} "
          f"benign_rejected={totals['benign'] - totals['benign_accepted']} "
          f"ratio={(copies - through) / max(1, copies):.3f}")


if __name__ == "__main__":
    main()

"""Benchmark: camid's downloader against a plain sequential ``requests`` loop, same server, same run.

A loopback server (its own process, so it does not share this one's CPU time) serves N distinct
camera-sized JPEGs (about 3 MB each: a few Pillow-encoded 4032x3024 pictures, each made unique by
a comment segment) with an injected latency per request. Both clients do the same work per image:
stream to a temporary file while hashing SHA-256, then rename into content-addressed storage;
camid also verifies each body and writes every result to its catalog. With per-host limits
lifted, camid's downloader should be bound by hashing and writing (CPU), not by waiting.

    .venv/bin/python bench/download.py [--images 200] [--latency-ms 50] [--concurrency 32]

Ends with one line: ``bench download: ... ratio=...`` (camid images/s over sequential images/s).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing as mp
import multiprocessing.queues
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BASES = 3
T = TypeVar("T")


def serve(port_out: mp.queues.Queue, latency: float, ready_bases: int) -> None:
    """The image server: ``/img/<i>`` is base ``i % BASES`` with comment ``i`` spliced in."""
    from aiohttp import web

    from tests.fakes.images import realistic_jpeg

    bases = [realistic_jpeg(seed) for seed in range(ready_bases)]

    async def image(request: web.Request) -> web.StreamResponse:
        index = int(request.match_info["i"])
        base = bases[index % len(bases)]
        comment = f"camid-bench-{index}".encode()
        head = base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        await asyncio.sleep(latency)
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = len(head) + len(base) - 2
        await response.prepare(request)
        await response.write(head)
        view = memoryview(base)
        for i in range(2, len(base), 256 * 1024):
            await response.write(view[i:i + 256 * 1024])
        await response.write_eof()
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/img/{i}", image)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_out.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def sequential(urls: list[str], root: Path) -> int:
    """The plain way: one requests.Session, one URL after another, hashed and stored."""
    import requests

    images = root / "images"
    images.mkdir(parents=True)
    total = 0
    with requests.Session() as session:
        for url in urls:
            digest = hashlib.sha256()
            fd, tmp = tempfile.mkstemp(dir=images)
            with session.get(url, stream=True, timeout=60) as response, os.fdopen(fd, "wb") as out:
                response.raise_for_status()
                for chunk in response.iter_content(256 * 1024):
                    digest.update(chunk)
                    out.write(chunk)
                    total += len(chunk)
            sha = digest.hexdigest()
            target = images / sha[:2] / sha[2:4] / f"{sha}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
    return total


def prepare_camid(urls: list[str], root: Path) -> None:
    """The catalog with one candidate per URL (made before the clock starts, like a scrape)."""
    from db import Catalog
    from pipeline.records import Candidate

    with Catalog.open(f"sqlite:///{root / 'catalog.db'}") as catalog:
        catalog.add_candidates([Candidate("dir", str(i), url) for i, url in enumerate(urls)])


def with_camid(root: Path, concurrency: int, expected: int) -> int:
    """camid's own path: ``flows.stages.acquire.download``, per-host limits lifted, catalog writes
    included."""
    from db import Catalog
    from flows.stages.acquire import download
    from scrapers.download import DownloaderConfig
    from scrapers.fetch import FetchOptions
    from scrapers.limits import UNLIMITED

    with Catalog.open(f"sqlite:///{root / 'catalog.db'}") as catalog:
        config = DownloaderConfig(FetchOptions(root), concurrency, (UNLIMITED,))
        report = download(catalog, config)
    if report.stored != expected:
        raise SystemExit(f"camid stored {report.stored} of {expected} images")
    return report.bytes


def timed(fn: Callable[..., T], *args: object) -> tuple[T, float, float]:
    """(result, wall seconds, CPU share of this process over the call)."""
    cpu0, t0 = _cpu(), time.perf_counter()
    result = fn(*args)
    wall = time.perf_counter() - t0
    return result, wall, (_cpu() - cpu0) / wall


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--dir", type=Path, default=REPO / "bench-data" / "download")
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    spawn = mp.get_context("spawn")
    ports = spawn.Queue()
    server = spawn.Process(target=serve, args=(ports, args.latency_ms / 1000, BASES),
                                             daemon=True)
    server.start()
    try:
        port = ports.get(timeout=120)
        camid_urls = [f"http://127.0.0.1:{port}/img/{i}" for i in range(args.images)]
        plain_urls = [f"http://127.0.0.1:{port}/img/{i + args.images}" for i in range(args.images)]
        plain_bytes, plain_s, plain_cpu = timed(sequential, plain_urls, args.dir / "sequential")
        prepare_camid(camid_urls, args.dir / "camid")
        camid_bytes, camid_s, camid_cpu = timed(with_camid, args.dir / "camid", args.concurrency,
                                                args.images)
    finally:
        server.terminate()
    n = args.images
    mb = camid_bytes / n / 1e6
    camid_rate, plain_rate = n / camid_s, n / plain_s
    print(f"camid:      {camid_rate:8.1f} images/s {camid_bytes / camid_s / 1e6:8.1f} MB/s "
          f"(client CPU {camid_cpu:.0%} of one core, concurrency {args.concurrency})")
    print(f"sequential: {plain_rate:8.1f} images/s {plain_bytes / plain_s / 1e6:8.1f} MB/s "
          f"(client CPU {plain_cpu:.0%})")
    print(f"bench download: {n} images x {mb:.1f} MB, latency {args.latency_ms:.0f} ms, "
          f"camid {camid_rate:.1f} img/s {camid_bytes / camid_s / 1e6:.1f} MB/s cpu={camid_cpu:.0%}, "
          f"sequential {plain_rate:.1f} img/s {plain_bytes / plain_s / 1e6:.1f} MB/s, "
          f"ratio={camid_rate / plain_rate:.1f}")


if __name__ == "__main__":
    main()

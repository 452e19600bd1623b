"""Training and validation data: class-balanced, counter-based sampling and the crop pipeline.

The sampler draws every batch from a generator seeded by (run seed, step, rank, micro-batch), not
from a stream: batch k is the same whether it is drawn after batch k-1 or first after a resume,
on any number of loader workers. Its whole state is the next step, which the checkpoint keeps.
Classes are drawn uniformly, then an image within the class, so rare cameras are seen as often
as common ones (the challenge metric weights classes equally).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pipeline.errors import CamidError
from pipeline.manifest import Manifest
from training.alterations import UNALTERED, Alteration, altered_crop
from training.augment import Grid, apply_plan, grid_of, plan_sample
from training.config import TrainConfig
from training.imageio import image_size
from training.pixelcache import PixelSource, SourceImage

SampleKey = tuple[int, int]  # (image index, sample seed)


@dataclass(frozen=True, slots=True)
class LabelledImages:
    """The images of one split with their class indices, in manifest order."""

    images: tuple[SourceImage, ...]
    labels: tuple[int, ...]


class BalancedBatches(Sampler[list[SampleKey]]):
    """Micro-batches of (image, seed) keys for steps ``start`` .. ``steps - 1`` of one rank."""

    def __init__(self, labels: Sequence[int], cfg: TrainConfig, rank: int = 0, start: int = 0) -> None:
        by_class: dict[int, list[int]] = {}
        for index, label in enumerate(labels):
            by_class.setdefault(label, []).append(index)
        self.members = [np.array(v) for _, v in sorted(by_class.items())]
        self.cfg, self.rank, self.start = cfg, rank, start

    def __len__(self) -> int:
        return (self.cfg.steps - self.start) * self.cfg.accumulate

    def __iter__(self) -> Iterator[list[SampleKey]]:
        for step in range(self.start, self.cfg.steps):
            for micro in range(self.cfg.accumulate):
                yield self.keys(step, micro)

    def keys(self, step: int, micro: int) -> list[SampleKey]:
        """The batch of one step and micro-batch: a pure function of its coordinates."""
        rng = np.random.default_rng([self.cfg.seed, step, self.rank, micro])
        classes = rng.integers(len(self.members), size=self.cfg.batch_size)
        picks = [int(self.members[c][rng.integers(len(self.members[c]))]) for c in classes]
        seeds = rng.integers(0, 2**63 - 1, size=self.cfg.batch_size)
        return [(index, int(seed)) for index, seed in zip(picks, seeds, strict=True)]


class TrainCrops(Dataset[tuple[torch.Tensor, int]]):
    """A key -> an augmented ``input_size`` crop (H x W x 3 uint8) and its label."""

    def __init__(self, split: LabelledImages, source: PixelSource, cfg: TrainConfig) -> None:
        self.split, self.source, self.cfg = split, source, cfg

    def __len__(self) -> int:
        return len(self.split.images)

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, int]:
        index, seed = key
        image = self.split.images[index]
        pixels = self.source.pixels(image)
        height, width = pixels.shape[:2]
        plan = plan_sample(np.random.default_rng(seed), height, width, self.grid(image), self.cfg)
        region = np.array(pixels[plan.y:plan.y + plan.side, plan.x:plan.x + plan.side])  # a copy, not the map
        return torch.from_numpy(apply_plan(region, plan, self.cfg.input_size)), self.split.labels[index]

    def grid(self, image: SourceImage) -> Grid:
        return grid_of(image.subsampling, self.cfg.grid, self.cfg.off_grid)


class CentreCrops(Dataset[tuple[torch.Tensor, int]]):
    """Validation during training: each image's grid-aligned centre crop, altered by its protocol
    operation (``ops[index]``; unaltered when None), as ``camid evaluate`` scores it."""

    def __init__(self, split: LabelledImages, source: PixelSource, size: int, grid: int,
                 ops: Sequence[Alteration] | None = None) -> None:
        self.split, self.source, self.size, self.grid = split, source, size, grid
        self.ops = list(ops) if ops is not None else [UNALTERED] * len(split.images)

    def __len__(self) -> int:
        return len(self.split.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.split.images[index]
        pixels = self.source.pixels(image)
        grid = grid_of(image.subsampling, self.grid)
        crop = np.array(altered_crop(pixels, self.ops[index], self.size, grid))  # a copy, not the map
        return torch.from_numpy(crop), self.split.labels[index]


def worker_init(_: int) -> None:
    """One thread per loader worker: the workers are the parallelism, not OpenCV or torch inside."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def train_loader(split: LabelledImages, source: PixelSource, cfg: TrainConfig, rank: int, start: int,
                 pin: bool) -> DataLoader:
    """Batches for steps ``start`` onwards; ``accumulate`` micro-batches per step."""
    sampler = BalancedBatches(split.labels, cfg, rank, start)
    return DataLoader(TrainCrops(split, source, cfg), batch_sampler=sampler, num_workers=cfg.workers,
                      pin_memory=pin, worker_init_fn=worker_init,
                      prefetch_factor=4 if cfg.workers else None)


def check_sizes(manifest: Manifest, split: str, crop: int) -> None:
    """Refuse images smaller than the training crop before any work starts.

    Sizes come from the manifest (the catalog measured each file); only rows of a dataset
    exported before manifest format 2, which lack them, have their file's header read.
    """
    small = []
    for row in getattr(manifest, split):
        path = manifest.image_path(row)
        size = (row.width, row.height) if row.width and row.height else image_size(path)
        if min(size) < crop:
            small.append((path, size))
    if small:
        path, (w, h) = small[0]
        raise CamidError(f"{len(small)} image(s) are smaller than --crop {crop} (e.g. {path}: {w}x{h})")


def split_of(manifest: Manifest, split: str) -> LabelledImages:
    """A split's images with class indices; a label outside the class list is a broken dataset."""
    index = {name: i for i, name in enumerate(manifest.classes)}
    rows = getattr(manifest, split)
    unknown = sorted({r.label for r in rows} - set(index))
    if unknown:
        raise CamidError(f"{manifest.directory}: {split} rows have labels not in the class list: {unknown}")
    images = tuple(SourceImage(r.sha256, manifest.image_path(r), r.subsampling, r.width, r.height)
                   for r in rows)
    return LabelledImages(images, tuple(index[r.label] for r in rows))

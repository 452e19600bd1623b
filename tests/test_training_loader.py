"""The training data path: exact pixels from the cache, grid-aligned crops, balanced resumable sampling."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.errors import CamidError
from pipeline.manifest import Manifest
from pipeline.records import ManifestRow
from tests.train_data import camera_image, save_jpeg
from training.augment import apply_plan, plan_sample
from training.config import TrainConfig
from training.data import BalancedBatches, CentreCrops, LabelledImages, TrainCrops, check_sizes
from training.imageio import centre_offset, decode_rgb
from training.pixelcache import DirectSource, PixelCache, SourceImage
from training.rundir import cameras_by_class

SIZE = (232, 168)  # neither side a multiple of 16: partial MCUs on the right and bottom edges


def cfg(**changes: object) -> TrainConfig:
    base = {"manifest": "-", "run_dir": "-", "steps": 10, "crop": 64, "input_size": 32, "batch_size": 6,
            "workers": 0}
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SourceImage]:
    root = tmp_path_factory.mktemp("jpegs")
    out = {}
    for name, subsampling in (("420", 2), ("444", 0)):
        path = root / f"{name}.jpg"
        save_jpeg(camera_image(1, 7, SIZE), path, "SONY", "NEX-7", quality=92, subsampling=subsampling)
        out[name] = SourceImage(f"{name:0<64}", path)
    return out


def d4(pixels: np.ndarray) -> list[np.ndarray]:
    """The eight images of ``pixels`` under the dihedral group (what ``A.D4`` may return)."""
    turns = [np.rot90(pixels, k) for k in range(4)]
    return turns + [t[:, ::-1] for t in turns]


@pytest.mark.parametrize("subsampling", ["420", "444"])
def test_cache_crops_equal_crops_of_the_full_decode(jpegs, tmp_path: Path, subsampling: str) -> None:
    """The loaders' own crops (``CentreCrops`` for validation, ``TrainCrops`` for training) read
    from the cache hold exactly the pixels of the same window of a full decode, partial MCUs on
    the right and bottom edges included."""
    image = jpegs[subsampling]
    cache = PixelCache(tmp_path)
    assert cache.ensure([image]) == 1 and cache.ensure([image]) == 0
    full = decode_rgb(image.path)
    width, height = SIZE
    # the JPEG is gone: every pixel below must come from the cache entry
    split = LabelledImages((SourceImage(image.sha256, tmp_path / "gone.jpg"),), (0,))

    whole, label = CentreCrops(split, cache, max(SIZE), 8)[0]  # larger than the image: all of it
    assert label == 0 and np.array_equal(whole.numpy(), full)
    centre, _ = CentreCrops(split, cache, 64, 8)[0]
    y, x = centre_offset(height, 64, 8), centre_offset(width, 64, 8)
    assert (y, x) == (48, 80)
    assert np.array_equal(centre.numpy(), full[y:y + 64, x:x + 64])

    # training: crop = input size = the image's height, no gamma or JPEG step, so each sample is
    # a D4 image of one grid-aligned full-height window; the last window ends on the right edge
    config = cfg(crop=height, input_size=height, p_gamma=0.0, p_jpeg=0.0, p_ops=0.0)
    windows = {x: d4(full[:, x:x + height]) for x in range(0, width - height + 1, 8)}
    assert max(windows) + height == width
    crops, seen = TrainCrops(split, cache, config), set()
    for step in range(config.steps):
        for key in BalancedBatches(split.labels, config).keys(step, 0):
            crop = crops[key][0].numpy()
            where = [x for x, images in windows.items() if any(np.array_equal(crop, v) for v in images)]
            assert len(where) == 1, key
            seen.update(where)
    assert {0, max(windows)} <= seen
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision 0.29 deprecates its decoders
def test_reference_decoder_agrees_with_pillow_and_torchvision(jpegs) -> None:
    from torchvision.io import decode_jpeg

    for image in jpegs.values():
        ours = decode_rgb(image.path)
        with Image.open(image.path) as im:
            assert np.array_equal(ours, np.asarray(im.convert("RGB")))
        data = torch.frombuffer(bytearray(image.path.read_bytes()), dtype=torch.uint8)
        assert np.array_equal(ours, decode_jpeg(data).permute(1, 2, 0).numpy())


def test_exif_orientation_is_never_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    Image.fromarray(camera_image(0, 1, (96, 64))).save(buf, "JPEG", quality=95, exif=exif)
    path = tmp_path / "rotated.jpg"
    path.write_bytes(buf.getvalue())
    assert decode_rgb(path).shape == (64, 96, 3)


def test_damaged_cache_entry_is_rebuilt(jpegs, tmp_path: Path) -> None:
    cache, image = PixelCache(tmp_path), jpegs["420"]
    cache.ensure([image])
    cache.entry(image.sha256).write_bytes(b"garbage")
    assert np.array_equal(cache.pixels(image), decode_rgb(image.path))


def test_cache_refuses_to_fill_the_disk(jpegs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**6, 10**6 - 100, 100))
    with pytest.raises(CamidError, match="--no-cache"):
        PixelCache(tmp_path).ensure([jpegs["420"]])


def test_cached_and_naive_loaders_give_the_same_augmented_crops(jpegs, tmp_path: Path) -> None:
    split = LabelledImages((jpegs["420"], jpegs["444"]), (0, 1))
    config = cfg(p_gamma=1.0, p_jpeg=1.0)
    naive, cached = TrainCrops(split, DirectSource(), config), TrainCrops(split, PixelCache(tmp_path), config)
    for key in BalancedBatches(split.labels, config).keys(3, 0):
        a, b = naive[key], cached[key]
        assert a[0].shape == (32, 32, 3) and a[0].dtype == torch.uint8
        assert torch.equal(a[0], b[0]) and a[1] == b[1]


class CoordinateSource:
    """A fake image whose pixels encode their own coordinates (y, x), to see where crops come from."""

    def pixels(self, image: SourceImage) -> np.ndarray:
        yy, xx = np.mgrid[0:200, 0:240]
        return np.stack([yy, xx, np.zeros_like(yy)], axis=-1).astype(np.uint8)


def test_every_crop_offset_is_on_the_grid() -> None:
    config = cfg(p_gamma=0.0, p_jpeg=0.0, p_ops=0.0)
    split = LabelledImages((SourceImage("0" * 64, Path("-")),), (0,))
    dataset = TrainCrops(split, CoordinateSource(), config)
    corners = set()
    for key in BalancedBatches(split.labels, config).keys(0, 0) * 4:
        crop = dataset[key][0].numpy()
        ys, xs = crop[..., 0].astype(int), crop[..., 1].astype(int)
        assert ys.min() % 8 == 0 and xs.min() % 8 == 0  # the crop's top-left in the original
        assert ys.max() - ys.min() == 31 and xs.max() - xs.min() == 31  # no resampling: 32 whole pixels
        corners.add((int(ys.min()), int(xs.min())))
    assert len(corners) > 1


def test_gamma_and_jpeg_steps_really_apply() -> None:
    crop = camera_image(2, 3, (64, 64))

    def out(**changes: object) -> np.ndarray:
        config = cfg(**{"p_ops": 0.0, "d4": False, "p_gamma": 0.0, "p_jpeg": 0.0, **changes})
        plan = plan_sample(np.random.default_rng(11), 64, 64, (8, 8), config)
        return apply_plan(crop[plan.y:plan.y + plan.side, plan.x:plan.x + plan.side], plan, 32)

    plain = out()
    gamma = out(p_gamma=1.0, gamma_range=(1.2, 1.2))
    low, high = out(p_jpeg=1.0, jpeg_quality=(70, 70)), out(p_jpeg=1.0, jpeg_quality=(90, 90))
    assert gamma.mean() < plain.mean()  # gamma 1.2 darkens
    assert not np.array_equal(low, plain) and not np.array_equal(low, high)
    assert np.abs(high.astype(int) - plain).mean() < np.abs(low.astype(int) - plain).mean()


def test_sampler_is_balanced_deterministic_and_resumable() -> None:
    labels = [0] * 50 + [1] * 5 + [2] * 1
    config = cfg(steps=200, batch_size=6, accumulate=2)
    full = list(BalancedBatches(labels, config))
    assert full == list(BalancedBatches(labels, config))
    assert list(BalancedBatches(labels, config, start=150)) == full[300:]
    counts = np.bincount([labels[i] for batch in full for i, _ in batch], minlength=3)
    assert counts.min() / counts.max() > 0.85
    other_rank = list(BalancedBatches(labels, config, rank=1))
    assert other_rank[0] != full[0]


# ---- what training takes from the manifest instead of the files ---------------------------------


def _manifest(root: Path, rows: tuple[ManifestRow, ...]) -> Manifest:
    return Manifest(directory=root, name="m", classes=("Cam-A", "Cam-B"), train=rows, val=(),
                    registry_hash="r", policy_hash="p", seed=0, rows_sha256="h")


def _row(name: str, label: str, **facts: object) -> ManifestRow:
    return ManifestRow(path=f"{name}.jpg", sha256=name * 64, label=label, source="s", uploader=None,
                       licence=None, attribution_url=None, **facts)  # type: ignore[arg-type]


def test_run_cameras_come_from_the_manifest_not_the_files(jpegs, tmp_path: Path) -> None:
    # the file's EXIF says SONY NEX-7; the manifest (what the catalog read) is what counts
    (tmp_path / "a.jpg").write_bytes(jpegs["420"].path.read_bytes())
    rows = (_row("a", "Cam-A", make="Apple ", model="iPhone  6"),
            _row("b", "Cam-A", make="APPLE", model="iPhone 6"),
            _row("c", "Cam-B", make=None, model="NEX-7"), _row("d", "Cam-B"))  # d: no file, no camera
    assert cameras_by_class(_manifest(tmp_path, rows)) == {"Cam-A": ["apple iphone 6"], "Cam-B": ["nex-7"]}
    old = (_row("a", "Cam-A"),)  # a format-1 row: no camera, and the file is not read for one
    assert cameras_by_class(_manifest(tmp_path, old)) == {"Cam-A": [], "Cam-B": []}


def test_sizes_come_from_the_manifest_and_from_headers_only_for_old_rows(jpegs, tmp_path: Path) -> None:
    (tmp_path / "old.jpg").write_bytes(jpegs["420"].path.read_bytes())  # 232 x 168
    fine = _manifest(tmp_path, (_row("x", "Cam-A", width=4000, height=3000), _row("old", "Cam-A")))
    check_sizes(fine, "train", 160)  # x has no file: its size was not read from one
    with pytest.raises(CamidError, match=r"1 image\(s\) are smaller than --crop 200 .*old\.jpg: 232x168"):
        check_sizes(fine, "train", 200)
    small = _manifest(tmp_path, (_row("x", "Cam-A", width=64, height=48),))
    with pytest.raises(CamidError, match=r"x\.jpg: 64x48"):
        check_sizes(small, "train", 64)


def test_the_test_split_is_read_like_the_others(tmp_path: Path) -> None:
    from dataclasses import replace

    from training.data import split_of

    manifest = replace(_manifest(tmp_path, (_row("a", "Cam-A"),)),
                       test=(_row("t", "Cam-B", device="serial:0123456789abcdef"),))
    held_out = split_of(manifest, "test")
    assert held_out.labels == (1,) and held_out.images[0].path == tmp_path / "t.jpg"
    assert split_of(replace(manifest, test=()), "test").images == ()  # a format-2 dataset: no test rows

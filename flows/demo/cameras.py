"""Simulated camera models for the offline demo: same scenes, different low-level processing.

Camera-model identification works on traces of the processing pipeline, not on content. So each
simulated model renders the *same distribution* of procedural scenes and differs only where real
cameras differ: colour-filter layout and demosaicing, a fixed per-camera sensor noise pattern
(PRNU), read noise, denoising or sharpening, tone curve, JPEG quantization tables and chroma
subsampling, and native size. Files carry realistic EXIF (Make, Model, firmware Software,
DateTimeOriginal, EXIF-recorded size), so the real curation code labels them.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from PIL import Image

from pipeline.quality import IJG_CHROMINANCE, IJG_LUMINANCE, scale_ijg_table

CFA = {"RGGB": ((0, 1), (1, 2)), "BGGR": ((2, 1), (1, 0)), "GRBG": ((1, 0), (2, 1)),
       "GBRG": ((1, 2), (0, 1))}


@dataclass(frozen=True, slots=True)
class SimCamera:
    """One simulated camera model and its processing choices."""

    id: str
    make: str
    model: str
    firmware: str
    size: tuple[int, int]
    cfa: str
    demosaic: str  # "bilinear" or "nearest"
    prnu: float
    read_noise: float
    blur: float  # >0: denoise strength (3x3 blur mix); <0: sharpening amount
    gamma: float
    s_curve: float
    quality: int
    tweak: int  # added to a few quantizer entries: camera tables, not libjpeg's
    subsampling: int  # Pillow: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0


CAMERAS: tuple[SimCamera, ...] = (
    SimCamera("Kestrel-K1", "Kestrel", "K1", "K1 Firmware 1.02", (384, 288), "RGGB", "bilinear",
              0.020, 0.010, 0.0, 2.2, 0.0, 96, 0, 2),
    SimCamera("Heron-H2", "Heron Imaging", "H2 Pro", "H2PRO-FW 3.1.0", (400, 300), "BGGR", "nearest",
              0.015, 0.006, -0.8, 2.0, 0.4, 97, 1, 0),
    SimCamera("Osprey-O3", "Osprey", "O3", "O3 Ver.1.00", (352, 264), "GRBG", "bilinear",
              0.025, 0.012, 0.6, 2.2, 0.2, 96, 2, 2),
    SimCamera("Plover-P4", "Plover", "P4 mini", "P4M 2.7", (384, 256), "GBRG", "bilinear",
              0.012, 0.008, -1.4, 2.4, 0.0, 98, 0, 0),
    SimCamera("Wren-W5", "Wren Labs", "W5", "W5-0.9.12", (320, 240), "RGGB", "nearest",
              0.030, 0.015, 0.9, 1.9, 0.6, 95, 1, 2),
    SimCamera("Finch-F6", "Finch", "F6", "F6 build 44", (360, 270), "BGGR", "bilinear",
              0.018, 0.009, -0.4, 1.8, 0.3, 97, 2, 1),
)


def scene(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A procedural scene in linear RGB [0, 1]: gradients, shapes and texture, camera-agnostic."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx, yy = xx / width, yy / height
    base = rng.uniform(0.1, 0.6, 3) + rng.uniform(-0.3, 0.3, 3) * xx[..., None] \
        + rng.uniform(-0.3, 0.3, 3) * yy[..., None]
    img = np.broadcast_to(base, (height, width, 3)).astype(np.float32).copy()
    for _ in range(rng.integers(4, 9)):
        cx, cy, rx, ry = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)
        mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
        img[mask] = rng.uniform(0.05, 0.95, 3)
    coarse = rng.normal(0, 1, (height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    texture = np.kron(coarse, np.ones((8, 8, 1), np.float32))[:height, :width]
    img += 0.04 * texture + 0.02 * rng.normal(0, 1, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0)


def render(camera: SimCamera, scene_rgb: np.ndarray, shot_rng: np.random.Generator) -> np.ndarray:
    """The camera's pipeline: PRNU, CFA mosaic, noise, demosaic, denoise/sharpen, tone, 8 bits."""
    height, width, _ = scene_rgb.shape
    prnu = np.random.default_rng(_seed(camera.id))
    pattern = 1.0 + camera.prnu * prnu.normal(0, 1, (height, width)).astype(np.float32)
    cfa = np.array(CFA[camera.cfa])
    channel = np.tile(cfa, (height // 2 + 1, width // 2 + 1))[:height, :width]
    mosaic = np.take_along_axis(scene_rgb, channel[..., None], axis=2)[..., 0] * pattern
    mosaic += shot_rng.normal(0, camera.read_noise, mosaic.shape).astype(np.float32)
    rgb = _demosaic(mosaic, channel, camera.demosaic)
    blurred = _blur3(rgb)
    rgb = rgb + (blurred - rgb) * camera.blur if camera.blur > 0 else rgb - camera.blur * (rgb - blurred)
    rgb = np.clip(rgb, 0.0, 1.0) ** (1.0 / camera.gamma)
    rgb = rgb + camera.s_curve * (rgb * rgb * (3 - 2 * rgb) - rgb)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def encode(camera: SimCamera, pixels: np.ndarray, taken: datetime, *, quality: int | None = None,
           software: str | None = None, model: str | None = None) -> bytes:
    """A JPEG as the camera writes it (or as a decoy would be re-saved), with EXIF."""
    image = Image.fromarray(pixels, "RGB")
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = camera.make, model or camera.model
    exif[0x0131] = software if software is not None else camera.firmware
    exif[0x0112] = 1
    stamp = taken.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x0132] = stamp
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = stamp
    ifd[0xA002], ifd[0xA003] = camera.size
    buf = io.BytesIO()
    if quality is None:
        tables = [_tweaked(scale_ijg_table(base, camera.quality), camera.tweak)
                  for base in (IJG_LUMINANCE, IJG_CHROMINANCE)]
        image.save(buf, "JPEG", qtables=tables, subsampling=camera.subsampling, exif=exif)
    else:
        image.save(buf, "JPEG", quality=quality, subsampling=camera.subsampling, exif=exif)
    return buf.getvalue()


def shot_time(index: int) -> datetime:
    return datetime(2024, 5, 1, 9, 0, 0) + timedelta(minutes=37 * index)


def _seed(text: str) -> int:
    """A stable seed per camera (Python's hash() is randomised per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def _tweaked(table: tuple[int, ...], amount: int) -> list[int]:
    values = list(table)
    for i in (9, 18, 27, 36, 45, 54, 63)[:amount * 3]:
        values[i] = min(255, values[i] + 1)
    return values


def _blur3(rgb: np.ndarray) -> np.ndarray:
    padded = np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = rgb.shape[:2]
    acc = sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
    return acc / 9.0


def _demosaic(mosaic: np.ndarray, channel: np.ndarray, method: str) -> np.ndarray:
    """Bilinear (normalised 3x3 convolution per channel) or nearest (2x2 block replication)."""
    h, w = mosaic.shape
    out = np.empty((h, w, 3), np.float32)
    if method == "nearest":
        for c in range(3):
            ys, xs = np.nonzero(channel[:2, :2] == c)
            sample = mosaic[ys[0]::2, xs[0]::2]
            out[..., c] = np.kron(sample, np.ones((2, 2), np.float32))[:h, :w] if sample.size else 0
        return out
    for c in range(3):
        mask = (channel == c).astype(np.float32)
        num = _box3(mosaic * mask)
        den = _box3(mask)
        out[..., c] = np.where(mask > 0, mosaic, num / np.maximum(den, 1e-6))
    return out


def _box3(plane: np.ndarray) -> np.ndarray:
    padded = np.pad(plane, 1, mode="reflect")
    h, w = plane.shape
    return sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))

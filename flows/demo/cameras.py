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

from flows.demo.exif import camera_exif, thumbnail_of
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
    demosaic: str  # "bilinear" or "malvar" (gradient-corrected, Malvar, He & Cutler 2004)
    prnu: float
    read_noise: float
    blur: float  # >0: denoise strength (3x3 blur mix); <0: sharpening amount
    gamma: float
    s_curve: float
    quality: int
    tweak: int  # added to a few quantizer entries: camera tables, not libjpeg's
    subsampling: int  # Pillow: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
    saturation: float = 1.0  # the colour rendering: chroma scaled around each pixel's grey


CAMERAS: tuple[SimCamera, ...] = (
    SimCamera("Kestrel-K1", "Kestrel", "K1", "K1 Firmware 1.02", (512, 384), "RGGB", "bilinear",
              0.020, 0.010, 0.0, 2.2, 0.0, 96, 0, 2, 0.8),
    SimCamera("Heron-H2", "Heron Imaging", "H2 Pro", "H2PRO-FW 3.1.0", (544, 408), "BGGR", "malvar",
              0.015, 0.006, -0.8, 2.0, 0.4, 97, 1, 0, 1.3),
    SimCamera("Osprey-O3", "Osprey", "O3", "O3 Ver.1.00", (480, 360), "GRBG", "bilinear",
              0.025, 0.012, 0.6, 2.2, 0.2, 96, 2, 2, 1.0),
    SimCamera("Plover-P4", "Plover", "P4 mini", "P4M 2.7", (528, 352), "GBRG", "bilinear",
              0.012, 0.008, -1.4, 2.4, 0.0, 98, 0, 0, 1.15),
    SimCamera("Wren-W5", "Wren Labs", "W5", "W5-0.9.12", (448, 336), "RGGB", "malvar",
              0.030, 0.015, 0.9, 1.9, 0.6, 95, 1, 2, 0.9),
    SimCamera("Finch-F6", "Finch", "F6", "F6 build 44", (496, 372), "BGGR", "bilinear",
              0.018, 0.009, -0.4, 1.8, 0.3, 97, 2, 1, 1.2),
    # curated like the others, then kept out of the classes: the "unknown camera" of the open set
    SimCamera("Sparrow-S7", "Sparrow", "S7", "S7 v2.03", (512, 384), "GBRG", "malvar",
              0.022, 0.011, 0.3, 2.1, 0.1, 96, 1, 2, 1.05),
)
HELD_OUT = ("Sparrow-S7",)  # exported to heldout.csv, never trained on (open-set evaluation)


def scene(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A procedural scene in linear RGB [0, 1], camera-agnostic: every statistic (exposure,
    contrast, colour cast, number and size of shapes, texture amount, smooth or busy) is drawn per
    image from one distribution, so neither content nor tone can carry the camera's label."""
    width, height = size
    look = _scene_look(rng)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx, yy = xx / width, yy / height
    base = rng.uniform(0.1, 0.6, 3) + rng.uniform(-0.3, 0.3, 3) * xx[..., None] \
        + rng.uniform(-0.3, 0.3, 3) * yy[..., None]
    img = np.broadcast_to(base, (height, width, 3)).astype(np.float32).copy()
    for _ in range(look.shapes):
        cx, cy = rng.uniform(0, 1, 2)
        rx, ry = rng.uniform(0.3, 1.0, 2) * look.shape_size
        mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
        img[mask] = rng.uniform(0.05, 0.95, 3)
    coarse = rng.normal(0, 1, (height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    texture = _smooth_upsample(coarse, (height, width))  # smooth, not aligned to any pixel grid
    img += look.texture * texture + look.grain * rng.normal(0, 1, img.shape).astype(np.float32)
    img = 0.5 + look.contrast * (img - 0.5)
    return np.clip(img * look.exposure * look.cast, 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class SceneLook:
    """One scene's statistics, drawn per image and identically for every camera."""

    shapes: int
    shape_size: float
    texture: float
    grain: float
    contrast: float
    exposure: float
    cast: np.ndarray


def _scene_look(rng: np.random.Generator) -> SceneLook:
    """Half the scenes smooth (few large shapes, little texture and grain), half busy (many small
    shapes, strong texture and grain); exposure, contrast and colour cast vary over all of them.
    Texture (smooth, low-frequency) stays small against grain: a strong smooth field with little
    fine noise fills the low DCT histograms like a double compression and trips `recompressed`,
    and grain stays at 0.02 or more: a large flat shape without it, denoised, reads as a region
    smoothed by an editor (`local_edit`)."""
    busy = bool(rng.random() < 0.5)
    shapes = int(rng.integers(8, 25) if busy else rng.integers(1, 6))
    size = rng.uniform(0.05, 0.15) if busy else rng.uniform(0.15, 0.4)
    texture = rng.uniform(0.03, 0.07) if busy else rng.uniform(0.0, 0.03)
    grain = rng.uniform(0.025, 0.04) if busy else rng.uniform(0.02, 0.025)
    contrast, exposure = float(rng.uniform(0.6, 1.3)), float(2.0 ** rng.uniform(-1.0, 0.4))
    return SceneLook(shapes, float(size), float(min(texture, 1.8 * grain)), float(grain), contrast, exposure,
                     rng.uniform(0.8, 1.2, 3).astype(np.float32))


def device_serial(camera: SimCamera, device: int) -> str:
    """The EXIF BodySerialNumber of one unit of the model: stable, distinct per device."""
    return f"{_seed(f'{camera.id}#{device}') % 10**8:08d}"


def render(camera: SimCamera, scene_rgb: np.ndarray, shot_rng: np.random.Generator,
           serial: str = "") -> np.ndarray:
    """The camera's pipeline: PRNU, CFA mosaic, noise, demosaic, colour rendering, denoise/sharpen,
    tone, 8 bits. The sensor is the device's own (``serial``): its PRNU pattern and a small read
    noise jitter; everything else is the model's, so a classifier must learn the model, not the unit."""
    height, width, _ = scene_rgb.shape
    prnu = np.random.default_rng(_seed(f"{camera.id}/{serial}"))
    pattern = 1.0 + camera.prnu * prnu.normal(0, 1, (height, width)).astype(np.float32)
    read_noise = camera.read_noise * float(prnu.uniform(0.85, 1.15))
    cfa = np.array(CFA[camera.cfa])
    channel = np.tile(cfa, (height // 2 + 1, width // 2 + 1))[:height, :width]
    mosaic = np.take_along_axis(scene_rgb, channel[..., None], axis=2)[..., 0] * pattern
    mosaic += shot_rng.normal(0, read_noise, mosaic.shape).astype(np.float32)
    rgb = _demosaic(mosaic, channel, camera.demosaic)
    grey = rgb.mean(axis=2, keepdims=True)
    rgb = grey + camera.saturation * (rgb - grey)
    blurred = _blur3(rgb)
    rgb = rgb + (blurred - rgb) * camera.blur if camera.blur > 0 else rgb - camera.blur * (rgb - blurred)
    rgb = np.clip(rgb, 0.0, 1.0) ** (1.0 / camera.gamma)
    rgb = rgb + camera.s_curve * (rgb * rgb * (3 - 2 * rgb) - rgb)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def encode(camera: SimCamera, pixels: np.ndarray, taken: datetime, *, quality: int | None = None,
           software: str | None = None, model: str | None = None,
           thumbnail_from: np.ndarray | None = None, serial: str | None = None) -> bytes:
    """A JPEG as the camera writes it (or as a decoy would be re-saved), with EXIF and thumbnail.

    ``thumbnail_from`` makes the thumbnail from other pixels than the image's (a decoy whose
    content changed after the EXIF was made); ``serial`` is the device's BodySerialNumber.
    """
    image = Image.fromarray(pixels, "RGB")
    thumb = thumbnail_of(pixels if thumbnail_from is None else thumbnail_from)
    exif = camera_exif(camera.make, model or camera.model,
                       software if software is not None else camera.firmware, taken, camera.size, thumb,
                       serial=serial)
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


def _smooth_upsample(coarse: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a coarse random field to ``size`` (height, width), per channel."""
    height, width = size
    ys = np.linspace(0, coarse.shape[0] - 1, height)
    xs = np.linspace(0, coarse.shape[1] - 1, width)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, coarse.shape[0] - 1), np.minimum(x0 + 1, coarse.shape[1] - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x1] * fx
    bottom = coarse[y1][:, x0] * (1 - fx) + coarse[y1][:, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _blur3(rgb: np.ndarray) -> np.ndarray:
    padded = np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = rgb.shape[:2]
    acc = np.sum([padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=0)
    return np.asarray(acc / 9.0)


def _demosaic(mosaic: np.ndarray, channel: np.ndarray, method: str) -> np.ndarray:
    """Bilinear (normalised 3x3 convolution per channel) or Malvar-He-Cutler (5x5 linear filters
    that correct each interpolation with the measured channel's gradient, as many cameras do)."""
    if method == "malvar":
        return _malvar(mosaic, channel)
    h, w = mosaic.shape
    out = np.empty((h, w, 3), np.float32)
    for c in range(3):
        mask = (channel == c).astype(np.float32)
        num = _box3(mosaic * mask)
        den = _box3(mask)
        out[..., c] = np.where(mask > 0, mosaic, num / np.maximum(den, 1e-6))
    return out


# Malvar, He & Cutler, "High-quality linear interpolation for demosaicing of Bayer-patterned color
# images" (ICASSP 2004): green at red/blue sites; red/blue at green sites in a red/blue row; red at
# blue sites (and blue at red)
_G_AT_RB = np.array([[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0],
                     [0, 0, -1, 0, 0]], np.float32) / 8
_C_AT_G_ROW = np.array([[0, 0, 0.5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1], [0, -1, 0, -1, 0],
                        [0, 0, 0.5, 0, 0]], np.float32) / 8
_C_AT_OTHER = np.array([[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5], [0, 2, 0, 2, 0],
                        [0, 0, -1.5, 0, 0]], np.float32) / 8


def _malvar(mosaic: np.ndarray, channel: np.ndarray) -> np.ndarray:
    h, w = mosaic.shape
    padded = np.pad(mosaic, 2, mode="reflect")
    filtered = {name: _conv5(padded, kernel, h, w) for name, kernel in
                (("g", _G_AT_RB), ("row", _C_AT_G_ROW), ("col", _C_AT_G_ROW.T), ("other", _C_AT_OTHER))}
    out = np.empty((h, w, 3), np.float32)
    red_rows = (channel == 0).any(axis=1)[:, None] & np.ones((1, w), bool)
    blue_rows = (channel == 2).any(axis=1)[:, None] & np.ones((1, w), bool)
    for c in (0, 2):
        own_rows = red_rows if c == 0 else blue_rows
        at_green = np.where(own_rows, filtered["row"], filtered["col"])
        value = np.where(channel == 1, at_green, filtered["other"])
        out[..., c] = np.where(channel == c, mosaic, value)
    out[..., 1] = np.where(channel == 1, mosaic, filtered["g"])
    return out


def _conv5(padded: np.ndarray, kernel: np.ndarray, h: int, w: int) -> np.ndarray:
    acc = np.zeros((h, w), np.float32)
    for dy in range(5):
        for dx in range(5):
            if kernel[dy, dx]:
                acc += kernel[dy, dx] * padded[dy:dy + h, dx:dx + w]
    return acc


def _box3(plane: np.ndarray) -> np.ndarray:
    padded = np.pad(plane, 1, mode="reflect")
    h, w = plane.shape
    return np.asarray(np.sum([padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=0))

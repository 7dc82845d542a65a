"""Procedural pill-inspection dataset in the MVTec AD layout: the embedded default data.

Each image is a rendered capsule-shaped pill on a dark textured tray under a directional light:
shaded dome, specular highlight, contact shadow, red speckles, a score line, vignette, lens blur
and sensor noise, with position, rotation, size, colour and light varied per image. Defects are
drawn onto the pill with exact masks that always lie on the pill:

* ``scratch``: a thin curved groove, darker in its middle with a bright rim;
* ``spot``: an irregular brown-orange contamination blob;
* ``crack``: a jagged branching dark fracture.

Everything is a pure function of the seed, so the dataset is identical on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from tqdm.auto import tqdm

from augment.data.imageio import write_png

DEFECT_TYPES = ("scratch", "spot", "crack")
PRODUCT = "pill"


@dataclass(frozen=True)
class PillGeometry:
    """Where the pill lies: centre (x, y), semi-axes, rotation (radians)."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float

    def local(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates in the pill frame, scaled so the rim is at radius 1."""
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        dx, dy = xx - self.cx, yy - self.cy
        c, s = np.cos(self.angle), np.sin(self.angle)
        u = (dx * c + dy * s) / self.a
        v = (-dx * s + dy * c) / self.b
        return u, v

    def radius(self, size: int) -> np.ndarray:
        """Capsule 'radius': < 1 inside the pill (a rounded rectangle in the pill frame)."""
        u, v = self.local(size)
        flat = self.b / self.a
        uu = np.maximum(np.abs(u) - (1.0 - flat), 0.0) / flat
        return np.sqrt(uu**2 + v**2)

    def to_image(self, u: float, v: float) -> tuple[float, float]:
        c, s = np.cos(self.angle), np.sin(self.angle)
        x, y = u * self.a, v * self.b
        return self.cx + x * c - y * s, self.cy + x * s + y * c


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std smooth noise field."""
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)).astype(np.float32), sigma)
    return (field - field.mean()) / (field.std() + 1e-8)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Dark anodised tray: low-frequency mottling plus fine brushed grain."""
    base = np.array([46, 48, 54], dtype=np.float32) * rng.uniform(0.85, 1.15)
    mottle = _smooth_noise(rng, size, size / 10) * 5.0
    grain = ndimage.gaussian_filter1d(rng.standard_normal((size, size)).astype(np.float32), 6, axis=1) * 6.0
    return base[None, None, :] + (mottle + grain)[..., None]


def _sample_geometry(rng: np.random.Generator, size: int) -> PillGeometry:
    a = size * rng.uniform(0.33, 0.38)
    return PillGeometry(
        cx=size / 2 + rng.uniform(-0.05, 0.05) * size,
        cy=size / 2 + rng.uniform(-0.05, 0.05) * size,
        a=a,
        b=a * rng.uniform(0.45, 0.52),
        angle=rng.uniform(-0.5, 0.5),
    )


def _shade_pill(
    rng: np.random.Generator, geom: PillGeometry, size: int, canvas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Render the pill onto ``canvas``; return the image and the pill's alpha (soft foreground)."""
    r = geom.radius(size)
    alpha = np.clip((1.0 - r) * geom.b / 1.2, 0.0, 1.0)
    height = np.sqrt(np.clip(1.0 - r**2, 0.0, 1.0))
    gy, gx = np.gradient(height * geom.b)
    normal = np.stack([-gx, -gy, np.ones_like(gx)], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light_angle = rng.uniform(-2.6, -1.9)
    light = np.array([np.cos(light_angle) * 0.55, np.sin(light_angle) * 0.55, 0.83], dtype=np.float32)
    light /= np.linalg.norm(light)
    diffuse = np.clip(normal @ light, 0.0, 1.0)
    half = light + np.array([0, 0, 1], dtype=np.float32)
    half /= np.linalg.norm(half)
    specular = np.clip(normal @ half, 0.0, 1.0) ** 40
    albedo = np.array([222, 216, 200], dtype=np.float32) * rng.uniform(0.93, 1.03)
    albedo = albedo[None, None, :] * (1.0 + 0.025 * _smooth_noise(rng, size, 3)[..., None])
    shaded = albedo * (0.42 + 0.62 * diffuse[..., None]) + 150.0 * specular[..., None]
    u, v = geom.local(size)
    score = np.exp(-((u / (1.6 / geom.a)) ** 2)) * (np.abs(v) < 0.8) * 0.22
    shaded *= 1.0 - score[..., None]
    shadow_offset = (-np.sin(light_angle) * 5.0, -np.cos(light_angle) * 5.0)
    shadow = ndimage.shift(np.clip(1.0 - r, 0, 1) > 0, shadow_offset, order=0).astype(np.float32)
    shadow = ndimage.gaussian_filter(shadow, 6.0) * 0.55
    canvas = canvas * (1.0 - shadow[..., None])
    image = canvas * (1.0 - alpha[..., None]) + shaded * alpha[..., None]
    return image, alpha


def _speckles(rng: np.random.Generator, geom: PillGeometry, size: int, image: np.ndarray) -> np.ndarray:
    """Small red-brown speckles on the pill surface, as on real coated tablets."""
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(25, 60))):
        rad = np.sqrt(rng.uniform(0, 0.8))
        theta = rng.uniform(0, 2 * np.pi)
        x, y = geom.to_image(rad * np.cos(theta) * 0.9, rad * np.sin(theta))
        s = rng.uniform(0.6, 1.4)
        draw.ellipse([x - s, y - s, x + s, y + s], fill=int(rng.uniform(90, 200)))
    a = ndimage.gaussian_filter(np.asarray(layer, dtype=np.float32) / 255.0, 0.5)[..., None]
    colour = np.array([170, 70, 60], dtype=np.float32)
    return image * (1 - a) + colour * a


def _point_on_pill(rng: np.random.Generator, geom: PillGeometry, spread: float = 0.55) -> tuple[float, float]:
    rad = np.sqrt(rng.uniform(0, 1)) * spread
    theta = rng.uniform(0, 2 * np.pi)
    return geom.to_image(rad * np.cos(theta) * 1.4, rad * np.sin(theta))


def _draw_mask(size: int, draw_fn: Callable[[ImageDraw.ImageDraw], None]) -> np.ndarray:
    layer = Image.new("L", (size, size), 0)
    draw_fn(ImageDraw.Draw(layer))
    return np.asarray(layer, dtype=np.uint8) > 127


def _scratch(
    rng: np.random.Generator, geom: PillGeometry, size: int, image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x0, y0 = _point_on_pill(rng, geom)
    length = size * rng.uniform(0.12, 0.3)
    ang = rng.uniform(0, np.pi)
    bend = rng.uniform(-0.25, 0.25) * length
    t = np.linspace(0, 1, 40)
    px = x0 + (t - 0.5) * length * np.cos(ang) - np.sin(ang) * bend * 4 * t * (1 - t)
    py = y0 + (t - 0.5) * length * np.sin(ang) + np.cos(ang) * bend * 4 * t * (1 - t)
    width = max(2, round(size * rng.uniform(0.007, 0.014)))
    pts = list(zip(px.tolist(), py.tolist(), strict=True))
    mask = _draw_mask(size, lambda d: d.line(pts, fill=255, width=width, joint="curve"))
    core = ndimage.gaussian_filter(mask.astype(np.float32), 0.7)
    rim = ndimage.gaussian_filter(ndimage.binary_dilation(mask, iterations=1).astype(np.float32), 1.0) - core
    groove = np.array([120, 118, 112], dtype=np.float32)
    image = image * (1 - 0.8 * core[..., None]) + groove * 0.8 * core[..., None]
    image = image + 35.0 * np.clip(rim, 0, 1)[..., None]
    return image, mask


def _spot(
    rng: np.random.Generator, geom: PillGeometry, size: int, image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x0, y0 = _point_on_pill(rng, geom)
    radius = size * rng.uniform(0.025, 0.06)
    n = 14
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.6, 1.2, n)
    pts = [
        (x0 + r * np.cos(t), y0 + r * np.sin(t) * rng.uniform(0.7, 1.0))
        for r, t in zip(radii.tolist(), angles.tolist(), strict=True)
    ]
    mask = _draw_mask(size, lambda d: d.polygon(pts, fill=255))
    mask = ndimage.binary_closing(ndimage.binary_opening(mask, iterations=1), iterations=2)
    alpha = ndimage.gaussian_filter(mask.astype(np.float32), 1.0) * rng.uniform(0.75, 0.95)
    tone = 1.0 + 0.15 * _smooth_noise(rng, size, 2)[..., None]
    colour = np.array([150, 85, 40], dtype=np.float32) * rng.uniform(0.8, 1.1) * tone
    shaded = colour * (image.mean(axis=-1, keepdims=True) / 200.0)
    return image * (1 - alpha[..., None]) + shaded * alpha[..., None], mask


def _crack(
    rng: np.random.Generator, geom: PillGeometry, size: int, image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x, y = _point_on_pill(rng, geom, spread=0.4)
    heading = rng.uniform(0, 2 * np.pi)
    step = size * 0.012
    branches = [[(x, y)]]
    for _ in range(int(rng.integers(18, 34))):
        heading += rng.normal(0, 0.5)
        x, y = x + step * np.cos(heading), y + step * np.sin(heading)
        branches[0].append((x, y))
        if rng.uniform() < 0.08:
            bx, by, bh = x, y, heading + rng.choice([-1, 1]) * rng.uniform(0.6, 1.2)
            branch = [(bx, by)]
            for _ in range(int(rng.integers(3, 8))):
                bh += rng.normal(0, 0.4)
                bx, by = bx + step * np.cos(bh), by + step * np.sin(bh)
                branch.append((bx, by))
            branches.append(branch)
    width = max(2, round(size * 0.008))

    def draw(d: ImageDraw.ImageDraw) -> None:
        for b in branches:
            d.line(b, fill=255, width=width, joint="curve")

    mask = _draw_mask(size, draw)
    alpha = ndimage.gaussian_filter(mask.astype(np.float32), 0.6)
    dark = np.array([55, 45, 40], dtype=np.float32)
    return image * (1 - 0.9 * alpha[..., None]) + dark * 0.9 * alpha[..., None], mask


DEFECT_PAINTERS = {"scratch": _scratch, "spot": _spot, "crack": _crack}


def render_pill(seed: int, size: int = 256, defect: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One inspection image (HWC uint8) and its defect mask (HW uint8 {0,1}; zeros if no defect)."""
    if defect is not None and defect not in DEFECT_PAINTERS:
        raise ValueError(f"defect must be one of {sorted(DEFECT_PAINTERS)} or None, got {defect!r}.")
    rng = np.random.default_rng(seed)
    geom = _sample_geometry(rng, size)
    image, alpha = _shade_pill(rng, geom, size, _background(rng, size))
    image = _speckles(rng, geom, size, image)
    mask = np.zeros((size, size), dtype=bool)
    if defect is not None:
        inside = ndimage.binary_erosion(alpha > 0.99, iterations=max(1, size // 64))
        for _ in range(100):
            painted, drawn = DEFECT_PAINTERS[defect](rng, geom, size, image)
            halo = ndimage.binary_dilation(drawn, iterations=max(1, size // 96))
            if drawn.sum() >= 12 and not (halo & ~inside).any():
                image, mask = painted, drawn
                break
        else:
            raise RuntimeError(f"could not place a {defect} on pill seed {seed}; try another seed.")
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    image *= (1.0 - 0.35 * (xx**2 + yy**2))[..., None] * rng.uniform(0.9, 1.1)
    image = ndimage.gaussian_filter(image, sigma=(0.6, 0.6, 0))
    image += rng.normal(0, 2.0, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), mask.astype(np.uint8)


def make_demo_dataset(
    out: str | Path,
    n_good_train: int = 200,
    n_good_test: int = 60,
    n_per_defect: int = 9,
    size: int = 256,
    seed: int = 0,
    defects: tuple[str, ...] = DEFECT_TYPES,
    progress: bool = True,
) -> Path:
    """Write the pill dataset in the MVTec layout under ``out/pill`` and return that folder.

    Re-running with the same arguments rewrites identical files; every image has its own seed
    derived from ``seed``, so subsets are stable when counts change.
    """
    for name, value in {
        "n_good_train": n_good_train,
        "n_good_test": n_good_test,
        "n_per_defect": n_per_defect,
    }.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")
    if size < 64:
        raise ValueError(f"size must be at least 64 px for the pill to be recognisable, got {size}.")
    root = Path(out) / PRODUCT
    jobs: list[tuple[Path, Path | None, int, str | None]] = []
    for i in range(n_good_train):
        jobs.append((root / "train" / "good" / f"{i:03d}.png", None, seed * 100_003 + i, None))
    for i in range(n_good_test):
        jobs.append((root / "test" / "good" / f"{i:03d}.png", None, seed * 100_003 + 50_000 + i, None))
    for k, defect in enumerate(defects):
        for i in range(n_per_defect):
            jobs.append(
                (
                    root / "test" / defect / f"{i:03d}.png",
                    root / "ground_truth" / defect / f"{i:03d}_mask.png",
                    seed * 100_003 + 10_000 * (k + 1) + i,
                    defect,
                )
            )
    for image_path, mask_path, item_seed, defect in tqdm(jobs, desc="demo dataset", disable=not progress):
        image, mask = render_pill(item_seed, size=size, defect=defect)
        write_png(image_path, image)
        if mask_path is not None:
            write_png(mask_path, mask)
    return root

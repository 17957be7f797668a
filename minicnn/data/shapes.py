"""A synthetic shapes dataset with a ground-truth mask for every image.

Each image holds one bright, filled shape -- a circle, a square, a triangle or a
cross -- at a random position, size, rotation and brightness, drawn over a
cluttered background: a random gray level, faint blobs, faint line segments and
Gaussian pixel noise. The mask marks exactly the shape's pixels, so an
attribution map can be scored by how much of its mass falls on the object.

Position, scale and rotation vary, so no fixed pixel pattern marks a class: a
linear model on raw pixels does poorly, a small CNN does well.
"""

from __future__ import annotations

import numpy as np

SHAPES_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "cross")

_CHUNK = 1024  # images rendered at once; bounds memory, not the result


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


MAX_BYTES = 4 * 2**30   # the images of one call; minicnn.data needs nothing else of minicnn


def _check_args(n, size, seed, noise, clutter, scale) -> None:
    """Raise a ValueError/TypeError naming the first bad argument."""
    for name, value in (("n", n), ("size", size), ("clutter", clutter)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int. Received: {name}={value!r}")
    if n <= 0:
        raise ValueError(f"n must be a positive number of images. Received: n={n}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels. Received: size={size}")
    if n * size * size * 4 > MAX_BYTES:
        raise ValueError(f"make_shapes: the images would take {n * size * size * 4 / 2**30:,.0f} "
                         f"GiB, more than the limit of {MAX_BYTES // 2**30} GiB. "
                         f"Received: n={n}, size={size}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"make_shapes: seed must be an int >= 0. Received: seed={seed!r}")
    if seed < 0:
        raise ValueError(f"make_shapes: seed must be an int >= 0. Received: seed={seed!r}")
    if not _is_number(noise):
        raise TypeError(f"noise must be a number (a standard deviation). "
                        f"Received: noise={noise!r}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite standard deviation >= 0. Received: noise={noise}")
    if clutter < 0:
        raise ValueError(f"clutter must be >= 0. Received: clutter={clutter}")
    if not isinstance(scale, (tuple, list)) or len(scale) != 2 \
            or not all(map(_is_number, scale)):
        raise TypeError(f"scale must be a pair of numbers (low, high). Received: scale={scale!r}")
    if not 0.1 <= scale[0] <= scale[1] <= 0.4:
        raise ValueError(
            "scale must be (low, high) with 0.1 <= low <= high <= 0.4 "
            f"(shape radius as a fraction of size). Received: scale={scale}"
        )


# Every shape has the area of the equilateral triangle inscribed in the unit
# circle, so the classes differ in form, not in size (no "count the pixels" shortcut).
UNIT_AREA = 3 * np.sqrt(3) / 4  # ~1.299, in units of radius**2


def _shape_masks(label, u, v) -> np.ndarray:
    """Masks of the four shapes in rotated, scaled coordinates.

    ``u, v`` are (n, size, size) pixel coordinates relative to each shape's centre,
    rotated and divided by its radius; every shape fits in the unit disc and has
    area ``UNIT_AREA``. ``label`` is (n, 1, 1). Returns a bool (n, size, size) mask.
    """
    circle = u**2 + v**2 <= UNIT_AREA / np.pi  # radius 0.64
    square = np.maximum(np.abs(u), np.abs(v)) <= np.sqrt(UNIT_AREA) / 2  # half-side 0.57
    s3 = np.sqrt(3.0)  # triangle: three half-planes, corners on the unit circle
    triangle = (v >= -0.5) & (s3 * u - v >= -1.0) & (-s3 * u - v >= -1.0)
    arm = 0.25  # cross: two bars of half-width arm and half-length (area = 8*arm*half - 4*arm**2)
    half = (UNIT_AREA + 4 * arm**2) / (8 * arm)  # 0.77
    au, av = np.abs(u), np.abs(v)
    cross = ((au <= arm) & (av <= half)) | ((av <= arm) & (au <= half))
    return np.select([label == 0, label == 1, label == 2], [circle, square, triangle], cross)


def _segment_distance2(yy, xx, y0, x0, y1, x1) -> np.ndarray:
    """Squared distance from each pixel to a line segment; endpoints are (n, 1, 1)."""
    dy, dx = y1 - y0, x1 - x0
    t = ((yy - y0) * dy + (xx - x0) * dx) / (dy**2 + dx**2 + 1e-6)
    t = np.clip(t, 0.0, 1.0)
    return (yy - y0 - t * dy) ** 2 + (xx - x0 - t * dx) ** 2


def _render(label, p: dict, yy, xx, rng, noise: float, clutter: int):
    """Render one chunk of ``n`` images: float32 (n, size, size) and bool masks.

    ``label`` is (n,); ``p`` maps each drawn parameter to an (n,) or (n, clutter)
    array; ``yy, xx`` are (1, size, size) pixel coordinates.
    """
    n = len(label)
    background = np.zeros((n,) + yy.shape[1:], np.float32) + p["level"][:, None, None]

    for k in range(clutter):  # faint blobs and faint line segments
        by, bx, bs, ba = (p[f"blob_{key}"][:, k, None, None] for key in "yxsa")
        background += ba * np.exp(-((yy - by) ** 2 + (xx - bx) ** 2) / (2 * bs**2))
        keys = ("y0", "x0", "y1", "x1", "a")
        y0, x0, y1, x1, la = (p[f"line_{key}"][:, k, None, None] for key in keys)
        background += la * (_segment_distance2(yy, xx, y0, x0, y1, x1) <= 0.5)

    cy, cx, r, theta = (p[key][:, None, None] for key in ("cy", "cx", "radius", "theta"))
    cos, sin = np.cos(theta), np.sin(theta)
    u = (cos * (xx - cx) + sin * (yy - cy)) / r
    v = (-sin * (xx - cx) + cos * (yy - cy)) / r
    masks = _shape_masks(label[:, None, None], u, v)

    images = np.where(masks, p["level"][:, None, None] + p["contrast"][:, None, None], background)
    if noise > 0:
        images = images + rng.normal(0.0, noise, size=images.shape).astype(np.float32)
    return np.clip(images, 0.0, 1.0), masks


def make_shapes(
    n: int,
    size: int = 32,
    seed: int = 0,
    noise: float = 0.05,
    clutter: int = 3,
    scale: tuple[float, float] = (0.25, 0.4),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate the synthetic shapes dataset.

    Parameters
    ----------
    n : int
        Number of images (> 0). Classes are balanced: their counts differ by at
        most one, in a shuffled order.
    size : int, default 32
        Image height and width in pixels (>= 16).
    seed : int >= 0, default 0
        Seed for ``np.random.default_rng``; the same arguments give the same arrays.
    noise : float, default 0.05
        Standard deviation of the Gaussian pixel noise (0 for none).
    clutter : int, default 3
        Number of faint blobs and of faint line segments per image (0 for a
        flat background).
    scale : (float, float), default (0.25, 0.4)
        Range of the shape's radius as a fraction of ``size``.

    Returns
    -------
    X : np.ndarray, float32, shape (n, 1, size, size)
        Images in [0, 1]. The shape is 0.3 to 0.6 brighter than the image's
        background level; each blob and line shifts that level by at most 0.15.
    y : np.ndarray, int64, shape (n,)
        Class index; names in ``SHAPES_CLASSES``.
    masks : np.ndarray, bool, shape (n, size, size)
        True on the shape's pixels. Every shape lies fully inside its image.
    """
    _check_args(n, size, seed, noise, clutter, scale)
    rng = np.random.default_rng(seed)

    # Draw every parameter up front; rendering then only adds the pixel noise.
    radius = rng.uniform(scale[0], scale[1], n) * size
    margin = radius + 1.0
    label = rng.permutation(np.arange(n) % len(SHAPES_CLASSES)).astype(np.int64)
    p = {
        "radius": radius,
        "cy": rng.uniform(margin, size - 1 - margin),
        "cx": rng.uniform(margin, size - 1 - margin),
        "theta": rng.uniform(0.0, 2 * np.pi, n),
        "level": rng.uniform(0.05, 0.35, n),
        "contrast": rng.uniform(0.3, 0.6, n),
        "blob_y": rng.uniform(0, size, (n, clutter)),
        "blob_x": rng.uniform(0, size, (n, clutter)),
        "blob_s": rng.uniform(0.05, 0.2, (n, clutter)) * size,
        "blob_a": rng.uniform(-0.15, 0.15, (n, clutter)),
        "line_y0": rng.uniform(0, size, (n, clutter)),
        "line_x0": rng.uniform(0, size, (n, clutter)),
        "line_y1": rng.uniform(0, size, (n, clutter)),
        "line_x1": rng.uniform(0, size, (n, clutter)),
        "line_a": rng.uniform(-0.15, 0.15, (n, clutter)),
    }

    p = {key: value.astype(np.float32) for key, value in p.items()}  # render in float32
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)[:, None]
    X = np.empty((n, 1, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=bool)
    for start in range(0, n, _CHUNK):
        part = slice(start, start + _CHUNK)
        chunk = {key: value[part] for key, value in p.items()}
        X[part, 0], masks[part] = _render(label[part], chunk, yy, xx, rng, noise, clutter)
    return X, label, masks

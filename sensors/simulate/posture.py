"""A person in a room seen by a low-res thermal array and a depth sensor, co-registered.

Scene model: both sensors share one viewpoint and field of view (a wall-mounted unit looking
across the room), so one high-resolution scene (``SCENE_PX`` square, rows = up->down,
columns = left->right) is rendered and then sampled down to each sensor's grid.

- The body is an elliptical blob whose extent depends on posture: standing is narrow and
  tall, sitting is about as wide as tall and lower, lying is wide and flat near the floor;
  ``empty`` has no body.
- The room has furniture that fools one sensor and not the other, so that neither sensor
  alone tells every posture apart:
  - a **bed** against the back wall, low and wide like a lying body. In half the scenes it is
    warm (27-31 degC: just slept in, or an electric blanket), and an 8x8 thermopile then sees
    a lying-person-sized warm patch near the floor; the depth sensor sees it at the wall's
    distance, behind where people stand, sit or lie (1.5-2.8 m).
  - an **armchair**, in half the scenes: in the room like a person (1.5-2.8 m), shaped like
    a seated body; at room temperature, so the thermal array does not see it, while the
    depth sensor cannot tell it from a sitting person.
- **Thermal** (default 8x8, degC): background 20-24 degC with a small vertical gradient (warm
  air rises), skin/clothing 30-34 degC; each pixel is the *area mean* of the scene in its field
  of view (a thermopile integrates its cone, so a small body is diluted), plus Gaussian noise
  0.15 degC.
- **Depth** (default 16x16, metres): back wall 3.2-3.8 m, floor rows nearer towards the bottom,
  body at 1.5-2.8 m; each pixel samples the scene at its centre, with ~1 % multiplicative
  noise and holes (0 m = no return) at ~3 % random pixels and at body edges (mixed returns).
"""
from __future__ import annotations

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.simulate.signals import area_mean, seeded
from tinyfuse.sensors.sources.base import LoadResult, Sample

CLASSES = ("standing", "sitting", "lying", "empty")
SCENE_PX = 64
# (half-width, half-height) of the body ellipse as fractions of the scene, per posture.
_BODY_HALF_SIZE = {"standing": (0.09, 0.33), "sitting": (0.15, 0.17), "lying": (0.34, 0.09)}
# Centre row of the body: standing spans most of the height, lying sits near the floor.
_BODY_ROW = {"standing": (0.5, 0.6), "sitting": (0.6, 0.7), "lying": (0.75, 0.85)}


def body_mask(rng: np.random.Generator, posture: str, *, size_px: int = SCENE_PX) -> np.ndarray:
    """Boolean ``(size_px, size_px)`` mask of the body (all False for ``"empty"``)."""
    if posture == "empty":
        return np.zeros((size_px, size_px), dtype=bool)
    half_w, half_h = (s * rng.uniform(0.9, 1.1) for s in _BODY_HALF_SIZE[posture])
    center_row = rng.uniform(*_BODY_ROW[posture])
    center_col = rng.uniform(half_w + 0.02, 1 - half_w - 0.02)
    coords = (np.arange(size_px) + 0.5) / size_px
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    return ((cols - center_col) / half_w) ** 2 + ((rows - center_row) / half_h) ** 2 <= 1.0


def furniture(rng: np.random.Generator, *, size_px: int = SCENE_PX) -> dict[str, np.ndarray]:
    """Masks of the room's furniture: ``"bed"`` (always; low and wide, against the back wall)
    and ``"armchair"`` (in half the rooms; shaped like a seated body)."""
    coords = (np.arange(size_px) + 0.5) / size_px
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    half_w, half_h = rng.uniform(0.28, 0.36), rng.uniform(0.07, 0.1)
    center = rng.uniform(half_w + 0.02, 1 - half_w - 0.02)
    out = {"bed": ((cols - center) / half_w) ** 2 + ((rows - 0.8) / half_h) ** 2 <= 1.0}
    if rng.random() < 0.5:
        chair_w, chair_h = rng.uniform(0.13, 0.17), rng.uniform(0.15, 0.19)
        chair_col = rng.uniform(chair_w + 0.02, 1 - chair_w - 0.02)
        out["armchair"] = (((cols - chair_col) / chair_w) ** 2
                           + ((rows - rng.uniform(0.6, 0.7)) / chair_h) ** 2 <= 1.0)
    return out


def render_thermal(rng: np.random.Generator, mask: np.ndarray, *, shape: tuple[int, int],
                   background_c: float, body_c: float, noise_c: float = 0.15,
                   warm: np.ndarray | None = None, warm_c: float = 0.0) -> np.ndarray:
    """Area-mean thermal image ``shape`` (degC, float32) of ``mask`` over the background, with
    the ``warm`` region (a warm bed) at ``warm_c`` behind the body."""
    size = mask.shape[0]
    gradient_c = np.linspace(0.6, -0.3, size)[:, None]  # warmer near the ceiling
    scene_c = np.broadcast_to(background_c + gradient_c, mask.shape).copy()
    if warm is not None:
        scene_c[warm] = warm_c
    scene_c[mask] = body_c
    image = area_mean(scene_c, shape)
    return (image + noise_c * rng.standard_normal(shape)).astype(np.float32)


def render_depth(rng: np.random.Generator, mask: np.ndarray, *, shape: tuple[int, int],
                 wall_m: float, body_m: float, hole_fraction: float = 0.03,
                 objects: tuple[tuple[np.ndarray, float], ...] = ()) -> np.ndarray:
    """Centre-sampled depth image ``shape`` (metres, float32; 0 = hole) of the same scene,
    with ``objects`` (mask, distance) drawn behind the body."""
    size = mask.shape[0]
    rows = np.linspace(0.0, 1.0, size)[:, None]
    floor_m = np.where(rows > 0.7, wall_m - (rows - 0.7) / 0.3 * (wall_m - 1.2), wall_m)
    scene_m = np.broadcast_to(floor_m, mask.shape).copy()
    for region, distance_m in objects:
        scene_m[region] = distance_m
    scene_m[mask] = body_m
    row_idx = ((np.arange(shape[0]) + 0.5) * size / shape[0]).astype(int)
    col_idx = ((np.arange(shape[1]) + 0.5) * size / shape[1]).astype(int)
    image = scene_m[np.ix_(row_idx, col_idx)] * (1 + 0.01 * rng.standard_normal(shape))
    edges = area_mean(mask.astype(np.float64), shape)
    holes = rng.random(shape) < hole_fraction
    holes |= (edges > 0.2) & (edges < 0.8) & (rng.random(shape) < 0.5)
    image[holes] = 0.0
    return image.astype(np.float32)


def simulate_posture(*, n_per_class: int = 20, n_people: int = 6, seed: int = 0,
                     thermal_shape: tuple[int, int] = (8, 8),
                     depth_shape: tuple[int, int] = (16, 16)) -> LoadResult:
    """Co-registered thermal + depth frames of ``n_people`` people in four postures.

    Returns
    -------
    LoadResult
        ``4 * n_per_class`` samples ``{"thermal": float32 thermal_shape (degC),
        "depth": float32 depth_shape (m)}``; labels in ``CLASSES``; group ``person_XX`` (the
        empty room is attributed to the person whose session it was).
    """
    if n_per_class < 1 or n_people < 1:
        raise DataError("simulate_posture: n_per_class and n_people must be >= 1")
    if min(thermal_shape) < 2 or min(depth_shape) < 2 or max(*thermal_shape, *depth_shape) > 64:
        raise DataError("simulate_posture: image shapes must be within [2, 64]")
    samples = []
    for class_index, label in enumerate(CLASSES):
        for i in range(n_per_class):
            person = i % n_people
            traits = seeded(seed, 1000, person)
            body_c, body_m = traits.uniform(30.0, 34.0), traits.uniform(1.5, 2.8)
            rng = seeded(seed, class_index, i)
            mask = body_mask(rng, label)
            room = furniture(rng)
            background_c, wall_m = rng.uniform(20.0, 24.0), rng.uniform(3.2, 3.8)
            warm_bed = rng.random() < 0.5
            thermal = render_thermal(
                rng, mask, shape=thermal_shape, background_c=background_c, body_c=body_c,
                warm=room["bed"], warm_c=rng.uniform(27.0, 31.0) if warm_bed
                else background_c + 0.3)
            objects = [(room["bed"], wall_m - rng.uniform(0.1, 0.4))]
            if "armchair" in room:
                objects.append((room["armchair"], rng.uniform(1.5, 2.8)))
            depth = render_depth(rng, mask, shape=depth_shape, wall_m=wall_m, body_m=body_m,
                                 objects=tuple(objects))
            samples.append(Sample(data={"thermal": thermal, "depth": depth}, label=label,
                                  group=f"person_{person:02d}", key=f"{label}/{i:04d}",
                                  source=f"simulated:posture/{label}/{i:04d}",
                                  meta=(("seed", seed), ("body_c", float(body_c)),
                                        ("body_m", float(body_m)), ("warm_bed", warm_bed),
                                        ("armchair", "armchair" in room))))
    return LoadResult(samples=tuple(samples), name="simulated:posture")

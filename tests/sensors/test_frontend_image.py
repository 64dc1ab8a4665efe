"""Thermal / depth image front-end: grids, normalisation, background, holes."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.frontends import image
from tinyfuse.sensors.spec import ImageSpec


def test_shrinking_32x24_to_8x8_takes_block_means(rng):
    frame = rng.random((24, 32))
    out = image.to_grid(frame, height=8, width=8)
    expected = frame.reshape(8, 3, 8, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_enlarging_4x4_is_bilinear_and_keeps_the_range(rng):
    frame = rng.random((4, 4))
    out = image.to_grid(frame, height=8, width=8)
    assert out.shape == (8, 8)
    assert frame.min() - 1e-12 <= out.min() and out.max() <= frame.max() + 1e-12
    constant = image.to_grid(np.full((4, 4), 7.0), height=32, width=24)
    np.testing.assert_allclose(constant, 7.0)


def test_mixed_axes_and_identity(rng):
    frame = rng.random((24, 32))
    assert image.to_grid(frame, height=48, width=8).shape == (48, 8)
    np.testing.assert_array_equal(image.to_grid(frame, height=24, width=32), frame)


def test_to_grid_rejects_bad_frames():
    with pytest.raises(DataError, match="to_grid"):
        image.to_grid(np.zeros(16), height=4, width=4)
    with pytest.raises(DataError, match="to_grid"):
        image.to_grid(np.zeros((0, 4)), height=4, width=4)


def test_normalize_fixed_and_minmax():
    frame = np.array([[10.0, 15.0], [27.5, 50.0]])
    np.testing.assert_allclose(image.normalize_fixed(frame, min_value=15.0, max_value=40.0),
                               [[0.0, 0.0], [0.5, 1.0]])
    np.testing.assert_allclose(image.normalize_minmax(frame),
                               (frame - 10.0) / 40.0)
    np.testing.assert_array_equal(image.normalize_minmax(np.full((3, 3), 5.0)), 0.0)
    with pytest.raises(DataError, match="normalize_fixed"):
        image.normalize_fixed(frame, min_value=1.0, max_value=1.0)


def test_background_model_is_an_exponential_average():
    model = image.BackgroundModel(alpha=0.5)
    np.testing.assert_array_equal(model.update(np.zeros((2, 2))), 0.0)
    np.testing.assert_array_equal(model.update(np.full((2, 2), 4.0)), 2.0)
    mask = np.array([[True, False], [False, False]])
    np.testing.assert_array_equal(model.update(np.full((2, 2), 6.0), mask=mask),
                                  [[4.0, 2.0], [2.0, 2.0]])
    with pytest.raises(DataError, match="alpha"):
        image.BackgroundModel(alpha=0.0)
    with pytest.raises(DataError, match="shape"):
        model.update(np.zeros((3, 3)))


def test_subtract_background():
    frame = np.full((4, 4), 25.0)
    np.testing.assert_array_equal(
        image.subtract_background(frame, background=np.full((4, 4), 21.0)), 4.0)
    np.testing.assert_array_equal(image.subtract_background(frame, background=20.0), 5.0)
    with pytest.raises(DataError, match="background shape"):
        image.subtract_background(frame, background=np.zeros((2, 2)))


def test_fill_holes_takes_the_nearest_valid_pixel():
    depth = np.array([[1.0, 0.0, 0.0, 3.0],
                      [1.0, 1.0, 3.0, 3.0]])
    filled = image.fill_holes(depth)
    np.testing.assert_array_equal(filled, [[1.0, 1.0, 3.0, 3.0], [1.0, 1.0, 3.0, 3.0]])
    np.testing.assert_array_equal(image.fill_holes(np.zeros((3, 3))), 0.0)
    np.testing.assert_array_equal(image.fill_holes(depth, invalid=-1.0), depth)


def test_clip_range():
    np.testing.assert_array_equal(
        image.clip_range(np.array([[0.1, 2.0, 9.0]]), min_m=0.5, max_m=4.0), [[0.5, 2.0, 4.0]])


def test_process_image_thermal_background_from_median():
    spec = ImageSpec(height=4, width=4, min_value=0.0, max_value=10.0,
                     subtract_background=True)
    frame = np.full((24, 32), 22.0)
    frame[:6, :8] = 32.0  # top-left cell of the 4x4 grid is 10 degC above background
    out = image.process_image(frame, spec=spec)
    assert out.dtype == np.float32
    assert out[0, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(out.ravel()[1:], 0.0)


def test_process_image_depth_fills_holes_before_resizing():
    spec = ImageSpec(sensor="depth", height=2, width=2, min_value=0.0, max_value=4.0,
                     fill_holes=True)
    depth = np.full((4, 4), 2.0)
    depth[0, 0] = 0.0
    np.testing.assert_allclose(image.process_image(depth, spec=spec), 0.5)
    unfilled = ImageSpec(sensor="depth", height=2, width=2, min_value=0.0, max_value=4.0)
    assert image.process_image(depth, spec=unfilled)[0, 0] == pytest.approx(0.375)

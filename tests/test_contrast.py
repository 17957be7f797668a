"""explain.contrast: the "grey vs sharp" numbers, on maps small enough to check by hand."""

import math

import numpy as np
import pytest

from minicnn.explain.contrast import contrast


def test_one_bright_pixel_is_as_sharp_as_can_be():
    m = np.zeros((4, 5))
    m[1, 2] = -3.0                     # the sign does not matter: |map| is measured
    c = contrast(m, top_percent=5)     # 5 % of 20 pixels = 1 pixel
    assert c.pixels == 20
    assert c.near_zero == 19 / 20      # every pixel but the peak is below 0.1 * 3
    assert c.top_mass == 1.0           # the one top pixel carries everything
    assert math.isnan(c.on_object)     # no mask given


def test_uniform_map_is_grey():
    c = contrast(np.full((10, 10), 0.5), near_zero_fraction=0.1, top_percent=10)
    assert c.near_zero == 0.0          # no pixel below 0.05
    assert c.top_mass == pytest.approx(0.10)   # 10 of 100 equal pixels carry 10 %


def test_hand_computed_values():
    # |map| = [[4, 2], [1, 1]], total 8, max 4.
    m = np.array([[4.0, -2.0], [1.0, -1.0]])
    c = contrast(m, near_zero_fraction=0.3, top_percent=50)
    assert c.near_zero == 0.5          # 1 and 1 are below 0.3 * 4 = 1.2
    assert c.top_mass == 6 / 8         # the top 2 pixels: 4 + 2
    mask = np.array([[False, True], [True, False]])
    assert contrast(m, mask=mask).on_object == 3 / 8     # 2 + 1 of 8


def test_channels_are_summed_and_region_restricts():
    m = np.zeros((2, 3, 3))
    m[0, 0, 0], m[1, 0, 0], m[1, 2, 2] = 1.0, -1.0, 2.0   # |map| summed: 2 at (0,0), 2 at (2,2)
    region = np.zeros((3, 3), dtype=bool)
    region[:2, :2] = True              # (0,0), (0,1), (1,0), (1,1): only one non-zero
    c = contrast(m, region=region, top_percent=25)
    assert c.pixels == 4
    assert c.near_zero == 3 / 4
    assert c.top_mass == 1.0
    mask = np.zeros((3, 3), dtype=bool)
    mask[2, 2] = True                  # outside the region: no mass of the region on it
    assert contrast(m, mask=mask, region=region).on_object == 0.0
    assert contrast(m, mask=mask).on_object == 0.5


def test_top_percent_rounds_up_to_whole_pixels():
    a = np.array([[5.0, 4.0, 1.0]])    # total 10; 50 % of 3 pixels -> 2 pixels
    assert contrast(a, top_percent=50).top_mass == 9 / 10
    assert contrast(a, top_percent=1).top_mass == 5 / 10   # at least one pixel


def test_all_zero_map_is_all_near_zero_with_no_mass():
    c = contrast(np.zeros((3, 3)), mask=np.ones((3, 3), dtype=bool))
    assert c.near_zero == 1.0
    assert math.isnan(c.top_mass) and math.isnan(c.on_object)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"map": np.zeros((1, 1, 2, 2))}, ValueError, "(H, W) or (C, H, W)"),
    ({"map": np.array([["a"]])}, TypeError, "map must be an array of numbers"),
    ({"map": np.array([[np.nan]])}, ValueError, "finite"),
    ({"mask": np.ones((2, 2))}, TypeError, "mask must be a bool array"),
    ({"mask": np.ones((3, 3), dtype=bool)}, ValueError, "mask must have the map's shape"),
    ({"region": np.zeros((2, 2), dtype=bool)}, ValueError, "at least one pixel"),
    ({"near_zero_fraction": 0}, ValueError, "near_zero_fraction must be a number in (0, 1]"),
    ({"top_percent": 150}, ValueError, "top_percent must be a number in (0, 100]"),
    ({"top_percent": True}, ValueError, "top_percent"),
])
def test_bad_input_is_named(kwargs, error, words):
    args = {"map": np.ones((2, 2))} | kwargs
    with pytest.raises(error, match=None) as info:
        contrast(**args)
    assert words in str(info.value)

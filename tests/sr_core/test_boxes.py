"""FPM -> boxes and outlines: exact coordinates, selection rules, validation, upsampling."""

import cv2
import numpy as np
import pytest

from sr_core import boxes as boxes_module
from sr_core.boxes import (
    contour,
    fpm_to_boxes,
    sweep_boxes,
    sweep_boxes_by_mode,
    threshold_regions,
    upsample_fpm,
)


def blank(height: int = 64, width: int = 80) -> np.ndarray:
    return np.zeros((height, width), np.float32)


def two_blobs() -> np.ndarray:
    fpm = blank()
    fpm[5:15, 10:30] = 0.9  # 200 px
    fpm[40:48, 50:58] = 0.7  # 64 px
    return fpm


def test_empty_mask_gives_no_box():
    assert fpm_to_boxes(blank(), 0.5) == []
    assert fpm_to_boxes(two_blobs(), 0.95, mode="all") == []
    regions = threshold_regions(blank(), 0.5)
    assert regions.boxes == [] and regions.contours == [] and regions.areas == []
    assert regions.mask.shape == (64, 80) and not regions.mask.any()


def test_drawn_rectangle_gives_exact_exclusive_box():
    fpm = blank()
    fpm[7:20, 3:41] = 1.0  # rows 7..19, columns 3..40
    assert fpm_to_boxes(fpm, 0.5) == [(3, 7, 41, 20)]
    x0, y0, x1, y1 = fpm_to_boxes(fpm, 0.5)[0]
    assert (x1 - x0, y1 - y0) == (38, 13)  # width and height, no +1


def test_largest_keeps_biggest_component_and_all_sorts_by_area():
    fpm = two_blobs()
    assert fpm_to_boxes(fpm, 0.5) == [(10, 5, 30, 15)]
    assert fpm_to_boxes(fpm, 0.5, mode="all") == [(10, 5, 30, 15), (50, 40, 58, 48)]
    assert threshold_regions(fpm, 0.5, mode="all").areas == [200, 64]
    # raising the threshold above the bigger blob's value leaves only the smaller one
    assert fpm_to_boxes(two_blobs(), 0.8) == [(10, 5, 30, 15)]
    assert fpm_to_boxes(two_blobs(), 0.6, mode="all", min_area=100) == [(10, 5, 30, 15)]


def test_threshold_is_inclusive_at_the_boundary():
    fpm = blank()
    fpm[10:20, 10:20] = 0.5
    assert fpm_to_boxes(fpm, 0.5) == [(10, 10, 20, 20)]
    assert fpm_to_boxes(fpm, np.nextafter(np.float32(0.5), np.float32(1))) == []


def test_diagonal_neighbours_are_one_component():
    fpm = blank(10, 10)
    fpm[2, 2] = fpm[3, 3] = fpm[4, 4] = 1.0
    assert fpm_to_boxes(fpm, 0.5, mode="all") == [(2, 2, 5, 5)]


def test_ring_with_island_counts_pixels_exactly():
    fpm = blank(60, 60)
    fpm[5:55, 5:55] = 1.0
    fpm[10:50, 10:50] = 0.0  # ring: 2500 - 1600 = 900 px
    fpm[20:40, 20:40] = 1.0  # island in the hole: 400 px
    regions = threshold_regions(fpm, 0.5, mode="all")
    assert regions.boxes == [(5, 5, 55, 55), (20, 20, 40, 40)]
    assert regions.areas == [900, 400]
    fpm[10:50, 10:50] = 0.0
    fpm[15:45, 15:45] = 1.0  # island of 900 px: a tie, broken by raster order (ring first)
    tie = threshold_regions(fpm, 0.5, mode="all")
    assert tie.areas == [900, 900]
    assert tie.boxes == [(5, 5, 55, 55), (15, 15, 45, 45)]


@pytest.mark.parametrize("contour_limit", [10**9, 0])  # contour path, labelling path
def test_components_match_opencv_labelling(monkeypatch, contour_limit):
    monkeypatch.setattr(boxes_module, "_MAX_COMPONENTS_FOR_CONTOUR_AREAS", contour_limit)
    rng = np.random.default_rng(7)
    for trial in range(150):
        height, width = (int(v) for v in rng.integers(1, 40, 2))
        if trial % 2:
            fpm = rng.random((height, width)).astype(np.float32)
        else:
            small = rng.random((int(rng.integers(1, 6)), int(rng.integers(1, 6)))).astype(np.float32)
            fpm = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        threshold = float(rng.random())
        mask = (fpm >= threshold).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        first_pixel = {}
        for index in np.flatnonzero(labels.ravel()):
            first_pixel.setdefault(labels.ravel()[index], index)
        order = sorted(range(1, count), key=lambda label: (-stats[label, 4], first_pixel[label]))
        expected = [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, _ in stats[order]]
        regions = threshold_regions(fpm, threshold, mode="all")
        assert regions.boxes == expected
        assert regions.areas == [int(stats[label, 4]) for label in order]
        assert fpm_to_boxes(fpm, threshold) == expected[:1]


def test_contour_lies_in_its_box_half_a_pixel_from_each_side():
    fpm = two_blobs()
    regions = threshold_regions(fpm, 0.5, mode="all")
    assert len(regions.contours) == len(regions.boxes) == 2
    for outline, (x0, y0, x1, y1) in zip(regions.contours, regions.boxes):
        assert outline.dtype == np.float32 and outline.shape[1] == 2
        assert outline[:, 0].min() == x0 + 0.5 and outline[:, 0].max() == x1 - 0.5
        assert outline[:, 1].min() == y0 + 0.5 and outline[:, 1].max() == y1 - 0.5
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        assert cv2.pointPolygonTest(outline, centre, False) > 0
    assert [c.tolist() for c in contour(fpm, 0.5)] == [regions.contours[0].tolist()]


def test_mask_is_the_whole_threshold_cut():
    fpm = two_blobs()
    regions = threshold_regions(fpm, 0.5)  # keeps one box, the mask keeps both blobs
    np.testing.assert_array_equal(regions.mask, (fpm >= 0.5).astype(np.uint8))
    assert regions.mask.dtype == np.uint8


def test_full_size_map_works():
    fpm = upsample_fpm(np.random.default_rng(0).random((8, 8)), (1024, 1024))
    boxes = fpm_to_boxes(fpm, 0.83, mode="all")
    assert boxes
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= 1024 and 0 <= y0 < y1 <= 1024
    assert fpm_to_boxes(fpm, 0.0) == [(0, 0, 1024, 1024)]


def test_sweep_matches_single_thresholds():
    fpm = upsample_fpm(np.random.default_rng(3).random((6, 6)), (96, 128))
    thresholds = [0.0, 0.2, 0.5, 0.8, 1.5]
    for mode in ("all", "largest"):
        swept = sweep_boxes(fpm, thresholds, mode)
        for threshold, boxes in zip(thresholds, swept):
            expected = fpm_to_boxes(fpm, threshold, mode)
            assert sorted(tuple(b) for b in boxes.tolist()) == sorted(expected)  # "all": any order
        assert swept[-1].shape == (0, 4)


def test_sweep_by_mode_matches_one_mode_at_a_time():
    fpm = upsample_fpm(np.random.default_rng(4).random((8, 8)), (64, 80))
    thresholds = np.arange(0.0, 1.2, 0.05)
    swept = sweep_boxes_by_mode(fpm, thresholds, ("all", "largest"))
    assert list(swept) == ["all", "largest"]
    for mode, per_threshold in swept.items():
        expected = sweep_boxes(fpm, thresholds, mode)
        assert len(per_threshold) == len(expected)
        for boxes, want in zip(per_threshold, expected):
            np.testing.assert_array_equal(boxes, want)
    with pytest.raises(ValueError, match="mode"):
        sweep_boxes_by_mode(fpm, thresholds, ("all", "biggest"))


@pytest.mark.parametrize(
    "fpm, threshold, mode, message",
    [
        (np.zeros((4, 4, 3)), 0.5, "largest", "2-D"),
        (np.zeros((0, 4)), 0.5, "largest", "2-D"),
        (np.array([[0.1, np.nan]]), 0.5, "largest", "NaN"),
        (np.array([[0.1, np.inf]], np.float16), 0.5, "largest", "NaN"),
        (np.array([["a"]]), 0.5, "largest", "real"),
        (np.zeros((4, 4)), float("nan"), "largest", "finite"),
        (np.zeros((4, 4)), "high", "largest", "number"),
        (np.zeros((4, 4)), 0.5, "biggest", "mode"),
    ],
)
def test_bad_input_raises_one_line_value_error(fpm, threshold, mode, message):
    with pytest.raises(ValueError, match=message) as error:
        fpm_to_boxes(fpm, threshold, mode)
    assert "\n" not in str(error.value)


def test_integer_and_bool_maps_are_accepted():
    fpm = np.zeros((5, 5), bool)
    fpm[1:3, 2:4] = True
    assert fpm_to_boxes(fpm, 0.5) == [(2, 1, 4, 3)]
    assert fpm_to_boxes(fpm.astype(np.uint8) * 200, 100) == [(2, 1, 4, 3)]


def test_upsample_normalises_to_unit_range():
    small = np.array([[2.0, 4.0], [6.0, 10.0]])
    big = upsample_fpm(small, (64, 48))
    assert big.shape == (64, 48) and big.dtype == np.float32
    assert big.min() == 0.0 and big.max() == 1.0
    assert big[0, 0] == 0.0 and big[-1, -1] == 1.0  # corners keep their source values


def test_upsample_constant_map_gives_zeros_not_nan():
    big = upsample_fpm(np.full((8, 8), 0.3), (32, 32))
    assert big.shape == (32, 32) and not big.any()
    assert np.isfinite(upsample_fpm(np.ones((1, 1)), (5, 7))).all()


@pytest.mark.parametrize("size", [(0, 4), (4,), (4.0, 4), (-1, 3)])
def test_upsample_rejects_bad_size(size):
    with pytest.raises(ValueError, match="size"):
        upsample_fpm(np.ones((2, 2)), size)

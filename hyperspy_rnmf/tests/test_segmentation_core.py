"""Building blocks shared by both segmentation routes: correlation matrices,
order-independent grouping, watershed splitting, comparison, result type."""

import warnings

import numpy as np
import pytest

from hyperspy_rnmf.segmentation import (
    SegmentationResult,
    compare_segmentations,
    correlation_matrix,
    iou_matrix,
    load_segmentation,
    watershed_segments,
)
from hyperspy_rnmf.segmentation._correlation import group_pairs
from hyperspy_rnmf.segmentation._result import build_result, label_image


def _disc(shape, centre, radius):
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.hypot(y - centre[0], x - centre[1]) <= radius


# ----------------------------------------------------------- correlation
def test_correlation_matches_numpy_corrcoef():
    rng = np.random.default_rng(0)
    images = rng.random((5, 7, 9))  # non-square images
    np.testing.assert_allclose(
        correlation_matrix(images), np.corrcoef(images.reshape(5, -1)), atol=1e-12
    )


def test_correlation_ignores_nan_pairwise():
    rng = np.random.default_rng(1)
    images = rng.random((4, 6, 10))
    images[0, 0, :4] = np.nan
    images[2, 3, 5:] = np.nan
    ncc = correlation_matrix(images)
    flat = images.reshape(4, -1)
    for i in range(4):
        for j in range(4):
            ok = np.isfinite(flat[i]) & np.isfinite(flat[j])
            expected = np.corrcoef(flat[i][ok], flat[j][ok])[0, 1]
            assert ncc[i, j] == pytest.approx(expected, abs=1e-10)


def test_correlation_undefined_for_constant_images():
    images = np.stack([np.ones((4, 4)), np.arange(16.0).reshape(4, 4)])
    ncc = correlation_matrix(images)
    assert np.isnan(ncc[0]).all() and np.isnan(ncc[:, 0]).all()
    assert ncc[1, 1] == pytest.approx(1.0)
    images[1, 0, 0] = np.nan  # NaN path, same answer
    assert np.isnan(correlation_matrix(images)[0]).all()


def test_correlation_input_not_modified():
    images = np.random.default_rng(2).random((3, 5, 5))
    images[0, 0, 0] = np.nan
    before = images.copy()
    correlation_matrix(images)
    np.testing.assert_array_equal(images, before)


def test_correlation_rejects_1d():
    with pytest.raises(ValueError, match=r"`images` \(shape \(5,\)\)"):
        correlation_matrix(np.arange(5.0))


# --------------------------------------------------------------- grouping
def _random_symmetric(rng, k, p=0.2):
    linked = rng.random((k, k)) < p
    linked = linked | linked.T
    score = rng.random((k, k))
    return linked, (score + score.T) / 2


@pytest.mark.parametrize("linkage", ["single", "complete"])
def test_grouping_is_order_independent(linkage):
    rng = np.random.default_rng(3)
    for _ in range(20):
        k = 12
        linked, score = _random_symmetric(rng, k)
        key = rng.random(k)
        groups = group_pairs(linked, linkage, score=score, order_key=key)
        perm = rng.permutation(k)
        groups_p = group_pairs(
            linked[np.ix_(perm, perm)],
            linkage,
            score=score[np.ix_(perm, perm)],
            order_key=key[perm],
        )
        mapped = sorted(sorted(int(perm[i]) for i in g) for g in groups_p)
        assert mapped == sorted(groups)


def test_single_and_complete_linkage_differ_on_a_chain():
    linked = np.zeros((3, 3), bool)
    linked[0, 1] = linked[1, 2] = True  # 0-1-2 chain, 0 and 2 not linked
    assert group_pairs(linked, "single") == [[0, 1, 2]]
    groups = group_pairs(linked, "complete", score=np.eye(3) + linked * 0.5)
    assert len(groups) == 2 and sorted(map(len, groups)) == [1, 2]


def test_grouping_rejects_unknown_linkage():
    with pytest.raises(ValueError, match="`linkage` must be one of"):
        group_pairs(np.eye(2, dtype=bool), "average")


# -------------------------------------------------------------- watershed
def test_watershed_splits_touching_discs_and_keeps_each_whole():
    shape = (30, 50)  # non-square
    a, b = _disc(shape, (15, 14), 9), _disc(shape, (15, 32), 9)
    image = (a | b).astype(float)
    labels, info = watershed_segments(image, threshold=0.5)
    assert labels.shape == shape and labels.max() == 2 and info["n_markers"] == 2
    for planted in (a, b):
        best = max(
            (labels == j).sum()
            and ((labels == j) & planted).sum() / ((labels == j) | planted).sum()
            for j in (1, 2)
        )
        assert best > 0.9


def test_watershed_floods_only_parts_with_several_markers():
    # an isolated disc (one marker: the whole part is one region without a
    # flood) next to two touching discs (one part, two markers: flooded)
    shape = (40, 80)
    alone = _disc(shape, (20, 12), 7)
    pair = [_disc(shape, (20, 40), 9), _disc(shape, (20, 58), 9)]
    image = (alone | pair[0] | pair[1]).astype(float)
    labels, info = watershed_segments(image, threshold=0.5, boundary=None)
    assert info["n_markers"] == 3 and labels.max() == 3
    np.testing.assert_array_equal(labels > 0, image > 0.5)
    for planted in [alone, *pair]:
        ious = [
            ((labels == j) & planted).sum() / ((labels == j) | planted).sum()
            for j in (1, 2, 3)
        ]
        assert max(ious) > 0.9
    assert (labels[alone] == labels[20, 12]).all()  # never split


@pytest.mark.parametrize(
    "shape_kind", ["rectangle", "diagonal sliver", "irregular ellipse"]
)
def test_watershed_keeps_elongated_crystals_whole(shape_kind):
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:64, 0:96].astype(float)
    if shape_kind == "rectangle":
        crystal = (np.abs(y - 32) < 4) & (np.abs(x - 48) < 40)
    elif shape_kind == "diagonal sliver":
        crystal = (np.abs((y - 32) - 0.8 * (x - 48)) < 3.5) & (np.abs(x - 48) < 14)
    else:
        r = np.hypot((y - 32) / 10, (x - 48) / 40)
        crystal = r < 1 + 0.08 * np.sin(7 * np.arctan2(y - 32, x - 48))
    image = crystal * 100.0 + rng.normal(0, 5, crystal.shape)
    labels, _ = watershed_segments(image)
    assert labels.max() == 1
    assert ((labels == 1) & crystal).sum() / ((labels == 1) | crystal).sum() > 0.9


def test_watershed_size_intensity_and_border_filters():
    shape = (40, 60)
    big = _disc(shape, (20, 20), 8)
    small = _disc(shape, (20, 45), 1.5)  # 9 pixels
    weak = _disc(shape, (32, 45), 4)
    edge = _disc(shape, (2, 58), 4)
    image = 100.0 * big + 100.0 * small + 8.0 * weak + 100.0 * edge
    labels, info = watershed_segments(
        image, threshold=0.05, min_size=10, min_intensity=0.1, exclude_border=3
    )
    assert labels.max() == 1
    assert (labels == 1)[20, 20]
    assert info["discarded"] == {"small": 1, "large": 0, "weak": 1, "border": 1}
    labels, info = watershed_segments(
        image, threshold=0.05, max_size=100, min_size=1, min_intensity=0.0
    )
    assert info["discarded"]["large"] == 1  # the big disc (about 200 pixels)


def test_watershed_relative_thresholds_do_not_depend_on_scale():
    image = 5.0 * _disc((30, 40), (15, 12), 7) + 2.0 * _disc((30, 40), (15, 30), 6)
    labels, _ = watershed_segments(image)
    labels_scaled, _ = watershed_segments(1e6 * image)
    np.testing.assert_array_equal(labels, labels_scaled)
    assert labels.max() == 2


def test_watershed_boundary_is_each_crystals_half_maximum():
    # a thick and a thin crystal of one orientation, soft edges
    y, x = np.mgrid[0:40, 0:70].astype(float)
    soft = [np.clip(8 - np.hypot(y - 20, x - c) + 0.5, 0, 1) for c in (18, 50)]
    image = 100 * soft[0] + 30 * soft[1]
    labels, _ = watershed_segments(image)
    assert labels.max() == 2
    for s in soft:
        planted = s >= 0.5
        iou = max(
            ((labels == j) & planted).sum() / ((labels == j) | planted).sum()
            for j in (1, 2)
        )
        assert iou > 0.95


def test_watershed_nan_pixels_belong_to_no_segment():
    image = 10.0 * _disc((20, 30), (10, 15), 6)
    image[10, 10:20] = np.nan
    labels, _ = watershed_segments(image, threshold=0.5)
    assert (labels[10, 10:20] == 0).all() and labels.max() >= 1


@pytest.mark.parametrize(
    "image", [np.zeros((10, 12)), np.full((10, 12), 3.0), -np.ones((10, 12))]
)
def test_watershed_warns_when_nothing_is_above_the_threshold(image):
    with pytest.warns(UserWarning, match="map 7: no pixel above the threshold"):
        labels, info = watershed_segments(image, name="map 7")
    assert labels.shape == (10, 12) and labels.max() == 0


def test_watershed_input_not_modified():
    image = 10.0 * _disc((20, 30), (10, 15), 6)
    image[0, 0] = np.nan
    before = image.copy()
    watershed_segments(image)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threshold": "mean"}, r"`threshold` must be one of \('li', 'otsu'\)"),
        ({"threshold": 1.5}, r"`threshold` must be a number in \(0, 1\), got 1.5"),
        ({"min_size": -1}, r"`min_size` must be an integer >= 1, got -1"),
        ({"min_size": 2.5}, r"`min_size` must be an integer >= 1, got 2.5"),
        ({"max_size": 3, "min_size": 5}, r"`max_size` \(3\) must be >= `min_size`"),
        ({"min_depth": 1.0}, r"`min_depth` must be a number in \[0, 1\)"),
        ({"boundary": 1.0}, r"`boundary` must be a number in \[0, 1\)"),
        ({"min_intensity": -0.1}, r"`min_intensity` must be a number in \[0, 1\]"),
        ({"min_distance": -1.0}, r"`min_distance` must be a number in \[0, inf\)"),
        ({"exclude_border": True}, r"`exclude_border` must be an integer >= 0"),
        ({"sampling": (1.0, 0.0)}, r"`sampling` must be two positive numbers"),
    ],
)
def test_watershed_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        watershed_segments(np.ones((5, 5)), **kwargs)


def test_watershed_rejects_non_2d_image():
    with pytest.raises(ValueError, match=r"`image` \(shape \(5,\)\) must be 2D"):
        watershed_segments(np.ones(5))


# ------------------------------------------------------------- comparison
def test_compare_segmentations_matches_one_to_one():
    shape = (20, 30)
    a = np.stack(
        [_disc(shape, (10, 8), 5), _disc(shape, (10, 22), 5), _disc(shape, (3, 3), 2)]
    )
    b = np.stack([a[1], a[0] & (np.arange(30) < 9)])  # reordered, one shrunk
    c = compare_segmentations(a, b, names=("truth", "found"))
    assert [(i, j) for i, j, _ in c.matches] == [(0, 1), (1, 0)]
    assert c.only_a == [2] and c.only_b == []
    np.testing.assert_allclose(c.iou, iou_matrix(a, b))
    text = str(c)
    assert "truth" in text and "missed" in text and "2 matched" in text


def test_compare_rejects_different_scans():
    with pytest.raises(ValueError, match="must cover the same scan"):
        iou_matrix(np.zeros((1, 4, 4), bool), np.zeros((1, 4, 5), bool))
    with pytest.raises(ValueError, match=r"`a` must be a SegmentationResult"):
        compare_segmentations(np.zeros((4, 4)), np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match=r"`min_iou` must be a number in \(0, 1\]"):
        compare_segmentations(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), min_iou=0)


# ----------------------------------------------------------------- result
def _small_result(n=2, mean=True, route="nmf"):
    import hyperspy.api as hs

    rng = np.random.default_rng(5)
    scan = hs.signals.Signal2D(np.zeros((6, 9)))
    for axis, name in zip(scan.axes_manager.signal_axes, ("x", "y"), strict=True):
        axis.name, axis.units, axis.scale, axis.offset = name, "nm", 2.5, 1.0
    pattern = hs.signals.Signal2D(np.zeros((5, 7)))
    for axis, name in zip(pattern.axes_manager.signal_axes, ("kx", "ky"), strict=True):
        axis.name, axis.units, axis.scale, axis.offset = name, "1/A", 0.05, -0.15
    masks = np.zeros((n, 6, 9), bool)
    for i in range(n):
        masks[i, i : i + 3, 2 * i : 2 * i + 4] = True
    maps = masks * rng.random((n, 6, 9))
    record = {
        "groups": [[0, 2], [1]][:n],
        "segment_group": list(range(n)),
        "nested": {"a": None, "b": [1.5, 2]},
    }
    params = {
        "threshold": "otsu",
        "max_size": None,
        "exclude": [0, 3],
        "min_depth": 0.3,
    }
    return build_result(
        maps=maps,
        masks=masks,
        patterns=rng.random((n, 5, 7)),
        mean_patterns=rng.random((n, 5, 7)) if mean else None,
        scan_axes=scan.axes_manager.signal_axes,
        pattern_axes=pattern.axes_manager.signal_axes,
        merge_record=record,
        parameters=params,
        route=route,
    )


def _axes_tuple(signal):
    return [
        (a.name, a.units, a.scale, a.offset, a.size, a.navigate)
        for a in signal.axes_manager._axes
    ]


@pytest.mark.parametrize("extension", ["hspy", "zspy"])
@pytest.mark.parametrize("n, mean", [(2, True), (3, False), (0, True)])
def test_result_save_load_round_trip(tmp_path, extension, n, mean):
    result = _small_result(n, mean)
    filename = tmp_path / f"segmentation.{extension}"
    result.save(filename)
    loaded = SegmentationResult.load(filename)
    again = load_segmentation(filename)
    assert len(loaded) == len(result) == len(again) == n
    assert loaded.route == result.route
    assert loaded.merge_record == result.merge_record
    assert loaded.parameters == result.parameters
    for name in ("maps", "masks", "patterns", "mean_patterns", "labels"):
        original, back = getattr(result, name), getattr(loaded, name)
        if original is None:
            assert back is None
            continue
        np.testing.assert_array_equal(back.data, original.data)
        assert back.data.dtype == original.data.dtype
        assert _axes_tuple(back) == _axes_tuple(original)
        assert back.metadata.General.title == original.metadata.General.title


def test_load_rejects_a_plain_signal(tmp_path):
    import hyperspy.api as hs

    hs.signals.Signal2D(np.zeros((3, 3))).save(tmp_path / "plain.hspy")
    with pytest.raises(ValueError, match="is not a segmentation result"):
        SegmentationResult.load(tmp_path / "plain.hspy")


def test_result_signals_carry_the_calibration_and_parameters():
    result = _small_result()
    maps = result.maps
    assert maps.axes_manager.navigation_shape == (2,)
    assert [a.scale for a in maps.axes_manager.signal_axes] == [2.5, 2.5]
    assert [a.units for a in result.patterns.axes_manager.signal_axes] == ["1/A"] * 2
    assert result.labels.axes_manager.signal_shape == (9, 6)
    assert result.maps.metadata.Segmentation.parameters.threshold == "otsu"
    assert result.masks.data.dtype == bool
    assert repr(result) == "<SegmentationResult, route: nmf, 2 segment(s), scan 9 x 6>"


def test_label_image_prefers_the_strongest_segment():
    masks = np.zeros((2, 1, 3), bool)
    masks[0, 0, :2] = masks[1, 0, 1:] = True
    maps = np.array([[[1.0, 5.0, 0.0]], [[0.0, 2.0, 3.0]]])
    np.testing.assert_array_equal(label_image(maps, masks), [[1, 1, 2]])


def test_result_plots_maps_and_patterns_side_by_side():
    import matplotlib.pyplot as plt

    result = _small_result(2, mean=True)
    fig = result.plot()
    assert len(fig.axes) == 6  # 2 segments x (map, pattern, mean pattern)
    fig = result.plot(segments=[1], gamma=1)
    assert len(fig.axes) == 3
    assert len(_small_result(2, mean=False).plot().axes) == 4
    assert len(_small_result(0).plot().axes) == 3
    fig = result.plot_labels()
    assert len(fig.axes) == 1
    plt.close("all")
    with pytest.raises(ValueError, match=r"`segments` contains 5; this result has 2"):
        result.plot(segments=[5])


def test_segment_vectors_only_for_the_vdf_route():
    with pytest.raises(ValueError, match="only the VDF route records them"):
        _small_result().segment_vectors(0)


@pytest.mark.parametrize(
    "index, error, message",
    [
        (
            1.0,
            TypeError,
            r"`index` must be an integer segment index in \[0, 1\], got 1.0",
        ),
        ("0", TypeError, r"`index` must be an integer segment index .* got '0'"),
        (True, TypeError, r"`index` must be an integer segment index .* got True"),
        (2, ValueError, r"`index` must be in \[0, 1\], got 2"),
    ],
)
def test_segment_vectors_index_must_be_an_integer(index, error, message):
    # a float index failed with "list indices must be integers" before
    result = _small_result(2)
    result.merge_record.update(
        vectors=[[0.1, 0.2], [0.3, 0.4]], segment_vectors=[[0], [0, 1]]
    )
    with pytest.raises(error, match=message):
        result.segment_vectors(index)
    np.testing.assert_array_equal(
        result.segment_vectors(np.int64(1)), [[0.1, 0.2], [0.3, 0.4]]
    )


# ------------------------------------------------------ aperture products
@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("lazy", [False, True])
def test_signal_weighted_sums_match_a_dense_product(monkeypatch, dtype, lazy):
    import hyperspy.api as hs
    from scipy import sparse

    from hyperspy_rnmf.segmentation import _common

    # blocks of 2 scan rows (10 patterns: one group of 8 and a short one),
    # the last block is short, threads share blocks
    monkeypatch.setattr(_common, "_BLOCK_SIZE", 2 * 5 * 48)
    rng = np.random.default_rng(3)
    data = rng.integers(0, 500, (7, 5, 6, 8)).astype(dtype)
    before = data.copy()
    weights = sparse.random(9, 48, density=0.2, random_state=1, format="csr")
    s = hs.signals.Signal2D(data)
    if lazy:
        s = s.as_lazy()
        s.data = s.data.rechunk((3, 5, 6, 8))
    out = _common.signal_weighted_sums(s, weights)
    expected = np.einsum(
        "pk,ak->ap", data.reshape(35, 48).astype(np.float64), weights.toarray()
    ).reshape(9, 7, 5)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, expected, rtol=rtol)
    assert out.dtype == np.float64 and out.shape == (9, 7, 5)
    np.testing.assert_array_equal(data, before)


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int16, ">u2", bool, np.float32, np.float64]
)
@pytest.mark.parametrize("n_patterns", [1, 8, 13])
def test_aperture_sums_match_a_dense_product(dtype, n_patterns):
    from scipy import sparse

    from hyperspy_rnmf.segmentation._aperture_sums import ApertureSums

    rng = np.random.default_rng(4)
    # a non-contiguous view (every other pixel) of the patterns
    patterns = rng.integers(0, 2 if dtype is bool else 120, (n_patterns, 60))
    patterns = patterns.astype(dtype)[:, ::2]
    before = patterns.copy()
    weights = sparse.random(7, 30, density=0.3, random_state=2, format="csr")
    weights = weights.toarray()
    weights[3] = 0  # an empty aperture
    precision = np.float64 if patterns.dtype == np.float64 else np.float32
    out = ApertureSums(weights, precision)(patterns)
    expected = patterns.astype(np.float64) @ weights.T
    rtol = 1e-12 if precision == np.float64 else 1e-5
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=1e-9)
    assert out.dtype == np.float64 and out.shape == (n_patterns, 7)
    np.testing.assert_array_equal(patterns, before)


def test_aperture_sums_without_weights_and_bad_shape():
    from scipy import sparse

    from hyperspy_rnmf.segmentation._aperture_sums import ApertureSums

    sums = ApertureSums(sparse.csr_matrix((3, 10)))
    np.testing.assert_array_equal(sums(np.ones((4, 10))), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"`patterns` must have shape \(n, 10\)"):
        sums(np.ones((4, 9)))
    with pytest.raises(ValueError, match=r"`out` must be a float64 array of shape"):
        sums(np.ones((4, 10)), out=np.empty((4, 2)))
    out = np.full((4, 3), 7.0)
    assert sums(np.ones((4, 10)), out=out) is out
    np.testing.assert_array_equal(out, 0.0)


@pytest.mark.parametrize("threads", [False, True])
def test_watershed_maps_equal_one_map_at_a_time(monkeypatch, threads):
    from hyperspy_rnmf.segmentation import _watershed

    if threads:  # small maps: force the thread pool
        monkeypatch.setattr(_watershed, "_THREAD_MIN_PIXELS", 0)
    rng = np.random.default_rng(5)
    shape = (30, 44)
    maps = []
    for _ in range(5):
        image = rng.normal(0, 2, shape)
        for _ in range(3):
            image += 50 * _disc(shape, rng.uniform(0, shape), rng.uniform(3, 8))
        maps.append(image)
    maps.append(np.zeros(shape))  # no segment: a warning, an empty label image
    names = [f"m{i}" for i in range(len(maps))]
    with pytest.warns(UserWarning, match="m5: no pixel above the threshold"):
        out = _watershed.watershed_maps(maps, names, {"threshold": 0.5})
    assert len(out) == len(maps)
    for image, name, (labels, info) in zip(maps, names, out, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected, expected_info = watershed_segments(
                image, threshold=0.5, name=name
            )
        np.testing.assert_array_equal(labels, expected)
        assert info == expected_info


# ------------------------------------------------------ dynamics of maxima
def _dynamics_by_definition(level, mask, maxima, n):
    """Dynamic of every maximum from its definition: the drop to the highest
    level at which its upper-level component (8-connected, inside the mask)
    reaches a higher maximum (equal height: a smaller label); inf when it
    never does."""
    from scipy import ndimage as ndi

    top = np.array([-np.inf] + [level[maxima == i].max() for i in range(1, n + 1)])
    out = np.full(n + 1, np.inf)
    for i in range(1, n + 1):
        higher = [j for j in range(1, n + 1) if (top[j], -j) > (top[i], -i)]
        for s in np.unique(level[mask])[::-1]:  # from the top down
            if s > top[i]:
                continue
            comp, _ = ndi.label(mask & (level >= s), structure=np.ones((3, 3)))
            own = comp[maxima == i][0]
            if any(own == comp[maxima == j][0] for j in higher):
                out[i] = top[i] - s
                break
    return out


def test_deep_maxima_keeps_the_planted_peaks():
    from hyperspy_rnmf.segmentation._dynamics import deep_maxima

    # a ridge along one row: peaks 10, 8, 5 and 8 (a tie with the second
    # peak); saddles 6, 4.5 and 3; and a separate part with one low peak
    row = np.array([1, 10, 6, 8, 4.5, 5, 3, 8, 1, 0, 2, 0], dtype=float)
    level = np.tile(row, (3, 1))
    mask = level > 0
    maxima = np.zeros(level.shape, int)
    for label, col in enumerate((1, 3, 5, 7, 10), start=1):
        maxima[:, col] = label
    # dynamics: 10 -> inf; 8 -> 2 (saddle 6); 5 -> 0.5 (saddle 4.5); the
    # second 8 ties with the first, which has the smaller label, and reaches
    # it over the saddle 3 -> 5; 2 -> inf (alone in its part)
    expected = _dynamics_by_definition(level, mask, maxima, 5)
    np.testing.assert_allclose(expected[1:], [np.inf, 2, 0.5, 5, np.inf])
    for h, kept in (
        (0.4, [1, 2, 3, 4, 5]),
        (1.0, [1, 2, 4, 5]),
        (2.5, [1, 4, 5]),
        (6.0, [1, 5]),
    ):
        markers, m = deep_maxima(level, mask, maxima, 5, h)
        assert m == len(kept)
        np.testing.assert_array_equal(
            markers[0, [1, 3, 5, 7, 10]],
            [kept.index(i) + 1 if i in kept else 0 for i in range(1, 6)],
        )


@pytest.mark.parametrize("seed", range(12))
def test_deep_maxima_match_the_definition_on_random_maps(seed):
    from scipy import ndimage as ndi
    from skimage.morphology import local_maxima

    from hyperspy_rnmf.segmentation._dynamics import deep_maxima

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(6, 16)), int(rng.integers(6, 16)))
    # integer heights: many plateaus and equal saddles
    level = np.round(ndi.gaussian_filter(rng.random(shape), 1.0) * 40)
    mask = level > np.quantile(level, 0.3)
    maxima = local_maxima(level, connectivity=2, allow_borders=True) & mask
    labels, n = ndi.label(maxima, structure=np.ones((3, 3)))
    dynamics = _dynamics_by_definition(level, mask, labels, n)
    for h in (0.5, 1.5, 3.0):
        markers, m = deep_maxima(level, mask, labels, n, h)
        kept = dynamics[1:] >= h
        assert m == int(kept.sum())
        expected = np.zeros(n + 1, int)
        expected[1:][kept] = np.arange(1, m + 1)
        np.testing.assert_array_equal(markers, expected[labels])


def test_default_min_distance_uses_the_area_of_a_position():
    # it came from the smaller step alone: 7.14 nm for steps of 2 and 6 nm,
    # whatever the 6 became
    import hyperspy.api as hs

    from hyperspy_rnmf.segmentation._watershed import scan_options

    s = hs.signals.Signal2D(np.zeros((4, 5, 2, 2)))
    x, y = s.axes_manager.navigation_axes
    x.scale, y.scale = 2.0, 6.0
    options = scan_options(s.axes_manager.navigation_axes, min_size=10)
    assert options["sampling"] == (6.0, 2.0)
    assert options["min_distance"] == pytest.approx(2 * np.sqrt(10 * 12 / np.pi))
    y.scale = 2.0
    square = scan_options(s.axes_manager.navigation_axes, min_size=10)
    assert square["min_distance"] == pytest.approx(2 * np.sqrt(10 / np.pi) * 2.0)

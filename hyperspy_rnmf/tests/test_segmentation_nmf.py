"""NMF route of nanocrystal segmentation on planted crystals (issue 6).

The planted dataset (``segmentation_data.py``): crystals A1 and A2 share one
orientation (one component, split by watershed), B is spread over two
components (merged), C and D overlap, and a background component is
excluded.
"""

import warnings

import numpy as np
import pytest

from hyperspy_rnmf.segmentation import (
    compare_segmentations,
    component_correlations,
    mean_patterns_in,
    merge_components,
    segment_decomposition,
)
from hyperspy_rnmf.tests.segmentation_data import planted_crystals


def _cosine(a, b, keep=None):
    """Cosine similarity, over the pixels ``keep`` (default: where ``a`` is
    finite)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) if keep is None else keep & np.isfinite(a)
    a, b = a[keep], b[keep]
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _background_index(signal, truth):
    factors = signal.learning_results.factors.T
    factors = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    return int(np.argmax(factors @ truth["factors"][0].ravel()))


@pytest.fixture(scope="module")
def planted():
    s, truth = planted_crystals(random_state=0)
    s.decomposition("rnmf", output_dimension=6, random_state=0)
    return s, truth, _background_index(s, truth)


def _check_recovery(result, truth, min_cosine=0.95):
    """Every crystal one segment (IoU >= 0.8), no spurious segment, patterns
    match (cosine >= 0.95 over the pixels where the merged factor is known)."""
    comparison = compare_segmentations(truth["masks"], result, min_iou=0.8)
    assert len(comparison.matches) == len(truth["masks"]), str(comparison)
    assert comparison.only_b == [], str(comparison)
    for crystal, segment, _ in comparison.matches:
        assert (
            _cosine(result.patterns.data[segment], truth["patterns"][crystal])
            >= min_cosine
        )
        if result.mean_patterns is not None:
            assert (
                _cosine(result.mean_patterns.data[segment], truth["patterns"][crystal])
                >= 0.9
            )
    return comparison


def test_every_planted_crystal_is_one_segment(planted):
    s, truth, bg = planted
    result = segment_decomposition(s, exclude=[bg])
    comparison = _check_recovery(result, truth)
    # A1 and A2 come from one component; B from two merged components
    seg = dict((c, j) for c, j, _ in comparison.matches)
    components = result.merge_record["segment_components"]
    assert components[seg[0]] == components[seg[1]]
    assert len(components[seg[0]]) == 1
    assert len(components[seg[2]]) == 2
    assert bg not in sum(result.merge_record["groups"], [])
    assert result.merge_record["excluded"] == [bg]
    assert result.route == "nmf"
    assert result.parameters["exclude"] == [bg]
    assert result.parameters["threshold"] == "li"


def test_segments_keep_the_calibration(planted):
    s, _, bg = planted
    result = segment_decomposition(s, exclude=[bg], mean_patterns=False)
    for got, want in zip(
        result.maps.axes_manager.signal_axes,
        s.axes_manager.navigation_axes,
        strict=True,
    ):
        assert (got.name, got.units, got.scale, got.offset, got.size) == (
            want.name,
            want.units,
            want.scale,
            want.offset,
            want.size,
        )
    for got, want in zip(
        result.patterns.axes_manager.signal_axes,
        s.axes_manager.signal_axes,
        strict=True,
    ):
        assert (got.units, got.scale, got.offset, got.size) == (
            want.units,
            want.scale,
            want.offset,
            want.size,
        )
    assert result.mean_patterns is None
    # merged factors sum to one, maps are the merged loadings (counts) inside
    np.testing.assert_allclose(result.patterns.data.sum(axis=(1, 2)), 1.0, rtol=1e-6)
    assert ((result.maps.data > 0) <= result.masks.data).all()


def test_results_do_not_depend_on_component_order(planted):
    s, _, bg = planted
    factors = s.get_decomposition_factors().data
    loadings = s.get_decomposition_loadings().data
    reference = segment_decomposition(
        s, factors=factors, loadings=loadings, exclude=[bg]
    )
    rng = np.random.default_rng(0)
    for _ in range(3):
        perm = rng.permutation(len(factors))
        shuffled = segment_decomposition(
            s,
            factors=factors[perm],
            loadings=loadings[perm],
            exclude=[int(np.flatnonzero(perm == bg)[0])],
        )
        np.testing.assert_array_equal(shuffled.masks.data, reference.masks.data)
        np.testing.assert_array_equal(shuffled.labels.data, reference.labels.data)
        np.testing.assert_allclose(shuffled.maps.data, reference.maps.data, rtol=1e-12)
        np.testing.assert_allclose(
            shuffled.patterns.data, reference.patterns.data, rtol=1e-12
        )
        mapped = [
            sorted(int(perm[i]) for i in g)
            for g in shuffled.merge_record["segment_components"]
        ]
        assert mapped == reference.merge_record["segment_components"]


def test_factor_and_loading_signals_give_the_same_result(planted):
    s, _, bg = planted
    from_signal = segment_decomposition(s, exclude=[bg])
    direct = segment_decomposition(
        s,
        factors=s.get_decomposition_factors(),
        loadings=s.get_decomposition_loadings(),
        exclude=[bg],
    )
    np.testing.assert_array_equal(direct.masks.data, from_signal.masks.data)
    np.testing.assert_allclose(direct.patterns.data, from_signal.patterns.data)
    np.testing.assert_allclose(
        direct.mean_patterns.data, from_signal.mean_patterns.data
    )
    # without the data: no mean patterns, calibration from the signals
    alone = segment_decomposition(
        factors=s.get_decomposition_factors(),
        loadings=s.get_decomposition_loadings(),
        exclude=[bg],
    )
    assert alone.mean_patterns is None
    np.testing.assert_array_equal(alone.masks.data, from_signal.masks.data)
    assert alone.patterns.axes_manager.signal_axes[0].scale == pytest.approx(
        s.axes_manager.signal_axes[0].scale
    )


def test_lazy_signal_gives_the_same_segments(planted):
    s, truth, bg = planted
    lazy = s.as_lazy()
    lazy.data = lazy.data.rechunk((11, 28, 48, 48))
    lazy.learning_results = s.learning_results
    eager = segment_decomposition(s, exclude=[bg])
    result = segment_decomposition(lazy, exclude=[bg], show_progressbar=True)
    np.testing.assert_array_equal(result.masks.data, eager.masks.data)
    np.testing.assert_allclose(
        result.mean_patterns.data, eager.mean_patterns.data, rtol=1e-10
    )


def test_lazy_decomposition_end_to_end():
    s, truth = planted_crystals(random_state=0, lazy=True)
    s.decomposition("rnmf", output_dimension=6, random_state=0)
    result = segment_decomposition(s, exclude=[_background_index(s, truth)])
    _check_recovery(result, truth)


@pytest.mark.filterwarnings(
    # scikit-learn's NMF does not converge in the few iterations used here;
    # the factors are good enough for the segmentation, which is what is tested
    "ignore::sklearn.exceptions.ConvergenceWarning"
)
def test_hyperspy_nmf_results_with_unnormalised_factors():
    s, truth = planted_crystals(random_state=0)
    s.decomposition(
        algorithm="NMF",
        output_dimension=6,
        max_iter=150,
        init="nndsvda",
        random_state=0,
    )
    assert not np.allclose(s.learning_results.factors.sum(axis=0), 1.0)
    result = segment_decomposition(s, exclude=[_background_index(s, truth)])
    # 150 iterations of scikit-learn's NMF leave its factors less accurate
    # (cosine ~0.92 with the planted patterns, ~0.98 after 400 iterations)
    _check_recovery(result, truth, min_cosine=0.9)
    assert sorted(map(len, result.merge_record["groups"])) == [1, 1, 1, 2]


def test_inputs_are_not_modified(planted):
    s, _, bg = planted
    data = s.data.copy()
    factors = s.learning_results.factors.copy()
    loadings = s.learning_results.loadings.copy()
    f_sig, l_sig = s.get_decomposition_factors(), s.get_decomposition_loadings()
    f_before, l_before = f_sig.data.copy(), l_sig.data.copy()
    exclude = [bg]
    segment_decomposition(s, exclude=exclude)
    segment_decomposition(s, factors=f_sig, loadings=l_sig, exclude=exclude)
    component_correlations(s)
    np.testing.assert_array_equal(s.data, data)
    np.testing.assert_array_equal(s.learning_results.factors, factors)
    np.testing.assert_array_equal(s.learning_results.loadings, loadings)
    np.testing.assert_array_equal(f_sig.data, f_before)
    np.testing.assert_array_equal(l_sig.data, l_before)
    assert exclude == [bg]


def test_component_correlations_are_signals(planted):
    s, _, _ = planted
    factor_ncc, loading_ncc = component_correlations(s)
    for ncc in (factor_ncc, loading_ncc):
        assert ncc.axes_manager.signal_shape == (6, 6)
        np.testing.assert_allclose(ncc.data, ncc.data.T, atol=1e-12)
        np.testing.assert_allclose(np.diag(ncc.data), 1.0)
        assert ncc.axes_manager.signal_axes[0].name == "component index"


def test_masked_factor_pixels_are_left_out():
    s, truth = planted_crystals(random_state=0)
    ky, kx = np.mgrid[0:48, 0:48]
    beam = np.hypot(ky - 24, kx - 24) <= 3
    s.decomposition("rnmf", output_dimension=6, random_state=0, signal_mask=beam)
    assert np.isnan(s.learning_results.factors).any()
    factor_ncc, _ = component_correlations(s)
    assert np.isfinite(factor_ncc.data).all()
    bg = _background_index(s, {"factors": np.where(beam, 0, truth["factors"])})
    result = segment_decomposition(s, exclude=[bg])
    _check_recovery(result, truth)
    # the direct beam excluded explicitly gives the same correlations
    s2, _ = planted_crystals(random_state=0)
    s2.decomposition("rnmf", output_dimension=6, random_state=0)
    with_mask, _ = component_correlations(s2, signal_mask=beam)
    assert np.isfinite(with_mask.data).all()


def test_merge_components_on_planted_factors():
    _, truth = planted_crystals(random_state=0, noise=False)
    factors, loadings = truth["factors"], truth["loadings"]
    merged_f, merged_l, groups, f_ncc, l_ncc = merge_components(
        factors, loadings, exclude=[0]
    )
    assert groups == [[1], [2, 3], [4], [5]]
    assert np.isnan(f_ncc[0]).all() and np.isnan(l_ncc[:, 0]).all()
    np.testing.assert_allclose(merged_l[1], loadings[2] + loadings[3])
    np.testing.assert_allclose(merged_f.sum(axis=(1, 2)), 1.0)
    # the merged factor is the intensity-weighted mean of the two parts
    w = loadings[[2, 3]].sum(axis=(1, 2))
    expected = (w[0] * factors[2] + w[1] * factors[3]) / w.sum()
    np.testing.assert_allclose(merged_f[1], expected, rtol=1e-12)
    # thresholds that nothing passes: every component on its own
    *_, groups, _, _ = merge_components(
        factors, loadings, exclude=[0], min_factor_correlation=1.0
    )
    assert groups == [[1], [2], [3], [4], [5]]


def test_mean_patterns_in_masks():
    s, _ = planted_crystals(random_state=1)
    masks = np.zeros((2,) + s.data.shape[:2], bool)
    masks[0, :5, :7] = True
    masks[1, 10, 3] = True
    mean = mean_patterns_in(s, masks)
    np.testing.assert_allclose(mean[0], s.data[:5, :7].mean(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(mean[1], s.data[10, 3], rtol=1e-6)
    lazy = mean_patterns_in(s.as_lazy(), masks)
    np.testing.assert_allclose(lazy, mean, rtol=1e-12)
    with pytest.raises(ValueError, match=r"`masks` \(shape \(2, 3, 3\)\)"):
        mean_patterns_in(s, masks[:, :3, :3])


def test_save_load_round_trip(planted, tmp_path):
    from hyperspy_rnmf.segmentation import SegmentationResult

    s, _, bg = planted
    result = segment_decomposition(s, exclude=[bg])
    result.save(tmp_path / "crystals.zspy")
    loaded = SegmentationResult.load(tmp_path / "crystals.zspy")
    for name in ("maps", "masks", "patterns", "mean_patterns", "labels"):
        np.testing.assert_array_equal(
            getattr(loaded, name).data, getattr(result, name).data
        )
    assert loaded.merge_record == result.merge_record
    assert loaded.parameters == result.parameters
    fig = loaded.plot()
    assert len(fig.axes) == 3 * len(result)


# ------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small():
    s, truth = planted_crystals(random_state=2)
    s = s.inav[:20, :16]
    s.decomposition("rnmf", output_dimension=3, random_state=0)
    return s


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"min_factor_correlation": 1.5},
            r"`min_factor_correlation` must be a number in \[-1.0, 1.0\], got 1.5",
        ),
        (
            {"min_loading_correlation": -2},
            r"`min_loading_correlation` must be a number in \[-1.0, 1.0\], got -2",
        ),
        ({"min_size": -3}, r"`min_size` must be an integer >= 1, got -3"),
        ({"min_depth": 2.0}, r"`min_depth` must be a number in \[0, 1\)"),
        ({"threshold": "triangle"}, r"`threshold` must be one of"),
        ({"min_dominance": 1.2}, r"`min_dominance` must be a number in \[0, 1\]"),
        ({"linkage": "ward"}, r"`linkage` must be one of \('single', 'complete'\)"),
        (
            {"exclude": [3]},
            r"`exclude` contains \[3\], outside the 3 components \(0..2, or -3..-1",
        ),
        (
            {"signal_mask": np.ones((48, 48), bool)},
            r"`signal_mask` leaves out every pixel",
        ),
        ({"exclude": [True]}, r"`exclude` must be component indices"),
        ({"exclude": [0, 1, 2]}, r"leaves none of the 3 components to segment"),
        ({"min_distance": -1.0}, r"`min_distance` must be a number in \[0, inf\)"),
        ({"mean_patterns": "yes"}, r"`mean_patterns` must be True or False"),
        (
            {"signal_mask": np.zeros((3, 3), bool)},
            r"`signal_mask` has shape \(3, 3\); it must have the shape of one "
            r"pattern in the data array, \(48, 48\)",
        ),
    ],
)
def test_bad_parameters_raise(small, kwargs, message):
    with pytest.raises(ValueError, match=message):
        segment_decomposition(small, **kwargs)


def test_parameters_record_the_values_used(small):
    # linkage=None (the default) was recorded as None, exclude=[-1] as given
    result = segment_decomposition(small, linkage=None, exclude=[-1])
    assert result.parameters["linkage"] == "single"
    assert result.parameters["exclude"] == [2]


def test_none_correlation_thresholds_mean_the_defaults(small):
    # merge_components reads None as the default; segment_decomposition
    # failed with float(None) after the whole watershed
    default = segment_decomposition(small)
    with_none = segment_decomposition(
        small, min_factor_correlation=None, min_loading_correlation=None
    )
    np.testing.assert_array_equal(with_none.masks.data, default.masks.data)
    assert with_none.parameters == default.parameters


def test_no_decomposition_results_raise():
    s, _ = planted_crystals(random_state=3)
    with pytest.raises(ValueError, match="`signal` has no decomposition results"):
        segment_decomposition(s)
    with pytest.raises(ValueError, match="Give a `signal` with decomposition"):
        segment_decomposition()
    with pytest.raises(ValueError, match="Give both `factors` and `loadings`"):
        segment_decomposition(s, factors=np.ones((2, 48, 48)))


def test_inconsistent_factors_and_loadings_raise(small):
    f = small.get_decomposition_factors().data
    ld = small.get_decomposition_loadings().data
    with pytest.raises(ValueError, match=r"`factors` \(3 components\) and `loadings`"):
        segment_decomposition(small, factors=f, loadings=ld[:2])
    with pytest.raises(ValueError, match=r"`loadings` maps \(shape \(16, 19\)\)"):
        segment_decomposition(small, factors=f, loadings=ld[:, :, :19])
    with pytest.raises(ValueError, match=r"`factors` patterns \(shape \(48, 40\)\)"):
        segment_decomposition(small, factors=f[:, :, :40], loadings=ld)
    with pytest.raises(ValueError, match=r"`loadings` \(shape \(3, 320\)\) must be"):
        segment_decomposition(factors=f, loadings=ld.reshape(3, -1))
    with pytest.raises(ValueError, match="do not have a positive sum"):
        segment_decomposition(small, factors=-f, loadings=ld)


def test_results_of_a_cropped_signal_raise(small):
    # crop() does not crop learning_results: a raw numpy reshape error before
    cropped = small.deepcopy()
    cropped.crop("x", 0, 12)
    with pytest.raises(
        ValueError, match=r"loadings cover 320 probe positions, the signal has 192"
    ):
        segment_decomposition(cropped)
    cropped = small.deepcopy()
    cropped.crop_signal(4, 40, 4, 40)
    with pytest.raises(ValueError, match=r"factors cover 2304 pixels, the signal"):
        segment_decomposition(cropped)


def test_signal_must_be_a_2d_scan():
    import hyperspy.api as hs

    line = hs.signals.Signal2D(np.ones((5, 4, 4)))
    with pytest.raises(ValueError, match="must have 2 navigation dimensions"):
        segment_decomposition(line)
    with pytest.raises(TypeError, match="`signal` must be a HyperSpy signal"):
        segment_decomposition(np.ones((4, 4, 3, 3)))


def test_map_with_no_pixel_above_threshold_warns(small):
    f = small.get_decomposition_factors().data
    ld = small.get_decomposition_loadings().data.copy()
    ld[1] = 0.0  # a component with an empty map
    with pytest.warns(UserWarning, match=r"merged component \d \(components \[1\]\)"):
        result = segment_decomposition(
            small, factors=f, loadings=ld, min_factor_correlation=1.0
        )
    assert 1 not in sum(result.merge_record["segment_components"], [])


def test_no_segment_at_all_gives_an_empty_result(small, tmp_path):
    f = small.get_decomposition_factors().data
    ld = np.zeros_like(small.get_decomposition_loadings().data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one per empty map
        result = segment_decomposition(small, factors=f, loadings=ld)
    assert len(result) == 0
    assert result.maps.data.shape == (0, 16, 20)
    assert result.mean_patterns.data.shape == (0, 48, 48)
    result.save(tmp_path / "empty.hspy")
    from hyperspy_rnmf.segmentation import load_segmentation

    assert len(load_segmentation(tmp_path / "empty.hspy")) == 0

"""VDF route of nanocrystal segmentation on planted crystals (issue 7).

Planted data (``segmentation_data.py``, ``bent=False``): five crystals of four
orientations with known spot positions; A1 and A2 share an orientation (one
vector set, two places), C and D overlap.
"""

import numpy as np
import pytest

from hyperspy_rnmf.segmentation import compare_segmentations
from hyperspy_rnmf.segmentation.compare import compare_routes
from hyperspy_rnmf.segmentation.vdf_route import (
    DiffractionPeaks,
    UniqueVectors,
    estimate_vdf_parameters,
    find_diffraction_peaks,
    merge_vdf_segments,
    segment_vdf,
    subtract_background,
    unique_vectors,
    vdf_images,
    vdf_segments,
    virtual_patterns,
)
from hyperspy_rnmf.tests.segmentation_data import SIG_SCALE, planted_crystals


@pytest.fixture(scope="module")
def planted():
    return planted_crystals(random_state=0, bent=False)


@pytest.fixture(scope="module")
def result(planted):
    s, _ = planted
    return segment_vdf(s)


@pytest.fixture(scope="module")
def steps(planted):
    s, _ = planted
    peaks = find_diffraction_peaks(s)
    vectors = unique_vectors(peaks)
    vdfs = vdf_images(s, vectors)
    segments = vdf_segments(vdfs)
    return peaks, vectors, vdfs, segments


def _nearest(a, b):
    """For every row of a, the distance to the nearest row of b."""
    a, b = np.asarray(a, float).reshape(-1, 2), np.asarray(b, float).reshape(-1, 2)
    return np.hypot(*(a[:, None, :] - b[None, :, :]).transpose(2, 0, 1)).min(axis=1)


def test_defaults_are_derived_from_the_data(planted):
    s, truth = planted
    est = estimate_vdf_parameters(s)
    assert est["spot_sigma_px"] == pytest.approx(truth["spot_sigma"], rel=0.05)
    np.testing.assert_allclose(est["beam_centre_px"], (24.0, 24.0), atol=0.1)
    np.testing.assert_allclose(est["beam_centre"], (0.0, 0.0), atol=0.1 * SIG_SCALE)
    assert est["units"] == "1/A"
    assert est["spot_sigma"] == pytest.approx(est["spot_sigma_px"] * SIG_SCALE)
    assert est["radius_px"] == pytest.approx(2 * est["spot_sigma_px"])


def _separated_spots(spot_sigma, counts, dtype="float32", shape=(16, 16)):
    """One crystal (a disc in the scan) whose spots lie 7 widths apart, on a
    film (direct beam + halo), Poisson counts: known spot width and dose."""
    import hyperspy.api as hs

    rng = np.random.default_rng(3)
    size = int(16 * spot_sigma + 24)
    ky, kx = np.mgrid[0:size, 0:size] - size / 2
    beam = np.exp(-0.5 * np.hypot(ky, kx) ** 2 / 1.5**2)
    halo = np.exp(-np.hypot(ky, kx) / (size / 6))
    film = 0.6 * beam / beam.sum() + 0.4 * halo / halo.sum()
    step = 7.0 * spot_sigma
    spots = np.zeros((size, size))
    for i, j in [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, 1), (1, -1)]:
        gy, gx = i * step + 0.3, j * step - 0.2
        r2 = (ky - gy) ** 2 + (kx - gx) ** 2
        spots += rng.uniform(0.5, 1.5) * np.exp(-0.5 * r2 / spot_sigma**2)
    crystal = 0.7 * spots / spots.sum() + 0.3 * beam / beam.sum()
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    inside = np.hypot(y - shape[0] / 2, x - shape[1] / 2) < shape[0] / 3
    clean = counts * (film + inside[..., None, None] * crystal)
    return hs.signals.Signal2D(rng.poisson(clean).astype(dtype))


@pytest.mark.parametrize("spot_sigma", [0.8, 1.0])
def test_spot_size_of_small_weak_spots_is_not_biased_low(spot_sigma):
    # planted spots of 1 px at a few hundred counts per pattern came out
    # 0.61-0.86 px: the global background taken off the mean pattern took
    # part of every spot with it, and the log-curvature made them narrower
    s, truth = planted_crystals(
        0,
        bent=False,
        spot_sigma=spot_sigma,
        crystal_counts=300.0,
        background_counts=200.0,
    )
    est = estimate_vdf_parameters(s)
    assert est["spot_sigma_px"] == pytest.approx(spot_sigma, rel=0.05)
    assert est["n_spots_measured"] >= 10
    assert "fitted" in est["note"]


@pytest.mark.parametrize(
    "spot_sigma, counts, dtype",
    [(1.0, 300.0, "float64"), (2.5, 300.0, "float32"), (4.0, 3000.0, "float64")],
)
def test_spot_size_of_separated_spots_over_sizes_and_doses(spot_sigma, counts, dtype):
    s = _separated_spots(spot_sigma, counts, dtype)
    before = s.data.copy()
    est = estimate_vdf_parameters(s)
    assert est["spot_sigma_px"] == pytest.approx(spot_sigma, rel=0.05)
    np.testing.assert_array_equal(s.data, before)
    lazy = estimate_vdf_parameters(s.as_lazy())
    assert lazy["spot_sigma_px"] == pytest.approx(est["spot_sigma_px"], rel=1e-6)


def _beam_and_ring(beam, counts=20000.0, size=96):
    """A crystal's 12 spots (sigma 1.5 px, 32 px from the centre) around a
    direct beam ``beam(r)`` centred at (47.6, 48.3), over a film halo;
    Poisson counts, 3 x 3 probe positions: known beam centre and shape."""
    import hyperspy.api as hs

    rng = np.random.default_rng(5)
    ky, kx = np.mgrid[0:size, 0:size] - np.array([47.6, 48.3])[:, None, None]
    angles = np.linspace(0, 2 * np.pi, 13)[:-1]
    spots = sum(
        np.exp(
            -0.5 * ((ky - 32 * np.sin(a)) ** 2 + (kx - 32 * np.cos(a)) ** 2) / 1.5**2
        )
        for a in angles
    )
    beam = beam(np.hypot(ky, kx))
    halo = np.exp(-np.hypot(ky, kx) / 15)
    pattern = (
        0.5 * beam / beam.sum() + 0.3 * spots / spots.sum() + 0.2 * halo / halo.sum()
    )
    return hs.signals.Signal2D(
        rng.poisson(counts * np.broadcast_to(pattern, (3, 3) + pattern.shape))
    )


@pytest.mark.parametrize("radius", [3.0, 6.0, 10.0])
def test_a_disc_shaped_direct_beam_is_centred_and_covered(radius):
    """A convergent probe makes a disc, not a Gaussian: its flat top gave the
    old log-curvature width noise, and the centroid started from a random
    pixel of the top (2.6-4.3 px off for a 10 px disc)."""
    from scipy.special import erfc

    s = _beam_and_ring(lambda r: erfc((r - radius) / (0.7 * np.sqrt(2))))
    est = estimate_vdf_parameters(s)
    np.testing.assert_allclose(est["beam_centre_px"], (47.6, 48.3), atol=0.1)
    # a disc of radius R has the half-maximum area of a Gaussian of 0.85 R
    assert est["beam_sigma_px"] == pytest.approx(
        radius / np.sqrt(2 * np.log(2)), rel=0.12
    )
    # the disc (with its edge) is dropped, the spots 32 px out are kept
    assert radius + 1.5 < est["min_magnitude_px"] < 32 - 2
    assert est["spot_sigma_px"] == pytest.approx(1.5, rel=0.05)
    assert est["n_spots_measured"] == 12


@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.0])
def test_a_gaussian_direct_beam_gets_its_width(sigma):
    s = _beam_and_ring(lambda r: np.exp(-0.5 * r**2 / sigma**2))
    est = estimate_vdf_parameters(s)
    np.testing.assert_allclose(est["beam_centre_px"], (47.6, 48.3), atol=0.1)
    assert est["beam_sigma_px"] == pytest.approx(sigma, rel=0.12)


def _filtered_noise(noisy, clean, sigma):
    """Standard deviation over the scan of the filtered noise at every pixel
    (the planted expectation known), and its median over the pattern."""
    from hyperspy_rnmf.segmentation._vdf import dog_filter

    shape = (-1,) + noisy.data.shape[-2:]
    residual = dog_filter(noisy.data.reshape(shape), sigma, 6 * sigma) - dog_filter(
        clean.data.reshape(shape), sigma, 6 * sigma
    )
    return float(np.median(residual.std(axis=0)))


@pytest.mark.parametrize(
    "counts, lazy", [(100.0, False), (300.0, True), (30000.0, False)]
)
def test_noise_level_is_right_at_low_and_high_counts(counts, lazy):
    # a film without crystals (Poisson counts around a known expectation):
    # at ~300 counts per pattern the noise came out 2.4 times too low (3-sigma
    # clipping of mostly-zero pixels removed the counts themselves) and about
    # 18 noise peaks per pattern passed 6 x noise; at 30 000 counts it came
    # out 1.26 times too high
    def film(noise):
        s, _ = planted_crystals(
            0, bent=False, crystal_counts=1e-9, background_counts=counts, noise=noise
        )
        return s

    noisy, clean = film(True), film(False)
    true = _filtered_noise(noisy, clean, 1.0)
    peaks = find_diffraction_peaks(
        noisy.as_lazy() if lazy else noisy,
        spot_sigma=1.0 * SIG_SCALE,
        background_sigma=6.0 * SIG_SCALE,
    )
    assert peaks.parameters["noise_median"] == pytest.approx(true, rel=0.06)
    assert peaks.parameters["noise_gain"] == pytest.approx(1.0, rel=0.08)
    # the direct beam is the only peak of most patterns
    assert len(peaks) / np.prod(peaks.scan_shape) < 1.1


def test_noise_is_not_raised_by_crystals(planted):
    # with crystals, the noise is still that of the data (known expectation);
    # it came out 1.5 times too high (the film's direct beam, smoothed into
    # the background, and crystal-to-crystal changes counted as noise)
    s, _ = planted
    clean, _ = planted_crystals(0, bent=False, noise=False)
    peaks = find_diffraction_peaks(
        s, spot_sigma=SIG_SCALE, background_sigma=6 * SIG_SCALE
    )
    true = _filtered_noise(s, clean, 1.0)
    assert peaks.parameters["noise_median"] == pytest.approx(true, rel=0.08)


def test_noise_from_one_column_and_one_position(planted):
    from hyperspy_rnmf.segmentation._vdf_peaks import _neighbour_pairs

    first, second = _neighbour_pairs(4, 5, 100)
    assert len(first) == 16 and ((second - first) == 1).all()
    assert (first % 5 != 4).all()  # both in the same scan row
    first, second = _neighbour_pairs(6, 1, 100)
    np.testing.assert_array_equal(second, first + 1)
    assert _neighbour_pairs(1, 1, 100)[1] is None
    s, _ = planted
    column = find_diffraction_peaks(s.inav[20:21, :])
    assert column.parameters["n_noise_patterns"] == 2 * 43
    # one position: counts assumed (its own filtered energy gave a gain of
    # 98.6, and with the default n_sigma not even the direct beam was found)
    one = find_diffraction_peaks(s.inav[28:29, 11:12], spot_sigma=SIG_SCALE)
    assert one.parameters["n_noise_patterns"] == 1 and len(one) >= 3
    assert one.parameters["noise_gain"] == 1.0


@pytest.mark.parametrize("read", [0.3, 1.0])
def test_noise_level_with_read_noise(read):
    # an integrating detector adds Gaussian read noise to every pixel: the
    # counting model alone took it for counts, and at 300 counts per pattern
    # with read noise 1 the noise came out 2.4 times too low (2 noise peaks
    # per pattern instead of 1)
    noisy, _ = planted_crystals(
        0, bent=False, crystal_counts=1e-9, background_counts=300.0
    )
    clean, _ = planted_crystals(
        0, bent=False, crystal_counts=1e-9, background_counts=300.0, noise=False
    )
    extra = np.random.default_rng(5).normal(0.0, read, noisy.data.shape)
    noisy.data = (noisy.data + extra).astype(np.float32)
    true = _filtered_noise(noisy, clean, 1.0)
    peaks = find_diffraction_peaks(
        noisy, spot_sigma=1.0 * SIG_SCALE, background_sigma=6.0 * SIG_SCALE
    )
    assert peaks.parameters["noise_median"] == pytest.approx(true, rel=0.05)
    assert peaks.parameters["noise_additive"] == pytest.approx(read**2, rel=0.25)
    assert len(peaks) / np.prod(peaks.scan_shape) < 1.1


def test_every_unique_vector_is_found_within_half_a_pixel(planted, steps):
    _, truth = planted
    _, vectors, _, _ = steps
    planted_px = np.concatenate(truth["spot_pixels"])
    assert _nearest(planted_px, vectors.pixels).max() < 0.5
    # calibrated positions agree too
    planted_cal = np.concatenate(truth["vectors"])
    assert _nearest(planted_cal, vectors.vectors).max() < 0.5 * SIG_SCALE
    # vectors that are not planted are rare and seen in few patterns
    extra = _nearest(vectors.pixels, planted_px) > 0.5
    assert extra.sum() <= 5
    assert (vectors.counts[extra] < 0.2 * vectors.counts[~extra].min()).all()


def test_every_crystal_is_one_segment_with_its_vector_set(planted, result):
    _, truth = planted
    comparison = compare_segmentations(truth["masks"], result, min_iou=0.8)
    assert len(comparison.matches) == 5 and comparison.only_b == [], str(comparison)
    for crystal, segment, _ in comparison.matches:
        found = result.segment_vectors(segment)
        expected = truth["vectors"][truth["orientation"][crystal]]
        assert len(found) == len(expected)
        assert _nearest(expected, found).max() < 0.5 * SIG_SCALE
    assert result.route == "vdf"
    assert result.patterns.data.shape == (5, 48, 48)
    assert result.mean_patterns.data.shape == (5, 48, 48)


@pytest.mark.parametrize("lazy", [False, True])
def test_a_dead_nan_pixel_changes_nothing(planted, result, lazy):
    # one NaN pixel (a dead pixel after a flat field): the background filter
    # spread it over a third of every pattern and two crystals were lost
    s, truth = planted
    dead = s.deepcopy()
    dead.data = dead.data.astype(np.float32)
    dead.data[..., 5, 40] = np.nan
    found = segment_vdf(dead.as_lazy() if lazy else dead)
    comparison = compare_segmentations(truth["masks"], found, min_iou=0.8)
    assert len(comparison.matches) == 5 and comparison.only_b == [], str(comparison)
    assert len(found.merge_record["vectors"]) == len(result.merge_record["vectors"])
    assert np.isfinite(found.maps.data).all()


@pytest.mark.parametrize("lazy", [False, True])
def test_a_nan_frame_does_not_hide_the_direct_beam(planted, lazy):
    # one dropped frame stored as NaN made the mean pattern NaN everywhere:
    # the beam came out at (0, 0) and the spot size at its 1 px fallback
    s, truth = planted
    dropped = s.deepcopy()
    dropped.data = dropped.data.astype(np.float32)
    dropped.data[3, 4] = np.nan
    est = estimate_vdf_parameters(dropped.as_lazy() if lazy else dropped)
    np.testing.assert_allclose(est["beam_centre_px"], (24.0, 24.0), atol=0.1)
    assert est["spot_sigma_px"] == pytest.approx(truth["spot_sigma"], rel=0.05)


@pytest.mark.parametrize("lazy", [False, True])
def test_a_hot_pixel_brighter_than_the_beam_is_left_out(planted, result, lazy):
    # a stuck pixel at 60 000 counts set the fitted noise gain to a sixth
    # (noise peaks everywhere) and two crystals were merged away
    s, truth = planted
    hot = s.deepcopy()
    hot.data[..., 5, 7] = 60_000
    found = segment_vdf(hot.as_lazy() if lazy else hot)
    comparison = compare_segmentations(truth["masks"], found, min_iou=0.8)
    assert len(comparison.matches) == 5 and comparison.only_b == [], str(comparison)
    assert found.parameters["noise_median"] == pytest.approx(
        result.parameters["noise_median"], rel=0.01
    )
    assert found.parameters["hot_pixels_left_out"] == [[5, 7]]
    assert result.parameters["hot_pixels_left_out"] == []
    # the noise model recorded, as the user guide says
    assert found.parameters["noise_gain"] == pytest.approx(
        result.parameters["noise_gain"], rel=0.01
    )
    assert "noise_additive" in result.parameters


def test_threshold_method_is_recorded_as_used(planted):
    s, _ = planted
    assert segment_vdf(s, threshold="Li").parameters["threshold"] == "li"


def test_a_hot_pixel_is_not_the_direct_beam(planted):
    s, truth = planted
    hot = s.deepcopy()
    hot.data = hot.data.astype(np.float32)
    hot.data[..., 40, 8] = 5000.0
    est = estimate_vdf_parameters(hot)
    np.testing.assert_allclose(est["beam_centre_px"], (24.0, 24.0), atol=0.1)
    assert est["spot_sigma_px"] == pytest.approx(truth["spot_sigma"], rel=0.25)


def test_same_orientation_in_two_places_is_split(planted, result):
    _, truth = planted
    comparison = compare_segmentations(truth["masks"], result, min_iou=0.8)
    seg = {c: j for c, j, _ in comparison.matches}
    assert seg[0] != seg[1]  # A1 and A2
    record = result.merge_record
    assert record["segment_vectors"][seg[0]] == record["segment_vectors"][seg[1]]


def test_virtual_patterns_have_spots_at_the_vectors(result):
    for i in range(len(result)):
        pattern = result.patterns.data[i]
        vectors = result.segment_vectors(i)
        axes = result.patterns.axes_manager.signal_axes
        cols = np.round((vectors[:, 0] - axes[0].offset) / axes[0].scale).astype(int)
        rows = np.round((vectors[:, 1] - axes[1].offset) / axes[1].scale).astype(int)
        assert (pattern[rows, cols] > 0.2 * pattern.max()).all()


def test_virtual_patterns_integrate_to_the_intensities():
    patterns = virtual_patterns(
        [np.array([[20.3, 18.6], [30.0, 31.2]])], [np.array([5.0, 2.0])], (48, 48), 1.2
    )
    assert patterns.shape == (1, 48, 48)
    assert patterns.sum() == pytest.approx(7.0, rel=1e-6)


def test_vdf_stack_is_one_product_equal_to_aperture_sums(planted, steps):
    s, _ = planted
    _, vectors, vdfs, _ = steps
    plain = vdf_images(s, vectors, background=False)
    assert plain.axes_manager.navigation_shape == (len(vectors),)
    assert plain.axes_manager.signal_shape == (56, 44)
    radius = plain.metadata.VDF.radius_px
    ky, kx = np.mgrid[0:48, 0:48]
    for i in (0, len(vectors) // 2):
        cy, cx = vectors.pixels[i]
        # pixels weighted by the part of their area inside the disc (4 x 4
        # sub-pixels), one aperture at a time
        sub = (np.arange(4) + 0.5) / 4 - 0.5
        d = np.hypot(
            ky[..., None, None] + sub[:, None] - cy,
            kx[..., None, None] + sub[None, :] - cx,
        )
        weight = (d <= radius).mean(axis=(2, 3))
        assert weight.sum() == pytest.approx(np.pi * radius**2, rel=0.05)
        expected = np.tensordot(s.data.astype(float), weight, axes=((2, 3), (0, 1)))
        np.testing.assert_allclose(plain.data[i], expected, rtol=1e-12, atol=1e-9)
    # calibration of the scan, vectors in metadata
    for got, want in zip(
        vdfs.axes_manager.signal_axes, s.axes_manager.navigation_axes, strict=True
    ):
        assert (got.scale, got.units) == (want.scale, want.units)
    np.testing.assert_allclose(vdfs.metadata.VDF.vectors, vectors.vectors)


def test_lazy_peak_search_reads_each_chunk_twice(planted, steps):
    """The noise sample (pairs of neighbouring patterns spread over the
    scan) touches nearly every chunk; read on its own it cost one more pass.
    It is now read with the mean pattern of the defaults."""
    import hyperspy.api as hs

    from hyperspy_rnmf.tests.helpers import counting_reads

    s, _ = planted
    data, reads = counting_reads(s.data, (11, 14, 48, 48))  # 4 x 4 chunks
    lazy = hs.signals.Signal2D(data).as_lazy()
    for axis, model in zip(lazy.axes_manager._axes, s.axes_manager._axes, strict=True):
        axis.scale, axis.offset, axis.units = model.scale, model.offset, model.units
    peaks = find_diffraction_peaks(lazy, show_progressbar=False)
    assert len(reads) == 2 * 16  # the defaults with the sample, the peaks
    eager = steps[0]

    def ordered(p):  # chunks come in another order than scan rows
        order = np.lexsort(
            (p.pixels[:, 1], p.pixels[:, 0], p.probe[:, 1], p.probe[:, 0])
        )
        return p.probe[order], p.pixels[order]

    (probe, pixels), (eager_probe, eager_pixels) = ordered(peaks), ordered(eager)
    np.testing.assert_array_equal(probe, eager_probe)
    np.testing.assert_allclose(pixels, eager_pixels, rtol=1e-6)


def test_vdf_images_from_calibrated_array(planted, steps):
    s, _ = planted
    _, vectors, vdfs, _ = steps
    again = vdf_images(s, np.asarray(vectors), radius=vdfs.metadata.VDF.radius)
    np.testing.assert_allclose(again.data, vdfs.data, rtol=1e-10, atol=1e-9)


def test_lazy_signal_gives_the_same_result(planted, result):
    s, _ = planted
    lazy = s.as_lazy()
    lazy.data = lazy.data.rechunk((11, 28, 48, 48))
    lazy_result = segment_vdf(lazy, show_progressbar=True)
    np.testing.assert_array_equal(lazy_result.masks.data, result.masks.data)
    np.testing.assert_allclose(
        lazy_result.merge_record["vectors"], result.merge_record["vectors"]
    )
    np.testing.assert_allclose(
        lazy_result.mean_patterns.data, result.mean_patterns.data, rtol=1e-10
    )
    background = subtract_background(lazy)
    assert background._lazy
    eager_background = subtract_background(s)
    np.testing.assert_allclose(
        np.asarray(background.data), eager_background.data, rtol=1e-5, atol=1e-5
    )


def test_background_subtraction_keeps_shape_and_calibration(planted):
    s, _ = planted
    out = subtract_background(s, spot_sigma=0.05, background_sigma=0.3)
    assert out.data.shape == s.data.shape and out.data.dtype == np.float32
    assert out.axes_manager.signal_axes[0].scale == s.axes_manager.signal_axes[0].scale
    assert out.metadata.Segmentation.background.spot_sigma_px == pytest.approx(1.0)
    # the diffuse halo is gone: far from spots the mean is about zero
    assert abs(float(out.data[..., 2:6, 2:6].mean())) < 0.05


def test_peaks_and_count_map(planted, steps):
    s, _ = planted
    peaks, _, _, _ = steps
    assert isinstance(peaks, DiffractionPeaks) and len(peaks) > 1000
    counts = peaks.count_map()
    assert counts.data.shape == (44, 56) and counts.data.sum() == len(peaks)
    assert counts.axes_manager.signal_axes[0].scale == 2.5
    assert peaks.parameters["n_sigma"] == 6.0
    np.testing.assert_allclose(
        peaks.vectors[:, 0], -1.2 + peaks.pixels[:, 1] * SIG_SCALE
    )


def test_merging_does_not_depend_on_segment_order(steps):
    _, _, _, segments = steps
    images, masks, vector = segments["images"], segments["masks"], segments["vector"]
    reference = merge_vdf_segments(images, masks, vector)
    rng = np.random.default_rng(0)
    for linkage in ("complete", "single"):
        reference = merge_vdf_segments(images, masks, vector, linkage=linkage)
        for _ in range(3):
            perm = rng.permutation(len(images))
            shuffled = merge_vdf_segments(
                images[perm], masks[perm], vector[perm], linkage=linkage
            )
            mapped = sorted(sorted(int(perm[i]) for i in g) for g in shuffled["groups"])
            assert mapped == sorted(reference["groups"])
            key = np.lexsort(reference["masks"].reshape(len(reference["masks"]), -1).T)
            key_s = np.lexsort(shuffled["masks"].reshape(len(shuffled["masks"]), -1).T)
            np.testing.assert_array_equal(
                shuffled["masks"][key_s], reference["masks"][key]
            )


def test_merge_thresholds(steps):
    _, _, _, segments = steps
    args = (segments["images"], segments["masks"], segments["vector"])
    assert (
        merge_vdf_segments(*args, vector_threshold=50, segment_threshold=2)["groups"]
        == []
    )
    loose = merge_vdf_segments(*args, segment_threshold=1)
    strict = merge_vdf_segments(*args, segment_threshold=4)
    assert loose["masks"].sum() >= strict["masks"].sum()
    with pytest.raises(ValueError, match=r"`segment_threshold` \(5\) must not exceed"):
        merge_vdf_segments(*args, vector_threshold=4, segment_threshold=5)
    with pytest.raises(ValueError, match="`drop_composites` must be True or False"):
        merge_vdf_segments(*args, drop_composites="yes")


def test_composite_of_two_crystals_is_dropped():
    """A reflection shared by two touching crystals shows both: its group is
    dropped and its vectors go to both crystals."""
    shape = (20, 40)
    left = np.zeros(shape, bool)
    left[5:15, 2:20] = True
    right = np.zeros(shape, bool)
    right[5:15, 20:38] = True
    masks = np.array([left] * 5 + [right] * 5 + [left | right] * 5)
    rng = np.random.default_rng(1)
    images = masks * rng.uniform(50, 60, masks.shape)
    vector = np.arange(15)
    merged = merge_vdf_segments(images, masks, vector)
    assert len(merged["groups"]) == 2
    assert merged["vectors"] == [
        list(range(5)) + list(range(10, 15)),
        list(range(5, 15)),
    ]
    assert merged["shared_vectors"] == [list(range(10, 15))] * 2
    assert merged["composites"][0]["vectors"] == list(range(10, 15))
    kept = merge_vdf_segments(images, masks, vector, drop_composites=False)
    assert len(kept["groups"]) == 3


def test_inputs_are_not_modified(planted):
    s, _ = planted
    small = s.inav[:30, :24]
    before = small.data.copy()
    segment_vdf(small, vector_threshold=3, segment_threshold=2)
    subtract_background(small)
    np.testing.assert_array_equal(small.data, before)


def test_result_round_trip(result, tmp_path):
    from hyperspy_rnmf.segmentation import SegmentationResult

    result.save(tmp_path / "vdf.hspy")
    loaded = SegmentationResult.load(tmp_path / "vdf.hspy")
    assert loaded.route == "vdf"
    assert loaded.merge_record == result.merge_record
    assert loaded.parameters == result.parameters
    np.testing.assert_array_equal(loaded.patterns.data, result.patterns.data)
    np.testing.assert_allclose(loaded.segment_vectors(0), result.segment_vectors(0))
    assert len(loaded.plot().axes) == 3 * len(result)


def test_compare_routes_tabulates_matches(planted):
    s, truth = planted
    s = s.deepcopy()
    s.decomposition("rnmf", output_dimension=5, random_state=0)
    factors = s.learning_results.factors.T
    bg = int(
        np.argmax(
            (factors / np.linalg.norm(factors, axis=1, keepdims=True))
            @ truth["factors"][0].ravel()
        )
    )
    comparison, nmf, vdf = compare_routes(s, nmf={"exclude": [bg]}, min_iou=0.8)
    assert len(comparison.matches) == 5
    assert comparison.only_a == [] and comparison.only_b == []
    text = str(comparison)
    assert "NMF route" in text and "VDF route" in text
    assert nmf.route == "nmf" and vdf.route == "vdf"
    with pytest.raises(ValueError, match="`min_iou` must be a number in"):
        compare_routes(s, nmf={"exclude": list(range(5))}, min_iou=0)


# ------------------------------------------------------------- bad input
def _uncalibrated(planted):
    import hyperspy.api as hs

    s, _ = planted
    return hs.signals.Signal2D(s.data[:12, :14])


def test_calibrated_parameters_need_calibrated_axes(planted):
    s = _uncalibrated(planted)
    for name in ("spot_sigma", "eps", "radius", "min_magnitude", "background_sigma"):
        with pytest.raises(
            ValueError,
            match=rf"`{name}` \(0.05\) is in calibrated "
            "units, but the signal axes",
        ):
            segment_vdf(s, **{name: 0.05})
    with pytest.raises(ValueError, match="`vectors` are in calibrated units"):
        vdf_images(s, np.zeros((2, 2)))
    # defaults derived from the data work on uncalibrated data (in pixels)
    est = estimate_vdf_parameters(s)
    assert est["units"] == "px" and est["spot_sigma"] == est["spot_sigma_px"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"vector_threshold": 3, "segment_threshold": 4},
            r"`segment_threshold` \(4\) must not exceed `vector_threshold` \(3\)",
        ),
        (
            {"corr_threshold": 1.5},
            r"`corr_threshold` must be a number in \[-1.0, 1.0\]",
        ),
        ({"linkage": "average"}, r"`linkage` must be one of"),
        ({"min_size": 0}, r"`min_size` must be an integer >= 1"),
        ({"spot_sigma": -0.05}, r"`spot_sigma` must be a number in \(0, inf\)"),
        ({"mean_patterns": 1}, r"`mean_patterns` must be True or False"),
        ({"threshold": 2.0}, r"`threshold` must be a number in \(0, 1\)"),
        ({"vector_threshold": 0}, r"`vector_threshold` must be an integer >= 1"),
        (
            {"radius": 3.0},
            r"`radius` \(3, 60 pixels\) is larger than half the pattern \(1.2, 24",
        ),
    ],
)
def test_bad_parameters_raise(planted, kwargs, message):
    s, _ = planted
    with pytest.raises(ValueError, match=message):
        segment_vdf(s.inav[:8, :8], **kwargs)


def test_no_peak_says_which_parameter_to_change(planted):
    s, _ = planted
    with pytest.raises(
        ValueError,
        match=r"No diffraction peak found .* lower "
        r"`n_sigma` \(now 1000000.0\)",
    ):
        find_diffraction_peaks(s.inav[:8, :8], n_sigma=1e6)


def test_no_vector_says_which_parameter_to_change(steps):
    peaks, _, _, _ = steps
    with pytest.raises(
        ValueError,
        match=r"0 unique vectors: .* Lower `min_samples` "
        r"\(now 100000\) or raise `eps`.* `n_sigma`",
    ):
        unique_vectors(peaks, min_samples=100000)
    with pytest.raises(TypeError, match="`peaks` must be DiffractionPeaks"):
        unique_vectors(np.zeros((3, 2)))


def test_no_group_warns_with_the_parameters_to_change(planted):
    s, _ = planted
    with pytest.warns(
        UserWarning,
        match=r"No group of at least `vector_threshold` "
        r"= 40 .* lower `vector_threshold` or `corr_threshold`; or, if most of "
        r"the \d+ peaks \([\d.]+ per pattern\) are noise \(low counts\), raise "
        r"`n_sigma` \(now 6\)",
    ):
        result = segment_vdf(s, vector_threshold=40)
    assert len(result) == 0


def test_signal_shape_errors(planted):
    import hyperspy.api as hs

    with pytest.raises(ValueError, match="needs 2D diffraction patterns"):
        estimate_vdf_parameters(hs.signals.Signal1D(np.ones((4, 5, 30))))
    with pytest.raises(ValueError, match=r"`vectors` \(shape \(3,\)\) must be"):
        vdf_images(planted[0], np.zeros(3))
    with pytest.raises(ValueError, match="`background` must be True or False"):
        vdf_images(planted[0], np.zeros((1, 2)), background="annulus")
    assert isinstance(unique_vectors(find_diffraction_peaks(planted[0])), UniqueVectors)

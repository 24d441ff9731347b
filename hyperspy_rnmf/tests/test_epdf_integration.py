"""Azimuthal integration to ePDF I(Q) (hyperspy_rnmf.integration, pyFAI)."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_rnmf._azimuthal import electron_wavelength, find_direct_beam
from hyperspy_rnmf.integration import (
    integrate_azimuthal,
    integrate_decomposition_factors,
)

SHAPE = (96, 120)  # non-square on purpose
CENTER = (61.3, 45.8)  # (x, y) pixels


def ring(radius, center=CENTER, shape=SHAPE, width=1.2, amplitude=1.0):
    y, x = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(x - center[0], y - center[1])
    return amplitude * np.exp(-0.5 * ((r - radius) / width) ** 2)


def peak_q(signal):
    """Q of the maximum of every I(Q) (n,)."""
    q = signal.axes_manager.signal_axes[0].axis
    rows = np.asarray(signal.data).reshape(-1, q.size)
    return q[np.nanargmax(rows, axis=1)]


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
@pytest.mark.parametrize("convention", ["s", "q"])
def test_ring_integrates_to_its_q(lazy, dtype, convention):
    dq = 0.08  # 1/Å per pixel, Q convention
    radii = np.array([[18.0, 24.5], [30.2, 36.7]])
    data = np.stack([[ring(r) for r in row] for row in radii]) * 1000
    s = hs.signals.Signal2D(data.astype(dtype))
    if lazy:
        s = s.as_lazy()
    size = dq / (2 * np.pi) if convention == "s" else dq
    iq = integrate_azimuthal(
        s, reciprocal_pixel_size=size, convention=convention, center=CENTER
    )
    assert iq._lazy is lazy
    assert type(iq).__name__ == ("LazyePDFSignal1D" if lazy else "ePDFSignal1D")
    axis = iq.axes_manager.signal_axes[0]
    assert axis.units == "1/Å"
    assert iq.data.dtype == (np.float32 if dtype == np.float32 else np.float64)
    np.testing.assert_allclose(axis.scale, dq, rtol=0.02)  # one bin per pixel
    if lazy:
        iq.compute()
    np.testing.assert_array_less(np.abs(peak_q(iq) - radii.ravel() * dq), axis.scale)
    assert iq.data.shape == (2, 2, axis.size)


def test_physical_geometry_relativistic_wavelength():
    np.testing.assert_allclose(electron_wavelength(200), 0.025079, atol=2e-6)
    np.testing.assert_allclose(electron_wavelength(300), 0.019687, atol=2e-6)
    camera_length, pixel_size, energy = 120.0, 55.0, 200.0  # mm, µm, keV
    radius = 40.0
    s = hs.signals.Signal2D(ring(radius))
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", energy)
    iq = integrate_azimuthal(
        s, camera_length=camera_length, pixel_size=pixel_size, center=CENTER
    )
    two_theta = np.arctan(radius * pixel_size * 1e-3 / camera_length)
    expected = 4 * np.pi * np.sin(two_theta / 2) / electron_wavelength(energy)
    assert abs(peak_q(iq)[0] - expected) < iq.axes_manager[0].scale
    record = iq.metadata.Signal.ePDF.integration
    assert record.camera_length_mm == camera_length
    assert record.correct_solid_angle is True
    assert iq.metadata.Acquisition_instrument.TEM.beam_energy == energy


def test_equals_pyfai_integrate1d_with_mask_and_solid_angle():
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    rng = np.random.default_rng(0)
    image = rng.random(SHAPE) + ring(30)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[40:52, :70] = True  # beam-stop arm
    mask[5, 7] = True  # dead pixel
    iq = integrate_azimuthal(
        hs.signals.Signal2D(image),
        camera_length=80.0,
        pixel_size=55.0,
        beam_energy=300.0,
        center=CENTER,
        mask=mask,
        npt=90,
        q_range=(0.5, 6.0),
    )
    p = 55e-6
    ai = AzimuthalIntegrator(
        dist=0.08,
        poni1=(CENTER[1] + 0.5) * p,
        poni2=(CENTER[0] + 0.5) * p,
        detector=Detector(pixel1=p, pixel2=p, max_shape=SHAPE),
        wavelength=electron_wavelength(300.0) * 1e-10,
    )
    ref = ai.integrate1d(
        image,
        90,
        unit="q_A^-1",
        radial_range=(0.5, 6.0),
        mask=mask.astype(np.int8),
        correctSolidAngle=True,
        method=("bbox", "csr", "cython"),
    )
    np.testing.assert_allclose(iq.axes_manager[0].axis, ref.radial, rtol=1e-6)
    empty = np.isnan(iq.data)  # the beam stop covers the centre: empty bins
    assert 0 < empty.sum() < 30
    np.testing.assert_array_equal(ref.intensity[empty], 0.0)  # pyFAI fills with 0
    np.testing.assert_allclose(iq.data[~empty], ref.intensity[~empty], rtol=1e-5)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_pixels_are_masked_in_their_pattern_only(lazy, bad):
    # a dead pixel set to NaN in one pattern: that pattern is integrated as
    # if the pixel were masked (pyFAI's integrate1d skips NaN pixels), the
    # others as they are; before, its bins were NaN and get_pdf refused
    rng = np.random.default_rng(2)
    data = rng.poisson(50 * (ring(25) + 0.1), size=(3,) + SHAPE).astype(np.float32)
    dead = data.copy()
    dead[1, 40, 60] = bad
    kwargs = dict(reciprocal_pixel_size=0.01, convention="q", center=CENTER)
    s = hs.signals.Signal2D(dead)
    iq = integrate_azimuthal(s.as_lazy() if lazy else s, lazy_output=False, **kwargs)
    clean = integrate_azimuthal(hs.signals.Signal2D(data), **kwargs)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[40, 60] = True
    masked = integrate_azimuthal(hs.signals.Signal2D(data[1]), mask=mask, **kwargs)
    assert np.isfinite(iq.data[:, 2:]).all()
    np.testing.assert_allclose(iq.data[[0, 2]], clean.data[[0, 2]], rtol=1e-6)
    np.testing.assert_allclose(iq.data[1], masked.data, rtol=1e-6)
    assert not np.allclose(iq.data[1], clean.data[1], rtol=1e-6)
    assert np.isnan(dead[1, 40, 60]) == np.isnan(bad)  # input not modified


@pytest.mark.parametrize("lazy", [False, True])
def test_lazy_equals_eager_and_input_not_modified(lazy):
    rng = np.random.default_rng(1)
    data = rng.poisson(50 * (ring(25) + 0.1), size=(3, 4) + SHAPE).astype(np.float64)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:10, :10] = True
    data_before, mask_before = data.copy(), mask.copy()
    s = hs.signals.Signal2D(data)
    kwargs = dict(reciprocal_pixel_size=0.01, convention="s", center=CENTER, mask=mask)
    eager = integrate_azimuthal(s, **kwargs)
    lz = s.as_lazy()
    lz.data = lz.data.rechunk((2, 3, -1, -1))
    other = integrate_azimuthal(lz, lazy_output=not lazy, **kwargs)
    assert other._lazy is not lazy
    if other._lazy:
        other.compute()
    np.testing.assert_allclose(other.data, eager.data, rtol=1e-12)
    np.testing.assert_array_equal(data, data_before)
    np.testing.assert_array_equal(mask, mask_before)
    nav = [a.size for a in eager.axes_manager.navigation_axes]
    assert nav == [4, 3]


@pytest.mark.parametrize("radius", [4.0, 12.0, 20.0])
def test_the_centre_of_a_disc_shaped_beam(radius):
    """The disc of a convergent probe, with Debye rings and Poisson counts:
    its centroid used to be taken in a window of 1/16 of the pattern around
    the brightest smoothed pixel, anywhere on the flat top (3.3 and 4.9 px
    off for the discs of 12 and 20 px)."""
    from scipy.special import erfc

    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    r = np.hypot(x - CENTER[0], y - CENTER[1])
    disc = 50 * erfc((r - radius) / (0.8 * np.sqrt(2)))
    clean = disc + ring(35, amplitude=5) + ring(52, amplitude=3) + 2
    noisy = np.random.default_rng(0).poisson(clean * 50) / 50
    np.testing.assert_allclose(find_direct_beam(noisy), CENTER, atol=0.05)


def test_a_hot_pixel_is_not_the_direct_beam():
    """A stuck pixel brighter than the beam (common on counting detectors)
    was taken for the beam, even when the user masked it: the centre was
    searched before the mask was applied."""
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    beam = 1000 * np.exp(-0.5 * np.hypot(x - CENTER[0], y - CENTER[1]) ** 2 / 2**2)
    clean = beam + ring(30, amplitude=20) + 5
    data = np.random.default_rng(1).poisson(np.broadcast_to(clean, (3, 4) + SHAPE))
    data = data.astype(np.float32)
    data[..., 10, 100] = 60_000
    with pytest.warns(UserWarning, match=r"at \(x, y\) = \[\(100, 10\)\]"):
        found = find_direct_beam(data.mean(axis=(0, 1)))
    np.testing.assert_allclose(found, CENTER, atol=0.05)
    mask = np.zeros(SHAPE, bool)
    mask[10, 100] = True
    kwargs = dict(reciprocal_pixel_size=0.01, convention="q")
    for s in (hs.signals.Signal2D(data), hs.signals.Signal2D(data).as_lazy()):
        with pytest.warns(UserWarning, match="hot pixels, or a beam narrower"):
            integrate_azimuthal(s, **kwargs)
        # masked by the user: no warning, the same centre
        record = integrate_azimuthal(s, mask=mask, **kwargs).metadata.Signal.ePDF
        centre = [record.integration.center_x, record.integration.center_y]
        np.testing.assert_allclose(centre, CENTER, atol=0.05)


@pytest.mark.parametrize("gap", [[48], [47, 48, 49]])
def test_a_dead_detector_line_through_the_beam(gap):
    """The chip gaps of a Medipix quad (NaN) through the beam cut its
    half-maximum region in two, and the half without the seed was dropped:
    1.4-2.6 px off, the width a third low (both routes)."""
    from hyperspy_rnmf.segmentation._vdf import describe_mean_pattern

    y, x = np.mgrid[:96, :96]
    image = 1000 * np.exp(-0.5 * ((y - 47.6) ** 2 + (x - 48.3) ** 2) / 3**2) + 10
    image[:, gap] = np.nan
    tolerance = 0.05 if len(gap) == 1 else 0.25
    np.testing.assert_allclose(find_direct_beam(image), (48.3, 47.6), atol=tolerance)
    described = describe_mean_pattern(image)
    np.testing.assert_allclose(described["beam_centre"], (47.6, 48.3), atol=tolerance)
    assert described["beam_sigma"] == pytest.approx(3.0, rel=0.12)
    # with counting noise: the same, and no warning about hot pixels (the
    # beam's height was read at its centre, a dead pixel: every noise
    # maximum outshone it)
    noisy = np.random.default_rng(0).poisson(np.nan_to_num(image)).astype(float)
    noisy[:, gap] = np.nan
    np.testing.assert_allclose(find_direct_beam(noisy), (48.3, 47.6), atol=0.3)


def test_a_beam_narrower_than_a_pixel_is_named_in_a_warning():
    """Such a beam looks exactly like a hot pixel: it is left out of the
    search (the centre lands elsewhere), but the warning names it."""
    image = np.zeros(SHAPE)
    image[round(CENTER[1]), round(CENTER[0])] = 1e4
    image += ring(30, amplitude=5) + 1
    where = rf"\[\({round(CENTER[0])}, {round(CENTER[1])}\)\]"
    with pytest.warns(UserWarning, match=where):
        find_direct_beam(image)


@pytest.mark.parametrize("shift", [0.0, 0.7])
def test_a_masked_direct_beam_is_still_found(shift):
    """A direct-beam disc masked for the integration (or by the
    decomposition's ``signal_mask``): the centre was the centroid of the
    hole's rim, 0.5-2.6 px off, with no word."""
    shape, cx, cy = (40, 56), 30.2, 18.7
    y, x = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(x - cx, y - cy)
    beam, halo = np.exp(-0.5 * (r / 1.5) ** 2), np.exp(-r / 15)
    # a Bragg spot, far from the beam, that wins in factors without the beam
    halo = halo + 12 * np.exp(-0.5 * ((x - 10) ** 2 + (y - 8) ** 2) / 1.5**2)
    first = 200 * beam + 20 * np.exp(-0.5 * ((r - 12) / 1.2) ** 2) + 5 * halo
    second = 200 * beam + 20 * np.exp(-0.5 * ((r - 18) / 1.2) ** 2) + 5 * halo
    left = np.zeros((10, 12))
    left[:, :6] = 1
    weights = np.stack([left.ravel(), 1 - left.ravel()], axis=1) * 5000 + 500
    patterns = np.stack([first.ravel() / first.sum(), second.ravel() / second.sum()])
    clean = (weights @ patterns).reshape((10, 12) + shape)
    s = hs.signals.Signal2D(np.random.default_rng(0).poisson(clean).astype("float32"))
    disc = np.hypot(x - cx - shift, y - cy) <= 4
    kwargs = dict(reciprocal_pixel_size=0.01, convention="s")
    record = integrate_azimuthal(
        s, mask=disc, **kwargs
    ).metadata.Signal.ePDF.integration
    np.testing.assert_allclose([record.center_x, record.center_y], (cx, cy), atol=0.1)
    s.decomposition(
        algorithm="rnmf", output_dimension=2, signal_mask=disc, random_state=0
    )
    iq = integrate_decomposition_factors(s, **kwargs)
    record = iq.metadata.Signal.ePDF.integration
    np.testing.assert_allclose([record.center_x, record.center_y], (cx, cy), atol=0.1)
    assert record.center_rule.endswith("of the data (the factors may miss it)")
    # hot pixels masked far from the beam: the factors' own beam, no data read
    hot = np.zeros(shape, bool)
    hot[2, 3] = hot[35, 50] = True
    s.decomposition(
        algorithm="rnmf", output_dimension=2, signal_mask=hot, random_state=0
    )
    record = integrate_decomposition_factors(s, **kwargs).metadata.Signal.ePDF
    centre = [record.integration.center_x, record.integration.center_y]
    np.testing.assert_allclose(centre, (cx, cy), atol=0.1)
    assert record.integration.center_rule.endswith("of the factors")


def test_a_nan_frame_does_not_hide_the_direct_beam():
    """One dropped frame stored as NaN made the mean pattern NaN everywhere,
    and the centre came out at (0, 0) without a word."""
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    beam = 1000 * np.exp(-0.5 * np.hypot(x - CENTER[0], y - CENTER[1]) ** 2 / 2**2)
    data = np.broadcast_to(beam + ring(30, amplitude=20) + 5, (3, 4) + SHAPE).copy()
    data[1, 2] = np.nan
    data[..., 40:43, 60:63] = np.nan  # and dead pixels on the beam in every frame
    for s in (hs.signals.Signal2D(data), hs.signals.Signal2D(data).as_lazy()):
        record = integrate_azimuthal(
            s, reciprocal_pixel_size=0.01, convention="q"
        ).metadata.Signal.ePDF.integration
        np.testing.assert_allclose([record.center_x, record.center_y], CENTER, atol=0.3)


@pytest.mark.parametrize("hot", [False, True])
def test_no_direct_beam_in_a_pattern_without_counts(hot):
    image = np.zeros(SHAPE)
    if hot:
        image[3, 100] = 1e4  # a hot pixel alone is no beam
    with pytest.raises(
        ValueError, match="No direct beam: the mean pattern has no counts"
    ):
        find_direct_beam(image)
    data = np.broadcast_to(image, (2, 2) + SHAPE)
    with pytest.raises(ValueError, match="Pass `center`"):
        integrate_azimuthal(
            hs.signals.Signal2D(data), reciprocal_pixel_size=0.01, convention="q"
        )


@pytest.mark.parametrize("slope", [4.0, 8.0, 12.0, 40.0])
def test_a_strong_background_gradient_does_not_beat_the_beam(slope):
    """A diffuse ramp rising to 0.5-4.8 x the beam's peak across the
    pattern: from 1.4 x the centre was tens of pixels off (the ramp won, or
    the beam's half-maximum region ran into it) until the slowly varying
    background was taken off."""
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    beam = 1000 * np.exp(-0.5 * np.hypot(x - CENTER[0], y - CENTER[1]) ** 2 / 2**2)
    image = beam + slope * x + ring(30, amplitude=20)
    image = np.random.default_rng(2).poisson(image * 10) / 10
    np.testing.assert_allclose(find_direct_beam(image), CENTER, atol=0.2)


def test_beam_centre_off_the_detector():
    # a ring around (x=-10, y=30), off the pattern, and a Bragg spot: the
    # axes' centre used to be replaced by the spot's centroid without a word,
    # and center=(-10, 30) was refused
    off = (-10.0, 30.0)
    image = ring(40, center=off) + ring(0, center=(50, 10), width=2.0, amplitude=5)
    s = hs.signals.Signal2D(image)
    for axis, c in zip(s.axes_manager.signal_axes, off, strict=True):
        axis.scale, axis.units, axis.offset = 0.01, "q_A^-1", -c * 0.01
    with pytest.warns(UserWarning, match=r"put Q = 0 at pixel \(-10, 30\), outside"):
        fallback = integrate_azimuthal(s)
    assert fallback.metadata.Signal.ePDF.integration.center_rule.startswith("direct")
    iq = integrate_azimuthal(s, center=off)
    assert peak_q(iq) == pytest.approx(0.4, abs=iq.axes_manager[0].scale)


def test_eager_progressbar_over_many_patterns(capsys):
    data = np.broadcast_to(ring(20, shape=(24, 30), center=(15, 12)), (300, 24, 30))
    iq = integrate_azimuthal(
        hs.signals.Signal2D(np.array(data)),
        reciprocal_pixel_size=0.1,
        convention="q",
        center=(15, 12),
        show_progressbar=True,
    )
    assert iq.data.shape[0] == 300
    assert "100%" in capsys.readouterr().err


def test_center_from_pyxem_style_axes_and_direct_beam():
    dq_s = 0.012  # 1/Å per pixel, s = 1/d
    s = hs.signals.Signal2D(ring(28) + ring(0, width=2.0, amplitude=20))
    for axis, c in zip(s.axes_manager.signal_axes, CENTER, strict=True):
        axis.scale, axis.offset, axis.units = dq_s, -c * dq_s, "k_A^-1"
    iq = integrate_azimuthal(s)
    record = iq.metadata.Signal.ePDF.integration
    assert record.center_rule == "signal axes (where Q = 0)"
    np.testing.assert_allclose([record.center_x, record.center_y], CENTER)
    assert "s convention" in record.calibration
    assert (
        abs(peak_q(iq.isig[1.0:])[0] - 28 * dq_s * 2 * np.pi) < iq.axes_manager[0].scale
    )
    # the same pattern without offsets: the direct beam gives the centre
    found = find_direct_beam(s.data)
    np.testing.assert_allclose(found, CENTER, atol=0.05)
    plain = hs.signals.Signal2D(s.data.copy())
    iq2 = integrate_azimuthal(plain, reciprocal_pixel_size=dq_s, convention="s")
    assert iq2.metadata.Signal.ePDF.integration.center_rule.startswith("direct beam")
    outside = iq.axes_manager[0].axis > 1.0  # beyond the steep direct beam
    np.testing.assert_allclose(
        iq2.data[outside], iq.data[outside], rtol=1e-2, atol=1e-3
    )


def test_masks_beam_stop_and_direct_beam():
    image = ring(30) + 5.0
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:, :3] = True  # dead columns
    iq = integrate_azimuthal(
        hs.signals.Signal2D(image),
        reciprocal_pixel_size=0.1,
        convention="q",
        center=CENTER,
        mask=mask,
        direct_beam_radius=10,
    )
    q = iq.axes_manager[0].axis
    # bins inside the masked disc are empty: NaN, never zero-filled
    assert np.all(np.isnan(iq.data[q < 0.9]))
    assert np.all(np.isfinite(iq.data[(q > 1.1) & (q < 4.0)]))
    record = iq.metadata.Signal.ePDF.integration
    disc = np.hypot(*np.meshgrid(np.arange(120) - CENTER[0], np.arange(96) - CENTER[1]))
    assert record.masked_pixels == int(np.sum(mask | (disc <= 10)))
    assert record.direct_beam_radius == 10


def test_nmf_factors_one_iq_per_component():
    # two phases with rings at different radii, planted as a rank-2 4D signal
    rng = np.random.default_rng(2)
    radii = (16.0, 31.0)
    patterns = np.stack([ring(r) + ring(0, width=2, amplitude=3) + 0.05 for r in radii])
    loadings = rng.random((6, 7, 2))
    loadings[:3, :, 1] *= 0.05
    loadings[3:, :, 0] *= 0.05
    data = np.einsum("yxk,kij->yxij", loadings, patterns) * 200
    s = hs.signals.Signal2D(data)
    for axis in s.axes_manager.signal_axes:
        axis.scale, axis.units = 0.01, "k_A^-1"
    with pytest.raises(ValueError, match="has no decomposition results"):
        integrate_decomposition_factors(s, center=CENTER)
    s.decomposition("rnmf", output_dimension=2, random_state=0, print_info=False)
    iq = integrate_decomposition_factors(s, center=CENTER)
    assert iq.data.shape[0] == 2
    assert iq.axes_manager.navigation_shape == (2,)
    expected = np.array(radii) * 0.01 * 2 * np.pi
    found = np.sort(peak_q(iq.isig[0.5:]))
    np.testing.assert_array_less(np.abs(found - expected), iq.axes_manager[0].scale)

    # a decomposition signal_mask makes the factors NaN there: those pixels are
    # masked, not spread as NaN over their bins; the user's mask is kept too
    hot = np.zeros(SHAPE, dtype=bool)
    hot[40, 90] = hot[10, 10] = True
    s.decomposition(
        "rnmf", output_dimension=2, random_state=0, print_info=False, signal_mask=hot
    )
    factors_before = np.array(s.learning_results.factors)
    user = np.zeros(SHAPE, dtype=bool)
    user[0, :5] = True
    iq = integrate_decomposition_factors(s, center=CENTER, mask=user)
    assert iq.metadata.Signal.ePDF.integration.masked_pixels == 7
    assert np.all(np.isfinite(iq.isig[: float(expected.max()) * 1.2].data))
    np.testing.assert_array_equal(s.learning_results.factors, factors_before)


def test_pyxem_electron_diffraction2d():
    pytest.importorskip("pyxem")
    from pyxem.signals import ElectronDiffraction2D

    s = ElectronDiffraction2D(np.stack([ring(22), ring(35)]))
    s.set_diffraction_calibration(0.015)  # s = 1/d per pixel, pyxem's convention
    cx, cy = (-a.offset / a.scale for a in s.axes_manager.signal_axes)
    iq = integrate_azimuthal(s)  # calibration and centre from the axes
    record = iq.metadata.Signal.ePDF.integration
    np.testing.assert_allclose([record.center_x, record.center_y], [cx, cy])
    ref = integrate_azimuthal(
        hs.signals.Signal2D(s.data),
        reciprocal_pixel_size=0.015,
        convention="s",
        center=(cx, cy),
    )
    np.testing.assert_allclose(iq.data, ref.data)
    np.testing.assert_allclose(iq.axes_manager[-1].scale, 0.015 * 2 * np.pi, rtol=0.02)


def _signal(units="k_A^-1", shape=SHAPE):
    s = hs.signals.Signal2D(ring(20, shape=shape))
    for axis in s.axes_manager.signal_axes:
        axis.scale, axis.units = 0.01, units
    return s


@pytest.mark.parametrize(
    "make, kwargs, match",
    [
        (lambda: hs.signals.Signal1D(np.ones(5)), {}, "two signal dimensions"),
        (lambda: _signal("px"), {}, "not calibrated in reciprocal space"),
        (lambda: _signal("1/Å"), {}, "may be s = 1/d or Q = 2 pi/d"),
        (lambda: _signal(), {"convention": "d"}, "`convention` must be 's'"),
        (lambda: _signal(), {"convention": "q"}, "contradicts the axis units"),
        (lambda: _signal(), {"reciprocal_pixel_size": 0.1}, "`convention` is required"),
        (
            lambda: _signal(),
            {"reciprocal_pixel_size": -0.1, "convention": "s"},
            "must be positive",
        ),
        (lambda: _signal(), {"camera_length": 100.0}, "must be given together"),
        (
            lambda: _signal(),
            {"camera_length": 100.0, "pixel_size": 55.0},
            "`beam_energy` \\(keV\\) is required",
        ),
        (
            lambda: _signal(),
            {"camera_length": -1.0, "pixel_size": 55.0, "beam_energy": 200},
            "must be positive",
        ),
        (
            lambda: _signal(),
            {"camera_length": 100.0, "pixel_size": 55.0, "reciprocal_pixel_size": 1},
            "not both",
        ),
        (lambda: _signal(), {"mask": np.zeros((3, 3), bool)}, "must have the shape"),
        (lambda: _signal(), {"mask": np.zeros(SHAPE)}, "`mask` must be boolean"),
        (lambda: _signal(), {"mask": np.ones(SHAPE, bool)}, "excludes every pixel"),
        (lambda: _signal(), {"center": (np.nan, 2)}, "`center` must be finite"),
        (lambda: _signal(), {"center": "middle"}, "`center` must be"),
        (lambda: _signal(), {"npt": 1}, "`npt` must be an integer >= 2"),
        (lambda: _signal(), {"q_range": (3, 1)}, "must satisfy 0 <= low < high"),
        (lambda: _signal(), {"q_range": 5}, "`q_range` must be a pair"),
        (lambda: _signal(), {"direct_beam_radius": -2}, "must be non-negative"),
        (
            lambda: _signal(),
            {"direct_beam_radius": np.nan},
            "`direct_beam_radius` must be a non-negative number",
        ),
        (lambda: _signal(), {"q_range": (0, np.inf)}, "low < high < inf"),
        (
            lambda: _signal(),
            {"reciprocal_pixel_size": np.inf, "convention": "s"},
            "`reciprocal_pixel_size` must be a positive number",
        ),
        (
            lambda: _signal(),
            {"camera_length": np.inf, "pixel_size": 55.0, "beam_energy": 200},
            "`camera_length` must be a positive number",
        ),
        (
            lambda: _signal(),
            {"camera_length": 100, "pixel_size": np.inf, "beam_energy": 200},
            "`pixel_size` must be a positive number",
        ),
        (
            lambda: _signal(),
            {"camera_length": 100, "pixel_size": 55.0, "beam_energy": np.inf},
            "`beam_energy` must be a positive number",
        ),
    ],
)
def test_errors(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        integrate_azimuthal(make(), **kwargs)


def test_non_uniform_axes_error():
    s = _signal()
    s.axes_manager.signal_axes[0].convert_to_non_uniform_axis()
    with pytest.raises(ValueError, match="non-uniform"):
        integrate_azimuthal(s)

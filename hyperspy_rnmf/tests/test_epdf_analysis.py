"""Number density and pair distances from G(r) (ePDFReducedPDF1D)."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_rnmf._pdf_analysis import number_density, pair_distances

STEP = 0.01
R = np.arange(0, 12.0 + STEP / 2, STEP)
PEAKS = np.array([1.6137, 2.6211, 3.0593, 4.1028])
HEIGHTS = np.array([8.0, 3.0, 1.5, 2.5])


def model_g(rho, shift=0.0, sigma=0.07, ripple=0.3, r=R):
    """-4 pi rho r below the first shell, Gaussian shells, termination ripples."""
    g = -4 * np.pi * rho * r
    for p, h in zip(PEAKS + shift, HEIGHTS, strict=True):
        g += h * np.exp(-0.5 * ((r - p) / sigma) ** 2)
        # ripples of period 2 pi / 20 around every shell, decaying away from it
        d = r - p
        envelope = (1 - np.exp(-((d / 0.15) ** 2))) * np.exp(-((d / 0.6) ** 2))
        g += ripple * h / 8 * np.cos(20 * d) * envelope
    return g


def true_maxima(rho, shift=0.0):
    """Maxima of the model near each shell, on a 0.1 mÅ grid."""
    fine = np.arange(0, 6, 1e-4)
    g = model_g(rho, shift, r=fine)
    out = []
    for p in PEAKS + shift:
        near = np.abs(fine - p) < 0.05
        out.append(fine[near][np.argmax(g[near])])
    return np.array(out)


def gr_signal(data, lazy=False):
    s = hs.signals.Signal1D(np.asarray(data))
    s.set_signal_type("electron_reduced_pdf")
    axis = s.axes_manager.signal_axes[0]
    axis.scale, axis.offset, axis.units, axis.name = STEP, 0.0, "Å", "r"
    return s.as_lazy() if lazy else s


def test_number_density_exact_on_a_line():
    rho = np.array([0.05, 0.0797, 0.0914])
    g = np.stack([model_g(x, ripple=0.0) for x in rho])
    np.testing.assert_allclose(number_density(g, R, (0.4, 1.2)), rho, rtol=1e-6)


def test_pair_distances_sub_grid():
    shifts = np.array([0.0, 0.0037, -0.0042])
    g = np.stack([model_g(0.08, s) for s in shifts])
    found = pair_distances(g, R, 4, (0.4, 12.0))
    expected = np.stack([true_maxima(0.08, s) for s in shifts])
    # the ripples are not peaks; the grid alone would be up to 0.005 Å off
    np.testing.assert_allclose(found, expected, atol=1e-3)


@pytest.mark.parametrize("window", [0.1, 0.2, 0.3, 0.4, 0.5])
def test_a_ripple_on_a_flank_is_not_a_peak_for_odd_or_even_windows(window):
    # the right-hand window was one step short (and equal to the left one for
    # a window of one step) when window / step was odd
    r = np.round(np.arange(0, 10, 0.1), 10)
    G = 10 * np.exp(-0.5 * ((r - 2) / 0.15) ** 2)
    G += 10 * np.exp(-0.5 * ((r - 4.2) / 0.3) ** 2)
    G[39] = G[38] - 0.05  # a 0.5 % dip on the rising flank of the 4.2 Å peak
    found = pair_distances(G[None], r, 3, (1, 9), window=window)[0]
    np.testing.assert_allclose(found[:2], [2.0, 4.2], atol=0.02)
    assert np.isnan(found[2])


def test_missing_peaks_are_nan():
    g = model_g(0.08)[None]
    found = pair_distances(g, R, 6, (0.4, 12.0))
    np.testing.assert_allclose(found[0, :4], true_maxima(0.08), atol=1e-3)
    assert np.all(np.isnan(found[0, 4:]))
    flat = pair_distances(np.zeros((1, R.size)), R, 2, (0.4, 12.0))
    assert np.all(np.isnan(flat))


@pytest.mark.parametrize("lazy", [False, True])
def test_signal_maps(lazy):
    rho = np.array([[0.06, 0.065, 0.07], [0.075, 0.08, 0.085]])
    shifts = np.linspace(-0.004, 0.004, 6).reshape(2, 3)
    data = np.stack(
        [model_g(x, d) for x, d in zip(rho.ravel(), shifts.ravel(), strict=True)]
    )
    data = data.reshape(2, 3, R.size)
    before = data.copy()
    s = gr_signal(data, lazy)
    s.axes_manager.navigation_axes[0].name = "x"
    density = s.estimate_number_density()
    distances = s.find_pair_distances(3)
    assert density._lazy is lazy and distances._lazy is lazy
    if lazy:
        density.compute()
        distances.compute()
    assert density.axes_manager.navigation_shape == (3, 2)
    assert density.axes_manager.navigation_axes[0].name == "x"
    np.testing.assert_allclose(density.data, rho, rtol=0.03)  # ripples
    assert distances.data.shape == (2, 3, 3)
    expected = [
        true_maxima(x, d)[:3] for x, d in zip(rho.ravel(), shifts.ravel(), strict=True)
    ]
    np.testing.assert_allclose(distances.data.reshape(6, 3), expected, atol=1e-3)
    record = density.metadata.Signal.ePDF.number_density
    np.testing.assert_allclose(
        record.r_range, [0.25 * 1.6137, 0.75 * 1.6137], atol=0.01
    )
    assert record.r_range_rule == "[max(rpoly, r1/4), 3 r1/4]"
    assert distances.metadata.Signal.ePDF.pair_distances.min_height == 0.15
    np.testing.assert_array_equal(data, before)


def test_single_pattern_and_rpoly_from_metadata():
    s = gr_signal(model_g(0.08))
    s.metadata.set_item("Signal.ePDF.rpoly", 0.9)
    density = s.estimate_number_density()
    assert density.data.shape == (1,)
    np.testing.assert_allclose(density.data, 0.08, rtol=0.03)
    assert density.metadata.Signal.ePDF.number_density.r_range[0] == 0.9
    given = s.estimate_number_density(r_range=(0.5, 1.0))
    np.testing.assert_allclose(given.data, 0.08, rtol=0.03)
    assert given.metadata.Signal.ePDF.number_density.r_range_rule == "given"
    found = s.find_pair_distances(2, r_range=(2.0, 5.0))
    np.testing.assert_allclose(found.data, true_maxima(0.08)[1:3], atol=1e-3)


@pytest.mark.parametrize(
    "method, kwargs, match",
    [
        ("estimate_number_density", {"r_range": (1.0, 0.5)}, "must be increasing"),
        ("estimate_number_density", {"r_range": (0.5, 50.0)}, "within the r axis"),
        ("estimate_number_density", {"r_range": 1.0}, "`r_range` must be a pair"),
        ("estimate_number_density", {"r_range": (0.5, 0.505)}, "fewer than 2 r"),
        ("find_pair_distances", {"n_peaks": 0}, "`n_peaks` must be a positive"),
        ("find_pair_distances", {"n_peaks": 2.5}, "`n_peaks` must be a positive"),
        ("find_pair_distances", {"n_peaks": True}, "`n_peaks` must be a positive"),
        ("find_pair_distances", {"min_height": 0}, "`min_height` must be in"),
        ("find_pair_distances", {"min_height": 1.5}, "`min_height` must be in"),
        ("find_pair_distances", {"window": 0.001}, "`window` must be at least"),
    ],
)
def test_errors(method, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(gr_signal(model_g(0.08)), method)(**kwargs)


def test_no_peak_error():
    with pytest.raises(ValueError, match="has no maximum beyond r = 0.5"):
        gr_signal(np.zeros(R.size)).estimate_number_density()


def test_non_uniform_r_axis_error():
    s = gr_signal(model_g(0.08))
    s.axes_manager.signal_axes[0].convert_to_non_uniform_axis()
    with pytest.raises(ValueError, match="r axis must be uniform"):
        s.estimate_number_density()


@pytest.mark.parametrize(
    "units, match",
    [
        ("nm", "The r axis is in nm: multiply its scale and offset by 10"),
        ("<undefined>", "The r axis is not calibrated in Å: units ''"),
        ("px", "The r axis is not calibrated in Å: units 'px'"),
    ],
)
@pytest.mark.parametrize("method", ["estimate_number_density", "find_pair_distances"])
def test_r_axis_units_errors(method, units, match):
    s = gr_signal(model_g(0.08))
    s.axes_manager.signal_axes[0].units = units
    with pytest.raises(ValueError, match=match):
        getattr(s, method)()


def test_window_must_be_finite():
    with pytest.raises(ValueError, match="`window` must be a positive number"):
        gr_signal(model_g(0.08)).find_pair_distances(1, window=np.inf)

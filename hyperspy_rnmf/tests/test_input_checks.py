"""Input checks across the public functions, from a user-workflow test: stale
decomposition results after a crop, and masks of the wrong shape (e.g.
transposed ones) named as such."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_rnmf.datasets import synthetic_4dstem
from hyperspy_rnmf.integration import (
    integrate_azimuthal,
    integrate_decomposition_factors,
)
from hyperspy_rnmf.kscan import scan_components
from hyperspy_rnmf.segmentation import segment_decomposition

NAV = (14, 10)  # (x, y), non-square
SIG = (28, 24)  # (kx, ky), non-square: data patterns are (24, 28)


@pytest.fixture(scope="module")
def decomposed():
    s, _ = synthetic_4dstem(3, NAV, SIG, random_state=0)
    for axis in s.axes_manager.signal_axes:
        axis.scale, axis.units = 0.01, "k_A^-1"
        axis.offset = -0.01 * (axis.size // 2)
    s.decomposition("rnmf", output_dimension=3, random_state=0, print_info=False)
    return s


def test_integrate_factors_of_a_signal_cropped_since_raises(decomposed):
    # HyperSpy's get_decomposition_factors failed with a raw reshape error
    cropped = decomposed.deepcopy()
    cropped.crop_signal(2, 20, 2, 20)
    with pytest.raises(
        ValueError,
        match=r"factors cover 672 pixels, the signal has 324: the results belong "
        "to another shape of the data",
    ):
        integrate_decomposition_factors(cropped)
    # a navigation crop leaves the factors valid: still integrated
    cropped = decomposed.deepcopy()
    cropped.crop("x", 0, 5)
    iq = integrate_decomposition_factors(cropped)
    assert iq.axes_manager.navigation_shape == (3,)


# ------------------------------------------------------------------ masks
def _disc(shape=SIG[::-1], radius=4):
    """The direct-beam disc of the user guide: in the data array's order."""
    ny, nx = shape
    y, x = np.ogrid[:ny, :nx]
    return np.hypot(x - (nx - 1) / 2, y - (ny - 1) / 2) <= radius


TRANSPOSED = (
    r"expected the signal's signal_shape \(28, 24\): it is the transpose of "
    r"the expected shape; if only the axes are swapped, pass "
    r"`signal_mask.transpose\(signal_axes=\[1, 0\]\)` \(pyxem 0.21's "
    "get_direct_beam_mask"
)


def test_transposed_signal_mask_signal_is_named_as_such(decomposed):
    # built like pyxem 0.21's get_direct_beam_mask on non-square patterns: data
    # of shape signal_shape, so the signal axes are swapped. The message said
    # "must have only signal axes, of shape (28, 24)", and it has only those.
    s = decomposed.deepcopy()
    mask = hs.signals.Signal2D(_disc().T)
    assert mask.axes_manager.signal_shape == SIG[::-1]
    message = r"`signal_mask` has signal shape \(24, 28\), " + TRANSPOSED
    with pytest.raises(ValueError, match=message):
        s.decomposition("rnmf", output_dimension=2, signal_mask=mask)
    with pytest.raises(ValueError, match=message):
        scan_components(s, [1, 2], signal_mask=mask)
    # the suggested fix is the mask of the data array's order
    fixed = mask.transpose(signal_axes=[1, 0])
    s.decomposition("rnmf", output_dimension=2, signal_mask=fixed, random_state=0)
    np.testing.assert_array_equal(s.learning_results.signal_mask, _disc())
    assert np.isnan(s.learning_results.factors[_disc().ravel()]).all()
    factors = s.learning_results.factors
    s.decomposition("rnmf", output_dimension=2, signal_mask=_disc(), random_state=0)
    np.testing.assert_array_equal(s.learning_results.factors, factors)


def test_transposed_pattern_mask_for_integration_and_segmentation(decomposed):
    # the same mask: "(dtype bool, ...) must be a boolean array" before
    mask = hs.signals.Signal2D(_disc().T)
    transposed = (
        r"has data of shape \(28, 24\); it must have the shape of one pattern in "
        r"the data array, \(24, 28\) \(ky, kx order, s.data.shape\[-2:\]\): it is the "
        r"transpose of the expected shape; if only the axes are swapped, pass "
        r"`{}.data.T` \(pyxem"
    )
    with pytest.raises(ValueError, match="`mask` " + transposed.format("mask")):
        integrate_azimuthal(decomposed, mask=mask)
    with pytest.raises(
        ValueError, match="`signal_mask` " + transposed.format("signal_mask")
    ):
        segment_decomposition(decomposed, signal_mask=mask)
    with pytest.raises(ValueError, match=r"`signal_mask` must be boolean \(True"):
        segment_decomposition(decomposed, signal_mask=_disc().astype(int))
    result = segment_decomposition(decomposed, signal_mask=mask.data.T)
    assert result.parameters["signal_mask"] == "given"


def test_navigation_mask_built_as_an_image_is_named_as_such(decomposed):
    s = decomposed
    image = s.sum(s.axes_manager.signal_axes) < 0  # navigation axes, (14, 10)
    assert image.axes_manager.navigation_shape == NAV
    as_image = image.T  # a signal whose signal axes are the scan
    with pytest.raises(
        ValueError,
        match=r"`navigation_mask` has signal axes \(shape \(14, 10\)\) and no "
        r"navigation axes; a navigation mask has only navigation axes, of the "
        r"signal's navigation_shape \(14, 10\): pass `navigation_mask.T`",
    ):
        scan_components(s, [1, 2], navigation_mask=as_image)
    array = np.zeros(NAV[::-1], bool)  # the scan image's (y, x) order
    array[0, :3] = True
    with pytest.raises(
        ValueError,
        match=r"`navigation_mask` has shape \(10, 14\) \(the scan image's \(y, x\) "
        r"order\), expected \(14, 10\) \(navigation_shape, \(x, y\) order\): it "
        r"is the transpose of the expected shape; if only the axes are swapped, "
        r"pass `navigation_mask.T`",
    ):
        s.deepcopy().decomposition("rnmf", output_dimension=2, navigation_mask=array)
    fixed = s.deepcopy()
    fixed.decomposition(
        "rnmf", output_dimension=2, navigation_mask=array.T, random_state=0
    )
    np.testing.assert_array_equal(fixed.learning_results.navigation_mask, array)
    assert np.isnan(fixed.learning_results.loadings[:3]).all()
    fixed.decomposition(
        "rnmf", output_dimension=2, navigation_mask=as_image.T, random_state=0
    )
    # an image of the transposed scan: the message named the transpose only
    swapped = hs.signals.Signal2D(array.T.copy())  # signal shape (10, 14)
    with pytest.raises(
        ValueError,
        match=r"the transpose of its \(10, 14\); if only the axes are swapped, "
        r"pass `navigation_mask.data`",
    ):
        s.deepcopy().decomposition("rnmf", output_dimension=2, navigation_mask=swapped)
    fixed.decomposition(
        "rnmf", output_dimension=2, navigation_mask=swapped.data, random_state=0
    )
    np.testing.assert_array_equal(fixed.learning_results.navigation_mask, array)


def test_pyxem_direct_beam_mask_on_non_square_patterns(decomposed):
    # what the user guide says about pyxem 0.21's mask, checked
    pytest.importorskip("pyxem")
    s = decomposed.deepcopy()
    s.set_signal_type("electron_diffraction")
    mask = s.get_direct_beam_mask(4)
    if mask.data.shape == s.data.shape[-2:]:
        pytest.skip("this pyxem builds masks of the pattern's shape")
    with pytest.raises(ValueError, match="pyxem 0.21's get_direct_beam_mask"):
        s.decomposition("rnmf", output_dimension=2, signal_mask=mask)
    rows, cols = np.nonzero(mask.data.T)  # transposing misplaces its disc
    assert (rows.mean(), cols.mean()) != (11.5, 13.5)
    rows, cols = np.nonzero(_disc())  # the guide's disc is centred
    assert (rows.mean(), cols.mean()) == (11.5, 13.5)

"""Input checks across the public functions, from a user-workflow test: stale
decomposition results after a crop, and masks of the wrong shape (e.g.
transposed ones) named as such."""

import pytest

from hyperspy_rnmf.datasets import synthetic_4dstem
from hyperspy_rnmf.integration import integrate_decomposition_factors

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

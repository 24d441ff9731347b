"""The public API listed in ``hyperspy_rnmf.__all__``."""

import subprocess
import sys

import pytest

import hyperspy_rnmf


@pytest.mark.parametrize("name", sorted(set(hyperspy_rnmf.__all__) - {"__version__"}))
def test_every_public_name_resolves(name):
    value = getattr(hyperspy_rnmf, name)
    assert value is not None
    assert name in dir(hyperspy_rnmf)


def test_top_level_names_are_the_module_objects():
    from hyperspy_rnmf import segmentation

    assert hyperspy_rnmf.segment_vdf is segmentation.segment_vdf
    assert hyperspy_rnmf.segment_decomposition is segmentation.segment_decomposition
    assert hyperspy_rnmf.SegmentationResult is segmentation.SegmentationResult
    assert hyperspy_rnmf.segmentation is segmentation


def test_unknown_name_raises():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        hyperspy_rnmf.nope  # noqa: B018


def test_import_stays_cheap():
    """Importing the package (and the segmentation module) loads no pyxem."""
    code = (
        "import sys, hyperspy_rnmf\n"
        "hyperspy_rnmf.segmentation\n"
        "print('pyxem' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("rnmf_decomposition", {"output_dimension": 2}),
        ("residual_maps", {}),
        ("overlap_maps", {}),
        ("integrate_azimuthal", {"reciprocal_pixel_size": 0.01}),
        ("integrate_decomposition_factors", {"reciprocal_pixel_size": 0.01}),
        ("segment_decomposition", {}),
        ("segment_vdf", {}),
    ],
)
def test_functions_of_a_signal_name_a_tuple_passed_instead(name, kwargs):
    """``synthetic_4dstem`` returns ``(signal, truth)``: passing the tuple on
    gets a TypeError that says what to do, not an AttributeError."""
    from hyperspy_rnmf.datasets import synthetic_4dstem

    pair = synthetic_4dstem(2, (6, 5), (8, 8), random_state=0)
    with pytest.raises(
        TypeError, match=r"`signal` must be a HyperSpy signal, got tuple .*unpack"
    ):
        getattr(hyperspy_rnmf, name)(pair, **kwargs)
    with pytest.raises(
        TypeError, match=r"`signal` must be a HyperSpy signal, got ndarray\.$"
    ):
        getattr(hyperspy_rnmf, name)(pair[0].data, **kwargs)

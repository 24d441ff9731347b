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

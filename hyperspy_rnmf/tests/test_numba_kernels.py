"""The numba kernels compile, with or without a writable disk cache."""

import os

import numba
import numpy as np
import pytest
from numba.core import config

from hyperspy_rnmf._numba import compile_kernel
from hyperspy_rnmf.tests.helpers import run_python

NO_LOCATOR = """
class NoLocator:
    # what numba finds where no cache folder is writable (a read-only
    # installation, no writable home, NUMBA_CACHE_DIR unset)
    @classmethod
    def from_function(cls, py_func, py_file):
        return None
"""

SCRIPT = """
import warnings
import numpy as np
from hyperspy_rnmf import RandomizedNMF
from hyperspy_rnmf.segmentation._dynamics import _kernel as dynamics
from hyperspy_rnmf.segmentation._aperture_sums import _kernel as aperture_sums

rng = np.random.default_rng(0)
X = rng.random((60, 4)) @ rng.random((4, 50))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = RandomizedNMF(4, random_state=0, tol=1e-8, max_iter=2000).fit(X)
    dynamics()
    aperture_sums()
print("error", model.reconstruction_err_ / np.linalg.norm(X))
for w in caught:
    print("warning", w.category.__name__, w.message)
"""


@pytest.mark.skipif(
    not hasattr(config, "CACHE_LOCATOR_CLASSES"),
    reason="this numba cannot be told to find no cache location",
)
def test_fit_without_a_writable_cache_location(tmp_path):
    (tmp_path / "nolocator.py").write_text(NO_LOCATOR)
    pythonpath = [str(tmp_path)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = {
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "NUMBA_CACHE_LOCATOR_CLASSES": "nolocator.NoLocator",
    }
    run = run_python(SCRIPT, env=env, cwd=tmp_path)
    lines = run.stdout.splitlines()
    error = float(next(line for line in lines if line.startswith("error")).split()[1])
    assert error < 1e-4  # an exact rank-4 product, fitted
    warnings = [line for line in lines if line.startswith("warning")]
    # one per kernel, in the order of first use
    assert len(warnings) == 7
    kernels = [
        "row_moments",
        "moments",
        "sweeps",
        "extrapolate",
        "block_pivoting",
        "deep_flags",
        "aperture_sums",
    ]
    for name, line in zip(kernels, warnings, strict=True):
        assert f"kernel '{name}'" in line
        assert "RuntimeWarning" in line and "NUMBA_CACHE_DIR" in line


def test_other_compile_errors_are_not_hidden(monkeypatch):
    def failing(**options):
        raise RuntimeError("something else went wrong")

    monkeypatch.setattr(numba, "njit", failing)
    with pytest.raises(RuntimeError, match="something else went wrong"):
        compile_kernel(lambda x: x)


def test_compile_kernel_caches_where_it_can():
    def double(x):
        return 2.0 * x

    kernel = compile_kernel(double)
    assert kernel(np.float64(1.5)) == 3.0
    assert kernel._cache.__class__.__name__ == "FunctionCache"

"""The installed package registers algorithm="rnmf" in fresh interpreters.

Each test starts a new Python process that only imports hyperspy (and pyxem),
as a user in a notebook would: nothing from hyperspy_rnmf is imported
explicitly. These tests need the package installed (``pip install .``), which
puts ``hyperspy_rnmf.pth`` into site-packages.
"""

import importlib.metadata
import pathlib

import pytest

import hyperspy_rnmf
from hyperspy_rnmf._autoload import ENV_VAR
from hyperspy_rnmf.tests.helpers import run_python as _run_python


def run_python(code, env=None, timeout=600):
    """A fresh interpreter with the registration's switch at its default."""
    return _run_python(code, env=env, drop=(ENV_VAR,), timeout=timeout)


FRESH = """
import sys, warnings
warnings.simplefilter("error")
warnings.filterwarnings("ignore", message="`_get_block_pattern` has moved")
# tiny noisy problems converge slowly; the warning is legitimate there
warnings.filterwarnings("ignore", message="Maximum number of iterations")
import numpy as np
import hyperspy.api as hs
assert "sklearn.decomposition" not in sys.modules
rng = np.random.default_rng(0)
data = rng.poisson(20 * rng.random((12, 2)) @ rng.random((2, 40))).astype(float)
"""


def test_pth_file_installed():
    import site

    folders = site.getsitepackages() + [site.getusersitepackages()]
    found = [pathlib.Path(f) / "hyperspy_rnmf.pth" for f in folders]
    found = [p for p in found if p.is_file()]
    assert found, f"hyperspy_rnmf.pth not in {folders}: install the package"
    assert "hyperspy_rnmf._autoload" in found[0].read_text()


def test_extension_entry_point_and_yaml():
    names = [
        e.name for e in importlib.metadata.entry_points(group="hyperspy.extensions")
    ]
    assert "hyperspy_rnmf" in names
    yaml_file = pathlib.Path(hyperspy_rnmf.__file__).parent / "hyperspy_extension.yaml"
    assert yaml_file.is_file()
    run_python(
        "import hyperspy.api as hs; import hyperspy.extensions as e; "
        "assert 'signals' in e.ALL_EXTENSIONS"
    )


def test_fresh_interpreter_eager_and_lazy():
    out = run_python(
        FRESH
        + """
s = hs.signals.Signal1D(data)
s.decomposition("rnmf", output_dimension=2, print_info=False)
assert s.learning_results.decomposition_algorithm == "rnmf"
assert s.learning_results.factors.shape == (40, 2)
s.decomposition(algorithm="rnmf", output_dimension=2, random_state=0, print_info=False)
lazy = hs.signals.Signal1D(data).as_lazy()
lazy.decomposition("rnmf", output_dimension=2, print_info=False)
assert lazy.learning_results.decomposition_algorithm == "rnmf"
from hyperspy_rnmf import RandomizedNMF
est = s.decomposition(algorithm=RandomizedNMF(2), return_info=True, print_info=False)
assert est.n_components_ == 2
s.decomposition(algorithm="SVD", output_dimension=2, print_info=False)
assert s.learning_results.decomposition_algorithm == "SVD"
print("ok")
"""
    )
    assert out.stdout.strip().endswith("ok")


def test_switched_off_by_environment_variable():
    out = run_python(
        FRESH
        + """
s = hs.signals.Signal1D(data)
assert not hasattr(type(s).decomposition, "_hyperspy_rnmf_original")
# HyperSpy's own meaning: first argument is normalize_poissonian_noise
s.decomposition("rnmf", output_dimension=2, print_info=False)
print(s.learning_results.decomposition_algorithm)
""",
        env={ENV_VAR: "1"},
    )
    assert out.stdout.strip() == "SVD"


def test_switched_off_in_the_session_before_hyperspy_is_imported():
    out = run_python(
        """
import os
os.environ["HYPERSPY_RNMF_DISABLE"] = "1"  # e.g. %env in Jupyter
"""
        + FRESH
        + """
s = hs.signals.Signal1D(data)
assert not hasattr(type(s).decomposition, "_hyperspy_rnmf_original")
print("unwrapped")
"""
    )
    assert out.stdout.strip() == "unwrapped"


def test_failure_becomes_warning_and_hyperspy_still_works():
    out = run_python(
        """
import warnings
import hyperspy_rnmf._autoload as hook
hook.TARGETS["hyperspy.learn._mva"] = "NoSuchClass"
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numpy as np
    import hyperspy.api as hs
    s = hs.signals.Signal1D(np.random.default_rng(0).random((5, 8)))
messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
assert any("could not register algorithm='rnmf'" in m for m in messages), messages
s.decomposition(output_dimension=2, print_info=False)
print(s.learning_results.decomposition_algorithm)
"""
    )
    assert out.stdout.strip() == "SVD"


def test_start_up_cost_is_small():
    out = run_python(
        """
import time
t0 = time.perf_counter()
import hyperspy.api as hs
import numpy as np
s = hs.signals.Signal1D(np.ones((2, 3)))
from hyperspy_rnmf import _autoload, _hyperspy_patch
import hyperspy.learn._mva as mva
class Dummy:
    decomposition = mva.MVA.decomposition._hyperspy_rnmf_original
t = time.perf_counter(); _hyperspy_patch.patch_class(Dummy); patch = time.perf_counter() - t
print(patch)
""",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    import_us = sum(  # self time of every hyperspy_rnmf module imported
        int(line.split(":")[1].split("|")[0])
        for line in out.stderr.splitlines()
        if line.startswith("import time:") and "hyperspy_rnmf" in line
    )
    patch_s = float(out.stdout.strip())
    assert import_us / 1e6 + patch_s < 0.05, (import_us, patch_s)


@pytest.mark.slow
def test_pyxem_signals_eager_and_lazy():
    out = run_python(
        FRESH
        + """
warnings.filterwarnings("ignore", category=DeprecationWarning)
import pyxem
cube = rng.poisson(20 * rng.random((6, 5, 2)) @ rng.random((2, 64))).reshape(6, 5, 8, 8).astype(float)
for signal_type, name in [("diffraction", "Diffraction2D"),
                          ("electron_diffraction", "ElectronDiffraction2D")]:
    for lazy in (False, True):
        s = hs.signals.Signal2D(cube)
        if lazy:
            s = s.as_lazy()
        s.set_signal_type(signal_type)
        assert type(s).__name__ == ("Lazy" if lazy else "") + name, type(s).__name__
        s.decomposition("rnmf", output_dimension=2, print_info=False)
        assert s.learning_results.decomposition_algorithm == "rnmf"
        assert s.learning_results.factors.shape == (64, 2)
        s.get_decomposition_model()
print("ok")
""",
        timeout=900,
    )
    assert out.stdout.strip().endswith("ok")

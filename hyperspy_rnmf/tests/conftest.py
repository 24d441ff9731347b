"""Test configuration, valid for the installed package (``pytest --pyargs``)."""

import os
import tempfile

# pyxem's dependencies compile numba kernels and cache them; a stale or
# half-written cache can crash the interpreter. Tests use their own cache.
os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "hyperspy_rnmf_numba_cache")
)
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import pytest  # noqa: E402

WARNING_FILTERS = [
    "error",
    # pyxem 0.21 imports a helper that HyperSpy 2.5 moved; harmless upstream.
    "ignore:`_get_block_pattern` has moved:hyperspy.exceptions.VisibleDeprecationWarning",
    # rosettasciio writes .zspy with zarr 2's NestedDirectoryStore (upstream).
    "ignore:The NestedDirectoryStore is deprecated:FutureWarning",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~10 s")
    for line in WARNING_FILTERS:
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(autouse=True)
def _quiet_hyperspy():
    """No progress bars and no interactive plotting in tests."""
    import matplotlib.pyplot as plt
    from hyperspy.defaults_parser import preferences

    old = preferences.General.show_progressbar
    preferences.General.show_progressbar = False
    yield
    preferences.General.show_progressbar = old
    plt.close("all")

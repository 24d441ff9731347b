"""Lazy, chunked and distributed RandomizedNMF: same results, never the whole array."""

import os
import signal
import threading
import time

import dask
import dask.array as da
import hyperspy.api as hs
import numpy as np
import pytest
from dask.callbacks import Callback

from hyperspy_rnmf import RandomizedNMF
from hyperspy_rnmf.tests.helpers import counting_reads, separable_product

NAV = (10, 12)  # array order (y, x)
SIG = (6, 8)
K = 3
OPTIONS = dict(
    output_dimension=K, random_state=0, tol=1e-6, max_iter=2000, print_info=False
)


def planted_counts(seed=0, dtype=np.float64):
    X, W, H = separable_product(
        int(np.prod(NAV)), int(np.prod(SIG)), K, random_state=seed
    )
    counts = np.random.default_rng(seed).poisson(300 * X)
    return counts.reshape(NAV + SIG).astype(dtype), W, H


def planted_masks():
    """A navigation mask (2 positions) and a signal mask (3 pixels)."""
    nav_mask = np.zeros(NAV[::-1], dtype=bool)
    nav_mask[2:4, 5] = True
    sig_mask = np.zeros(SIG, dtype=bool)
    sig_mask[0, :3] = True
    return nav_mask, sig_mask


class LargestResult(Callback):
    """Records the largest task result (bytes) of local dask computations."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.largest = max(self.largest, getattr(result, "nbytes", 0))


def eager_results(data, **options):
    s = hs.signals.Signal2D(data)
    s.decomposition("rnmf", **{**OPTIONS, **options})
    return s.learning_results.factors, s.learning_results.loadings


def lazy_signal(data, nav_chunks):
    s = hs.signals.Signal2D(da.from_array(data, chunks=nav_chunks + SIG)).as_lazy()
    return s


@pytest.mark.parametrize(
    "nav_chunks",
    [
        (10, 12),  # one chunk
        (5, 4),  # even
        ((3, 7), (5, 5, 2)),  # uneven navigation chunks
        ((1, 9), (12,)),  # a single-row chunk
    ],
)
def test_lazy_equals_eager_for_any_chunking(nav_chunks):
    data, _, _ = planted_counts()
    factors, loadings = eager_results(data)
    s = lazy_signal(data, nav_chunks)
    s.decomposition("rnmf", **OPTIONS)
    np.testing.assert_allclose(
        s.learning_results.factors, factors, rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(
        s.learning_results.loadings, loadings, rtol=1e-6, atol=1e-6 * loadings.max()
    )


def test_signal_axes_chunked_too():
    data, _, _ = planted_counts()
    factors, _ = eager_results(data)
    s = hs.signals.Signal2D(da.from_array(data, chunks=(4, 5, 3, 4))).as_lazy()
    s.decomposition("rnmf", **OPTIONS)
    np.testing.assert_allclose(
        s.learning_results.factors, factors, rtol=1e-6, atol=1e-9
    )


def test_no_step_materialises_the_whole_array():
    data, _, _ = planted_counts(dtype=np.uint16)
    s = lazy_signal(data, (2, 3))
    chunk_float_bytes = 2 * 3 * int(np.prod(SIG)) * 4
    with LargestResult() as guard:
        s.decomposition(
            "rnmf",
            normalize_poissonian_noise=True,
            reproject="both",
            signal_mask=np.eye(*SIG, dtype=bool),
            **OPTIONS,
        )
    assert 0 < guard.largest
    # results of tasks stay below one float chunk plus the small matrices
    small = 8 * (int(np.prod(NAV)) + int(np.prod(SIG))) * (K + 10 + 1)
    assert guard.largest <= max(chunk_float_bytes, small), (guard.largest, data.nbytes)
    assert guard.largest < data.nbytes / 4


def test_estimator_on_dask_arrays_chunked_both_ways():
    data, _, _ = planted_counts()
    X = data.reshape(int(np.prod(NAV)), -1)
    eager = RandomizedNMF(K, random_state=0, tol=1e-6, max_iter=2000).fit(X)
    lazy = RandomizedNMF(K, random_state=0, tol=1e-6, max_iter=2000)
    with LargestResult() as guard:
        lazy.fit(da.from_array(X, chunks=(17, 13)))
    np.testing.assert_allclose(
        lazy.components_, eager.components_, rtol=1e-6, atol=1e-9
    )
    assert guard.largest < X.nbytes / 2


@pytest.mark.parametrize("poisson", [False, True])
def test_masks_and_poisson_lazily(poisson):
    data, _, _ = planted_counts(dtype=np.float32)
    nav_mask, sig_mask = planted_masks()
    options = dict(
        navigation_mask=nav_mask,
        signal_mask=sig_mask,
        normalize_poissonian_noise=poisson,
        reproject="navigation",
    )
    factors, loadings = eager_results(data, **options)
    s = lazy_signal(data, ((3, 3, 4), (7, 5)))
    s.decomposition("rnmf", **OPTIONS, **options)
    np.testing.assert_allclose(
        s.learning_results.factors, factors, rtol=2e-4, atol=2e-4 * np.nanmax(factors)
    )
    np.testing.assert_allclose(
        s.learning_results.loadings,
        loadings,
        rtol=2e-4,
        atol=2e-4 * np.nanmax(loadings),
    )


@pytest.mark.parametrize(
    "poisson, reproject, passes",
    [
        (False, None, 6),
        (True, None, 7),
        (True, "navigation", 8),
        (True, "signal", 8),
        (True, "both", 9),
    ],
)
def test_passes_over_a_lazy_signal_are_as_documented(poisson, reproject, passes):
    # user guide: 2 n_power_iter + 2 + max(1, 2 n_refine_iter) passes, one
    # more for the Poisson sums and one per reprojected direction
    data, _, _ = planted_counts(dtype=np.float32)
    lazy, reads = counting_reads(data, (5, 6) + SIG)
    nav_mask, sig_mask = planted_masks()
    s = hs.signals.Signal2D(lazy).as_lazy()
    s.decomposition(
        "rnmf",
        navigation_mask=nav_mask,
        signal_mask=sig_mask,
        normalize_poissonian_noise=poisson,
        reproject=reproject,
        output_dimension=K,
        random_state=0,
        print_info=False,
    )
    assert len(reads) == 4 * passes
    assert len(set(reads)) == 4


def test_progressbar_follows_the_preference(capsys):
    data, _, _ = planted_counts()
    s = lazy_signal(data, (5, 6))
    s.decomposition("rnmf", **OPTIONS, show_progressbar=True)
    shown = capsys.readouterr()
    assert "Completed" in shown.out + shown.err
    s.decomposition("rnmf", **OPTIONS)  # preference is off in the tests
    hidden = capsys.readouterr()
    assert "Completed" not in hidden.out + hidden.err


@pytest.mark.parametrize("extension", ["zspy", "hspy"])
def test_files_loaded_lazily(tmp_path, extension):
    data, _, _ = planted_counts(dtype=np.uint16)
    factors, _ = eager_results(data)
    s = hs.signals.Signal2D(data)
    path = tmp_path / f"scan.{extension}"
    s.save(path, chunks=(4, 5) + SIG)
    lazy = hs.load(path, lazy=True)
    assert lazy._lazy and lazy.data.numblocks[:2] == (3, 3)
    with LargestResult() as guard:
        lazy.decomposition("rnmf", **OPTIONS)
    np.testing.assert_allclose(
        lazy.learning_results.factors, factors, rtol=1e-5, atol=1e-7
    )
    float_chunk = 4 * 5 * int(np.prod(SIG)) * 4  # one chunk in float32
    assert guard.largest <= float_chunk < data.size * 4 / 4


# ---------------------------------------------------------------------- #
# dask.distributed
# ---------------------------------------------------------------------- #
def slow_copy(block):
    """Identity that takes time, so that a worker can be lost mid-pass."""
    time.sleep(0.02)
    return block.copy()


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.mark.slow
def test_distributed_equals_eager(client):
    data, _, _ = planted_counts()
    factors, loadings = eager_results(data)
    s = lazy_signal(data, ((3, 7), (5, 5, 2)))
    s.decomposition("rnmf", **OPTIONS)
    np.testing.assert_allclose(
        s.learning_results.factors, factors, rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(
        s.learning_results.loadings, loadings, rtol=1e-6, atol=1e-6 * loadings.max()
    )


@pytest.mark.slow
def test_epdf_transforms_on_the_cluster_equal_eager(client):
    """The tasks of S(Q), F(Q) and G(r) carried the signal (a closure over
    ``self``), which the worker processes cannot receive: "Could not
    serialize object of type _HLGExprSequence"."""
    from hyperspy_rnmf.tests import _epdf_oracle as oracle
    from hyperspy_rnmf.tests.test_epdf_transform import Q, iq_signal, navigation_stack

    data = navigation_stack(oracle.debye_intensity(Q, "Ni", 20.0, 0.10), "Ni")
    eager, lazy = iq_signal(data), iq_signal(data, lazy=True)
    lazy.data = lazy.data.rechunk((1, 2, -1))
    for method in ("get_pdf", "get_structure_factor", "get_reduced_structure_function"):
        expected = getattr(eager, method)("Ni").data
        result = getattr(lazy, method)("Ni")
        assert result._lazy
        np.testing.assert_allclose(result.data.compute(), expected, rtol=1e-10)


@pytest.mark.slow
def test_vdf_stack_on_the_cluster_equals_numpy(client):
    """The compiled aperture kernel of the VDF stack runs in the worker
    processes (each compiles or loads it) and gives the NumPy result."""
    from scipy import sparse

    from hyperspy_rnmf.segmentation._common import signal_weighted_sums

    data = np.random.default_rng(2).poisson(30, (7, 12) + SIG).astype(np.uint16)
    apertures = sparse.random(5, int(np.prod(SIG)), density=0.3, random_state=3)
    expected = signal_weighted_sums(hs.signals.Signal2D(data), apertures)
    lazy = signal_weighted_sums(lazy_signal(data, ((3, 4), (5, 7))), apertures)
    np.testing.assert_allclose(lazy, expected, rtol=1e-6)


@pytest.mark.slow
def test_result_survives_the_loss_of_a_worker(client):
    data, _, _ = planted_counts()
    factors, _ = eager_results(data)
    slow = da.from_array(data, chunks=(1, 3) + SIG).map_blocks(
        slow_copy, dtype=data.dtype
    )
    s = hs.signals.Signal2D(slow).as_lazy()
    pids = list(client.run(os.getpid).values())
    killed = []

    def kill_one_worker():
        time.sleep(1.0)
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    t0 = time.perf_counter()
    s.decomposition("rnmf", **OPTIONS)
    elapsed = time.perf_counter() - t0
    killer.join()
    assert killed and elapsed > 1.0  # the worker died while the fit was running
    np.testing.assert_allclose(
        s.learning_results.factors, factors, rtol=1e-6, atol=1e-9
    )

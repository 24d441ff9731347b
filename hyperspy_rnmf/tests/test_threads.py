"""BLAS thread limits: one thread inside, the user's setting back afterwards."""

import random
import time
from concurrent.futures import ThreadPoolExecutor

import dask.array as da
import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from hyperspy_rnmf import RandomizedNMF
from hyperspy_rnmf._threads import single_blas_thread


@pytest.fixture
def two_blas_threads():
    """BLAS on two threads for the test (whatever the machine's default)."""
    controller = ThreadpoolController().select(user_api="blas")
    if not controller.lib_controllers:
        pytest.skip("no BLAS library that threadpoolctl can control")
    limiter = controller.limit(limits=2)
    yield controller
    limiter.restore_original_limits()


def counts(controller):
    return [lib.get_num_threads() for lib in controller.lib_controllers]


def record_threads(monkeypatch, module, name, controller):
    """Wrap ``module.name`` to record the BLAS thread counts at each call;
    returns the list the records go to."""
    seen = []
    original = getattr(module, name)

    def recording(*args, **kwargs):
        seen.append(counts(controller))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return seen


def test_limit_entered_from_many_threads_at_once_is_restored(two_blas_threads):
    inside = []

    def task(i):
        with single_blas_thread():
            time.sleep(random.Random(i).random() * 0.002)
            inside.append(counts(two_blas_threads))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(task, range(200)))
    assert all(set(c) == {1} for c in inside)
    assert set(counts(two_blas_threads)) == {2}


def test_limit_is_reentrant(two_blas_threads):
    with single_blas_thread():
        with single_blas_thread():
            assert set(counts(two_blas_threads)) == {1}
        assert set(counts(two_blas_threads)) == {1}
    assert set(counts(two_blas_threads)) == {2}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lazy_fit_leaves_the_users_blas_threads_alone(two_blas_threads):
    """Dask runs the passes' tasks on several threads, each inside the
    limit: the process used to stay on one BLAS thread afterwards."""
    rng = np.random.default_rng(0)
    X = da.from_array(rng.random((4000, 500)).astype(np.float32), chunks=(50, -1))
    for seed in range(3):
        RandomizedNMF(4, random_state=seed, max_iter=20).fit(X)
        assert set(counts(two_blas_threads)) == {2}


@pytest.mark.parametrize("dtype", ["uint16", "float32", "float64"])
def test_block_passes_on_threads_give_the_same_bits(monkeypatch, dtype):
    """In-memory scan and residual passes run their blocks on several threads;
    the results do not depend on how many."""
    from hyperspy_rnmf import _operand

    rng = np.random.default_rng(0)
    X = rng.poisson(3, (600, 400)).astype(dtype)
    H = [rng.random((k, 400)).astype(np.float32) for k in (2, 5)]
    W = rng.random((300, 2)).astype(np.float32)
    monkeypatch.setattr(_operand, "BLOCK_BYTES", 2**14)  # blocks of 5-10 rows

    def passes(threads):
        monkeypatch.setattr(_operand, "_available_cores", lambda: threads)
        operand = _operand.NumpyOperand(X, rows=np.arange(0, 600, 2))
        assert len(operand._bounds()) >= 30
        models, rows, cols = operand.scan_pass(H, expected=True)
        residual = operand.residual_pass(W, H[0], expected=True)
        return [a for model in models for a in model] + [rows, cols, *residual]

    one = passes(1)
    for threads in (2, 3):
        for a, b in zip(one, passes(threads), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("plain", [True, False])
def test_first_pass_reads_the_data_once(monkeypatch, transposed, plain):
    """The first pass of a plain float32 array is one BLAS product and one
    read of the statistics kernel over the whole array; data read through a
    selection (or converted) go block by block on several threads, each
    block's statistics computed while it is in cache: the same bits whatever
    the number of threads. Either way: exact statistics, and bad values in a
    late block located in the data."""
    from hyperspy_rnmf import _operand
    from hyperspy_rnmf.rnmf import check_fit_data_stats

    rng = np.random.default_rng(1)
    X = rng.poisson(40.0, (700, 300)).astype(np.float32)
    M = rng.standard_normal((300, 5) if not transposed else (700, 5))
    M = M.astype(np.float32)
    monkeypatch.setattr(_operand, "BLOCK_BYTES", 2**14)  # 13 rows a block
    reduced = []  # sizes of the pieces whose statistics were reduced
    block_stats = _operand._block_stats

    def spy(block, *args):
        reduced.append(block.shape[0])
        return block_stats(block, *args)

    monkeypatch.setattr(_operand, "_block_stats", spy)
    cols = None if plain else np.arange(300)  # every column, read through a copy

    def first(data, threads):
        monkeypatch.setattr(_operand, "_available_cores", lambda: threads)
        operand = _operand.NumpyOperand(data, cols=cols)
        assert (operand._whole(M) is not None) == plain
        assert len(operand._bounds()) >= 50
        reduced.clear()
        result = (
            operand.stats_and_rmatmul(M) if transposed else operand.stats_and_matmul(M)
        )
        if plain:
            assert reduced == [700]  # the whole array at once
        else:
            assert len(reduced) == len(operand._bounds())  # block by block
        return result

    stats, product = first(X, 1)
    exact = X.astype(np.float64)
    assert stats.sum_squares == pytest.approx(float((exact**2).sum()), rel=1e-12)
    assert stats.total == pytest.approx(float(exact.sum()), rel=1e-12)
    assert stats.finite and stats.minimum == 0.0  # no negative value
    expected = exact.T @ M if transposed else exact @ M
    np.testing.assert_allclose(product, expected, rtol=1e-4, atol=1e-2)
    if not plain:
        for threads in (2, 3):
            other_stats, other = first(X, threads)
            np.testing.assert_array_equal(product, other)
            assert other_stats.sum_squares == stats.sum_squares
            assert other_stats.total == stats.total
    for bad, match in [
        (-2.5, r"minimum -2.5 at row 650, column 17"),
        (np.nan, r"NaN \(first at row 650, column 17\)"),
        (np.inf, r"inf \(first at row 650, column 17\)"),
    ]:
        Y = X.copy()
        Y[650, 17] = bad
        Y[660, 20] = -1.0 if bad == -2.5 else bad
        with pytest.raises(ValueError, match=match):
            check_fit_data_stats(first(Y, 2)[0])


def test_sketch_basis_is_orthonormalized_on_one_blas_thread(
    two_blas_threads, monkeypatch
):
    """The thin products of CholeskyQR stall on busy cores with two BLAS
    threads; the user's two threads are back afterwards."""
    from hyperspy_rnmf import _sketch

    seen = record_threads(monkeypatch, _sketch.np.linalg, "cholesky", two_blas_threads)
    Y = np.random.default_rng(0).standard_normal((3000, 12))
    Q = _sketch.orthonormalize(Y)
    np.testing.assert_allclose(Q.T @ Q, np.eye(12), atol=1e-12)
    assert len(seen) == 1 and set(seen[0]) == {1}  # well conditioned: one round
    assert set(counts(two_blas_threads)) == {2}


def test_sketch_svd_runs_on_one_blas_thread(two_blas_threads, monkeypatch):
    """Called by the k-scan outside the fits: the same stall as CholeskyQR."""
    from hyperspy_rnmf import _init

    seen = record_threads(monkeypatch, _init.np.linalg, "svd", two_blas_threads)
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((3000, 12)))[0]
    B = rng.standard_normal((12, 400))
    u, s, vt = _init.sketch_svd(Q, B)
    np.testing.assert_allclose((u * s) @ vt, Q @ B, atol=1e-10)
    assert seen == [[1] * len(seen[0])]
    assert set(counts(two_blas_threads)) == {2}

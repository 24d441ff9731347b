"""The compiled thin products ``X @ R`` and ``L.T @ X`` and where they are used."""

import warnings

import numpy as np
import pytest

from hyperspy_rnmf import RandomizedNMF
from hyperspy_rnmf import _thin_product as thin
from hyperspy_rnmf._moments import block_moments
from hyperspy_rnmf._operand import NumpyOperand
from hyperspy_rnmf.matching import match_components

SHAPES = [
    (1, 1, 1),
    (5, 3, 2),
    (9, 700, 4),
    (13, 2049, 7),
    (17, 3001, 9),
    (25, 4100, 13),
    (37, 1025, 36),
]
TOL = {np.float32: 2e-6, np.float64: 1e-13}


def reference(A, B):
    return A.astype(np.float64) @ B.astype(np.float64)


def relative(got, want):
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, n, w", SHAPES)
def test_products_match_float64_products(dtype, m, n, w):
    rng = np.random.default_rng(m * n + w)
    X = rng.poisson(3.0, (m, n)).astype(dtype)
    R = rng.standard_normal((n, w)).astype(dtype)
    L = rng.standard_normal((m, w)).astype(dtype)
    product = thin.thin_matmul(X, R)
    assert product.shape == (m, w) and product.dtype == dtype
    assert product.flags.c_contiguous
    assert relative(product, reference(X, R)) < TOL[dtype]
    product = thin.thin_rmatmul(L, X)
    assert product.shape == (w, n) and product.dtype == dtype
    assert relative(product, reference(L.T, X)) < TOL[dtype]


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_the_result_does_not_depend_on_the_number_of_threads(threads):
    rng = np.random.default_rng(threads)
    X = rng.random((203, 17000), dtype=np.float32)  # 8 row and 4 strip ranges
    R = rng.standard_normal((17000, 11)).astype(np.float32)
    L = rng.standard_normal((203, 11)).astype(np.float32)
    np.testing.assert_array_equal(
        thin.thin_matmul(X, R, threads=threads), thin.thin_matmul(X, R, threads=1)
    )
    np.testing.assert_array_equal(
        thin.thin_rmatmul(L, X, threads=threads), thin.thin_rmatmul(L, X, threads=1)
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_reach_the_products_of_their_row_and_column(bad):
    X = np.ones((30, 3000), np.float32)
    X[17, 2500] = bad
    R = np.ones((3000, 5), np.float32)
    L = np.ones((30, 5), np.float32)
    XR = thin.thin_matmul(X, R)
    LX = thin.thin_rmatmul(L, X)
    assert not np.isfinite(XR[17]).any() and np.isfinite(np.delete(XR, 17, 0)).all()
    assert not np.isfinite(LX[:, 2500]).any()
    assert np.isfinite(np.delete(LX, 2500, 1)).all()


def test_inputs_are_not_modified_and_may_be_read_only():
    rng = np.random.default_rng(0)
    X = rng.random((40, 3000)).astype(np.float32)
    R = rng.random((3000, 8)).astype(np.float32)
    L = rng.random((40, 8)).astype(np.float32)
    copies = [a.copy() for a in (X, R, L)]
    for a in (X, R, L):
        a.setflags(write=False)  # e.g. a memory-mapped file opened read-only
    assert relative(thin.thin_matmul(X, R), reference(X, R)) < 2e-6
    assert relative(thin.thin_rmatmul(L, X), reference(L.T, X)) < 2e-6
    for a, b in zip((X, R, L), copies, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def avx512(monkeypatch):
    """Dispatch as on a CPU with AVX-512 (the kernels run on any CPU)."""
    monkeypatch.setattr(thin, "_avx512", lambda: True)
    monkeypatch.delenv("HYPERSPY_RNMF_BLAS_PRODUCTS", raising=False)


def large(dtype=np.float32, order="C"):
    rows = thin.MIN_BYTES // (4096 * np.dtype(dtype).itemsize) + 1
    return np.ones((rows, 4096), dtype, order=order)


def test_large_float_blocks_go_to_the_kernels(avx512):
    X = large()
    assert thin.compiled(X, np.ones((4096, 18), np.float32))
    assert thin.compiled(X, np.ones((X.shape[0], 1), np.float32))
    assert thin.compiled(large(np.float64), np.ones((4096, thin.MAX_COLUMNS)))


@pytest.mark.parametrize(
    "case",
    [
        "switch",
        "small",
        "integer",
        "fortran",
        "other dtype",
        "too wide",
        "empty",
        "no avx512",
    ],
)
def test_other_products_go_to_blas(avx512, monkeypatch, case):
    X, R = large(), np.ones((4096, 18), np.float32)
    if case == "switch":
        monkeypatch.setenv("HYPERSPY_RNMF_BLAS_PRODUCTS", "1")
    elif case == "small":
        X = X[:10]
    elif case == "integer":
        X = X.astype(np.uint16)
    elif case == "fortran":
        X = large(order="F")
    elif case == "other dtype":
        R = R.astype(np.float64)
    elif case == "too wide":
        R = np.ones((4096, thin.MAX_COLUMNS + 1), np.float32)
    elif case == "empty":
        R = R[:, :0]
    else:
        monkeypatch.setattr(thin, "_avx512", lambda: False)
    assert not thin.compiled(X, R)
    np.testing.assert_array_equal(thin.matmul(X, R), X @ R)


def test_dispatch_gives_the_kernels_result(avx512):
    rng = np.random.default_rng(1)
    X = rng.random(large().shape, dtype=np.float32)
    R = rng.standard_normal((X.shape[1], 9)).astype(np.float32)
    L = rng.standard_normal((X.shape[0], 9)).astype(np.float32)
    np.testing.assert_array_equal(thin.matmul(X, R), thin.thin_matmul(X, R))
    np.testing.assert_array_equal(thin.rmatmul(L, X), thin.thin_rmatmul(L, X))


def fit(X, monkeypatch, compiled):
    if compiled:
        monkeypatch.delenv("HYPERSPY_RNMF_BLAS_PRODUCTS", raising=False)
    else:
        monkeypatch.setenv("HYPERSPY_RNMF_BLAS_PRODUCTS", "1")
    model = RandomizedNMF(n_components=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = model.fit_transform(X)
    return model, W


@pytest.mark.parametrize("dtype", [np.float32, np.uint16, np.uint8])
def test_fits_with_the_kernels_and_with_blas_agree(avx512, monkeypatch, dtype):
    # in memory: float32 and uint16 whole arrays (uint16 converted as it is
    # read), uint8 (3 MB, below MIN_BYTES) converted block by block
    rng = np.random.default_rng(2)
    n_samples, n_features = 600, 2500  # 6 MB as float32: above MIN_BYTES
    W = rng.random((n_samples, 4)) * 50
    H = rng.random((4, n_features))
    W[:4], H[:, :4] = 50 * np.eye(4), np.eye(4)
    X = rng.poisson(W @ H).astype(dtype)
    if dtype == np.uint16:
        X = np.hstack([X, X])  # 6 MB of uint16
        n_features *= 2
    before = X.copy()
    operand = NumpyOperand(X)
    M = np.ones((n_features, 4), np.float32)
    block = operand._whole(M) if dtype != np.uint8 else next(operand._blocks())[2]
    assert (block is X) == (dtype != np.uint8)
    assert thin.compiled(block, M)
    with_kernels, W1 = fit(X, monkeypatch, compiled=True)
    with_blas, W2 = fit(X, monkeypatch, compiled=False)
    np.testing.assert_array_equal(X, before)
    assert match_components(with_kernels.components_, with_blas.components_).min() > (
        1 - 1e-6
    )
    assert with_kernels.reconstruction_err_ == pytest.approx(
        with_blas.reconstruction_err_, rel=1e-6
    )
    np.testing.assert_allclose(W1, W2, rtol=1e-3, atol=1e-3 * W2.max())


def exact_moments(X):
    """Sum, sum of squares (each squared in X's precision) and count of
    negative values, in float64."""
    squares = (X * X).astype(np.float64)
    return X.astype(np.float64).sum(), squares.sum(), int((X < 0).sum())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, n, w", SHAPES)
def test_products_with_moments_give_the_moments_of_the_data(dtype, m, n, w):
    rng = np.random.default_rng(m + n + w)
    X = (rng.standard_normal((m, n)) * 1e3).astype(dtype)
    R = rng.standard_normal((n, w)).astype(dtype)
    L = rng.standard_normal((m, w)).astype(dtype)
    want = exact_moments(X)
    for product, args in ((thin.thin_matmul, (X, R)), (thin.thin_rmatmul, (L, X))):
        got, moments = product(*args, moments=True)
        np.testing.assert_array_equal(got, product(*args))  # the same product
        assert moments[0] == pytest.approx(want[0], rel=1e-12, abs=1e-6 * n)
        assert moments[1] == pytest.approx(want[1], rel=1e-12)
        assert moments[2] == want[2]


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_moments_do_not_depend_on_the_number_of_threads(threads):
    rng = np.random.default_rng(threads)
    X = rng.standard_normal((203, 17000)).astype(np.float32)  # 8 ranges, 9 strips
    R = rng.standard_normal((17000, 5)).astype(np.float32)
    L = rng.standard_normal((203, 5)).astype(np.float32)
    for product, args in ((thin.thin_matmul, (X, R)), (thin.thin_rmatmul, (L, X))):
        one = product(*args, threads=1, moments=True)[1]
        assert product(*args, threads=threads, moments=True)[1] == one


@pytest.mark.parametrize("product", ["matmul", "rmatmul"])
def test_moments_see_bad_values_as_the_moments_kernel_does(product):
    X = np.ones((30, 5000), np.float32)
    X[3, 7], X[29, 4999], X[10, 10] = -0.0, -1e-30, -2.0  # -0.0 is not negative
    X[12, 4000] = 1e20  # its square overflows float32

    def moments(X):
        if product == "matmul":
            return thin.thin_matmul(X, np.ones((5000, 2), np.float32), moments=True)[1]
        return thin.thin_rmatmul(np.ones((30, 2), np.float32), X, moments=True)[1]

    total, squares, negative = moments(X)
    assert negative == 2 and squares == np.inf
    assert total == pytest.approx(1e20, rel=1e-6)
    X[12, 4000] = np.nan
    total, squares, negative = moments(X)
    assert np.isnan(total) and np.isnan(squares) and negative == 2


@pytest.mark.parametrize("compiled", [True, False])
def test_dispatch_with_moments(avx512, monkeypatch, compiled):
    if not compiled:
        monkeypatch.setenv("HYPERSPY_RNMF_BLAS_PRODUCTS", "1")
    rng = np.random.default_rng(4)
    X = rng.random(large().shape, dtype=np.float32) - 0.01
    R = rng.standard_normal((X.shape[1], 7)).astype(np.float32)
    L = rng.standard_normal((X.shape[0], 7)).astype(np.float32)
    assert thin.compiled(X, R) is compiled
    product, moments = thin.matmul_and_moments(X, R)
    np.testing.assert_array_equal(product, thin.matmul(X, R))
    assert moments == (
        thin.thin_matmul(X, R, moments=True)[1] if compiled else block_moments(X)
    )
    product, moments = thin.rmatmul_and_moments(L, X)
    np.testing.assert_array_equal(product, thin.rmatmul(L, X))
    assert moments == (
        thin.thin_rmatmul(L, X, moments=True)[1] if compiled else block_moments(X)
    )
    want = exact_moments(X)
    assert moments[2] == want[2] > 0
    assert moments[1] == pytest.approx(want[1], rel=1e-12)


@pytest.mark.parametrize("w", range(1, 14))
def test_every_width_left_over_from_the_tiles_of_6(w):
    # 0-2 full tiles of 6 and 0-5 columns (rows of L.T @ X) computed alone
    rng = np.random.default_rng(w)
    X = rng.random((26, 2100), dtype=np.float32)  # 6 tiles of 4 rows + 2 rows
    R = rng.standard_normal((2100, w)).astype(np.float32)
    L = rng.standard_normal((26, w)).astype(np.float32)
    for threads in (1, 2):
        assert relative(thin.thin_matmul(X, R, threads), reference(X, R)) < 2e-6
        assert relative(thin.thin_rmatmul(L, X, threads), reference(L.T, X)) < 2e-6


def test_tiles_of_l_that_are_all_zero_are_skipped():
    # the grouped test matrix of the sketch: each group of 6 rows of L is
    # nonzero in one block of 6 columns only
    rng = np.random.default_rng(8)
    X = rng.random((36, 5000), dtype=np.float32)
    L = rng.standard_normal((36, 20)).astype(np.float32)
    for g in range(6):
        for b in range(3):
            if b != g % 3:
                L[6 * g : 6 * g + 6, 6 * b : 6 * b + 6] = 0
    L[13, 4] = 0.5  # one value in a tile of zeros: that tile is computed
    assert relative(thin.thin_rmatmul(L, X), reference(L.T, X)) < 2e-6
    # skipped, not multiplied: the NaN of rows 6-11 stays out of the
    # blocks where their weights are 0 (the moments report it: see above)
    X[8, 100] = np.nan
    product = thin.thin_rmatmul(L, X)
    assert np.isnan(product[6:12, 100]).all()  # rows 6-11 own block 1
    assert (
        np.isfinite(product[:6, 100]).all() and np.isfinite(product[12:18, 100]).all()
    )
    assert np.isnan(product[18:, 100]).all()  # left-over columns: dense


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.int8, np.int16, np.uint32, np.int32]
)
def test_counts_are_read_in_place_without_a_float_copy(avx512, monkeypatch, dtype):
    rng = np.random.default_rng(5)
    X = rng.poisson(5.0, (1100, 4100)).astype(dtype)  # >= 4.5 MB
    work = thin.WORK_DTYPES[np.dtype(dtype)]  # float32, or float64 for 32 bits
    M = rng.standard_normal((4100, 7)).astype(work)
    L = rng.standard_normal((1100, 7)).astype(work)
    before = X.copy()
    operand = NumpyOperand(X)
    assert operand._whole(M) is X and operand._whole(L) is X
    monkeypatch.setattr(NumpyOperand, "_block", None)  # no block is converted
    stats, XM = operand.stats_and_matmul(M)
    _, LX = operand.stats_and_rmatmul(L)
    monkeypatch.undo()
    # the same values as floats, whole: the same kernels, the same bits
    Xf = NumpyOperand(X.astype(work))
    stats_f, XM_f = Xf.stats_and_matmul(M)
    np.testing.assert_array_equal(XM, XM_f)
    np.testing.assert_array_equal(LX, Xf.stats_and_rmatmul(L)[1])
    assert (stats.total, stats.sum_squares) == (stats_f.total, stats_f.sum_squares)
    assert stats.total == X.sum(dtype=np.float64)
    np.testing.assert_array_equal(operand.matmul(M), XM)
    np.testing.assert_array_equal(operand.rmatmul(L), LX)
    # selected columns: converted block by block, the same values
    blocks = NumpyOperand(X, cols=np.arange(X.shape[1]))
    assert blocks._whole(M) is None
    scale = np.abs(XM).max()
    np.testing.assert_allclose(blocks.stats_and_matmul(M)[1], XM, atol=1e-5 * scale)
    np.testing.assert_allclose(blocks.rmatmul(L), LX, atol=1e-5 * np.abs(LX).max())
    np.testing.assert_array_equal(X, before)


def test_counts_fit_as_their_float32_copy(avx512):
    rng = np.random.default_rng(6)
    X = rng.poisson(rng.random((900, 3)) @ rng.random((3, 3000)) * 20)
    X = X.astype(np.uint16)  # 5.4 MB, read in place
    models = [
        RandomizedNMF(3, random_state=0).fit(data) for data in (X, X.astype(np.float32))
    ]
    np.testing.assert_array_equal(models[0].components_, models[1].components_)
    assert models[0].reconstruction_err_ == models[1].reconstruction_err_


def test_signed_counts_read_in_place_report_negative_values(avx512):
    X = np.full((1100, 4100), 3, np.int16)
    X[700, 17] = -4
    with pytest.raises(ValueError, match=r"minimum -4 at row 700, column 17"):
        RandomizedNMF(2, random_state=0).fit(X)
    assert NumpyOperand(X)._whole(np.ones((4100, 2), np.float32)) is X

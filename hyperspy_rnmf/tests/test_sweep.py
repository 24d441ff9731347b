"""The compiled HALS sweep against the row-by-row formula and exact NNLS."""

import numpy as np
import pytest
import scipy.optimize

from hyperspy_rnmf._sweep import BLOCK, sweep_rows


def reference_sweep(V, gram, rhs, l1, l2):
    """HALS row by row, as written in the papers (NumPy, in place)."""
    change = 0.0
    for j in range(V.shape[0]):
        denom = gram[j, j] + l2
        if denom <= 0:
            continue
        gradient = gram[j] @ V - rhs[j] + l1 + l2 * V[j]
        new = np.maximum(V[j] - gradient / denom, 0.0)
        change += float(np.sum((new - V[j]) ** 2))
        V[j] = new
    return change


def problem(k, n, seed):
    rng = np.random.default_rng(seed)
    C = rng.random((3 * k, k))
    gram = C.T @ C
    rhs = C.T @ (rng.random((3 * k, n)) - 0.3)  # some coefficients clip at 0
    V = rng.random((k, n))
    return V, gram, rhs


@pytest.mark.parametrize("k", [1, 3, 8])
@pytest.mark.parametrize("n", [1, 7, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5])
@pytest.mark.parametrize("l1, l2", [(0.0, 0.0), (0.05, 0.0), (0.0, 0.3), (0.02, 0.1)])
def test_sweep_matches_row_by_row_formula(k, n, l1, l2):
    V, gram, rhs = problem(k, n, seed=k * 1000 + n)
    expected = V.copy()
    for _ in range(3):
        change_ref = reference_sweep(expected, gram, rhs, l1, l2)
        change = sweep_rows(V, gram, rhs, l1, l2)
        np.testing.assert_allclose(V, expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(change, change_ref, rtol=1e-10, atol=1e-28)
    assert (V >= 0).all()


def test_repeated_sweeps_reach_exact_nnls():
    # planted: min |C x - b| over x >= 0 for each column, solved by SciPy
    rng = np.random.default_rng(3)
    C = rng.random((40, 6))
    X_true = np.maximum(rng.normal(size=(6, 900)), 0.0)  # many exact zeros
    b = C @ X_true + 0.01 * rng.random((40, 900))
    V = np.ones((6, 900))
    gram, rhs = C.T @ C, C.T @ b
    for _ in range(2000):
        if sweep_rows(V, gram, rhs) < 1e-26:
            break
    exact = np.stack([scipy.optimize.nnls(C, col)[0] for col in b.T], axis=1)
    np.testing.assert_allclose(V, exact, atol=1e-9)


def test_zero_gram_row_leaves_its_factor_row_alone():
    V, gram, rhs = problem(4, 50, seed=1)
    gram[2, :] = gram[:, 2] = 0.0  # an all-zero row of the other factor
    before = V[2].copy()
    sweep_rows(V, gram, rhs)
    np.testing.assert_array_equal(V[2], before)


def test_sweep_is_deterministic():
    V, gram, rhs = problem(8, 2 * BLOCK + 3, seed=5)
    W = V.copy()
    assert sweep_rows(V, gram, rhs, 0.01, 0.02) == sweep_rows(W, gram, rhs, 0.01, 0.02)
    np.testing.assert_array_equal(V, W)


def test_gram_and_rhs_of_other_layouts_and_precisions():
    V, gram, rhs = problem(3, 40, seed=2)
    W, X = V.copy(), V.copy()
    sweep_rows(V, gram, rhs)
    sweep_rows(W, np.asfortranarray(gram), np.asfortranarray(rhs))
    np.testing.assert_array_equal(V, W)
    sweep_rows(X, gram.astype(np.float32), rhs.astype(np.float32))
    np.testing.assert_allclose(X, V, rtol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda V: V.astype(np.float32),
        lambda V: np.asfortranarray(V),
        lambda V: V[:, ::2],
    ],
    ids=["float32", "fortran", "strided"],
)
def test_factor_must_be_updatable_in_place(make):
    V, gram, rhs = problem(3, 40, seed=2)
    with pytest.raises(TypeError, match="V must be a writeable C-contiguous float64"):
        sweep_rows(make(V), gram, rhs[:, : make(V).shape[1]])


def test_read_only_factor_refused():
    V, gram, rhs = problem(3, 40, seed=2)
    V.flags.writeable = False
    with pytest.raises(TypeError, match="writeable"):
        sweep_rows(V, gram, rhs)


@pytest.mark.parametrize(
    "gram_shape, rhs_shape", [((3, 4), (3, 40)), ((3, 3), (3, 39)), ((4, 4), (4, 40))]
)
def test_shape_mismatch_refused(gram_shape, rhs_shape):
    V = np.ones((3, 40))
    with pytest.raises(ValueError, match=r"shapes V \(3, 40\), gram .* do not match"):
        sweep_rows(V, np.ones(gram_shape), np.ones(rhs_shape))

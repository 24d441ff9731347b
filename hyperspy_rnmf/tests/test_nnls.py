"""Batched NNLS by block principal pivoting against SciPy's NNLS."""

import numpy as np
import pytest
from scipy.optimize import nnls

from hyperspy_rnmf._nnls import _lawson_hanson, load_kernel, nnls_gram


@pytest.mark.parametrize("k", [1, 2, 5, 12, 70])
def test_matches_scipy_nnls(k):
    rng = np.random.default_rng(k)
    C = rng.random((150, k)) + 0.5 * rng.random((150, 1))  # correlated columns
    B = rng.standard_normal((150, 60)) + C @ rng.random((k, 60))
    X = nnls_gram(C.T @ C, C.T @ B)
    expected = np.stack([nnls(C, b)[0] for b in B.T], axis=1)
    np.testing.assert_allclose(X, expected, atol=1e-9 * np.abs(expected).max())
    assert X.min() >= 0


def test_each_column_independent_of_the_others():
    rng = np.random.default_rng(0)
    C = rng.random((80, 6))
    R = C.T @ rng.standard_normal((80, 40))
    full = nnls_gram(C.T @ C, R)
    order = rng.permutation(40)
    np.testing.assert_allclose(
        nnls_gram(C.T @ C, R[:, order]), full[:, order], rtol=1e-12
    )
    np.testing.assert_allclose(nnls_gram(C.T @ C, R[:, 7:8]), full[:, 7:8], rtol=1e-12)


def test_penalties_and_zero_component():
    rng = np.random.default_rng(1)
    C = rng.random((50, 3))
    C[:, 2] = 0  # an all-zero component stays at zero
    B = C @ rng.random((3, 10))
    X = nnls_gram(C.T @ C, C.T @ B)
    np.testing.assert_array_equal(X[2], 0)
    shrunk = nnls_gram(C.T @ C, C.T @ B, l2=10.0)
    assert np.linalg.norm(shrunk) < np.linalg.norm(X)
    sparse = nnls_gram(C.T @ C, C.T @ B, l1=5.0)
    assert (sparse == 0).sum() > (X == 0).sum()


def test_input_not_modified_and_empty():
    rng = np.random.default_rng(2)
    G = np.eye(3)
    R = rng.standard_normal((3, 5))
    copy = R.copy()
    nnls_gram(G, R, l1=0.1, l2=0.1)
    np.testing.assert_array_equal(R, copy)
    assert nnls_gram(G, np.zeros((3, 0))).shape == (3, 0)


def test_singular_gram_with_round_off_stays_bounded():
    # 40 components of rank 20 (H H^T singular) and a right-hand side
    # computed in float32: without the ridge the loadings reached 1e11 and
    # the residual 3e8 times the data
    rng = np.random.default_rng(0)
    H = rng.random((40, 20)) @ rng.random((20, 40))
    H /= H.sum(axis=1, keepdims=True)
    X = (rng.random((60, 20)) @ rng.random((20, 40))).astype(np.float32)
    rhs = (X @ H.astype(np.float32).T).astype(np.float64)
    W = nnls_gram(H @ H.T, rhs.T, rtol=np.finfo(np.float32).eps).T
    optimum = np.sqrt(sum(nnls(H.T, x.astype(np.float64))[1] ** 2 for x in X))
    assert W.min() >= 0 and W.max() < 1e3
    np.testing.assert_allclose(np.linalg.norm(X - W @ H), optimum, rtol=1e-6)


def test_cycling_exchanges_fall_back_to_an_exact_solver():
    # 15 components of rank 5 (found by a fit with k above the rank):
    # block pivoting cycles on round-off; the result must still be optimal
    rng = np.random.default_rng(4)
    X = rng.random((60, 5)) @ rng.random((5, 40))
    H = rng.random((15, 5)) @ rng.random((5, 40))
    H[:, ::3] *= 1 + 1e-9 * rng.random((15, 14))
    G, R = H @ H.T, H @ X.T
    W = nnls_gram(G, R)
    gradient = G @ W - R
    scale = np.abs(R).max()
    assert W.min() >= 0
    assert np.abs(gradient[W > 0]).max() < 1e-6 * scale  # KKT conditions
    assert gradient.min() > -1e-6 * scale
    expected = np.sqrt(sum(nnls(H.T, x)[1] ** 2 for x in X))
    assert np.linalg.norm(X - W.T @ H) <= expected + 1e-6 * np.linalg.norm(X)


def test_a_passive_system_that_is_not_positive_definite_goes_to_lawson_hanson():
    gram = np.array([[1.0, 2.0], [2.0, 1.0]])  # indefinite: Cholesky fails
    rhs = np.array([[1.0, 0.5], [1.0, -1.0]])  # column 1: one variable, solved
    x = nnls_gram(gram, rhs, rtol=0.0)
    np.testing.assert_allclose(x[:, :1], _lawson_hanson(gram, rhs[:, :1]))
    np.testing.assert_allclose(x[:, 1], [0.5, 0.0])


def test_load_kernel_returns_its_time():
    assert 0.0 <= load_kernel() < 60.0
    np.testing.assert_array_equal(
        nnls_gram(np.eye(2), np.array([[1.0], [-1.0]])), [[1.0], [0.0]]
    )

"""The compiled HALS sweep against the row-by-row formula and exact NNLS."""

import numpy as np
import pytest
import scipy.optimize

from hyperspy_rnmf._sweep import BLOCK, extrapolate, sweep_rows, sweep_until


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


@pytest.mark.parametrize("k", [1, 3, 4, 5, 8, 11])
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


def written_order_sweep(V, gram, rhs, l1, l2):
    """The kernel's arithmetic in its documented order, one NumPy operation
    at a time: ``(l1 - R[j]) + l2 V[j]``, then ``+ G[j, i] V[i]`` for
    ``i = 0 .. k-1``, then the clipped step (in place)."""
    for j in range(V.shape[0]):
        denom = gram[j, j] + l2
        if denom <= 0:
            continue
        a = (l1 - rhs[j]) + l2 * V[j]
        for i in range(V.shape[0]):
            a = a + gram[j, i] * V[i]
        new = V[j] - a * (1.0 / denom)
        V[j] = np.where(new > 0.0, new, 0.0)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 9, 12, 13])
def test_sweep_adds_in_the_written_order(k):
    # bit for bit: the grouping of four terms per loop over the block must
    # not change the order of the additions (results independent of it)
    V, gram, rhs = problem(k, 2 * BLOCK + 9, seed=40 + k)
    if k > 2:
        gram[1, :] = gram[:, 1] = 0.0  # a skipped row inside a group of four
    expected = V.copy()
    for _ in range(3):
        written_order_sweep(expected, gram, rhs, 0.01, 0.05)
        sweep_rows(V, gram, rhs, 0.01, 0.05)
        np.testing.assert_array_equal(V, expected)


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


def looped_sweeps(V, gram, rhs, l1, l2, max_sweeps, ratio, threshold):
    """The stopping rule of :func:`sweep_until` with one call per sweep."""
    first = None
    for n in range(1, max_sweeps + 1):
        change = sweep_rows(V, gram, rhs, l1, l2)
        first = change if first is None else first
        if change <= threshold or (n > 1 and change <= ratio * first):
            return n, change
    return max_sweeps, change


@pytest.mark.parametrize(
    "max_sweeps, ratio, threshold",
    [
        (5, 0.01, -1.0),  # HALS updates: from the second sweep, 1 % of the first
        (20, 1e-4, -1.0),  # the tall solve after the leverage sample
        (20, 0.0, 1e-3),  # the components' update: an absolute threshold
        (20, 0.0, 1e9),  # met by the first sweep
        (3, 0.0, -1.0),  # no rule: every sweep
        (1, 0.5, -1.0),
        (5, 2.0, -1.0),  # the rule holds from the second sweep only: 2 sweeps
    ],
)
@pytest.mark.parametrize("k", [3, 8])
def test_sweep_until_makes_the_sweeps_of_the_loop(k, max_sweeps, ratio, threshold):
    V, gram, rhs = problem(k, BLOCK + 77, seed=7 + k)
    W = V.copy()
    expected = looped_sweeps(W, gram, rhs, 0.01, 0.02, max_sweeps, ratio, threshold)
    result = sweep_until(
        V,
        gram,
        rhs,
        0.01,
        0.02,
        max_sweeps=max_sweeps,
        ratio=ratio,
        threshold=threshold,
    )
    assert result == expected
    np.testing.assert_array_equal(V, W)
    if (max_sweeps, threshold) == (3, -1.0):
        assert result[0] == 3
    if threshold == 1e9:
        assert result[0] == 1
    if ratio == 2.0:
        assert result[0] == 2


def test_sweep_until_stops_on_the_relative_rule_before_the_cap():
    V, gram, rhs = problem(8, 300, seed=11)
    n_sweeps, _ = sweep_until(V, gram, rhs, max_sweeps=500, ratio=1e-3)
    assert 2 <= n_sweeps < 500


def test_sweep_until_checks_its_arguments():
    V = np.ones((3, 40), dtype=np.float32)
    with pytest.raises(TypeError, match="V must be a writeable C-contiguous float64"):
        sweep_until(V, np.eye(3), np.ones((3, 40)), max_sweeps=2)
    with pytest.raises(ValueError, match=r"shapes V \(3, 40\), gram \(2, 2\)"):
        sweep_until(np.ones((3, 40)), np.eye(2), np.ones((3, 40)), max_sweeps=2)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (8, 2028)])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_extrapolate_is_the_numpy_formula(shape, beta):
    rng = np.random.default_rng(sum(shape))
    new = np.maximum(rng.normal(size=shape), 0.0)  # HALS iterates: >= 0, zeros
    old = np.maximum(rng.normal(size=shape), 0.0)
    out = np.full(shape, np.nan)
    extrapolate(out, new, old, beta)
    expected = np.maximum((new - old) * beta + new, 0.0)
    np.testing.assert_array_equal(out, expected)
    assert (out >= 0).all()


@pytest.mark.parametrize(
    "arrays, error, match",
    [
        (
            (np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 2))),
            ValueError,
            "one 2D shape",
        ),
        ((np.ones(6), np.ones(6), np.ones(6)), ValueError, "one 2D shape"),
        (
            (np.ones((2, 3)), np.ones((2, 3), np.float32), np.ones((2, 3))),
            TypeError,
            "C-contiguous float64",
        ),
        (
            (np.ones((2, 3)), np.ones((2, 6))[:, ::2], np.ones((2, 3))),
            TypeError,
            "C-contiguous float64",
        ),
    ],
)
def test_extrapolate_refuses_mismatched_arrays(arrays, error, match):
    with pytest.raises(error, match=match):
        extrapolate(*arrays, 0.5)

"""The orthonormal basis of the QB sketch (Cholesky QR, one or two rounds)."""

import numpy as np
import pytest

from hyperspy_rnmf import _sketch


def with_condition(cond, shape=(5000, 14), seed=0):
    """A tall matrix with singular values spread from 1 to ``1 / cond``."""
    rng = np.random.default_rng(seed)
    left = np.linalg.qr(rng.standard_normal(shape))[0]
    right = np.linalg.qr(rng.standard_normal((shape[1], shape[1])))[0]
    return (left * np.geomspace(1.0, 1.0 / cond, shape[1])) @ right


def rounds(monkeypatch):
    calls = []
    cholesky = np.linalg.cholesky

    def counted(gram):
        calls.append(gram.shape)
        return cholesky(gram)

    monkeypatch.setattr(_sketch.np.linalg, "cholesky", counted)
    return calls


@pytest.mark.parametrize("cond, n_rounds", [(1.0, 1), (900.0, 1), (1.2e3, 2), (1e6, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_basis_is_orthonormal_and_spans_the_columns(monkeypatch, cond, n_rounds, dtype):
    Y = with_condition(cond).astype(dtype)
    before = Y.copy()
    calls = rounds(monkeypatch)
    Q = _sketch.orthonormalize(Y)
    assert len(calls) == n_rounds  # a second round only when badly conditioned
    assert Q.dtype == np.float64 and Q.shape == Y.shape
    # one round: about cond^2 x 1.1e-16 off; two rounds: float64 round-off
    atol = 1e-9 if n_rounds == 1 else 1e-12
    np.testing.assert_allclose(Q.T @ Q, np.eye(Y.shape[1]), atol=atol)
    Y64 = Y.astype(np.float64)
    np.testing.assert_allclose(Q @ (Q.T @ Y64), Y64, atol=1e-12 * np.abs(Y64).max())
    np.testing.assert_array_equal(Y, before)


def test_one_round_at_the_limit_is_orthonormal_to_float64_round_off():
    Y = with_condition(_sketch.ONE_ROUND_COND)
    Q = _sketch.orthonormalize(Y)
    assert np.abs(Q.T @ Q - np.eye(Y.shape[1])).max() < 1e-9


def test_workspace_is_reused_for_the_result():
    Y = with_condition(10.0)
    workspace = (np.empty(Y.shape), np.empty(Y.shape))
    Q = _sketch.orthonormalize(Y, workspace)
    assert any(Q is buffer for buffer in workspace)
    Z = with_condition(1e5, seed=1)
    Q = _sketch.orthonormalize(Z, workspace)
    assert any(Q is buffer for buffer in workspace)
    np.testing.assert_allclose(Q.T @ Q, np.eye(Y.shape[1]), atol=1e-11)


def test_rank_deficient_columns_fall_back_to_householder(monkeypatch):
    rng = np.random.default_rng(2)
    Y = rng.random((3000, 4)) @ rng.random((4, 9))  # rank 4 of 9 columns
    Q = _sketch.orthonormalize(Y)
    np.testing.assert_allclose(Q.T @ Q, np.eye(9), atol=1e-12)
    np.testing.assert_allclose(Q @ (Q.T @ Y), Y, atol=1e-10 * Y.max())


def owners(omega, blocks):
    """For each group of 6 rows, the blocks of 6 columns where it is nonzero."""
    groups = -(-omega.shape[0] // _sketch.GROUP_ROWS)
    return [
        [b for b in range(blocks) if omega[6 * g : 6 * g + 6, 6 * b : 6 * b + 6].any()]
        for g in range(groups)
    ]


@pytest.mark.parametrize("n_rows, n_columns", [(2028, 18), (1201, 13), (900, 12)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grouped_test_matrix_draws_each_group_of_rows_in_one_block(
    n_rows, n_columns, dtype
):
    omega = _sketch.draw_test_matrix(
        n_rows, n_columns, np.random.default_rng(0), dtype, grouped=True
    )
    assert omega.shape == (n_rows, n_columns) and omega.dtype == dtype
    blocks = n_columns // 6
    found = owners(omega, blocks)
    assert all(len(b) == 1 for b in found)
    counts = np.bincount([b[0] for b in found], minlength=blocks)
    assert counts.max() - counts.min() <= 1  # balanced
    assert np.all(omega[:, 6 * blocks :] != 0)  # left-over columns: dense
    # every column has about the norm of a dense Gaussian column
    norms = np.linalg.norm(omega.astype(np.float64), axis=0) / np.sqrt(n_rows)
    np.testing.assert_allclose(norms, 1.0, atol=0.15)


def test_the_same_seed_draws_the_same_test_matrix():
    draws = [
        _sketch.draw_test_matrix(
            600, 18, np.random.RandomState(3), np.float32, grouped=True
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(*draws)


@pytest.mark.parametrize(
    "n_rows, n_columns, grouped",
    [
        (2028, 18, False),  # not asked for
        (2028, 11, True),  # one block of 6 columns
        (300, 18, True),  # 50 groups of rows: fewer than 18 per block
    ],
)
def test_test_matrix_is_dense_otherwise(n_rows, n_columns, grouped):
    omega = _sketch.draw_test_matrix(
        n_rows, n_columns, np.random.default_rng(1), np.float64, grouped
    )
    want = np.random.default_rng(1).standard_normal((n_rows, n_columns))
    np.testing.assert_array_equal(omega, want)  # the plain Gaussian draw


@pytest.mark.parametrize("shape, grouped", [((700, 3000), True), ((3000, 700), False)])
def test_sketch_groups_the_test_matrix_only_where_it_weights_rows(
    monkeypatch, shape, grouped
):
    from hyperspy_rnmf._operand import NumpyOperand

    seen = []
    draw = _sketch.draw_test_matrix

    def spy(n_rows, n_columns, rng, dtype, grouped=False):
        seen.append((n_rows, grouped))
        return draw(n_rows, n_columns, rng, dtype, grouped)

    monkeypatch.setattr(_sketch, "draw_test_matrix", spy)
    X = np.random.default_rng(0).random(shape, dtype=np.float32)
    sketch = _sketch.qb_sketch(
        NumpyOperand(X), 18, 1, np.random.default_rng(0), lambda stats: None
    )
    assert seen == [(min(shape), grouped)]
    assert sketch.transposed == grouped

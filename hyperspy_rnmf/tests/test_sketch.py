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

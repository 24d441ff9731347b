"""QB sketch of a large non-negative matrix: the randomized range finder.

For a matrix ``A`` of shape (M, N) with M >= N, draw a Gaussian test matrix
``Omega`` (N x l), form ``Y = A @ Omega`` and orthonormalise it; ``q`` power
iterations ``Q <- orth(A @ orth(A.T @ Q))`` sharpen the captured subspace
when the singular values decay slowly (noisy counts). Then ``B = Q.T @ A``
(l x N) and ``A ~ Q @ B``. Each product is one streaming pass over the data,
so the sketch costs ``2 q + 2`` passes. ``A`` is ``X`` or ``X.T``, whichever is
taller: the larger dimension is the one compressed.

References
----------
N. Halko, P. G. Martinsson and J. A. Tropp, "Finding structure with randomness:
probabilistic algorithms for constructing approximate matrix decompositions",
SIAM Review 53 (2011) 217-288, Algorithms 4.3 and 4.4.
"""

from dataclasses import dataclass

import numpy as np

from hyperspy_rnmf._threads import single_blas_thread


@dataclass
class Sketch:
    """``A ~ Q @ B`` with ``A = X.T`` if ``transposed`` else ``X``."""

    Q: np.ndarray  # (M, l), float64, orthonormal columns
    B: np.ndarray  # (l, N), float64
    transposed: bool
    stats: object
    n_passes: int


class Oriented:
    """Products with ``A``, the taller of ``X`` and ``X.T``."""

    def __init__(self, operand):
        self.operand = operand
        self.transposed = operand.shape[0] < operand.shape[1]

    @property
    def shape(self):
        m, n = self.operand.shape
        return (n, m) if self.transposed else (m, n)

    def first(self, matrix):
        """Statistics of X and ``A @ matrix``, in one pass."""
        if self.transposed:
            return self.operand.stats_and_rmatmul(matrix)
        return self.operand.stats_and_matmul(matrix)

    def dot(self, matrix):
        """``A @ matrix``."""
        if self.transposed:
            return self.operand.rmatmul(matrix)
        return self.operand.matmul(matrix)

    def tdot(self, matrix):
        """``A.T @ matrix``."""
        if self.transposed:
            return self.operand.matmul(matrix)
        return self.operand.rmatmul(matrix)


#: Condition number up to which one round of Cholesky QR is enough: its
#: columns are then orthonormal to about ``cond^2 * 1.1e-16`` (1e-10 here),
#: far below the float32 round-off of the products that use them (6e-8).
ONE_ROUND_COND = 1e3


def orthonormalize(matrix, workspace=None):
    """Orthonormal basis (float64) of the columns of a tall ``matrix``.

    Cholesky QR (Fukaya et al. 2014) is a few matrix products, several times
    cheaper than Householder QR for thin matrices. One round leaves the
    columns orthonormal to about ``cond(matrix)^2`` times the float64
    round-off, so a second round (CholeskyQR2) follows unless the condition
    number is at most ``ONE_ROUND_COND``; two rounds are accurate while it
    stays below ~1e7, which holds for every product of the data with an
    orthonormal matrix in a sketch of noisy data (the sketches of
    ``bench_rnmf.py``: 14-100, one round). Rank-deficient inputs (exactly
    low-rank data) fall back to Householder QR.

    Runs on one BLAS thread. These thin products are too small to gain from
    a second OpenBLAS thread, and on busy cores a two-thread call waits for
    a descheduled thread: measured for 34969 x 18 while other work ran on
    both cores, 30 ms per call (median; up to 2.3 s) on two threads against
    8-9 ms on one; on idle cores 4.2 against 4.4 ms.

    Parameters
    ----------
    matrix : numpy.ndarray, shape (M, l)
    workspace : tuple of two float64 arrays of shape (M, l), optional
        Reused buffers (large fresh allocations are slow); the result is one
        of them.
    """
    with single_blas_thread():
        return _orthonormalize(matrix, workspace)


def _orthonormalize(matrix, workspace):
    if workspace is None:
        workspace = (np.empty(matrix.shape), np.empty(matrix.shape))
    first, second = workspace
    np.copyto(first, matrix)
    for source, target in ((first, second), (second, first)):
        gram = source.T @ source
        try:
            r = np.linalg.cholesky(gram).T
        except np.linalg.LinAlgError:
            r = None
        if r is None or np.abs(np.diag(r)).min() <= 1e-7 * np.abs(np.diag(r)).max():
            q = np.linalg.qr(np.asarray(matrix, np.float64), mode="reduced")[0]
            np.copyto(first, q)
            return first
        np.matmul(source, np.linalg.inv(r), out=target)
        if np.linalg.cond(r) <= ONE_ROUND_COND:
            return target
    return first


def qb_sketch(operand, n_columns, n_power_iter, rng, check_stats):
    """Sketch ``operand`` with ``n_columns`` random directions.

    Parameters
    ----------
    operand : NumpyOperand or DaskOperand
        The data, shape (n_samples, n_features).
    n_columns : int
        Sketch size ``l`` (rank plus oversampling), at most ``min(shape)``.
    n_power_iter : int
        Number of power iterations ``q``.
    rng : numpy.random.Generator
        Source of the Gaussian test matrix.
    check_stats : callable
        Called with the statistics of the first pass before any further pass,
        so that invalid data stop the computation early.

    Returns
    -------
    Sketch
    """
    oriented = Oriented(operand)
    n_rows, n_cols = oriented.shape
    omega = rng.standard_normal((n_cols, n_columns)).astype(operand.dtype)
    dtype = operand.dtype
    tall = (np.empty((n_rows, n_columns)), np.empty((n_rows, n_columns)))
    stats, y = oriented.first(omega)
    check_stats(stats)
    q = orthonormalize(y, tall)
    for _ in range(n_power_iter):
        z = orthonormalize(oriented.tdot(q.astype(dtype)))
        q = orthonormalize(oriented.dot(z.astype(dtype)), tall)
    b = oriented.tdot(q.astype(dtype)).T
    q = q.copy()
    return Sketch(
        Q=q,
        B=np.ascontiguousarray(b, dtype=np.float64),
        transposed=oriented.transposed,
        stats=stats,
        n_passes=2 * n_power_iter + 2,
    )

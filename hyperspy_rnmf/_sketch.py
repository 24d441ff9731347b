"""QB sketch of a large non-negative matrix: the randomized range finder.

For a matrix ``A`` of shape (M, N) with M >= N, draw a Gaussian test matrix
``Omega`` (N x l; grouped when ``A = X.T``, see :func:`draw_test_matrix`),
form ``Y = A @ Omega`` and orthonormalise it; ``q`` power
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
P.-G. Martinsson and J. A. Tropp, "Randomized numerical linear algebra:
foundations and algorithms", Acta Numerica 29 (2020) 403-572, section 9
(sparse test matrices).
"""

from dataclasses import dataclass

import numpy as np

from hyperspy_rnmf._thin_product import TILE
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


#: Rows and columns of the blocks of the grouped test matrix
#: (:func:`draw_test_matrix`): the tile of the compiled ``L.T @ X``
#: (:data:`hyperspy_rnmf._thin_product.TILE`), which skips tiles of ``L``
#: that are all zero.
GROUP_ROWS = GROUP_COLUMNS = TILE


def draw_test_matrix(n_rows, n_columns, rng, dtype, grouped=False):
    """Gaussian test matrix ``Omega`` (n_rows x n_columns) of the first pass.

    With ``grouped``, the rows are taken ``GROUP_ROWS`` (6) at a time, and
    each group of rows is drawn only in one of the ``n_columns // 6`` blocks
    of 6 columns (a random, balanced assignment), zero in the others; the
    columns left over from the blocks stay dense. Each value is scaled by
    ``sqrt(n_columns // 6)``, so that every column has the norm it would
    have if dense. Grouping needs at least 2 blocks of columns and
    ``n_columns`` groups of rows per block; otherwise ``Omega`` is dense.

    Used where ``Omega`` weights the rows of the data (``Omega.T @ X``, for
    data with fewer rows than columns, e.g. fewer probe positions than
    pixels): each column of the sketch is then a random combination of a
    random third (18 columns) or half (12-17) of the rows instead of all of
    them, and the compiled product (:mod:`hyperspy_rnmf._thin_product`)
    skips the tiles of zeros: the first pass of a k = 8 fit does a third of
    the arithmetic. Where ``Omega`` weights the columns (``X @ Omega``), the
    compiled product reduces over chunks of 2048 columns, too coarse for
    groups; ``Omega`` stays dense there.

    Measured with ``benchmarks/bench_test_matrix.py`` on the 2028 x 187^2
    float32 data of ``bench_rnmf.py`` (2 cores, interleaved runs): the first
    pass (product and checks) took 21.2 instead of 30.2 ms with 18 columns
    and 20.6 instead of 27.1 ms with 13, where reading the data once with
    the checks takes 17-18 ms; a default fit at k = 8 took 208 instead of
    221 ms (k = 3: 137 and 138 ms), with the same errors and iterations.
    The sketches are as good: over 24 planted datasets (3-12 phases, 1200 x
    64^2 and 2028 x 96^2), the worst planted phase pattern outside the
    sketch's basis was 0.997 times as far on average (0.82-1.12, the
    spread between random draws).

    Parameters
    ----------
    n_rows, n_columns : int
    rng : numpy.random.Generator or numpy.random.RandomState
    dtype : numpy.dtype
        Type of the result (drawn in float64).
    grouped : bool, default False

    Returns
    -------
    numpy.ndarray, shape (n_rows, n_columns)
    """
    omega = rng.standard_normal((n_rows, n_columns))
    blocks = n_columns // GROUP_COLUMNS
    groups = -(-n_rows // GROUP_ROWS)
    if grouped and blocks >= 2 and groups >= blocks * n_columns:
        owner = rng.permutation(np.arange(groups) % blocks)  # balanced
        owner = np.repeat(owner, GROUP_ROWS)[:n_rows]
        for block in range(blocks):
            columns = slice(block * GROUP_COLUMNS, (block + 1) * GROUP_COLUMNS)
            omega[owner != block, columns] = 0.0
        omega[:, : blocks * GROUP_COLUMNS] *= np.sqrt(blocks)
    return omega.astype(dtype)


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
    # Omega weights the rows of the data when A = X.T: grouped (draw_test_matrix)
    omega = draw_test_matrix(n_cols, n_columns, rng, operand.dtype, oriented.transposed)
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

"""Initial factors for NMF computed from a QB sketch.

NNDSVD (Boutsidis & Gallopoulos 2008) builds each initial factor pair from the
positive or the negative part of one singular-vector pair, whichever carries
more energy. The singular vectors come from the small SVD of ``B``
(``A ~ Q B = (Q U_B) S V_B^T``), so no extra pass over the data is needed.
Variants: 'nndsvd' keeps the zeros, 'nndsvda' fills them with the data mean,
'nndsvdar' with small random values (mean / 100 times |N(0, 1)|), which
lets multiplicative-free solvers such as HALS move away from exact zeros.

SPA (successive projection algorithm) starts from the purest samples of the
data instead: for separable data (every phase has pure probe positions, as
grain interiors are) they are the phases themselves. NNDSVD's first factor is
the mean of the data; when the phases share most of their signal (a strong
direct beam) the other factors are small corrections to it, and HALS can end
with phases mixed into each other.

References
----------
C. Boutsidis and E. Gallopoulos, "SVD based initialization: A head start for
nonnegative matrix factorization", Pattern Recognition 41 (2008) 1350-1362.
"""

import numpy as np

from hyperspy_rnmf._nnls import nnls_gram
from hyperspy_rnmf._threads import single_blas_thread

INIT_METHODS = ("nndsvd", "nndsvda", "nndsvdar", "spa", "random", "custom")


def sketch_svd(Q, B, rank=None):
    """Singular triplets of ``A ~ Q B`` from the small SVD of ``B``: ``(u, s, vt)``.

    With ``rank``, only the first ``rank`` left singular vectors ``u`` are
    formed (``Q @ u_B`` costs ``M l rank``; the initialisation of one fit
    needs no more).

    On one BLAS thread: small LAPACK and BLAS calls stall on busy cores with
    two OpenBLAS threads (measured for Q 34969 x 22 and B 22 x 2028 while
    other work ran on both cores: 302 ms against 11 ms; idle 5.5 against
    7.0 ms).
    """
    with single_blas_thread():
        u_b, s, vt = np.linalg.svd(np.asarray(B, dtype=np.float64), full_matrices=False)
        return np.asarray(Q, dtype=np.float64) @ u_b[:, :rank], s, vt


def nndsvd_from_sketch(Q, B, rank, variant, mean, rng, svd=None):
    """NNDSVD initial factors ``U`` (M x rank) and ``V`` (rank x N) of ``A ~ Q B``.

    Parameters
    ----------
    Q : numpy.ndarray, shape (M, l)
    B : numpy.ndarray, shape (l, N)
    rank : int
    variant : {'nndsvd', 'nndsvda', 'nndsvdar'}
    mean : float
        Mean value of the data, used to fill zeros ('nndsvda', 'nndsvdar').
    rng : numpy.random.Generator
    svd : tuple, optional
        ``sketch_svd(Q, B)``, when already computed.
    """
    u, s, vt = sketch_svd(Q, B, rank) if svd is None else svd
    u = u[:, :rank]
    vt = vt[:rank]
    U = np.zeros((u.shape[0], rank))
    V = np.zeros((rank, vt.shape[1]))
    U[:, 0] = np.sqrt(s[0]) * np.abs(u[:, 0])
    V[0] = np.sqrt(s[0]) * np.abs(vt[0])
    for j in range(1, rank):
        x, y = u[:, j], vt[j]
        xp, xn = np.maximum(x, 0), np.maximum(-x, 0)
        yp, yn = np.maximum(y, 0), np.maximum(-y, 0)
        xp_norm, yp_norm = np.linalg.norm(xp), np.linalg.norm(yp)
        xn_norm, yn_norm = np.linalg.norm(xn), np.linalg.norm(yn)
        positive, negative = xp_norm * yp_norm, xn_norm * yn_norm
        if positive >= negative:
            if positive == 0:
                continue
            x_, y_, sigma = xp / xp_norm, yp / yp_norm, positive
        else:
            x_, y_, sigma = xn / xn_norm, yn / yn_norm, negative
        scale = np.sqrt(s[j] * sigma)
        U[:, j] = scale * x_
        V[j] = scale * y_
    eps = 1e-6
    U[U < eps] = 0
    V[V < eps] = 0
    if variant == "nndsvda":
        U[U == 0] = mean
        V[V == 0] = mean
    elif variant == "nndsvdar":
        zeros = U == 0
        U[zeros] = np.abs(mean * rng.standard_normal(zeros.sum()) / 100)
        zeros = V == 0
        V[zeros] = np.abs(mean * rng.standard_normal(zeros.sum()) / 100)
    return U, V


def random_init(shape_u, shape_v, rank, mean, rng):
    """Random non-negative factors scaled so that ``U @ V`` matches the data mean."""
    scale = np.sqrt(max(mean, 0.0) / rank)
    U = scale * np.abs(rng.standard_normal(shape_u))
    V = scale * np.abs(rng.standard_normal(shape_v))
    return U, V


def spa_from_sketch(Q, B, rank, transposed):
    """Initial factors from the ``rank`` purest samples of ``A ~ Q B`` (SPA).

    The successive projection algorithm (Araujo et al. 2001; Gillis & Vavasis
    2014) picks, one at a time, the sample of largest norm once the samples
    already picked are projected out. Samples are scaled to unit sum first, so
    the picked ones are extreme points of the data (the purest phases), not
    the brightest samples. Samples are the columns of ``A`` when
    ``transposed`` (``A = X.T``), else its rows: always the rows of ``X``,
    the probe positions of a 4D-STEM scan. Everything runs on the sketch, no
    pass over the data: ``|Q b| = |b|`` since ``Q`` is orthonormal.

    The patterns of the picked samples start the factor of patterns; the
    loadings start as the exact non-negative least-squares fit of every sample
    to them. Fewer than ``rank`` samples are picked when the scaled samples
    span fewer dimensions; the missing components start at zero.

    Parameters
    ----------
    Q : numpy.ndarray, shape (M, l)
    B : numpy.ndarray, shape (l, N)
    rank : int
    transposed : bool

    Returns
    -------
    U : numpy.ndarray, shape (M, rank)
    V : numpy.ndarray, shape (rank, N)

    References
    ----------
    M. C. U. Araujo et al., "The successive projections algorithm for variable
    selection in spectroscopic multicomponent analysis", Chemometr. Intell.
    Lab. Syst. 57 (2001) 65-73.
    N. Gillis and S. A. Vavasis, "Fast and robust recursive algorithms for
    separable nonnegative matrix factorization", IEEE Trans. Pattern Anal.
    Mach. Intell. 36 (2014) 698-714.
    """
    Q = np.asarray(Q, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if transposed:  # samples: the columns of A ~ Q B, i.e. the columns of B
        coords = B.T.copy()
        sums = coords @ Q.sum(axis=0)
    else:  # samples: the rows of Q B = (Q T^T) P^T, with B^T = P T
        coords = Q @ np.linalg.qr(B.T, mode="r").T
        sums = Q @ B.sum(axis=1)
    # Samples with no signal (a sum at round-off level, or below a millionth of
    # the brightest) would become noise of enormous norm: they are not picked.
    usable = sums > 1e-6 * max(float(sums.max()), 0.0)
    coords /= np.where(usable, sums, np.inf)[:, None]
    picked = spa_select(coords, rank)
    if transposed:
        patterns = np.maximum(Q @ B[:, picked], 0.0)  # (M, r)
        loadings = nnls_gram(patterns.T @ patterns, (patterns.T @ Q) @ B)  # (r, N)
        U, V = patterns, loadings
    else:
        patterns = np.maximum(Q[picked] @ B, 0.0)  # (r, N)
        loadings = nnls_gram(patterns @ patterns.T, (patterns @ B.T) @ Q.T)  # (r, M)
        U, V = loadings.T, patterns
    missing = rank - len(picked)
    U = np.hstack([U, np.zeros((U.shape[0], missing))])
    V = np.vstack([V, np.zeros((missing, V.shape[1]))])
    return U, V


def spa_select(points, rank):
    """Indices of up to ``rank`` rows of ``points`` picked by SPA.

    Each step picks the row of largest residual norm and removes its residual
    direction from all rows. Only the norms are updated (``|r|^2 - (r . e)^2``
    for each new unit direction ``e``): no copy of ``points`` is modified.
    """
    norms = np.einsum("ij,ij->i", points, points)
    largest = float(norms.max()) if norms.size else 0.0
    basis, picked = [], []
    for _ in range(rank):
        j = int(np.argmax(norms))
        if norms[j] <= 1e-12 * largest or largest <= 0:
            break
        direction = points[j].copy()
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to working precision
            for e in basis:
                direction -= (direction @ e) * e
        size = np.linalg.norm(direction)
        if size == 0:
            break
        direction /= size
        basis.append(direction)
        picked.append(j)
        norms -= (points @ direction) ** 2
        norms[picked] = 0.0
    return picked

"""Initial factors for NMF computed from a QB sketch.

NNDSVD (Boutsidis & Gallopoulos 2008) builds each initial factor pair from the
positive or the negative part of one singular-vector pair, whichever carries
more energy. The singular vectors come from the small SVD of ``B``
(``A ~ Q B = (Q U_B) S V_B^T``), so no extra pass over the data is needed.
Variants: 'nndsvd' keeps the zeros, 'nndsvda' fills them with the data mean,
'nndsvdar' with small random values (mean / 100 times |N(0, 1)|), which
lets multiplicative-free solvers such as HALS move away from exact zeros.

References
----------
C. Boutsidis and E. Gallopoulos, "SVD based initialization: A head start for
nonnegative matrix factorization", Pattern Recognition 41 (2008) 1350-1362.
"""

import numpy as np

INIT_METHODS = ("nndsvd", "nndsvda", "nndsvdar", "random", "custom")


def sketch_svd(Q, B):
    """Singular triplets of ``A ~ Q B`` from the small SVD of ``B``: ``(u, s, vt)``."""
    u_b, s, vt = np.linalg.svd(np.asarray(B, dtype=np.float64), full_matrices=False)
    return np.asarray(Q, dtype=np.float64) @ u_b, s, vt


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
    u, s, vt = sketch_svd(Q, B) if svd is None else svd
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

"""Randomized HALS: NMF of the QB sketch, non-negativity in the original space.

Hierarchical alternating least squares (Cichocki & Phan 2009) updates one
factor column at a time in closed form. Here it runs on the sketch
``A ~ Q B`` (Erichson et al. 2018): every product with the data becomes a
product with ``Q`` (M x l) and ``B`` (l x N), with ``l = k + oversample`` much
smaller than min(M, N). The tall factor ``U`` (M x k) is kept in the original
coordinates, so non-negativity is enforced exactly where it matters, on the
factors the user sees, not on their compressed images. One iteration costs
O(M l k + N l k + M k^2), independent of the size of the data.

The objective is ``0.5 |A - U V|_F^2 + l1_U |U|_1 + 0.5 l2_U |U|_F^2 + (same
for V)``, scikit-learn's convention for NMF penalties.

References
----------
N. B. Erichson, A. Mendible, S. Wihlborn and J. N. Kutz, "Randomized
nonnegative matrix factorization", Pattern Recognition Letters 104 (2018) 1-7.
A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale nonnegative
matrix and tensor factorizations", IEICE Trans. Fundamentals E92-A (2009) 708.
"""

import numpy as np


def _sweep_rows(V, gram, rhs, l1, l2, work, old, first):
    """One HALS sweep over the rows of ``V`` for ``min 0.5 V^T G V - R^T V``.

    Updates ``V`` in place and returns ``(change, violation)``: the squared
    norm of the update and, on the ``first`` sweep after new products (else
    0), the squared norm of the projected gradient before the update (zero at
    a stationary point).
    """
    change = violation = 0.0
    for j in range(V.shape[0]):
        denom = gram[j, j] + l2
        if denom <= 0:
            continue
        row = V[j]
        np.matmul(gram[j], V, out=work)
        work -= rhs[j]  # gradient
        if l1:
            work += l1
        if l2:
            work += l2 * row
        if first:
            np.minimum(work, 0.0, out=old)
            np.copyto(old, work, where=row > 0)
            violation += float(old @ old)
        np.copyto(old, row)
        work /= -denom
        work += row
        np.maximum(work, 0.0, out=row)
        np.subtract(row, old, out=old)
        change += float(old @ old)
    return change, violation


def _accelerated_update(V, gram, rhs, l1, l2, work, old, max_sweeps):
    """Repeat HALS sweeps while they still pay (Gillis & Glineur 2012).

    The products forming ``gram`` and ``rhs`` cost much more than a sweep, so
    up to ``max_sweeps`` sweeps are run per product, stopping once a sweep
    changes ``V`` by less than 10 % of the first sweep's change. Returns the
    squared projected-gradient norm seen by the first sweep.
    """
    first, violation = _sweep_rows(V, gram, rhs, l1, l2, work, old, True)
    for _ in range(max_sweeps - 1):
        change, _ = _sweep_rows(V, gram, rhs, l1, l2, work, old, False)
        if change <= 0.01 * first:
            break
    return violation


def compressed_hals(
    Q, B, U, V, *, l1_u, l2_u, l1_v, l2_v, max_iter, tol, dtype=np.float64
):
    """Factorize ``Q @ B ~ U @ V`` with ``U, V >= 0`` by accelerated HALS.

    Parameters
    ----------
    Q : numpy.ndarray, shape (M, l)
        Orthonormal basis of the range of the data.
    B : numpy.ndarray, shape (l, N)
        Projection ``Q.T @ A`` of the data.
    U : numpy.ndarray, shape (M, k)
    V : numpy.ndarray, shape (k, N)
        Non-negative initial factors.
    l1_u, l2_u, l1_v, l2_v : float
        Penalties on ``U`` and ``V``.
    max_iter : int
    tol : float
        Stop when the norm of the projected gradient falls below ``tol``
        times its value at the initial factors (scikit-learn's criterion for
        coordinate descent).

    Returns
    -------
    U, V : numpy.ndarray (float64)
        The factors.
    n_iter : int
    converged : bool
    """
    Qt = np.ascontiguousarray(Q.T, dtype=dtype)  # (l, M)
    Q = np.asarray(Q, dtype=dtype)
    B = np.asarray(B, dtype=dtype)
    Ut = np.array(U.T, dtype=dtype, order="C")  # (k, M): U stored by rows
    V = np.array(V, dtype=dtype, order="C")
    (k, M), N = Ut.shape, V.shape[1]
    l = Q.shape[1]
    # Sweeps of V per product: 1 + 0.5 * (cost of the products / cost of a
    # sweep), as Gillis & Glineur suggest. Repeated sweeps of the tall factor
    # U did not pay off in our measurements (the products with Q cost only a
    # few sweeps), so U gets one sweep per product.
    sweeps_v = 1 + int(0.5 * (M * l * k + l * k * N) / (N * k * (k + 1)))
    AVt_t = np.empty((k, M), dtype)
    work_u, work_v = np.empty(M, dtype), np.empty(N, dtype)
    old_u, old_v = np.empty(M, dtype), np.empty(N, dtype)
    UtU = Ut @ Ut.T
    # Round-off floor of the projected gradient: a gradient of relative size
    # ~eps cannot be reduced further, whatever the initial gradient was (an
    # initialisation that is already optimal, e.g. rank 1, would never reach
    # the relative tolerance otherwise).
    scale = float(np.einsum("ij,ij->", B, B, dtype=np.float64)) * (
        float(np.einsum("ij,ij->", Ut, Ut, dtype=np.float64))
        + float(np.einsum("ij,ij->", V, V, dtype=np.float64))
    )
    floor = (100 * np.finfo(dtype).eps) ** 2 * scale
    initial = None
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        UtA = (Ut @ Q) @ B
        violation = _accelerated_update(
            V, UtU, UtA, l1_v, l2_v, work_v, old_v, sweeps_v
        )
        np.matmul((B @ V.T).T, Qt, out=AVt_t)
        violation += _accelerated_update(
            Ut, V @ V.T, AVt_t, l1_u, l2_u, work_u, old_u, 1
        )
        UtU = Ut @ Ut.T
        if initial is None:
            initial = violation
        if violation <= max(tol**2 * initial, floor):
            converged = True
            break
    return Ut.T, V, n_iter, converged

"""Non-negative least squares for many right-hand sides sharing one Gram matrix.

Block principal pivoting (Kim & Park 2011): every right-hand side follows its
own sequence of passive sets, chosen only from its own data, so the solution of
one row never depends on which other rows are solved with it. That property is
what makes lazy (chunked) and eager loadings agree. The exchanges and the
Cholesky solves of the passive systems run compiled (numba), one right-hand
side after the other. With NumPy, right-hand sides that shared a passive set
were solved together, one small system per set: measured on the loadings of
the 2028 x 187^2 data of ``bench_rnmf.py`` (2028 right-hand sides), 0.88
instead of 3.0 ms at k = 8 and 0.18 instead of 0.65 ms at k = 3; 101400
right-hand sides at k = 8, 51 instead of 92 ms. The solutions agree to
1e-13 (relative). Right-hand sides whose exchanges cycle, or whose passive
system is not positive definite, are solved by Lawson and Hanson's method.

References
----------
J. Kim and H. Park, "Fast nonnegative matrix factorization: an active-set-like
method and comparisons", SIAM J. Sci. Comput. 33 (2011) 3261-3281.
"""

import functools

import numpy as np
import scipy.optimize

from hyperspy_rnmf._numba import compile_kernel


def nnls_gram(gram, rhs, *, l1=0.0, l2=0.0, rtol=None):
    """Solve ``min_x 0.5 x^T G x - r^T x + l1 sum(x) + 0.5 l2 |x|^2, x >= 0``.

    When ``G = C^T C`` is (nearly) singular, e.g. more components than the
    rank of the data, round-off in ``r = C^T b`` has parts outside the range
    of ``G`` and the exact solution of the Gram form runs off to huge
    coefficients (measured: loadings of 1e4 for data of at most 9, a
    residual 50 times the data). A ridge of ``rtol * max(diag(G))``, at the
    accuracy of ``r``, keeps the solution bounded; it changes well-conditioned
    solutions by about ``rtol * cond(G)``, the round-off they already carry.

    Parameters
    ----------
    gram : numpy.ndarray, shape (k, k)
        Symmetric positive semi-definite Gram matrix ``C^T C``.
    rhs : numpy.ndarray, shape (k, p)
        One right-hand side ``C^T b`` per column.
    l1, l2 : float, default 0
        L1 and L2 penalties applied to every coefficient.
    rtol : float, optional
        Relative accuracy of ``rhs``: the machine epsilon of the data it was
        computed from (float64's by default).

    Returns
    -------
    numpy.ndarray, shape (k, p), float64
        The non-negative solution for every column.
    """
    gram = np.asarray(gram, dtype=np.float64)
    rhs = np.asarray(rhs, dtype=np.float64)
    k, p = rhs.shape
    if rtol is None:
        rtol = np.finfo(np.float64).eps
    # Variables with a zero Gram diagonal (an all-zero factor) stay at zero.
    usable = np.diag(gram) + l2 > 0
    ridge = rtol * float(np.max(np.diag(gram), initial=0.0))
    gram = gram + (l2 + ridge) * np.eye(k)
    rhs = rhs - l1
    x = np.zeros((k, p))
    if p == 0:
        return x
    if not usable.all():
        sub = _block_pivoting(gram[np.ix_(usable, usable)], rhs[usable])
        x[usable] = sub
        return x
    return _block_pivoting(gram, rhs)


def _block_pivoting(gram, rhs):
    """Block principal pivoting of every column (compiled, one column at a
    time); columns it cannot finish go to :func:`_lawson_hanson`."""
    x = np.empty(rhs.shape)
    unfinished = _kernel()(gram, np.ascontiguousarray(rhs), x, 50 * (len(gram) + 1))
    left = np.flatnonzero(unfinished)  # cycling, or not positive definite
    if left.size:
        x[:, left] = _lawson_hanson(gram, rhs[:, left])
    return x


@functools.cache
def _kernel():
    def block_pivoting(gram, rhs, out, cap):
        # Kim & Park's exchanges with their backup rule (3 full exchanges
        # without progress, then one variable at a time), per column; the
        # passive systems are solved by Cholesky. Returns the columns left
        # unfinished: infeasible at the cap (exact arithmetic terminates,
        # round-off on a nearly singular Gram matrix can make the exchanges
        # cycle: measured, k = 15 components of rank 5 stopped at the cap
        # with the optimality conditions violated by 0.04 and a residual 4000
        # times the optimum) or a passive system that is not positive
        # definite.
        k, p = rhs.shape
        unfinished = np.zeros(p, np.bool_)
        passive = np.zeros(k, np.bool_)
        infeasible = np.zeros(k, np.bool_)
        x = np.zeros(k)
        y = np.zeros(k)
        z = np.zeros(k)
        index = np.zeros(k, np.int64)
        factor = np.zeros((k, k))
        for c in range(p):
            n_infeasible = 0
            for i in range(k):
                passive[i] = False
                x[i] = 0.0
                y[i] = -rhs[i, c]
                infeasible[i] = y[i] < 0.0
                n_infeasible += infeasible[i]
            best, n_backup, n_iter = k + 1, 3, 0
            while n_infeasible > 0 and n_iter < cap:
                n_iter += 1
                if n_infeasible < best:
                    best, n_backup, full = n_infeasible, 3, True
                elif n_backup > 0:
                    n_backup, full = n_backup - 1, True
                else:
                    full = False
                if full:
                    for i in range(k):
                        if infeasible[i]:
                            passive[i] = not passive[i]
                else:  # backup rule: the last infeasible variable only
                    last = k - 1
                    while not infeasible[last]:
                        last -= 1
                    passive[last] = not passive[last]
                m = 0
                for i in range(k):
                    x[i] = 0.0
                    if passive[i]:
                        index[m] = i
                        m += 1
                # Cholesky factor of the passive Gram matrix, then the solve
                definite = True
                for j in range(m):
                    d = gram[index[j], index[j]]
                    for t in range(j):
                        d -= factor[j, t] * factor[j, t]
                    if not d > 0.0:
                        definite = False
                        break
                    factor[j, j] = np.sqrt(d)
                    for i in range(j + 1, m):
                        v = gram[index[i], index[j]]
                        for t in range(j):
                            v -= factor[i, t] * factor[j, t]
                        factor[i, j] = v / factor[j, j]
                if not definite:
                    break
                for i in range(m):
                    v = rhs[index[i], c]
                    for t in range(i):
                        v -= factor[i, t] * z[t]
                    z[i] = v / factor[i, i]
                for i in range(m - 1, -1, -1):
                    v = z[i]
                    for t in range(i + 1, m):
                        v -= factor[t, i] * z[t]
                    z[i] = v / factor[i, i]
                for i in range(m):
                    x[index[i]] = z[i]
                n_infeasible = 0
                for i in range(k):
                    if passive[i]:
                        y[i] = 0.0
                        infeasible[i] = x[i] < 0.0
                    else:
                        v = -rhs[i, c]
                        for t in range(m):
                            v += gram[i, index[t]] * z[t]
                        y[i] = v
                        infeasible[i] = v < 0.0
                    n_infeasible += infeasible[i]
            unfinished[c] = n_infeasible > 0
            for i in range(k):
                out[i, c] = x[i] if x[i] > 0.0 else 0.0
        return unfinished

    return compile_kernel(block_pivoting, nogil=True)


def _lawson_hanson(gram, rhs):
    """NNLS of every column by SciPy's active-set solver (Lawson & Hanson).

    The Gram form ``0.5 x^T G x - r^T x`` is ``0.5 |A x - b|^2`` up to a
    constant, with ``A = S^(1/2) V^T`` and ``b = S^(-1/2) V^T r`` from
    ``G = V S V^T``; directions of ``G`` at round-off level are left out.
    """
    s, V = np.linalg.eigh(gram)
    keep = s > s.max(initial=0.0) * len(s) * np.finfo(np.float64).eps
    root = np.sqrt(s[keep])
    A = root[:, None] * V[:, keep].T
    B = (V[:, keep].T @ rhs) / root[:, None]
    return np.stack([scipy.optimize.nnls(A, b)[0] for b in B.T], axis=1)


def load_kernel():
    """Compile the kernel, or load it from numba's disk cache, now rather than
    in the first fit; returns the seconds it took (about 0 once loaded)."""
    import time

    start = time.perf_counter()
    nnls_gram(np.ones((1, 1)), np.ones((1, 1)))
    return time.perf_counter() - start

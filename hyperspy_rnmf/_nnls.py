"""Non-negative least squares for many right-hand sides sharing one Gram matrix.

Block principal pivoting (Kim & Park 2011): every right-hand side follows its
own sequence of passive sets, chosen only from its own data, so the solution of
one row never depends on which other rows are solved with it. That property is
what makes lazy (chunked) and eager loadings agree. Right-hand sides that share
a passive set are solved together with one small linear system.

References
----------
J. Kim and H. Park, "Fast nonnegative matrix factorization: an active-set-like
method and comparisons", SIAM J. Sci. Comput. 33 (2011) 3261-3281.
"""

import numpy as np
import scipy.linalg
import scipy.optimize


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
    k, p = rhs.shape
    passive = np.zeros((k, p), dtype=bool)
    x = np.zeros((k, p))
    y = -rhs.copy()
    n_backup = np.full(p, 3)
    best = np.full(p, k + 1)
    infeasible = y < 0
    n_infeasible = infeasible.sum(axis=0)
    # Exact arithmetic terminates; with a nearly singular Gram matrix (more
    # components than the rank of the data) round-off can make the exchanges
    # cycle (measured: k = 15 components of rank 5 stopped at the cap with the
    # optimality conditions violated by 0.04 and a residual 4000 times the
    # optimum). Columns still infeasible at the cap are solved by Lawson-Hanson.
    for _ in range(50 * (k + 1)):
        todo = np.flatnonzero(n_infeasible)
        if todo.size == 0:
            break
        n_inf = n_infeasible[todo]
        improved = n_inf < best[todo]
        best[todo[improved]] = n_inf[improved]
        n_backup[todo[improved]] = 3
        use_backup = ~improved & (n_backup[todo] == 0)
        full_exchange = ~use_backup
        n_backup[todo[~improved & full_exchange]] -= 1
        cols = todo[full_exchange]
        passive[:, cols] ^= infeasible[:, cols]
        cols = todo[use_backup]
        if cols.size:
            last = k - 1 - np.argmax(infeasible[::-1, cols], axis=0)
            passive[last, cols] ^= True
        _solve_passive(gram, rhs, passive, todo, x, y)
        infeasible = (passive & (x < 0)) | (~passive & (y < 0))
        n_infeasible = infeasible.sum(axis=0)
    cycling = np.flatnonzero(n_infeasible)
    if cycling.size:
        x[:, cycling] = _lawson_hanson(gram, rhs[:, cycling])
    return np.maximum(x, 0.0)


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


def _solve_passive(gram, rhs, passive, cols, x, y):
    """Solve the unconstrained problem on each column's passive set, in place."""
    patterns = np.packbits(passive[:, cols], axis=0)
    order = np.lexsort(patterns[::-1])
    patterns = patterns[:, order]
    new_group = np.any(patterns[:, 1:] != patterns[:, :-1], axis=0)
    bounds = np.concatenate([[0], np.flatnonzero(new_group) + 1, [order.size]])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=False):
        members = cols[order[start:stop]]
        pattern = passive[:, members[0]]
        xs = np.zeros((pattern.size, members.size))
        if pattern.any():
            sub = gram[np.ix_(pattern, pattern)]
            try:
                factor = scipy.linalg.cho_factor(sub, check_finite=False)
                xs[pattern] = scipy.linalg.cho_solve(
                    factor, rhs[np.ix_(pattern, members)], check_finite=False
                )
            except np.linalg.LinAlgError:
                xs[pattern] = np.linalg.lstsq(
                    sub, rhs[np.ix_(pattern, members)], rcond=None
                )[0]
        x[:, members] = xs
        y[:, members] = gram @ xs - rhs[:, members]
        y[np.ix_(pattern, members)] = 0.0

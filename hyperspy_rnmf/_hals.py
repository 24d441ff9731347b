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

from hyperspy_rnmf._leverage import sample_rows
from hyperspy_rnmf._sweep import extrapolate, sweep_until


def _accelerated_update(V, gram, rhs, l1, l2, max_sweeps):
    """Repeat HALS sweeps while they still pay (Gillis & Glineur 2012).

    The products forming ``gram`` and ``rhs`` cost more than a sweep, so up
    to ``max_sweeps`` sweeps are run per product, stopping once a sweep
    changes ``V`` by less than 10 % of the first sweep's change (1 % in
    squared norm).
    """
    sweep_until(V, gram, rhs, l1, l2, max_sweeps=max_sweeps, ratio=0.01)


#: Most HALS sweeps of each factor per update (:func:`_accelerated_update`
#: stops earlier once a sweep changes little). On 4D-STEM data the components
#: are strongly correlated (every phase pattern holds the direct beam, and the
#: first NNDSVD factor is their mean), and one HALS sweep, coordinate descent,
#: then solves each factor's subproblem poorly: the fit crawls along a plateau
#: where a phase stays mixed into the mean factor (k = 8 on the 2028 x 187^2
#: benchmark: 417 iterations, 360 of them on the plateau). Exact solves of
#: both subproblems (NNLS) cut that to 53 iterations, but cost more than they
#: save. Up to 5 sweeps of both factors (before: 1 of the tall one, up to 3
#: of the short one):
#:
#: * 2028 x 187^2 benchmark, k = 8: 109 iterations instead of 417, 15.6
#:   instead of 21.6 one-pass times; k = 3 unchanged (8.4 against 8.0, the
#:   noise of that machine);
#: * 40 planted cubes of ``bench_starts.py`` (1200 x 64^2, k = 4..12): every
#:   phase found on 17 instead of 11 from NNDSVDar, mean error 0.08948
#:   instead of 0.09033; from SPA 27 either way. But 1.8 times the HALS time
#:   from NNDSVDar (the fits escape plateaus on which they used to stop) and
#:   1.45 times from SPA: on data this small a sweep costs as much as the
#:   products it saves.
#:
#: Up to 10 sweeps found as many phases, 0.95 times the benchmark's k = 8 time
#: and 2.2 times the HALS time on the cubes; up to 2 of the tall factor and 5
#: of the short one, 1.2 times the k = 8 time of 5 and 5, and 0.7 times its
#: time on the cubes, at a mean error of 0.08970. Measured again once the
#: sweeps were compiled (:mod:`hyperspy_rnmf._sweep`): up to 10 sweeps, k = 8
#: in 74 iterations and 0.87 times the time, the same phases on the cubes,
#: but the k-scan of ``bench_kscan.py`` took 10.8 s instead of 3.2 s.
INNER_SWEEPS = 5

#: Iterations over which the decrease of the error is measured for stopping.
WINDOW = 10

#: An iterate this much (relative) above the best one is not converged
#: (blow-ups of extrapolated steps measured: +18 % to +89 %).
WORSE = 1e-3

#: Relative error below which a fit counts as exact: there the error, computed
#: as ``sqrt(|A|^2 - 2 <V, U^T A> + <U^T U, V V^T>)``, is round-off (about
#: 1e-7 of ``|A|`` in float64), and its changes say nothing about progress.
EXACT = 1e-6

#: Plain HALS iterations before extrapolation starts. Extrapolating from the
#: first iteration makes large early moves that can land in another basin
#: (measured: 8 planted phases, 2028 x 34969: relative error 0.2336 with
#: three phases mixed, against 0.2315 with every phase found (cosine > 0.998)
#: after 20 plain iterations); once HALS has settled in a basin,
#: extrapolation only speeds up the convergence.
PLAIN_ITER = 20


def compressed_hals(
    Q,
    B,
    U,
    V,
    *,
    l1_u,
    l2_u,
    l1_v,
    l2_v,
    max_iter,
    tol,
    a_sq=None,
    warm=False,
    outside_sq=0.0,
):
    """Factorize ``Q @ B ~ U @ V`` with ``U, V >= 0`` by extrapolated HALS.

    Each iteration updates ``V`` (up to ``INNER_SWEEPS`` = 5 sweeps, Gillis &
    Glineur 2012) for the extrapolated ``U``, extrapolates it, then updates
    ``U`` (up to 5 sweeps) for the extrapolated ``V`` and extrapolates it:
    ``Y = max(0, X_new + beta (X_new - X_old))``, after ``PLAIN_ITER`` plain
    iterations. ``beta`` grows while the sketch error decreases and shrinks,
    with a restart from the plain iterate, when it increases (Ang & Gillis
    2019). Each component is kept balanced between its two factors and
    negligible entries are flushed to zero. Extrapolation halves the number
    of iterations on 4D-STEM-like data.

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
        Stop when the best error of the sketch improved by less than ``tol``
        (relative) during the last ``WINDOW`` = 10 iterations (the best, not
        the last: extrapolation makes the error non-monotonic) and the error
        is not falling by more than that over the window (after a restart the
        error can jump and take more than 10 iterations to come back below
        the best: measured on nearly exact rank-3 data, a fit stopped there at
        30 times the error it reaches), nor is the current error more than
        ``max(tol, WORSE)`` above the best one (a blown-up extrapolation).
        With penalties on both factors, "error" is ``sqrt(2 x objective)``:
        the penalized objective, not the fit, must stop improving (the fit
        can get worse while the penalties fall; watching it, fits stopped
        at the same iteration whatever ``tol``, 2 % above scikit-learn's
        objective).
    a_sq : float, optional
        Squared norm of ``Q @ B``, from which the error is computed; by default
        ``|B|^2``, its value for orthonormal ``Q``. Needed when ``Q`` is not
        orthonormal (the rescaled rows of :func:`sampled_hals`).
    warm : bool, default False
        The start is converged for a closely related problem (the factors
        found on the leverage sample, see :func:`sampled_hals`). Then the
        first ``PLAIN_ITER`` iterations may also stop as soon as one of them
        improves the error of the data (see ``outside_sq``) by less than
        ``tol / WINDOW`` (relative; the average rate at which the window rule
        stops), or as soon as the error is below ``EXACT`` (1e-6) of
        ``|A|``, the round-off of an exact fit, whose random changes would
        otherwise keep it going. Plain iterations decrease the error
        monotonically, so they need no window to see through extrapolation
        restarts. The first one is compared with the start, whose error
        comes from the products the iteration forms anyway: when its update
        of ``V`` gains less than that, the stage ends there, before updating
        ``U`` (the start's ``U`` is returned). A start that is already
        converged costs 1 iteration instead of ``WINDOW + 1`` (2 while the
        first iteration had nothing to be compared with: on the 2028 x
        187^2 benchmark at k = 8, 4.3 instead of 9.7 ms). A start that
        still improves faster runs as without ``warm``.
    outside_sq : float, default 0
        Squared norm of the part of the data outside the sketch,
        ``|A|^2 - |Q B|^2`` (for orthonormal ``Q``), used by the warm exit:
        it watches the error of the data, ``sqrt(outside_sq + error^2)``,
        which the fit is for, rather than the error of the sketch. On noisy
        counts most of the data's error lies outside the sketch (the
        noise), and a gain of the sketch's error is ``(error / data
        error)^2`` as large relative to it: on the 2028 x 187^2 benchmark
        at k = 8, the warm stage's iterations 2 to 4 each gained 1.0-1.6e-5
        of the sketch's error (just above ``tol / WINDOW``), 4-7e-7 of the
        data's. The window rule keeps the error of the sketch: measured
        on the data's error it stopped the k = 8 fit after 60 instead of
        106 iterations, with the worst phase at cosine 0.9964 instead of
        0.9979 (error +3.7e-5 relative).

    The iterations run in float64 for any data: in float32 the rounding of the
    iterations wanders along the flat directions of the objective, and fits
    of the same data differed by up to 2 % between 1 and 2 BLAS threads or
    between lazy and eager reading (float64: 1e-6), at a cost of 5 % (k = 3)
    to 50 % (k = 8) more HALS time.

    Returns
    -------
    U, V : numpy.ndarray
        The factors.
    n_iter : int
    converged : bool

    References
    ----------
    A. M. S. Ang and N. Gillis, "Accelerating nonnegative matrix factorization
    algorithms using extrapolation", Neural Computation 31 (2019) 417-439.
    """
    dtype = np.float64
    Qt = np.ascontiguousarray(Q.T, dtype=dtype)  # (l, M)
    Q = np.asarray(Q, dtype=dtype)
    B = np.asarray(B, dtype=dtype)
    Ut = np.array(U.T, dtype=dtype, order="C")  # (k, M): U stored by rows
    V = np.array(V, dtype=dtype, order="C")
    k, M = Ut.shape
    AVt_t = np.empty((k, M), dtype)
    Uy, U_prev = Ut.copy(), np.empty_like(Ut)
    Vy, V_prev = V.copy(), np.empty_like(V)
    if a_sq is None:
        a_sq = float(np.einsum("ij,ij->", B, B, dtype=np.float64))
    outside = max(float(outside_sq), 0.0)

    def settled(before, after):
        """The warm exit: a plain step from error ``before`` to ``after``
        gained less than ``tol / WINDOW`` of the data's error, or ``before``
        is the round-off of an exact fit."""
        data_before, data_after = (
            np.sqrt(outside + before**2),
            np.sqrt(outside + after**2),
        )
        return data_before - data_after <= tol / WINDOW * data_after or (
            before <= EXACT * np.sqrt(a_sq)
        )

    beta, beta_max = 0.5, 1.0
    # penalties on both factors (on one only the objective has no minimum, and
    # _balance keeps equal norms: the fit is watched, as without penalties)
    penalized = bool(l1_u or l2_u) and bool(l1_v or l2_v)
    errors = []
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        UtA = (Uy @ Q) @ B
        UyUy = Uy @ Uy.T
        np.copyto(V_prev, V)
        if warm and n_iter == 1:  # the start's error, from the same products
            start = _error(a_sq, Uy, V, UtA, UyUy, penalized, l1_u, l2_u, l1_v, l2_v)
        _accelerated_update(V, UyUy, UtA, l1_v, l2_v, INNER_SWEEPS)
        # error of (Uy, V) from the small products at hand
        error = _error(a_sq, Uy, V, UtA, UyUy, penalized, l1_u, l2_u, l1_v, l2_v)
        if warm and n_iter == 1 and settled(start, error):
            # the update of V gained nothing: U, solved for the start, stays
            return Ut.T, V, n_iter, True
        restart = bool(errors) and error > errors[-1]
        plain = n_iter <= PLAIN_ITER
        if plain:
            np.copyto(Vy, V)
        elif restart:  # drop the extrapolated points, damp beta (Ang & Gillis)
            np.copyto(Vy, V)
            beta_max, beta = beta, beta / 1.5
        else:
            extrapolate(Vy, V, V_prev, beta)
        np.matmul((B @ Vy.T).T, Qt, out=AVt_t)
        np.copyto(U_prev, Ut)
        _accelerated_update(Ut, Vy @ Vy.T, AVt_t, l1_u, l2_u, INNER_SWEEPS)
        if plain or restart:
            np.copyto(Uy, Ut)
        else:
            extrapolate(Uy, Ut, U_prev, beta)
            beta, beta_max = min(beta_max, 1.05 * beta), min(1.0, 1.01 * beta_max)
        if n_iter % 10 == 0:  # slow drifts: every 10 iterations is enough
            _flush(Ut)
            _flush(V)
            _balance(Ut, V, (Uy, U_prev), (Vy, V_prev), (l1_u, l2_u, l1_v, l2_v))
        errors.append(error)
        if warm and 2 <= n_iter <= PLAIN_ITER and settled(errors[-2], errors[-1]):
            converged = True
            break
        if len(errors) > WINDOW:
            before, recent = min(errors[:-WINDOW]), min(errors[-WINDOW:])
            # still falling (e.g. recovering from a restart's jump): not converged
            falling = errors[-WINDOW] - errors[-1] > tol * recent
            # the current iterate worse than the best one (an extrapolated step
            # blew up and the restarts have not brought the error back yet):
            # not converged either; stopping there returned iterates up to 1.9
            # times the best error of the sketch (4-21 % above scikit-learn)
            # (by more than round-off of a nearly exact fit, where extrapolated
            # iterates scatter around the best by far more than ``tol``)
            worse = errors[-1] > min(before, recent) * (
                1.0 + max(tol, WORSE)
            ) + EXACT * np.sqrt(a_sq)
            if before - recent <= tol * recent and not (falling or worse):
                converged = True
                break
    return Ut.T, V, n_iter, converged


def _error(a_sq, Uy, V, UtA, UyUy, penalized, l1_u, l2_u, l1_v, l2_v):
    """Error of ``(Uy, V)`` (``sqrt(2 x objective)`` with penalties on both
    factors) from ``UtA = Uy^T A`` and ``UyUy = Uy^T Uy`` (as rows)."""
    err_sq = a_sq - 2.0 * float(np.vdot(V, UtA)) + float(np.vdot(UyUy, V @ V.T))
    if penalized:  # the objective, not the fit, must decrease and settle
        err_sq += 2.0 * _penalty(Uy, l1_u, l2_u, UyUy) + 2.0 * _penalty(V, l1_v, l2_v)
    return np.sqrt(max(err_sq, 0.0))


def sampled_hals(Q, B, U, V, *, rng, max_iter, **options):
    """:func:`compressed_hals` on a leverage-score sample of the rows of
    ``Q``, then on all rows.

    One iteration costs ``O(M l k)``, and on 4D-STEM data most iterations are
    spent on a plateau where the start's mixed components slowly separate.
    The separation only needs the short factor ``V`` and a faithful sample of
    the tall dimension: rows sampled by leverage score
    (:mod:`hyperspy_rnmf._leverage`, ``l ln l / 0.01`` rows expected),
    scaled so that the sampled objective estimates the full one without bias.
    HALS runs on the sample until ``tol``; ``U`` on every row is then solved
    for the ``V`` found, and HALS continues on all rows from there, with the
    early exit of a ``warm`` start: when the sample was faithful the pair is
    already converged and the stage ends after 1 iteration (it took at
    least ``WINDOW + 1`` = 11 with the window rule, about a pass over the
    data in time on the 2028 x 187^2 benchmark; 2-5 while the exit watched
    the error of the sketch rather than of the data). When it was not, the
    stage runs as long as it improves: measured on 12 planted cubes of 30720
    probe positions x 48 x 48 pixels (sample of the probe positions) from
    SPA, the stage on all rows ran 2510 iterations in all, and stopping it
    after the sample
    (leaving the rest to the exact refinement of ``RandomizedNMF``) made the
    error against the noiseless data 7 % larger on average (up to 20 %);
    with the warm exit the fits are the same as with the window rule
    (``benchmarks/bench_warm_stage.py``).

    Measured on 1200 x 187^2 planted cubes (k = 4..12, 30 datasets) and on
    the 2028 x 187^2 benchmark: the same phases found and the same errors
    (to 5 digits) as the plain iteration, and 2-4 times less HALS time at
    k = 8.

    The sample is skipped (plain :func:`compressed_hals`) without ``rng``,
    when it would hold more than a quarter of the rows, or with an L1
    penalty on ``U`` (per-row weights would change it; the L2 penalty is
    estimated without bias by the scaled rows). ``max_iter`` bounds both
    stages together; ``n_iter`` counts both.

    Returns
    -------
    U, V, n_iter, converged
    """
    rows = None
    if rng is not None and not options["l1_u"]:
        rows, scale = sample_rows(Q, rng)
    if rows is None:
        return compressed_hals(Q, B, U, V, max_iter=max_iter, **options)
    Qs = Q[rows] * scale[:, None]
    # |Qs B|^2: Qs is not orthonormal, so it is not |B|^2 (only its expectation)
    a_sq = float(np.vdot(Qs.T @ Qs, B @ B.T))
    Us, V, n_sample, converged = compressed_hals(
        Qs, B, U[rows] * scale[:, None], V, max_iter=max_iter, a_sq=a_sq, **options
    )
    Ut = np.array(U.T, dtype=np.float64, order="C")
    Ut[:, rows] = Us.T / scale
    _solve_tall(Ut, Q, B, V, options["l1_u"], options["l2_u"])
    if n_sample >= max_iter:
        return Ut.T, V, n_sample, converged
    U, V, n_all, converged = compressed_hals(
        Q, B, Ut.T, V, max_iter=max_iter - n_sample, warm=True, **options
    )
    return U, V, n_sample + n_all, converged


def _solve_tall(Ut, Q, B, V, l1, l2, max_sweeps=20):
    """HALS sweeps of ``U`` (stored as ``Ut``, k x M) for fixed ``V`` until a
    sweep changes it by less than 0.01 % of the first sweep's change."""
    V = np.asarray(V, dtype=np.float64)
    rhs = (B @ V.T).T @ Q.T
    gram = V @ V.T
    sweep_until(Ut, gram, rhs, l1, l2, max_sweeps=max_sweeps, ratio=1e-4)


def _balance(Ut, V, with_u, with_v, penalties=(0.0, 0.0, 0.0, 0.0)):
    """Rescale each component between its two factors, in place.

    ``U V`` is unchanged, but the split of each component's scale between
    ``U`` and ``V`` no longer drifts (extrapolating both factors is not
    scale-invariant: left alone, one factor of a component grows while the
    other shrinks to zero and the component dies). ``with_u`` and ``with_v``
    (previous and extrapolated iterates) get the same factors.

    Without penalties, or with penalties on one factor only (whose minimum
    is not attained: the penalized factor would shrink forever), the two
    factors get equal norms. With ``penalties = (l1_u, l2_u, l1_v, l2_v)`` on
    both, the split is the one that minimises them, so that balancing never
    increases the objective.
    """
    nu = np.sqrt(np.einsum("ij,ij->i", Ut, Ut))
    nv = np.sqrt(np.einsum("ij,ij->i", V, V))
    ok = (nu > 0) & (nv > 0)
    d = np.ones_like(nu)
    d[ok] = np.sqrt(nv[ok] / nu[ok])
    l1_u, l2_u, l1_v, l2_v = penalties
    if (l1_u or l2_u) and (l1_v or l2_v) and ok.any():
        d[ok] = _penalty_split(
            l1_u * Ut[ok].sum(axis=1),
            l2_u * nu[ok] ** 2,
            l1_v * V[ok].sum(axis=1),
            l2_v * nv[ok] ** 2,
            d[ok],
        )
    for A in (Ut,) + tuple(with_u):
        A *= d[:, None]
    for A in (V,) + tuple(with_v):
        A /= d[:, None]


def _penalty(A, l1, l2, gram=None):
    """``l1 |A|_1 + 0.5 l2 |A|_F^2`` for ``A >= 0`` (``gram = A A^T`` gives
    the squared norm as its trace)."""
    value = 0.0
    if l1:
        value += l1 * float(A.sum())
    if l2:
        squares = np.trace(gram) if gram is not None else np.vdot(A, A)
        value += 0.5 * l2 * float(squares)
    return value


def _penalty_split(a, b, c, e, start):
    """``d > 0`` minimising ``a d + b d^2 / 2 + c / d + e / (2 d^2)`` (each
    entry; ``a + b > 0`` and ``c + e > 0``): the penalties of a component
    whose factors are scaled by ``d`` and ``1 / d``.

    The function is convex in ``d``; its derivative is bisected in
    ``log d`` around ``start``, to float64 precision.
    """

    def slope(d):
        return a + b * d - c / d**2 - e / d**3

    lo, hi = np.log(start) - 1.0, np.log(start) + 1.0
    while np.any(low := slope(np.exp(lo)) > 0):  # widen the bracket
        lo = np.where(low, lo - 2.0 * (hi - lo), lo)
    while np.any(high := slope(np.exp(hi)) < 0):
        hi = np.where(high, hi + 2.0 * (hi - lo), hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        up = slope(np.exp(mid)) > 0
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    return np.exp(0.5 * (lo + hi))


def _flush(A):
    """Set entries that are negligible for their row to exactly zero, in place.

    Components that are not needed (k above the rank of the data) decay
    towards zero; their entries would become subnormal floats, on which
    arithmetic is about 100 times slower (measured: a k=12 fit of rank-5 data
    took 40 s instead of 2 s). Entries below ``eps`` times the row maximum
    (or ``eps**2`` times the largest entry) carry no information at the
    working precision.
    """
    eps = np.finfo(A.dtype).eps
    row_max = A.max(axis=1, keepdims=True)
    threshold = np.maximum(eps * row_max, eps * eps * max(float(row_max.max()), 0.0))
    np.putmask(A, A < threshold, 0)

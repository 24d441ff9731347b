"""Leverage-score sampling of the rows of an orthonormal basis.

The leverage score of row ``i`` of an orthonormal ``Q`` (M x l) is
``|Q[i]|^2``; the scores sum to ``l``. Keeping row ``i`` with probability
``p_i = min(1, c |Q[i]|^2)`` and scaling it by ``1 / sqrt(p_i)`` gives a
sample on which every least-squares objective over the rows of ``Q B`` is
estimated without bias, and a sample of ``O(l log l / eps^2)`` rows
preserves the norms of the range of ``Q`` to a factor ``1 +- eps``
(a subspace embedding, Woodruff 2014, Section 2.4). Rows carrying a rare
structure (a phase seen at few probe positions, a diffraction spot covering
few pixels) have large scores and are kept with probability one.

References
----------
D. P. Woodruff, "Sketching as a tool for numerical linear algebra",
Foundations and Trends in Theoretical Computer Science 10 (2014) 1-157.
"""

import math

import numpy as np

#: Norm distortion ``eps`` the sample size is chosen for. 0.14 (half the
#: rows) was measured and not taken: on the 30 planted cubes of
#: ``benchmarks/bench_leverage_sampling.py`` the same phases and mean errors
#: in 0.82-0.92 times the time, and k = 8 of ``bench_rnmf.py`` about 0.6
#: one-pass times faster, but the k-scan of ``bench_kscan.py`` (warm starts
#: from k - 1 on one sketch of size 22) took 1.14 times as long, its warm
#: stages on all rows running longer from the smaller sample. Measured again
#: once the warm stage watched the data's error and ended after 1 iteration
#: (:func:`hyperspy_rnmf._hals.compressed_hals`): k = 8 in 9.73 instead of
#: 9.81 one-pass times, k = 3 in 6.84 instead of 6.89 (medians of 12
#: alternating fits), the saving gone with the stage it came from.
DISTORTION = 0.1

#: The sample is only worth taking when it holds at most this share of rows.
MAX_SHARE = 0.25


def sample_size(n_columns):
    """Expected number of sampled rows for a basis of ``n_columns`` columns:
    ``l ln(l) / eps^2`` (``ln`` at least 1)."""
    return math.ceil(n_columns * max(math.log(n_columns), 1.0) / DISTORTION**2)


def inclusion_probabilities(leverage, size):
    """``p = min(1, c * leverage)`` with ``c`` such that ``sum(p) == size``.

    Parameters
    ----------
    leverage : numpy.ndarray, shape (M,)
        Non-negative scores with at least ``size`` positive entries.
    size : float
        Expected sample size, ``0 < size <= count of positive scores``.
    """
    order = np.sort(leverage)[::-1]
    tail = np.cumsum(order[::-1])[::-1]  # tail[t] = sum of order[t:]
    # With the t largest scores capped at 1: c_t = (size - t) / tail[t];
    # the first t for which the next score is not capped is the solution.
    t = np.arange(len(order))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (size - t) / tail
        first = int(np.flatnonzero((c * order <= 1.0) & (tail > 0))[0])
    return np.minimum(1.0, c[first] * leverage)


def sample_rows(Q, rng):
    """Rows of ``Q`` sampled by leverage score, and their scale factors.

    Parameters
    ----------
    Q : numpy.ndarray, shape (M, l)
        Orthonormal columns.
    rng : numpy.random.RandomState
        Source of the Bernoulli draws.

    Returns
    -------
    rows : numpy.ndarray of int or None
        Sorted indices of the sampled rows; None when the expected sample
        size exceeds ``MAX_SHARE`` of the rows carrying any leverage
        (sampling would not save enough work).
    scale : numpy.ndarray, shape (len(rows),)
        ``1 / sqrt(p_i)``: scaling the sampled rows of ``Q`` (and of a factor
        living on them) by it makes the sampled objective an unbiased
        estimate of the full one.
    """
    leverage = np.einsum("ij,ij->i", Q, Q)
    size = sample_size(Q.shape[1])
    if size > MAX_SHARE * np.count_nonzero(leverage):
        return None, None
    p = inclusion_probabilities(leverage, size)
    rows = np.flatnonzero(rng.random_sample(len(p)) < p)
    return rows, 1.0 / np.sqrt(p[rows])

"""Residuals of a factorization, accumulated block by block, and their structure.

For a block of rows ``X_b`` and a model ``W_b H`` the residual ``R = X_b - W_b H``
is formed a few cache-sized rows at a time and reduced at once, in one read
by a compiled kernel (:mod:`hyperspy_rnmf._residual_sums`), to what the
diagnostics need: the sum of ``|R|`` of every row (the real-space residual map
r_real of Werbrouck et al. 2025, once divided by the number of pixels), the sum
of ``|R|`` of every column (the reciprocal-space map r_reciprocal), and the
sum of ``R^2`` (the Frobenius error). The residual itself is never stored.

Spatial structure left in r_real is scored by Moran's I (Moran 1950) on the
navigation grid with rook adjacency: about 0 for noise, close to 1 when the
residual forms regions (a missing component).
"""

import numpy as np

from hyperspy_rnmf._residual_sums import residual_sums

#: Size of the residual pieces formed at once (bytes).
PIECE_BYTES = 2**21


def poisson_mad(mean, out=None, work=None, mask=None):
    """Mean absolute deviation ``E|N - mu|`` of Poisson counts of mean ``mu``.

    Exact below 1 (``2 mu exp(-mu)``), the Gaussian limit ``sqrt(2 mu / pi)``
    above (within 8 % near mu = 1-3, oscillating, 1 % on average). The exact
    expression ``2 mu^(n+1) exp(-mu) / n!`` with ``n = floor(mu)`` costs a
    log-gamma per entry; low-count patterns (most pixels below 1 count)
    need the exact low-mu branch, which is cheap. ``mean`` must be >= 0.

    ``out`` (may be ``mean`` itself), ``work`` (float, like ``mean``) and
    ``mask`` (bool) are optional buffers: fresh temporaries of this size cost
    more than the arithmetic.
    """
    out = np.empty_like(mean) if out is None else out
    work = np.empty_like(mean) if work is None else work
    mask = np.empty(mean.shape, dtype=bool) if mask is None else mask
    np.greater_equal(mean, 1, out=mask)  # first: ``out`` may be ``mean``
    np.minimum(mean, 1, out=work)  # clipped: no subnormal exp(-mu)
    np.negative(work, out=work)
    np.exp(work, out=work)
    work *= mean
    work *= 2
    np.multiply(mean, 2 / np.pi, out=out)
    np.sqrt(out, out=out)
    # out = work where mean < 1, else out (arithmetic blend: faster than copyto)
    np.subtract(out, work, out=out)
    np.multiply(out, mask, out=out)
    out += work
    return out


def residual_stats(block, models, expected=False, scales=None):
    """Row and column sums of ``|R|`` and the sum of ``R^2`` for several models.

    ``R = block - W H`` for every ``(W, H)`` in ``models``. The block is read
    piece by piece and every model's residual of a piece is formed while the
    piece is in cache, so several models cost one read of the data. All
    temporaries are reused buffers.

    Parameters
    ----------
    block : numpy.ndarray, shape (rows, n)
        Data rows (float).
    models : list of (loadings, components)
        ``loadings`` of shape (rows, k), ``components`` of shape (k, n).
    expected : bool or 'last', default False
        Also sum, per row, the |residual| expected from Poisson noise around
        the model (:func:`poisson_mad`). ``'last'``: around the last model
        only (the one with the most components, the best estimate of the
        mean counts), shared by all models: the exponentials of
        :func:`poisson_mad` cost more than everything else here, so a scan
        over many k computes them once.
    scales : tuple of (numpy.ndarray or None, numpy.ndarray or None), optional
        Row factors (rows,) and column factors (n,) by which the block was
        divided (Poisson normalisation): the expected |residual| is then that
        of the counts ``model * row * col``, divided back by ``row * col``,
        so that it is on the scale of the block.

    Returns
    -------
    list of (row_abs, col_abs, sum_squares[, row_expected])
        ``row_abs`` (rows,) and ``col_abs`` (n,) in float64, per model.
    """
    dtype = block.dtype
    n_rows, n_cols = block.shape
    models = [
        (np.asarray(W, dtype=dtype), np.asarray(H, dtype=dtype)) for W, H in models
    ]
    step = max(1, PIECE_BYTES // max(1, n_cols * block.itemsize))
    shape = (min(step, n_rows), n_cols)
    part = np.empty(shape, dtype)
    if expected:
        mad, work, mask = (
            np.empty(shape, dtype),
            np.empty(shape, dtype),
            np.empty(shape, bool),
        )
    results = [
        [np.empty(n_rows), np.zeros(n_cols), 0.0]
        + ([np.empty(n_rows)] if expected else [])
        for _ in models
    ]
    if expected not in (False, True, "last"):
        raise ValueError(f"`expected` must be True, False or 'last', got {expected!r}.")
    last = len(models) - 1
    for start in range(0, n_rows, step):
        stop = min(start + step, n_rows)
        rows = stop - start
        piece = block[start:stop]
        p = part[:rows]
        for i in range(len(models) - 1, -1, -1):  # the last model first
            (W, H), result = models[i], results[i]
            np.matmul(W[start:stop], H, out=p)
            if expected is True or (expected == "last" and i == last):
                m = mad[:rows]
                np.maximum(p, 0, out=m)
                factors = _piece_factors(scales, start, stop, dtype)
                for factor in factors:
                    m *= factor  # back to counts
                poisson_mad(m, m, work[:rows], mask[:rows])
                for factor in factors:
                    m /= factor
                result[3][start:stop] = m.sum(axis=1)
            elif expected == "last":
                result[3][start:stop] = results[last][3][start:stop]
            result[2] += residual_sums(p, piece, result[0][start:stop], result[1])
    return [tuple(r) for r in results]


def _piece_factors(scales, start, stop, dtype):
    """The row and column factors of rows ``start:stop`` as broadcastable arrays."""
    if scales is None:
        return ()
    rows, cols = scales
    factors = []
    if rows is not None:
        factors.append(np.asarray(rows[start:stop], dtype=dtype)[:, None])
    if cols is not None:
        factors.append(np.asarray(cols, dtype=dtype))
    return tuple(factors)


def morans_i(image):
    """Moran's I of a map with rook adjacency (NaN entries ignored).

    The map may have any number of dimensions (a 2D scan, a line scan, or a
    scan with more navigation axes, e.g. a time or tilt series): neighbours
    are the entries one step apart along any one axis.

    Returns
    -------
    float
        About ``-1 / (N - 1)`` (close to 0) for spatially random values,
        close to 1 when neighbouring values are alike; NaN if undefined
        (fewer than 3 valid values or a constant map).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 0:
        raise ValueError("`image` must have at least one dimension, got a scalar.")
    valid = np.isfinite(image)
    if valid.sum() < 3:
        return float("nan")
    centred = np.where(valid, image - image[valid].mean(), 0.0)
    denominator = float((centred[valid] ** 2).sum())
    if denominator == 0:
        return float("nan")
    numerator = weights = 0.0
    for axis in range(image.ndim)[::-1]:  # last axis first, as before for 2D
        head = [slice(None)] * image.ndim
        tail = [slice(None)] * image.ndim
        head[axis], tail[axis] = slice(1, None), slice(None, -1)
        a, b = centred[tuple(head)], centred[tuple(tail)]
        pair = valid[tuple(head)] & valid[tuple(tail)]
        numerator += 2.0 * float((a * b)[pair].sum())
        weights += 2.0 * float(pair.sum())
    if weights == 0:
        return float("nan")
    return float(valid.sum() / weights * numerator / denominator)


def noise_scaled(row_abs, row_expected):
    """|residual| of each position over its Poisson expectation.

    NaN where the expectation is zero: a position without counts (a blanked
    beam, a flyback column) has nothing to score, and a ratio of 0 there made
    such patches read as regions (Moran's I 0.75 at every k).
    """
    row_expected = np.asarray(row_expected, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(row_expected > 0, row_abs / row_expected, np.nan)

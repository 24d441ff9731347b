"""Normalised cross-correlation matrices and order-independent grouping.

The normalised cross-correlation (NCC) at zero displacement of two images is
their Pearson correlation coefficient over pixels (Bergh et al., J. Microsc.
279 (2020) 158-167, eq. 1). Masked pixels (NaN, e.g. from a signal mask in
the decomposition) are left out pair by pair: each coefficient uses the pixels
that are finite in both images. All coefficients come from a few matrix
products, so a k x k matrix costs about as much as reading the k images.

Grouping is done on the graph whose edges are the pairs above the thresholds,
so the result does not depend on the order of the items:

* ``"single"`` linkage: the groups are the connected components of the graph
  (:func:`scipy.sparse.csgraph.connected_components`);
* ``"complete"`` linkage: agglomerative clustering in which every pair inside
  a group must be linked (:func:`scipy.cluster.hierarchy.linkage`); items are
  put in a canonical order first, so that ties cannot make the result depend
  on the input order.
"""

import numpy as np

LINKAGES = ("single", "complete")


def correlation_matrix(images):
    """Normalised cross-correlation between every pair of images.

    Parameters
    ----------
    images : array-like, shape (k, ...)
        ``k`` images (any shape, flattened). NaN and infinite pixels are
        ignored pair by pair.

    Returns
    -------
    numpy.ndarray, shape (k, k), float64
        ``ncc[i, j]``: Pearson correlation of images ``i`` and ``j`` over the
        pixels finite in both. NaN where it is undefined: fewer than two
        common pixels, or one of the images constant over them. The diagonal
        is 1 for every image that is not constant.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[0.0, 1.0, 2.0], [2.0, 4.0, 6.0], [2.0, 1.0, np.nan]])
    >>> np.round(correlation_matrix(a), 6).tolist()
    [[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(
            f"`images` (shape {x.shape}) must have at least 2 dimensions: "
            "(number of images, pixels...)."
        )
    x = x.reshape(len(x), -1)
    finite = np.isfinite(x)
    m = finite.astype(np.float64)
    if finite.all():
        return _ncc_complete(x)
    x0 = np.where(finite, x, 0.0)
    # Shift each image by its own mean to keep the sums well conditioned.
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.nansum(np.where(finite, x, np.nan), axis=1) / m.sum(axis=1)
    centre = np.where(np.isfinite(centre), centre, 0.0)
    x0 = np.where(finite, x - centre[:, None], 0.0)
    n = m @ m.T  # common pixels
    sx = x0 @ m.T  # sum of image i over the pixels common with j
    sxx = (x0 * x0) @ m.T
    sxy = x0 @ x0.T
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx * sx / n
        var_j = var_i.T
        ncc = cov / np.sqrt(var_i * var_j)
    scale = np.maximum(sxx, sxx.T)
    undefined = (n < 2) | (var_i <= 1e-12 * scale) | (var_j <= 1e-12 * scale)
    ncc[undefined] = np.nan
    return np.clip(ncc, -1.0, 1.0)


def sparse_correlation_matrix(images):
    """:func:`correlation_matrix` of images that are zero almost everywhere
    (segment images), from a sparse Gram matrix: the cost grows with the
    overlaps of the images, not with their size. NaN counts as 0.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((3, 10)); a[0, :3] = 1; a[1, 1:4] = 2; a[2, 7:] = 1
    >>> np.allclose(sparse_correlation_matrix(a), correlation_matrix(a))
    True
    """
    from scipy import sparse

    x = np.nan_to_num(np.asarray(images, dtype=np.float64))
    n = len(x)
    x = sparse.csr_matrix(x.reshape(n, -1))
    p = x.shape[1]
    s = np.asarray(x.sum(axis=1)).ravel()
    q = np.asarray(x.multiply(x).sum(axis=1)).ravel()
    gram = (x @ x.T).toarray()
    var = q - s * s / p
    with np.errstate(invalid="ignore", divide="ignore"):
        ncc = (gram - np.outer(s, s) / p) / np.sqrt(np.outer(var, var))
    constant = var <= 1e-12 * np.maximum(q, 1e-300)
    ncc[constant, :] = np.nan
    ncc[:, constant] = np.nan
    return np.clip(ncc, -1.0, 1.0)


def _ncc_complete(x):
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))
    scale = np.abs(x).max(axis=1) * np.sqrt(x.shape[1])
    constant = norm <= 1e-12 * np.maximum(scale, 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        ncc = (x @ x.T) / np.outer(norm, norm)
    ncc[constant, :] = np.nan
    ncc[:, constant] = np.nan
    return np.clip(ncc, -1.0, 1.0)


def group_pairs(linked, linkage="single", score=None, order_key=None):
    """Groups of items from a symmetric boolean "linked" matrix.

    Parameters
    ----------
    linked : numpy.ndarray of bool, shape (k, k)
        ``linked[i, j]``: items i and j may be in the same group.
    linkage : {'single', 'complete'}
        'single': connected components; 'complete': every pair in a group is
        linked.
    score : numpy.ndarray, shape (k, k), optional
        Similarity used to order the merges of complete linkage (largest
        first); defaults to ``linked``.
    order_key : numpy.ndarray, shape (k,), optional
        A canonical order of the items (e.g. an intensity), used to make
        complete linkage independent of the input order when ``score`` has
        ties.

    Returns
    -------
    list of list of int
        Groups of item indices, each sorted, ordered by their smallest index.
    """
    linked = np.asarray(linked, dtype=bool)
    k = len(linked)
    if k == 0:
        return []
    linked = linked | linked.T | np.eye(k, dtype=bool)
    if linkage == "single":
        labels = _connected_components(linked)
    elif linkage == "complete":
        labels = _complete_groups(linked, score, order_key)
    else:
        raise ValueError(f"`linkage` must be one of {LINKAGES}, got {linkage!r}.")
    groups = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def _connected_components(linked):
    """Component label of each item of a symmetric boolean matrix (with its
    diagonal set): the smallest item index in its component.

    Label propagation, ``O(k^2)`` per step and at most ``k`` steps: for the
    few components of a decomposition this is much cheaper than building a
    sparse graph for ``scipy.sparse.csgraph``.
    """
    k = len(linked)
    labels = np.arange(k)
    while True:
        new = np.where(linked, labels[None, :], k).min(axis=1)
        if np.array_equal(new, labels):
            return labels
        labels = new


def _complete_groups(linked, score, order_key):
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    k = len(linked)
    if k == 1:
        return np.zeros(1, dtype=int)
    score = linked.astype(np.float64) if score is None else np.asarray(score, float)
    score = np.where(np.isfinite(score), score, -np.inf)
    # distance: 0 (best) ... 2 for linked pairs, 3 for pairs that may not be merged
    s = np.clip(score, -1.0, 1.0)
    distance = np.where(linked, 1.0 - s, 3.0)
    distance = np.minimum(distance, distance.T)
    np.fill_diagonal(distance, 0.0)
    order = np.arange(k) if order_key is None else _canonical_order(order_key, score)
    d = distance[np.ix_(order, order)]
    z = linkage(squareform(d, checks=False), method="complete")
    labels_sorted = fcluster(z, t=2.5, criterion="distance")
    labels = np.empty(k, dtype=int)
    labels[order] = labels_sorted
    return labels


def _canonical_order(key, score):
    """An item order that depends only on the items, not on their input order."""
    key = np.asarray(key, dtype=np.float64)
    row = np.sort(np.where(np.isfinite(score), score, -2.0), axis=1)
    # lexsort: last key is primary
    return np.lexsort(tuple(row.T[::-1]) + (-key,))

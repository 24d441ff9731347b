"""Compare factorizations: one-to-one component matching and exact errors."""

import numpy as np
from scipy.optimize import linear_sum_assignment


def match_components(found, planted):
    """Best one-to-one cosine similarities between two sets of components.

    Parameters
    ----------
    found, planted : array-like, shape (k, n_features)
        Components as rows (e.g. ``RandomizedNMF.components_`` and the
        planted factors); ``found`` may have more rows than ``planted``.

    Returns
    -------
    numpy.ndarray, shape (len(planted),)
        Cosine similarity of each planted component with the found component
        matched to it (Hungarian assignment maximising the total cosine).

    Examples
    --------
    >>> import numpy as np
    >>> match_components(np.eye(3)[::-1], np.eye(3)).tolist()
    [1.0, 1.0, 1.0]
    """
    found = np.asarray(found, dtype=np.float64)
    planted = np.asarray(planted, dtype=np.float64)
    if found.ndim != 2 or planted.ndim != 2 or found.shape[1] != planted.shape[1]:
        raise ValueError(
            f"`found` (shape {found.shape}) and `planted` (shape {planted.shape}) "
            "must be 2D with the same number of columns."
        )
    a = found / np.linalg.norm(found, axis=1, keepdims=True).clip(1e-300)
    b = planted / np.linalg.norm(planted, axis=1, keepdims=True).clip(1e-300)
    cosine = b @ a.T
    rows, cols = linear_sum_assignment(-cosine)
    out = np.empty(len(planted))
    out[rows] = cosine[rows, cols]
    return out


def relative_error(X, W, H, block_rows=256):
    """``|X - W H|_F / |X|_F`` computed exactly in float64, block by block."""
    num = den = 0.0
    H = np.asarray(H, dtype=np.float64)
    for start in range(0, X.shape[0], block_rows):
        block = np.asarray(X[start : start + block_rows], dtype=np.float64)
        residual = block - np.asarray(W[start : start + block_rows], np.float64) @ H
        num += float(np.einsum("ij,ij->", residual, residual))
        den += float(np.einsum("ij,ij->", block, block))
    return float(np.sqrt(num / den))

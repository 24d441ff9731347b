"""Number density and pair distances from reduced PDFs G(r), vectorised.

Below the first coordination shell no atom pair exists and the reduced PDF is
``G(r) = 4 pi r [rho(r) - rho0] = -4 pi rho0 r``. The number density ``rho0``
(atoms/Å^3) is the least-squares slope of a line through the origin fitted over
``r_range``: ``rho0 = -sum(G r) / (4 pi sum(r^2))``.

Pair distances are the maxima of ``G(r)`` whose prominence (height above the
higher of the lowest values within ``window`` on either side) reaches
``min_height`` times the largest prominence of the row: termination ripples
(a fraction of the peak that causes them) do not count, weak shells on the
sloping baseline do. Each maximum is refined below the grid step by the vertex
of the parabola through the grid maximum and its two neighbours.

All functions take ``G`` of shape ``(n, n_r)`` (one row per probe position).
"""

import numpy as np

__all__ = ["number_density", "pair_distances", "first_peak", "default_r_ranges"]


def _window(r, r_range):
    return (r >= r_range[0] - 1e-9) & (r <= r_range[1] + 1e-9)


def number_density(G, r, r_range):
    """``rho0`` (n,) from the slope of ``G`` over ``r_range`` (Å)."""
    sel = _window(r, r_range)
    rs = r[sel]
    G = np.asarray(G, dtype=np.float64)
    return -(G[:, sel] @ rs) / (4 * np.pi * np.sum(rs**2))


def first_peak(G, r, r_start, rel_height=0.5):
    """First maximum beyond ``r_start`` whose prominence reaches ``rel_height``
    times the row's largest prominence; NaN if none."""
    return pair_distances(G, r, 1, (r_start, r[-1]), min_height=rel_height)[:, 0]


def pair_distances(G, r, n_peaks, r_range, min_height=0.15, window=0.4):
    """First ``n_peaks`` prominent maxima of ``G`` in ``r_range``.

    Parameters
    ----------
    G : numpy.ndarray
        ``(n, n_r)`` reduced PDFs on the uniform grid ``r``.
    r : numpy.ndarray
        ``r`` grid (Å).
    n_peaks : int
        Number of maxima to return per row.
    r_range : (float, float)
        Search range (Å).
    min_height : float
        Minimum prominence relative to the row's most prominent maximum.
    window : float
        Half-width (Å) of the windows in which the prominence is measured.

    Returns
    -------
    numpy.ndarray
        ``(n, n_peaks)`` positions (Å), NaN where fewer maxima exist.
    """
    from scipy.ndimage import minimum_filter1d

    G = np.asarray(G, dtype=np.float64)
    step = r[1] - r[0]
    w = max(1, int(round(window / step)))
    left = minimum_filter1d(G, w + 1, axis=1, mode="nearest", origin=w // 2)
    # [i - w, i] and [i, i + w] (for odd w the right origin rounds up: -(w // 2)
    # gave [i - 1, i + w - 1], the left window again when w = 1)
    right = minimum_filter1d(G, w + 1, axis=1, mode="nearest", origin=-((w + 1) // 2))
    prominence = G - np.maximum(left, right)
    inside = _window(r, r_range)
    inside[[0, -1]] = False  # a maximum needs both neighbours
    centre = G[:, 1:-1]
    is_max = (centre > G[:, :-2]) & (centre >= G[:, 2:]) & inside[1:-1]
    is_max &= np.isfinite(centre)
    height = np.where(is_max, prominence[:, 1:-1], 0.0)
    is_max &= height >= min_height * height.max(axis=1, keepdims=True)
    is_max &= height > 0
    rank = np.cumsum(is_max, axis=1)
    out = np.full((G.shape[0], n_peaks), np.nan)
    rows = np.arange(G.shape[0])
    for k in range(n_peaks):
        hit = is_max & (rank == k + 1)
        found = hit.any(axis=1)
        index = np.argmax(hit, axis=1) + 1  # index in G
        y0 = G[rows, index - 1]
        y1 = G[rows, index]
        y2 = G[rows, np.minimum(index + 1, r.size - 1)]
        curvature = y0 - 2 * y1 + y2
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curvature < 0, 0.5 * (y0 - y2) / curvature, 0.0)
        out[found, k] = (r[index] + np.clip(shift, -0.5, 0.5) * step)[found]
    return out


def default_r_ranges(r, mean_G, rpoly=None):
    """Default slope window and peak search start from the mean ``G(r)``.

    ``r1`` is the first maximum of the mean ``G`` beyond ``max(rpoly, 0.5 Å)``
    reaching half its maximum; the slope window is
    ``[max(rpoly, r1 / 4), 3 r1 / 4]``.

    Returns
    -------
    dict
        ``first_peak``, ``slope_range`` and ``peak_search_start`` (Å).
    """
    start = max(0.5, rpoly or 0.0)
    r1 = float(first_peak(np.asarray(mean_G)[None], r, start)[0])
    if not np.isfinite(r1):
        raise ValueError(
            f"G(r) has no maximum beyond r = {start:g} Å: cannot choose the "
            "slope window; pass `r_range`."
        )
    low = max(rpoly or 0.0, 0.25 * r1)
    return {
        "first_peak": r1,
        "slope_range": (float(low), float(0.75 * r1)),
        "peak_search_start": float(low),
    }

"""Pure NumPy building blocks of the VDF route (Bergh et al., J. Microsc. 279
(2020) 158-167): spot size and direct beam from the mean pattern, background
removal by a difference of Gaussians, Bragg peaks, clustering of the peak
positions into unique vectors (DBSCAN), an aperture matrix that gives the
virtual dark-field (VDF) images of all vectors in one product, and virtual
diffraction patterns.

All positions here are in pixels, (row, column) = (ky, kx) order; the
HyperSpy-facing module converts to and from calibrated units.
"""

import numpy as np


# ------------------------------------------------------------ spot size
def describe_mean_pattern(mean):
    """Direct beam and Bragg spot size from the mean pattern of a scan.

    The mean pattern contains every spot of every crystal. Its slowly varying
    background (a Gaussian of 1/8 of the pattern size) is removed; the
    brightest maximum is the direct beam, the other local maxima above 10 %
    of the brightest of them are spots. Single-pixel maxima (hot pixels:
    the median of their 3 x 3 neighbourhood is below 10 % of their value)
    are neither. The width of each is measured from
    the curvature of the logarithm of its three central pixels along each
    axis, which is exact for a Gaussian spot whatever its sub-pixel position:
    ``ln f(-1) - 2 ln f(0) + ln f(1) = -1 / sigma**2``. The spot size is the
    median over spots.

    Returns
    -------
    dict
        ``beam_centre`` (row, column) px, ``beam_sigma`` px, ``spot_sigma``
        px, ``n_spots`` (spots measured), ``note`` (how the values were
        found).
    """
    from scipy import ndimage as ndi

    mean = np.nan_to_num(np.asarray(mean, dtype=np.float64))
    size = min(mean.shape)
    background = ndi.gaussian_filter(mean, max(size / 8, 2.0), mode="nearest")
    high = np.clip(mean - background, 0, None)
    beam = np.unravel_index(np.argmax(high), high.shape)
    result = {
        "beam_centre": (float(beam[0]), float(beam[1])),
        "beam_sigma": 1.0,
        "spot_sigma": 1.0,
        "n_spots": 0,
        "note": "no structure in the mean pattern: 1 px assumed",
    }
    if not high.max() > 0:
        return result
    local = (ndi.maximum_filter(high, size=3, mode="constant") == high) & (high > 0)
    local[[0, -1], :] = local[:, [0, -1]] = False
    # a blob, not a hot pixel: the median of its 3 x 3 neighbourhood is at
    # least 10 % of its peak (a Gaussian spot of 0.9 px: about 50 %); a hot
    # pixel was taken for the direct beam and the beam for a wide spot
    support = ndi.median_filter(high, size=3, mode="nearest")
    local &= support >= 0.1 * high
    if not local.any():
        return result
    rows, cols = np.nonzero(local)
    values = high[rows, cols]
    widths = _log_curvature_sigma(high, rows, cols)
    first = int(np.argmax(values))
    beam_sigma = widths[first] if np.isfinite(widths[first]) else 1.0
    result.update(
        beam_centre=_centroid(
            high, (rows[first], cols[first]), max(2.0, 2 * beam_sigma)
        ),
        beam_sigma=float(beam_sigma),
    )
    others = np.delete(np.arange(len(values)), first)
    if others.size:
        strong = others[values[others] >= 0.1 * values[others].max()]
        good = strong[np.isfinite(widths[strong])]
        if good.size:
            result.update(
                spot_sigma=float(np.median(widths[good])),
                n_spots=int(good.size),
                note=(
                    f"median width of {good.size} spots of the mean pattern "
                    "(log-curvature)"
                ),
            )
            return result
    result["spot_sigma"] = result["beam_sigma"]
    result["note"] = "no spot in the mean pattern: the direct beam's width used"
    return result


def _log_curvature_sigma(image, rows, cols):
    """Gaussian width at local maxima from the log-curvature along each axis
    (NaN where a neighbour is not positive)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log = np.log(np.where(image > 0, image, np.nan))
        c = log[rows, cols]
        curv_y = log[rows - 1, cols] - 2 * c + log[rows + 1, cols]
        curv_x = log[rows, cols - 1] - 2 * c + log[rows, cols + 1]
        var = 0.5 * (-1 / curv_y - 1 / curv_x)
        sigma = np.sqrt(np.where((curv_y < 0) & (curv_x < 0) & (var > 0), var, np.nan))
    return np.clip(sigma, 0.3, None)


def _centroid(image, centre, radius):
    r0, c0 = int(round(centre[0])), int(round(centre[1]))
    r = int(np.ceil(radius))
    rows = slice(max(r0 - r, 0), min(r0 + r + 1, image.shape[0]))
    cols = slice(max(c0 - r, 0), min(c0 + r + 1, image.shape[1]))
    window = image[rows, cols]
    total = window.sum()
    if not total > 0:
        return (float(r0), float(c0))
    yy, xx = np.mgrid[rows, cols]
    return (float((yy * window).sum() / total), float((xx * window).sum() / total))


# ------------------------------------------------------ filtering, peaks
def dog_filter(stack, low, high):
    """Difference of Gaussians over the last two axes (float32).

    NaN or inf pixels (dead pixels after a flat field) are left out of the
    smoothing of their pattern and get 0 (never a peak): blurred as they are,
    one NaN pixel made a third of every pattern NaN and hid the crystals
    whose spots fell there.
    """
    stack = np.asarray(stack, dtype=np.float32)
    lead = (0.0,) * (stack.ndim - 2)
    finite = np.isfinite(stack)
    if finite.all():
        return _smooth(stack, lead + (low, low)) - _smooth(stack, lead + (high, high))
    clean = np.where(finite, stack, np.float32(0))
    weight = finite.astype(np.float32)
    out = _smooth(clean, lead + (low, low), weight) - _smooth(
        clean, lead + (high, high), weight
    )
    out[~finite] = 0
    return out


def _smooth(values, sigma, weight=None):
    """Gaussian smoothing (``mode="nearest"``); with ``weight`` (1 for valid
    pixels, 0 for missing ones), normalised so that missing pixels do not
    count (0 where nothing valid is in reach)."""
    from scipy import ndimage as ndi

    smooth = ndi.gaussian_filter(values, sigma, mode="nearest")
    if weight is None:
        return smooth
    norm = ndi.gaussian_filter(weight, sigma, mode="nearest")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 1e-6, smooth / norm, 0).astype(values.dtype)


def noise_map(filtered_sample, raw_sample, background_sigma, n_iter=5, clip=3.0):
    """Per-pixel noise of filtered patterns, from a sample of patterns.

    Counting noise grows with the local intensity, and spots must not count
    as noise. So: (1) every pixel's variance across the sample, after
    iterative 3-sigma clipping; (2) the local background intensity, the mean
    raw pattern smoothed by a Gaussian of ``background_sigma`` (which removes
    the spots); (3) one gain ``a``, the median over pixels of variance /
    background (spot pixels, whose variance the crystals inflate, are a
    minority); the noise is ``sqrt(a * background)``. It is at least half its
    median over the pattern: where the detector sees almost no counts,
    single counts would otherwise pass for peaks.
    """

    x = np.asarray(filtered_sample, dtype=np.float64)
    centre = np.median(x, axis=0)
    sigma = 1.4826 * np.median(np.abs(x - centre), axis=0)
    for _ in range(n_iter):
        keep = np.abs(x - centre) <= clip * np.maximum(sigma, 1e-12)
        count = np.maximum(keep.sum(axis=0), 1)
        centre = np.where(keep, x, 0).sum(axis=0) / count
        sigma = np.sqrt(np.where(keep, (x - centre) ** 2, 0).sum(axis=0) / count)
    raw = np.asarray(raw_sample, dtype=np.float64)
    finite = np.isfinite(raw)
    counted = finite.sum(axis=0)  # NaN or inf pixels (dead ones) left out
    mean = np.where(finite, raw, 0).sum(axis=0) / np.maximum(counted, 1)
    weight = None if counted.all() else (counted > 0).astype(float)
    background = _smooth(mean, background_sigma, weight)
    ok = (background > 0) & (sigma > 0)
    if ok.any():
        gain = np.median(sigma[ok] ** 2 / background[ok])
        noise = np.sqrt(gain * np.clip(background, 0, None))
    else:
        noise = sigma
    positive = noise[noise > 0]
    floor = 0.5 * np.median(positive) if positive.size else 1e-12
    return np.maximum(noise, max(floor, 1e-12)).astype(np.float32)


def find_peaks_block(filtered, threshold, border=1):
    """Local maxima (3 x 3) above ``threshold`` in a block of filtered
    patterns (..., ky, kx), refined to sub-pixel by a parabola through the
    maximum and its neighbours along each axis.

    Returns
    -------
    index : (n, ndim - 2) int, the pattern of each peak in the block
    position : (n, 2) float, (row, column) in pixels
    value : (n,) float, the filtered value at the peak
    """
    from scipy import ndimage as ndi

    f = np.asarray(filtered)
    size = (1,) * (f.ndim - 2) + (3, 3)
    local = ndi.maximum_filter(f, size=size, mode="nearest") == f
    local &= f > threshold
    if border:
        local[..., :border, :] = False
        local[..., -border:, :] = False
        local[..., :, :border] = False
        local[..., :, -border:] = False
    where = np.nonzero(local)
    index = (
        np.stack(where[:-2], axis=1)
        if f.ndim > 2
        else np.zeros((len(where[0]), 0), int)
    )
    r, c = where[-2], where[-1]
    centre = f[where]
    lead = where[:-2]
    up, down = f[lead + (r - 1, c)], f[lead + (r + 1, c)]
    left, right = f[lead + (r, c - 1)], f[lead + (r, c + 1)]
    position = np.stack(
        [r + _parabola(up, centre, down), c + _parabola(left, centre, right)], axis=1
    )
    return index, position, centre.astype(np.float64)


def _parabola(a, b, c):
    """Offset of the vertex of the parabola through (-1, a), (0, b), (1, c)."""
    a, b, c = (np.asarray(v, dtype=np.float64) for v in (a, b, c))
    denom = a - 2 * b + c
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.where(denom < 0, 0.5 * (a - c) / denom, 0.0)
    return np.clip(offset, -0.5, 0.5)


# ---------------------------------------------------------- clustering
def cluster_positions(positions, eps, min_samples, resolution=0.05):
    """Unique vectors: DBSCAN of all peak positions.

    Positions are first rounded to ``resolution`` pixels and counted, and
    DBSCAN runs on the distinct positions with their counts as sample
    weights (exactly DBSCAN on the rounded positions, in a fraction of the
    memory: a vector seen in thousands of patterns is one weighted point).

    Returns
    -------
    centres : (m, 2) float, the count-weighted mean position of each cluster,
        sorted by row then column
    counts : (m,) int, the number of peaks in each cluster
    """
    from sklearn.cluster import DBSCAN

    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    if len(positions) == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=int)
    keys = np.round(positions / resolution).astype(np.int64)
    distinct, inverse, weight = np.unique(
        keys, axis=0, return_inverse=True, return_counts=True
    )
    inverse = inverse.ravel()
    points = distinct * resolution
    labels = (
        DBSCAN(eps=eps, min_samples=min_samples)
        .fit(points, sample_weight=weight)
        .labels_
    )
    n = int(labels.max()) + 1
    if n == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=int)
    point_label = labels[inverse]
    ok = point_label >= 0
    counts = np.bincount(point_label[ok], minlength=n)
    sums = np.stack(
        [np.bincount(point_label[ok], positions[ok, j], minlength=n) for j in range(2)],
        axis=1,
    )
    centres = sums / counts[:, None]
    order = np.lexsort((centres[:, 1], centres[:, 0]))
    return centres[order], counts[order]


# ---------------------------------------------------------- apertures
def aperture_matrix(shape, centres, radius, background=None, supersample=4):
    """Sparse matrix (n_vectors, ky * kx): one disc aperture per row.

    Pixels are weighted by the fraction of their area inside the disc
    (``supersample`` x ``supersample`` sub-pixels). With ``background=(r_in,
    r_out)`` each row also subtracts the mean of the annulus between r_in and
    r_out times the disc area: a local background correction in the same
    product.
    """
    from scipy import sparse

    ky, kx = shape
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    n = len(centres)
    reach = radius if background is None else max(radius, background[1])
    half = int(np.ceil(reach)) + 1
    # one window of (2 half + 1)^2 pixels around each vector, all at once
    window = np.arange(-half, half + 1)
    rr = np.rint(centres[:, :1]).astype(np.int64) + window  # (n, w)
    cc = np.rint(centres[:, 1:]).astype(np.int64) + window
    on_detector = ((rr >= 0) & (rr < ky))[:, :, None] & ((cc >= 0) & (cc < kx))[
        :, None, :
    ]
    # distance of every pixel centre to its vector, shared by the three circles
    distance = np.hypot(
        rr[:, :, None] - centres[:, 0, None, None],
        cc[:, None, :] - centres[:, 1, None, None],
    )

    def coverage(r):
        return _disc_coverage(distance, rr, cc, centres, r, supersample)

    weight = coverage(radius) * on_detector
    if background is not None:
        ring = coverage(background[1]) - coverage(background[0])
        ring *= on_detector
        ring_sum = ring.sum(axis=(1, 2))
        scale = np.divide(
            weight.sum(axis=(1, 2)), ring_sum, out=np.zeros(n), where=ring_sum > 0
        )
        weight -= ring * scale[:, None, None]
    vec, i, j = np.nonzero(weight)
    return sparse.csr_matrix(
        (weight[vec, i, j], (vec, rr[vec, i] * kx + cc[vec, j])), shape=(n, ky * kx)
    )


def _disc_coverage(distance, rows, cols, centres, radius, supersample):
    """Fraction of each pixel (``supersample`` x ``supersample`` sub-pixels)
    inside the disc of ``radius`` around each centre: shape (n, rows, cols).

    ``distance``: distance of each pixel centre to its centre. Only pixels
    cut by the circle are sampled: a pixel whose centre is closer to the
    circle than the farthest sub-pixel. The others are wholly inside (1) or
    outside (0).
    """
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    reach = np.hypot(offsets[-1], offsets[-1]) + 1e-9
    coverage = (distance + reach <= radius).astype(np.float64)
    vec, i, j = np.nonzero(np.abs(distance - radius) < reach)
    gy = (
        rows[vec, i][:, None, None]
        + offsets[None, :, None]
        - centres[vec, 0, None, None]
    )
    gx = (
        cols[vec, j][:, None, None]
        + offsets[None, None, :]
        - centres[vec, 1, None, None]
    )
    coverage[vec, i, j] = (np.hypot(gy, gx) <= radius).mean(axis=(1, 2))
    return coverage


# ------------------------------------------------------ virtual patterns
def gaussian_spots(shape, centres, intensities, sigma):
    """A pattern of Gaussian spots (integrated intensity ``intensities``)."""
    ky, kx = shape
    y = np.arange(ky, dtype=np.float64)[:, None]
    x = np.arange(kx, dtype=np.float64)[None, :]
    image = np.zeros(shape)
    norm = 1.0 / (2 * np.pi * sigma**2)
    for (cy, cx), value in zip(
        np.asarray(centres).reshape(-1, 2), intensities, strict=True
    ):
        image += (
            value * norm * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))
        )
    return image

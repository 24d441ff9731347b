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

from hyperspy_rnmf._beam import direct_beam, hot_pixels, without_hot_pixels
from hyperspy_rnmf._beam import normalised_smoothing as _smooth


# ------------------------------------------------------------ spot size
def describe_mean_pattern(mean):
    """Direct beam and Bragg spot size from the mean pattern of a scan.

    The mean pattern contains every spot of every crystal. Single-pixel
    maxima (hot pixels: the median of their 3 x 3 neighbourhood is below 10 %
    of their value, once the slowly varying background, a Gaussian of 1/8 of
    the pattern size, is removed) are neither beam nor spot: they are
    replaced by that median. Direct beam: the brightest blob, its centre and
    width from its half-maximum region (:func:`~hyperspy_rnmf._beam.direct_beam`):
    a Gaussian beam gets its ``sigma``, a disc of radius ``R`` (a convergent probe)
    ``0.85 R``. On planted beams (Gaussians of 1-4 px, discs of 3-10 px,
    20 000 counts per pattern) the centre is within 0.1 px and the width
    within 10 % of that.

    Spots: maxima over position and scale of the scale-normalised Laplacian
    of Gaussian (:func:`_scale_space_spots`), so that wide or weak spots are
    found at their own scale; the width of each is a least-squares fit of a
    Gaussian plus a plane (the local background) to the pixels around it
    (:func:`_fit_spot_widths`); the spot size is the median over spots.
    ``spot_sigma`` is the standard deviation of a Gaussian sampled at the
    pixel centres (as the spots of :func:`gaussian_spots`). Measured on
    planted spots of 0.8-4 px (one crystal orientation's spots apart from
    each other), from 100 to 10^5 counts per pattern: within 4 % (8.5 % for
    4 px spots at 100 counts). On crowded mean patterns (wide spots of many
    crystals) it is low: the significance of each scale is measured against
    the spread (MAD) of its filtered image, which the spots themselves then
    raise; 2 px spots came out 7-11 % low, and 2.5 px spots at 1500 counts
    42 % low, where no spot passed and the direct beam's width was used.
    The previous measure, the log-curvature of the background-subtracted
    spots, came out 13 % low for 1 px spots (the background Gaussian took
    part of each spot with it) and up to 80 % low for wide or weak spots
    (noise maxima taken for spots).

    Returns
    -------
    dict
        ``beam_centre`` (row, column) px, ``beam_sigma`` px, ``spot_sigma``
        px, ``n_spots`` (spots measured), ``note`` (how the values were
        found).
    """
    from scipy import ndimage as ndi

    mean = np.asarray(mean, dtype=np.float64)
    dead = ~np.isfinite(mean)  # left out of the beam's search, not zero
    mean = np.where(dead, 0.0, mean)
    hot, high, support = hot_pixels(mean)
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
    # a blob, not a hot pixel: the median of its 3 x 3 neighbourhood is at
    # least 10 % of its peak; a hot pixel was taken for the direct beam and
    # the beam for a wide spot
    local = (ndi.maximum_filter(high, size=3, mode="constant") == high) & (high > 0)
    local[[0, -1], :] = local[:, [0, -1]] = False
    if not (local & (support >= 0.1 * high)).any():
        return result
    clean = without_hot_pixels(mean, hot)
    centre, beam_sigma = direct_beam(clean, dead if dead.any() else None)
    result.update(beam_centre=centre, beam_sigma=beam_sigma)
    # spots: maxima of the scale-normalised Laplacian of Gaussian over
    # position and scale; the width of each is then fitted on the mean pattern
    beam_radius = 3.0 * beam_sigma + 1.0
    centres, scales = _scale_space_spots(clean, result["beam_centre"], beam_radius)
    if len(centres):
        widths = _fit_spot_widths(clean, centres, scales, result["beam_centre"])
        good = np.isfinite(widths)
        if good.any():
            result.update(
                spot_sigma=float(np.median(widths[good])),
                n_spots=int(good.sum()),
                note=(
                    f"median width of {good.sum()} spots of the mean pattern "
                    "(Gaussian + plane fitted to each)"
                ),
            )
            return result
    result["spot_sigma"] = result["beam_sigma"]
    result["note"] = "no spot in the mean pattern: the direct beam's width used"
    return result


_SCALES = 2.0 ** np.arange(-1.0, 4.01, 0.25)  # 0.5 to 16 px
_MAX_SPOTS = 48


def _scale_space_spots(image, beam_centre, beam_radius, z_min=5.0, strong=0.1):
    """Spot candidates of the mean pattern: maxima over position and scale of
    the scale-normalised Laplacian of Gaussian (``-s**2 LoG_s``, whose
    maximum at a Gaussian spot's centre is at ``s = sigma``), each scale in
    units of its own noise (the MAD of its image), above ``z_min``; not
    within ``beam_radius`` of the direct beam; at least ``strong`` times the
    response of the strongest; at most the ``_MAX_SPOTS`` most significant.
    Detection at the spot's own scale finds weak wide spots that the 3 x 3
    maxima of the pattern miss (noise maxima there were taken for spots
    of under a pixel).

    Returns centres (n, 2) px and scales (n,) px, the most significant first.
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max

    scales = _SCALES[_SCALES <= max(min(image.shape) / 8, 1.0)]

    def normalised_log(values):
        return np.stack(
            [-(s**2) * ndi.gaussian_laplace(values, s, mode="nearest") for s in scales]
        )

    stack = normalised_log(image)
    # significance on the square root of the pattern, where counting noise
    # is the same everywhere (else the bright centre gives noise maxima)
    root = normalised_log(np.sqrt(np.clip(image, 0, None)))
    centred = root - np.median(root, axis=(1, 2), keepdims=True)
    noise = 1.4826 * np.median(np.abs(centred), axis=(1, 2))
    z = (
        centred
        / np.maximum(noise, 1e-12 * max(np.abs(root).max(), 1e-300))[:, None, None]
    )
    found = peak_local_max(
        z, min_distance=1, threshold_abs=z_min, exclude_border=(0, 1, 1)
    )
    if not len(found):
        return np.zeros((0, 2)), np.zeros(0)
    scale = scales[found[:, 0]]
    centre = found[:, 1:].astype(np.float64)
    response = stack[tuple(found.T)]
    significance = z[tuple(found.T)]
    keep = np.hypot(*(centre - np.asarray(beam_centre)).T) > beam_radius
    scale, centre = scale[keep], centre[keep]
    response, significance = response[keep], significance[keep]
    if not len(scale):
        return np.zeros((0, 2)), np.zeros(0)
    order = np.argsort(-significance, kind="stable")
    reach = np.maximum(1.5, 2.0 * scale)  # of a kept candidate
    kept = np.empty(len(order), dtype=np.int64)
    n_kept = 0
    for i in order:  # one candidate per spot: its most significant one
        others = kept[:n_kept]  # (vectorised: a Python test per pair was
        # quadratic, 2 s for 2000 candidates of a crowded 256^2 pattern)
        distance = np.hypot(*(centre[others] - centre[i]).T)
        if not np.any(distance <= reach[others]):
            kept[n_kept] = i
            n_kept += 1
    kept = kept[:n_kept]
    kept = kept[response[kept] >= strong * response[kept].max()][:_MAX_SPOTS]
    # the spot's scale: where its normalised response is largest, from the
    # most significant scale up (that one is smaller when spots cover much
    # of the pattern; at small scales noise gives the largest responses)
    at = centre[kept].astype(np.int64)
    profile = stack[:, at[:, 0], at[:, 1]]
    profile[scales[:, None] < scale[kept][None, :]] = -np.inf
    return centre[kept], scales[np.argmax(profile, axis=0)]


def _fit_spot_widths(image, centres, scales, beam_centre):
    """Gaussian width of every spot: least-squares fit of a Gaussian (point
    sampled at the pixel centres) plus a plane to the pixels within 3 widths
    (``scales`` to start with; refitted in a wider window, up to 3 fits, while
    the fitted width exceeds 1/2.5 of the window) that are closer to this
    spot than to any other spot or the direct beam. The plane takes the local
    background (the diffuse halo, the tails of the direct beam), which a
    global background subtraction gets wrong under a spot: there it took part
    of the spot with it and the spots came out too narrow (0.87 px for 1 px
    spots, 1.5 px for 3 px ones). NaN where a fit fails."""
    from scipy import ndimage as ndi

    points = np.vstack([np.asarray(beam_centre, dtype=np.float64), centres])
    idx = np.clip(np.rint(points).astype(np.int64), 0, np.array(image.shape) - 1)
    label = np.full(image.shape, -1, dtype=np.int64)
    label[idx[:, 0], idx[:, 1]] = np.arange(len(points))
    # every pixel belongs to the nearest spot (or the beam)
    _, (near_r, near_c) = ndi.distance_transform_edt(label < 0, return_indices=True)
    owner = label[near_r, near_c]
    widths = np.full(len(centres), np.nan)
    for i, (centre, sigma) in enumerate(zip(centres, scales, strict=True)):
        for _ in range(3):  # until the window fits the width
            fitted = _fit_one_spot(image, owner == i + 1, centre, sigma)
            if fitted is None:
                break
            centre, sigma, inside = fitted
            if inside:
                widths[i] = sigma
                break
    return widths


def _fit_one_spot(image, mine, centre, sigma):
    """(centre, sigma, the window of 3 ``sigma`` was wide enough) of a
    Gaussian + plane fitted around ``centre``, or None."""
    from scipy.optimize import least_squares

    h = int(np.ceil(max(3.0, 3.0 * sigma)))
    r0, c0 = (int(round(v)) for v in centre)
    rows = slice(max(r0 - h, 0), min(r0 + h + 1, image.shape[0]))
    cols = slice(max(c0 - h, 0), min(c0 + h + 1, image.shape[1]))
    yy, xx = np.mgrid[rows, cols]
    use = mine[rows, cols] & (np.hypot(yy - centre[0], xx - centre[1]) <= h)
    if use.sum() < 12:
        return None
    y, x, v = yy[use] - centre[0], xx[use] - centre[1], image[rows, cols][use]

    def residual(p):
        amplitude, dy, dx, log_sigma, b0, by, bx = p
        r2 = (y - dy) ** 2 + (x - dx) ** 2
        return (
            amplitude * np.exp(-0.5 * r2 * np.exp(-2 * log_sigma))
            + b0
            + by * y
            + bx * x
            - v
        )

    base = float(np.min(v))
    peak = float(np.max(v)) - base
    if not peak > 0:
        return None
    shift = max(1.0, sigma)
    lo = [0.0, -shift, -shift, np.log(0.2), -np.inf, -np.inf, -np.inf]
    hi = [np.inf, shift, shift, np.log(h), np.inf, np.inf, np.inf]
    p0 = [peak, 0.0, 0.0, np.log(np.clip(sigma, 0.25, h * 0.9)), base, 0.0, 0.0]
    fit = least_squares(residual, p0, bounds=(lo, hi), x_scale="jac")
    amplitude, dy, dx, log_sigma = fit.x[:4]
    width = float(np.exp(log_sigma))
    if not (fit.success and amplitude > 0 and width > 0.25):
        return None
    return (centre[0] + dy, centre[1] + dx), width, bool(width <= h / 2.5)


# ------------------------------------------------------ filtering, peaks
def dog_filter(stack, low, high, missing=None):
    """Difference of Gaussians over the last two axes (float32).

    NaN or inf pixels (dead pixels after a flat field) are left out of the
    smoothing of their pattern and get 0 (never a peak): blurred as they are,
    one NaN pixel made a third of every pattern NaN and hid the crystals
    whose spots fell there. So are the pixels of ``missing`` (a
    pattern-shaped mask, e.g. hot pixels) in every pattern.
    """
    stack = np.asarray(stack, dtype=np.float32)
    lead = (0.0,) * (stack.ndim - 2)
    finite = np.isfinite(stack)
    if missing is not None:
        finite &= ~missing
    if finite.all():
        return _smooth(stack, lead + (low, low)) - _smooth(stack, lead + (high, high))
    clean = np.where(finite, stack, np.float32(0))
    weight = finite.astype(np.float32)
    out = _smooth(clean, lead + (low, low), weight) - _smooth(
        clean, lead + (high, high), weight
    )
    out[~finite] = 0
    return out


def noise_map(first, second, low, high, floor=0.5):
    """Per-pixel noise of patterns filtered by :func:`dog_filter` (standard
    deviation and skewness), from a sample of pairs of neighbouring patterns.

    Counting noise: a pixel's counts have variance ``gain`` times, and third
    cumulant ``gain**2`` times, their expected value ``lambda``, so the
    filtered value ``sum_k W(k) x(k)`` has the variance ``gain * sum_k
    W(k)**2 lambda(k)`` and third cumulant ``gain**2 * sum_k W(k)**3
    lambda(k)`` (:func:`dog_cumulant`: exact for the filter as applied,
    edges included). Two neighbouring patterns of a scan show (nearly) the
    same crystals, so their filtered difference is noise: ``gain`` is the
    median over the pairs of ``sum d**2 / sum_k w(k) (x_1 + x_2)(k)``, ``w``
    the summed squared weights of a count at ``k`` (a ratio unbiased however
    few the counts per pixel; the few pairs across a crystal's edge do not
    move the median; the detector's gain need not be known). ``lambda`` is
    the mean pattern of the sample without its spots (a grey opening, by a
    disc of radius 3 ``low``, of the mean smoothed by ``low``): spots, which
    are signal, do not raise the threshold at their own positions. The noise
    is at least ``floor`` times its median (where the detector sees almost
    no counts).

    The previous estimate, every pixel's spread over the sample after
    3-sigma clipping, collapsed on mostly-zero counts (a few hundred counts
    per pattern): the clipping removed the counts themselves, and the noise
    came out 2-4 times too low.

    Parameters
    ----------
    first, second : numpy.ndarray (n, ky, kx)
        Raw patterns, ``second[i]`` the scan neighbour of ``first[i]``;
        ``second`` None if the scan has a single position: nothing then
        tells noise from signal, and counts are assumed (gain 1, no additive
        noise; the pattern's own filtered energy gave a gain of 98.6 on
        planted counts, and not even the direct beam was found). Non-finite
        pixels (dead ones) are left out.
    low, high : float
        The Gaussian widths of :func:`dog_filter` (pixels).
    floor : float
        Lowest noise, relative to the median of the map.

    Returns
    -------
    noise : numpy.ndarray (ky, kx) float32
        Standard deviation.
    skew : numpy.ndarray (ky, kx) float32
        Third cumulant over variance (same units as the filtered values):
        counting noise's tail, heavy at low counts, for the threshold.
    gain : float
        Variance per unit of the raw patterns' values (1 for counts).
    additive : float
        Variance added to every raw pixel whatever its counts (read noise of
        an integrating detector; 0 for counting detectors).
    """
    from scipy import ndimage as ndi

    # float32 (as the filter works): float64 copies of a 256-pattern sample
    # of 256^2 pixels took about 670 MB
    patterns = [np.asarray(first, dtype=np.float32)]
    if second is not None:
        patterns.append(np.asarray(second, dtype=np.float32))
    finite = [np.isfinite(p) for p in patterns]
    values = [
        p if f.all() else np.where(f, p, np.float32(0))
        for f, p in zip(finite, patterns, strict=True)
    ]
    counted = sum(f.sum(axis=0) for f in finite)
    mean = sum(v.sum(axis=0, dtype=np.float64) for v in values) / np.maximum(counted, 1)
    valid = None if counted.all() else (counted > 0).astype(np.float64)
    unit = _weights_squared(mean.shape, low, high)
    gain, additive = 1.0, 0.0  # one pattern: its own signal is no measure of noise
    if second is not None:
        gain, additive = _counting_and_additive(patterns, values, mean, unit, low, high)
    radius = max(1, int(np.ceil(3 * low)))
    disc = np.hypot(*np.mgrid[-radius : radius + 1, -radius : radius + 1]) <= radius
    background = np.clip(
        ndi.grey_opening(_smooth(mean, low, valid), footprint=disc, mode="nearest"),
        0,
        None,
    )
    second_cumulant = np.clip(dog_cumulant(background, low, high, 2), 0, None)
    third_cumulant = dog_cumulant(background, low, high, 3)
    variance = gain * second_cumulant + additive * unit
    noise = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        # the additive (read) noise is Gaussian: it adds no third cumulant
        skew = np.where(variance > 0, gain**2 * third_cumulant / variance, 0.0)
    positive = noise[noise > 0]
    lowest = floor * np.median(positive) if positive.size else 1e-12
    noise = np.maximum(noise, max(lowest, 1e-12))
    return (
        noise.astype(np.float32),
        np.clip(skew, 0, None).astype(np.float32),
        gain,
        additive,
    )


def _weights_squared(shape, low, high):
    """``sum_k W_x(k)**2`` at every pixel ``x``: the variance of the filtered
    pattern for unit variance independent in every raw pixel."""
    return dog_cumulant(np.ones(shape), low, high, 2)


def _counting_and_additive(patterns, values, mean, unit, low, high):
    """Counting gain and additive variance of the raw pixels, from the
    filtered differences of neighbouring patterns ``patterns = [first,
    second]`` (``values``: the same with non-finite pixels set to 0;
    ``unit``: :func:`_weights_squared`).

    The gain alone is the median over the pairs of the energy of the
    filtered difference per expected count (see :func:`noise_map`).
    ``var(pixel) = gain * lambda + additive``: the counting term alone
    takes read noise for counts, which a detector adds in dim regions as
    much as in bright ones (a film at 300 counts per pattern plus Gaussian
    read noise of 1: noise 2.4 times too low, twice as many noise peaks).
    The two terms differ in how they vary across the pattern: per pixel,
    the mean squared difference over the pairs is ``2 gain c2 + 2 additive
    c0``, with ``c2`` the filtered squared weights of the mean counts and
    ``c0`` those of a constant (``unit``). Pairs across a crystal's edge
    (energy over twice the median ratio) are left out, and so are the
    pixels whose mean square is over twice the fit (spots changing between
    neighbours); both terms are fitted non-negative. Returns ``(gain,
    additive)``; ``additive`` is 0 when the fit finds none (pure counts) and
    ``gain`` is then the median ratio (0 without any count).
    """
    from scipy.optimize import nnls

    difference = dog_filter(patterns[0], low, high) - dog_filter(patterns[1], low, high)
    per_count = dog_cumulant(None, low, high, 2, shape=mean.shape)
    expected = sum(
        np.einsum("nij,ij->n", v, per_count, dtype=np.float64) for v in values
    )
    energy = np.einsum("nij,nij->n", difference, difference, dtype=np.float64)
    ok = expected > 0
    gain = float(np.median(energy[ok] / expected[ok])) if ok.any() else 0.0
    keep = energy <= 2.0 * gain * np.maximum(expected, 1e-300)
    if gain <= 0 or keep.sum() < 8:
        return gain, 0.0
    mean_square = np.zeros(difference.shape[1:])
    for i in np.flatnonzero(keep):  # (indexing with ``keep`` would copy them)
        mean_square += np.square(difference[i], dtype=np.float64)
    mean_square = (mean_square / keep.sum()).ravel()
    basis = np.stack(
        [
            2.0 * np.clip(dog_cumulant(mean, low, high, 2), 0, None).ravel(),
            2.0 * unit.ravel(),
        ],
        axis=1,
    )
    coefficients = np.array([gain, 0.0])
    for _ in range(3):
        fit = basis @ coefficients
        scale = np.where(
            fit > 0, fit, np.median(fit[fit > 0]) if (fit > 0).any() else 1
        )
        pixels = mean_square <= 2.0 * scale
        coefficients, _ = nnls(
            basis[pixels] / scale[pixels, None], mean_square[pixels] / scale[pixels]
        )
    counting, additive = (float(c) for c in coefficients)
    if additive <= 0 or counting <= 0:
        return gain, 0.0
    return counting, additive


def peak_threshold(noise, skew, n_sigma):
    """``n_sigma`` times the noise, plus the Cornish-Fisher correction for
    the skewness of counting noise, ``(n_sigma**2 - 1) / 6`` times ``skew``:
    about the false-alarm rate of a Gaussian ``n_sigma`` at any counts (at a
    few hundred counts per pattern the plain ``n_sigma`` x noise is crossed
    by two counts in one pixel)."""
    return (n_sigma * noise + max(n_sigma**2 - 1.0, 0.0) / 6.0 * skew).astype(
        np.float32
    )


def dog_cumulant(intensity, low, high, power, shape=None):
    """``sum_k W_x(k)**power intensity(k)`` at every pixel ``x``, ``W_x`` the
    weights of :func:`dog_filter` at ``x`` as applied (``mode="nearest"``
    edges included): for independent counts of expected ``intensity`` (gain
    1), the variance (power 2) or third cumulant (power 3) of the filtered
    pattern.

    The filter is separable: ``W = L_y L_x - H_y H_x`` with 1D Gaussian
    weights, so ``W**p`` is a sum of separable terms and each a product of
    matrices. With ``intensity`` None, instead, ``sum_x W_x(k)**power`` at
    every pixel ``k`` of a pattern of ``shape`` (what one count there adds
    to the sum over the pattern).
    """
    from math import comb

    from scipy import ndimage as ndi

    if intensity is not None:
        intensity = np.asarray(intensity, dtype=np.float64)
        shape = intensity.shape

    def weights(n, sigma):  # [out, in] weights of the 1D Gaussian filter
        return ndi.gaussian_filter1d(np.eye(n), sigma, axis=0, mode="nearest")

    (ly, hy), (lx, hx) = ([weights(n, s) for s in (low, high)] for n in shape)
    out = np.zeros(shape)
    for j in range(power + 1):
        factor = comb(power, j) * (-1.0) ** j
        ay = ly ** (power - j) * hy**j
        ax = lx ** (power - j) * hx**j
        if intensity is None:
            out += factor * np.outer(ay.sum(axis=0), ax.sum(axis=0))
        else:
            out += factor * (ay @ intensity @ ax.T)
    return out


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

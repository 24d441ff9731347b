"""The direct beam of a diffraction pattern: its centre and width.

Used on mean patterns, by the VDF route of the segmentation (the beam's
vectors are dropped, its width sets ``min_magnitude``) and by the azimuthal
integration (the centre, when the axes do not give it).
"""

import numpy as np

#: Smoothing (px) of the mean pattern in which the direct beam is the
#: brightest point: a blob's peak there grows with its integrated intensity, so
#: the beam wins over a Bragg spot as bright per pixel as its top (a wide disc).
BEAM_SEARCH = 3.0

#: Smoothing (px) of the mean pattern before the beam's half-maximum region is
#: taken: Poisson noise on the flat top of a disc would cut it into pieces.
BEAM_SMOOTHING = 1.0

#: Pattern elements per block of the mean pattern of NumPy data (64 MB of
#: float64 temporaries).
MEAN_BLOCK = 2**23


def mean_pattern(data, show_progressbar=False, extra=None):
    """Mean pattern (float64) over all leading axes of ``data``.

    NaN and inf pixels (a dropped frame stored as NaN, dead pixels after a
    flat field) are left out of the mean of their pixel; a pixel without a
    finite value in any pattern is NaN. The plain mean made one NaN frame a
    NaN mean pattern, and the beam was then looked for in nothing. One pass
    (NumPy data in blocks, no float64 copy of the whole data, though a
    non-contiguous array is copied in its own dtype; dask data in one
    computation), and a second one only where the first meets NaN or inf.

    ``extra``, a dask array taken from ``data`` (e.g. a sample of its
    patterns), is computed in the same computation, so that the chunks both
    need are read once; ``(mean, extra as NumPy)`` is then returned.
    """
    axes = tuple(range(data.ndim - 2))
    lazy = not isinstance(data, np.ndarray) and hasattr(data, "dask")
    total, _, extra_values = _sums(data, axes, lazy, False, show_progressbar, extra)
    n = int(np.prod(data.shape[:-2]))
    if np.isfinite(total).all():
        mean = total / max(n, 1)
    else:
        total, count, _ = _sums(data, axes, lazy, True, show_progressbar)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, np.nan)
    return mean if extra is None else (mean, extra_values)


def _sums(data, axes, lazy, finite_only, show_progressbar, extra=None):
    """Float64 sums over ``axes``, with ``finite_only`` of the finite values
    only and their number (else None), and ``extra`` computed."""
    if lazy:
        import dask
        import dask.array as da

        from hyperspy_rnmf.segmentation._common import dask_progress

        if finite_only:
            finite = da.isfinite(data)
            parts = (
                da.where(finite, data, 0).sum(axis=axes, dtype=np.float64),
                finite.sum(axis=axes),
            )
        else:  # inf - inf: NaN, searched in the second pass (quietly, as eager)
            total = da.reduction(
                data, _quiet_sum, _quiet_sum, axis=axes, dtype=np.float64
            )
            parts = (total, None)
        with dask_progress(show_progressbar):
            return dask.compute(*parts, extra)
    flat = np.asarray(data).reshape((-1,) + data.shape[-2:])
    step = max(1, MEAN_BLOCK // max(1, flat[0].size))
    total = np.zeros(data.shape[-2:])
    count = np.zeros(data.shape[-2:], dtype=np.int64) if finite_only else None
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: searched next
        for start in range(0, len(flat), step):
            block = flat[start : start + step]
            if finite_only:
                finite = np.isfinite(block)
                total += np.where(finite, block, 0).sum(axis=0, dtype=np.float64)
                count += finite.sum(axis=0)
            else:
                total += block.sum(axis=0, dtype=np.float64)
    return total, count, None if extra is None else np.asarray(extra)


def _quiet_sum(block, axis=None, keepdims=False, **_):
    """Float64 sum (a dask reduction step) without NumPy's warning for
    inf - inf."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.sum(block, axis=axis, dtype=np.float64, keepdims=keepdims)


def hot_pixels(image):
    """Hot pixels of a mean pattern: maxima of its background-subtracted
    version (a Gaussian of 1/8 of the pattern size removed) whose 3 x 3
    median is below 10 % of their value (a Gaussian spot of 0.9 px: about
    50 %). Returns ``(hot, high, support)``: the mask, the
    background-subtracted image and the 3 x 3 median of it."""
    from scipy import ndimage as ndi

    size = min(image.shape)
    background = ndi.gaussian_filter(image, max(size / 8, 2.0), mode="nearest")
    high = np.clip(image - background, 0, None)
    support = ndi.median_filter(high, size=3, mode="nearest")
    local = ndi.maximum_filter(high, size=3, mode="constant") == high
    return local & (high > 0) & (support < 0.1 * high), high, support


def without_hot_pixels(image, hot=None):
    """``image`` with its :func:`hot_pixels` (or ``hot``, found before)
    replaced by their 3 x 3 median."""
    from scipy import ndimage as ndi

    hot = hot_pixels(image)[0] if hot is None else hot
    if not hot.any():
        return image
    return np.where(hot, ndi.median_filter(image, size=3, mode="nearest"), image)


def normalised_smoothing(values, sigma, weight=None):
    """Gaussian smoothing (``mode="nearest"``); with ``weight`` (1 for valid
    pixels, 0 for missing ones), normalised so that missing pixels do not
    count (0 where nothing valid is in reach). Same dtype as ``values``."""
    from scipy import ndimage as ndi

    if weight is None:
        return ndi.gaussian_filter(values, sigma, mode="nearest")
    norm = ndi.gaussian_filter(weight, sigma, mode="nearest")
    smoothed = ndi.gaussian_filter(values * weight, sigma, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 1e-6, smoothed / norm, 0).astype(values.dtype)


def direct_beam(image, mask=None):
    """Centre (row, column) and width of the direct beam in a mean pattern.

    The beam is the maximum of ``image`` smoothed by ``BEAM_SEARCH``, less
    its slowly varying background (a Gaussian of 1/8 of the pattern size,
    so that a strong diffuse gradient does not win). Its region is the
    connected set of pixels around it above half its height over the local
    floor, in ``image`` smoothed by ``BEAM_SMOOTHING``; the floor (the
    diffuse halo under the beam) is the median of a ring at 2 to 3 times the
    region's radius, and the region is taken again above it. The centre is
    the centroid of the smoothed pattern minus the half height over the
    region (weights that fall to zero at its edge), and the width the
    ``sigma`` of a Gaussian with a half-maximum region of that area
    (``2 pi ln 2 sigma^2``), the smoothing taken out in quadrature: a Gaussian
    beam gets its ``sigma``, a disc of radius ``R`` (a convergent probe)
    ``0.85 R``, so that ``3 sigma`` covers the disc with its edge.

    Hot pixels are expected to be removed (:func:`without_hot_pixels`);
    ``mask`` (True = excluded: a beam stop, dead pixels) and NaN or inf
    pixels are left out of every smoothing; within reach of valid pixels
    (about 5 px) they take the smoothed value of their neighbours, so that a
    dead line through the beam (the chip gaps of a Medipix quad) does not
    cut it, and they count in its area next to visible pixels. A beam
    partly off the detector is centred on its visible part; behind a beam
    stop, on its visible part and the values extrapolated a few pixels into
    the stop (biased towards the visible part by up to a few pixels).

    The log-curvature of the three central pixels of the background-subtracted
    pattern used before measured a Gaussian beam of 4 px as 1.6 px (the
    background filter took its wings) and the flat top of a disc as noise;
    its centroid started at the brightest pixel of the top (3 px off for a
    6 px disc), and a 10 px disc lost to a spot as bright as its top.
    """
    from scipy import ndimage as ndi

    image = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(image)
    if mask is not None or not finite.all():  # NaN pixels: left out, not zero
        keep = finite if mask is None else finite & ~np.asarray(mask, bool)
        image = np.where(keep, image, 0.0)
        weight = keep.astype(np.float64)
    else:
        weight = None
    size = min(image.shape)
    background = normalised_smoothing(image, max(size / 8, 2 * BEAM_SEARCH), weight)
    search = normalised_smoothing(image, BEAM_SEARCH, weight) - background
    if weight is not None:
        search[weight == 0] = -np.inf
    seed = np.unravel_index(np.argmax(search), image.shape)
    # the slowly varying background taken off: above half the beam's height
    # a ramp of 0.8 x its peak across the pattern joined the region
    image = image - background
    smooth = normalised_smoothing(image, BEAM_SMOOTHING, weight)
    valid = np.ones(image.shape, bool) if weight is None else weight > 0
    reach = int(np.ceil(BEAM_SEARCH))
    r0, c0 = max(seed[0] - reach, 0), max(seed[1] - reach, 0)
    near = np.where(valid, smooth, -np.inf)[
        r0 : seed[0] + reach + 1, c0 : seed[1] + reach + 1
    ]
    top = np.unravel_index(np.argmax(near), near.shape)
    seed = (top[0] + r0, top[1] + c0)
    peak = float(smooth[seed])
    yy, xx = np.indices(image.shape)
    floor, centre = 0.0, seed
    for attempt in range(2):  # the region above 0, then above the local floor
        half = floor + 0.5 * (peak - floor)
        # left-out pixels hold the normalised smoothing of their neighbours,
        # so a dead detector line through the beam does not cut its region
        # in two (the half without the seed was dropped: 1.4-2.6 px off)
        labels, _ = ndi.label(smooth >= half)
        region = labels == labels[seed]
        # weights falling to zero at the edge of the region: the centroid
        # does not jump with the pixels that happen to pass the threshold
        weights = np.where(region, smooth - half, 0.0)
        if not weights.sum() > 0:  # flat (e.g. all zero): the brightest pixel
            break
        centre = ndi.center_of_mass(weights)
        if attempt:
            break
        radius = np.sqrt(region.sum() / np.pi)
        distance = np.hypot(yy - centre[0], xx - centre[1])
        ring = (distance >= 2 * radius + 2) & (distance <= 3 * radius + 4) & valid
        if not ring.any() or not np.median(image[ring]) < peak:
            break
        floor = float(np.median(image[ring]))
    # the area counts the left-out pixels next to visible ones (a dead line
    # through the beam, up to 3 px wide: within 5 %), not the filled-in
    # inside of a masked hole (a 3 px beam behind a 5 px stop measured 5.6 px,
    # now 4.3: behind a stop the width cannot be measured)
    seen = region & valid
    area = (region & ndi.binary_dilation(seen, iterations=1)).sum()
    smoothed_var = area / (2 * np.pi * np.log(2))
    sigma = np.sqrt(max(smoothed_var - BEAM_SMOOTHING**2, 0.09))
    return (float(centre[0]), float(centre[1])), float(sigma)

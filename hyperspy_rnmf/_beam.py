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


def direct_beam(image):
    """Centre (row, column) and width of the direct beam in a mean pattern.

    The beam is the maximum of ``image`` smoothed by ``BEAM_SEARCH``. Its
    region is the connected set of pixels around it above half its height
    over the local floor, in ``image`` smoothed by ``BEAM_SMOOTHING``; the
    floor (the diffuse halo under the beam) is the median of a ring at 2 to 3
    times the region's radius, and the region is taken again above it. The
    centre is the centroid of the smoothed pattern minus the half height over
    the region (weights that fall to zero at its edge), and the width the
    ``sigma`` of a Gaussian with a half-maximum region of that area
    (``2 pi ln 2 sigma^2``), the smoothing taken out in quadrature: a Gaussian
    beam gets its ``sigma``, a disc of radius ``R`` (a convergent probe)
    ``0.85 R``, so that ``3 sigma`` covers the disc with its edge.

    The log-curvature of the three central pixels of the background-subtracted
    pattern used before measured a Gaussian beam of 4 px as 1.6 px (the
    background filter took its wings) and the flat top of a disc as noise;
    its centroid started at the brightest pixel of the top (3 px off for a
    6 px disc), and a 10 px disc lost to a spot as bright as its top.
    """
    from scipy import ndimage as ndi

    seed = np.unravel_index(
        np.argmax(ndi.gaussian_filter(image, BEAM_SEARCH, mode="nearest")),
        image.shape,
    )
    smooth = ndi.gaussian_filter(image, BEAM_SMOOTHING, mode="nearest")
    reach = int(np.ceil(BEAM_SEARCH))
    r0, c0 = max(seed[0] - reach, 0), max(seed[1] - reach, 0)
    near = smooth[r0 : seed[0] + reach + 1, c0 : seed[1] + reach + 1]
    top = np.unravel_index(np.argmax(near), near.shape)
    seed = (top[0] + r0, top[1] + c0)
    peak = float(smooth[seed])
    yy, xx = np.indices(image.shape)
    floor = 0.0
    for attempt in range(2):  # the region above 0, then above the local floor
        half = floor + 0.5 * (peak - floor)
        labels, _ = ndi.label(smooth >= half)
        region = labels == labels[seed]
        # weights falling to zero at the edge of the region: the centroid
        # does not jump with the pixels that happen to pass the threshold
        weights = np.where(region, smooth - half, 0.0)
        if not weights.sum() > 0:  # flat (e.g. all zero): the brightest pixel
            centre = seed
            break
        centre = ndi.center_of_mass(weights)
        if attempt:
            break
        radius = np.sqrt(region.sum() / np.pi)
        distance = np.hypot(yy - centre[0], xx - centre[1])
        ring = (distance >= 2 * radius + 2) & (distance <= 3 * radius + 4)
        if not ring.any() or not np.median(image[ring]) < peak:
            break
        floor = float(np.median(image[ring]))
    smoothed_var = region.sum() / (2 * np.pi * np.log(2))
    sigma = np.sqrt(max(smoothed_var - BEAM_SMOOTHING**2, 0.09))
    return (float(centre[0]), float(centre[1])), float(sigma)

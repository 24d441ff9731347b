"""Watershed splitting of one intensity map into crystals.

The map (an NMF loading map or a virtual dark-field image) is thresholded
into a foreground mask; the Euclidean distance transform of the mask gives
one marker per "blob"; the Sobel gradient of the map is flooded from the
markers inside the mask (scikit-image's marker-controlled watershed), as in
Bergh et al., J. Microsc. 279 (2020) 158-167, and scikit-image's
"Watershed segmentation" example.

Markers are the regional maxima of the distance transform that are separated
by a neck: two maxima give two markers only if the distance transform drops
between them below ``(1 - min_depth)`` times the lower maximum (h-maxima of
``log(1 + d)``, with d in probe positions). This keeps one marker per crystal
however elongated or irregular it is (a fixed minimum distance between markers
cannot: it splits long crystals and merges small neighbours), and splits
crystals that touch through a narrow neck. Markers closer than
``min_distance`` (calibrated units) are then merged as well.
"""

import warnings

import numpy as np

from hyperspy_rnmf.segmentation._common import check_int, check_real

THRESHOLD_METHODS = ("li", "otsu")


def _validate(image, threshold, min_distance, min_depth, min_size, max_size,
              min_intensity, exclude_border, sampling):
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"`image` (shape {image.shape}) must be 2D.")
    if isinstance(threshold, str):
        if threshold.lower() not in THRESHOLD_METHODS:
            raise ValueError(
                f"`threshold` must be one of {THRESHOLD_METHODS} or a fraction "
                f"of the map's maximum in (0, 1), got {threshold!r}."
            )
        threshold = threshold.lower()
    else:
        threshold = check_real(threshold, "threshold", 0, 1, low_open=True,
                               high_open=True)
    min_distance = check_real(min_distance, "min_distance", 0)
    min_depth = check_real(min_depth, "min_depth", 0, 1, high_open=True)
    min_size = check_int(min_size, "min_size", 1)
    if max_size is not None:
        max_size = check_int(max_size, "max_size", 1)
        if max_size < min_size:
            raise ValueError(
                f"`max_size` ({max_size}) must be >= `min_size` ({min_size})."
            )
    min_intensity = check_real(min_intensity, "min_intensity", 0, 1)
    exclude_border = check_int(exclude_border, "exclude_border", 0)
    if sampling is None:
        sampling = (1.0, 1.0)
    sampling = tuple(float(v) for v in sampling)
    if len(sampling) != 2 or not all(np.isfinite(v) and v > 0 for v in sampling):
        raise ValueError(
            f"`sampling` must be two positive numbers (row, column step), got "
            f"{sampling!r}."
        )
    return (image, threshold, min_distance, min_depth, min_size, max_size,
            min_intensity, exclude_border, sampling)


def watershed_segments(
    image,
    *,
    threshold="li",
    min_distance=0.0,
    min_depth=0.3,
    min_size=10,
    max_size=None,
    min_intensity=0.1,
    exclude_border=0,
    sampling=None,
    name="map",
):
    """Split one map into segments by marker-controlled watershed.

    Parameters
    ----------
    image : array-like, shape (rows, columns)
        The map. NaN pixels (e.g. masked probe positions) belong to no
        segment. The input is not modified.
    threshold : {'li', 'otsu'} or float, default 'li'
        Foreground mask: pixels above scikit-image's Li or Otsu threshold of
        the map, or above this fraction (in (0, 1)) of the map's maximum.
    min_distance : float, default 0
        Markers closer than this (in the units of ``sampling``) are merged.
    min_depth : float in [0, 1), default 0.3
        Relative depth of the neck that separates two markers: two maxima of
        the distance transform are separate markers only if the distance
        transform between them drops below ``1 - min_depth`` times the lower
        maximum (computed on ``log(1 + d)``, d in pixels). 0 keeps every
        regional maximum.
    min_size, max_size : int
        Segments with fewer than ``min_size`` or more than ``max_size``
        pixels are discarded (``max_size=None``: no upper limit).
    min_intensity : float in [0, 1], default 0.1
        Segments whose largest value is below this fraction of the map's
        maximum are discarded.
    exclude_border : int, default 0
        Segments whose marker lies within this many pixels of the edge of
        the map are discarded (their pixels are not given to neighbours).
    sampling : tuple of float, optional
        Pixel size (row, column) in calibrated units, for ``min_distance``.
    name : str
        Name of the map in warnings.

    Returns
    -------
    labels : numpy.ndarray of int32, shape of ``image``
        0 outside every segment, 1..n inside segment 1..n (in the order of
        their markers, rows first).
    info : dict
        ``threshold`` (the value used), ``n_markers``, and ``discarded``:
        counts of segments dropped as ``small``, ``large``, ``weak`` and
        ``border``.

    Warns
    -----
    UserWarning
        When no pixel of the map is above the threshold (no segment).

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[0:30, 0:50]
    >>> image = ((np.hypot(y - 15, x - 14) < 9) | (np.hypot(y - 15, x - 33) < 9))
    >>> labels, info = watershed_segments(image.astype(float), threshold=0.5)
    >>> int(labels.max()), info["n_markers"]
    (2, 2)
    """
    (image, threshold, min_distance, min_depth, min_size, max_size,
     min_intensity, exclude_border, sampling) = _validate(
        image, threshold, min_distance, min_depth, min_size, max_size,
        min_intensity, exclude_border, sampling)
    from scipy import ndimage as ndi
    from skimage.filters import sobel, threshold_li, threshold_otsu
    from skimage.segmentation import watershed

    img = np.where(np.isfinite(image), image, 0.0).astype(np.float64)
    info = {
        "threshold": None,
        "n_markers": 0,
        "discarded": {"small": 0, "large": 0, "weak": 0, "border": 0},
    }
    empty = np.zeros(img.shape, dtype=np.int32)
    peak = float(img.max()) if img.size else 0.0
    if not peak > 0 or float(img.min()) == peak:
        warnings.warn(
            f"{name}: no pixel above the threshold (the map is constant or not "
            "positive): no segment.",
            UserWarning,
            stacklevel=3,
        )
        return empty, info
    if threshold == "li":
        level = float(threshold_li(img))
    elif threshold == "otsu":
        level = float(threshold_otsu(img))
    else:
        level = threshold * peak
    info["threshold"] = level
    mask = img > level
    if not mask.any():
        warnings.warn(
            f"{name}: no pixel above the threshold ({level:.4g}): no segment.",
            UserWarning,
            stacklevel=3,
        )
        return empty, info

    markers = _markers(mask, min_depth, min_distance, sampling)
    info["n_markers"] = int(markers.max())
    elevation = sobel(img / peak)
    labels = watershed(elevation, markers=markers, mask=mask, connectivity=2)

    n = int(labels.max())
    index = np.arange(1, n + 1)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    maxima = ndi.maximum(img, labels, index) if n else np.zeros(0)
    keep = np.ones(n, dtype=bool)
    small = sizes < min_size
    large = sizes > max_size if max_size is not None else np.zeros(n, bool)
    weak = np.asarray(maxima) < min_intensity * peak
    border = np.zeros(n, dtype=bool)
    if exclude_border:
        centres = np.asarray(ndi.center_of_mass(markers > 0, markers, index))
        rows, cols = img.shape
        edge = np.minimum.reduce(
            [centres[:, 0], centres[:, 1], rows - 1 - centres[:, 0],
             cols - 1 - centres[:, 1]]
        )
        border = edge < exclude_border
    for key, flag in (("small", small), ("large", large), ("weak", weak),
                      ("border", border)):
        info["discarded"][key] = int((flag & keep).sum())
        keep &= ~flag
    lookup = np.zeros(n + 1, dtype=np.int32)
    lookup[index[keep]] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return lookup[labels], info


def _markers(mask, min_depth, min_distance, sampling):
    """Labelled markers: deep maxima of the distance transform, merged when
    closer than ``min_distance``; one connected mask part never shares a
    marker label with another."""
    from scipy import ndimage as ndi
    from skimage.morphology import h_maxima, local_maxima

    distance = ndi.distance_transform_edt(mask)  # in pixels
    parts, n_parts = ndi.label(mask, structure=np.ones((3, 3)))
    if min_depth > 0:
        level = np.log1p(distance)
        peaks = h_maxima(level, -np.log1p(-min_depth)).astype(bool)
        # h_maxima loses maxima lower than h: keep the top of such parts
        missing = np.setdiff1d(np.arange(1, n_parts + 1), parts[peaks])
        if missing.size:
            top = ndi.maximum(distance, parts, missing)
            for part, value in zip(missing, top):
                peaks |= (parts == part) & (distance == value)
    else:
        peaks = local_maxima(distance) & mask
    markers, n = ndi.label(peaks, structure=np.ones((3, 3)))
    if n > 1 and min_distance > 0:
        markers = _merge_close_markers(markers, n, parts, min_distance, sampling)
    return markers


def _merge_close_markers(markers, n, parts, min_distance, sampling):
    from scipy import ndimage as ndi
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    index = np.arange(1, n + 1)
    centres = np.asarray(ndi.center_of_mass(markers > 0, markers, index))
    part_of = np.asarray(ndi.maximum(parts, markers, index)).astype(int)
    pairs = cKDTree(centres * np.asarray(sampling)).query_pairs(
        min_distance, output_type="ndarray"
    )
    if len(pairs):
        pairs = pairs[part_of[pairs[:, 0]] == part_of[pairs[:, 1]]]
    graph = coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])) if len(pairs) else
        (np.zeros(0), (np.zeros(0, int), np.zeros(0, int))),
        shape=(n, n),
    )
    _, group = connected_components(graph, directed=False)
    lookup = np.concatenate([[0], group + 1]).astype(np.int32)
    return lookup[markers]

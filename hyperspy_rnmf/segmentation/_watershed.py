"""Watershed splitting of one intensity map into crystals.

The map (an NMF loading map or a virtual dark-field image) is thresholded
into a foreground mask; the Euclidean distance transform of the mask gives
one marker per "blob"; the Sobel gradient of the map is flooded from the
markers inside the mask (scikit-image's marker-controlled watershed), as in
Bergh et al., J. Microsc. 279 (2020) 158-167, and scikit-image's
"Watershed segmentation" example.

Two additions make the defaults work without a parameter search:

* **Markers** are the regional maxima of the distance transform that are
  separated by a neck: two maxima give two markers only if the distance
  transform drops between them below ``(1 - min_depth)`` times the lower
  maximum (h-maxima of ``log(1 + d)``, d in probe positions). This keeps one
  marker per crystal however elongated or irregular it is (a minimum distance
  between markers cannot: it splits long crystals and merges small
  neighbours), and still splits crystals that touch through a narrow neck.
  Markers closer than ``min_distance`` (calibrated units) are merged as well.
* **Boundaries**: each watershed region is trimmed to the pixels above
  ``boundary`` times its own maximum (third-largest value),
  i.e. to the crystal's half-maximum contour by default. A global threshold
  places the boundary of a thin crystal and a thick crystal of the same map at
  different heights, and keeps the faint trace that a crystal leaves in the
  map of another component; the per-segment contour does neither.
"""

import warnings

import numpy as np

from hyperspy_rnmf.segmentation._common import check_int, check_real

THRESHOLD_METHODS = ("li", "otsu")


def _validate(
    image,
    threshold,
    min_distance,
    min_depth,
    boundary,
    min_size,
    max_size,
    min_intensity,
    exclude_border,
    sampling,
):
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
        threshold = check_real(
            threshold, "threshold", 0, 1, low_open=True, high_open=True
        )
    min_distance = check_real(min_distance, "min_distance", 0)
    min_depth = check_real(min_depth, "min_depth", 0, 1, high_open=True)
    if boundary is not None:
        boundary = check_real(boundary, "boundary", 0, 1, high_open=True)
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
    return (
        image,
        threshold,
        min_distance,
        min_depth,
        boundary,
        min_size,
        max_size,
        min_intensity,
        exclude_border,
        sampling,
    )


def map_maximum(image):
    """The third-largest finite value of a map: its maximum, robust to one or
    two hot pixels (NaN counts as 0)."""
    flat = np.where(np.isfinite(image), image, 0.0).ravel()
    if flat.size == 0:
        return 0.0
    k = min(3, flat.size)
    return float(np.partition(flat, -k)[-k])


def watershed_segments(
    image,
    *,
    threshold="otsu",
    min_distance=0.0,
    min_depth=0.3,
    boundary=0.5,
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
    threshold : {'otsu', 'li'} or float, default 'otsu'
        Foreground mask: pixels above scikit-image's Otsu or Li threshold of
        the map, or above this fraction (in (0, 1)) of the map's maximum.
    min_distance : float, default 0
        Markers closer than this (in the units of ``sampling``) are merged.
    min_depth : float in [0, 1), default 0.3
        Relative depth of the neck that separates two markers: two maxima of
        the distance transform are separate markers only if the distance
        transform between them drops below ``1 - min_depth`` times the lower
        maximum (computed on ``log(1 + d)``, d in pixels). 0 keeps every
        regional maximum (as pyxem does).
    boundary : float in [0, 1) or None, default 0.5
        Trim every watershed region to its pixels above this fraction of the
        region's maximum (third-largest value); pieces that fall apart become
        separate segments. None or 0 keeps the watershed regions.
    min_size, max_size : int
        Segments with fewer than ``min_size`` or more than ``max_size``
        pixels are discarded (``max_size=None``: no upper limit).
    min_intensity : float in [0, 1], default 0.1
        Segments whose largest value is below this fraction of the map's
        maximum are discarded.
    exclude_border : int, default 0
        Segments whose centre of mass lies within this many pixels of the
        edge of the map are discarded (their pixels are not given to
        neighbours).
    sampling : tuple of float, optional
        Pixel size (row, column) in calibrated units, for ``min_distance``.
    name : str
        Name of the map in warnings.

    Returns
    -------
    labels : numpy.ndarray of int32, shape of ``image``
        0 outside every segment, 1..n inside segment 1..n.
    info : dict
        ``threshold`` (the value used), ``maximum`` (the map's third-largest
        value, the reference of the relative thresholds),
        ``n_markers``, and ``discarded``: how many segments were dropped as
        ``small``, ``large``, ``weak`` and ``border``.

    Warns
    -----
    UserWarning
        When no pixel of the map is above the threshold (no segment).

    Notes
    -----
    The maximum of a map or segment used by ``threshold`` (fraction),
    ``boundary`` and ``min_intensity`` is its third-largest value, so that one
    or two hot pixels do not set it.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[0:30, 0:50]
    >>> image = ((np.hypot(y - 15, x - 14) < 9) | (np.hypot(y - 15, x - 33) < 9))
    >>> labels, info = watershed_segments(image.astype(float), threshold=0.5)
    >>> int(labels.max()), info["n_markers"]
    (2, 2)
    """
    (
        image,
        threshold,
        min_distance,
        min_depth,
        boundary,
        min_size,
        max_size,
        min_intensity,
        exclude_border,
        sampling,
    ) = _validate(
        image,
        threshold,
        min_distance,
        min_depth,
        boundary,
        min_size,
        max_size,
        min_intensity,
        exclude_border,
        sampling,
    )
    from scipy import ndimage as ndi
    from skimage.filters import sobel, threshold_li, threshold_otsu
    from skimage.measure import label as label_regions
    from skimage.segmentation import watershed

    img = np.where(np.isfinite(image), image, 0.0).astype(np.float64)
    info = {
        "threshold": None,
        "maximum": None,
        "n_markers": 0,
        "discarded": {"small": 0, "large": 0, "weak": 0, "border": 0},
    }
    empty = np.zeros(img.shape, dtype=np.int32)
    peak = map_maximum(img) if img.size else 0.0
    info["maximum"] = peak
    if not peak > 0 or float(img.min()) == float(img.max()):
        warnings.warn(
            f"{name}: no pixel above the threshold (the map is constant or its "
            "maximum is not positive): no segment.",
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

    # work inside the bounding box of the mask (plus one pixel)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, c0 = max(rows[0] - 1, 0), max(cols[0] - 1, 0)
    box = (slice(r0, rows[-1] + 2), slice(c0, cols[-1] + 2))
    sub_img, sub_mask = img[box], mask[box]

    markers = _markers(sub_mask, min_depth, min_distance, sampling)
    info["n_markers"] = int(markers.max())
    elevation = sobel(sub_img / peak)
    labels = watershed(elevation, markers=markers, mask=sub_mask, connectivity=2)
    if boundary:
        labels = _trim(sub_img, labels, boundary)
        labels = label_regions(labels, background=0, connectivity=2)

    n = int(labels.max())
    index = np.arange(1, n + 1)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    maxima = np.asarray(ndi.maximum(sub_img, labels, index)) if n else np.zeros(0)
    keep = np.ones(n, dtype=bool)
    small = sizes < min_size
    large = sizes > max_size if max_size is not None else np.zeros(n, bool)
    weak = maxima < min_intensity * peak
    border = np.zeros(n, dtype=bool)
    if exclude_border and n:
        centres = np.asarray(ndi.center_of_mass(labels > 0, labels, index))
        centres = centres + np.array([r0, c0])
        n_rows, n_cols = img.shape
        edge = np.minimum.reduce(
            [centres[:, 0], centres[:, 1], n_rows - 1 - centres[:, 0],
             n_cols - 1 - centres[:, 1]]
        )
        border = edge < exclude_border
    for key, flag in (("small", small), ("large", large), ("weak", weak),
                      ("border", border)):
        info["discarded"][key] = int((flag & keep).sum())
        keep &= ~flag
    lookup = np.zeros(n + 1, dtype=np.int32)
    lookup[index[keep]] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    empty[box] = lookup[labels]
    return empty, info


def _trim(img, labels, boundary):
    """Keep, in every region, the pixels above ``boundary`` x its top value
    (its third-largest value, robust to hot pixels)."""
    n = int(labels.max())
    if n == 0:
        return labels
    inside = labels > 0
    lab = labels[inside]
    val = img[inside]
    order = np.lexsort((val, lab))
    lab, val = lab[order], val[order]
    ends = np.searchsorted(lab, np.arange(1, n + 1), side="right")
    starts = np.searchsorted(lab, np.arange(1, n + 1), side="left")
    top = np.zeros(n + 1)
    present = ends > starts
    pick = np.maximum(ends - 3, starts)  # third-largest (or the smallest there is)
    top[1:][present] = val[pick[present]]
    keep = inside & (img >= boundary * top[labels])
    return np.where(keep, labels, 0)


def _markers(mask, min_depth, min_distance, sampling):
    """Labelled markers: the cores of the distance transform's domes that
    rise at least ``min_depth`` (relative) above their surroundings, merged
    when closer than ``min_distance``. A marker never spans two connected
    parts of the mask."""
    from scipy import ndimage as ndi
    from skimage.morphology import local_maxima, reconstruction

    distance = ndi.distance_transform_edt(mask)  # in pixels
    eight = np.ones((3, 3), dtype=bool)
    parts, _ = ndi.label(mask, structure=eight)
    if min_depth > 0:
        # h-dome transform of log(1 + d): every pixel above the level at which
        # its dome merges with a higher one, minus h. A dome's core (the
        # pixels above that level) is one marker, however many pixels share
        # its top value.
        level = np.log1p(distance)
        h = -np.log1p(-min_depth)
        floor = reconstruction(level - h, level, method="dilation", footprint=eight)
        residue = np.where(mask, level - floor, 0.0)
        domes, n_domes = ndi.label(residue > 1e-12, structure=eight)
        # keep the domes that rise by h (their top's residue is h); shallower
        # bumps on a flank have a smaller residue everywhere
        height = ndi.maximum(residue, domes, np.arange(1, n_domes + 1))
        deep = np.concatenate([[False], np.asarray(height) >= h * (1 - 1e-9)])
        cores = deep[domes]
    else:
        cores = local_maxima(distance, connectivity=2) & mask
    markers, n = ndi.label(cores, structure=eight)
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
    pairs = pairs[part_of[pairs[:, 0]] == part_of[pairs[:, 1]]]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    lookup = np.concatenate([[0], group + 1]).astype(np.int32)
    return lookup[markers]

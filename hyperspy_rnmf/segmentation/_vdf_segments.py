"""VDF route, steps 5-8: the VDF images of all vectors in one pass, watershed
segments of every VDF image, order-independent correlation merging, virtual
diffraction patterns.

See :mod:`hyperspy_rnmf.segmentation.vdf_route` for the whole route.
"""

import warnings

import numpy as np

from hyperspy_rnmf._axes import copy_axes
from hyperspy_rnmf.segmentation import _vdf
from hyperspy_rnmf.segmentation._common import (
    axes_of,
    check_correlation,
    check_int,
    check_scan_signal,
    show_progress,
    signal_weighted_sums,
)
from hyperspy_rnmf.segmentation._correlation import (
    LINKAGES,
    group_pairs,
    sparse_correlation_matrix,
)
from hyperspy_rnmf.segmentation._vdf_peaks import (
    DEFAULTS,
    UniqueVectors,
    _Calibration,
    check_aperture_radius,
    estimate_vdf_parameters,
)
from hyperspy_rnmf.segmentation._watershed import scan_options, watershed_maps


# ------------------------------------------------------------ VDF images
def vdf_images(signal, vectors, *, radius=None, background=True, show_progressbar=None):
    """Virtual dark-field images of all vectors in one pass over the data.

    A sparse aperture matrix (one disc per vector, pixels weighted by the
    fraction of their area inside the disc) multiplies every pattern: the
    cost is one read of the data whatever the number of vectors (a compiled
    kernel, on every core; see :func:`signal_weighted_sums
    <hyperspy_rnmf.segmentation._common.signal_weighted_sums>`).

    Parameters
    ----------
    signal : hyperspy signal
        4D-STEM data (raw), lazy or not; not modified.
    vectors : UniqueVectors or array-like (n, 2)
        Calibrated (kx, ky) positions.
    radius : float, optional
        Aperture radius, calibrated units; default 2 x the spot sigma
        (from the vectors' parameters, or measured).
    background : bool, default True
        Subtract the local background: the mean of an annulus from
        radius + spot sigma to radius + 3 spot sigma, times the disc area
        (in the same matrix product).
    show_progressbar : bool or None

    Returns
    -------
    hyperspy.api.signals.Signal2D
        Navigation: vector index; signal: the scan, with its calibration.
        ``metadata.VDF``: ``vectors`` (calibrated), ``radius``, ``background``.
    """
    import hyperspy.api as hs

    check_scan_signal(signal)
    calibration = _Calibration(signal)
    if isinstance(vectors, UniqueVectors):
        pixels = vectors.pixels
        spot = vectors.parameters.get("spot_sigma_px")
    else:
        v = np.asarray(vectors, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 2:
            raise ValueError(
                f"`vectors` (shape {v.shape}) must be (n, 2) calibrated (kx, ky) "
                "positions."
            )
        if not calibration.calibrated:
            raise ValueError(
                "`vectors` are in calibrated units, but the signal axes of the "
                "data are not calibrated (no units, scale 1): calibrate them or "
                "pass the UniqueVectors from unique_vectors()."
            )
        pixels = calibration.to_pixels(v)
        spot = None
    if not isinstance(background, bool):
        raise ValueError(f"`background` must be True or False, got {background!r}.")
    if radius is None or (background and spot is None):
        if spot is None:
            spot = estimate_vdf_parameters(signal, show_progressbar=False)[
                "spot_sigma_px"
            ]
    radius_px = (
        max(1.0, 2.0 * spot)
        if radius is None
        else check_aperture_radius(calibration.length(radius, "radius"), calibration)
    )
    ring = None
    if background:
        ring = (radius_px + spot, radius_px + 3 * spot)
    apertures = _vdf.aperture_matrix(calibration.shape, pixels, radius_px, ring)
    images = signal_weighted_sums(signal, apertures, show_progress(show_progressbar))
    out = hs.signals.Signal2D(images)
    copy_axes(out.axes_manager.signal_axes, axes_of(signal, "navigation"))
    out.axes_manager.navigation_axes[0].name = "vector index"
    out.metadata.General.title = "virtual dark-field images"
    out.metadata.set_item(
        "VDF",
        {
            "vectors": calibration.to_calibrated(pixels).tolist(),
            "radius": radius_px * calibration.pixel,
            "radius_px": radius_px,
            "background": bool(background),
            "annulus_px": None if ring is None else list(ring),
        },
    )
    return out


# ------------------------------------------------------------ segments
def vdf_segments(
    vdfs,
    *,
    median_size=DEFAULTS["median_size"],
    threshold=DEFAULTS["threshold"],
    min_distance=None,
    min_depth=DEFAULTS["min_depth"],
    boundary=DEFAULTS["boundary"],
    min_size=DEFAULTS["min_size"],
    max_size=None,
    min_intensity=DEFAULTS["min_intensity"],
    exclude_border=DEFAULTS["exclude_border"],
    show_progressbar=None,
):
    """Split every VDF image into segments by watershed.

    Parameters
    ----------
    vdfs : hyperspy signal
        From :func:`vdf_images` (navigation: vectors; signal: the scan).
    median_size : int, default 3
        The watershed sees each VDF image after a ``median_size`` x
        ``median_size`` median filter (1: none): a VDF image is the intensity
        of a few detector pixels and, unlike an NMF loading, noisy. The
        segment images keep the unfiltered intensities.
    threshold, min_distance, min_depth, boundary, min_size, max_size,
    min_intensity, exclude_border
        As in :func:`~hyperspy_rnmf.segmentation.watershed_segments`
        (``min_distance`` in calibrated scan units; default: the diameter of
        a disc of ``min_size`` positions).
    show_progressbar : bool or None

    Returns
    -------
    dict
        ``images`` (n, rows, columns): the VDF intensity inside each segment,
        0 outside; ``masks`` (n, rows, columns) bool; ``vector`` (n,) the
        vector index of each segment; ``watershed``: per VDF image, the
        threshold and the segments discarded. No warning for VDF images
        without segment (many vectors are weak); their number is in
        ``n_empty``.
    """
    from scipy import ndimage as ndi

    images = np.asarray(vdfs.data, dtype=np.float64)
    median_size = check_int(median_size, "median_size", 1)
    smoothed = images
    if median_size > 1:
        smoothed = ndi.median_filter(
            images, size=(1, median_size, median_size), mode="nearest"
        )
    options = scan_options(
        vdfs.axes_manager.signal_axes,
        min_size=check_int(min_size, "min_size", 1),
        min_distance=min_distance,
        threshold=threshold,
        min_depth=min_depth,
        boundary=boundary,
        max_size=max_size,
        min_intensity=min_intensity,
        exclude_border=exclude_border,
    )
    seg_images, seg_masks, seg_vector, infos = [], [], [], []
    n_empty = 0
    with warnings.catch_warnings():  # VDF images without a crystal are common
        warnings.simplefilter("ignore", UserWarning)
        split = watershed_maps(
            smoothed,
            [f"VDF image {i}" for i in range(len(images))],
            options,
            show_progressbar=show_progress(show_progressbar),
            desc="VDF watershed",
        )
    for i, (labels, info) in enumerate(split):
        infos.append(info)
        if labels.max() == 0:
            n_empty += 1
        for j in range(1, int(labels.max()) + 1):
            mask = labels == j
            seg_images.append(np.where(mask, images[i], 0.0))
            seg_masks.append(mask)
            seg_vector.append(i)
    shape = images.shape[1:]
    n = len(seg_images)
    return {
        "images": np.array(seg_images) if n else np.zeros((0,) + shape),
        "masks": np.array(seg_masks) if n else np.zeros((0,) + shape, bool),
        "vector": np.array(seg_vector, dtype=np.int64),
        "watershed": infos,
        "n_empty": n_empty,
        "min_distance": options["min_distance"],
    }


# -------------------------------------------------------------- merging
def merge_vdf_segments(
    images,
    masks,
    vector,
    *,
    corr_threshold=DEFAULTS["corr_threshold"],
    vector_threshold=DEFAULTS["vector_threshold"],
    segment_threshold=DEFAULTS["segment_threshold"],
    linkage=DEFAULTS["linkage"],
    drop_composites=True,
):
    """Merge the VDF segments that show the same crystal.

    Segments whose normalised cross-correlation exceeds ``corr_threshold``
    are linked; groups are formed by complete linkage (every pair in a group
    linked; the default) or single linkage (connected components), both
    independent of the order of the segments (pyxem's
    ``VDFSegment.correlate_vdf_segments`` takes the first remaining segment
    and everything correlated with it, so its groups depend on the order). A
    group is kept if it has at least ``vector_threshold`` members (a crystal
    shows at least that many diffraction vectors); the merged segment is the
    sum of the members' images, kept where at least ``segment_threshold``
    members are non-zero.

    Reflections shared by two neighbouring crystals (common in twinned or
    similarly oriented grains) give VDF images that show both crystals; their
    segments correlate with each other and form a group whose merged segment
    is the union of the two crystals. With ``drop_composites=True`` a merged
    segment that at least two smaller merged segments lie mostly (80 %)
    within and together, but not alone, cover (80 %) is dropped, and its
    vectors are added to those segments (``shared_vectors``). Groups whose
    merged masks overlap with IoU >= 0.8 are one crystal whose segments the
    linkage split: they are joined before.

    Parameters
    ----------
    images : array-like (n, rows, columns)
        VDF intensity inside each segment (from :func:`vdf_segments`).
    masks : array-like of bool (n, rows, columns)
    vector : array-like of int (n,)
        Vector index of each segment.
    corr_threshold : float in [-1, 1], default 0.7
    vector_threshold : int >= 1, default 5
    segment_threshold : int >= 1, default 3
        Must not exceed ``vector_threshold``.
    linkage : {'complete', 'single'}, default 'complete'
    drop_composites : bool, default True

    Returns
    -------
    dict
        ``groups``: member segment indices of each kept group; ``vectors``:
        the (sorted, distinct) vector indices of each group, shared vectors
        included; ``shared_vectors``: those that came from composites;
        ``maps`` (m, rows, columns) and ``masks`` (m, rows, columns) of the
        merged segments; ``ncc`` (n, n); ``n_small_groups``: groups dropped
        by ``vector_threshold``; ``composites``: the dropped composite
        groups.
    """
    images = np.asarray(images, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    vector = np.asarray(vector, dtype=np.int64)
    corr_threshold = check_correlation(corr_threshold, "corr_threshold")
    vector_threshold = check_int(vector_threshold, "vector_threshold", 1)
    segment_threshold = check_int(segment_threshold, "segment_threshold", 1)
    if segment_threshold > vector_threshold:
        raise ValueError(
            f"`segment_threshold` ({segment_threshold}) must not exceed "
            f"`vector_threshold` ({vector_threshold}): a merged segment keeps "
            "the positions covered by at least `segment_threshold` of its "
            "members, and a group has at least `vector_threshold` members."
        )
    if linkage not in LINKAGES:
        raise ValueError(f"`linkage` must be one of {LINKAGES}, got {linkage!r}.")
    n = len(images)
    if not (len(masks) == len(vector) == n):
        raise ValueError(
            f"`images` ({n}), `masks` ({len(masks)}) and `vector` ({len(vector)}) "
            "must have one entry per segment."
        )
    shape = images.shape[1:]
    if not isinstance(drop_composites, bool):
        raise ValueError(
            f"`drop_composites` must be True or False, got {drop_composites!r}."
        )
    empty = {
        "groups": [],
        "vectors": [],
        "shared_vectors": [],
        "maps": np.zeros((0,) + shape),
        "masks": np.zeros((0,) + shape, bool),
        "ncc": np.zeros((n, n)),
        "n_small_groups": 0,
        "composites": [],
    }
    if n == 0:
        return empty
    ncc = sparse_correlation_matrix(images)
    with np.errstate(invalid="ignore"):
        linked = ncc > corr_threshold
    # two segments of one VDF image are never the same crystal
    linked &= vector[:, None] != vector[None, :]
    total = images.reshape(n, -1).sum(axis=1)
    groups = group_pairs(linked, linkage, score=ncc, order_key=total)
    big = [np.asarray(g) for g in groups if len(g) >= vector_threshold]
    n_small = len(groups) - len(big)
    # groups with (nearly) the same mask are one crystal whose segments complete
    # linkage split: merge them (connected components of IoU >= 0.8)
    big = _merge_duplicates(big, masks, segment_threshold)

    kept, maps, merged_masks, vectors = [], [], [], []
    for g in big:
        g = g[np.argsort(-total[g], kind="stable")]
        mask = masks[g].sum(axis=0) >= segment_threshold
        if not mask.any():
            n_small += 1
            continue
        maps.append(np.where(mask, images[g].sum(axis=0), 0.0))
        merged_masks.append(mask)
        kept.append(sorted(int(i) for i in g))
        vectors.append(sorted({int(vector[i]) for i in g}))
    if not kept:
        empty.update(ncc=ncc, n_small_groups=n_small)
        return empty
    merged_masks = np.array(merged_masks)
    composites, shared = [], [[] for _ in kept]
    if drop_composites:
        composites, shared = _composites(merged_masks)
    keep = [i for i in range(len(kept)) if i not in composites]
    for i in keep:  # reflections of a composite belong to the crystals it covers
        shared[i] = sorted({v for c in shared[i] for v in vectors[c]} - set(vectors[i]))
    return {
        "groups": [kept[i] for i in keep],
        "vectors": [sorted(set(vectors[i]) | set(shared[i])) for i in keep],
        "shared_vectors": [shared[i] for i in keep],
        "maps": np.array(maps)[keep],
        "masks": merged_masks[keep],
        "ncc": ncc,
        "n_small_groups": n_small,
        "composites": [
            {"vdf_segments": kept[c], "vectors": vectors[c]} for c in composites
        ],
    }


def _merge_duplicates(groups, masks, segment_threshold, min_iou=0.8):
    """Join groups whose merged masks overlap with IoU >= ``min_iou``."""
    if len(groups) < 2:
        return groups
    from hyperspy_rnmf.segmentation.compare import iou_matrix

    merged = np.array([masks[g].sum(axis=0) >= segment_threshold for g in groups])
    linked = iou_matrix(merged, merged) >= min_iou
    out = []
    for members in group_pairs(linked, "single"):
        out.append(np.sort(np.concatenate([groups[i] for i in members])))
    return out


def _composites(masks, inside=0.8, covered=0.8):
    """Merged segments that are the union of at least two others.

    Segment i is a composite when at least two smaller segments lie mostly
    (``inside``) within it, together cover ``covered`` of it, and none of
    them alone does: the VDF images of reflections that two neighbouring
    crystals share. Decided for all segments at once (no order). Returns the
    composite indices and, per segment, the composites it belongs to.
    """
    m = masks.reshape(len(masks), -1).astype(np.float64)
    area = m.sum(axis=1)
    overlap = m @ m.T
    # part_of[i, j]: j is smaller than i and mostly inside it
    part_of = (overlap >= inside * area[None, :]) & (area[None, :] < area[:, None])
    composites = []
    for i in range(len(masks)):
        parts = np.flatnonzero(part_of[i])
        if len(parts) < 2 or (overlap[i, parts] >= covered * area[i]).any():
            continue
        union = m[parts].max(axis=0)
        if (union * m[i]).sum() >= covered * area[i]:
            composites.append(i)
    shared = [[] for _ in range(len(masks))]
    for c in composites:
        for j in np.flatnonzero(part_of[c]):
            if j not in composites:
                shared[j].append(c)
    return composites, shared


# ----------------------------------------------------- virtual patterns
def virtual_patterns(vector_pixels, intensities, shape, sigma_px):
    """Virtual diffraction patterns: Gaussian spots (width ``sigma_px``) at
    the vectors of each crystal, each spot's integral its intensity.

    Parameters
    ----------
    vector_pixels : list of (n_i, 2) arrays, (row, column) pixels
    intensities : list of (n_i,) arrays
    shape : (ky, kx)
    sigma_px : float

    Returns
    -------
    numpy.ndarray (m, ky, kx)
    """
    return np.array(
        [
            _vdf.gaussian_spots(shape, p, np.clip(v, 0, None), sigma_px)
            for p, v in zip(vector_pixels, intensities, strict=True)
        ]
    ).reshape((len(vector_pixels),) + tuple(shape))

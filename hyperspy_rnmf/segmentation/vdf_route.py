"""Nanocrystal segmentation from virtual dark-field images (the "VDF route").

The second route of Bergh et al. (J. Microsc. 279 (2020) 158-167) needs no
factorization: find the Bragg peaks of every pattern, cluster their positions
into unique diffraction vectors, form a virtual dark-field (VDF) image for
each vector, split every VDF image by watershed, and merge the VDF segments
that show the same crystal. Each crystal then has a set of diffraction
vectors with intensities, from which a virtual diffraction pattern is drawn.

Every step is a function of its own, returning HyperSpy signals or arrays
with their calibration:

1. :func:`estimate_vdf_parameters`: spot size, direct beam and the defaults
   derived from them, from the mean pattern (one pass);
2. :func:`subtract_background`: difference of Gaussians per pattern;
3. :func:`find_diffraction_peaks`: Bragg peaks of every pattern (one pass,
   lazy-capable, progress bar), above a noise level measured on the data;
4. :func:`unique_vectors`: DBSCAN of all peak positions, direct beam removed;
5. :func:`vdf_images`: the VDF images of all vectors in ONE pass over the
   data (one sparse aperture matrix applied to every pattern);
6. :func:`vdf_segments`: watershed splitting of each VDF image;
7. :func:`merge_vdf_segments`: order-independent correlation merging with the
   three thresholds of the paper;
8. :func:`virtual_patterns`: Gaussian spots at the vectors of each crystal;

and :func:`segment_vdf` runs them all and returns a
:class:`~hyperspy_rnmf.segmentation.SegmentationResult`.

Distances in reciprocal space (spot size, DBSCAN radius, aperture radius,
minimum vector length) are in the calibrated units of the signal axes; their
defaults are derived from the data and reported in the parameters.
"""

import warnings

import numpy as np

from hyperspy_rnmf.segmentation._common import (
    axes_of,
    check_correlation,
    check_int,
    check_scan_signal,
    show_progress,
)
from hyperspy_rnmf.segmentation._correlation import (
    LINKAGES,
    group_pairs,
    sparse_correlation_matrix,
)
from hyperspy_rnmf.segmentation._result import build_result, segment_order
from hyperspy_rnmf.segmentation._vdf_peaks import (
    DEFAULTS,
    DiffractionPeaks,
    UniqueVectors,
    _Calibration,
    _estimate,
    check_aperture_radius,
    estimate_vdf_parameters,
    find_diffraction_peaks,
    subtract_background,
    unique_vectors,
)
from hyperspy_rnmf.segmentation._vdf_segments import (
    merge_vdf_segments,
    vdf_images,
    vdf_segments,
    virtual_patterns,
)
from hyperspy_rnmf.segmentation._watershed import check_watershed_parameters
from hyperspy_rnmf.segmentation.nmf_route import mean_patterns_in


# ------------------------------------------------------------ the route
def segment_vdf(
    signal,
    *,
    spot_sigma=None,
    background_sigma=None,
    n_sigma=DEFAULTS["n_sigma"],
    eps=None,
    min_samples=None,
    min_magnitude=None,
    radius=None,
    background=True,
    median_size=DEFAULTS["median_size"],
    threshold=DEFAULTS["threshold"],
    min_distance=None,
    min_depth=DEFAULTS["min_depth"],
    boundary=DEFAULTS["boundary"],
    min_size=DEFAULTS["min_size"],
    max_size=None,
    min_intensity=DEFAULTS["min_intensity"],
    exclude_border=DEFAULTS["exclude_border"],
    corr_threshold=DEFAULTS["corr_threshold"],
    vector_threshold=DEFAULTS["vector_threshold"],
    segment_threshold=DEFAULTS["segment_threshold"],
    linkage=DEFAULTS["linkage"],
    drop_composites=True,
    mean_patterns=True,
    show_progressbar=None,
):
    """Nanocrystal segmentation from virtual dark-field images (VDF route).

    Runs :func:`estimate_vdf_parameters`, :func:`find_diffraction_peaks`,
    :func:`unique_vectors`, :func:`vdf_images`, :func:`vdf_segments`,
    :func:`merge_vdf_segments` and :func:`virtual_patterns`; every parameter
    is the one of that step. Reciprocal-space lengths (``spot_sigma``,
    ``background_sigma``, ``eps``, ``min_magnitude``, ``radius``) are in the
    calibrated units of the signal axes and derived from the data when None;
    ``min_distance`` is in calibrated scan units.

    Returns
    -------
    SegmentationResult
        ``patterns``: virtual diffraction patterns; ``mean_patterns``: mean
        measured pattern per segment; ``merge_record``: ``vectors`` (all
        unique vectors, calibrated (kx, ky)), ``vector_counts``,
        ``segment_vectors`` (vector indices of each segment),
        ``vector_intensities`` (per segment, the VDF intensity of each of its
        vectors inside the segment), ``vdf_segments`` (the VDF segment
        indices merged into each segment), ``vdf_segment_vector`` (vector of
        every VDF segment), ``n_vdf_segments``, ``n_small_groups``.
        ``parameters``: every parameter with its derived value (pixels and
        calibrated).

    Raises
    ------
    ValueError
        When a step finds nothing (no peak, no vector): the message names the
        parameters to change.

    Warns
    -----
    UserWarning
        When no VDF image gives a segment, or no group of segments is large
        enough (the message names the parameters to change).

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> s = hs.load("scan.zspy", lazy=True)  # doctest: +SKIP
    >>> result = segment_vdf(s)  # doctest: +SKIP
    >>> result.parameters["spot_sigma"], result.parameters["units"]  # doctest: +SKIP
    (0.038, '1/A')
    >>> result.segment_vectors(0)  # doctest: +SKIP
    """
    check_scan_signal(signal)
    calibration = _Calibration(signal)
    show = show_progress(show_progressbar)
    if not isinstance(mean_patterns, bool):
        raise ValueError(
            f"`mean_patterns` must be True or False, got {mean_patterns!r}."
        )
    # validate everything that does not need the data first
    corr_threshold = check_correlation(corr_threshold, "corr_threshold")
    vector_threshold = check_int(vector_threshold, "vector_threshold", 1)
    segment_threshold = check_int(segment_threshold, "segment_threshold", 1)
    if segment_threshold > vector_threshold:
        raise ValueError(
            f"`segment_threshold` ({segment_threshold}) must not exceed "
            f"`vector_threshold` ({vector_threshold})."
        )
    if linkage not in LINKAGES:
        raise ValueError(f"`linkage` must be one of {LINKAGES}, got {linkage!r}.")
    for name, value in (
        ("spot_sigma", spot_sigma),
        ("background_sigma", background_sigma),
        ("eps", eps),
        ("min_magnitude", min_magnitude),
        ("radius", radius),
    ):
        if value is not None:
            calibration.length(value, name)
    if radius is not None:
        check_aperture_radius(calibration.length(radius, "radius"), calibration)

    min_size = check_int(min_size, "min_size", 1)
    threshold = check_watershed_parameters(  # normalised: 'Li' -> 'li'
        threshold=threshold,
        min_distance=min_distance or 0.0,
        min_depth=min_depth,
        boundary=boundary,
        min_size=min_size,
        max_size=max_size,
        min_intensity=min_intensity,
        exclude_border=exclude_border,
        sampling=None,
    )["threshold"]

    # the mean pattern and the noise sample of the peak search in one pass
    estimated, sample = _estimate(signal, show, with_sample=True)
    peaks = find_diffraction_peaks(
        signal,
        spot_sigma=spot_sigma,
        background_sigma=background_sigma,
        n_sigma=n_sigma,
        show_progressbar=show,
        _estimated=estimated,
        _sample=sample,
    )
    vectors = unique_vectors(
        peaks,
        eps=eps,
        min_samples=min_samples,
        min_magnitude=min_magnitude,
        min_size=min_size,
    )
    vectors.parameters["spot_sigma_px"] = peaks.parameters["spot_sigma_px"]
    vdfs = vdf_images(
        signal, vectors, radius=radius, background=background, show_progressbar=show
    )
    segs = vdf_segments(
        vdfs,
        median_size=median_size,
        threshold=threshold,
        min_distance=min_distance,
        min_depth=min_depth,
        boundary=boundary,
        min_size=min_size,
        max_size=max_size,
        min_intensity=min_intensity,
        exclude_border=exclude_border,
        show_progressbar=show,
    )
    if len(segs["images"]) == 0:
        warnings.warn(
            f"No VDF image of the {len(vectors)} vectors gives a segment: lower "
            f"`min_size` (now {min_size}) or `min_intensity` (now {min_intensity}), "
            f"or use a lower `threshold` (now {threshold!r}).",
            UserWarning,
            stacklevel=2,
        )
    merged = merge_vdf_segments(
        segs["images"],
        segs["masks"],
        segs["vector"],
        corr_threshold=corr_threshold,
        vector_threshold=vector_threshold,
        segment_threshold=segment_threshold,
        linkage=linkage,
        drop_composites=drop_composites,
    )
    if len(segs["images"]) and not merged["groups"]:
        n_patterns = max(signal.axes_manager.navigation_size, 1)
        warnings.warn(
            f"No group of at least `vector_threshold` = {vector_threshold} VDF "
            f"segments correlated above `corr_threshold` = {corr_threshold} "
            f"({len(segs['images'])} VDF segments, largest group "
            f"{_largest_group(segs, corr_threshold, linkage)}): lower "
            "`vector_threshold` or `corr_threshold`; or, if most of the "
            f"{len(peaks)} peaks ({len(peaks) / n_patterns:.1f} per "
            "pattern) are noise (low counts), raise `n_sigma` (now "
            f"{peaks.parameters['n_sigma']:g}).",
            UserWarning,
            stacklevel=2,
        )

    # intensities of every vector of a segment: its VDF inside the segment
    vdf_data = np.asarray(vdfs.data, dtype=np.float64)
    maps, masks = merged["maps"], merged["masks"]
    order = segment_order(maps, masks)
    maps, masks = maps[order], masks[order]
    groups = [merged["groups"][i] for i in order]
    seg_vectors = [merged["vectors"][i] for i in order]
    intensities = [
        [float(vdf_data[v][m].sum()) for v in vs]
        for vs, m in zip(seg_vectors, masks, strict=True)
    ]
    spot_px = peaks.parameters["spot_sigma_px"]
    patterns = virtual_patterns(
        [vectors.pixels[vs] for vs in seg_vectors],
        [
            np.asarray(i) / max(1, int(m.sum()))
            for i, m in zip(intensities, masks, strict=True)
        ],
        calibration.shape,
        spot_px,
    )
    mean = None
    if mean_patterns:
        mean = mean_patterns_in(signal, masks, show_progressbar=show)

    vdf_meta = vdfs.metadata.VDF.as_dictionary()
    parameters = {
        "spot_sigma": peaks.parameters["spot_sigma"],
        "spot_sigma_px": spot_px,
        "background_sigma": peaks.parameters["background_sigma"],
        "background_sigma_px": peaks.parameters["background_sigma_px"],
        "n_sigma": peaks.parameters["n_sigma"],
        "noise_median": peaks.parameters["noise_median"],
        "noise_gain": peaks.parameters["noise_gain"],
        "noise_additive": peaks.parameters["noise_additive"],
        "hot_pixels_left_out": peaks.parameters["hot_pixels_left_out"],
        "eps": vectors.parameters["eps"],
        "eps_px": vectors.parameters["eps_px"],
        "min_samples": vectors.parameters["min_samples"],
        "min_magnitude": vectors.parameters["min_magnitude"],
        "min_magnitude_px": vectors.parameters["min_magnitude_px"],
        "beam_centre": list(estimated["beam_centre"]),
        "radius": vdf_meta["radius"],
        "radius_px": vdf_meta["radius_px"],
        "background": bool(background),
        "median_size": median_size,
        "threshold": threshold,
        "min_distance": segs["min_distance"],
        "min_depth": float(min_depth),
        "boundary": None if boundary is None else float(boundary),
        "min_size": min_size,
        "max_size": max_size,
        "min_intensity": float(min_intensity),
        "exclude_border": int(exclude_border),
        "corr_threshold": corr_threshold,
        "vector_threshold": vector_threshold,
        "segment_threshold": segment_threshold,
        "linkage": linkage,
        "drop_composites": drop_composites,
        "units": peaks.parameters["units"],
        "spot_size_note": estimated["note"],
        "defaults_from_data": [
            name
            for name, value in (
                ("spot_sigma", spot_sigma),
                ("background_sigma", background_sigma),
                ("eps", eps),
                ("min_samples", min_samples),
                ("min_magnitude", min_magnitude),
                ("radius", radius),
                ("min_distance", min_distance),
            )
            if value is None
        ],
    }
    record = {
        "vectors": vectors.vectors.tolist(),
        "vector_counts": vectors.counts.tolist(),
        "n_peaks": len(peaks),
        "segment_vectors": seg_vectors,
        "vector_intensities": intensities,
        "vdf_segments": groups,
        "vdf_segment_vector": segs["vector"].tolist(),
        "shared_vectors": [merged["shared_vectors"][i] for i in order],
        "composites": merged["composites"],
        "n_vdf_segments": int(len(segs["images"])),
        "n_small_groups": merged["n_small_groups"],
    }
    return build_result(
        maps=maps,
        masks=masks,
        patterns=patterns,
        mean_patterns=mean,
        scan_axes=axes_of(signal, "navigation"),
        pattern_axes=axes_of(signal, "signal"),
        merge_record=record,
        parameters=parameters,
        route="vdf",
    )


def _largest_group(segs, corr_threshold, linkage):
    n = len(segs["images"])
    ncc = sparse_correlation_matrix(segs["images"])
    with np.errstate(invalid="ignore"):
        linked = (ncc > corr_threshold) & (segs["vector"][:, None] != segs["vector"])
    return max(len(g) for g in group_pairs(linked, linkage, score=ncc)) if n else 0


__all__ = [
    "DiffractionPeaks",
    "UniqueVectors",
    "estimate_vdf_parameters",
    "find_diffraction_peaks",
    "merge_vdf_segments",
    "segment_vdf",
    "subtract_background",
    "unique_vectors",
    "vdf_images",
    "vdf_segments",
    "virtual_patterns",
]

"""Nanocrystal segmentation from a decomposition (the "NMF route").

Bergh et al. (J. Microsc. 279 (2020) 158-167) segment scanning precession
electron diffraction data of nanocrystals in three steps:

1. decompose the data (NMF) and discard components that are not crystals
   (background, carbon film);
2. merge the components whose factors AND loadings are correlated above two
   thresholds, because NMF splits one crystal into several components;
3. split every merged loading map by watershed segmentation, because crystals
   of the same orientation share one component.

Here step 2 does not depend on the order of the components: two components are
*linked* when both normalised cross-correlations exceed their thresholds, and
the merged groups are the connected components of that graph (single
linkage, the default) or groups in which every pair is linked (complete
linkage). pyxem's ``LearningSegment.correlate_learning_segments`` instead
merges, greedily, everything correlated with the first remaining component,
so its result changes when the components are reordered.

Merged factors are the intensity-weighted means of the member factors (each
factor normalised to sum 1 and weighted by the total counts of its component),
so they sum to 1 like RandomizedNMF's factors; merged loadings are the sums of
the members' loadings in counts (loading x factor sum). For RandomizedNMF
results (factors summing to 1) this is the plain sum of the loadings.
"""

import numpy as np
from scipy import ndimage as ndi

from hyperspy_rnmf._validation import check_pattern_mask, check_results_fit
from hyperspy_rnmf.segmentation._common import (
    axes_of,
    check_correlation,
    check_int,
    check_real,
    check_scan_signal,
    is_lazy,
    navigation_weighted_sums,
    plain_axes,
    show_progress,
)
from hyperspy_rnmf.segmentation._correlation import (
    LINKAGES,
    correlation_matrix,
    group_pairs,
)
from hyperspy_rnmf.segmentation._result import build_result, order_by_intensity
from hyperspy_rnmf.segmentation._watershed import (
    check_watershed_parameters,
    scan_options,
    watershed_maps,
)

#: Defaults of the NMF route (see the user guide for how they were chosen).
DEFAULTS = {
    "min_factor_correlation": 0.4,
    "min_loading_correlation": 0.3,
    "linkage": "single",
    "threshold": "li",
    "min_depth": 0.3,
    "boundary": 0.5,
    "min_size": 10,
    "min_intensity": 0.1,
    "min_dominance": 0.5,
    "exclude_border": 0,
}


# ------------------------------------------------------------------ inputs
def _as_array_stack(value, name, expected_ndim=None):
    from hyperspy.signal import BaseSignal

    if isinstance(value, BaseSignal):
        if value.axes_manager.navigation_dimension != 1:
            raise ValueError(
                f"`{name}` must have one navigation axis (the components), got "
                f"navigation shape {value.axes_manager.navigation_shape}."
            )
        data = np.asarray(value.data.compute() if is_lazy(value) else value.data)
        return data, value.axes_manager.signal_axes
    data = np.asarray(value)
    if data.ndim < 2:
        raise ValueError(
            f"`{name}` (shape {data.shape}) must be (n_components, ...) with at "
            "least 2 dimensions."
        )
    return data, None


def decomposition_components(signal=None, *, factors=None, loadings=None):
    """Factors and loadings as arrays, with the axes that calibrate them.

    Parameters
    ----------
    signal : hyperspy signal, optional
        A signal with decomposition results (``s.decomposition(...)``), or
        the data the ``factors`` and ``loadings`` belong to.
    factors, loadings : hyperspy signal or array-like, optional
        Given directly, e.g. ``s.get_decomposition_factors()`` and
        ``s.get_decomposition_loadings()``, or arrays of shape
        (n_components, *pattern shape) and (n_components, rows, columns).

    Returns
    -------
    factors : numpy.ndarray, shape (k, *pattern shape)
    loadings : numpy.ndarray, shape (k, rows, columns)
    pattern_axes, scan_axes : HyperSpy axes (HyperSpy order)
    """
    if (factors is None) != (loadings is None):
        raise ValueError("Give both `factors` and `loadings`, or neither.")
    if factors is None:
        if signal is None:
            raise ValueError(
                "Give a `signal` with decomposition results, or `factors` and "
                "`loadings`."
            )
        check_scan_signal(signal)
        lr = signal.learning_results
        if lr.factors is None or lr.loadings is None:
            raise ValueError(
                "`signal` has no decomposition results: run "
                "s.decomposition('rnmf', output_dimension=k) (or any "
                "decomposition) first, or pass `factors` and `loadings`."
            )
        f = np.asarray(lr.factors)
        ld = np.asarray(lr.loadings)
        check_results_fit(signal, ld, f)
        k = f.shape[1]
        if lr.output_dimension is not None:
            k = min(k, int(lr.output_dimension))
        sig_shape = signal.data.shape[2:]
        nav_shape = signal.data.shape[:2]
        f = f[:, :k].T.reshape((k,) + tuple(sig_shape))
        ld = ld[:, :k].T.reshape((k,) + tuple(nav_shape))
        return (f, ld, axes_of(signal, "signal"), axes_of(signal, "navigation"))

    f, f_axes = _as_array_stack(factors, "factors")
    ld, l_axes = _as_array_stack(loadings, "loadings")
    if len(f) != len(ld):
        raise ValueError(
            f"`factors` ({len(f)} components) and `loadings` ({len(ld)} "
            "components) must have the same number of components."
        )
    if ld.ndim != 3:
        raise ValueError(
            f"`loadings` (shape {ld.shape}) must be (n_components, rows, "
            "columns): one map of the 2D scan per component."
        )
    if signal is not None:
        check_scan_signal(signal)
        if tuple(ld.shape[1:]) != tuple(signal.data.shape[:2]):
            raise ValueError(
                f"`loadings` maps (shape {ld.shape[1:]}) must have the shape of "
                f"the scan of `signal` (shape {signal.data.shape[:2]})."
            )
        if tuple(f.shape[1:]) != tuple(signal.data.shape[2:]):
            raise ValueError(
                f"`factors` patterns (shape {f.shape[1:]}) must have the shape "
                f"of the patterns of `signal` (shape {signal.data.shape[2:]})."
            )
        f_axes = f_axes or axes_of(signal, "signal")
        l_axes = l_axes or axes_of(signal, "navigation")
    f_axes = f_axes if f_axes is not None else plain_axes(f.shape[1:])
    l_axes = l_axes if l_axes is not None else plain_axes(ld.shape[1:])
    return f, ld, f_axes, l_axes


def _check_exclude(exclude, k):
    if exclude is None:
        return []
    values = np.atleast_1d(np.asarray(exclude))
    if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"`exclude` must be component indices (integers), got {exclude!r}."
        )
    bad = [int(v) for v in values if not -k <= v < k]
    if bad:
        raise ValueError(
            f"`exclude` contains {bad}, outside the {k} components (0..{k - 1}, "
            f"or -{k}..-1 counted from the last)."
        )
    return sorted({int(v) % k for v in values})


def _check_signal_mask(signal_mask, shape):
    if signal_mask is None:
        return None
    mask = check_pattern_mask(
        signal_mask,
        "signal_mask",
        shape,
        "True = pixel left out of the factor correlations",
    )
    if mask.all():
        raise ValueError(
            "`signal_mask` leaves out every pixel: the factor correlations "
            "need some (True = left out)."
        )
    return mask


# ---------------------------------------------------------- correlations
def _masked_factors(factors, signal_mask):
    f = np.asarray(factors, dtype=np.float64)
    if signal_mask is not None:
        f = np.where(signal_mask, np.nan, f)
    return f


def component_correlations(
    signal=None, *, factors=None, loadings=None, signal_mask=None
):
    """Normalised cross-correlation matrices of factors and of loadings.

    Parameters
    ----------
    signal, factors, loadings
        As in :func:`segment_decomposition`.
    signal_mask : array-like of bool or signal, optional
        Pattern pixels to leave out of the factor correlations (True =
        left out), e.g. the direct beam. NaN pixels of the factors (masked
        in the decomposition) are always left out.

    Returns
    -------
    factor_ncc, loading_ncc : hyperspy.api.signals.Signal2D
        k x k matrices (both axes: component index); NaN where undefined
        (a constant map or factor).

    Examples
    --------
    >>> import numpy as np
    >>> f = np.random.default_rng(0).random((3, 8, 8))
    >>> fac, load = component_correlations(factors=f, loadings=f)
    >>> fac.data.shape
    (3, 3)
    """
    f, ld, _, _ = decomposition_components(signal, factors=factors, loadings=loadings)
    mask = _check_signal_mask(signal_mask, f.shape[1:])
    import hyperspy.api as hs

    out = []
    for matrix, what in (
        (correlation_matrix(_masked_factors(f, mask)), "factors"),
        (correlation_matrix(ld), "loadings"),
    ):
        s = hs.signals.Signal2D(matrix)
        for axis in s.axes_manager.signal_axes:
            axis.name = "component index"
        s.metadata.General.title = f"normalised cross-correlation of {what}"
        out.append(s)
    return tuple(out)


# ----------------------------------------------------------------- merging
def merge_components(
    factors,
    loadings,
    *,
    min_factor_correlation=None,
    min_loading_correlation=None,
    linkage=None,
    exclude=None,
    signal_mask=None,
):
    """Merge components whose factors AND loadings are correlated.

    Parameters
    ----------
    factors : array-like, shape (k, *pattern shape)
        May contain NaN (masked pixels).
    loadings : array-like, shape (k, rows, columns)
    min_factor_correlation, min_loading_correlation : float in [-1, 1]
        Two components are linked when the normalised cross-correlation of
        their factors exceeds ``min_factor_correlation`` and that of their
        loadings exceeds ``min_loading_correlation``.
    linkage : {'single', 'complete'}, default 'single'
        'single': groups are the connected components of the graph of linked
        pairs; 'complete': every pair in a group must be linked. Both are
        independent of the order of the components.
    exclude : sequence of int, optional
        Components left out (background, carbon film, ...).
    signal_mask : array-like of bool, optional
        Pattern pixels left out of the factor correlations.

    Returns
    -------
    merged_factors : numpy.ndarray (m, *pattern shape), each summing to 1
    merged_loadings : numpy.ndarray (m, rows, columns), in counts
    groups : list of list of int
        The original indices of the components of each merged component.
    factor_ncc, loading_ncc : numpy.ndarray (k, k)
        Normalised cross-correlations; NaN in the rows and columns of
        excluded components.
    """
    f = np.asarray(factors)
    ld = np.asarray(loadings)
    if len(f) != len(ld):
        raise ValueError(
            f"`factors` ({len(f)}) and `loadings` ({len(ld)}) must have the same "
            "number of components."
        )
    k = len(f)
    tf = check_correlation(
        DEFAULTS["min_factor_correlation"]
        if min_factor_correlation is None
        else min_factor_correlation,
        "min_factor_correlation",
    )
    tl = check_correlation(
        DEFAULTS["min_loading_correlation"]
        if min_loading_correlation is None
        else min_loading_correlation,
        "min_loading_correlation",
    )
    linkage = DEFAULTS["linkage"] if linkage is None else linkage
    if linkage not in LINKAGES:
        raise ValueError(f"`linkage` must be one of {LINKAGES}, got {linkage!r}.")
    excluded = _check_exclude(exclude, k)
    if len(excluded) == k:
        raise ValueError(
            f"`exclude` ({exclude!r}) leaves none of the {k} components to segment."
        )
    mask = _check_signal_mask(signal_mask, f.shape[1:])

    kept = np.array([i for i in range(k) if i not in excluded], dtype=int)
    # correlations of the kept components only; excluded rows/columns are NaN
    f_ncc = np.full((k, k), np.nan)
    l_ncc = np.full((k, k), np.nan)
    kk = np.ix_(kept, kept)
    f_kept = np.asarray(f[kept], dtype=np.float64)
    if len(kept):
        f_ncc[kk] = correlation_matrix(_masked_factors(f_kept, mask))
        l_ncc[kk] = correlation_matrix(ld[kept])

    fsum = np.nansum(f_kept.reshape(len(kept), -1), axis=1)
    bad = [int(i) for i, v in zip(kept, fsum, strict=True) if not v > 0]
    if bad:
        raise ValueError(
            f"Factors {bad} do not have a positive sum: merging needs a "
            "non-negative decomposition (NMF, rnmf); exclude them or use NMF."
        )
    # loadings in counts (loading x factor sum) and each component's total
    counts = np.asarray(ld[kept], dtype=np.float64) * fsum.reshape(-1, 1, 1)
    weight = np.nansum(counts.reshape(len(kept), -1), axis=1)

    with np.errstate(invalid="ignore"):
        linked = (f_ncc[kk] > tf) & (l_ncc[kk] > tl)
        score = np.fmin(f_ncc[kk] - tf, l_ncc[kk] - tl)
    groups_local = group_pairs(linked, linkage, score=score, order_key=weight)

    n_groups = len(groups_local)
    merged_f = np.zeros((n_groups,) + f.shape[1:])
    merged_l = np.zeros((n_groups,) + ld.shape[1:])
    groups = []
    for m, g in enumerate(groups_local):
        # canonical order inside a group: the sums do not depend on input order
        g = np.asarray(g)[np.argsort(-weight[g], kind="stable")]
        w = np.clip(weight[g], 0, None)
        total = w.sum()
        wn = w / total if total > 0 else np.full(len(w), 1.0 / len(w))
        for j, wj in zip(g, wn, strict=True):
            merged_f[m] += (wj / fsum[j]) * f_kept[j]
            merged_l[m] += counts[j]
        groups.append(sorted(int(kept[j]) for j in g))
    return merged_f, merged_l, groups, f_ncc, l_ncc


# -------------------------------------------------------------- the route
def segment_decomposition(
    signal=None,
    *,
    factors=None,
    loadings=None,
    exclude=None,
    signal_mask=None,
    min_factor_correlation=DEFAULTS["min_factor_correlation"],
    min_loading_correlation=DEFAULTS["min_loading_correlation"],
    linkage=DEFAULTS["linkage"],
    threshold=DEFAULTS["threshold"],
    min_distance=None,
    min_depth=DEFAULTS["min_depth"],
    boundary=DEFAULTS["boundary"],
    min_size=DEFAULTS["min_size"],
    max_size=None,
    min_intensity=DEFAULTS["min_intensity"],
    min_dominance=DEFAULTS["min_dominance"],
    exclude_border=DEFAULTS["exclude_border"],
    mean_patterns=True,
    show_progressbar=None,
):
    """Nanocrystal segmentation from decomposition results (NMF route).

    Merges components whose factors and loadings are correlated (independent
    of the component order), then splits each merged loading map into
    crystals by watershed segmentation.

    Parameters
    ----------
    signal : hyperspy signal, optional
        The 4D-STEM data (2D scan), with decomposition results unless
        ``factors`` and ``loadings`` are given. Needed for the mean measured
        patterns and for calibration. Never modified.
    factors, loadings : hyperspy signal or array-like, optional
        Components given directly (e.g. ``s.get_decomposition_factors()``,
        ``s.get_decomposition_loadings()`` or arrays (k, ky, kx) and
        (k, rows, columns)).
    exclude : sequence of int, optional
        Components to leave out (background, carbon film, amorphous ...),
        by index in the decomposition (negative: counted from the last;
        recorded as the non-negative index).
    signal_mask : array-like of bool or signal, optional
        Pattern pixels left out of the factor correlations (True = left
        out), e.g. ``s.get_direct_beam_mask(radius)`` from pyxem (square
        patterns; for others see the user guide on masks): the direct
        beam is in every crystal's factor and correlates unrelated crystals.
        Pixels that are NaN in the factors are always left out.
    min_factor_correlation : float in [-1, 1] or None, default 0.4
    min_loading_correlation : float in [-1, 1] or None, default 0.3
        Components are merged when both correlations exceed these.
    linkage : {'single', 'complete'}, default 'single'
        How linked pairs form groups (see :func:`merge_components`).
    threshold : {'li', 'otsu'} or float, default 'li'
        Foreground of each merged loading map: Otsu's or Li's threshold, or
        a fraction in (0, 1) of the map's maximum.
    min_distance : float, optional
        Watershed markers closer than this (calibrated scan units) are
        merged; default: the diameter of a disc of ``min_size`` probe
        positions.
    min_depth : float in [0, 1), default 0.3
        Relative depth of the distance-transform neck that separates two
        crystals (see :func:`watershed_segments`).
    boundary : float in [0, 1) or None, default 0.5
        Each segment is trimmed to its pixels above this fraction of its own
        top value (its half-maximum contour by default); None keeps the
        watershed regions.
    min_size, max_size : int
        Segment size limits in probe positions (``max_size=None``: none).
    min_intensity : float in [0, 1], default 0.1
        Segments whose maximum is below this fraction of their map's maximum
        are discarded.
    min_dominance : float in [0, 1], default 0.5
        A segment is kept only if its merged component contributes more
        counts than any other merged (not excluded) component in at least
        this fraction of its positions. This drops the faint copy of a
        crystal that a similar component shows in its map (0 keeps all).
    exclude_border : int, default 0
        Segments whose centre of mass is within this many probe positions of
        the edge of the scan are discarded.
    mean_patterns : bool, default True
        Also compute the mean measured pattern inside each segment (one pass
        over the data; needs ``signal``).
    show_progressbar : bool or None
        None follows ``hs.preferences.General.show_progressbar``.

    Returns
    -------
    SegmentationResult
        ``merge_record``: ``n_components``, ``excluded``, ``groups`` (the
        component indices of each merged component), ``segment_group`` and
        ``segment_components`` (per segment), ``watershed`` (per merged map:
        the threshold, the map's maximum, the number of markers and how many
        segments were discarded as small, large, weak, border or dominated).

    Warns
    -----
    UserWarning
        For every merged map with no pixel above the threshold (it gives no
        segment).

    Examples
    --------
    >>> from hyperspy_rnmf.datasets import synthetic_4dstem
    >>> s, _ = synthetic_4dstem(3, (24, 20), (16, 16), random_state=0)
    >>> s.decomposition("rnmf", output_dimension=3, random_state=0, print_info=False)
    >>> result = segment_decomposition(s)
    >>> result.maps.axes_manager.signal_shape
    (24, 20)
    """
    show = show_progress(show_progressbar)
    f, ld, pattern_axes, scan_axes = decomposition_components(
        signal, factors=factors, loadings=loadings
    )
    k = len(f)
    if k == 0:
        raise ValueError("There are no components to segment (0 factors).")
    min_size = check_int(min_size, "min_size", 1)
    min_dominance = check_real(min_dominance, "min_dominance", 0, 1)
    if not isinstance(mean_patterns, bool):
        raise ValueError(
            f"`mean_patterns` must be True or False, got {mean_patterns!r}."
        )
    if mean_patterns and signal is None:
        mean_patterns = False
    # None means the default, as in merge_components; checked before any work
    min_factor_correlation, min_loading_correlation = (
        check_correlation(DEFAULTS[name] if value is None else value, name)
        for name, value in (
            ("min_factor_correlation", min_factor_correlation),
            ("min_loading_correlation", min_loading_correlation),
        )
    )
    # every watershed parameter validated (and normalised) before any work
    watershed_options = check_watershed_parameters(
        **scan_options(
            scan_axes,
            min_size=min_size,
            min_distance=min_distance,
            threshold=threshold,
            min_depth=min_depth,
            boundary=boundary,
            max_size=max_size,
            min_intensity=min_intensity,
            exclude_border=exclude_border,
        )
    )
    min_distance = watershed_options["min_distance"]

    merged_f, merged_l, groups, _, _ = merge_components(
        f,
        ld,
        min_factor_correlation=min_factor_correlation,
        min_loading_correlation=min_loading_correlation,
        linkage=linkage,
        exclude=exclude,
        signal_mask=signal_mask,
    )

    # which merged component contributes the most counts at each position
    strongest = (
        np.argmax(np.where(np.isnan(merged_l), -np.inf, merged_l), axis=0)
        if len(groups)
        else None
    )
    # segments as (group, bounding box, pixels inside the box)
    segments, infos = [], []
    split = watershed_maps(
        merged_l,
        [f"merged component {g} (components {grp})" for g, grp in enumerate(groups)],
        watershed_options,
        show_progressbar=show,
    )
    for g, (labels, info) in enumerate(split):
        info["discarded"]["dominated"] = 0
        for j, box in enumerate(ndi.find_objects(labels), start=1):
            if box is None:
                continue
            local = labels[box] == j
            if np.mean(strongest[box][local] == g) < min_dominance:
                info["discarded"]["dominated"] += 1
                continue
            segments.append((g, box, local))
        infos.append(info)

    # canonical order, then one array of maps and one of masks in that order
    n = len(segments)
    total, centres = np.zeros(n), np.zeros((n, 2))
    for i, (g, box, local) in enumerate(segments):
        rows, cols = np.nonzero(local)
        total[i] = np.nansum(merged_l[g][box][rows, cols])
        centres[i] = [(rows + box[0].start).mean(), (cols + box[1].start).mean()]
    segments = [segments[i] for i in order_by_intensity(total, centres)]
    maps = np.zeros((n,) + ld.shape[1:])
    masks = np.zeros((n,) + ld.shape[1:], dtype=bool)
    for i, (g, box, local) in enumerate(segments):
        masks[i][box] = local
        maps[i][box] = np.where(local, merged_l[g][box], 0.0)
    seg_group = [g for g, _, _ in segments]
    patterns = merged_f[seg_group] if n else np.zeros((0,) + f.shape[1:])

    mean = None
    if mean_patterns:
        mean = mean_patterns_in(signal, masks, show_progressbar=show)

    parameters = {
        "exclude": _check_exclude(exclude, k),
        "signal_mask": None if signal_mask is None else "given",
        "min_factor_correlation": float(min_factor_correlation),
        "min_loading_correlation": float(min_loading_correlation),
        "linkage": DEFAULTS["linkage"] if linkage is None else linkage,
        "threshold": threshold,
        "min_distance": min_distance,
        "min_depth": float(min_depth),
        "boundary": None if boundary is None else float(boundary),
        "min_size": min_size,
        "max_size": max_size,
        "min_intensity": float(min_intensity),
        "min_dominance": min_dominance,
        "exclude_border": int(exclude_border),
        "scan_units": str(scan_axes[0].units),
    }
    record = {
        "n_components": k,
        "excluded": parameters["exclude"],
        "groups": groups,
        "segment_group": seg_group,
        "segment_components": [groups[g] for g in seg_group],
        "watershed": infos,
    }
    return build_result(
        maps=maps,
        masks=masks,
        patterns=patterns,
        mean_patterns=mean,
        scan_axes=scan_axes,
        pattern_axes=pattern_axes,
        merge_record=record,
        parameters=parameters,
        route="nmf",
    )


def mean_patterns_in(signal, masks, show_progressbar=False):
    """Mean measured pattern of ``signal`` inside each mask (one pass).

    Parameters
    ----------
    signal : hyperspy signal with a 2D scan (lazy or not)
    masks : array-like of bool, shape (n, rows, columns)

    Returns
    -------
    numpy.ndarray, shape (n, *pattern shape), float64
        NaN for an empty mask.
    """
    check_scan_signal(signal)
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[1:] != signal.data.shape[:2]:
        raise ValueError(
            f"`masks` (shape {masks.shape}) must be (n, *scan shape) with the "
            f"scan shape {signal.data.shape[:2]}."
        )
    if len(masks) == 0:
        return np.zeros((0,) + signal.data.shape[2:])
    sums = navigation_weighted_sums(signal, masks, show_progressbar)
    count = masks.reshape(len(masks), -1).sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / count.reshape((-1,) + (1,) * (sums.ndim - 1))


__all__ = [
    "component_correlations",
    "decomposition_components",
    "mean_patterns_in",
    "merge_components",
    "segment_decomposition",
]

"""Judging a finished decomposition: residual maps and overlap maps.

:func:`residual_maps` works on the results of any decomposition stored in
``signal.learning_results`` (``"rnmf"`` or HyperSpy's own algorithms, centred
or not, with masks): it reads the data once and returns

* r_real, the mean absolute residual over the pixels of each probe position,
  as a map with the navigation axes of the signal;
* r_reciprocal, the mean absolute residual over the probe positions at each
  pixel, with the signal axes of the signal (Werbrouck et al. 2025);
* a score of the spatial structure left in r_real: Moran's I (see
  :func:`hyperspy_rnmf._residuals.morans_i`), computed on r_real divided by the
  |residual| expected from Poisson noise around the model for count data
  (``noise="poisson"``), on r_real itself for ``noise="gaussian"``.

:func:`overlap_maps` thresholds the loadings, each normalised by its maximum,
and counts at each probe position how many components exceed the threshold,
and where each pair of components does (arXiv 2503.06699).
"""

import itertools
import numbers

import numpy as np

from hyperspy_rnmf._axes import copy_axes, map_signal
from hyperspy_rnmf._residuals import morans_i, noise_scaled
from hyperspy_rnmf._validation import check_results_fit, check_signal


def _component_index(components, k):
    """Indices of the requested components: None (all), an int n (the first
    n) or distinct integer indices."""
    if components is None:
        return np.arange(k)
    if isinstance(components, numbers.Integral) and not isinstance(components, bool):
        if not 1 <= components <= k:
            raise ValueError(f"`components` must be in [1, {k}], got {components!r}.")
        return np.arange(int(components))
    allowed = (
        f"`components` must be None, a number of components in [1, {k}] or "
        f"distinct indices in [0, {k - 1}]"
    )
    if isinstance(components, (str, bytes)) or not np.iterable(components):
        raise TypeError(f"{allowed}, got {components!r}.")
    items = list(components)
    if not all(
        isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in items
    ):
        raise TypeError(f"{allowed}, got {components!r}.")
    if not items or min(items) < 0 or max(items) >= k or len(set(items)) < len(items):
        raise ValueError(f"{allowed}, got {items!r}.")
    return np.asarray(items, dtype=int)


def _decomposition_model(signal, components):
    """Factors (n_sig, k) and loadings (n_nav, k) of the requested components."""
    check_signal(signal)
    lr = signal.learning_results
    if lr.factors is None or lr.loadings is None:
        raise ValueError(
            "The signal has no decomposition results: run s.decomposition(...) first."
        )
    factors = np.asarray(lr.factors)
    loadings = np.asarray(lr.loadings)
    if hasattr(factors, "compute"):
        factors, loadings = factors.compute(), loadings.compute()
    check_results_fit(signal, loadings, factors)
    index = _component_index(components, factors.shape[1])
    factors, loadings = factors[:, index], loadings[:, index]
    if lr.mean is not None:  # centred decompositions: the mean as one more component
        n_nav, n_sig = loadings.shape[0], factors.shape[0]
        mean = np.asarray(lr.mean, dtype=np.float64).ravel()
        if _mean_per_position(lr.centre, mean.size, n_nav, n_sig):
            loadings = np.column_stack([loadings, mean])
            factors = np.column_stack([factors, np.ones(n_sig)])
        else:
            loadings = np.column_stack([loadings, np.ones(n_nav)])
            factors = np.column_stack([factors, mean])
    return factors, loadings


def _mean_per_position(centre, size, n_nav, n_sig):
    """Whether HyperSpy's ``learning_results.mean`` holds one value per probe
    position (``centre="signal"``) or one per pixel (``"navigation"``, or
    ``"samples"``: the ``mean_`` of a scikit-learn estimator)."""
    per_position = {"signal": True, "navigation": False, "samples": False}.get(centre)
    if per_position is None:  # results from elsewhere: only the size can tell
        per_position = size == n_nav if n_nav != n_sig else None
    expected = n_nav if per_position else n_sig
    if per_position is None or size != expected:
        raise ValueError(
            f"Cannot use the decomposition's mean (learning_results.centre="
            f"{centre!r}, {size} values) with {n_nav} positions and {n_sig} "
            "pixels: expected centre='signal' (one value per position) or "
            "'navigation' (one per pixel), of that size."
        )
    return per_position


def residual_maps(signal, components=None, noise="poisson", show_progressbar=None):
    """Residual maps of a finished decomposition, in one pass over the data.

    Parameters
    ----------
    signal : BaseSignal
        A signal (eager or lazy) with decomposition results.
    components : int, list of int or None
        The model uses all components (None), the first ``components``
        (int), or the listed ones.
    noise : {'poisson', 'gaussian'}, default 'poisson'
        Noise model of the structure score (see the module docstring).
    show_progressbar : bool or None
        Progress bar on lazy data; None follows HyperSpy's preference.

    Returns
    -------
    r_real : BaseSignal
        Mean |residual| per probe position (navigation calibration), NaN at
        positions without loadings (masked and not reprojected).
    r_reciprocal : BaseSignal
        Mean |residual| per pixel (signal calibration), NaN at masked pixels.
    structure : float
        Moran's I of r_real (noise-normalised for ``noise='poisson'``).

    Examples
    --------
    >>> from hyperspy_rnmf.datasets import synthetic_4dstem
    >>> s, _ = synthetic_4dstem(3, (20, 16), (24, 24), random_state=0)
    >>> s.decomposition("rnmf", output_dimension=3, print_info=False)
    >>> r_real, r_reciprocal, structure = residual_maps(s)
    >>> r_real.axes_manager.signal_shape, r_reciprocal.axes_manager.signal_shape
    ((20, 16), (24, 24))
    """
    from hyperspy_rnmf._signal_matrix import SignalMatrix

    if noise not in ("poisson", "gaussian"):
        raise ValueError(f"`noise` must be 'poisson' or 'gaussian', got {noise!r}.")
    factors, loadings = _decomposition_model(signal, components)
    rows = np.flatnonzero(np.all(np.isfinite(loadings), axis=1))
    cols = np.flatnonzero(np.all(np.isfinite(factors), axis=1))
    matrix = SignalMatrix(signal, show_progressbar=show_progressbar)
    full_rows = rows.size == matrix.n_rows
    full_cols = cols.size == matrix.n_cols
    operand = matrix.operand(None if full_rows else rows, None if full_cols else cols)
    W = loadings[rows].astype(operand.dtype)
    H = factors[cols].T.astype(operand.dtype)
    row_abs, col_abs, _, row_expected = operand.residual_pass(
        W, H, expected=noise == "poisson"
    )
    n_rows, n_cols = operand.shape
    am = signal.axes_manager
    r_real = np.full(matrix.n_rows, np.nan)
    r_real[rows] = row_abs / n_cols
    r_reciprocal = np.full(matrix.n_cols, np.nan)
    r_reciprocal[cols] = col_abs / n_rows
    score_map = r_real
    if row_expected is not None:
        score_map = np.full(matrix.n_rows, np.nan)
        score_map[rows] = noise_scaled(row_abs, row_expected)
    nav_shape = tuple(am.navigation_shape[::-1])
    structure = morans_i(score_map.reshape(nav_shape))
    return (
        map_signal(r_real, am.navigation_axes, "r_real: mean |residual| per position"),
        map_signal(
            r_reciprocal, am.signal_axes, "r_reciprocal: mean |residual| per pixel"
        ),
        structure,
    )


def overlap_maps(signal, threshold=0.3, components=None):
    """Where components overlap: thresholded, max-normalised loading maps.

    Each loading map is divided by its maximum (so that a weak component is
    judged relative to itself) and compared with ``threshold``.

    Parameters
    ----------
    signal : BaseSignal
        A signal with decomposition results (any algorithm).
    threshold : float, default 0.3
        Fraction of each component's maximum loading above which the
        component counts as present. 0.3 keeps the grain interiors and the
        boundary regions where two grains mix in comparable amounts, and
        ignores the noise floor of the normalised maps (typically < 0.1).
    components : int, list of int or None
        Components to consider: all (None), the first ``components``, or
        these (distinct) indices; at least 2.

    Returns
    -------
    count : BaseSignal
        Number of components above the threshold at each probe position
        (navigation calibration kept).
    pairs : BaseSignal
        One boolean map per pair of components (navigation: pair index; the
        pairs are listed in ``pairs.metadata.Overlap.pairs``).

    Examples
    --------
    >>> from hyperspy_rnmf.datasets import synthetic_4dstem
    >>> s, _ = synthetic_4dstem(3, (20, 16), (24, 24), random_state=0)
    >>> s.decomposition("rnmf", output_dimension=3, print_info=False)
    >>> count, pairs = overlap_maps(s)
    >>> count.axes_manager.signal_shape, pairs.axes_manager.navigation_shape
    ((20, 16), (3,))
    """
    import hyperspy.api as hs

    if isinstance(threshold, bool) or not isinstance(
        threshold, (int, float, np.number)
    ):
        raise TypeError(f"`threshold` must be a number, got {threshold!r}.")
    if not 0 < threshold < 1:
        raise ValueError(f"`threshold` must be in (0, 1), got {threshold!r}.")
    check_signal(signal)
    lr = signal.learning_results
    if lr.loadings is None:
        raise ValueError(
            "The signal has no decomposition results: run s.decomposition(...) first."
        )
    loadings = np.asarray(lr.loadings)
    check_results_fit(signal, loadings)
    index = [int(i) for i in _component_index(components, loadings.shape[1])]
    if len(index) < 2:
        raise ValueError(
            f"Overlaps need at least 2 components, got {len(index)} (`components`="
            f"{components!r}, {loadings.shape[1]} in the decomposition)."
        )
    maps = loadings[:, index]
    peak = np.nanmax(maps, axis=0)
    normalised = maps / np.where(peak > 0, peak, 1.0)
    present = np.nan_to_num(normalised, nan=0.0) > threshold
    am = signal.axes_manager
    count = map_signal(
        present.sum(axis=1).astype(np.int64),
        am.navigation_axes,
        f"number of components above {threshold:g} of their maximum",
    )
    pair_list = list(itertools.combinations(range(len(index)), 2))
    nav_shape = tuple(am.navigation_shape[::-1])
    data = np.stack(
        [(present[:, a] & present[:, b]).reshape(nav_shape) for a, b in pair_list]
    )
    pairs = hs.signals.BaseSignal(data).transpose(signal_axes=len(nav_shape))
    copy_axes(pairs.axes_manager.signal_axes, am.navigation_axes)
    pairs.metadata.General.title = "overlap of component pairs"
    pairs.metadata.set_item(
        "Overlap.pairs", [[index[a], index[b]] for a, b in pair_list]
    )
    pairs.metadata.set_item("Overlap.threshold", float(threshold))
    count.metadata.set_item("Overlap.threshold", float(threshold))
    return count, pairs

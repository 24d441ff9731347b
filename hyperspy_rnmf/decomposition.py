"""``s.decomposition("rnmf")``: RandomizedNMF on a HyperSpy signal.

The signal's data are read through masks, Poisson normalisation and dtype
conversion block by block (:mod:`hyperspy_rnmf._operand`): the data are never
copied as a whole, converted to float as a whole, or modified, not even
temporarily. Results go to ``signal.learning_results`` exactly where HyperSpy's
own algorithms put them, so ``get_decomposition_model``,
``plot_decomposition_results``, ``get_decomposition_loadings`` and saving to
.hspy/.zspy work unchanged.
"""

import logging
import warnings

import numpy as np

from hyperspy_rnmf._signal_matrix import SignalMatrix
from hyperspy_rnmf._validation import check_int, check_signal
from hyperspy_rnmf.rnmf import (
    NonFiniteDataError,
    RandomizedNMF,
    _caller_level,
    check_data_stats,
)

_logger = logging.getLogger(__name__)

#: HyperSpy decomposition parameters that RandomizedNMF does not use, with the
#: values that mean "not used". Any other value raises instead of being
#: silently ignored.
_NOT_USED = {
    "centre": (None,),
    "auto_transpose": (True,),
    "var_array": (None,),
    "var_func": (None,),
    "svd_solver": ("auto", "randomized"),
    "copy": (False, True),  # the data are never modified: both hold
    "get": (None,),
    "num_chunks": (None,),
}

_REPROJECT = (None, "navigation", "signal", "both")


def _estimator_options():
    return set(RandomizedNMF().get_params()) - {"n_components"}


def _make_estimator(
    algorithm,
    output_dimension,
    options,
    also=" and HyperSpy's decomposition parameters",
):
    """The RandomizedNMF to fit, from a name or an estimator object, and the
    number of components (None: chosen by a k-scan).

    The user's estimator is not reconfigured here: ``output_dimension`` is
    set on it only for the duration of the fit (see
    :func:`rnmf_decomposition`).
    """
    if isinstance(algorithm, RandomizedNMF):
        if options:
            raise TypeError(
                "Options "
                + ", ".join(f"{k}={v!r}" for k, v in options.items())
                + " cannot be combined with an estimator object; set them on "
                "the RandomizedNMF instance instead."
            )
        k = algorithm.n_components
        if output_dimension is not None and k not in (None, output_dimension):
            raise ValueError(
                f"`output_dimension={output_dimension}` differs from the "
                f"estimator's n_components={k}; give only one of them."
            )
        return algorithm, output_dimension if k is None else k
    unknown = set(options) - _estimator_options()
    if unknown:
        raise TypeError(
            "Unknown keyword argument(s) for algorithm='rnmf': "
            + ", ".join(f"{k}={_short_repr(options[k])}" for k in sorted(unknown))
            + ". Allowed: "
            + ", ".join(sorted(_estimator_options()))
            + f"{also}."
        )
    return RandomizedNMF(n_components=output_dimension, **options), output_dimension


def _same_setting(value, allowed):
    """``value`` means ``allowed`` (None, a bool, NumPy bools too, or a string)."""
    if isinstance(allowed, bool):
        return isinstance(value, (bool, np.bool_)) and bool(value) == allowed
    if isinstance(allowed, str):
        return isinstance(value, str) and value == allowed
    return value is allowed


def _check_not_used(used):
    for name, value in used.items():
        allowed = _NOT_USED[name]
        if not any(_same_setting(value, a) for a in allowed):
            raise ValueError(
                f"`{name}={_short_repr(value)}` is not used by algorithm='rnmf' (NMF "
                "factorizes the uncentred, non-negative data in a few streaming "
                f"passes); leave it at {allowed[0]!r}."
            )


def _short_repr(value):
    """``repr`` of a parameter value, arrays by type, shape and dtype."""
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "ndim", 0) > 0:
        return f"<{type(value).__name__} of shape {tuple(shape)}, {value.dtype}>"
    return repr(value)


def rnmf_decomposition(
    signal,
    normalize_poissonian_noise=False,
    algorithm="rnmf",
    output_dimension=None,
    navigation_mask=None,
    signal_mask=None,
    reproject=None,
    return_info=False,
    print_info=True,
    show_progressbar=None,
    **kwargs,
):
    """Decompose a HyperSpy signal with :class:`~hyperspy_rnmf.RandomizedNMF`.

    This is what ``s.decomposition("rnmf", ...)`` and
    ``s.decomposition(algorithm=RandomizedNMF(...))`` run once hyperspy-rnmf
    is installed; it can also be called directly.

    Parameters
    ----------
    signal : hyperspy.api.signals.BaseSignal
        Any signal, lazy or not, with non-negative data of any real dtype
        (integer counts are read block by block, never converted as a whole).
    normalize_poissonian_noise : bool or None, default False
        Weight the data by ``1 / sqrt(row sum * column sum)`` before the
        factorization (Keenan & Kotula 2004) and undo it on the results. The
        signal's data are not modified. None means False, as in HyperSpy.
    algorithm : 'rnmf' or RandomizedNMF
        A configured estimator is fitted in place and returned with
        ``return_info``.
    output_dimension : int or None
        Number of components. If None (and the estimator's ``n_components``
        is None), k is chosen by :func:`hyperspy_rnmf.scan_components` over
        k = 1..12 (capped by the data size) on one sketch: the knee of the mean
        absolute residual e(k); the choice and the reason are logged (INFO)
        and printed with ``print_info``.
    navigation_mask, signal_mask : boolean array or BaseSignal, optional
        Positions / pixels excluded from the fit (True = excluded), e.g. a
        direct-beam disc. NumPy navigation masks have the shape of
        ``axes_manager.navigation_shape``; NumPy signal masks the shape of one
        pattern in the data array.
    reproject : {None, 'navigation', 'signal', 'both'}
        Also compute loadings of masked positions ('navigation', by
        non-negative least squares against the factors) and/or factors of
        masked pixels ('signal', by NNLS against the loadings). Masked
        positions or pixels holding NaN or inf get NaN, with a warning.
    return_info : bool, default False
        Return the fitted estimator.
    print_info : bool, default True
        Print a summary, as HyperSpy's decomposition does.
    show_progressbar : bool or None
        Show a progress bar during the passes over lazy data; None follows
        ``hs.preferences.General.show_progressbar``.
    **kwargs
        RandomizedNMF options (``init``, ``oversample``, ``n_power_iter``,
        ``tol``, ``max_iter``, ``random_state``, ``alpha_W``, ``alpha_H``,
        ``l1_ratio``, ``n_refine_iter``, ``leverage_sampling``). HyperSpy
        parameters that NMF does not
        use (``centre``, ``var_array``, ...) raise unless left at their
        defaults; unknown names raise.

    Returns
    -------
    RandomizedNMF or None
        The fitted estimator if ``return_info``.

    Notes
    -----
    ``learning_results.factors`` (signal pixels x components) sum to one per
    component and ``learning_results.loadings`` carry the intensity: the
    loading map of a component is the total intensity (e.g. counts) that
    component contributes at each probe position. Components are sorted by
    decreasing total loading. Masked positions and pixels are NaN unless
    reprojected. ``learning_results.decomposition_algorithm`` is "rnmf".

    Examples
    --------
    >>> from hyperspy_rnmf.datasets import synthetic_4dstem
    >>> s, truth = synthetic_4dstem(3, (20, 16), (32, 32), random_state=0)
    >>> s.decomposition("rnmf", output_dimension=3, print_info=False)
    >>> s.learning_results.factors.shape, s.learning_results.loadings.shape
    ((1024, 3), (320, 3))
    """
    check_signal(signal)
    used = {name: kwargs.pop(name) for name in list(kwargs) if name in _NOT_USED}
    _check_not_used(used)
    if reproject not in _REPROJECT:
        raise ValueError(f"`reproject` must be one of {_REPROJECT}, got {reproject!r}.")
    if isinstance(algorithm, str) and algorithm.lower() != "rnmf":
        raise ValueError(
            f"`algorithm` must be 'rnmf' or a RandomizedNMF, got {algorithm!r}."
        )
    if not isinstance(algorithm, (str, RandomizedNMF)):
        raise TypeError(
            "`algorithm` must be 'rnmf' or a RandomizedNMF, got "
            f"{_short_repr(algorithm)} (type {type(algorithm).__name__})."
        )
    if output_dimension is not None:
        check_int(output_dimension, "output_dimension", 1)
    estimator, k = _make_estimator(algorithm, output_dimension, kwargs)
    if isinstance(estimator.init, str) and estimator.init == "custom":
        raise ValueError(
            "init='custom' needs the starting factors `W` and `H`, which "
            "s.decomposition cannot pass; call RandomizedNMF(init='custom')"
            ".fit_transform(X, W=W, H=H) on the (positions x pixels) data "
            "matrix instead, or choose another `init`."
        )
    matrix = SignalMatrix(
        signal,
        navigation_mask,
        signal_mask,
        normalize_poissonian_noise,
        show_progressbar,
    )
    if output_dimension is not None:
        check_int(output_dimension, "output_dimension", 1, min(matrix.fit_shape))
    if k is None:
        operand = matrix.fit_operand()
        scan = _choose_k(matrix, operand, estimator, show_progressbar)
        loadings = scan.fit(scan.suggested_k, estimator, operand)
    else:
        scan = None
        given = estimator.n_components
        estimator.n_components = k
        try:
            loadings = estimator._fit_operand(matrix.fit_operand())
        finally:  # the user's object keeps its own setting
            estimator.n_components = given
    factors = estimator.components_.T.copy()
    rows, cols = matrix.keep_rows, matrix.keep_cols

    if reproject in ("navigation", "both") and rows is not None:
        loadings = _reproject_navigation(matrix, estimator, cols)
        rows = None
    if reproject in ("signal", "both") and cols is not None:
        fit_loadings = loadings
        if rows is None and matrix.keep_rows is not None:  # reprojected rows
            fit_loadings = loadings[matrix.keep_rows]
        factors = _reproject_signal(matrix, estimator, fit_loadings, factors.dtype)
        cols = None

    factors, loadings = matrix.to_learning_results(factors, loadings, rows, cols)
    matrix.store(factors, loadings, estimator.n_components_)
    if print_info:
        lines = [
            "Decomposition info:",
            f"  normalize_poissonian_noise={matrix.poisson}",
            "  algorithm=rnmf",
            f"  output_dimension={estimator.n_components_}",
            "  centre=None",
        ]
        if scan is not None:
            lines.append(f"  ({scan.reason})")
        lines += ["hyperspy-rnmf estimator:", f"  {estimator!r}"]
        print("\n".join(lines))
    _logger.info(
        "rnmf: %d components, %d HALS iterations, %d passes over the data, "
        "reconstruction error %.6g",
        estimator.n_components_,
        estimator.n_iter_,
        estimator.n_passes_,
        estimator.reconstruction_err_,
    )
    return estimator if return_info else None


def _reproject_navigation(matrix, estimator, cols):
    """Loadings of every position, NaN for masked positions holding NaN or inf.

    The masked positions are read for the first time here (and checked); the
    positions of a fit never hold NaN or inf, so only masked ones can.
    """

    def loadings(rows):
        values, _, stats = estimator._project_loadings(
            matrix.operand(rows, cols), with_stats=True
        )
        check_data_stats(stats)
        return values

    def sums(masked):
        operand = matrix.operand(masked, cols)
        return operand.matmul(np.ones((operand.shape[1], 1), operand.dtype))[:, 0]

    return _nan_where_not_finite(
        loadings,
        matrix.n_rows,
        matrix.nav_mask,
        sums,
        "masked position",
        "navigation",
        "loadings",
    )


def _reproject_signal(matrix, estimator, fit_loadings, dtype):
    """Factors of every pixel (pixels x k), NaN for masked pixels holding NaN
    or inf (see :func:`_reproject_navigation`)."""
    rows = matrix.keep_rows

    def factors(cols):
        operand = matrix.operand(rows, cols)
        return estimator._reproject_components(operand, fit_loadings).T.astype(dtype)

    def sums(masked):
        operand = matrix.operand(rows, masked)
        return operand.rmatmul(np.ones((operand.shape[0], 1), operand.dtype))[:, 0]

    return _nan_where_not_finite(
        factors,
        matrix.n_cols,
        matrix.sig_mask,
        sums,
        "masked pixel",
        "signal",
        "factors",
    )


def _nan_where_not_finite(solve, size, mask, sums, what, reproject, result):
    """``solve(None)`` (one row per position or pixel, ``size`` of them); if
    masked ones hold NaN or inf (found from their ``sums``), ``solve`` of
    the others, NaN rows for those, and a warning."""
    try:
        return solve(None)
    except NonFiniteDataError:
        masked = np.flatnonzero(mask)
        bad = masked[~np.isfinite(sums(masked))]
    good = np.setdiff1d(np.arange(size), bad)
    part = solve(good)
    count = len(bad)
    warnings.warn(
        f"reproject='{reproject}': {count} {what}{'s' if count > 1 else ''} "
        f"{'hold' if count > 1 else 'holds'} NaN or inf; "
        f"{'their' if count > 1 else 'its'} {result} are NaN.",
        UserWarning,
        stacklevel=_caller_level(),  # the user's s.decomposition(...)
    )
    out = np.full((size, part.shape[1]), np.nan, dtype=part.dtype)
    out[good] = part
    return out


def _choose_k(matrix, operand, estimator, show_progressbar):
    """Scan k on one sketch and log the suggested k (INFO level).

    The scan stops each k at ``tol=max(estimator.tol, 1e-3)`` (enough to
    place the elbow of e(k)); the chosen k is then fitted further with the
    estimator's own settings, starting from the scan's factors.
    """
    from sklearn.base import clone

    from hyperspy_rnmf.kscan import SCAN_TOL, default_k_values, scan_matrix

    template = clone(estimator).set_params(tol=max(estimator.tol, SCAN_TOL))
    k_values = default_k_values(operand.shape)
    scan = scan_matrix(matrix, operand, k_values, template, show_progressbar)
    _logger.info("rnmf: no output_dimension given; %s", scan.reason)
    return scan

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

import numpy as np

from hyperspy_rnmf.rnmf import RandomizedNMF, is_dask_array, make_operand

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
    "copy": (False,),
    "get": (None,),
    "num_chunks": (None,),
}

_REPROJECT = (None, "navigation", "signal", "both")


def _estimator_options():
    return set(RandomizedNMF().get_params()) - {"n_components"}


def _make_estimator(algorithm, output_dimension, options):
    """The RandomizedNMF to fit, from a name or an estimator object."""
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
        if k is None and output_dimension is None:
            raise ValueError(
                "The number of components is not set: pass `output_dimension` "
                "or set `n_components` on the RandomizedNMF."
            )
        if k is None:
            algorithm.set_params(n_components=output_dimension)
        return algorithm
    unknown = set(options) - _estimator_options()
    if unknown:
        raise TypeError(
            "Unknown keyword argument(s) for algorithm='rnmf': "
            + ", ".join(f"{k}={options[k]!r}" for k in sorted(unknown))
            + ". Allowed: "
            + ", ".join(sorted(_estimator_options()))
            + " and HyperSpy's decomposition parameters."
        )
    if output_dimension is None:
        raise ValueError(
            "algorithm='rnmf' needs `output_dimension`, the number of "
            "components, e.g. s.decomposition('rnmf', output_dimension=3)."
        )
    return RandomizedNMF(n_components=output_dimension, **options)


def _check_not_used(used):
    for name, value in used.items():
        allowed = _NOT_USED[name]
        if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
            raise ValueError(
                f"`{name}={value!r}` is not used by algorithm='rnmf' (NMF "
                "factorizes the uncentred, non-negative data in a few streaming "
                f"passes); leave it at {allowed[0]!r}."
            )


def _flat_mask(mask, signal, space):
    """A flat boolean mask (True = excluded) in the order of the data array.

    BaseSignal masks carry their data in array order. NumPy (or dask) masks
    follow HyperSpy's conventions: a navigation mask has the shape of
    ``axes_manager.navigation_shape`` (x, y order), a signal mask the shape of
    the signal in the data array (ky, kx order, like ``s.inav[0].data``).
    """
    if mask is None:
        return None
    am = signal.axes_manager
    name = f"{space}_mask"
    if space == "navigation":
        expected = am.navigation_shape
        array_shape = tuple(am.navigation_shape[::-1])
    else:
        expected = tuple(am.signal_shape[::-1])
        array_shape = expected
    if hasattr(mask, "axes_manager"):
        mam = mask.axes_manager
        other = mam.signal_dimension if space == "navigation" else mam.navigation_dimension
        shape = mam.navigation_shape if space == "navigation" else mam.signal_shape
        own = am.navigation_shape if space == "navigation" else am.signal_shape
        if other != 0 or shape != own:
            raise ValueError(
                f"`{name}` (a signal with navigation shape {mam.navigation_shape} "
                f"and signal shape {mam.signal_shape}) must have only {space} "
                f"axes, of shape {own}."
            )
        array = mask.data
        if is_dask_array(array):
            array = array.compute()
        array = np.asarray(array)
    else:
        array = mask.compute() if is_dask_array(mask) else np.asarray(mask)
        if array.shape != expected:
            hint = ""
            if space == "signal" and array.shape == am.signal_shape:
                hint = " (the order of the data array, the reverse of signal_shape)"
            raise ValueError(
                f"`{name}` (shape {array.shape}) must have shape {expected}{hint}."
            )
        if space == "navigation":
            array = array.T
    if array.dtype != bool:
        raise TypeError(
            f"`{name}` must be a boolean array (True = excluded), got dtype "
            f"{array.dtype}."
        )
    flat = np.ascontiguousarray(array.reshape(array_shape)).ravel()
    if flat.all():
        raise ValueError(f"All positions are excluded by `{name}`: nothing to fit.")
    return flat


def _data_matrix(signal):
    """The data as (navigation, signal) matrix.

    NumPy data are reshaped (a view when possible); dask data keep their N-D
    shape and chunks, which :class:`~hyperspy_rnmf._dask_operand.DaskOperand`
    reads as blocks of rows, without any reshape or rechunk of the navigation.
    Returns the array and its number of navigation axes.
    """
    am = signal.axes_manager
    data = signal._data_aligned_with_axes
    if is_dask_array(data):
        return data, am.navigation_dimension
    return np.asarray(data).reshape((am.navigation_size, am.signal_size)), 1


def _expand(values, keep, size):
    """Rows of ``values`` put at the ``keep`` positions of ``size`` rows, NaN elsewhere."""
    if keep is None:
        return values
    out = np.full((size, values.shape[1]), np.nan, dtype=values.dtype)
    out[keep] = values
    return out


def _normalize_and_sort(factors, loadings):
    """Factors summing to one, loadings carrying the intensity, most prominent first."""
    totals = np.nansum(factors, axis=0, dtype=np.float64)
    totals = np.where(totals > 0, totals, 1.0)
    factors = (factors / totals).astype(factors.dtype)
    loadings = (loadings * totals).astype(loadings.dtype)
    order = np.argsort(-np.nansum(loadings, axis=0, dtype=np.float64), kind="stable")
    return factors[:, order], loadings[:, order]


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
    normalize_poissonian_noise : bool, default False
        Weight the data by ``1 / sqrt(row sum * column sum)`` before the
        factorization (Keenan & Kotula 2004) and undo it on the results. The
        signal's data are not modified.
    algorithm : 'rnmf' or RandomizedNMF
        A configured estimator is fitted in place and returned with
        ``return_info``.
    output_dimension : int
        Number of components (required unless given by the estimator).
    navigation_mask, signal_mask : boolean array or BaseSignal, optional
        Positions / pixels excluded from the fit (True = excluded), e.g. a
        direct-beam disc. NumPy navigation masks have the shape of
        ``axes_manager.navigation_shape``; NumPy signal masks the shape of one
        pattern in the data array.
    reproject : {None, 'navigation', 'signal', 'both'}
        Also compute loadings of masked positions ('navigation', by
        non-negative least squares against the factors) and/or factors of
        masked pixels ('signal', by NNLS against the loadings).
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
        ``l1_ratio``, ``n_refine_iter``). HyperSpy parameters that NMF does not
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
    used = {name: kwargs.pop(name) for name in list(kwargs) if name in _NOT_USED}
    _check_not_used(used)
    if reproject not in _REPROJECT:
        raise ValueError(f"`reproject` must be one of {_REPROJECT}, got {reproject!r}.")
    if isinstance(algorithm, str) and algorithm.lower() != "rnmf":
        raise ValueError(f"`algorithm` must be 'rnmf' or a RandomizedNMF, got {algorithm!r}.")
    if not isinstance(normalize_poissonian_noise, (bool, np.bool_)):
        raise TypeError(
            "`normalize_poissonian_noise` must be True or False, got "
            f"{normalize_poissonian_noise!r}."
        )
    estimator = _make_estimator(algorithm, output_dimension, kwargs)
    am = signal.axes_manager
    if am.navigation_size < 2:
        raise ValueError(
            "A decomposition needs at least 2 navigation positions, the signal "
            f"has navigation shape {am.navigation_shape}."
        )
    if np.dtype(signal.data.dtype).kind not in "biuf":
        raise TypeError(
            f"algorithm='rnmf' needs real numeric data, the signal has dtype "
            f"{signal.data.dtype}."
        )
    nav_mask = _flat_mask(navigation_mask, signal, "navigation")
    sig_mask = _flat_mask(signal_mask, signal, "signal")
    keep_rows = None if nav_mask is None else np.flatnonzero(~nav_mask)
    keep_cols = None if sig_mask is None else np.flatnonzero(~sig_mask)
    if show_progressbar is None:
        from hyperspy.defaults_parser import preferences

        show_progressbar = preferences.General.show_progressbar
    X, nav_ndim = _data_matrix(signal)
    n_rows, n_cols = am.navigation_size, am.signal_size

    def operand(rows, cols, row_scale=None, col_scale=None):
        options = dict(rows=rows, cols=cols, row_scale=row_scale, col_scale=col_scale)
        if is_dask_array(X):
            options.update(nav_ndim=nav_ndim, progressbar=bool(show_progressbar))
        return make_operand(X, **options)

    row_scale = col_scale = None
    if normalize_poissonian_noise:
        row_sums, col_sums = operand(None, None).sums(
            None if nav_mask is None else ~nav_mask,
            None if sig_mask is None else ~sig_mask,
        )
        row_scale = np.sqrt(np.where(row_sums > 0, row_sums, 1.0))
        col_scale = np.sqrt(np.where(col_sums > 0, col_sums, 1.0))

    def subset(scale, keep):
        return scale if scale is None or keep is None else scale[keep]

    fit_operand = operand(
        keep_rows, keep_cols, subset(row_scale, keep_rows), subset(col_scale, keep_cols)
    )
    loadings = estimator._fit_operand(fit_operand)
    factors = estimator.components_.T.copy()
    rows_out, cols_out = keep_rows, keep_cols

    if reproject in ("navigation", "both") and keep_rows is not None:
        full = operand(None, keep_cols, row_scale, subset(col_scale, keep_cols))
        loadings = estimator._project(full, estimator.components_)[0]
        rows_out = None
    if reproject in ("signal", "both") and keep_cols is not None:
        full = operand(keep_rows, None, subset(row_scale, keep_rows), col_scale)
        fit_loadings = loadings if rows_out is keep_rows else loadings[keep_rows]
        factors = estimator._update_components(full, fit_loadings).T.astype(
            factors.dtype
        )
        cols_out = None

    if normalize_poissonian_noise:
        factors = factors * (
            col_scale if cols_out is None else col_scale[cols_out]
        )[:, None].astype(factors.dtype)
        loadings = loadings * (
            row_scale if rows_out is None else row_scale[rows_out]
        )[:, None].astype(loadings.dtype)
    factors, loadings = _normalize_and_sort(factors, loadings)
    factors = _expand(factors, cols_out, n_cols)
    loadings = _expand(loadings, rows_out, n_rows)
    _store_results(
        signal,
        factors,
        loadings,
        estimator.n_components_,
        bool(normalize_poissonian_noise),
        nav_mask,
        sig_mask,
    )
    if print_info:
        print(
            "\n".join(
                [
                    "Decomposition info:",
                    f"  normalize_poissonian_noise={bool(normalize_poissonian_noise)}",
                    "  algorithm=rnmf",
                    f"  output_dimension={estimator.n_components_}",
                    "  centre=None",
                    "hyperspy-rnmf estimator:",
                    f"  {estimator!r}",
                ]
            )
        )
    _logger.info(
        "rnmf: %d components, %d HALS iterations, %d passes over the data, "
        "reconstruction error %.6g",
        estimator.n_components_,
        estimator.n_iter_,
        estimator.n_passes_,
        estimator.reconstruction_err_,
    )
    return estimator if return_info else None


def _store_results(signal, factors, loadings, k, poisson, nav_mask, sig_mask):
    """Fill ``signal.learning_results`` the way HyperSpy's decomposition does."""
    from hyperspy.learn import LearningResults

    am = signal.axes_manager
    target = LearningResults()
    target.factors = factors
    target.loadings = loadings
    target.explained_variance = None
    target.explained_variance_ratio = None
    target.number_significant_components = None
    target.decomposition_algorithm = "rnmf"
    target.poissonian_noise_normalized = poisson
    target.output_dimension = k
    target.unfolded = am.navigation_dimension > 1 or am.signal_dimension > 1
    target.original_shape = signal.data.shape if target.unfolded else None
    target.centre = None
    target.mean = None
    target.unmixing_matrix = None
    target.bss_algorithm = None
    target.navigation_mask = (
        None if nav_mask is None else nav_mask.reshape(am.navigation_shape[::-1])
    )
    target.signal_mask = (
        None if sig_mask is None else sig_mask.reshape(am.signal_shape[::-1])
    )
    signal.learning_results.__dict__.update(target.__dict__)

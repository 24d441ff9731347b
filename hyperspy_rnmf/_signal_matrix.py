"""A HyperSpy signal's data as the matrix a factorization sees.

:class:`SignalMatrix` turns a signal (eager or lazy), its navigation and
signal masks and the Poisson weights of Keenan & Kotula (2004) into operands
(:mod:`hyperspy_rnmf._operand`) that read the (navigation x signal) matrix
block by block, never copying or modifying the data, and puts factorization
results back into HyperSpy's ``learning_results`` conventions.
"""

import numpy as np

from hyperspy_rnmf._validation import transpose_hint
from hyperspy_rnmf.rnmf import is_dask_array, make_operand


def _flat_mask(mask, signal, space):
    """A flat boolean mask (True = excluded) in the order of the data array.

    BaseSignal masks carry their data in array order. NumPy (or dask) masks
    follow HyperSpy's conventions: a navigation mask has the shape of
    ``axes_manager.navigation_shape`` (x, y order), a signal mask the shape of
    the signal in the data array (ky, kx order, like ``s.inav[0].data``).
    A mask of another shape is refused (a transposed one would misplace the
    pixels), with a message that names both shapes and the fix when it is
    the transpose.
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
        _check_mask_signal(mask, name, space, signal)
        array = mask.data
        if is_dask_array(array):
            array = array.compute()
        array = np.asarray(array)
    else:
        array = mask.compute() if is_dask_array(mask) else np.asarray(mask)
        if array.shape != expected:
            if space == "navigation":
                what = "navigation_shape, (x, y) order"
                swapped = " (the scan image's (y, x) order)"
            else:
                what = "one pattern in the data array, (ky, kx) order"
                swapped = " (signal_shape, (kx, ky) order)"
            hint = transpose_hint(
                array.shape, expected, f"`{name}.T`", space == "signal"
            )
            raise ValueError(
                f"`{name}` has shape {array.shape}"
                f"{swapped if hint else ''}, expected {expected} ({what})"
                f"{hint}."
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
        what = "positions" if space == "navigation" else "pixels"
        raise ValueError(f"All {what} are excluded by `{name}`: nothing to fit.")
    return flat


def _check_mask_signal(mask, name, space, signal):
    """Raise unless the mask signal has only ``space`` axes, of the signal's
    shape; the message says what it has instead, and the fix when its axes
    are of the other kind or swapped."""
    other = "signal" if space == "navigation" else "navigation"
    mam = mask.axes_manager
    own = getattr(signal.axes_manager, f"{space}_shape")
    shape = getattr(mam, f"{space}_shape")
    other_shape = getattr(mam, f"{other}_shape")
    if not other_shape and shape == own:
        return
    pattern = space == "signal"
    if other_shape and not shape:  # the wrong kind of axes
        problem = (
            f"`{name}` has {other} axes (shape {other_shape}) and no {space} "
            f"axes; a {space} mask has only {space} axes, of the signal's "
            f"{space}_shape {own}"
        )
        if other_shape == own:
            problem += f": pass `{name}.T`, which makes its axes {space} axes"
        elif transpose_hint(other_shape, own, ""):
            problem += (
                f", the transpose of its {other_shape}; if only the axes are "
                f"swapped, pass `{name}.data` (a NumPy mask is read in the "
                f"{space}_shape order)"
            )
    elif not other_shape:  # the right kind, another shape
        problem = (
            f"`{name}` has {space} shape {shape}, expected the signal's "
            f"{space}_shape {own}"
        )
        problem += transpose_hint(
            shape, own, f"`{name}.transpose({space}_axes=[1, 0])`", pattern
        )
    else:
        problem = (
            f"`{name}` (a signal with navigation shape {mam.navigation_shape} "
            f"and signal shape {mam.signal_shape}) must have only {space} "
            f"axes, of shape {own}"
        )
    raise ValueError(problem + ".")


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
    """Rows of ``values`` at the ``keep`` positions of ``size`` rows, NaN elsewhere."""
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


class SignalMatrix:
    """The data of ``signal`` as a (navigation x signal) matrix with masks and weights.

    Parameters
    ----------
    signal : BaseSignal
    navigation_mask, signal_mask : boolean array or BaseSignal, optional
        True = excluded (conventions of :func:`_flat_mask`).
    normalize_poissonian_noise : bool
        Divide rows and columns by the square roots of their sums over the
        kept entries (one pass over the data, done here).
    show_progressbar : bool or None
        Progress bars of lazy passes; None follows HyperSpy's preference.
    """

    def __init__(
        self,
        signal,
        navigation_mask=None,
        signal_mask=None,
        normalize_poissonian_noise=False,
        show_progressbar=None,
    ):
        am = signal.axes_manager
        if am.signal_size == 0:
            raise ValueError(
                "A decomposition needs at least one signal axis, the signal has "
                f"none (navigation shape {am.navigation_shape}); choose them with "
                "e.g. s.transpose(signal_axes=1)."
            )
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
        if normalize_poissonian_noise is None:  # HyperSpy reads None as False
            normalize_poissonian_noise = False
        if not isinstance(normalize_poissonian_noise, (bool, np.bool_)):
            raise TypeError(
                "`normalize_poissonian_noise` must be True or False, got "
                f"{normalize_poissonian_noise!r}."
            )
        self.signal = signal
        self.nav_mask = _flat_mask(navigation_mask, signal, "navigation")
        self.sig_mask = _flat_mask(signal_mask, signal, "signal")
        self.keep_rows = (
            None if self.nav_mask is None else np.flatnonzero(~self.nav_mask)
        )
        self.keep_cols = (
            None if self.sig_mask is None else np.flatnonzero(~self.sig_mask)
        )
        if show_progressbar is None:
            from hyperspy.defaults_parser import preferences

            show_progressbar = preferences.General.show_progressbar
        self.progressbar = bool(show_progressbar)
        self.X, self.nav_ndim = _data_matrix(signal)
        self.n_rows, self.n_cols = am.navigation_size, am.signal_size
        self.poisson = bool(normalize_poissonian_noise)
        self.row_scale = self.col_scale = None
        if self.poisson:
            row_sums, col_sums = self.operand(None, None, scaled=False).sums(
                None if self.nav_mask is None else ~self.nav_mask,
                None if self.sig_mask is None else ~self.sig_mask,
            )
            self.row_scale = np.sqrt(np.where(row_sums > 0, row_sums, 1.0))
            self.col_scale = np.sqrt(np.where(col_sums > 0, col_sums, 1.0))

    @staticmethod
    def _subset(scale, keep):
        return scale if scale is None or keep is None else scale[keep]

    def operand(self, rows, cols, scaled=True):
        """Operand over rows ``rows`` and columns ``cols`` (index arrays or None)."""
        options = dict(rows=rows, cols=cols)
        if scaled:
            options.update(
                row_scale=self._subset(self.row_scale, rows),
                col_scale=self._subset(self.col_scale, cols),
            )
        if is_dask_array(self.X):
            options.update(nav_ndim=self.nav_ndim, progressbar=self.progressbar)
        operand = make_operand(self.X, **options)
        operand.where = self.where
        return operand

    def where(self, row, col):
        """A data (row, column) as HyperSpy indices, for error messages:
        ``"; s.inav[x, y].isig[kx, ky]"`` (axes order, as HyperSpy indexes)."""
        am = self.signal.axes_manager

        def indices(flat, shape):
            if not shape:
                return ""
            index = np.unravel_index(int(flat), tuple(shape)[::-1])[::-1]
            return ", ".join(str(int(i)) for i in index)

        nav = indices(row, am.navigation_shape)
        sig = indices(col, am.signal_shape)
        return f"; s.inav[{nav}].isig[{sig}]" if nav else f"; s.isig[{sig}]"

    @property
    def fit_shape(self):
        """Shape of the factorized matrix: kept rows x kept columns."""
        rows = self.n_rows if self.keep_rows is None else len(self.keep_rows)
        cols = self.n_cols if self.keep_cols is None else len(self.keep_cols)
        return rows, cols

    def fit_operand(self):
        """The kept rows and columns, weighted: what is factorized."""
        return self.operand(self.keep_rows, self.keep_cols)

    def to_learning_results(self, factors, loadings, rows=None, cols=None):
        """Unweighted, normalised, sorted and NaN-expanded results.

        ``factors`` (columns ``cols``) and ``loadings`` (rows ``rows``) come
        from the weighted matrix; None means all columns / rows.
        """
        if self.poisson:
            factors = factors * self._subset(self.col_scale, cols)[:, None].astype(
                factors.dtype
            )
            loadings = loadings * self._subset(self.row_scale, rows)[:, None].astype(
                loadings.dtype
            )
        factors, loadings = _normalize_and_sort(factors, loadings)
        return _expand(factors, cols, self.n_cols), _expand(loadings, rows, self.n_rows)

    def store(self, factors, loadings, k):
        """Put full-size results into ``signal.learning_results``."""
        _store_results(
            self.signal,
            factors,
            loadings,
            k,
            self.poisson,
            self.nav_mask,
            self.sig_mask,
        )


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

"""Randomized non-negative matrix factorization as a scikit-learn estimator.

``X ~ W H`` with ``W, H >= 0``. The data are read in a few streaming passes to
build a QB sketch of the larger dimension (:mod:`hyperspy_rnmf._sketch`); the
factorization itself runs on the sketch by randomized HALS
(:mod:`hyperspy_rnmf._hals`); a last pass gives every sample its loadings by
exact non-negative least squares against the components
(:mod:`hyperspy_rnmf._nnls`), which is also what :meth:`RandomizedNMF.transform`
does.

Convention: every component (row of ``components_``) sums to one and the
loadings carry the intensity, so ``W[i, j]`` is the total intensity that
component ``j`` contributes to sample ``i`` (for 4D-STEM: the counts of phase
``j`` at probe position ``i``, a relative volumetric intensity map).
Components are sorted by decreasing prominence, the sum of their loadings.

References
----------
N. B. Erichson, A. Mendible, S. Wihlborn and J. N. Kutz, "Randomized
nonnegative matrix factorization", Pattern Recognition Letters 104 (2018) 1-7.
N. Halko, P. G. Martinsson and J. A. Tropp, SIAM Review 53 (2011) 217-288.
"""

import os
import sys
import warnings

import numpy as np
import scipy.sparse
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from hyperspy_rnmf._hals import sampled_hals
from hyperspy_rnmf._init import (
    INIT_METHODS,
    nndsvd_from_sketch,
    random_init,
    spa_from_sketch,
)
from hyperspy_rnmf._nnls import nnls_gram
from hyperspy_rnmf._operand import NumpyOperand
from hyperspy_rnmf._sketch import qb_sketch
from hyperspy_rnmf._sweep import sweep_until
from hyperspy_rnmf._threads import single_blas_thread
from hyperspy_rnmf._validation import check_int, check_real


def is_dask_array(X):
    """True for a dask array (without importing dask)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


def make_operand(X, **selection):
    """NumpyOperand or DaskOperand for ``X``."""
    if is_dask_array(X):
        from hyperspy_rnmf._dask_operand import DaskOperand

        return DaskOperand(X, **selection)
    return NumpyOperand(X, **selection)


def _caller_level():
    """``stacklevel`` for a warning raised by the caller of this function that
    points at the first frame outside this package (the user's call), however
    deep the call chain (``fit``, ``s.decomposition``, a k-scan)."""
    try:  # scikit-learn's wrapper of fit_transform and transform (private)
        from sklearn.utils import _set_output

        wrapper = os.path.abspath(_set_output.__file__)
    except (ImportError, AttributeError):  # moved: the warning names it instead
        wrapper = None
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    tests = package + "tests" + os.sep  # the test suite is a caller too

    def inside(frame):
        name = os.path.abspath(frame.f_code.co_filename)
        return name == wrapper or (
            name.startswith(package) and not name.startswith(tests)
        )

    frame, level = sys._getframe(1), 1
    while frame is not None and inside(frame):
        frame, level = frame.f_back, level + 1
    return level


def check_fit_data_stats(stats, name="X"):
    """:func:`check_data_stats`, and raise for all-zero data, which leave
    nothing to factorize (the factors would be all zero instead of summing
    to one)."""
    check_data_stats(stats, name)
    if stats.total == 0:
        raise ValueError(
            f"The data are all zero (after masks): `{name}` has nothing to "
            "factorize (the factors would be all zero instead of summing to "
            "one); check the data and the masks."
        )


class NonFiniteDataError(ValueError):
    """The data contain NaN or inf (raised by :func:`check_data_stats`)."""


def check_data_stats(stats, name="X"):
    """Raise for NaN, inf or negative values found in the first pass."""
    where = getattr(stats, "where", None) or (lambda row, col: "")
    if not stats.finite:
        row, col = stats.argbad
        value = stats.badvalue
        if value is None:
            found = "NaN or inf"
        elif np.isnan(value) and stats.weighted:  # inf / inf is NaN too
            found = "NaN after the Poisson normalisation (NaN or inf in the data)"
        else:
            found = "NaN" if np.isnan(value) else f"{value:g}"
        raise NonFiniteDataError(
            f"`{name}` contains NaN or inf: {found} (first at row {row}, "
            f"column {col}{where(row, col)}); "
            "NMF needs finite, non-negative data. Mask these pixels "
            "(signal_mask / navigation_mask) or replace them."
        )
    if stats.minimum < 0:
        row, col = stats.argmin
        which = "for example" if stats.weighted else "minimum"
        raise ValueError(
            f"Negative values in data: `{name}` contains negative values "
            f"({which} {stats.minimum:g} at row {row}, column {col}"
            f"{where(row, col)}); NMF needs "
            "non-negative data. Subtract a smaller background or clip the data "
            "explicitly before the decomposition."
        )
    overflow = not np.isfinite(stats.sum_squares)
    if overflow or (stats.total > 0 and stats.sum_squares == 0):
        info = np.finfo(stats.dtype)
        size, limit = (
            ("large", f"up to {info.max:.2g}")
            if overflow
            else ("small", f"down to {info.smallest_subnormal:.2g}")
        )
        advice = (
            "Convert the data to float64 (e.g. s.change_dtype('float64')) or "
            "scale them by a constant first."
            if info.dtype == np.float32
            else "Scale them by a constant first."
        )
        raise ValueError(
            f"`{name}` holds values too {size} for the working precision: their "
            f"squares {'overflow' if overflow else 'underflow'} ({info.dtype} "
            f"goes {limit}), and so would the factorization. {advice}"
        )


def split_scale(H):
    """``H`` as rows summing to one (float64) times their sums: ``(rows, sums)``.

    All-zero rows stay zero, with a sum of 1.
    """
    H = np.asarray(H, dtype=np.float64)
    totals = H.sum(axis=1)
    totals = np.where(totals > 0, totals, 1.0)
    return H / totals[:, None], totals


def at_fit_scale(components, scale):
    """The fitted ``H``, from components summing to one and their ``scale``.

    The penalties on ``W`` are defined at the scale the factorization found
    (they are not invariant under rescaling a component between ``W`` and
    ``H``), so loadings are always solved against this matrix and then
    rescaled; computing it from the stored components makes ``transform``
    repeat the fit's last step exactly.
    """
    return np.asarray(components, dtype=np.float64) * scale[:, None]


def _check_random_state(value):
    """scikit-learn's ``random_state`` rules, with an error naming the parameter."""
    try:
        check_random_state(value)
    except (TypeError, ValueError) as error:
        hint = ""
        if isinstance(value, np.random.Generator):
            hint = " (numpy.random.Generator is not accepted, as in scikit-learn)"
        raise ValueError(
            "`random_state` must be None, an integer in [0, 2**32 - 1] or a "
            f"numpy.random.RandomState, got {value!r}{hint}."
        ) from error


class RandomizedNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Randomized non-negative matrix factorization (QB sketch + HALS).

    Finds non-negative ``W`` (n_samples, n_components) and ``H``
    (n_components, n_features) minimising ``0.5 |X - W H|_F^2`` plus optional
    penalties. ``X`` is read in ``2 n_power_iter + 2 + max(1, 2 n_refine_iter)``
    streaming passes (6 with the defaults); everything else works on the
    sketch, whose size does not depend on the number of samples or features.

    Parameters
    ----------
    n_components : int or None, default None
        Number of components ``k``, in ``[1, min(X.shape)]``. None uses
        ``min(X.shape)``.
    init : {'nndsvdar', 'nndsvd', 'nndsvda', 'spa', 'random', 'custom'}, \
default 'nndsvdar'
        Initialisation, computed from the sketch (no pass over the data).
        'spa' starts from the purest samples (successive projection
        algorithm): on data with pure probe positions and k close to the
        number of phases it finds the phases more often, and in fewer
        iterations, than the NNDSVD starts; with k well above it, it is
        slower (see the user guide). 'custom' uses the ``W`` and ``H`` passed
        to :meth:`fit`.
    oversample : int, default 10
        Extra random directions of the sketch: its size is
        ``min(n_components + oversample, min(X.shape))``.
    n_power_iter : int, default 1
        Power iterations of the range finder (two passes each).
    tol : float, default 1e-4
        Stop when the best error of the sketch improved by less than ``tol``
        (relative) during the last 10 iterations and the error is not falling
        by more than that over them.
    max_iter : int, default 500
        Maximum number of HALS iterations; a ConvergenceWarning is raised
        when it is reached.
    random_state : int, numpy.random.RandomState or None, default None
        Seed of the random test matrix and of the random initialisations.
    alpha_W : float, default 0
        Penalty on ``W``, scaled by ``n_features`` (as in scikit-learn's NMF).
    alpha_H : float or 'same', default 'same'
        Penalty on ``H``, scaled by ``n_samples``; 'same' uses ``alpha_W``.
    l1_ratio : float, default 0
        Share of the L1 penalty in ``alpha``: 0 is L2 only, 1 is L1 only.
    n_refine_iter : int, default 1
        Exact alternating updates on the full data after the sketch-space
        HALS: each solves ``H`` for fixed ``W`` by NNLS (one pass), then ``W``
        for that ``H`` (one pass; the last one is the final projection). They
        recover the part of the components outside the sketched subspace:
        on planted 4D-STEM data, 0 gave a 3-4 % larger error against the
        noiseless data (up to 11 %), 2 a 0.2 % smaller one (user guide).
    leverage_sampling : bool, default True
        Run the HALS iterations first on a sample of the larger dimension
        (rows of the sketch basis drawn by leverage score, about
        ``l ln(l) / 0.01`` of them for a sketch of size ``l``), then on all of
        it. Used only when the sample holds at most a quarter of that
        dimension (e.g. 187 x 187 detector pixels and k <= 16 with the
        default oversample) and without an L1 penalty on its factor. On
        planted data: nearly the same phases and errors, 2-4 times less HALS
        time at k = 8 (see the user guide). False runs every iteration on all
        rows.

    Attributes
    ----------
    components_ : numpy.ndarray, shape (n_components, n_features)
        The factors ``H``; each row sums to one (rows that are all zero stay
        zero), sorted by decreasing total loading.
    n_components_ : int
    n_iter_ : int
        Number of HALS iterations run (on the leverage sample and on all
        rows together).
    reconstruction_err_ : float
        Frobenius norm ``|X - W H|_F`` of the fitted data, with ``W`` the
        loadings returned by :meth:`fit_transform`.
    n_features_in_ : int
    n_passes_ : int
        Number of passes over the data during the fit. Through
        ``s.decomposition("rnmf")``, the Poisson weighting
        (``normalize_poissonian_noise``) reads the data once more before the
        fit, and each ``reproject`` direction once after it; those passes
        are not part of the fit and not counted here.

    Notes
    -----
    Data are processed in float32 when they are float32 or 8/16-bit integers,
    otherwise in float64, one block at a time: integer detector counts never
    have to be converted as a whole. ``X`` is never modified. NumPy arrays and
    dask arrays are accepted; results are NumPy arrays.

    References
    ----------
    N. B. Erichson et al., Pattern Recognition Letters 104 (2018) 1-7.
    N. Halko, P. G. Martinsson and J. A. Tropp, SIAM Review 53 (2011) 217-288.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_rnmf import RandomizedNMF
    >>> rng = np.random.default_rng(0)
    >>> W, H = rng.random((60, 3)), rng.random((3, 40))
    >>> W[:6], H[:, :6] = np.tile(np.eye(3), (2, 1)), np.tile(np.eye(3), (1, 2))
    >>> X = W @ H  # every component has pure rows and columns: identifiable
    >>> model = RandomizedNMF(n_components=3, random_state=0)
    >>> W = model.fit_transform(X)
    >>> W.shape, model.components_.shape
    ((60, 3), (3, 40))
    >>> bool(model.reconstruction_err_ < 1e-3 * np.linalg.norm(X))
    True
    """

    def __init__(
        self,
        n_components=None,
        *,
        init="nndsvdar",
        oversample=10,
        n_power_iter=1,
        tol=1e-4,
        max_iter=500,
        random_state=None,
        alpha_W=0.0,
        alpha_H="same",
        l1_ratio=0.0,
        n_refine_iter=1,
        leverage_sampling=True,
    ):
        self.n_components = n_components
        self.init = init
        self.oversample = oversample
        self.n_power_iter = n_power_iter
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.n_refine_iter = n_refine_iter
        self.leverage_sampling = leverage_sampling

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------------ #
    # validation
    # ------------------------------------------------------------------ #
    def _check_params(self, shape):
        max_k = min(shape)
        if self.n_components is None:
            k = max_k
        else:
            check_int(self.n_components, "n_components", 1, max_k)
            k = int(self.n_components)
        if self.init not in INIT_METHODS:
            raise ValueError(
                f"`init` must be one of {INIT_METHODS}, got {self.init!r}."
            )
        check_int(self.oversample, "oversample", 0)
        check_int(self.n_power_iter, "n_power_iter", 0)
        check_int(self.max_iter, "max_iter", 1)
        check_int(self.n_refine_iter, "n_refine_iter", 0)
        check_real(self.tol, "tol", 0)
        check_real(self.alpha_W, "alpha_W", 0)
        if not (isinstance(self.alpha_H, str) and self.alpha_H == "same"):
            check_real(self.alpha_H, "alpha_H", 0)
        check_real(self.l1_ratio, "l1_ratio", 0, 1)
        if not isinstance(self.leverage_sampling, (bool, np.bool_)):
            raise TypeError(
                "`leverage_sampling` must be True or False, got "
                f"{self.leverage_sampling!r}."
            )
        _check_random_state(self.random_state)
        return k

    def _regularization(self, n_samples, n_features):
        alpha_H = self.alpha_W if self.alpha_H == "same" else self.alpha_H
        l1_W = n_features * self.alpha_W * self.l1_ratio
        l2_W = n_features * self.alpha_W * (1.0 - self.l1_ratio)
        l1_H = n_samples * alpha_H * self.l1_ratio
        l2_H = n_samples * alpha_H * (1.0 - self.l1_ratio)
        return l1_W, l2_W, l1_H, l2_H

    def _validate_X(self, X, reset):
        if is_dask_array(X):
            if X.ndim != 2:
                raise ValueError(f"Expected a 2D array for `X`, got shape {X.shape}.")
            if X.dtype.kind not in "biuf":
                raise ValueError(f"`X` must have a real numeric dtype, got {X.dtype}.")
            if any(np.isnan(size) for size in X.shape):
                raise ValueError(
                    f"`X` has unknown chunk sizes (shape {X.shape}, e.g. after "
                    "boolean indexing); call X.compute_chunk_sizes() first."
                )
            for axis, name in ((0, "sample"), (1, "feature")):
                if X.shape[axis] < 1:
                    raise ValueError(
                        f"Found array with 0 {name}(s) (shape={X.shape}) while a "
                        "minimum of 1 is required by RandomizedNMF."
                    )
            if reset:
                self.n_features_in_ = X.shape[1]
            elif X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} "
                    f"is expecting {self.n_features_in_} features as input."
                )
            return X
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype="numeric",
            ensure_all_finite=False,
            accept_sparse=False,
        )
        if X.dtype.kind == "c":
            raise ValueError(f"`X` must be real, got dtype {X.dtype}.")
        return X

    def _check_custom(self, W, H, shape, k):
        if self.init != "custom":
            if W is not None or H is not None:
                raise ValueError(
                    "`W` and `H` are only used with init='custom', "
                    f"not init={self.init!r}."
                )
            return None
        if W is None or H is None:
            raise ValueError("init='custom' needs both `W` and `H`.")
        factors = []
        for name, value in (("W", W), ("H", H)):
            value = np.asarray(value)
            if value.dtype.kind not in "biuf":
                raise ValueError(
                    f"`{name}` must hold real numbers for init='custom', got dtype "
                    f"{value.dtype}."
                )
            factors.append(value.astype(np.float64))
        W, H = factors
        for name, value, expected in (
            ("W", W, (shape[0], k)),
            ("H", H, (k, shape[1])),
        ):
            if value.shape != expected:
                raise ValueError(
                    f"`{name}` (shape {value.shape}) must have shape {expected} "
                    f"for X of shape {shape} and n_components={k}."
                )
            if not np.all(np.isfinite(value)) or value.min() < 0:
                raise ValueError(
                    f"`{name}` must be finite and non-negative for init='custom'."
                )
        if not (W.any() or H.any()):
            raise ValueError(
                "`W` and `H` are both all zero for init='custom': the "
                "iterations cannot leave a zero start (one of them may be zero)."
            )
        return W, H

    # ------------------------------------------------------------------ #
    # fitting
    # ------------------------------------------------------------------ #
    def fit(self, X, y=None, W=None, H=None):
        """Learn the components of ``X``.

        Parameters
        ----------
        X : array-like or dask array, shape (n_samples, n_features)
            Non-negative data; integer counts are accepted as they are.
        y : ignored
        W, H : array-like, optional
            Initial factors for ``init='custom'``.

        Returns
        -------
        self
        """
        self.fit_transform(X, W=W, H=H)
        return self

    def fit_transform(self, X, y=None, W=None, H=None):
        """Learn the components of ``X`` and return its loadings.

        Parameters
        ----------
        X : array-like or dask array, shape (n_samples, n_features)
        y : ignored
        W, H : array-like, optional
            Initial factors for ``init='custom'``.

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_components)
            The loadings, equal to ``self.transform(X)``.
        """
        X = self._validate_X(X, reset=True)
        return self._fit_operand(make_operand(X), W=W, H=H)

    def _fit_operand(self, operand, W=None, H=None):
        """Fit on an operand (the data seen through masks and scaling)."""
        k = self._check_params(operand.shape)
        self.n_features_in_ = operand.shape[1]
        custom = self._check_custom(W, H, operand.shape, k)
        rng = check_random_state(self.random_state)
        size = min(k + self.oversample, min(operand.shape))
        sketch = qb_sketch(operand, size, self.n_power_iter, rng, check_fit_data_stats)
        return self._fit_sketch(operand, sketch, k, rng, custom)

    def _fit_sketch(self, operand, sketch, k, rng, custom=None):
        """Factorize a sketch and project the data on the components."""
        W, H, n_iter = self._factorize_sketch(operand, sketch, k, rng, custom)
        for i in range(self.n_refine_iter):
            if i > 0:
                W = self._project(operand, H, exact_residual=False)[0]
            H = self._update_components(operand, W, H)
        components, scale = split_scale(H)
        components = components.astype(operand.dtype)  # as stored: see at_fit_scale
        before = operand.residual_passes
        loadings, residual, _ = self._project(operand, components, scale)
        n_passes = sketch.n_passes + max(1, 2 * self.n_refine_iter)
        return self._set_fitted(
            components,
            scale,
            loadings,
            residual,
            n_iter,
            n_passes + operand.residual_passes - before,
        )

    def _factorize_sketch(self, operand, sketch, k, rng, custom=None):
        """Initial factors from the sketch and HALS on it: ``(W, H, n_iter)``."""
        with single_blas_thread():
            return self._factorize_sketch_work(operand, sketch, k, rng, custom)

    def _factorize_sketch_work(self, operand, sketch, k, rng, custom):
        n_samples, n_features = operand.shape
        mean = sketch.stats.total / max(n_samples * n_features, 1)
        l1_W, l2_W, l1_H, l2_H = self._regularization(n_samples, n_features)
        shape_u = (sketch.Q.shape[0], k)
        shape_v = (k, sketch.B.shape[1])
        if custom is not None:
            W0, H0 = custom
            U, V = (H0.T.copy(), W0.T.copy()) if sketch.transposed else (W0, H0)
        elif self.init == "random":
            U, V = random_init(shape_u, shape_v, k, mean, rng)
        elif self.init == "spa":
            U, V = spa_from_sketch(sketch.Q, sketch.B, k, sketch.transposed)
        else:
            U, V = nndsvd_from_sketch(sketch.Q, sketch.B, k, self.init, mean, rng)
        if sketch.transposed:
            penalties = dict(l1_u=l1_H, l2_u=l2_H, l1_v=l1_W, l2_v=l2_W)
        else:
            penalties = dict(l1_u=l1_W, l2_u=l2_W, l1_v=l1_H, l2_v=l2_H)
        U, V, n_iter, converged = sampled_hals(
            sketch.Q,
            sketch.B,
            U,
            V,
            rng=rng if self.leverage_sampling else None,
            max_iter=self.max_iter,
            tol=self.tol,
            # |X|^2 from the first pass: the warm exit watches the data's error
            outside_sq=sketch.stats.sum_squares - float(np.vdot(sketch.B, sketch.B)),
            **penalties,  # in float64 for any data: see compressed_hals
        )
        if not converged:
            warnings.warn(
                f"Maximum number of iterations {self.max_iter} reached. "
                "Increase it to improve convergence.",
                ConvergenceWarning,
                stacklevel=_caller_level(),
            )
        W, H = (V.T, U.T) if sketch.transposed else (U, V)
        return W, H, n_iter

    def _set_fitted(self, H, scale, loadings, residual, n_iter, n_passes):
        """Sort by prominence, store the fitted attributes, return the loadings.

        ``H`` has rows summing to one and ``scale`` their sums at the fit
        (kept as ``_scale_`` for the penalties of :meth:`transform`).
        """
        order = np.argsort(-loadings.sum(axis=0, dtype=np.float64), kind="stable")
        self.components_ = np.ascontiguousarray(H[order], dtype=loadings.dtype)
        self._scale_ = np.asarray(scale, dtype=np.float64)[order]
        self.n_components_ = H.shape[0]
        self.n_iter_ = n_iter
        self.reconstruction_err_ = float(np.sqrt(residual))
        self.n_passes_ = n_passes
        return np.ascontiguousarray(loadings[:, order])

    def _update_components(self, operand, W, H=None, check=False):
        """Update ``H`` for fixed ``W`` on the full data (one pass).

        With ``check``, data not seen by the fit (e.g. masked pixels being
        reprojected) are checked in the same pass: NaN, inf or negative values
        raise.
        """
        W = np.asarray(W, dtype=np.float64)
        if check:
            stats, XtW = operand.stats_and_rmatmul(W.astype(operand.dtype))
            check_data_stats(stats)
            WtX = XtW.T
        else:
            WtX = operand.rmatmul(W.astype(operand.dtype)).T
        return self._solve_components(W, WtX, H, operand.shape)

    def _solve_components(self, W, WtX, H, shape):
        """``H >= 0`` minimising ``|X - W H|`` given ``W`` and ``W.T @ X``.

        From a current ``H``, HALS sweeps until they change ``H`` by less than
        0.1 % (at most 20); without one, exact NNLS per column.
        """
        with single_blas_thread():
            return self._solve_components_work(W, WtX, H, shape)

    def _solve_components_work(self, W, WtX, H, shape):
        _, _, l1_H, l2_H = self._regularization(*shape)
        W = np.asarray(W, dtype=np.float64)
        gram = W.T @ W
        if H is None:
            rtol = np.finfo(WtX.dtype).eps  # W.T @ X in the data's precision
            return nnls_gram(gram, WtX, l1=l1_H, l2=l2_H, rtol=rtol)
        H = np.array(H, dtype=np.float64, order="C")
        size = float(np.vdot(H, H))
        sweep_until(H, gram, WtX, l1_H, l2_H, max_sweeps=20, threshold=1e-6 * size)
        return H

    def _project(
        self, operand, components, scale=None, with_stats=False, exact_residual=True
    ):
        """Loadings of the rows of ``operand`` (one pass): ``(W, residual, stats)``.

        With ``scale``, ``components`` sum to one per row and ``scale`` holds
        the sums at the fit: the loadings are solved against the components
        at that scale, where the penalties apply, and then rescaled, so that
        ``W @ components`` is the penalized fit.
        """
        n_samples, n_features = operand.shape
        l1_W, l2_W, _, _ = self._regularization(n_samples, n_features)
        if scale is not None:
            components = at_fit_scale(components, scale)
        components = np.asarray(components, dtype=np.float64)
        gram = components @ components.T
        loadings, residual, stats = operand.project(
            components.astype(operand.dtype),
            gram,
            l1_W,
            l2_W,
            with_stats,
            exact_residual,
        )
        if scale is not None and loadings is not None:
            loadings = (loadings * scale).astype(loadings.dtype)
        return loadings, residual, stats

    def _project_loadings(self, operand, with_stats=False):
        """:meth:`_project` on the fitted components (models pickled before
        ``_scale_`` existed solve against ``components_`` as they are)."""
        scale = getattr(self, "_scale_", None)
        return self._project(operand, self.components_, scale, with_stats)

    def _reproject_components(self, operand, loadings):
        """Components (rows summing like ``components_``: to one on the fitted
        features) of all columns of ``operand`` for the given ``loadings``
        (one pass; the data read are checked). Used for masked pixels."""
        scale = getattr(self, "_scale_", np.ones(self.n_components_))
        H = self._update_components(operand, np.asarray(loadings) / scale, check=True)
        return H / scale[:, None]

    # ------------------------------------------------------------------ #
    # transforms
    # ------------------------------------------------------------------ #
    def transform(self, X):
        """Loadings of ``X`` by non-negative least squares against the components.

        Each row is solved on its own (block principal pivoting), so the
        result of a row does not depend on the other rows or on chunking,
        up to the round-off of the product ``X @ components_.T`` in the
        data's precision (BLAS may round a single row differently from a
        block: about 1e-6 relative for float32 data).

        Parameters
        ----------
        X : array-like or dask array, shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        loadings, _, stats = self._project_loadings(make_operand(X), with_stats=True)
        check_data_stats(stats)
        return loadings

    def inverse_transform(self, X):
        """Data reconstructed from loadings: ``X @ components_``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_components)
            Loadings, e.g. the output of :meth:`transform`.

        Returns
        -------
        numpy.ndarray or dask.array.Array, shape (n_samples, n_features)
            A dask array (not computed) for dask loadings: the reconstruction
            of lazy data is as large as the data.
        """
        check_is_fitted(self)
        if scipy.sparse.issparse(X):
            raise TypeError(
                "`X` must be a dense array of loadings, got a sparse "
                f"{type(X).__name__}; convert it with X.toarray()."
            )
        if not is_dask_array(X):
            X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_components_:
            raise ValueError(
                f"`X` (shape {X.shape}) must have shape (n_samples, "
                f"{self.n_components_}) to be multiplied by the components."
            )
        return X @ self.components_

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

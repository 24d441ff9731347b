"""Reduced pair distribution function G(r) from electron I(Q), vectorised.

For probe positions ``i`` and a uniform grid ``Q_j`` (1/Å, ``Q = 2 pi / d``):

1. **Normalisation.** At high ``Q`` the structure factor ``S(Q) -> 1`` and the
   measured intensity is ``I(Q) ~ a <f^2>(Q) + B(Q)``: the scale ``a`` and a
   polynomial background ``B`` of degree ``background_degree`` are fitted
   together by linear least squares over ``fit_range``, with weights
   ``Q / <f>^2``: the residuals are then ``a F(Q)``, so the fit makes ``F(Q)``
   oscillate around zero where it is weighted in ``G(r)``.
2. **Structure functions.** ``S(Q) = 1 + (I - a <f^2> - B) / (a <f>^2)`` and
   ``F(Q) = Q [S(Q) - 1]`` over ``[qmin, qmax]``.
3. **Ad hoc correction** (optional, PDFgetX3, Juhás et al. 2013). A polynomial
   without constant term, of degree ``n = max(1, round(rpoly qmaxinst / pi))``,
   is fitted to ``F(Q)`` over ``[qmin, qmaxinst]`` and subtracted. It removes
   slowly varying errors (inelastic and multiple scattering, a wrong
   background) at the price of ``G(r)`` below about ``rpoly``, and also removes
   part of the low-``Q`` ramp ``F -> -Q`` that carries the slope
   ``-4 pi rho0 r``: number densities read from a corrected ``G(r)`` are low
   unless ``rpoly`` is well below the first pair distance.
4. **Low-Q extension.** Below ``qmin`` (beam stop, direct beam) ``S(Q)`` is
   taken as constant, ``F(Q) = c Q`` with ``c`` the mean of ``F / Q`` over the
   first ``low_q_width`` of the data: for dense matter ``S -> S(0) ~ 0`` and
   ``F -> -Q``, the behaviour the low-``r`` slope needs. ``low_q="zero"`` sets
   ``F = 0`` there instead (``G`` from ``qmin`` only, as PDFgetX3 does).
5. **Transform.** Optional Lorch window ``sin(pi Q / qmax) / (pi Q / qmax)``,
   then ``G(r) = (2 / pi) sum_j F(Q_j) sin(Q_j r) dQ`` over ``[0, qmax]``.

Every step is linear in ``I`` except the division by ``a``: with the matrices
built once by :class:`PDFTransform`, ``G`` for all probe positions is three
matrix products.

References
----------
P. Juhás, T. Davis, C. L. Farrow and S. J. L. Billinge, J. Appl. Cryst. 46
(2013) 560-566.
E. Lorch, J. Phys. C 2 (1969) 229-237.
"""

import numpy as np
from numpy.polynomial import legendre

__all__ = ["PDFTransform", "polynomial_degree", "default_q_ranges"]

DIRECT_BEAM_MAX_Q = 0.75  # 1/Å: a maximum of I(Q) below this is the direct beam
#: 1/Å: the first ring (or diffuse maximum) of condensed matter lies below this
#: (d > 1.26 Å), so the valley before it does too.
FIRST_VALLEY_MAX_Q = 5.0
#: 1/Å: width (sigma) of the smoothing of the mean I(Q) before its valleys are
#: searched, in Q rather than in bins, so that coarse grids are not smoothed
#: over the valley itself.
SMOOTHING_Q = 0.075


def polynomial_degree(rpoly, qmaxinst):
    """Degree of the ad hoc correction polynomial: ``round(rpoly qmaxinst / pi)``."""
    return max(1, int(round(rpoly * qmaxinst / np.pi)))


def _zero_constant_basis(q, scale, degree):
    """``x P_{k-1}(2x - 1)``, ``x = q / scale``, k = 1..degree (well conditioned)."""
    x = np.asarray(q, dtype=np.float64) / scale
    columns = [x * legendre.legval(2 * x - 1, np.eye(degree)[k]) for k in range(degree)]
    return np.stack(columns, axis=1)


def default_q_ranges(q, mean_intensity, *, fit_fraction=0.7):
    """Data-driven ``qmin``, ``qmax`` and normalisation fit range.

    Parameters
    ----------
    q : numpy.ndarray
        Uniform Q grid (1/Å).
    mean_intensity : numpy.ndarray
        I(Q) averaged over the navigation (NaN where no pixel contributed).
    fit_fraction : float
        Upper fraction of ``[qmin, qmax]`` used to fit scale and background.

    Returns
    -------
    dict
        ``qmin``, ``qmax``, ``fit_range`` and ``qmin_rule`` (how ``qmin`` was
        chosen).

    Notes
    -----
    ``qmax`` is the last Q with data. If the smoothed mean I(Q) has its
    maximum below ``Q = 0.75 1/Å`` (the direct beam; diffuse rings of
    condensed matter lie above ``Q ~ 1 1/Å``), ``qmin`` is the first valley
    after it, between the direct beam and the first ring, searched below
    ``Q = 5 1/Å`` on the mean I(Q) smoothed over ``0.075 1/Å``; otherwise
    (direct beam masked or outside the range, or no such valley) ``qmin`` is
    the first Q > 0 with data.
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    # Q = 0 carries no structure (F(0) = 0 whatever the data): never qmin
    finite = np.flatnonzero(np.isfinite(mean_intensity) & (np.asarray(q) > 0))
    if finite.size < 8:
        raise ValueError(
            f"I(Q) has only {finite.size} finite values at Q > 0: at least 8 are "
            "needed."
        )
    first, last = finite[0], finite[-1]
    y = np.asarray(mean_intensity[first : last + 1], dtype=np.float64)
    good = np.isfinite(y)
    y = np.where(good, y, np.interp(np.arange(y.size), np.flatnonzero(good), y[good]))
    qs = np.asarray(q[first : last + 1], dtype=np.float64)
    # smoothing of 1.5 bins (0.375 1/Å on a 0.25 1/Å grid) filled the valley
    # after the direct beam, and a noise valley near 7 1/Å became qmin
    sigma = SMOOTHING_Q / float(qs[1] - qs[0])
    smooth = gaussian_filter1d(y, sigma, mode="nearest") if sigma >= 0.5 else y
    top = int(np.argmax(smooth[: max(2, y.size // 2)]))
    start, rule = 0, "first Q > 0 with data (no direct beam below Q = 0.75 1/Å)"
    if qs[top] < DIRECT_BEAM_MAX_Q:
        # the valley is searched up to 1 1/Å beyond its limit (room for its
        # prominence), on log I(Q) where positive: zero counts further out
        # (low doses, unsmoothed coarse grids) must not force the linear scale
        stop = max(top + 3, int(np.searchsorted(qs, FIRST_VALLEY_MAX_Q + 1.0)))
        window = smooth[top:stop]
        positive = bool(np.all(window > 0))
        curve = np.log(window) if positive else window
        prominence = 0.02 if positive else 0.01 * np.ptp(window)
        valleys, _ = find_peaks(-curve, prominence=prominence)
        valleys = valleys + top
        valleys = valleys[(valleys < y.size // 2) & (qs[valleys] < FIRST_VALLEY_MAX_Q)]
        if valleys.size:
            start = int(valleys[0])
            rule = "first valley of the mean I(Q) after the direct beam"
        else:
            rule = "first Q > 0 with data (no valley after the direct beam)"
    qmin = float(q[first + start])
    qmax = float(q[last])
    fit_lo = qmax - fit_fraction * (qmax - qmin)
    return {
        "qmin": qmin,
        "qmax": qmax,
        "fit_range": (float(fit_lo), qmax),
        "qmin_rule": rule,
    }


class PDFTransform:
    """The matrices of the I(Q) -> S(Q), F(Q), G(r) transform for one Q grid.

    Parameters are validated by the caller (see
    :meth:`hyperspy_rnmf.signals.epdf.ePDFSignal1D.get_pdf`); this class only
    builds the matrices and applies them.

    Parameters
    ----------
    q : numpy.ndarray
        Uniform, increasing Q grid of the data (1/Å).
    mean_f, mean_f2 : numpy.ndarray
        ``<f>(Q)`` and ``<f^2>(Q)`` on ``q``.
    qmin, qmax, qmaxinst : float
        Transform range and upper limit of the useful data (polynomial fit).
    fit_range : (float, float)
        Q range of the scale and background fit.
    background_degree : int
        Degree of the additive background polynomial (``-1`` for none).
    rpoly : float or None
        Ad hoc correction ``r`` limit (Å); ``None`` for no correction.
    lorch : bool
        Apply the Lorch window.
    r : numpy.ndarray
        ``r`` grid of G(r) (Å).
    low_q : {"linear", "zero"}
        ``F(Q)`` below ``qmin``.
    low_q_width : float
        Q width (1/Å) over which ``F / Q`` is averaged for ``low_q="linear"``.
    """

    def __init__(
        self,
        q,
        mean_f,
        mean_f2,
        *,
        qmin,
        qmax,
        qmaxinst,
        fit_range,
        background_degree,
        rpoly,
        lorch,
        r,
        low_q="linear",
        low_q_width=0.25,
    ):
        q = np.asarray(q, dtype=np.float64)
        step = (q[-1] - q[0]) / (q.size - 1)
        tol = 1e-6 * step
        self.q = q
        self.r = np.asarray(r, dtype=np.float64)
        self.fit_index = np.flatnonzero(
            (q >= fit_range[0] - tol) & (q <= fit_range[1] + tol)
        )
        # F(Q) is needed up to qmaxinst (polynomial fit), G uses it up to qmax
        self.index = np.flatnonzero(
            (q >= qmin - tol) & (q <= max(qmax, qmaxinst) + tol)
        )
        qt = q[self.index]
        self.output = qt <= qmax + tol
        self.q_transform = qt[self.output]

        # 1. scale and background: coefficients = I[:, fit] @ pinv(design).T
        qf = q[self.fit_index]
        f2_norm = mean_f2[self.fit_index].max()
        self._basis = self._normalisation_basis(
            q, mean_f2, f2_norm, fit_range, background_degree
        )
        # weights Q / <f>^2: the residuals are a * F(Q), so the fit makes
        # F(Q) oscillate around zero over the fit range
        weights = qf / mean_f[self.fit_index] ** 2
        weights = weights / weights.max()
        design = self._basis[self.fit_index] * weights[:, None]
        self._pinv = np.linalg.pinv(design) * weights[None, :]  # (p, n_fit)
        self._f2_norm = f2_norm

        # 2. F = h * (I - a f2 - B) / a on the transform range
        self._h = qt / mean_f[self.index] ** 2

        # 3. ad hoc polynomial correction, as one (n_t, n_t) operator
        # F @ (I - P), with P = (fit rows) coefficients.T @ phi.T of rank deg,
        # kept as its factors: the dense (n_t, n_t) operator took 18 MB at
        # 1500 Q points in every pickled task
        n_t = qt.size
        self._correction = None  # the identity
        self.poly_degree = None
        if rpoly is not None:
            self.poly_degree = polynomial_degree(rpoly, qmaxinst)
            fit = qt <= qmaxinst + tol
            phi = _zero_constant_basis(qt, qmaxinst, self.poly_degree)
            coefficients = np.linalg.pinv(phi[fit])  # (deg, n_fit)
            self._correction = (np.flatnonzero(fit), coefficients.T, phi.T)

        # 4.-5. low-Q extension, Lorch window and sine transform: (n_t, n_r),
        # built when G(r) is first asked for
        self._sine_options = (qt, step, qmax, lorch, low_q, low_q_width, tol)
        self.low_q_points = 0
        if low_q == "linear" and qt[0] - step > 0:
            k = max(1, int(np.sum(qt <= qt[0] + low_q_width + tol)))
            self.low_q_points = min(k, n_t)
        self._kernel_cache = None

    def _kernel(self):
        """``correction @ sine``: the (n_t, n_r) matrix from F(Q) to G(r)."""
        if self._kernel_cache is None:
            self._kernel_cache = self._build_kernel()
        return self._kernel_cache

    def _build_kernel(self):
        qt, dq, qmax, lorch, low_q, low_q_width, tol = self._sine_options
        n_t = qt.size
        sine = self._sine_matrix(qt, dq, qmax, lorch)
        sine[~self.output] = 0.0
        if low_q == "linear":
            q_ext = qt[0] - dq * np.arange(1, int(np.floor(qt[0] / dq + 0.5)) + 1)
            q_ext = q_ext[q_ext > 0]
            if q_ext.size:
                k = self.low_q_points
                # F_ext = (F[:, :k] @ (1 / (k q_j))) * q_ext
                mean_ratio = np.zeros((n_t, 1))
                mean_ratio[:k, 0] = 1.0 / (k * qt[:k])
                extension = mean_ratio @ q_ext[None, :]  # (n_t, n_ext)
                sine = sine + extension @ self._sine_matrix(q_ext, dq, qmax, lorch)
        if self._correction is None:
            return sine
        fit, left, right = self._correction  # sine - P @ sine
        kernel = sine.copy()
        kernel[fit] -= left @ (right @ sine)
        return kernel

    def __getstate__(self):
        """Pickled without the kernel (Q x r, about 15 MB for the default
        grids): the lazy transforms' tasks carry this object to
        dask.distributed workers, and a graph of that size made distributed
        warn ("Sending large graph") on every call. Each process builds it
        when it first needs it (never for S(Q) and F(Q), nor on the
        scheduler)."""
        state = dict(self.__dict__)
        state["_kernel_cache"] = None
        return state

    @staticmethod
    def _normalisation_basis(q, mean_f2, f2_norm, fit_range, degree):
        lo, hi = fit_range
        x = (q - lo) / (hi - lo)
        columns = [mean_f2 / f2_norm] + [x**k for k in range(degree + 1)]
        return np.stack(columns, axis=1)

    def _sine_matrix(self, q, dq, qmax, lorch):
        weights = np.full(q.shape, dq * 2.0 / np.pi)
        if lorch:
            weights = weights * np.sinc(q / qmax)  # numpy sinc: sin(pi x)/(pi x)
        return weights[:, None] * np.sin(np.outer(q, self.r))

    def normalise(self, intensity):
        """Fitted scale ``a`` (n,) and ``a <f^2> + B`` on the transform range."""
        intensity = np.asarray(intensity, dtype=np.float64)
        coefficients = intensity[:, self.fit_index] @ self._pinv.T  # (n, p)
        model = coefficients @ self._basis[self.index].T
        scale = coefficients[:, 0] / self._f2_norm
        return scale, model

    def ad_hoc_correction(self, fq):
        """Subtract the fitted polynomial from ``F(Q)`` (n, n_t) on
        ``[qmin, max(qmax, qmaxinst)]`` (identity when ``rpoly`` is None)."""
        return self._corrected(np.asarray(fq, dtype=np.float64))

    def _corrected(self, fq):
        """``F @ (I - P)`` (a copy; the identity without ``rpoly``)."""
        if self._correction is None:
            return fq.copy()
        fit, left, right = self._correction
        return fq - (fq[:, fit] @ left) @ right

    def _fq(self, intensity, corrected):
        intensity = np.asarray(intensity, dtype=np.float64)
        # patterns with NaN or inf where they are used: NaN scale and F(Q),
        # computed from zeros so that no product sees them (inf - inf)
        used = np.union1d(self.index, self.fit_index)
        bad = ~np.isfinite(intensity[:, used]).all(axis=1)
        if bad.any():
            intensity = np.where(bad[:, None], 0.0, intensity)
        scale, model = self.normalise(intensity)
        scale[bad] = np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            safe = np.where(scale > 0, scale, np.nan)
            fq = self._h * (intensity[:, self.index] - model) / safe[:, None]
        if corrected and self._correction is not None:
            good = np.isfinite(fq).all(axis=1)  # NaN rows stay NaN, unmixed
            fq = np.where(good[:, None], fq, np.nan)
            fq[good] = self._corrected(fq[good])
        return fq, scale

    def reduced_structure_function(self, intensity):
        """``F(Q)`` (n, n_q) on ``[qmin, qmax]`` (corrected) and the scale (n,).

        The scale is NaN, and so are ``F``, ``S`` and ``G``, where the fitted
        scale is not positive (no scattering above the background).
        """
        fq, scale = self._fq(intensity, corrected=True)
        return fq[:, self.output], scale

    def structure_factor(self, intensity):
        """``S(Q) = 1 + F(Q) / Q`` (n, n_q) and the scale (n,)."""
        fq, scale = self.reduced_structure_function(intensity)
        return 1.0 + fq / self.q_transform, scale

    def reduced_pdf(self, intensity):
        """``G(r)`` (n, n_r) and the fitted scale (n,)."""
        fq, scale = self._fq(intensity, corrected=False)
        return _finite_rows_times(fq, self._kernel()), scale


def _finite_rows_times(rows, matrix):
    """``rows @ matrix``, NaN for the rows holding NaN (without products of them)."""
    good = np.isfinite(rows).all(axis=1)
    if good.all():
        return rows @ matrix
    out = np.full((rows.shape[0], matrix.shape[1]), np.nan)
    out[good] = rows[good] @ matrix
    return out

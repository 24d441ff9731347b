"""HyperSpy signals for electron pair distribution functions (ePDF).

* :class:`ePDFSignal1D` (``signal_type="electron_pdf_intensity"``, alias
  ``"ePDF"``): azimuthally integrated intensity I(Q), ``Q = 4 pi sin(theta) /
  lambda = 2 pi / d`` in 1/Å. Made by
  :func:`hyperspy_rnmf.integration.integrate_azimuthal`.
* :class:`ePDFStructureFactor1D` (``"electron_structure_factor"``) S(Q),
  :class:`ePDFReducedStructureFunction1D`
  (``"electron_reduced_structure_function"``) F(Q) = Q [S(Q) - 1] and
  :class:`ePDFReducedPDF1D` (``"electron_reduced_pdf"``) G(r).

The classes only validate, call the pure NumPy functions of
``hyperspy_rnmf._scattering``, ``_azimuthal``, ``_pdf_transform`` and
``_pdf_analysis`` over all probe positions at once, and return signals with
calibrated axes; parameters and the choices made go into
``metadata.Signal.ePDF``.
"""

import numbers

import numpy as np
from hyperspy._signals.lazy import LazySignal
from hyperspy.signals import LazySignal1D, Signal1D

from hyperspy_rnmf import _pdf_analysis, _pdf_transform, _scattering
from hyperspy_rnmf.signals._common import (
    _apply_rows,
    _is_lazy,
    _mean_rows,
    _nav_axes_dicts,
    _nav_map,
    _new_signal,
    _real,
)

__all__ = [
    "ePDFSignal1D",
    "LazyePDFSignal1D",
    "ePDFStructureFactor1D",
    "LazyePDFStructureFactor1D",
    "ePDFReducedStructureFunction1D",
    "LazyePDFReducedStructureFunction1D",
    "ePDFReducedPDF1D",
    "LazyePDFReducedPDF1D",
]

Q_CONVENTION = "Q = 4 pi sin(theta) / lambda = 2 pi / d"
# Reciprocal-space axis units -> factor to 1/Å. pyxem writes "$A^{-1}$" and
# "k_*" for s = 1/d and "q_*" for Q = 2 pi / d; other spellings of 1/Å or
# 1/nm say nothing about the 2 pi, so a 2D calibration in them needs
# `convention`. The Q axis of an ePDFSignal1D in PLAIN_ANGSTROM units is Q.
PYXEM_S_UNITS = {"$A^{-1}$": 1.0, "k_A^-1": 1.0, "k_nm^-1": 0.1}
PYXEM_Q_UNITS = {"q_A^-1": 1.0, "q_nm^-1": 0.1}
PLAIN_ANGSTROM = {"1/Å", "1/A", "Å^-1", "A^-1", "Å⁻¹", "A-1", "$\\AA^{-1}$", "Å$^{-1}$"}
PLAIN_NM = {"1/nm", "nm^-1", "nm-1", "nm⁻¹", "nm$^{-1}$"}
R_ANGSTROM = {"Å", "A", "Angstrom", "angstrom", "$\\AA$"}
TRANSFORM_BLOCK = 8192  # probe positions per block of get_pdf


def _check_q_axis(signal):
    """The Q axis of ``signal``: uniform, calibrated in 1/Å (Q convention), Q >= 0."""
    axis = signal.axes_manager.signal_axes[0]
    units = "" if axis.units in (None, "<undefined>") else str(axis.units)
    if not axis.is_uniform:
        raise ValueError(
            f"The Q axis {axis.name!r} is non-uniform: the transform needs a uniform "
            "Q grid; interpolate the data onto one (s.interpolate_on_axis)."
        )
    if units in PYXEM_S_UNITS:
        raise ValueError(
            f"The Q axis units {units!r} mean s = 1/d (pyxem's convention); "
            f"ePDFSignal1D needs {Q_CONVENTION} in 1/Å: multiply the axis scale "
            f"and offset by {2 * np.pi * PYXEM_S_UNITS[units]:.6g} and set "
            "units='1/Å'."
        )
    if units in PLAIN_NM or units == "q_nm^-1":
        raise ValueError(
            f"The Q axis units {units!r} are 1/nm: divide the axis scale and offset "
            "by 10 and set units='1/Å'."
        )
    if units not in PLAIN_ANGSTROM and units != "q_A^-1":
        raise ValueError(
            f"The Q axis is not calibrated: units {units!r} (scale {axis.scale:g}, "
            f"offset {axis.offset:g}); calibrate it in 1/Å with {Q_CONVENTION}, "
            f"units one of {sorted(PLAIN_ANGSTROM | {'q_A^-1'})}."
        )
    if not axis.scale > 0:
        raise ValueError(f"The Q axis scale must be positive, got {axis.scale:g}.")
    if axis.offset < -1e-9 * axis.scale:
        raise ValueError(
            f"The Q axis must be non-negative: it starts at Q = {axis.offset:g} 1/Å."
        )
    return axis.axis.astype(np.float64)


def _composition(signal, composition):
    if composition is None:
        composition = signal.metadata.get_item("Signal.ePDF.composition")
        if hasattr(composition, "as_dictionary"):  # a dict stored in metadata
            composition = composition.as_dictionary()
    if composition is None:
        raise ValueError(
            "`composition` is required: pass a formula such as 'SiO2' or a dict of "
            "element fractions such as {'Si': 1, 'O': 2} (or set "
            "metadata.Signal.ePDF.composition)."
        )
    return _scattering.parse_composition(composition)


def _titled(signal, what):
    """``"<title> <what>"``, or ``what`` alone for an untitled signal."""
    return f"{signal.metadata.General.title} {what}".strip()


def _check_range(name, value, low, high, bounds=None):
    """``value`` as a float in ``[low, high]``; ``bounds`` names the limits
    when they are not those of the data (e.g. "[qmin, qmaxinst]")."""
    if not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number (1/Å), got {value!r}.")
    if value < low - 1e-9 or value > high + 1e-9:
        if bounds is None:
            where = "beyond the data" if value > high else "below the data"
            raise ValueError(
                f"`{name}` = {value:g} 1/Å is {where}: the data cover Q = {low:g} "
                f"to {high:g} 1/Å."
            )
        raise ValueError(
            f"`{name}` = {value:g} 1/Å is outside {bounds} = [{low:g}, {high:g}] 1/Å."
        )
    return float(value)


# ------------------------------------------------------------ I(Q) signal


class ePDFSignal1D(Signal1D):
    """Azimuthally integrated electron diffraction intensity I(Q).

    The signal axis is ``Q = 4 pi sin(theta) / lambda = 2 pi / d`` in 1/Å
    (pyxem's ``s = 1 / d`` is ``Q / (2 pi)``). Each navigation position (probe
    position, or NMF component) holds one I(Q). Create it with
    :func:`integrate_azimuthal`, or from any calibrated ``Signal1D`` with
    ``s.set_signal_type("ePDF")``.
    """

    _signal_type = "electron_pdf_intensity"

    # -- shared set-up of the three transforms
    def _transform(
        self,
        composition,
        scattering_factors,
        qmin,
        qmax,
        qmaxinst,
        fit_range,
        background_degree,
        rpoly,
        lorch,
        low_q,
        r,
    ):
        q = _check_q_axis(self)
        fractions = _composition(self, composition)
        if scattering_factors not in _scattering.SCATTERING_FACTOR_TABLES:
            raise ValueError(
                f"`scattering_factors` must be one of "
                f"{_scattering.SCATTERING_FACTOR_TABLES}, got {scattering_factors!r}."
            )
        if not isinstance(lorch, (bool, np.bool_)):
            raise ValueError(f"`lorch` must be True or False, got {lorch!r}.")
        if low_q not in ("linear", "zero"):
            raise ValueError(f"`low_q` must be 'linear' or 'zero', got {low_q!r}.")
        if rpoly is not None:
            rpoly = _real("rpoly", rpoly, "a positive number (Å) or None")
            if not rpoly > 0:
                raise ValueError(
                    f"`rpoly` must be positive (Å) or None, got {rpoly:g}."
                )
        if background_degree is not None and (
            isinstance(background_degree, bool)
            or not isinstance(background_degree, numbers.Integral)
            or background_degree < 0
        ):
            raise ValueError(
                "`background_degree` must be a non-negative integer or None, got "
                f"{background_degree!r}."
            )
        degree = -1 if background_degree is None else int(background_degree)
        if q.size < 8:
            raise ValueError(f"The Q axis has {q.size} points: at least 8 are needed.")
        lazy = self._lazy
        # bins without a finite value in any pattern (masked, empty) cannot be
        # inside the transform's range; a pattern with NaN or inf elsewhere
        # gets a NaN G(r) on its own (see _warn_bad_scale)
        mean, finite = _mean_rows(self.data, lazy, with_finite=True)
        defaults = _pdf_transform.default_q_ranges(q, mean)
        lo, hi = float(q[0]), float(q[-1])
        qmin_rule = "given"
        if qmin is None:
            qmin, qmin_rule = defaults["qmin"], defaults["qmin_rule"]
        qmin = _check_range("qmin", qmin, lo, hi)
        if not qmin > 0:
            raise ValueError(
                f"`qmin` must be positive, got {qmin:g}: F(Q) = Q [S(Q) - 1] is 0 "
                "at Q = 0 whatever the data, and S(Q) = 1 + F(Q) / Q is undefined "
                "there (below qmin, `low_q` extends F(Q) to Q = 0)."
            )
        qmax = defaults["qmax"] if qmax is None else qmax
        qmax = _check_range("qmax", qmax, lo, hi)
        if qmax <= qmin:
            raise ValueError(
                f"`qmax` ({qmax:g}) must be larger than `qmin` ({qmin:g})."
            )
        tol = 1e-9 * (q[1] - q[0])
        n_inside = int(np.sum((q >= qmin - tol) & (q <= qmax + tol)))
        if n_inside < 2:
            raise ValueError(
                f"[`qmin`, `qmax`] = [{qmin:g}, {qmax:g}] 1/Å holds {n_inside} "
                f"point(s) of the Q grid (step {q[1] - q[0]:g} 1/Å): at least 2 are "
                "needed."
            )
        qmaxinst = qmax if qmaxinst is None else qmaxinst
        qmaxinst = _check_range("qmaxinst", qmaxinst, lo, hi)
        if qmaxinst < qmax - 1e-9:
            raise ValueError(
                f"`qmaxinst` ({qmaxinst:g}) must be at least `qmax` ({qmax:g})."
            )
        fit_rule = "given"
        if fit_range is None:
            fit_range = (qmax - 0.7 * (qmax - qmin), qmax)
            fit_rule = "upper 70% of [qmin, qmax]"
        try:
            f_lo, f_hi = fit_range
        except (TypeError, ValueError):
            raise ValueError(
                f"`fit_range` must be a pair (low, high) in 1/Å, got {fit_range!r}."
            ) from None
        bounds = "[qmin, qmaxinst]"
        f_lo = _check_range("fit_range[0]", f_lo, qmin, qmaxinst, bounds)
        f_hi = _check_range("fit_range[1]", f_hi, qmin, qmaxinst, bounds)
        step = q[1] - q[0]
        n_fit = int(np.floor((f_hi - f_lo) / step + 1e-6)) + 1
        if f_hi <= f_lo or n_fit < degree + 4:
            raise ValueError(
                f"`fit_range` ({f_lo:g}, {f_hi:g}) must be increasing and hold at "
                f"least {degree + 4} Q points for `background_degree`={degree}."
            )
        window = (q >= qmin - 1e-9) & (q <= qmaxinst + 1e-9)
        bad = ~finite[window]
        if bad.any():  # lazy or not: checked on the pass that gave the mean
            first_bad = q[window][np.argmax(bad)]
            raise ValueError(
                f"I(Q) is NaN or infinite in every pattern at Q = {first_bad:g} "
                f"1/Å, inside [qmin, qmaxinst] = [{qmin:g}, {qmaxinst:g}] (masked "
                "or empty bins?): choose `qmin`/`qmax` within the measured range."
            )
        mean_f, mean_f2 = _scattering.scattering_moments(
            fractions, q, scattering_factors
        )
        transform = _pdf_transform.PDFTransform(
            q,
            mean_f,
            mean_f2,
            qmin=qmin,
            qmax=qmax,
            qmaxinst=qmaxinst,
            fit_range=(f_lo, f_hi),
            background_degree=degree,
            rpoly=rpoly,
            lorch=bool(lorch),
            r=r,
            low_q=low_q,
        )
        record = {
            "composition": dict(fractions),
            "composition_formula": _scattering.format_composition(fractions),
            "scattering_factors": scattering_factors,
            "scattering_factors_reference": _scattering.REFERENCES[scattering_factors],
            "q_convention": Q_CONVENTION,
            "qmin": qmin,
            "qmin_rule": qmin_rule,
            "qmax": qmax,
            "qmaxinst": qmaxinst,
            "fit_range": [f_lo, f_hi],
            "fit_range_rule": fit_rule,
            "background_degree": background_degree,
            "rpoly": rpoly,
            "polynomial_degree": transform.poly_degree,
            "lorch": bool(lorch),
            "low_q": low_q,
            "low_q_points": transform.low_q_points,
            "backend": "builtin",
        }
        return transform, record

    def _out_dtype(self):
        return np.float32 if self.data.dtype == np.float32 else np.float64

    def _transform_rows(self, method, size, show_progressbar):
        """Every pattern through ``method`` (rows -> ``(values, scale)``),
        warning about the patterns whose result is NaN (scale not > 0)."""
        n_bad = []  # eager: counted per block, one warning at the end
        # not ``self._lazy`` in the task: the task would carry the signal,
        # which a dask.distributed scheduler cannot serialise
        lazy = self._lazy

        def function(rows):
            values, scale = method(rows)
            bad = int(np.sum(~(scale > 0)))
            if lazy:  # warn from the dask task, chunk by chunk
                _warn_bad_scale(bad, rows.shape[0], " of a chunk")
            else:
                n_bad.append(bad)
            return values

        data = _apply_rows(
            self.data,
            function,
            size,
            self._out_dtype(),
            self._lazy,
            show_progressbar,
            block=TRANSFORM_BLOCK,
        )
        if not self._lazy:
            _warn_bad_scale(sum(n_bad), self.axes_manager.navigation_size or 1)
        return data

    def _q_signal(
        self, cls, lazy_cls, which, kwargs, show_progressbar, quantity, title
    ):
        transform, record = self._transform(r=np.zeros(1), **kwargs)
        q_out = transform.q_transform
        method = (
            transform.structure_factor
            if which == "S"
            else transform.reduced_structure_function
        )
        data = self._transform_rows(method, q_out.size, show_progressbar)
        axis = self.axes_manager.signal_axes[0].get_axis_dictionary()
        axis.update(offset=float(q_out[0]), size=int(q_out.size))
        out = _new_signal(self, cls, lazy_cls, data, axis, quantity, title)
        out.metadata.set_item("Signal.ePDF", record)
        return out

    def get_structure_factor(
        self,
        composition=None,
        *,
        scattering_factors="lobato",
        qmin=None,
        qmax=None,
        qmaxinst=None,
        fit_range=None,
        background_degree=1,
        rpoly=None,
        low_q="linear",
        show_progressbar=None,
    ):
        """Structure factor ``S(Q) = 1 + (I - a <f^2> - B) / (a <f>^2)``.

        Same parameters as :meth:`get_pdf` (without the ``r`` grid and the
        Lorch window); ``S`` includes the ad hoc correction when ``rpoly`` is
        set. Returns an :class:`ePDFStructureFactor1D` on ``[qmin, qmax]``.
        """
        kwargs = dict(
            composition=composition,
            scattering_factors=scattering_factors,
            qmin=qmin,
            qmax=qmax,
            qmaxinst=qmaxinst,
            fit_range=fit_range,
            background_degree=background_degree,
            rpoly=rpoly,
            lorch=False,
            low_q=low_q,
        )
        return self._q_signal(
            ePDFStructureFactor1D,
            LazyePDFStructureFactor1D,
            "S",
            kwargs,
            show_progressbar,
            "S(Q)",
            _titled(self, "S(Q)"),
        )

    def get_reduced_structure_function(
        self,
        composition=None,
        *,
        scattering_factors="lobato",
        qmin=None,
        qmax=None,
        qmaxinst=None,
        fit_range=None,
        background_degree=1,
        rpoly=None,
        low_q="linear",
        show_progressbar=None,
    ):
        """Reduced structure function ``F(Q) = Q [S(Q) - 1]`` (1/Å).

        Same parameters as :meth:`get_pdf`. Returns an
        :class:`ePDFReducedStructureFunction1D` on ``[qmin, qmax]``.
        """
        kwargs = dict(
            composition=composition,
            scattering_factors=scattering_factors,
            qmin=qmin,
            qmax=qmax,
            qmaxinst=qmaxinst,
            fit_range=fit_range,
            background_degree=background_degree,
            rpoly=rpoly,
            lorch=False,
            low_q=low_q,
        )
        return self._q_signal(
            ePDFReducedStructureFunction1D,
            LazyePDFReducedStructureFunction1D,
            "F",
            kwargs,
            show_progressbar,
            "F(Q) (1/Å)",
            _titled(self, "F(Q)"),
        )

    def get_pdf(
        self,
        composition=None,
        *,
        scattering_factors="lobato",
        qmin=None,
        qmax=None,
        qmaxinst=None,
        fit_range=None,
        background_degree=1,
        rpoly=None,
        lorch=True,
        low_q="linear",
        rmin=0.0,
        rmax=20.0,
        rstep=0.01,
        backend="builtin",
        show_progressbar=None,
    ):
        """Reduced pair distribution function ``G(r)`` of every I(Q).

        ``S(Q) = 1 + (I - a <f^2> - B) / (a <f>^2)``, ``F(Q) = Q [S(Q) - 1]``,
        ``G(r) = (2 / pi) int_0^qmax F(Q) sin(Q r) dQ`` (Å^-2), computed for all
        navigation positions with one set of matrices (see
        :mod:`hyperspy_rnmf._pdf_transform`).

        Parameters
        ----------
        composition : str or dict, optional
            Formula (``"SiO2"``, ``"Li10GeP2S12"``) or element fractions
            (``{"Si": 1, "O": 2}``). Default: ``metadata.Signal.ePDF.composition``.
        scattering_factors : {"lobato", "kirkland", "peng"}
            Electron scattering factor parameterisation (diffsims tables).
        qmin : float, optional
            Lower Q of the data used (1/Å), > 0. Default: the first valley of
            the mean I(Q) after the direct beam, or the first Q > 0 with data.
        qmax : float, optional
            Upper Q of the transform. Default: the last Q with data.
        qmaxinst : float, optional
            Upper Q of the useful data (ad hoc polynomial fit); ``>= qmax``.
            Default: ``qmax``.
        fit_range : (float, float), optional
            Q range of the scale and background fit. Default: the upper 70 %
            of ``[qmin, qmax]``.
        background_degree : int or None
            Degree of the polynomial background fitted with the scale; None
            fits the scale alone.
        rpoly : float, optional
            ``r`` limit (Å) of the PDFgetX3 ad hoc polynomial correction of
            ``F(Q)`` (polynomial degree ``round(rpoly qmaxinst / pi)``); None
            (default) for no correction. See Notes.
        lorch : bool
            Multiply ``F(Q)`` by the Lorch window ``sin(pi Q / qmax) / (pi Q /
            qmax)`` before the transform (default): it suppresses termination
            ripples and the noise of the highest Q, at the price of slightly
            broader peaks. False gives the plain transform.
        low_q : {"linear", "zero"}
            ``F(Q)`` below ``qmin``: ``c Q`` with ``S`` constant (default), or 0.
        rmin, rmax, rstep : float
            ``r`` grid (Å), ``rmax`` included.
        backend : {"builtin", "pdfgetx"}
            ``"pdfgetx"`` runs diffpy.pdfgetx (PDFgetX3, X-ray mode: it has no
            electron scattering factors) pattern by pattern, if installed.
        show_progressbar : bool, optional
            Default: ``hs.preferences.General.show_progressbar``.

        Returns
        -------
        ePDFReducedPDF1D
            Lazy if this signal is lazy. ``metadata.Signal.ePDF`` records the
            composition, the scattering factors and every transform parameter,
            including the defaults chosen from the data.

        Notes
        -----
        The polynomial correction removes slowly varying errors of ``F(Q)``
        but also part of the ramp ``F -> -Q`` at low ``Q`` that makes the
        slope ``-4 pi rho0 r``: on model data (alpha-quartz) ``rpoly = 0.9``
        gave number densities about 31 % low. Use it for peak positions, or keep
        ``rpoly`` well below the first pair distance.

        Examples
        --------
        >>> iq = integrate_azimuthal(s, reciprocal_pixel_size=0.0125,
        ...                          convention="s")  # doctest: +SKIP
        >>> gr = iq.get_pdf("SiO2")  # doctest: +SKIP
        >>> gr.find_pair_distances(3)  # doctest: +SKIP
        """
        if backend not in ("builtin", "pdfgetx"):
            raise ValueError(
                f"`backend` must be 'builtin' or 'pdfgetx', got {backend!r}."
            )
        for name, value in (("rmin", rmin), ("rmax", rmax), ("rstep", rstep)):
            _real(name, value, "a number (Å)")
        if rmin < 0:
            raise ValueError(f"`rmin` must be non-negative (Å), got {rmin:g}.")
        if not rstep > 0:
            raise ValueError(f"`rstep` must be positive (Å), got {rstep:g}.")
        if not rmax > rmin:
            raise ValueError(
                f"`rmax` ({rmax:g}) must be larger than `rmin` ({rmin:g})."
            )
        n_r = int(np.floor((rmax - rmin) / rstep + 1e-9)) + 1
        if n_r < 2:
            raise ValueError(
                f"The r grid from `rmin`={rmin:g} to `rmax`={rmax:g} Å in steps of "
                f"`rstep`={rstep:g} Å has {n_r} point: at least 2 are needed."
            )
        r = rmin + rstep * np.arange(n_r)
        if backend == "pdfgetx":
            pdfgetx = _import_pdfgetx()
        transform, record = self._transform(
            composition,
            scattering_factors,
            qmin,
            qmax,
            qmaxinst,
            fit_range,
            background_degree,
            rpoly,
            lorch,
            low_q,
            r,
        )
        record.update(rmin=float(rmin), rmax=float(r[-1]), rstep=float(rstep))
        if backend == "pdfgetx":
            data = _pdfgetx_transform(pdfgetx, self, composition, record, r)
            record["backend"] = "pdfgetx (diffpy.pdfgetx, X-ray mode)"
        else:
            data = self._transform_rows(transform.reduced_pdf, r.size, show_progressbar)
        axis = {
            "name": "r",
            "units": "Å",
            "scale": float(rstep),
            "offset": float(rmin),
            "size": r.size,
        }
        out = _new_signal(
            self,
            ePDFReducedPDF1D,
            LazyePDFReducedPDF1D,
            data,
            axis,
            "G(r) (Å^-2)",
            _titled(self, "G(r)"),
        )
        out.metadata.set_item("Signal.ePDF", record)
        return out


def _warn_bad_scale(bad, total, where=""):
    """Warn that ``bad`` of ``total`` patterns (``where``) give a NaN G(r)."""
    import warnings

    if bad:
        warnings.warn(
            f"{bad} of {total} patterns{where} have no scattering above the fitted "
            "background in the fit range (scale <= 0 or NaN), or NaN or inf in "
            "I(Q) between qmin and qmaxinst: their result is NaN.",
            UserWarning,
            stacklevel=3,
        )


# ------------------------------------------------------------ PDFgetX3 backend


def _import_pdfgetx():
    try:
        import diffpy.pdfgetx as pdfgetx
    except ImportError:
        raise ImportError(
            "ePDF backend 'pdfgetx' requires diffpy.pdfgetx (PDFgetX3), which is "
            "not installed (it is not on PyPI: see https://www.diffpy.org); use "
            "backend='builtin'."
        ) from None
    return pdfgetx


def _pdfgetx_transform(pdfgetx, signal, composition, record, r):
    """G(r) pattern by pattern with PDFGetter (PDFgetX3 has no electron mode)."""
    formula = (
        composition if isinstance(composition, str) else record["composition_formula"]
    )
    config = pdfgetx.PDFConfig()
    config.update(
        mode="xray",
        dataformat="QA",
        composition=formula,
        qmin=record["qmin"],
        qmax=record["qmax"],
        qmaxinst=record["qmaxinst"],
        rpoly=0.9 if record["rpoly"] is None else record["rpoly"],
        rmin=record["rmin"],
        rmax=record["rmax"],
        rstep=record["rstep"],
    )
    getter = pdfgetx.PDFGetter(config)
    q = signal.axes_manager.signal_axes[0].axis
    rows = np.asarray(signal.data).reshape(-1, q.size)
    out = np.empty((rows.shape[0], r.size))
    for i, row in enumerate(rows):
        r_out, g = getter(x=q, y=row)
        out[i] = np.interp(r, np.asarray(r_out), np.asarray(g))
    return out.reshape(signal.data.shape[:-1] + (r.size,))


class LazyePDFSignal1D(LazySignal, ePDFSignal1D):
    """Lazy :class:`ePDFSignal1D`."""


# ------------------------------------------------------ S(Q), F(Q) signals


class ePDFStructureFactor1D(Signal1D):
    """Electron structure factor S(Q), Q in 1/Å.

    See :meth:`ePDFSignal1D.get_structure_factor`.
    """

    _signal_type = "electron_structure_factor"


class LazyePDFStructureFactor1D(LazySignal, ePDFStructureFactor1D):
    """Lazy :class:`ePDFStructureFactor1D`."""


class ePDFReducedStructureFunction1D(Signal1D):
    """Electron reduced structure function F(Q) = Q [S(Q) - 1] (1/Å)."""

    _signal_type = "electron_reduced_structure_function"


class LazyePDFReducedStructureFunction1D(LazySignal, ePDFReducedStructureFunction1D):
    """Lazy :class:`ePDFReducedStructureFunction1D`."""


# ------------------------------------------------------------- G(r) signal


class ePDFReducedPDF1D(Signal1D):
    """Reduced pair distribution function G(r) (Å^-2) from electron diffraction.

    ``G(r) = 4 pi r [rho(r) - rho0] = (2 / pi) int F(Q) sin(Q r) dQ``, the
    normalisation of PDFgetX3 and diffpy (pyxem 0.21's PDF is 2 pi larger).
    """

    _signal_type = "electron_reduced_pdf"

    def _r(self):
        """The r axis in Å: uniform, increasing, calibrated in Å."""
        axis = self.axes_manager.signal_axes[0]
        if not axis.is_uniform or not axis.scale > 0:
            raise ValueError("The r axis must be uniform and increasing.")
        units = "" if axis.units in (None, "<undefined>") else str(axis.units)
        if units == "nm":
            raise ValueError(
                "The r axis is in nm: multiply its scale and offset by 10 and set "
                "units='Å' (densities and distances are computed in Å)."
            )
        if units not in R_ANGSTROM:
            raise ValueError(
                f"The r axis is not calibrated in Å: units {units!r} (scale "
                f"{axis.scale:g}); set units='Å' (one of {sorted(R_ANGSTROM)})."
            )
        if axis.size < 2:
            raise ValueError(f"The r axis has {axis.size} point: at least 2 needed.")
        return axis.axis.astype(np.float64)

    def _default_ranges(self, r):
        rpoly = self.metadata.get_item("Signal.ePDF.rpoly")
        mean = _mean_rows(self.data, self._lazy)
        return _pdf_analysis.default_r_ranges(r, mean, rpoly)

    def _check_r_range(self, r_range, r):
        try:
            low, high = (float(v) for v in r_range)
        except (TypeError, ValueError):
            raise ValueError(
                f"`r_range` must be a pair (low, high) in Å, got {r_range!r}."
            ) from None
        if not (r[0] - 1e-9 <= low < high <= r[-1] + 1e-9):
            raise ValueError(
                f"`r_range` ({low:g}, {high:g}) must be increasing and within the r "
                f"axis ({r[0]:g}, {r[-1]:g}) Å."
            )
        if np.sum((r >= low - 1e-9) & (r <= high + 1e-9)) < 2:
            raise ValueError(
                f"`r_range` ({low:g}, {high:g}) holds fewer than 2 r points."
            )
        return low, high

    def estimate_number_density(self, r_range=None, show_progressbar=None):
        """Number density ``rho0`` (atoms/Å^3) from the low-r slope.

        Below the first pair distance ``G(r) = -4 pi rho0 r``: ``rho0`` is the
        least-squares slope of a line through the origin over ``r_range``.

        Parameters
        ----------
        r_range : (float, float), optional
            Fit window (Å). Default: ``[max(rpoly, r1 / 4), 3 r1 / 4]`` with
            ``r1`` the first peak of the navigation-mean G(r).
        show_progressbar : bool, optional
            Default: ``hs.preferences.General.show_progressbar``.

        Returns
        -------
        hyperspy.signal.BaseSignal
            A map over the navigation (signal dimension 0); the window and how
            it was chosen are in ``metadata.Signal.ePDF.number_density``.
        """
        r = self._r()
        if r_range is None:
            chosen = self._default_ranges(r)
            r_range, rule = chosen["slope_range"], "[max(rpoly, r1/4), 3 r1/4]"
        else:
            r_range, rule = self._check_r_range(r_range, r), "given"

        def function(rows):
            return _pdf_analysis.number_density(rows, r, r_range)[:, None]

        data = _apply_rows(
            self.data, function, 1, np.float64, self._lazy, show_progressbar
        )[..., 0]
        out = _nav_map(self, data, "number density", "atoms/Å^3", "rho0")
        out.metadata.set_item(
            "Signal.ePDF.number_density",
            {"r_range": list(r_range), "r_range_rule": rule},
        )
        return out

    def find_pair_distances(
        self,
        n_peaks=3,
        *,
        r_range=None,
        min_height=0.15,
        window=0.4,
        show_progressbar=None,
    ):
        """Positions of the first ``n_peaks`` pair-distance peaks (Å).

        Maxima of ``G(r)`` whose prominence (height above the higher of the
        lowest values within ``window`` on either side) reaches ``min_height``
        times the largest prominence, refined below the grid step by a
        parabola through the maximum and its neighbours.

        Parameters
        ----------
        n_peaks : int
            Number of peaks per position; missing peaks are NaN.
        r_range : (float, float), optional
            Search window (Å). Default: from ``max(rpoly, r1 / 4)`` to the end.
        min_height : float
            Relative prominence threshold, in (0, 1].
        window : float
            Half-width (Å) of the prominence windows.
        show_progressbar : bool, optional
            Default: ``hs.preferences.General.show_progressbar``.

        Returns
        -------
        hyperspy.signals.Signal1D
            Navigation of this signal, signal axis ``peak`` (``n_peaks``).
        """
        if (
            isinstance(n_peaks, bool)
            or not isinstance(n_peaks, numbers.Integral)
            or n_peaks < 1
        ):
            raise ValueError(f"`n_peaks` must be a positive integer, got {n_peaks!r}.")
        min_height = _real("min_height", min_height, "a number in (0, 1]")
        if not 0 < min_height <= 1:
            raise ValueError(f"`min_height` must be in (0, 1], got {min_height:g}.")
        window = _real("window", window, "a positive number (Å)")
        r = self._r()
        if not window >= r[1] - r[0]:
            raise ValueError(
                f"`window` must be at least the r step ({r[1] - r[0]:g} Å), got "
                f"{window:g}."
            )
        if r_range is None:
            chosen = self._default_ranges(r)
            r_range, rule = (chosen["peak_search_start"], float(r[-1])), "default"
        else:
            r_range, rule = self._check_r_range(r_range, r), "given"

        def function(rows):
            return _pdf_analysis.pair_distances(
                rows, r, n_peaks, r_range, min_height, window
            )

        data = _apply_rows(
            self.data, function, int(n_peaks), np.float64, self._lazy, show_progressbar
        )
        axes = _nav_axes_dicts(self) + [
            {"name": "peak", "size": int(n_peaks), "navigate": False}
        ]
        out = (LazySignal1D if _is_lazy(data) else Signal1D)(data, axes=axes)
        out.metadata.set_item("General.title", _titled(self, "pair distances"))
        out.metadata.set_item("Signal.quantity", "r (Å)")
        out.metadata.set_item(
            "Signal.ePDF.pair_distances",
            {
                "r_range": list(r_range),
                "r_range_rule": rule,
                "min_height": min_height,
                "window": window,
            },
        )
        return out


class LazyePDFReducedPDF1D(LazySignal, ePDFReducedPDF1D):
    """Lazy :class:`ePDFReducedPDF1D`."""

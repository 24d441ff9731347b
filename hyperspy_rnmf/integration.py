"""Azimuthal integration of HyperSpy/pyxem diffraction signals to ePDF I(Q).

HyperSpy glue over :class:`hyperspy_rnmf._azimuthal.AzimuthalOperator` (pyFAI):
calibration (reciprocal pixel size, or camera length + pixel size + beam
energy), centre, masks, lazy streaming; the result is an
:class:`~hyperspy_rnmf.signals.epdf.ePDFSignal1D` with ``Q = 4 pi sin(theta) /
lambda = 2 pi / d`` in 1/Å.
"""

import numbers
import warnings

import numpy as np

from hyperspy_rnmf import _azimuthal
from hyperspy_rnmf._beam import mean_pattern
from hyperspy_rnmf._validation import (
    check_pattern_mask,
    check_results_fit,
    check_signal,
)
from hyperspy_rnmf.signals._common import _new_signal, _progress, _real
from hyperspy_rnmf.signals.epdf import (
    PLAIN_ANGSTROM,
    PLAIN_NM,
    PYXEM_Q_UNITS,
    PYXEM_S_UNITS,
    Q_CONVENTION,
    LazyePDFSignal1D,
    ePDFSignal1D,
)

__all__ = ["integrate_azimuthal", "integrate_decomposition_factors"]

INTEGRATION_BLOCK = 256  # patterns per sparse product in eager mode


def integrate_azimuthal(
    signal,
    *,
    npt=None,
    q_range=None,
    reciprocal_pixel_size=None,
    convention=None,
    camera_length=None,
    pixel_size=None,
    beam_energy=None,
    center=None,
    mask=None,
    direct_beam_radius=None,
    correct_solid_angle=True,
    lazy_output=None,
    show_progressbar=None,
    _beam_source=None,
):
    """Azimuthally integrate diffraction patterns to I(Q) with pyFAI.

    Works on any ``Signal2D`` whose signal axes are the detector (pyxem's
    ``Diffraction2D``/``ElectronDiffraction2D`` or plain HyperSpy), with any
    navigation: a 4D-STEM scan (one I(Q) per probe position), a single
    pattern, or NMF factors (one I(Q) per component, see
    :func:`integrate_decomposition_factors`). Lazy signals are integrated block
    by block.

    Parameters
    ----------
    signal : hyperspy.signals.Signal2D
        Diffraction patterns.
    npt : int, optional
        Number of Q bins. Default: one per pixel of radius, up to the farthest
        corner (or ``q_range``).
    q_range : (float, float), optional
        Q range of the bins (1/Å). Default: 0 to the farthest corner.
    reciprocal_pixel_size : float, optional
        Size of one pixel in reciprocal space (1/Å), in the ``convention``
        given. Default: read from the signal axes when they are calibrated.
    convention : {"s", "q"}, optional
        Meaning of ``reciprocal_pixel_size`` and of reciprocal axis units:
        ``"s"`` is ``s = 1/d`` (pyxem, diffsims), ``"q"`` is
        ``Q = 2 pi / d``. Required with ``reciprocal_pixel_size`` and with
        axes in plain 1/Å or 1/nm (which may be either); for pyxem's axis
        units, default from the units (``k_A^-1``, ``k_nm^-1``, ``$A^{-1}$``:
        ``"s"``; ``q_A^-1``, ``q_nm^-1``: ``"q"``).
    camera_length : float, optional
        Camera length in mm (with ``pixel_size`` and ``beam_energy``: physical
        geometry, used instead of any reciprocal calibration).
    pixel_size : float, optional
        Detector pixel size in µm.
    beam_energy : float, optional
        Beam energy in keV. Default:
        ``metadata.Acquisition_instrument.TEM.beam_energy``.
    center : (float, float) or "direct_beam", optional
        Beam centre ``(x, y)`` in pixels, also off the pattern (a detector
        placed off-axis to reach high Q). Default: from the signal axes when
        their offsets put 0 inside the pattern, otherwise (with a warning
        when the axes put it outside) ``"direct_beam"``: the centroid of the
        direct beam in the mean pattern (NaN and inf left out, hot pixels
        replaced by their 3 x 3 median; ``mask`` is not used there, since a
        masked direct beam is still in the data).
    mask : array_like of bool or BaseSignal, optional
        Pattern-shaped mask, True for excluded pixels (beam stop, dead or hot
        pixels). Not modified.
    direct_beam_radius : float, optional
        Also exclude the pixels within this radius (pixels) of the centre.
    correct_solid_angle : bool
        Solid-angle normalisation (physical geometry only; a reciprocal pixel
        calibration is taken as a flat, linear reciprocal space).
    lazy_output : bool, optional
        Default: lazy if ``signal`` is lazy.
    show_progressbar : bool, optional
        Default: ``hs.preferences.General.show_progressbar``.

    Returns
    -------
    ePDFSignal1D
        Navigation of ``signal``; signal axis ``Q`` in 1/Å, ``Q = 4 pi
        sin(theta) / lambda = 2 pi / d``. Bins without unmasked pixels are
        NaN. ``metadata.Signal.ePDF.integration`` records the geometry.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_rnmf.integration import integrate_azimuthal
    >>> y, x = np.mgrid[:64, :80]
    >>> ring = np.exp(-0.5 * ((np.hypot(x - 40, y - 30) - 20) / 1.5) ** 2)
    >>> iq = integrate_azimuthal(hs.signals.Signal2D(ring), center=(40, 30),
    ...                          reciprocal_pixel_size=0.1, convention="q")
    >>> q_peak = iq.axes_manager[0].axis[np.argmax(iq.data)]  # ring: Q = 20 x 0.1
    >>> bool(abs(q_peak - 2.0) < iq.axes_manager[0].scale)
    True
    """
    check_signal(signal)
    if signal.axes_manager.signal_dimension != 2:
        raise ValueError(
            "`signal` must have two signal dimensions (diffraction patterns), got "
            f"{signal.axes_manager.signal_dimension}."
        )
    shape = tuple(signal.data.shape[-2:])
    lazy = bool(signal._lazy)
    lazy_output = lazy if lazy_output is None else bool(lazy_output)
    record = {"method": "pyFAI CSR (bbox pixel splitting)"}

    # -- calibration
    physical = any(v is not None for v in (camera_length, pixel_size))
    if physical:
        if camera_length is None or pixel_size is None:
            raise ValueError(
                "`camera_length` (mm) and `pixel_size` (µm) must be given together, "
                f"got camera_length={camera_length!r}, pixel_size={pixel_size!r}."
            )
        if reciprocal_pixel_size is not None:
            raise ValueError(
                "Give either `reciprocal_pixel_size` or `camera_length` + "
                "`pixel_size`, not both."
            )
        camera_length = _real("camera_length", camera_length, "a positive number (mm)")
        pixel_size = _real("pixel_size", pixel_size, "a positive number (µm)")
        if not (camera_length > 0 and pixel_size > 0):
            raise ValueError(
                "`camera_length` and `pixel_size` must be positive, got "
                f"{camera_length:g} mm and {pixel_size:g} µm."
            )
        if beam_energy is None:
            beam_energy = signal.metadata.get_item(
                "Acquisition_instrument.TEM.beam_energy"
            )
        if beam_energy is None:
            raise ValueError(
                "`beam_energy` (keV) is required with `camera_length`: pass it or set "
                "metadata.Acquisition_instrument.TEM.beam_energy."
            )
        beam_energy = _real("beam_energy", beam_energy, "a positive number (keV)")
        if not beam_energy > 0:
            raise ValueError(
                f"`beam_energy` must be positive (keV), got {beam_energy:g}."
            )
        wavelength = _azimuthal.electron_wavelength(beam_energy)
        q_per_pixel = None
        record.update(
            calibration="camera length, pixel size and relativistic wavelength",
            camera_length_mm=camera_length,
            pixel_size_um=pixel_size,
            wavelength_A=wavelength,
            correct_solid_angle=bool(correct_solid_angle),
        )
    else:
        q_per_pixel, how = _reciprocal_calibration(
            signal, reciprocal_pixel_size, convention
        )
        record.update(
            calibration=how,
            q_per_pixel=q_per_pixel,
            correct_solid_angle=False,
        )

    # -- mask given (checked before the data are read for the centre)
    full_mask = np.zeros(shape, dtype=bool)
    if mask is not None:
        full_mask |= check_pattern_mask(mask, "mask", shape, "True = excluded")
        if full_mask.all():
            raise ValueError("`mask` excludes every pixel.")
    center, center_rule = _center(
        signal, center, show_progressbar, _beam_source, full_mask
    )
    record.update(center_x=center[0], center_y=center[1], center_rule=center_rule)

    # -- mask
    if direct_beam_radius is not None:
        radius = _real(
            "direct_beam_radius", direct_beam_radius, "a non-negative number (pixels)"
        )
        if radius < 0:
            raise ValueError(
                f"`direct_beam_radius` must be non-negative, got {radius:g}."
            )
        full_mask |= _azimuthal.disc_mask(shape, center, radius)
        record["direct_beam_radius"] = radius
    record["masked_pixels"] = int(full_mask.sum())
    if full_mask.all():
        raise ValueError("`mask` excludes every pixel.")

    # -- bins
    corners = np.array(
        [[0, 0], [0, shape[0] - 1], [shape[1] - 1, 0], [shape[1] - 1, shape[0] - 1]]
    )
    r_corner = float(
        np.max(np.hypot(corners[:, 0] - center[0], corners[:, 1] - center[1]))
    )
    if physical:
        theta2 = np.arctan(r_corner * pixel_size * 1e-6 / (camera_length * 1e-3))
        q_corner = 4 * np.pi * np.sin(theta2 / 2) / wavelength
        q_step_px = q_corner / r_corner
    else:
        q_corner = r_corner * q_per_pixel
        q_step_px = q_per_pixel
    if q_range is None:
        q_range = (0.0, q_corner)
    try:
        q_lo, q_hi = (float(v) for v in q_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"`q_range` must be a pair (low, high) in 1/Å, got {q_range!r}."
        ) from None
    if not (0 <= q_lo < q_hi < np.inf):
        raise ValueError(
            f"`q_range` ({q_lo:g}, {q_hi:g}) must satisfy 0 <= low < high < inf."
        )
    if npt is None:
        npt = max(8, int(np.ceil((q_hi - q_lo) / q_step_px)))
    if isinstance(npt, bool) or not isinstance(npt, numbers.Integral) or npt < 2:
        raise ValueError(f"`npt` must be an integer >= 2, got {npt!r}.")
    operator = _azimuthal.AzimuthalOperator(
        shape,
        center,
        int(npt),
        (q_lo, q_hi),
        q_per_pixel=q_per_pixel,
        camera_length=camera_length,
        pixel_size=pixel_size,
        wavelength=wavelength if physical else None,
        mask=full_mask if full_mask.any() else None,
        correct_solid_angle=bool(correct_solid_angle) and physical,
    )
    record.update(npt=int(npt), q_range=[q_lo, q_hi])
    try:
        import pyFAI

        record["pyFAI_version"] = pyFAI.version
    except AttributeError:  # pragma: no cover
        pass

    # -- integrate
    dtype = np.float32 if signal.data.dtype == np.float32 else np.float64
    data = signal.data
    nav_shape = data.shape[:-2]
    if lazy:
        import dask.array as da

        data = data.rechunk({data.ndim - 2: -1, data.ndim - 1: -1})
        out = da.map_blocks(
            lambda block: operator(block, dtype),
            data,
            dtype=dtype,
            drop_axis=[data.ndim - 2, data.ndim - 1],
            new_axis=data.ndim - 2,
            chunks=data.chunks[:-2] + ((operator.q.size,),),
        )
        if not lazy_output:
            out = _compute(out, show_progressbar)
    else:
        flat = np.asarray(data).reshape((-1,) + shape)
        result = np.empty((flat.shape[0], operator.q.size), dtype=dtype)
        starts = range(0, flat.shape[0], INTEGRATION_BLOCK)
        if _progress(show_progressbar) and flat.shape[0] > INTEGRATION_BLOCK:
            from hyperspy.external.progressbar import progressbar

            starts = progressbar(starts, total=len(starts), leave=True)
        for start in starts:
            stop = start + INTEGRATION_BLOCK
            result[start:stop] = operator(flat[start:stop], dtype)
        out = result.reshape(nav_shape + (operator.q.size,))
        if lazy_output:
            import dask.array as da

            out = da.from_array(out)
    q = operator.q
    axis = {
        "name": "Q",
        "units": "1/Å",
        "scale": float((q[-1] - q[0]) / (q.size - 1)),
        "offset": float(q[0]),
        "size": int(q.size),
    }
    title = signal.metadata.get_item("General.title") or ""
    result = _new_signal(
        signal,
        ePDFSignal1D,
        LazyePDFSignal1D,
        out,
        axis,
        "Intensity (a.u.)",
        f"{title} I(Q)".strip(),
    )
    if physical:
        result.metadata.set_item("Acquisition_instrument.TEM.beam_energy", beam_energy)
        result.metadata.set_item(
            "Acquisition_instrument.TEM.camera_length", camera_length
        )
    result.metadata.set_item("Signal.ePDF.q_convention", Q_CONVENTION)
    result.metadata.set_item("Signal.ePDF.integration", record)
    return result


def integrate_decomposition_factors(signal, **kwargs):
    """One I(Q) per decomposition component of a 4D signal.

    ``signal.get_decomposition_factors()`` (a pattern per component, navigation
    ``(k,)``) integrated with :func:`integrate_azimuthal`; ``kwargs`` are
    passed on. The calibration comes from ``signal``'s signal axes unless
    given. Pixels where the factors are NaN (excluded by the decomposition's
    ``signal_mask``) are added to ``mask``. A centre not given by ``center``
    or the axes is the direct beam of the factors' mean when the missing
    pixels are small groups (at most ``HOT_CLUSTER`` = 4 pixels: hot pixels)
    farther than 3 beam widths from it; otherwise the factors may miss the
    beam (a direct-beam ``signal_mask``, where a Bragg spot would win), and
    it is searched in the mean pattern of the data (one pass over them).

    Raises
    ------
    ValueError
        ``signal`` has no decomposition results, or its factors do not have
        the pixels of its patterns (cropped or rebinned since).
    """
    check_signal(signal)
    lr = signal.learning_results
    if getattr(lr, "factors", None) is None:
        raise ValueError(
            "`signal` has no decomposition results: run "
            "signal.decomposition('rnmf', output_dimension=k) first."
        )
    check_results_fit(signal, factors=lr.factors)  # e.g. crop_signal since
    factors = signal.get_decomposition_factors()
    for name in ("Acquisition_instrument",):
        node = signal.metadata.get_item(name)
        if node is not None:
            factors.metadata.set_item(name, node)
    if factors._lazy:
        factors.compute()
    filled, kwargs, missing = _mask_missing_pixels(factors, kwargs)
    if missing is not None:  # where the beam is missing: search it in the data
        kwargs.setdefault("_beam_source", (signal, missing))
    return integrate_azimuthal(filled, **kwargs)


def _mask_missing_pixels(factors, kwargs):
    """Pixels that are NaN in any factor (a decomposition ``signal_mask``) join
    the ``mask``; the factors are copied with zeros there, so that the bins
    they fall in keep the other pixels instead of becoming NaN."""
    data = np.asarray(factors.data)
    missing = ~np.all(np.isfinite(data), axis=tuple(range(data.ndim - 2)))
    if not missing.any():
        return factors, kwargs, None
    full = missing
    mask = kwargs.get("mask")
    if mask is not None:
        array = np.asarray(getattr(mask, "data", mask))
        if array.shape != missing.shape or array.dtype != bool:
            return factors, kwargs, None  # integrate_azimuthal names the problem
        full = missing | array
    factors = factors._deepcopy_with_new_data(np.where(missing, 0, data))
    return factors, dict(kwargs, mask=full), missing


def _compute(array, show_progressbar):
    if _progress(show_progressbar):
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return array.compute()
    return array.compute()


def _reciprocal_calibration(signal, reciprocal_pixel_size, convention):
    """(Q per pixel in 1/Å, description) from the argument or the signal axes."""
    if convention is not None and convention not in ("s", "q"):
        raise ValueError(
            f"`convention` must be 's' (s = 1/d, pyxem) or 'q' (Q = 2 pi/d), got "
            f"{convention!r}."
        )
    if reciprocal_pixel_size is not None:
        value = _real(
            "reciprocal_pixel_size", reciprocal_pixel_size, "a positive number (1/Å)"
        )
        if not value > 0:
            raise ValueError(
                f"`reciprocal_pixel_size` must be positive, got {value:g}."
            )
        if convention is None:
            raise ValueError(
                "`convention` is required with `reciprocal_pixel_size`: 's' if it is "
                "in s = 1/d (pyxem, diffsims), 'q' if in Q = 2 pi/d."
            )
        factor = 2 * np.pi if convention == "s" else 1.0
        return (
            value * factor,
            f"reciprocal pixel size {value:g} 1/Å ({convention} convention)",
        )
    x_axis, y_axis = signal.axes_manager.signal_axes
    units = [
        ("" if a.units in (None, "<undefined>") else str(a.units))
        for a in (x_axis, y_axis)
    ]
    if not (x_axis.is_uniform and y_axis.is_uniform):
        raise ValueError(
            "The signal axes are non-uniform (Ewald-sphere calibration): pass "
            "`camera_length`, `pixel_size` and `beam_energy` instead."
        )
    if units[0] != units[1] or not np.isclose(x_axis.scale, y_axis.scale, rtol=1e-6):
        raise ValueError(
            f"The signal axes differ (units {units}, scales {x_axis.scale:g}, "
            f"{y_axis.scale:g}): pass `reciprocal_pixel_size` and `convention`."
        )
    unit = units[0]
    if unit in PYXEM_S_UNITS:
        axis_convention, to_angstrom = "s", PYXEM_S_UNITS[unit]
    elif unit in PYXEM_Q_UNITS:
        axis_convention, to_angstrom = "q", PYXEM_Q_UNITS[unit]
    elif unit in PLAIN_ANGSTROM or unit in PLAIN_NM:
        axis_convention, to_angstrom = None, (1.0 if unit in PLAIN_ANGSTROM else 0.1)
        if convention is None:
            raise ValueError(
                f"The signal axes are in {unit!r}, which may be s = 1/d or "
                "Q = 2 pi/d: pass `convention`='s' or 'q'."
            )
    else:
        raise ValueError(
            f"The signal axes are not calibrated in reciprocal space (units {unit!r}): "
            "pass `reciprocal_pixel_size` and `convention`, or `camera_length`, "
            "`pixel_size` and `beam_energy`."
        )
    if axis_convention is not None and convention not in (None, axis_convention):
        raise ValueError(
            f"`convention`={convention!r} contradicts the axis units {unit!r} "
            f"({axis_convention!r} in pyxem's naming)."
        )
    chosen = convention or axis_convention
    factor = 2 * np.pi if chosen == "s" else 1.0
    q_per_pixel = abs(x_axis.scale) * to_angstrom * factor
    return q_per_pixel, (
        f"signal axes: scale {x_axis.scale:g} {unit} read as the {chosen} "
        f"convention ({'s = 1/d' if chosen == 's' else 'Q = 2 pi/d'})"
    )


#: Largest connected group of pixels missing from the factors (a
#: decomposition ``signal_mask``) that can be a masked hot pixel cluster
#: rather than a masked part of the direct beam.
HOT_CLUSTER = 4


def _beam_in_factors(factors, missing):
    """The beam ``(x, y)`` found in the mean of the decomposition factors, or
    None where the factors may miss it: some group of missing pixels is
    larger than ``HOT_CLUSTER`` pixels (a direct-beam disc, a beam stop), or
    comes within 3 beam widths and a pixel of the beam found. Hot-pixel
    masks far from the beam then cost no pass over the data; a masked beam,
    with a Bragg spot elsewhere that would win in the factors, is searched
    in the data."""
    from scipy import ndimage as ndi

    from hyperspy_rnmf._beam import direct_beam, without_hot_pixels

    labels, n = ndi.label(missing)
    if np.bincount(labels.ravel(), minlength=n + 1)[1:].max() > HOT_CLUSTER:
        return None
    mean = np.asarray(factors.data, dtype=np.float64).mean(axis=0)
    if not (np.where(missing, 0.0, mean) > 0).any():
        return None
    clean = np.where(missing, np.nan, without_hot_pixels(np.where(missing, 0, mean)))
    (row, column), sigma = direct_beam(clean)
    rows, cols = np.nonzero(missing)
    if np.hypot(rows - row, cols - column).min() <= 3 * sigma + 1:
        return None
    return column, row


def _center(signal, center, show_progressbar, beam_source=None, masked=None):
    """``((x, y), rule)``: the centre given, where the axes put Q = 0, or the
    direct beam of the mean pattern of ``beam_source`` (default ``signal``).

    The user's ``mask`` is not used in the search: the pixels under it are
    data (a direct-beam disc masked for the integration is exactly where the
    beam is; a centroid of the hole around it was 0.5-2.6 px off), and hot
    pixels are removed by :func:`~hyperspy_rnmf._azimuthal.find_direct_beam`.
    """
    shape = signal.data.shape[-2:]
    if center is None:
        x_axis, y_axis = signal.axes_manager.signal_axes
        if (
            x_axis.is_uniform
            and y_axis.is_uniform
            and x_axis.offset != 0
            and y_axis.offset != 0
        ):
            cx = -x_axis.offset / x_axis.scale
            cy = -y_axis.offset / y_axis.scale
            if 0 <= cx <= shape[1] - 1 and 0 <= cy <= shape[0] - 1:
                return (float(cx), float(cy)), "signal axes (where Q = 0)"
            warnings.warn(
                f"The signal axes put Q = 0 at pixel ({cx:g}, {cy:g}), outside the "
                "pattern; using the direct-beam centroid of the mean pattern "
                f"instead. Pass center=({cx:g}, {cy:g}) to integrate around the "
                "axes' centre (a beam off the detector is allowed).",
                UserWarning,
                stacklevel=3,
            )
        center = "direct_beam"
    if isinstance(center, str):
        if center != "direct_beam":
            raise ValueError(
                f"`center` must be (x, y) in pixels or 'direct_beam', got {center!r}."
            )
        rule = "direct beam centroid of the mean pattern"
        if beam_source is not None:  # (data, pixels missing from the factors)
            data_signal, missing = beam_source
            found = _beam_in_factors(signal, missing)
            if found is not None:
                return found, rule + " of the factors"
            signal = data_signal
            rule += " of the data (the factors may miss it)"
        mean = mean_pattern(signal.data, _progress(show_progressbar))
        return _azimuthal.find_direct_beam(mean, masked), rule
    try:
        cx, cy = (float(v) for v in center)
    except (TypeError, ValueError):
        raise ValueError(
            f"`center` must be (x, y) in pixels or 'direct_beam', got {center!r}."
        ) from None
    if not (np.isfinite(cx) and np.isfinite(cy)):
        raise ValueError(f"`center` must be finite (x, y) in pixels, got {center!r}.")
    return (cx, cy), "given"  # off the pattern too: pyFAI takes any beam position

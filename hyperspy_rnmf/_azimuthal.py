"""Azimuthal integration of electron diffraction patterns to I(Q) with pyFAI.

pyFAI (Kieffer & Karkoulis 2013) builds, once per geometry, the sparse matrix
``M`` (CSR, bounding-box pixel splitting) that distributes every detector pixel
over the radial bins. The mean intensity in bin ``k`` is

    I(Q_k) = sum_j M_kj I_j / sum_j M_kj n_j

with ``n_j`` the solid angle of pixel ``j`` relative to a pixel at normal
incidence (or 1), exactly what ``AzimuthalIntegrator.integrate1d`` returns with
``method=("bbox", "csr", "cython")``. Applying ``M`` to a block of patterns is
one sparse-dense matrix product, so thousands of patterns are integrated in
one call instead of one ``integrate1d`` call each.

Two calibrations are supported:

* a reciprocal pixel size ``dQ`` (1/Å per pixel, Q convention): ``Q = dQ r``
  with ``r`` the distance to the centre in pixels (a flat, linear reciprocal
  space, as calibrated 4D-STEM data usually are);
* a physical geometry: camera length ``L``, detector pixel size ``p`` and the
  relativistic electron wavelength ``lambda``: ``2 theta = arctan(r p / L)``,
  ``Q = 4 pi sin(theta) / lambda``, with the solid-angle correction.

Here ``Q = 4 pi sin(theta) / lambda = 2 pi / d``; pyxem and diffsims use
``s = 1 / d = Q / (2 pi)``.

References
----------
J. Kieffer and D. Karkoulis, J. Phys.: Conf. Ser. 425 (2013) 202012.
"""

import warnings

import numpy as np

from hyperspy_rnmf._beam import direct_beam, hot_pixels, without_hot_pixels

__all__ = [
    "electron_wavelength",
    "find_direct_beam",
    "disc_mask",
    "AzimuthalOperator",
]


def electron_wavelength(beam_energy):
    """Relativistic electron wavelength in Å.

    ``lambda = h / sqrt(2 m0 e V (1 + e V / (2 m0 c^2)))``.

    Parameters
    ----------
    beam_energy : float
        Accelerating voltage in kV (HyperSpy's
        ``Acquisition_instrument.TEM.beam_energy``, in keV).

    Examples
    --------
    >>> round(float(electron_wavelength(200.0)), 5)
    0.02508
    """
    from scipy.constants import c, e, h, m_e

    volts = float(beam_energy) * 1e3
    return float(
        h / np.sqrt(2 * m_e * e * volts * (1 + e * volts / (2 * m_e * c**2))) * 1e10
    )


def find_direct_beam(image, masked=None):
    """Centre ``(x, y)`` (pixels) of the direct beam, the brightest blob.

    Hot pixels (isolated maxima) are replaced by their 3 x 3 median, then the
    beam is found by :func:`hyperspy_rnmf._beam.direct_beam` (shared with
    the segmentation): the centroid of its half-maximum region above the
    local halo, for Gaussian beams and the discs of convergent probes alike.
    A replaced pixel brighter than the beam found gets a warning: a beam
    narrower than about 0.45 px looks exactly like a hot pixel.

    Parameters
    ----------
    image : numpy.ndarray
        2D pattern (for example the mean over all probe positions); NaN and
        inf pixels are left out.
    masked : numpy.ndarray of bool, optional
        Pixels the user masked (True): no warning about a hot pixel among
        them. They stay in the search: a masked direct beam is still in the
        data.

    Returns
    -------
    (float, float)
        ``x`` (column) and ``y`` (row) of the centre, in pixels.

    Raises
    ------
    ValueError
        If ``image`` has no positive finite value outside its hot pixels.
    """
    from scipy import ndimage as ndi

    image = np.asarray(image, dtype=np.float64)
    usable = np.isfinite(image)
    values = np.where(usable, image, 0.0)
    hot = hot_pixels(values)[0]
    clean = without_hot_pixels(values, hot)
    if not (clean[usable] > 0).any():
        raise ValueError(
            "No direct beam: the mean pattern has no counts (outside hot "
            "pixels). Pass `center`=(x, y) in pixels."
        )
    (row, column), sigma = direct_beam(clean, None if usable.all() else ~usable)
    # hot pixels standing out more than the beam (its height measured on the
    # finite pixels within its reach, not at its centre, which may be a dead
    # pixel), and far above their neighbours (not noise maxima at low counts)
    yy, xx = np.indices(image.shape)
    near = usable & (np.hypot(yy - row, xx - column) <= 3 * sigma + 1)
    height = (clean[near].max() if near.any() else 0.0) - np.median(clean[usable])
    local = ndi.median_filter(values, size=3, mode="nearest")
    excess = values - local
    brighter = hot & (excess > height) & (excess > 10 * np.sqrt(np.abs(local) + 1))
    if masked is not None:
        brighter &= ~np.asarray(masked, bool)
    if brighter.any():
        from hyperspy_rnmf.rnmf import _caller_level

        spots = [(int(j), int(i)) for i, j in np.argwhere(brighter)[:3]]
        warnings.warn(
            f"Isolated pixels brighter than the direct beam found at "
            f"({column:.1f}, {row:.1f}) were left out of its search, at (x, y) = "
            f"{spots}: hot pixels, or a beam narrower than one pixel. If the "
            "beam is there, pass `center`; mask hot pixels in `mask` to "
            "silence this.",
            UserWarning,
            stacklevel=_caller_level(),
        )
    return column, row


def disc_mask(shape, center, radius):
    """Boolean mask (True = excluded) of the pixels within ``radius`` of ``center``.

    Parameters
    ----------
    shape : (int, int)
        Pattern shape (rows, columns).
    center : (float, float)
        ``(x, y)`` in pixels.
    radius : float
        Radius in pixels.
    """
    y, x = np.ogrid[: shape[0], : shape[1]]
    return (x - center[0]) ** 2 + (y - center[1]) ** 2 <= radius**2


class AzimuthalOperator:
    """pyFAI's integration matrix for one detector geometry.

    Parameters
    ----------
    shape : (int, int)
        Pattern shape (rows, columns).
    center : (float, float)
        Beam centre ``(x, y)`` in pixels (pixel ``i`` has its centre at ``i``).
    npt : int
        Number of radial bins.
    q_range : (float, float)
        Q range of the bins (1/Å); bin centres are
        ``q_range[0] + (k + 1/2) (q_range[1] - q_range[0]) / npt``.
    q_per_pixel : float, optional
        Linear calibration ``dQ`` (1/Å per pixel, Q convention).
    camera_length, pixel_size, wavelength : float, optional
        Physical geometry: camera length (mm), detector pixel size (µm),
        electron wavelength (Å). Used when ``q_per_pixel`` is None.
    mask : numpy.ndarray of bool, optional
        True for excluded pixels.
    correct_solid_angle : bool
        Normalise by the pixel solid angle (physical geometry only).

    Attributes
    ----------
    q : numpy.ndarray
        Bin centres (1/Å).
    matrix : scipy.sparse.csr_matrix
        ``(npt, n_pixels)`` pixel-splitting weights.
    norm : numpy.ndarray
        ``M @ n``: the denominator, 0 for bins without pixels.
    """

    def __init__(
        self,
        shape,
        center,
        npt,
        q_range,
        *,
        q_per_pixel=None,
        camera_length=None,
        pixel_size=None,
        wavelength=None,
        mask=None,
        correct_solid_angle=False,
    ):
        import scipy.sparse as sp
        from pyFAI.detectors import Detector
        from pyFAI.integrator.azimuthal import AzimuthalIntegrator
        from pyFAI.units import to_unit

        self.shape = tuple(shape)
        cx, cy = center
        if q_per_pixel is not None:
            # a 1 mm pixel makes pyFAI's radius in mm the radius in pixels
            size = 1e-3
            unit = "r_mm"
            lo, hi = q_range[0] / q_per_pixel, q_range[1] / q_per_pixel
            integrator = AzimuthalIntegrator(
                dist=1.0,
                poni1=(cy + 0.5) * size,
                poni2=(cx + 0.5) * size,
                detector=Detector(pixel1=size, pixel2=size, max_shape=self.shape),
                wavelength=1e-10,
            )
            factor = q_per_pixel
            correct_solid_angle = False
        else:
            size = pixel_size * 1e-6
            unit = "q_A^-1"
            lo, hi = q_range
            integrator = AzimuthalIntegrator(
                dist=camera_length * 1e-3,
                poni1=(cy + 0.5) * size,
                poni2=(cx + 0.5) * size,
                detector=Detector(pixel1=size, pixel2=size, max_shape=self.shape),
                wavelength=wavelength * 1e-10,
            )
            factor = 1.0
        self.integrator = integrator
        self.unit = unit
        self.correct_solid_angle = bool(correct_solid_angle)
        pyfai_mask = None if mask is None else np.asarray(mask, dtype=np.int8)
        engine = integrator.setup_sparse_integrator(
            self.shape,
            int(npt),
            mask=pyfai_mask,
            pos0_range=(lo, hi),
            unit=unit,
            split="bbox",
            algo="CSR",
            scale=True,
        )
        data, indices, indptr = engine.lut
        n_pixels = self.shape[0] * self.shape[1]
        self.matrix = sp.csr_matrix(
            (np.asarray(data, dtype=np.float64), indices, indptr),
            shape=(int(npt), n_pixels),
        )
        centres = np.asarray(engine.bin_centers, dtype=np.float64) * to_unit(unit).scale
        self.q = centres * factor
        if self.correct_solid_angle:
            weights = integrator.solidAngleArray(self.shape).ravel().astype(np.float64)
        else:
            weights = np.ones(n_pixels)
        self._weights = weights
        self.norm = self.matrix @ weights
        self._matrices = {np.dtype(np.float64): self.matrix}

    def __call__(self, patterns, dtype=np.float64):
        """Integrate patterns of shape ``(..., rows, columns)`` to ``(..., npt)``.

        The patterns are converted to ``dtype`` (a copy only where needed; the
        input is never modified). Bins without any unmasked pixel are NaN.
        NaN or inf pixels of a pattern are masked in that pattern only (as
        pyFAI's ``integrate1d`` skips them).
        """
        dtype = np.dtype(dtype)
        if dtype not in self._matrices:
            self._matrices[dtype] = self.matrix.astype(dtype)
        patterns = np.asarray(patterns)
        lead = patterns.shape[:-2]
        flat = patterns.reshape(-1, self.shape[0] * self.shape[1]).astype(
            dtype, copy=False
        )
        summed = np.asarray(self._matrices[dtype] @ flat.T).T
        norm = np.broadcast_to(self.norm, summed.shape)
        # a NaN or inf pixel in a bin makes that bin's sum non-finite, so only
        # those patterns are searched and integrated again without it
        bad = ~np.isfinite(summed).all(axis=1)
        if bad.any():
            rows = flat[bad]
            finite = np.isfinite(rows)
            clean = np.where(finite, rows, 0).astype(dtype, copy=False)
            summed[bad] = (self._matrices[dtype] @ clean.T).T
            norm = np.array(norm)
            norm[bad] = (self.matrix @ (finite * self._weights).T).T
        empty = norm <= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = summed / np.where(empty, 1.0, norm).astype(dtype)
        out[empty] = np.nan
        return out.reshape(lead + (self.q.size,))

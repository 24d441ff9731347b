"""VDF route, steps 1-4: defaults derived from the data, background removal,
Bragg peaks of every pattern, unique diffraction vectors.

See :mod:`hyperspy_rnmf.segmentation.vdf_route` for the whole route.
"""

import numpy as np

from hyperspy_rnmf._beam import hot_pixels, mean_pattern
from hyperspy_rnmf.segmentation import _vdf
from hyperspy_rnmf.segmentation._common import (
    axes_of,
    check_int,
    check_real,
    check_scan_signal,
    dask_progress,
    is_lazy,
    progress,
    show_progress,
    to_python,
)

DEFAULTS = {
    "n_sigma": 6.0,
    "background_factor": 6.0,
    "median_size": 3,
    "corr_threshold": 0.7,
    "vector_threshold": 5,
    "segment_threshold": 3,
    "linkage": "complete",
    "threshold": "li",
    "min_depth": 0.3,
    "boundary": 0.5,
    "min_size": 10,
    "min_intensity": 0.1,
    "exclude_border": 0,
}
_N_NOISE_SAMPLE = 512


# --------------------------------------------------------- calibration
class _Calibration:
    """Pixel <-> calibrated conversion of the two signal axes."""

    def __init__(self, signal):
        if signal.axes_manager.signal_dimension != 2:
            raise ValueError(
                "The VDF route needs 2D diffraction patterns; `signal` has "
                f"{signal.axes_manager.signal_dimension} signal dimension(s)."
            )
        kx, ky = signal.axes_manager.signal_axes
        self.scale = np.array([float(ky.scale), float(kx.scale)])  # (row, col)
        self.offset = np.array([float(ky.offset), float(kx.offset)])
        units = [str(a.units) for a in (kx, ky)]
        self.units = units[0]
        self.calibrated = not (
            all(u in ("", "<undefined>", "Undefined", "None") for u in units)
            and np.allclose(np.abs(self.scale), 1.0)
        )
        self.pixel = float(np.sqrt(abs(self.scale[0] * self.scale[1])))
        self.shape = tuple(int(v) for v in signal.data.shape[-2:])

    def to_calibrated(self, pixels):
        """(row, col) px -> (kx, ky) calibrated."""
        p = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        return (self.offset + p * self.scale)[:, ::-1]

    def to_pixels(self, vectors):
        """(kx, ky) calibrated -> (row, col) px."""
        v = np.asarray(vectors, dtype=np.float64).reshape(-1, 2)[:, ::-1]
        return (v - self.offset) / self.scale

    def length(self, value, name):
        """A calibrated length given by the user -> pixels."""
        if not self.calibrated:
            raise ValueError(
                f"`{name}` ({value!r}) is in calibrated units, but the signal "
                "axes of the data are not calibrated (no units, scale 1): "
                "calibrate them first (e.g. s.set_diffraction_calibration(...) "
                "in pyxem, or set the axes' scale and units), or leave "
                f"`{name}` to its default, which is derived from the data."
            )
        value = check_real(value, name, 0, low_open=True)
        return value / self.pixel


def check_aperture_radius(radius_px, calibration, name="radius"):
    """Raise unless an aperture of ``radius_px`` pixels fits in the pattern."""
    limit = min(calibration.shape) / 2
    if radius_px > limit:
        raise ValueError(
            f"`{name}` ({radius_px * calibration.pixel:g}, {radius_px:g} pixels) "
            f"is larger than half the pattern ({limit * calibration.pixel:g}, "
            f"{limit:g} pixels): an aperture must fit in the detector."
        )
    return radius_px


def _check_length_or_none(value, name, calibration):
    return None if value is None else calibration.length(value, name)


# ------------------------------------------------------------ defaults
def estimate_vdf_parameters(signal, *, show_progressbar=None):
    """Spot size, direct beam and the VDF-route defaults derived from them.

    The mean pattern of the scan (one pass over the data) contains every
    spot of every crystal. Its brightest blob is the direct beam; the median
    width of the other spots is the spot size (``sigma`` of a Gaussian
    sampled at the pixel centres; spots found at their own scale by a
    scale-normalised Laplacian of Gaussian, and a Gaussian plus a plane, the
    local background, fitted to each: within 4 % on planted spots of
    0.8-4 px from 100 to 10^5 counts per pattern, 8.5 % for 4 px spots at
    100 counts).

    Derived defaults (pixels; all reported in calibrated units too):

    ==================  =====================================================
    spot_sigma          measured spot width
    background_sigma    6 x spot_sigma: the large Gaussian of the difference
                        of Gaussians (the small one is spot_sigma: a matched
                        filter)
    eps                 max(0.5 px, spot_sigma): DBSCAN radius
    min_magnitude       3 x beam_sigma + 2 x spot_sigma: vectors closer to
                        the direct beam are dropped
    radius              max(1 px, 2 x spot_sigma): VDF aperture (86 % of a
                        Gaussian spot)
    ==================  =====================================================

    Parameters
    ----------
    signal : hyperspy signal
        4D-STEM data (2D scan, 2D patterns), lazy or not; not modified.
    show_progressbar : bool or None

    Returns
    -------
    dict
        Pixel values (``*_px``), calibrated values, ``beam_centre`` (kx, ky
        calibrated) and ``beam_centre_px`` (row, column), ``units`` and a
        ``note`` on how the spot size was found.
    """
    return _estimate(signal, show_progressbar)[0]


def _estimate(signal, show_progressbar, with_sample=False):
    """:func:`estimate_vdf_parameters` and, with ``with_sample``, the noise
    sample of :func:`find_diffraction_peaks` (:func:`_noise_sample`), read
    in the same pass as the mean pattern: for lazy data the sample's
    patterns, spread over the scan, touch nearly every chunk, and reading
    them on their own cost about one more pass over the data."""
    check_scan_signal(signal)
    calibration = _Calibration(signal)
    show = show_progress(show_progressbar)
    if with_sample:
        mean, sample = mean_pattern(signal.data, show, _noise_sample(signal.data))
    else:  # NaN, inf left out
        mean, sample = mean_pattern(signal.data, show), None
    described = _vdf.describe_mean_pattern(mean)
    spot = described["spot_sigma"]
    beam_sigma = described["beam_sigma"]
    px = {
        "spot_sigma_px": spot,
        "beam_sigma_px": beam_sigma,
        "background_sigma_px": DEFAULTS["background_factor"] * spot,
        "eps_px": max(0.5, spot),
        "min_magnitude_px": 3.0 * beam_sigma + 2.0 * spot,
        "radius_px": max(1.0, 2.0 * spot),
    }
    out = dict(px)
    for key, value in px.items():
        out[key[:-3]] = value * calibration.pixel
    out["beam_centre_px"] = tuple(described["beam_centre"])
    out["beam_centre"] = tuple(
        calibration.to_calibrated(described["beam_centre"])[0].tolist()
    )
    out["n_spots_measured"] = described["n_spots"]
    out["units"] = calibration.units if calibration.calibrated else "px"
    out["note"] = described["note"]
    return out, sample


# ------------------------------------------------------ background
def subtract_background(
    signal, *, spot_sigma=None, background_sigma=None, show_progressbar=None
):
    """Remove the diffuse background of every pattern (difference of
    Gaussians).

    ``G(spot_sigma) * pattern - G(background_sigma) * pattern``: the small
    Gaussian is matched to the spots (it also smooths the noise), the large
    one estimates the slowly varying background.

    Parameters
    ----------
    signal : hyperspy signal
        4D-STEM data, lazy or not (the result is lazy if the input is).
    spot_sigma, background_sigma : float, optional
        In calibrated units; defaults from :func:`estimate_vdf_parameters`.
    show_progressbar : bool or None

    Returns
    -------
    hyperspy signal
        Same class, shape and calibration as ``signal``, float32.
    """
    check_scan_signal(signal)
    calibration = _Calibration(signal)
    low, high, _ = _filter_sigmas(
        signal, calibration, spot_sigma, background_sigma, show_progressbar
    )
    data = signal.data
    if is_lazy(signal):
        n_sig = data.ndim - 2
        blocks = data.rechunk(data.chunks[:2] + ((-1,) * n_sig))
        filtered = blocks.map_blocks(_vdf.dog_filter, low, high, dtype=np.float32)
    else:
        filtered = np.empty(data.shape, dtype=np.float32)
        rows = data.shape[0]
        step = max(1, 2**22 // max(1, int(np.prod(data.shape[1:]))))
        show = show_progress(show_progressbar)
        for start in progress(range(0, rows, step), show, desc="background"):
            filtered[start : start + step] = _vdf.dog_filter(
                data[start : start + step], low, high
            )
    out = signal._deepcopy_with_new_data(filtered)
    out.metadata.General.title = f"{signal.metadata.General.title} (DoG)".strip()
    out.metadata.set_item(
        "Segmentation.background",
        {
            "method": "difference of Gaussians",
            "spot_sigma_px": low,
            "background_sigma_px": high,
        },
    )
    return out


def _filter_sigmas(
    signal, calibration, spot_sigma, background_sigma, show_progressbar, estimated=None
):
    low = _check_length_or_none(spot_sigma, "spot_sigma", calibration)
    high = _check_length_or_none(background_sigma, "background_sigma", calibration)
    if (low is None or high is None) and estimated is None:
        estimated = estimate_vdf_parameters(signal, show_progressbar=show_progressbar)
    if low is None:
        low = estimated["spot_sigma_px"]
    if high is None:
        high = DEFAULTS["background_factor"] * low
    if not high > low:
        raise ValueError(
            f"`background_sigma` ({high * calibration.pixel:.4g}) must be larger "
            f"than `spot_sigma` ({low * calibration.pixel:.4g})."
        )
    return low, high, estimated


# ------------------------------------------------------------- peaks
class DiffractionPeaks:
    """Bragg peaks found in every pattern of a scan.

    Attributes
    ----------
    probe : numpy.ndarray (n, 2) int
        Probe position (row, column) of every peak.
    pixels : numpy.ndarray (n, 2) float
        Sub-pixel peak position (row, column) in the pattern.
    value : numpy.ndarray (n,)
        Background-subtracted (filtered) intensity at the peak.
    vectors : numpy.ndarray (n, 2)
        Peak positions in calibrated units, (kx, ky) order.
    scan_shape : tuple
        (rows, columns) of the scan.
    parameters : dict
        Peak-finding parameters (pixels and calibrated), derived values
        included.
    """

    def __init__(self, probe, pixels, value, calibration, scan_axes, parameters):
        self.probe = probe
        self.pixels = pixels
        self.value = value
        self._calibration = calibration
        self._scan_axes = scan_axes
        self.scan_shape = tuple(int(a.size) for a in scan_axes[::-1])
        self.parameters = parameters

    @property
    def vectors(self):
        return self._calibration.to_calibrated(self.pixels)

    def __len__(self):
        return len(self.value)

    def __repr__(self):
        return (
            f"<DiffractionPeaks: {len(self)} peaks in {np.prod(self.scan_shape)} "
            "patterns>"
        )

    def count_map(self):
        """Number of peaks at every probe position, as a Signal2D with the
        scan's calibration."""
        from hyperspy_rnmf.segmentation._common import image_signal

        counts = np.zeros(self.scan_shape, dtype=np.int32)
        np.add.at(counts, (self.probe[:, 0], self.probe[:, 1]), 1)
        return image_signal(counts, self._scan_axes, "number of diffraction peaks")


def find_diffraction_peaks(
    signal,
    *,
    spot_sigma=None,
    background_sigma=None,
    n_sigma=DEFAULTS["n_sigma"],
    show_progressbar=None,
    _estimated=None,
    _sample=None,
):
    """Bragg peaks of every pattern: local maxima of the background-subtracted
    pattern above ``n_sigma`` times the noise.

    Each pattern is filtered by a difference of Gaussians (the small one
    matched to the spot size: a single-scale Laplacian-of-Gaussian-like blob
    detector at the measured spot size, see :func:`subtract_background`);
    peaks are its 3 x 3 local maxima above ``n_sigma`` times the noise level
    of that pixel (plus the Cornish-Fisher term for the skewness of counting
    noise, ``(n_sigma**2 - 1) / 6`` times its third cumulant over its
    variance, so that the false-alarm rate stays about that of a Gaussian
    ``n_sigma`` at low counts), refined to sub-pixel precision by a parabola.
    The noise is counting noise plus an additive (read) noise, measured on
    up to 256 pairs of neighbouring patterns spread over the scan
    (``_vdf.noise_map``): the filtered difference of two neighbours is
    noise, and gives the gain (variance per count, so the detector's gain
    need not be known) and the additive variance (from how the difference
    varies between dim and bright pixels); the noise of every pixel follows
    from them and the local background (the mean pattern without its spots)
    through the filter's weights; at least half the median noise. Within a
    few percent of the true noise from 100 to 10^5 counts per pattern, also
    with Gaussian read noise (300 counts per pattern plus read noise of
    sigma 0.3 or 1 count: within 1 %; the counting term alone was 2.4 times
    low). ``parameters`` records ``noise_gain`` and ``noise_additive``. Hot
    pixels brighter than the direct beam in the mean of that sample are left
    out like dead pixels (``hot_pixels_left_out``, (row, column) each). One
    pass over the data; lazy data are processed chunk by chunk.

    Parameters
    ----------
    signal : hyperspy signal
        4D-STEM data (2D scan, 2D patterns), raw (not background-subtracted),
        lazy or not; not modified.
    spot_sigma, background_sigma : float, optional
        Calibrated units; defaults from :func:`estimate_vdf_parameters`.
    n_sigma : float, default 6
        Detection threshold in units of the noise (with the skewness term
        above).
    show_progressbar : bool or None

    Returns
    -------
    DiffractionPeaks

    Raises
    ------
    ValueError
        When no peak is found (the message says which parameter to change).
    """
    check_scan_signal(signal)
    calibration = _Calibration(signal)
    show = show_progress(show_progressbar)
    n_sigma = check_real(n_sigma, "n_sigma", 0, low_open=True)
    if _estimated is None and (spot_sigma is None or background_sigma is None):
        # the defaults' mean pattern and the noise sample in one pass (the
        # lengths given are checked before the data are read)
        _check_length_or_none(spot_sigma, "spot_sigma", calibration)
        _check_length_or_none(background_sigma, "background_sigma", calibration)
        _estimated, _sample = _estimate(signal, show, with_sample=True)
    low, high, estimated = _filter_sigmas(
        signal, calibration, spot_sigma, background_sigma, show, _estimated
    )
    data = signal.data
    rows, cols = data.shape[:2]
    # noise level per pixel from pairs of neighbouring patterns spread over
    # the scan
    n_patterns = rows * cols
    first, second, sampled = _noise_positions(rows, cols)
    picked = _sample if _sample is not None else np.asarray(_noise_sample(data))
    hot = _outshining_hot_pixels(picked)
    if hot is not None:  # left out like dead pixels, here and in every pattern
        picked = np.where(hot, np.nan, picked.astype(np.float32, copy=False))
    n_pairs = len(first)
    noise, skew, gain, additive = _vdf.noise_map(
        picked[:n_pairs], None if second is None else picked[n_pairs:], low, high
    )
    threshold = _vdf.peak_threshold(noise, skew, n_sigma)

    if is_lazy(signal):
        probe, pixels, value = _lazy_peaks(data, low, high, threshold, show, hot)
    else:
        parts = []
        step = max(1, 2**21 // max(1, int(np.prod(data.shape[1:]))))
        for start in progress(range(0, rows, step), show, desc="peaks"):
            block = _vdf.dog_filter(data[start : start + step], low, high, hot)
            index, pos, val = _vdf.find_peaks_block(block, threshold)
            index[:, 0] += start
            parts.append((index, pos, val))
        probe, pixels, value = (np.concatenate(x) for x in zip(*parts, strict=True))
    parameters = {
        "spot_sigma_px": low,
        "background_sigma_px": high,
        "spot_sigma": low * calibration.pixel,
        "background_sigma": high * calibration.pixel,
        "n_sigma": n_sigma,
        "noise_median": float(np.median(noise)),
        "threshold_median": float(np.median(threshold)),
        "noise_gain": gain,
        "noise_additive": additive,
        "n_noise_patterns": int(len(sampled)),
        "hot_pixels_left_out": [] if hot is None else np.argwhere(hot).tolist(),
        "units": calibration.units if calibration.calibrated else "px",
    }
    if estimated is not None:
        parameters["estimated"] = to_python(estimated)
    if len(value) == 0:
        raise ValueError(
            f"No diffraction peak found in {n_patterns} patterns (threshold "
            f"{n_sigma} x the noise, median noise {parameters['noise_median']:.3g}"
            "): lower `n_sigma` (now "
            f"{n_sigma}), or check `spot_sigma` (now {parameters['spot_sigma']:.4g}) "
            f"and `background_sigma` (now {parameters['background_sigma']:.4g})."
        )
    return DiffractionPeaks(
        probe.astype(np.int64),
        pixels,
        value,
        calibration,
        axes_of(signal, "navigation"),
        parameters,
    )


def _noise_sample(data):
    """The patterns of the noise sample of :func:`find_diffraction_peaks`:
    the pairs of :func:`_neighbour_pairs`, first patterns then second ones
    (a dask array for dask data, not computed)."""
    rows, cols = data.shape[:2]
    index = np.unravel_index(_noise_positions(rows, cols)[2], (rows, cols))
    if not isinstance(data, np.ndarray) and hasattr(data, "vindex"):
        return data.vindex[index]
    return data[index]


def _noise_positions(rows, cols):
    """``(first, second, both)``: the flat indices of the noise sample's
    pairs (:func:`_neighbour_pairs`) and all of them, first then second."""
    first, second = _neighbour_pairs(rows, cols, _N_NOISE_SAMPLE // 2)
    return first, second, first if second is None else np.concatenate([first, second])


def _neighbour_pairs(rows, cols, n_pairs):
    """Flat indices of up to ``n_pairs`` pairs of neighbouring probe positions
    spread over a ``rows`` x ``cols`` scan (along the rows, or along the
    columns of a one-column scan); ``second`` is None for a single position."""
    if cols > 1:  # every position but the last of its scan row
        starts = np.arange(rows * (cols - 1))
        starts = starts // (cols - 1) * cols + starts % (cols - 1)
    elif rows > 1:  # one column: its flat index runs down the column
        starts = np.arange(rows - 1)
    else:
        return np.zeros(1, dtype=np.int64), None
    n = min(n_pairs, len(starts))
    first = starts[np.unique(np.linspace(0, len(starts) - 1, n).astype(np.int64))]
    return first, first + 1


def _outshining_hot_pixels(patterns):
    """Hot pixels brighter than anything else in the mean of ``patterns`` (a
    mask, or None): isolated maxima (:func:`hyperspy_rnmf._beam.hot_pixels`)
    above the direct beam's peak, which no Bragg spot of a sampled pattern
    reaches. One such pixel (a stuck pixel at 60 000 counts) set the noise
    gain, fitted to the filtered differences of neighbouring patterns, to a
    sixth, and the noise peaks it let through merged two planted crystals;
    dimmer hot pixels did no harm and are kept (isolated maxima can be sharp
    spots of low-count patterns)."""
    mean = np.nan_to_num(mean_pattern(patterns))  # NaN, inf left out
    hot = hot_pixels(mean)[0]
    if not hot.any() or hot.all():
        return None
    hot &= mean > mean[~hot].max()
    return hot if hot.any() else None


def _lazy_peaks(data, low, high, threshold, show, missing=None):
    import itertools

    import dask

    n_sig = data.ndim - 2
    if any(len(c) > 1 for c in data.chunks[2:]):
        data = data.rechunk(data.chunks[:2] + ((-1,) * n_sig))
    bounds = [np.concatenate([[0], np.cumsum(c)]) for c in data.chunks[:2]]

    def peaks_of(block, r0, c0):
        index, pos, val = _vdf.find_peaks_block(
            _vdf.dog_filter(block, low, high, missing), threshold
        )
        return index + np.array([r0, c0]), pos, val

    tasks = [
        dask.delayed(peaks_of)(data.blocks[i, j], bounds[0][i], bounds[1][j])
        for i, j in itertools.product(*(range(len(c)) for c in data.chunks[:2]))
    ]
    with dask_progress(show):
        results = dask.compute(*tasks)
    return tuple(np.concatenate(x) for x in zip(*results, strict=True))


# ------------------------------------------------------ unique vectors
class UniqueVectors:
    """Unique diffraction vectors (clusters of peak positions).

    Attributes
    ----------
    vectors : numpy.ndarray (m, 2)
        Calibrated positions, (kx, ky) order (``np.asarray(uv)`` gives them).
    pixels : numpy.ndarray (m, 2)
        Positions in pixels, (row, column) order.
    counts : numpy.ndarray (m,)
        Number of peaks in each cluster (patterns showing the vector).
    magnitudes : numpy.ndarray (m,)
        Distance to the direct beam, calibrated units.
    parameters : dict
    """

    def __init__(self, pixels, counts, calibration, beam_centre_px, parameters):
        self.pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        self.counts = np.asarray(counts, dtype=np.int64)
        self._calibration = calibration
        self.beam_centre_px = tuple(beam_centre_px)
        self.parameters = parameters

    @property
    def vectors(self):
        return self._calibration.to_calibrated(self.pixels)

    @property
    def magnitudes(self):
        d = self.pixels - np.asarray(self.beam_centre_px)
        return np.hypot(d[:, 0], d[:, 1]) * self._calibration.pixel

    def __len__(self):
        return len(self.pixels)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.vectors, dtype=dtype)

    def __repr__(self):
        return f"<UniqueVectors: {len(self)} vectors>"


def unique_vectors(
    peaks,
    *,
    eps=None,
    min_samples=None,
    min_magnitude=None,
    min_size=DEFAULTS["min_size"],
):
    """Cluster all peak positions into unique diffraction vectors (DBSCAN)
    and drop the direct beam.

    Parameters
    ----------
    peaks : DiffractionPeaks
    eps : float, optional
        DBSCAN radius in calibrated units; default ``max(0.5 px, spot
        sigma)``.
    min_samples : int, optional
        Peaks needed within ``eps`` for a cluster core; default
        ``max(3, min_size // 2)``: a vector must be seen in about half of the
        positions of the smallest crystal.
    min_magnitude : float, optional
        Vectors closer than this to the direct beam (calibrated units) are
        dropped; default 3 x beam sigma + 2 x spot sigma.
    min_size : int, default 10
        Smallest crystal (probe positions), for the default ``min_samples``.

    Returns
    -------
    UniqueVectors
        Sorted by row then column of their pixel position.

    Raises
    ------
    ValueError
        When no vector is left (the message names the parameters to change).
    """
    if not isinstance(peaks, DiffractionPeaks):
        raise TypeError(
            f"`peaks` must be DiffractionPeaks (from find_diffraction_peaks), got "
            f"{type(peaks).__name__}."
        )
    calibration = peaks._calibration
    estimated = peaks.parameters.get("estimated") or {}
    spot = peaks.parameters["spot_sigma_px"]
    min_size = check_int(min_size, "min_size", 1)
    eps_px = max(0.5, spot) if eps is None else calibration.length(eps, "eps")
    if min_samples is None:
        min_samples = max(3, min_size // 2)
    min_samples = check_int(min_samples, "min_samples", 1)
    if "beam_centre_px" in estimated:
        beam = tuple(estimated["beam_centre_px"])
        beam_sigma = estimated["beam_sigma_px"]
    else:  # the direct beam: the most frequent peak position near the centre
        beam, beam_sigma = _beam_from_peaks(peaks), spot
    if min_magnitude is None:
        min_mag_px = 3.0 * beam_sigma + 2.0 * spot
    else:
        min_mag_px = calibration.length(min_magnitude, "min_magnitude")

    centres, counts = _vdf.cluster_positions(peaks.pixels, eps_px, min_samples)
    d = np.hypot(*(centres - np.asarray(beam)).T) if len(centres) else np.zeros(0)
    keep = d >= min_mag_px
    parameters = {
        "eps_px": eps_px,
        "eps": eps_px * calibration.pixel,
        "min_samples": min_samples,
        "min_magnitude_px": min_mag_px,
        "min_magnitude": min_mag_px * calibration.pixel,
        "beam_centre_px": list(beam),
        "n_clusters": int(len(centres)),
        "n_direct_beam_clusters": int((~keep).sum()),
    }
    if not keep.any():
        p = peaks.parameters
        raise ValueError(
            f"0 unique vectors: DBSCAN found {len(centres)} cluster(s) of the "
            f"{len(peaks)} peaks ({(~keep).sum()} within `min_magnitude` = "
            f"{parameters['min_magnitude']:.4g} of the direct beam). Lower "
            f"`min_samples` (now {min_samples}) or raise `eps` (now "
            f"{parameters['eps']:.4g}) or lower `min_magnitude`; or find more "
            f"peaks: lower `n_sigma` (now {p['n_sigma']}) or check `spot_sigma` "
            f"(now {p['spot_sigma']:.4g})."
        )
    return UniqueVectors(centres[keep], counts[keep], calibration, beam, parameters)


def _beam_from_peaks(peaks):
    centre = np.asarray(peaks._calibration.shape, dtype=np.float64) / 2
    near = np.hypot(*(peaks.pixels - centre).T) < min(peaks._calibration.shape) / 8
    if not near.any():
        return tuple(centre)
    return tuple(np.median(peaks.pixels[near], axis=0))

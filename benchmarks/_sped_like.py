"""A SPED-like 4D-STEM cube built from real silver grain patterns and maps.

Data (read-only, see /work/shared/data/README.md): five real SPED patterns of
a silver film (each the sum inside one grain label, 112 x 112 pixels,
0.026728 1/A per pixel) and the five grain label maps (64 x 208 probe
positions, 20.372 nm). The cube places every grain's mean pattern on its label
map, blurs the label maps so that neighbouring grains overlap at their
boundaries, puts a direct beam (vacuum) pattern where no grain is, modulates
the crystal intensity by a smooth thickness field, and draws Poisson counts.

Ground truth crystals: the connected parts (>= 20 probe positions) of the
label maps: 8 crystals of 5 orientations (orientations 0, 3 and 4 appear in
two places each).

Attribution (CC BY 4.0): NordTEMhub 4D-STEM workshop (2024), TEM Gemini
Centre, NTNU; SPED-Ag dataset, Zenodo record 11284654.
"""

import pathlib

import numpy as np

DATA = pathlib.Path("/work/shared/data/sped_ag_grains")
MIN_CRYSTAL = 20


def load_real():
    """The 5 mean grain patterns (sum 1), label maps, and their calibrations."""
    import hyperspy.api as hs

    patterns = hs.load(DATA / "SPED_Ag_labels_sum_signal.hspy")
    labels = hs.load(DATA / "SPED_Ag_labels.hspy")
    p = patterns.data.astype(np.float64)
    p /= p.sum(axis=(1, 2), keepdims=True)
    return p, labels.data.astype(bool), patterns, labels


def sped_like(
    counts=20000.0,
    blur=1.0,
    thickness=0.3,
    bin_signal=2,
    random_state=0,
    dtype="uint16",
    lazy=False,
    tile=(1, 1),
):
    """Build the cube.

    Parameters
    ----------
    counts : float
        Mean counts per diffraction pattern.
    blur : float
        Gaussian blur (probe positions) of the label maps: grains overlap over
        about 2 x blur positions at their boundaries.
    thickness : float
        Relative amplitude of the smooth thickness modulation of the crystals.
    bin_signal : int
        Detector binning (1: 112 x 112, 2: 56 x 56 pixels).
    tile : (int, int)
        Repeat the label maps (rows, columns) for a larger scan.

    Returns
    -------
    signal : hyperspy Signal2D, scan (64, 208) x ``tile``, patterns (k, k),
        calibrated like the real data
    truth : dict with ``masks`` (n, rows, columns), ``patterns`` (n, k, k)
        (sum 1), ``orientation`` (n,) of the n crystals (8 without tiling),
        ``orientation_patterns`` (5, k, k), ``abundance`` (6, rows, columns)
        (5 orientations + vacuum), ``beam_centre``
    """
    import hyperspy.api as hs
    from scipy import ndimage as ndi

    rng = np.random.default_rng(random_state)
    p, lab, p_sig, l_sig = load_real()
    lab = np.tile(lab, (1,) + tuple(tile))
    if bin_signal > 1:
        n = p.shape[1] // bin_signal
        p = p[:, : n * bin_signal, : n * bin_signal]
        p = p.reshape(5, n, bin_signal, n, bin_signal).sum(axis=(2, 4))
    k = p.shape[1]
    # vacuum: the direct beam of the mean pattern, nothing else
    mean = p.mean(axis=0)
    cy, cx = np.unravel_index(np.argmax(mean), mean.shape)
    ky, kx = np.mgrid[0:k, 0:k]
    beam = np.exp(
        -0.5 * ((ky - cy) ** 2 + (kx - cx) ** 2) / (1.2 * 2 / bin_signal) ** 2
    )
    vacuum = beam / beam.sum()
    vacuum = (
        0.97 * vacuum
        + 0.03
        * np.exp(-np.hypot(ky - cy, kx - cx) / 10)
        / np.exp(-np.hypot(ky - cy, kx - cx) / 10).sum()
    )
    phases = np.concatenate([p, vacuum[None]])

    occupied = lab.any(axis=0)
    maps = np.concatenate([lab, ~occupied[None]]).astype(np.float64)
    maps = np.stack([ndi.gaussian_filter(m, blur) for m in maps])
    ny, nx = maps.shape[1:]
    field = ndi.gaussian_filter(rng.normal(size=(ny, nx)), 8.0)
    field /= np.abs(field).max()
    maps[:5] *= 1.0 + thickness * field
    maps /= maps.sum(axis=0, keepdims=True)
    clean = np.einsum("kyx,kab->yxab", maps * counts, phases, optimize=True)
    data = rng.poisson(clean).astype(dtype)

    masks, crystal_patterns, orientation = [], [], []
    for o in range(5):
        parts, n = ndi.label(lab[o])
        for j in range(1, n + 1):
            m = parts == j
            if m.sum() >= MIN_CRYSTAL:
                masks.append(m)
                crystal_patterns.append(p[o])
                orientation.append(o)

    s = hs.signals.Signal2D(data)
    s.set_signal_type("electron_diffraction")
    s.metadata.General.title = "SPED-like silver film"
    scan = l_sig.axes_manager.signal_axes
    for axis, ref, name in zip(
        s.axes_manager.navigation_axes, scan, ("x", "y"), strict=False
    ):
        axis.name, axis.units, axis.scale, axis.offset = name, "nm", ref.scale, 0.0
    scale = p_sig.axes_manager.signal_axes[0].scale * bin_signal
    for axis, c, name in zip(
        s.axes_manager.signal_axes, (cx, cy), ("kx", "ky"), strict=False
    ):
        axis.name, axis.units, axis.scale = name, "$A^{-1}$", scale
        axis.offset = -c * scale
    if lazy:
        s = s.as_lazy()
    truth = {
        "masks": np.array(masks),
        "patterns": np.array(crystal_patterns),
        "orientation": np.array(orientation),
        "orientation_patterns": p,
        "abundance": maps,
        "beam_centre": (int(cy), int(cx)),
    }
    return s, truth

"""Planted nanocrystal 4D-STEM data for the segmentation tests.

Five crystals on a carbon-film background, with the cases the segmentation
routes must handle:

* ``A1`` and ``A2``: the same orientation (one NMF component) in two places
  whose soft edges touch: watershed must split them.
* ``B``: one bent crystal: a third of its reflections are excited only in its
  left part, another third only in its right part, so that its signal needs
  two NMF components: they must be merged.
* ``C`` and ``D``: two orientations whose crystals partly overlap.
* a background component (direct beam and diffuse halo of the film)
  everywhere, to be excluded.

Spots are Gaussians at known sub-pixel positions; orientations share no spot
within 3 px, and no spot lies within 7 px of the direct beam. Counts are
Poisson. Everything is built from a seeded generator in well under a second.
"""

import numpy as np

#: (name, orientation, centre row, centre column, radius) in probe positions
CRYSTALS = (
    ("A1", 0, 11.0, 11.0, 8.0),
    ("A2", 0, 11.0, 28.5, 8.0),
    ("B", 1, 32.0, 12.0, 9.0),
    ("C", 2, 29.0, 35.0, 8.0),
    ("D", 3, 33.0, 46.0, 8.0),
)

NAV_SHAPE = (44, 56)  # (y, x): array order
SIG_SHAPE = (48, 48)  # (ky, kx)
NAV_SCALE = 2.5  # nm per probe position
SIG_SCALE = 0.05  # 1/A per pixel
SPOT_SIGMA = 1.0  # px
CENTRE = (24.0, 24.0)  # direct beam (row, column) in pixels


def _lattice(rng, taken, min_separation=3.0, beam_clearance=7.0, g_max=21.0):
    """Spot positions (row, col offsets from the beam) of a random 2D lattice."""
    for _ in range(1000):
        length = rng.uniform(7.0, 10.0, size=2)
        angle = rng.uniform(0, np.pi)
        gamma = rng.uniform(np.pi / 3, 2 * np.pi / 3)
        a = length[0] * np.array([np.sin(angle), np.cos(angle)])
        b = length[1] * np.array([np.sin(angle + gamma), np.cos(angle + gamma)])
        spots = [
            i * a + j * b
            for i in range(-4, 5)
            for j in range(-4, 5)
            if (i, j) != (0, 0)
        ]
        spots = np.array([g for g in spots if beam_clearance < np.hypot(*g) < g_max])
        # a crystal off its zone axis shows only some of its reflections
        spots = spots[rng.random(len(spots)) < 0.6]
        if len(taken):  # drop reflections too close to another orientation's
            d = np.hypot(*(spots[:, None, :] - taken[None, :, :]).transpose(2, 0, 1))
            spots = spots[d.min(axis=1) >= min_separation]
        if len(spots) >= 6:
            return spots
    raise RuntimeError("could not draw a lattice")  # pragma: no cover


def _spot_image(positions, amplitudes, shape=SIG_SHAPE, sigma=SPOT_SIGMA):
    ky, kx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    image = np.zeros(shape)
    for (gy, gx), amp in zip(positions, amplitudes, strict=False):
        image += amp * np.exp(
            -0.5 * ((ky - CENTRE[0] - gy) ** 2 + (kx - CENTRE[1] - gx) ** 2) / sigma**2
        )
    return image / image.sum()


def _direct_beam(shape=SIG_SHAPE):
    ky, kx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    r = np.hypot(ky - CENTRE[0], kx - CENTRE[1])
    image = np.exp(-0.5 * (r / 1.5) ** 2)
    return image / image.sum()


def _background_pattern(shape=SIG_SHAPE):
    ky, kx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    r = np.hypot(ky - CENTRE[0], kx - CENTRE[1])
    halo = np.exp(-r / 8.0)
    return 0.6 * _direct_beam(shape) + 0.4 * halo / halo.sum()


def planted_crystals(
    random_state=0,
    *,
    crystal_counts=1500.0,
    background_counts=1000.0,
    edge_width=1.5,
    bent=True,
    noise=True,
    lazy=False,
    dtype="float32",
    spot_sigma=SPOT_SIGMA,
):
    """The planted dataset and its ground truth.

    Parameters
    ----------
    random_state : int
    crystal_counts, background_counts : float
        Counts per pattern of a crystal (at full thickness) and of the film.
    edge_width : float
        Width of the crystals' soft edges (probe positions).
    bent : bool
        B is bent (two NMF components) if True, else an ordinary crystal.
    noise : bool
        Poisson counts (else the exact expectation).
    lazy : bool
    dtype : str
    spot_sigma : float
        Gaussian width of the Bragg spots (px; the spots are point-sampled
        Gaussians).

    Returns
    -------
    signal : hyperspy.api.signals.Signal2D
        (y, x, ky, kx) = (44, 56, 48, 48), navigation in nm, signal in 1/A with
        the direct beam at (0, 0).
    truth : dict
        ``names``; ``masks`` (n_crystals, 44, 56) bool, the planted crystal
        masks (thickness >= half its maximum); ``patterns`` (n_crystals, 48,
        48), the mean diffraction pattern of each crystal (sum 1);
        ``orientation`` per crystal; ``vectors``: per orientation, spot
        positions (n, 2) in calibrated units, (kx, ky) order; ``spot_pixels``:
        the same in pixels, (row, column) order; ``spot_sigma`` (px);
        ``factors`` (6, 48, 48) and ``loadings`` (6, 44, 56): the planted
        components (background, A, B-part-1, B-part-2, C, D) with loadings in
        counts; ``background_component`` = 0.
    """
    import hyperspy.api as hs

    rng = np.random.default_rng(random_state)
    lattices, taken = [], np.empty((0, 2))
    for _ in range(4):
        spots = _lattice(rng, taken)
        lattices.append(spots)
        taken = np.concatenate([taken, spots])
    amplitudes = [rng.uniform(0.5, 1.5, len(spots)) for spots in lattices]

    beam = _direct_beam()

    def crystal_pattern(spots, amps):  # 30 % of a crystal's counts stay in the beam
        return 0.7 * _spot_image(spots, amps, sigma=spot_sigma) + 0.3 * beam

    # B is bent: a third of its reflections are excited only in its left part
    # (b1), another third only in its right part (b2), the rest everywhere.
    n_b = len(lattices[1])
    third = n_b // 3
    only = rng.permutation(n_b)[: 2 * third]
    keep_1 = np.setdiff1d(np.arange(n_b), only[third:])
    keep_2 = np.setdiff1d(np.arange(n_b), only[:third])
    b1 = crystal_pattern(lattices[1][keep_1], amplitudes[1][keep_1])
    b2 = crystal_pattern(lattices[1][keep_2], amplitudes[1][keep_2])
    if not bent:  # B shows all its reflections everywhere
        b1 = b2 = crystal_pattern(lattices[1], amplitudes[1])
    orientation_patterns = [
        crystal_pattern(s, a) for s, a in zip(lattices, amplitudes, strict=False)
    ]
    background = _background_pattern()

    y, x = np.mgrid[0 : NAV_SHAPE[0], 0 : NAV_SHAPE[1]].astype(np.float64)
    names, masks, thickness = [], [], []
    for name, _orientation, cy, cx, radius in CRYSTALS:
        d = np.hypot(y - cy, x - cx)
        t = np.clip((radius - d) / edge_width + 0.5, 0.0, 1.0)
        names.append(name)
        masks.append(t >= 0.5)
        thickness.append(t)
    thickness = np.array(thickness)

    # loadings (counts) of the planted components
    _, _, cy_b, cx_b, r_b = CRYSTALS[2]
    ramp = np.clip((x - (cx_b - r_b)) / (2 * r_b), 0.0, 1.0)
    loadings = np.stack(
        [
            # crystals scatter part of the film's beam
            background_counts * np.clip(1 - 0.6 * thickness.sum(axis=0), 0.2, 1),
            crystal_counts * (thickness[0] + thickness[1]),
            crystal_counts * thickness[2] * (1 - ramp),
            crystal_counts * thickness[2] * ramp,
            crystal_counts * thickness[3],
            crystal_counts * thickness[4],
        ]
    )
    factors = np.stack(
        [background, orientation_patterns[0], b1, b2] + orientation_patterns[2:4]
    )
    clean = np.einsum("kyx,kab->yxab", loadings, factors)
    data = rng.poisson(clean).astype(dtype) if noise else clean.astype(dtype)

    # mean planted pattern of each crystal (B: thickness-weighted mix)
    w_b = np.array([(thickness[2] * (1 - ramp)).sum(), (thickness[2] * ramp).sum()])
    pattern_b = (w_b[0] * b1 + w_b[1] * b2) / w_b.sum()
    crystal_patterns = np.stack(
        [orientation_patterns[0], orientation_patterns[0], pattern_b]
        + orientation_patterns[2:4]
    )

    s = hs.signals.Signal2D(data)
    s.metadata.General.title = "planted nanocrystals"
    for axis, name in zip(s.axes_manager.navigation_axes, ("x", "y"), strict=False):
        axis.name, axis.units, axis.scale = name, "nm", NAV_SCALE
    for axis, name, c in zip(
        s.axes_manager.signal_axes, ("kx", "ky"), CENTRE[::-1], strict=False
    ):
        axis.name, axis.units, axis.scale = name, "1/A", SIG_SCALE
        axis.offset = -c * SIG_SCALE
    if lazy:
        s = s.as_lazy()
        s.data = s.data.rechunk((11, 28, 48, 48))
    truth = {
        "names": names,
        "masks": np.array(masks),
        "patterns": crystal_patterns,
        "orientation": [c[1] for c in CRYSTALS],
        "vectors": [spots[:, ::-1] * SIG_SCALE for spots in lattices],
        "spot_pixels": [spots + np.array(CENTRE) for spots in lattices],
        "factors": factors,
        "loadings": loadings,
        "background_component": 0,
        "spot_sigma": float(spot_sigma),
    }
    return s, truth


def iou(a, b):
    """Intersection over union of two boolean masks."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def best_iou(found_masks, planted_masks):
    """For each planted mask, its IoU with the best found mask (and which)."""
    found_masks = np.asarray(found_masks, bool)
    scores = np.array([[iou(f, p) for f in found_masks] for p in planted_masks])
    if scores.size == 0:
        return np.zeros(len(planted_masks)), np.full(len(planted_masks), -1)
    return scores.max(axis=1), scores.argmax(axis=1)

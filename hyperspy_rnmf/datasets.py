"""Synthetic 4D-STEM data with a planted non-negative low-rank structure.

Each phase has a diffraction pattern (direct beam shared by all phases, Bragg
spots on a randomly oriented 2D lattice, a weak diffuse background and, for
some phases, an amorphous ring) and a real-space map made of soft-edged grains
(Voronoi cells blended over a few probe positions, times a smooth thickness
variation). The data are ``loadings @ factors`` scaled to a number of counts
per pattern, optionally with Poisson noise. Grain interiors are pure probe
positions and Bragg spots are pure pixels, so the planted factorization is
identifiable.
"""

import numpy as np


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _phase_pattern(rng, shape, index):
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    radius = np.hypot(y - cy, x - cx)
    size = min(ny, nx)
    pattern = 0.3 * np.exp(-radius / (0.25 * size))  # diffuse background
    pattern += 40.0 * np.exp(-0.5 * (radius / max(0.012 * size, 0.8)) ** 2)
    if index % 3 == 2:  # amorphous ring
        ring_r = rng.uniform(0.15, 0.3) * size
        pattern += 2.0 * np.exp(-0.5 * ((radius - ring_r) / (0.025 * size)) ** 2)
    # Bragg spots on a random lattice
    length = rng.uniform(0.09, 0.16, size=2) * size
    angle = rng.uniform(0, np.pi)
    gamma = rng.uniform(np.pi / 3, 2 * np.pi / 3)
    a = length[0] * np.array([np.cos(angle), np.sin(angle)])
    b = length[1] * np.array([np.cos(angle + gamma), np.sin(angle + gamma)])
    spot_sigma = max(0.008 * size, 0.7)
    n_max = int(np.ceil(size / min(length))) + 1
    for i in range(-n_max, n_max + 1):
        for j in range(-n_max, n_max + 1):
            if i == 0 and j == 0:
                continue
            gx, gy = i * a + j * b
            g = np.hypot(gx, gy)
            if g > 0.42 * size:
                continue
            amplitude = 8.0 * np.exp(-g / (0.2 * size)) * rng.uniform(0.5, 1.5)
            pattern += amplitude * np.exp(
                -0.5 * (((x - cx - gx) ** 2 + (y - cy - gy) ** 2) / spot_sigma**2)
            )
    return pattern / pattern.sum()


def _phase_maps(rng, nav_shape, n_phases, n_grains, boundary):
    ny, nx = nav_shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    seeds = rng.uniform([0, 0], [ny, nx], size=(n_grains, 2))
    phase_of_grain = np.concatenate(
        [np.arange(n_phases), rng.integers(0, n_phases, n_grains - n_phases)]
    )
    dist = np.hypot(y[..., None] - seeds[:, 0], x[..., None] - seeds[:, 1])
    # soft assignment: blend over ``boundary`` probe positions
    logits = -(dist - dist.min(axis=-1, keepdims=True)) / max(boundary, 1e-9)
    weights = np.exp(logits)
    weights[weights < 1e-3] = 0.0
    weights /= weights.sum(axis=-1, keepdims=True)
    maps = np.zeros((ny, nx, n_phases))
    for g, p in enumerate(phase_of_grain):
        maps[..., p] += weights[..., g]
    thickness = 1.0 + 0.3 * np.sin(2 * np.pi * x / max(nx, 2) * rng.uniform(0.5, 1.5))
    thickness *= 1.0 + 0.2 * np.cos(2 * np.pi * y / max(ny, 2) * rng.uniform(0.5, 1.5))
    return maps * thickness[..., None]


def synthetic_4dstem(
    n_phases=3,
    navigation_shape=(52, 39),
    signal_shape=(64, 64),
    *,
    counts=2.0e4,
    noise=True,
    boundary=1.5,
    grains_per_phase=3,
    dtype="float32",
    random_state=None,
    lazy=False,
    chunks=(32, 32),
):
    """Build a synthetic 4D-STEM signal with known factors and loadings.

    Parameters
    ----------
    n_phases : int, default 3
        Number of planted components.
    navigation_shape : tuple of int, default (52, 39)
        Scan size (x, y), HyperSpy's navigation order. 52 x 39 = 2028 probe
        positions, the size used by Werbrouck et al. (2025).
    signal_shape : tuple of int, default (64, 64)
        Detector size (x, y).
    counts : float, default 2e4
        Mean number of counts per diffraction pattern.
    noise : bool, default True
        Draw Poisson counts (else the exact low-rank product).
    boundary : float, default 1.5
        Width of grain boundaries in probe positions; 0 gives sharp grains.
    grains_per_phase : int, default 3
        Number of grains per phase.
    dtype : str or numpy.dtype, default 'float32'
        Data type of the signal (e.g. 'uint16' for detector counts).
    random_state : int, numpy.random.Generator or None
    lazy : bool, default False
        Return a lazy signal whose chunks are drawn when computed, each with
        its own random stream (seeded from ``random_state`` and the chunk
        position): data larger than memory can be generated and saved chunk by
        chunk. The noise then differs from ``lazy=False``.
    chunks : tuple of int, default (32, 32)
        Navigation chunk size (y, x) of a lazy signal; signal axes are whole.

    Returns
    -------
    signal : hyperspy.api.signals.Signal2D
        Data of shape (y, x, ky, kx) with calibrated navigation axes (nm).
    truth : dict
        'factors' (n_phases, ky * kx), each summing to one, and 'loadings'
        (y * x, n_phases) in counts, such that the noiseless data are
        ``loadings @ factors``.

    Examples
    --------
    >>> from hyperspy_rnmf.datasets import synthetic_4dstem
    >>> s, truth = synthetic_4dstem(3, (20, 16), (32, 32), random_state=0)
    >>> s.data.shape, truth["factors"].shape, truth["loadings"].shape
    ((16, 20, 32, 32), (3, 1024), (320, 3))
    """
    import hyperspy.api as hs

    _check_positive_int(n_phases, "n_phases")
    _check_positive_int(grains_per_phase, "grains_per_phase")
    for name, shape in (
        ("navigation_shape", navigation_shape),
        ("signal_shape", signal_shape),
    ):
        if len(shape) != 2 or min(shape) < 2:
            raise ValueError(f"`{name}` must be two integers >= 2, got {shape!r}.")
    if not counts > 0:
        raise ValueError(f"`counts` must be positive, got {counts!r}.")
    rng = np.random.default_rng(random_state)
    nav = tuple(int(v) for v in navigation_shape[::-1])
    sig = tuple(int(v) for v in signal_shape[::-1])
    factors = np.stack([_phase_pattern(rng, sig, p) for p in range(n_phases)])
    factors = factors.reshape(n_phases, -1)
    maps = _phase_maps(rng, nav, n_phases, grains_per_phase * n_phases, boundary)
    loadings = counts * maps.reshape(-1, n_phases)
    if lazy:
        data = _lazy_counts(loadings, factors, nav, sig, noise, dtype, chunks, rng)
    else:
        clean = loadings @ factors
        data = rng.poisson(clean).astype(dtype) if noise else clean.astype(dtype)
        data = data.reshape(nav + sig)
    s = hs.signals.Signal2D(data)
    s.metadata.General.title = f"synthetic 4D-STEM, {n_phases} phases"
    for axis, name in zip(s.axes_manager.navigation_axes, ("x", "y"), strict=False):
        axis.name, axis.units, axis.scale = name, "nm", 2.0
    for axis, name in zip(s.axes_manager.signal_axes, ("kx", "ky"), strict=False):
        axis.name, axis.units, axis.scale = name, "1/nm", 0.1
        axis.offset = -0.1 * (axis.size - 1) / 2
    if lazy:
        s = s.as_lazy()
    return s, {"factors": factors, "loadings": loadings}


def _lazy_counts(loadings, factors, nav, sig, noise, dtype, chunks, rng):
    """A dask array whose chunks are drawn independently when computed."""
    import dask.array as da

    seed = int(rng.integers(2**63))
    chunks = tuple(int(c) for c in chunks) + sig
    template = da.empty(nav + sig, chunks=chunks, dtype=dtype)

    def draw(block, block_info=None):
        (y0, y1), (x0, x1) = block_info[0]["array-location"][:2]
        rows = (np.arange(y0, y1)[:, None] * nav[1] + np.arange(x0, x1)).ravel()
        clean = loadings[rows] @ factors
        if noise:
            chunk_rng = np.random.default_rng([seed, y0, x0])
            clean = chunk_rng.poisson(clean)
        return clean.astype(dtype).reshape(block.shape)

    return template.map_blocks(draw, dtype=dtype)

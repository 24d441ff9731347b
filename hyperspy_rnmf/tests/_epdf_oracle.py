"""Electron diffraction oracle for the ePDF tests: Debye equation on atom models.

``I(Q) / N = <f^2> + (1/N) sum_{i != j} f_i f_j sin(Q r_ij) / (Q r_ij)
exp(-sigma^2 Q^2 / 2)`` for spherical clusters cut from alpha-quartz and fcc
nickel, with the same electron scattering factors as the code under test
(Lobato by default). Pair distances are histogrammed (0.5 mÅ bins) per element
pair, so the sum costs (bins x Q points) instead of (pairs x Q points).

A cluster of radius R has no bulk baseline: its G(r) slope is
``-4 pi rho0 gamma0(r) r`` with the sphere's shape function
``gamma0(r) = 1 - 3 r / (4 R) + r^3 / (16 R^3)``; :func:`effective_density`
applies it (the finite-size correction the tests use).
"""

import functools

import numpy as np
from scipy.spatial.distance import cdist

from hyperspy_rnmf._scattering import electron_scattering_factors, scattering_moments

BIN = 0.0005  # Å


def quartz_cell():
    """alpha-quartz, P3_221, a = 4.9134, c = 5.4052 Å (Si-O 1.604/1.613 Å)."""
    a, c = 4.9134, 5.4052
    lattice = np.array([[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]])

    def orbit(x, y, z):
        ops = [
            (x, y, z),
            (-y, x - y, z + 2 / 3),
            (-x + y, -x, z + 1 / 3),
            (y, x, -z),
            (x - y, -y, -z + 1 / 3),
            (-x, -x + y, -z + 2 / 3),
        ]
        unique = []
        for p in np.mod(np.array(ops), 1.0):
            if not any(
                np.allclose(np.mod(p - u + 0.5, 1) - 0.5, 0, atol=1e-6) for u in unique
            ):
                unique.append(p)
        return np.array(unique)

    return lattice, {
        "Si": orbit(0.4697, 0.0, 2 / 3),
        "O": orbit(0.4135, 0.2669, 0.7858),
    }


def fcc_cell(a=3.524, element="Ni"):
    """fcc nickel, a = 3.524 Å (nearest neighbours 2.492 Å)."""
    sites = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return np.eye(3) * a, {element: sites}


def cluster(lattice, sites, radius):
    """Atoms within ``radius`` of the origin, and the crystal's number density."""
    n = int(np.ceil(radius / np.min(np.linalg.norm(lattice, axis=1)))) + 1
    grid = np.stack(np.meshgrid(*[np.arange(-n, n + 1)] * 3, indexing="ij"), -1)
    grid = grid.reshape(-1, 3)
    atoms = {}
    for element, fractional in sites.items():
        positions = (grid[:, None, :] + fractional[None]).reshape(-1, 3) @ lattice
        atoms[element] = positions[np.linalg.norm(positions, axis=1) < radius]
    per_cell = sum(len(f) for f in sites.values())
    return atoms, per_cell / abs(np.linalg.det(lattice))


@functools.lru_cache(maxsize=8)
def model(name, radius):
    """(atoms, rho0, pair histograms) of a cached cluster model."""
    cell = quartz_cell() if name == "quartz" else fcc_cell()
    atoms, rho = cluster(*cell, radius)
    elements = list(atoms)
    histograms = {}
    for i, a in enumerate(elements):
        for b in elements[i:]:
            x, y = atoms[a], atoms[b]
            edges = np.arange(0, 2 * radius + 2 * BIN, BIN)
            counts = np.zeros(edges.size - 1)
            for start in range(0, len(x), 1000):
                d = cdist(x[start : start + 1000], y).ravel()
                counts += np.histogram(d[d > 1e-6], edges)[0]
            counts = counts if a == b else 2 * counts  # both orders (i, j), (j, i)
            keep = counts > 0
            histograms[(a, b)] = (0.5 * (edges[1:] + edges[:-1]))[keep], counts[keep]
    return atoms, rho, histograms


def debye_intensity(q, name, radius, sigma=0.08, table="lobato"):
    """Electron I(Q) per atom of the cluster model (Debye equation)."""
    atoms, _, histograms = model(name, radius)
    elements = list(atoms)
    n = sum(len(v) for v in atoms.values())
    factors = dict(
        zip(elements, electron_scattering_factors(elements, q, table), strict=True)
    )
    total = sum(len(atoms[e]) * factors[e] ** 2 for e in elements)
    damping = np.exp(-0.5 * (sigma * q) ** 2)
    for (a, b), (distances, counts) in histograms.items():
        summed = np.zeros_like(q)
        for start in range(0, distances.size, 4000):
            d = distances[start : start + 4000]
            summed += np.sinc(np.outer(q, d) / np.pi) @ counts[start : start + 4000]
        total = total + factors[a] * factors[b] * summed * damping
    return total / n


def distorted(q, intensity, composition, scale=50.0):
    """``scale I + B(Q)``: a linear background and a steep low-Q tail."""
    from hyperspy_rnmf._scattering import parse_composition

    _, mean_f2 = scattering_moments(parse_composition(composition), np.zeros(1))
    tail = 0.05 * scale * mean_f2[0] * np.exp(-q / 1.5)
    return scale * intensity + scale * (0.02 + 0.001 * q) + tail


def mean_distance(name, radius, low, high):
    """Mean pair distance of the model in ``[low, high]`` (all pair types)."""
    _, _, histograms = model(name, radius)
    d = np.concatenate([h[0] for h in histograms.values()])
    c = np.concatenate([h[1] for h in histograms.values()])
    keep = (d >= low) & (d <= high)
    return float(np.sum(d[keep] * c[keep]) / np.sum(c[keep]))


def effective_density(name, radius, r_range):
    """rho0 times the sphere shape function, averaged like the slope fit."""
    _, rho, _ = model(name, radius)
    r = np.linspace(r_range[0], r_range[1], 200)
    gamma = 1 - 3 * r / (4 * radius) + r**3 / (16 * radius**3)
    return rho * np.sum(gamma * r**2) / np.sum(r**2)

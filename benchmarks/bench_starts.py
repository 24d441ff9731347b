"""How often NMF finds every planted phase, by start: NNDSVDar, random, SPA.

NMF has local minima. On 4D-STEM data the phases share a strong direct beam
and a diffuse background, so the first NNDSVD factor (the mean pattern) is
close to all of them and the fit can end with phases mixed into each other.
This benchmark counts, over planted datasets
(:func:`hyperspy_rnmf.datasets.synthetic_4dstem`, 1200 probe positions x
64 x 64 pixels, Poisson counts, k = 4..12 phases, seeds 1..4, sharp and wide
grain boundaries; and, when ``../shared/data`` is there, 4 cubes built from
5 real SPED patterns of silver grains), the datasets on which every planted
phase is found (worst cosine between a planted pattern and its matched factor
> 0.95), for:

* scikit-learn ``NMF(init="nndsvdar", solver="cd", max_iter=200)``;
* RandomizedNMF defaults (``init='nndsvdar'``);
* RandomizedNMF ``init='random'``;
* RandomizedNMF ``init='spa'``;
* the fit for k of a k-scan over 1..k (``scan_components``, default options,
  ``set_decomposition``): every k starts from the fit for k - 1 plus one
  NNDSVD pair, on one sketch.

It prints one row per group of datasets: phases found, mean relative error
and total time for each method. With the shared data it also prints a second
table: both starts on a SPED-like cube when k exceeds its number of pure
components (:func:`over_specified`). Timings are noisy on shared machines: compare
within one run.

Usage::

    python benchmarks/bench_starts.py            # 44 datasets (~5 min)
    python benchmarks/bench_starts.py --quick    # 10 datasets
"""

import argparse
import os
import pathlib
import sys
import time
import warnings

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "numba"),
)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import hyperspy.api as hs  # noqa: E402
import numpy as np  # noqa: E402
from _planted import BOUNDARIES, fit_planted, synthetic_cubes  # noqa: E402
from _sped_like import DATA, load_real, sped_like  # noqa: E402
from sklearn.decomposition import NMF  # noqa: E402

from hyperspy_rnmf import RandomizedNMF, scan_components  # noqa: E402


class ScanChain:
    """The fit for k of a k-scan over 1..k: each k starts from the fit for
    k - 1 plus one NNDSVD pair of the sketch (``scan_components``)."""

    def __init__(self, k):
        self.k = k

    def fit_transform(self, X):
        signal = hs.signals.Signal1D(X)
        result = scan_components(
            signal, range(1, self.k + 1), random_state=0, show_progressbar=False
        )
        result.set_decomposition(signal, self.k)
        self.components_ = np.asarray(signal.learning_results.factors).T
        return np.asarray(signal.learning_results.loadings)


METHODS = {
    "scikit-learn nndsvdar": lambda k: NMF(
        k, init="nndsvdar", solver="cd", max_iter=200, random_state=0
    ),
    "RNMF defaults": lambda k: RandomizedNMF(k, random_state=0),
    "RNMF init='random'": lambda k: RandomizedNMF(k, init="random", random_state=0),
    "RNMF init='spa'": lambda k: RandomizedNMF(k, init="spa", random_state=0),
    "RNMF k-scan 1..k": ScanChain,
}


def real_grain_cubes(seeds):
    """Cubes from 5 real SPED patterns of silver grains on their label maps.

    The patterns and labels are the NordTEMhub 2024 SPED-Ag data read by
    :func:`_sped_like.load_real` (CC BY 4.0); the labels are subsampled 2x and
    blurred (Gaussian, sigma 1.5 probe positions) so that neighbouring grains
    overlap, then Poisson counts are drawn (2e4 per pattern). Yields
    ``(X, factors)``.
    """
    from scipy.ndimage import gaussian_filter

    patterns, labels, _, _ = load_real()
    factors = patterns.reshape(len(patterns), -1)
    maps = np.stack([gaussian_filter(m.astype(float), 1.5)[::2, ::2] for m in labels])
    maps /= np.maximum(maps.sum(axis=0, keepdims=True), 1e-12)
    expected = 2e4 * maps.reshape(len(maps), -1).T @ factors
    for seed in seeds:
        X = np.random.default_rng(seed).poisson(expected).astype(np.float32)
        yield X, factors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 datasets")
    args = parser.parse_args(argv)
    ks, seeds = ((4, 8), (1, 2)) if args.quick else ((4, 6, 8, 10, 12), (1, 2, 3, 4))
    lines = [
        "| datasets | k | "
        + " | ".join(f"{name}: found / mean error / time (s)" for name in METHODS)
        + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    totals = {name: [0, 0, 0.0] for name in METHODS}
    cases = [
        (group, k, lambda k=k, b=boundary: synthetic_cubes(k, b, seeds))
        for group, boundary in BOUNDARIES.items()
        for k in ks
    ]
    if DATA.is_dir():
        cases.append(("real Ag grain patterns", 5, lambda: real_grain_cubes(seeds)))
    for group, k, cubes in cases:
        cells = {name: [0, [], 0.0] for name in METHODS}
        for X, factors in cubes():
            for name, make in METHODS.items():
                found, err, elapsed = fit_planted(make(factors.shape[0]), X, factors)
                cells[name][0] += found
                cells[name][1].append(err)
                cells[name][2] += elapsed
        for name, (found, errs, elapsed) in cells.items():
            totals[name][0] += found
            totals[name][1] += len(errs)
            totals[name][2] += elapsed
        lines.append(
            f"| {group} | {k} | "
            + " | ".join(
                f"{found}/{len(errs)} / {np.mean(errs):.5f} / {elapsed:.1f}"
                for found, errs, elapsed in cells.values()
            )
            + " |"
        )
        print(lines[-1], flush=True)
    lines.append(
        "| **all** | | "
        + " | ".join(f"**{f}/{n}** / / {t:.1f}" for f, n, t in totals.values())
        + " |"
    )
    table = "\n".join(lines)
    print("\n" + table)
    if DATA.is_dir():
        print("\n" + over_specified())
    return table


def over_specified(ks=(6, 8, 12)):
    """NNDSVDar and SPA starts when k exceeds the number of pure components.

    The SPED-like cube of ``bench_segmentation_nmf.py`` (cube A: 5 grain
    orientations plus the vacuum pattern, 13312 probe positions x 56 x 56
    pixels) factorized with k = 6 (its pure components) and more, as the NMF
    segmentation route does.
    """
    s, _ = sped_like(counts=20000.0, blur=1.0, random_state=0)
    X = s.data.reshape(s.axes_manager.navigation_size, -1)
    lines = [
        "| k | start | time (s) | HALS iterations | reconstruction error |",
        "|---|---|---|---|---|",
    ]
    for k in ks:
        for init in ("nndsvdar", "spa"):
            model = RandomizedNMF(k, init=init, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                model.fit(X)
                elapsed = time.perf_counter() - t0
            lines.append(
                f"| {k} | {init} | {elapsed:.2f} | {model.n_iter_} | "
                f"{model.reconstruction_err_:.1f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

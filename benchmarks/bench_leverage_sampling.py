"""HALS started on a leverage-score sample of the sketch rows, against HALS on all rows.

``RandomizedNMF(leverage_sampling=True)`` (the default) runs the HALS
iterations first on a sample of the rows of the sketch basis drawn by
leverage score, then on all rows (:func:`hyperspy_rnmf._hals.sampled_hals`);
``leverage_sampling=False`` runs every iteration on all rows. This benchmark
fits both ways, with the NNDSVDar and SPA starts, on planted cubes of
:func:`hyperspy_rnmf.datasets.synthetic_4dstem` with a detector large enough
for the sample to be used (1200 probe positions x 187 x 187 pixels; k = 4..12
phases, seeds 1..3, grain boundaries 1.5 and 4 probe positions wide), and
prints per k: datasets on which every planted phase is found (worst cosine
> 0.95), mean relative error, fits that reached ``max_iter`` and total time.
Timings on shared machines are noisy: compare within one run.

Usage::

    python benchmarks/bench_leverage_sampling.py           # 30 datasets (~7 min)
    python benchmarks/bench_leverage_sampling.py --quick   # 4 datasets, 160 x 160
"""

import argparse
import os
import pathlib
import sys

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "numba"),
)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _planted import fit_planted  # noqa: E402

from hyperspy_rnmf import RandomizedNMF  # noqa: E402
from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402

CONFIGS = [
    (sampling, init) for sampling in (False, True) for init in ("nndsvdar", "spa")
]


def fit(X, factors, k, sampling, init):
    model = RandomizedNMF(k, init=init, random_state=0, leverage_sampling=sampling)
    found, error, elapsed = fit_planted(model, X, factors)
    return found, error, model.n_iter_ >= model.max_iter, elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 small datasets")
    args = parser.parse_args(argv)
    if args.quick:
        sig, ks, seeds, boundaries = (160, 160), (4, 6), (0,), (1.5, 4.0)
    else:
        sig, ks, seeds, boundaries = (
            (187, 187),
            (4, 6, 8, 10, 12),
            (1, 2, 3),
            (1.5, 4.0),
        )
    rows = {}
    for k in ks:
        for boundary in boundaries:
            for seed in seeds:
                s, truth = synthetic_4dstem(
                    k, (40, 30), sig, boundary=boundary, random_state=seed
                )
                X = s.data.reshape(s.axes_manager.navigation_size, -1)
                for config in CONFIGS:
                    result = fit(X, truth["factors"], k, *config)
                    rows.setdefault((k, config), []).append(result)
        print(f"k={k} done", flush=True)
    header = " | ".join(
        f"sampling={'on' if s else 'off'}, {init}: found / mean error / max_iter "
        "reached / time (s)"
        for s, init in CONFIGS
    )
    lines = [f"| k | {header} |", "|---" * (len(CONFIGS) + 1) + "|"]
    totals = {config: [] for config in CONFIGS}
    for k in ks:
        cells = []
        for config in CONFIGS:
            results = rows[(k, config)]
            totals[config].extend(results)
            cells.append(summary(results))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines.append(
        "| **all** | " + " | ".join(f"**{summary(totals[c])}**" for c in CONFIGS) + " |"
    )
    table = "\n".join(lines)
    print(f"\n{X.shape[0]} probe positions x {sig[0]} x {sig[1]} pixels\n\n{table}")
    return table


def summary(results):
    found, errors, capped, times = zip(*results, strict=True)
    return (
        f"{sum(found)}/{len(found)} / {np.mean(errors):.5f} / {sum(capped)} / "
        f"{sum(times):.1f}"
    )


if __name__ == "__main__":
    main()

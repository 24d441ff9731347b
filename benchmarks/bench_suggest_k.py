"""How often the k-scan suggests the planted number of phases.

Planted datasets of :func:`hyperspy_rnmf.datasets.synthetic_4dstem` (1200 probe
positions x 64 x 64 pixels, Poisson counts, k = 3..10 phases, seeds 1..3),
scanned over k = 1..14 with default options, on the counts and with
``normalize_poissonian_noise=True`` (weighted). For each dataset: the knee of
e(k) alone (kneedle, :func:`hyperspy_rnmf.kscan.suggest_k`) and the scan's
suggestion, which moves a knee whose r_real still shows spatial structure up
to the smallest k whose r_real shows none
(:func:`hyperspy_rnmf.kscan.correct_for_structure`).

Usage::

    python benchmarks/bench_suggest_k.py          # 18 datasets, two scans each (~2 min)
    python benchmarks/bench_suggest_k.py --quick  # 4 datasets
"""

import argparse
import os
import pathlib
import warnings

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "numba"),
)

from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402
from hyperspy_rnmf.kscan import scan_components, suggest_k  # noqa: E402


def scan(s, weighted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scan_components(
            s,
            range(1, 15),
            random_state=0,
            normalize_poissonian_noise=weighted,
            show_progressbar=False,
        )
    knee = suggest_k(result.k_values, result.mean_abs_error)[0]
    at_knee = result.spatial_structure[list(result.k_values).index(knee)]
    return knee, result.suggested_k, at_knee


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 datasets")
    args = parser.parse_args(argv)
    ks, seeds = ((4, 8), (1, 3)) if args.quick else ((3, 4, 5, 6, 8, 10), (1, 2, 3))
    lines = [
        "| planted k | seed | knee of e(k) | suggested k | Moran's I at the knee "
        "| weighted: knee | weighted: suggested k | weighted: Moran's I at the knee |",
        "|---|---|---|---|---|---|---|---|",
    ]
    right = [0, 0, 0, 0]
    for k in ks:
        for seed in seeds:
            s, _ = synthetic_4dstem(k, (40, 30), (64, 64), random_state=seed)
            cells = []
            for i, weighted in enumerate((False, True)):
                knee, suggested, at_knee = scan(s, weighted)
                right[2 * i] += knee == k
                right[2 * i + 1] += suggested == k
                cells += [str(knee), str(suggested), f"{at_knee:.2f}"]
            lines.append(f"| {k} | {seed} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    n = len(ks) * len(seeds)
    lines.append(
        f"| **right** | | **{right[0]}/{n}** | **{right[1]}/{n}** | "
        f"| **{right[2]}/{n}** | **{right[3]}/{n}** | |"
    )
    table = "\n".join(lines)
    print("\n" + table)
    return table


if __name__ == "__main__":
    main()

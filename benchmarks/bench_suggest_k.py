"""How often the k-scan suggests the planted number of phases.

Planted datasets of :func:`hyperspy_rnmf.datasets.synthetic_4dstem` (1200 probe
positions x 64 x 64 pixels, Poisson counts, k = 1..10 phases, seeds 1..3),
scanned over k = 1..14 with default options, on the counts and with
``normalize_poissonian_noise=True`` (weighted). For each dataset: the knee of
e(k) alone (kneedle, :func:`hyperspy_rnmf.kscan.suggest_k`) and the scan's
suggestion, which moves a knee whose r_real still shows spatial structure up
to the smallest k whose r_real shows none
(:func:`hyperspy_rnmf.kscan.correct_for_structure`) and a knee above the
smallest k whose residual is at the Poisson noise level down to that k
(:func:`hyperspy_rnmf.kscan.stop_at_noise_level`; single-phase data).

A second table does the same on the SPED-like cube of ``_sped_like.py`` (the
five real silver grain patterns of ``/work/shared/data`` on their real label
maps, plus vacuum: 6 phases; 64 x 208 probe positions x 112 x 112 pixels,
uint16 counts), for several cubes (Poisson draws) and several sketches
(``random_state``) of each. Real data keep a little structure in r_real at
every k, so this checks the rule's tolerance of it.

Usage::

    python benchmarks/bench_suggest_k.py          # 24 + 24 datasets, two scans each (~15 min)
    python benchmarks/bench_suggest_k.py --quick  # 4 + 2 datasets
"""

import argparse
import os
import pathlib
import sys
import warnings

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "numba"),
)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _sped_like import sped_like  # noqa: E402

from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402
from hyperspy_rnmf.kscan import scan_components, suggest_k  # noqa: E402


def scan(s, weighted, k_values=range(1, 15), random_state=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scan_components(
            s,
            k_values,
            random_state=random_state,
            normalize_poissonian_noise=weighted,
            show_progressbar=False,
        )
    knee = suggest_k(result.k_values, result.mean_abs_error)[0]
    at_knee = result.spatial_structure[list(result.k_values).index(knee)]
    return knee, result.suggested_k, at_knee, result


def scan_both_ways(s, planted, right, **options):
    """Counts and weighted scans of ``s``; ``right`` (knee, suggestion for
    counts, then weighted) counts the hits of ``planted``."""
    out = []
    for i, weighted in enumerate((False, True)):
        knee, suggested, at_knee, result = scan(s, weighted, **options)
        right[2 * i] += knee == planted
        right[2 * i + 1] += suggested == planted
        out.append((knee, suggested, at_knee, result))
    return out


def sped_table(data_seeds, scan_seeds):
    """Suggestions on the SPED-like cube (6 phases), default k = 1..12.

    Moran's I columns (unweighted scan): at the knee, at the suggested k, and
    the lowest of all k above the knee (when it is not below 0.15, the
    suggestion relies on ``STRUCTURE_MARGIN``).
    """
    lines = [
        "| cube seed | sketch seed | knee of e(k) | suggested k "
        "| Moran's I: knee / suggested / lowest above knee "
        "| weighted: knee | weighted: suggested k |",
        "|---|---|---|---|---|---|---|",
    ]
    right = [0, 0, 0, 0]
    for data_seed in data_seeds:
        s = sped_like(bin_signal=1, random_state=data_seed)[0]
        for seed in scan_seeds:
            counts, weighted = scan_both_ways(
                s, 6, right, k_values=range(1, 13), random_state=seed
            )
            knee, suggested, at_knee, result = counts
            ks = list(result.k_values)
            score = result.spatial_structure
            cells = [
                str(knee),
                str(suggested),
                f"{at_knee:.2f} / {score[ks.index(suggested)]:.2f} / "
                f"{score[ks.index(knee) + 1 :].min():.2f}",
                str(weighted[0]),
                str(weighted[1]),
            ]
            lines.append(f"| {data_seed} | {seed} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    lines.append(totals_row("right (6)", right, len(data_seeds) * len(scan_seeds)))
    return "\n".join(lines)


def totals_row(label, right, n):
    """Table row of the right knees and suggestions, counts then weighted."""
    a, b, c, d = (f"**{count}/{n}**" for count in right)
    return f"| **{label}** | | {a} | {b} | | {c} | {d} |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 datasets")
    args = parser.parse_args(argv)
    ks, seeds = (
        ((4, 8), (1, 3)) if args.quick else ((1, 2, 3, 4, 5, 6, 8, 10), (1, 2, 3))
    )
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
            for knee, suggested, at_knee, _ in scan_both_ways(s, k, right):
                cells += [str(knee), str(suggested), f"{at_knee:.2f}"]
            lines.append(f"| {k} | {seed} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    lines.append(totals_row("right", right, len(ks) * len(seeds)) + " |")
    table = "\n".join(lines)
    print("\n" + table + "\n", flush=True)
    data_seeds, scan_seeds = ((0,), (0, 1)) if args.quick else ((0, 1, 2), range(8))
    sped = sped_table(data_seeds, scan_seeds)
    print("\nSPED-like cube (real silver grain patterns, 6 phases):\n" + sped)
    return table, sped


if __name__ == "__main__":
    main()

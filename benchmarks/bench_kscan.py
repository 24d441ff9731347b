"""Choosing k: one-sketch k-scan against independent fits and scikit-learn.

Data of the size of Werbrouck et al. (2025): 2028 probe positions x 187 x 187
pixels (34969), float32, 5 planted phases with Poisson counts. Measured in one
run:

* the k-scan over k = 2..12 reusing one sketch (``scan_components``);
* one RandomizedNMF fit with k = 12 (the target: scan <= 3x this);
* 11 independent RandomizedNMF fits, k = 2..12;
* scikit-learn ``NMF(init="nndsvdar", solver="cd", max_iter=200)`` for each k
  (time per k; ``--sklearn-ks`` to restrict, ``--sklearn-ks none`` to skip).

A k-scan and a fit on small data run first, untimed: the first call in a
process pays numba's start-up and the loading of the compiled kernels (about
0.4 s, see :mod:`hyperspy_rnmf._sweep`), which the scan, timed first, paid
alone in runs before this warm-up.

Usage::

    python benchmarks/bench_kscan.py [--quick] [--sklearn-ks 2 7 12]
"""

import argparse
import os
import pathlib
import time
import warnings

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "numba"),
)


from hyperspy_rnmf import RandomizedNMF, _thin_product  # noqa: E402
from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402
from hyperspy_rnmf.kscan import scan_components  # noqa: E402

KS = list(range(2, 13))


def timed(func):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = func()
    return time.perf_counter() - t0, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, smoke test")
    parser.add_argument("--sklearn-ks", nargs="+", default=[str(k) for k in KS])
    args = parser.parse_args(argv)
    nav, sig = ((20, 16), (48, 48)) if args.quick else ((52, 39), (187, 187))
    small, _ = synthetic_4dstem(3, (12, 10), (24, 24), random_state=0)
    timed(lambda: scan_components(small, [2, 3], random_state=0))  # warm-up
    timed(lambda: RandomizedNMF(3, random_state=0).fit(small.data.reshape(120, -1)))
    _thin_product.load_kernel()  # used only on data of 4 MB and more
    s, _ = synthetic_4dstem(5, nav, sig, random_state=5, dtype="float32")
    X = s.data.reshape(s.axes_manager.navigation_size, -1)
    t_scan, result = timed(
        lambda: scan_components(s, KS, random_state=0, show_progressbar=False)
    )
    t_fit12, _ = timed(lambda: RandomizedNMF(12, random_state=0).fit(X))
    independent = {}
    for k in KS:
        independent[k], _ = timed(lambda k=k: RandomizedNMF(k, random_state=0).fit(X))
    sk_ks = [] if args.sklearn_ks == ["none"] else [int(k) for k in args.sklearn_ks]
    sklearn = {}
    for k in sk_ks:
        from sklearn.decomposition import NMF

        sklearn[k], _ = timed(
            lambda k=k: NMF(
                k, init="nndsvdar", solver="cd", max_iter=200, random_state=0
            ).fit(X)
        )
        print(f"scikit-learn k={k}: {sklearn[k]:.1f} s", flush=True)
    lines = [
        f"Data: {X.shape[0]} x {X.shape[1]} float32, 5 planted phases, Poisson counts.",
        "",
        "| method | total time (s) | ratio to one k=12 RandomizedNMF fit |",
        "|---|---|---|",
        f"| k-scan k=2..12, one sketch | {t_scan:.2f} | {t_scan / t_fit12:.2f} |",
        f"| one RandomizedNMF fit, k=12 | {t_fit12:.2f} | 1.00 |",
        f"| 11 independent RandomizedNMF fits | {sum(independent.values()):.2f} | "
        f"{sum(independent.values()) / t_fit12:.2f} |",
    ]
    if sklearn:
        total = sum(sklearn.values())
        lines.append(
            f"| scikit-learn NMF, {len(sklearn)} values of k | {total:.1f} | "
            f"{total / t_fit12:.1f} |"
        )
    lines += [
        "",
        "| k | " + " | ".join(str(k) for k in KS) + " |",
        "|---|" + "---|" * len(KS),
    ]
    lines.append(
        "| RNMF fit (s) | " + " | ".join(f"{independent[k]:.2f}" for k in KS) + " |"
    )
    if sklearn:
        lines.append(
            "| scikit-learn (s) | "
            + " | ".join(f"{sklearn[k]:.1f}" if k in sklearn else "-" for k in KS)
            + " |"
        )
    lines.append(
        "| e(k) of the scan | "
        + " | ".join(f"{e:.3f}" for e in result.mean_abs_error)
        + " |"
    )
    lines.append(
        "| Moran's I of r_real | "
        + " | ".join(f"{v:.2f}" for v in result.spatial_structure)
        + " |"
    )
    lines += ["", f"Suggested k: {result.suggested_k} ({result.reason})."]
    table = "\n".join(lines)
    print("\n" + table)
    return table


if __name__ == "__main__":
    main()

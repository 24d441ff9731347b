"""The compiled thin products against NumPy's BLAS, and what they change in a fit.

Data: the 2028 x 187^2 float32 data of ``bench_rnmf.py`` (k = 8), and the
same data in float64. For widths w = 3..36 (the sketch has ``k + oversample``
columns, the refinement ``k``):

* ``X @ R`` and ``L.T @ X`` with NumPy (OpenBLAS on all cores) and with
  :mod:`hyperspy_rnmf._thin_product`, the runs interleaved, each run started
  after a pause of ``--pause`` seconds ("quiet": OpenBLAS's threads, which
  spin for about 0.1 s after each call, are asleep) and right after a
  multi-threaded BLAS call ("after BLAS");
* RandomizedNMF fits (defaults, k = 3 and 8) with the compiled products and
  with BLAS (``HYPERSPY_RNMF_BLAS_PRODUCTS=1``), in one-pass times (``X @
  Omega`` by BLAS on the float32 data, as in ``bench_rnmf.py``), in both
  conditions, and their results; on the float32 data (one product over the
  whole array) and on the same counts as uint16 (converted block by block,
  one kernel or one BLAS thread per block).

Times are medians; compare the ratios of one run.

Usage::

    python benchmarks/bench_thin_product.py            # ~6 min
    python benchmarks/bench_thin_product.py --quick    # smaller data
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

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _planted import core_data  # noqa: E402

from hyperspy_rnmf import RandomizedNMF  # noqa: E402
from hyperspy_rnmf import _thin_product as thin  # noqa: E402
from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402
from hyperspy_rnmf.matching import match_components, relative_error  # noqa: E402

SWITCH = "HYPERSPY_RNMF_BLAS_PRODUCTS"


def timed(funcs, repeats, pause, before=None):
    """Median seconds of each function, runs interleaved; each run starts
    after ``pause`` seconds and then ``before()``."""
    times = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, func in funcs.items():
            time.sleep(pause)
            if before is not None:
                before()
            t0 = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(values)) for name, values in times.items()}


def products(X, widths, repeats, pause, warm):
    rng = np.random.default_rng(0)
    rows = []
    for w in widths:
        R = rng.standard_normal((X.shape[1], w)).astype(X.dtype)
        L = rng.standard_normal((X.shape[0], w)).astype(X.dtype)
        funcs = {
            "blas X @ R": lambda R=R: X @ R,
            "compiled X @ R": lambda R=R: thin.thin_matmul(X, R),
            "blas L.T @ X": lambda L=L: L.T @ X,
            "compiled L.T @ X": lambda L=L: thin.thin_rmatmul(L, X),
        }
        for func in funcs.values():
            func()
        quiet = timed(funcs, repeats, pause)
        after = timed(funcs, repeats, 0.0, before=warm)
        rows.append((w, quiet, after))
    return rows


def fit(X, k, compiled):
    if compiled:
        os.environ.pop(SWITCH, None)
    else:
        os.environ[SWITCH] = "1"
    model = RandomizedNMF(n_components=k, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = model.fit_transform(X)
    os.environ.pop(SWITCH, None)
    return model, W


def fits(k, nav, sig, repeats, pause, dtype):
    s, truth = synthetic_4dstem(k, nav, sig, random_state=k, dtype="float32")
    X = s.data.reshape(s.axes_manager.navigation_size, -1)
    omega = (
        np.random.default_rng(0)
        .standard_normal((X.shape[1], k + RandomizedNMF().oversample))
        .astype(X.dtype)
    )
    data = X if dtype == "float32" else np.round(X).astype(dtype)
    funcs = {
        "pass": lambda: X @ omega,
        "BLAS": lambda: fit(data, k, False),
        "compiled": lambda: fit(data, k, True),
    }
    for func in funcs.values():
        func()
    quiet = timed(funcs, repeats, pause)
    after = timed(funcs, repeats, 0.0)  # each fit right after the one before
    results = {}
    for name, compiled in (("BLAS", False), ("compiled", True)):
        model, W = fit(data, k, compiled)
        results[name] = (
            relative_error(data, W, model.components_),
            match_components(model.components_, truth["factors"]).min(),
            model.n_iter_,
        )
    return quiet, after, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--pause", type=float, default=0.2)
    args = parser.parse_args(argv)
    if not thin._avx512():
        print("This CPU has no AVX-512: the package uses BLAS for these products.")
    if args.quick:
        X = core_data(3)[0][:512, :9000].copy()
        nav, sig = (26, 20), (64, 64)
    else:
        X = core_data(8)[0]
        nav, sig = (52, 39), (187, 187)
    omega = np.random.default_rng(1).standard_normal((X.shape[1], 18))
    omega = omega.astype(X.dtype)

    def warm():  # a multi-threaded BLAS call: OpenBLAS's threads now spin
        X @ omega

    print(f"## Products, {X.shape[0]} x {X.shape[1]} (median ms)\n")
    print(
        "| dtype | w | condition | BLAS X @ R | compiled | ratio "
        "| BLAS L.T @ X | compiled | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for dtype in ("float32", "float64"):
        data = X if dtype == "float32" else X.astype(dtype)
        for w, quiet, after in products(
            data, (3, 8, 13, 18, 28, 36), args.repeats, args.pause, warm
        ):
            for condition, t in (("quiet", quiet), ("after BLAS", after)):
                a, b = t["blas X @ R"], t["compiled X @ R"]
                c, d = t["blas L.T @ X"], t["compiled L.T @ X"]
                print(
                    f"| {dtype} | {w} | {condition} | {1e3 * a:.1f} | {1e3 * b:.1f} "
                    f"| {b / a:.2f} | {1e3 * c:.1f} | {1e3 * d:.1f} | {d / c:.2f} |"
                )
        del data
    print("\n## RandomizedNMF fits (defaults), in one-pass times\n")
    print(
        "| data | k | one pass (s) | condition | BLAS products "
        "| compiled products | rel. error BLAS / compiled "
        "| worst cosine BLAS / compiled | iterations |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for dtype in ("float32", "uint16"):
        for k in (3, 8):
            quiet, after, results = fits(k, nav, sig, args.repeats, args.pause, dtype)
            (e0, c0, i0), (e1, c1, i1) = results["BLAS"], results["compiled"]
            for condition, t in (("quiet", quiet), ("fits back to back", after)):
                p = t["pass"]
                print(
                    f"| {dtype} | {k} | {p:.4f} | {condition} "
                    f"| {t['BLAS'] / p:.2f} | {t['compiled'] / p:.2f} "
                    f"| {e0:.7f} / {e1:.7f} | {c0:.4f} / {c1:.4f} | {i0} / {i1} |"
                )


if __name__ == "__main__":
    main()

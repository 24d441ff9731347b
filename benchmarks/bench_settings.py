"""Which RandomizedNMF settings reach 100x scikit-learn at equal error?

The data and the scikit-learn reference of ``bench_rnmf.py`` (2028 probe
positions x 187 x 187 pixels, float32, planted phases with Poisson counts;
``NMF(init="nndsvdar", solver="cd", max_iter=200)``, the median of 3 runs),
and RandomizedNMF with its defaults and with the settings that change its
cost: ``init="spa"`` and a narrower sketch (``oversample`` 6 and 4 instead
of 10). For each setting: the largest ``tol`` of ``bench_rnmf.py``'s ladder
that reaches scikit-learn's error, then the median time of that fit, the
fits of all settings and a one-pass product (``X @ Omega``) interleaved,
each run after ``_interleaved.PAUSE`` of rest.

Written to weigh a change of defaults against the issue's 100x target at
k = 8: the defaults stay as they are. Timings on shared machines are noisy:
compare the ratios of one run.

Usage::

    python benchmarks/bench_settings.py            # k = 8 (~2 min)
    python benchmarks/bench_settings.py --ks 3 8   # both k of bench_rnmf.py
    python benchmarks/bench_settings.py --quick    # smaller data, smoke test
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
from _interleaved import interleaved_times  # noqa: E402
from bench_rnmf import TOLS, fit_rnmf, random_matrix, sklearn_nmf  # noqa: E402

from hyperspy_rnmf import RandomizedNMF  # noqa: E402
from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402
from hyperspy_rnmf.matching import match_components, relative_error  # noqa: E402

SETTINGS = {
    "defaults": {},
    'init="spa"': {"init": "spa"},
    "oversample=6": {"oversample": 6},
    "oversample=4": {"oversample": 4},
    'init="spa", oversample=4': {"init": "spa", "oversample": 4},
}


def fit(X, k, tol, options):
    return fit_rnmf(
        X, n_components=k, random_state=0, tol=tol, max_iter=5000, **options
    )


def bench(k, nav, sig, repeats, sk_repeats):
    s, truth = synthetic_4dstem(k, nav, sig, random_state=k, dtype="float32")
    X = s.data.reshape(s.axes_manager.navigation_size, -1)
    sk_time, _, sk, W_sk = sklearn_nmf(X, k, sk_repeats)
    sk_err = relative_error(X, W_sk, sk.components_)
    rows, funcs = [], {}
    for name, options in SETTINGS.items():
        row = {"name": name, "tol": None}
        for tol in TOLS:  # the largest tol that reaches scikit-learn's error
            model, W = fit(X, k, tol, options)
            err = relative_error(X, W, model.components_)
            if err <= sk_err:
                cosine = match_components(model.components_, truth["factors"]).min()
                row.update(tol=tol, err=err, cos=cosine, iters=model.n_iter_)
                funcs[name] = lambda tol=tol, options=options: fit(X, k, tol, options)
                break
        rows.append(row)
    omega = random_matrix(X, k + RandomizedNMF().oversample)
    funcs["pass"] = lambda: X @ omega
    timed = interleaved_times(funcs, repeats)
    one_pass = timed["pass"][0]
    lines = [
        f"k={k}, {X.shape[0]} x {X.shape[1]} float32: scikit-learn {sk_time:.1f} s "
        f"(median of {sk_repeats}), rel. error {sk_err:.6f}; one pass "
        f"{one_pass:.3f} s",
        "",
        "| settings | tol | time (s) | time in passes | speed-up at equal error | "
        "rel. error | worst cosine | iterations |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["tol"] is None:
            lines.append(f"| {row['name']} | not reached | - | - | - | - | - | - |")
            continue
        t = timed[row["name"]][0]
        lines.append(
            f"| {row['name']} | {row['tol']:g} | {t:.3f} | {t / one_pass:.1f} | "
            f"{sk_time / t:.0f}x | {row['err']:.6f} | {row['cos']:.4f} | "
            f"{row['iters']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, smoke test")
    parser.add_argument("--ks", type=int, nargs="+", default=[8])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sk-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    nav, sig = ((20, 16), (48, 48)) if args.quick else ((52, 39), (187, 187))
    tables = []
    for k in args.ks:
        tables.append(bench(k, nav, sig, args.repeats, args.sk_repeats))
        print(tables[-1] + "\n", flush=True)
    return "\n\n".join(tables)


if __name__ == "__main__":
    main()

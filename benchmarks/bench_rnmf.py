"""RandomizedNMF against scikit-learn's NMF on data of the size of Werbrouck et al. (2025).

Data: 2028 probe positions (52 x 39) x 187 x 187 pixels, float32, a planted
non-negative low-rank structure (k = 3 and k = 8 phases, see
:func:`hyperspy_rnmf.datasets.synthetic_4dstem`) with Poisson counts.

For each k, in one run:

* scikit-learn ``NMF(init="nndsvdar", solver="cd", max_iter=200)``: median
  time of ``--sk-repeats`` runs (3; the range is printed too) and final error
  (the runs give the same factors: only their times differ). One run moved
  the speed-ups of its row by up to 20 % between runs of this benchmark
  (14.9-19.5 s at k = 8), and RandomizedNMF's times are medians too;
* RandomizedNMF with default settings (NNDSVDar start), and with
  ``init='spa'``: time, error, passes over the data, phases found;
* the time RandomizedNMF needs to reach the same or a lower error (larger
  ``tol`` first, then smaller until it gets there);
* one pass over the data, ``X @ Omega`` with a random ``Omega`` of
  ``k + oversample`` columns: the floor any method that reads the data pays
  (timed with the two RandomizedNMF fits, their runs interleaved, so that a
  slow phase of a shared machine slows all three alike);
* peak memory of RandomizedNMF in a fresh process, relative to the data size.

Errors are relative Frobenius errors computed exactly in float64 for both
methods. Every timed run starts after 0.2 s of rest (``_interleaved.PAUSE``),
so that it does not share the cores with the threads OpenBLAS keeps spinning
after the run before it. Timings on shared machines are noisy: compare the
ratios of one run.

Usage::

    python benchmarks/bench_rnmf.py            # full benchmark (~10 min)
    python benchmarks/bench_rnmf.py --quick    # smaller data, for a smoke test
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "numba"),
)

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _interleaved import PAUSE, interleaved_times  # noqa: E402

from hyperspy_rnmf import RandomizedNMF  # noqa: E402
from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402
from hyperspy_rnmf.matching import match_components, relative_error  # noqa: E402

MEMORY_SCRIPT = """
import sys, threading, time
import numpy as np
from hyperspy_rnmf import RandomizedNMF

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

X = np.load(sys.argv[1])
RandomizedNMF(2, random_state=0, max_iter=5).fit(X[:64])  # warm up imports
before = rss_mb()
peak, done = [before], [False]

def sample():
    while not done[0]:
        peak[0] = max(peak[0], rss_mb())
        time.sleep(0.001)

thread = threading.Thread(target=sample)
thread.start()
RandomizedNMF(int(sys.argv[2]), random_state=0).fit(X)
done[0] = True
thread.join()
print(before, peak[0], X.nbytes / 2**20)
"""


#: ``tol`` ladder of the fits to scikit-learn's error, largest first.
TOLS = (1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)


def median_time(func, repeats):
    times, result = [], None
    for _ in range(repeats):
        time.sleep(PAUSE)  # start on idle threads (see _interleaved.PAUSE)
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


def random_matrix(X, n_columns):
    rng = np.random.default_rng(0)
    return rng.standard_normal((X.shape[1], n_columns)).astype(X.dtype)


def fit_rnmf(X, **options):
    model = RandomizedNMF(**options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = model.fit_transform(X)
    return model, W


def peak_memory(X, k):
    """Data size plus the RSS a fit adds at its peak, in a fresh process (MB).

    RSS is sampled every millisecond during the fit; the data are loaded
    before the fit starts, so ``peak - before`` is what the fit itself needs.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "X.npy"
        np.save(path, X)
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(path), str(k)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    before, peak, data_mb = map(float, out)
    return peak - before + data_mb, data_mb


def sklearn_nmf(X, k, repeats):
    """scikit-learn's ``NMF(init="nndsvdar", solver="cd", max_iter=200)``
    run ``repeats`` times, each after ``PAUSE`` of rest: ``(median seconds,
    (fastest, slowest), model, W)`` (every run gives the same factors)."""
    from sklearn.decomposition import NMF

    times = []
    for _ in range(repeats):
        time.sleep(PAUSE)
        t0 = time.perf_counter()
        model = NMF(k, init="nndsvdar", solver="cd", max_iter=200, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            W = model.fit_transform(X)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), (min(times), max(times)), model, W


def bench(k, nav, sig, repeats, sk_repeats):
    s, truth = synthetic_4dstem(k, nav, sig, random_state=k, dtype="float32")
    X = s.data.reshape(s.axes_manager.navigation_size, -1)
    row = {"k": k, "shape": X.shape}

    row["sk_time"], row["sk_range"], sk, W_sk = sklearn_nmf(X, k, sk_repeats)
    row["sk_err"] = relative_error(X, W_sk, sk.components_)
    row["sk_iter"] = sk.n_iter_
    row["sk_cos"] = match_components(sk.components_, truth["factors"]).min()

    starts = {"def": {}, "spa": {"init": "spa"}}
    omega = random_matrix(X, k + RandomizedNMF().oversample)
    funcs = {"pass": lambda: X @ omega}
    for prefix, options in starts.items():
        funcs[prefix] = lambda options=options: fit_rnmf(
            X, n_components=k, random_state=0, **options
        )
    timed = interleaved_times(funcs, repeats)
    row["pass"] = timed["pass"][0]
    for prefix, options in starts.items():
        rnmf_rows(row, prefix, X, k, truth, options, repeats, timed[prefix])
    row["peak_mb"], row["data_mb"] = peak_memory(X, k)
    return row


def rnmf_rows(row, prefix, X, k, truth, options, repeats, timed):
    """Time (``timed``: median seconds and the last ``(model, W)``), error,
    passes and phases of RandomizedNMF with ``options``, and the time it
    needs to reach scikit-learn's error (smaller ``tol`` until it gets
    there)."""
    row[f"{prefix}_time"], (model, W) = timed
    row[f"{prefix}_err"] = relative_error(X, W, model.components_)
    row[f"{prefix}_passes"] = model.n_passes_
    row[f"{prefix}_cos"] = match_components(model.components_, truth["factors"]).min()
    row[f"{prefix}_match"] = None, None, None
    for tol in TOLS:
        t, (model, W) = median_time(
            lambda tol=tol: fit_rnmf(
                X, n_components=k, random_state=0, tol=tol, max_iter=5000, **options
            ),
            repeats,
        )
        err = relative_error(X, W, model.components_)
        if err <= row["sk_err"]:
            row[f"{prefix}_match"] = t, err, tol
            break


def report(rows):
    lines = [
        "| k | data | one pass (s) | scikit-learn NMF: median time (s) (range) / "
        "rel. error | "
        "RandomizedNMF start | time (s) / rel. error / passes | time in passes | "
        "RNMF to reach scikit-learn's error: time (s) (tol) | speed-up at equal error | "
        "peak memory / data size |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for prefix, start in (("def", "nndsvdar (default)"), ("spa", "init='spa'")):
            t_match, _, tol = r[f"{prefix}_match"]
            speedup = f"{r['sk_time'] / t_match:.0f}x" if t_match else "-"
            match = f"{t_match:.2f} (tol={tol:g})" if t_match else "not reached"
            memory = f"{r['peak_mb'] / r['data_mb']:.2f}" if prefix == "def" else "-"
            sk_lo, sk_hi = r["sk_range"]
            lines.append(
                f"| {r['k']} | {r['shape'][0]} x {r['shape'][1]} float32 | "
                f"{r['pass']:.3f} | {r['sk_time']:.1f} ({sk_lo:.1f}-{sk_hi:.1f}) / "
                f"{r['sk_err']:.6f} | {start} | "
                f"{r[f'{prefix}_time']:.2f} / {r[f'{prefix}_err']:.6f} / "
                f"{r[f'{prefix}_passes']} | {r[f'{prefix}_time'] / r['pass']:.1f} | "
                f"{match} | {speedup} | {memory} |"
            )
    lines.append("")
    lines.append(
        "Worst cosine between a planted phase pattern and its factor: "
        + ", ".join(
            f"k={r['k']}: RNMF {r['def_cos']:.4f} (init='spa' {r['spa_cos']:.4f}), "
            f"scikit-learn {r['sk_cos']:.4f}"
            for r in rows
        )
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, smoke test")
    parser.add_argument("--ks", type=int, nargs="+", default=[3, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--sk-repeats",
        type=int,
        default=3,
        help="runs of scikit-learn's NMF (the median is used)",
    )
    args = parser.parse_args(argv)
    nav, sig = ((20, 16), (48, 48)) if args.quick else ((52, 39), (187, 187))
    rows = []
    for k in args.ks:
        rows.append(bench(k, nav, sig, args.repeats, args.sk_repeats))
        print("\n".join(report(rows[-1:]).splitlines()[2:4]), flush=True)
    table = report(rows)
    print("\n" + table)
    return table


if __name__ == "__main__":
    main()

"""Out-of-core RandomizedNMF: a 2 GB .zspy scan decomposed lazily, locally and on a cluster.

1. Writes (once) a .zspy dataset of 256 x 256 probe positions x 128 x 128
   pixels, uint16 (2.1 GB uncompressed), planted low-rank structure (k = 6
   phases, :func:`hyperspy_rnmf.datasets.synthetic_4dstem`) with Poisson
   counts, generated and saved chunk by chunk.
2. In a fresh process with dask's default (threaded) scheduler: times one read
   pass over the file (load, decompress and sum every chunk), then runs
   ``s.decomposition("rnmf", output_dimension=6)`` on the lazily loaded file,
   sampling the peak RSS of the process.
3. The same on a 2-worker ``dask.distributed.LocalCluster`` (one thread per
   worker, separate processes), sampling the RSS of client and workers.
4. Checks that factors of a 64 x 64-probe crop are the same from the lazy
   file and from memory, and how well the full run recovers the planted
   phases.

Targets (issue "Out-of-core and distributed RNMF"): peak RSS <= 2 GB for the
whole run; wall time <= 2 x (number of passes x one read pass).

Usage::

    python benchmarks/bench_out_of_core.py [--workdir DIR] [--quick]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

K = 6

RUN_SCRIPT = r"""
import json, os, sys, threading, time
import numpy as np

def rss_mb(pid=None):
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0

path, mode, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
import hyperspy.api as hs
from hyperspy_rnmf import RandomizedNMF
client = None
pids = [os.getpid()]
if mode == "cluster":
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50)
    client = Client(cluster)
    pids += list(client.run(os.getpid).values())
peak = {pid: rss_mb(pid) for pid in pids}
done = [False]
def sample():
    while not done[0]:
        for pid in pids:
            peak[pid] = max(peak[pid], rss_mb(pid))
        time.sleep(0.005)
thread = threading.Thread(target=sample, daemon=True)
thread.start()
reads = []
for _ in range(2):  # one read pass on this scheduler: load, decompress, sum
    t0 = time.perf_counter()
    hs.load(path, lazy=True).data.sum(dtype="int64").compute()
    reads.append(time.perf_counter() - t0)
t0 = time.perf_counter()
s = hs.load(path, lazy=True)
estimator = s.decomposition("rnmf", output_dimension=k, random_state=0,
                            return_info=True, print_info=False, show_progressbar=False)
wall = time.perf_counter() - t0
done[0] = True
thread.join()
np.save(path + f".{mode}.factors.npy", s.learning_results.factors)
print(json.dumps({"wall": wall, "read": min(reads), "passes": estimator.n_passes_, "iterations": estimator.n_iter_,
                  "peak_total_mb": sum(peak.values()), "peak_client_mb": peak[pids[0]],
                  "chunks": [list(map(int, c)) for c in s.data.chunks[:2]]}))
if client is not None:
    client.close()
    cluster.close()
"""


def generate(path, nav, sig, chunks):
    """Write the dataset unless an identical one is already there."""
    from hyperspy_rnmf.datasets import synthetic_4dstem

    s, truth = synthetic_4dstem(
        K,
        nav,
        sig,
        counts=2.0e4,
        dtype="uint16",
        random_state=0,
        lazy=True,
        chunks=chunks,
    )
    marker = pathlib.Path(str(path) + ".done")
    recipe = json.dumps({"nav": nav, "sig": sig, "chunks": chunks, "k": K})
    if marker.is_file() and marker.read_text() == recipe:
        return 0.0, truth
    t0 = time.perf_counter()
    s.save(path, overwrite=True, chunks=tuple(chunks) + tuple(sig[::-1]))
    marker.write_text(recipe)
    return time.perf_counter() - t0, truth


def run(path, mode):
    out = subprocess.run(
        [sys.executable, "-c", RUN_SCRIPT, str(path), mode, str(K)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def crop_check(path, size, step=1):
    """Lazy (from the file) against in-memory decomposition of a
    ``size`` x ``size``-probe window (``step`` > 1: every step-th probe)."""
    import hyperspy.api as hs
    import numpy as np

    from hyperspy_rnmf.matching import relative_error

    window = slice(0, size * step, step)
    lazy = hs.load(path, lazy=True).inav[window, window]
    eager = lazy.deepcopy()
    eager.compute()
    options = dict(
        output_dimension=K, random_state=0, print_info=False, show_progressbar=False
    )
    lazy.decomposition("rnmf", **options)
    eager.decomposition("rnmf", **options)
    f_lazy, f_eager = lazy.learning_results.factors, eager.learning_results.factors
    cos = (f_lazy / np.linalg.norm(f_lazy, axis=0)).T @ (
        f_eager / np.linalg.norm(f_eager, axis=0)
    )
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-cos)
    max_rel = float(
        np.abs(f_lazy[:, rows] - f_eager[:, cols]).max() / np.abs(f_eager).max()
    )
    X = eager.data.reshape(size * size, -1)
    errors = [
        relative_error(X, s.learning_results.loadings, s.learning_results.factors.T)
        for s in (lazy, eager)
    ]
    return max_rel, float(cos[rows, cols].min()), errors


def main(argv=None):
    import numpy as np

    from hyperspy_rnmf.matching import match_components

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default=str(ROOT / ".cache" / "bench_out_of_core"))
    parser.add_argument(
        "--quick", action="store_true", help="64 x 64 probes, smoke test"
    )
    args = parser.parse_args(argv)
    nav, sig, chunks = (
        ((64, 64), (64, 64), (16, 16))
        if args.quick
        else ((256, 256), (128, 128), (32, 32))
    )
    workdir = pathlib.Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"synthetic_{nav[0]}x{nav[1]}_{sig[0]}x{sig[1]}.zspy"
    gen_time, truth = generate(path, nav, sig, chunks)
    size_gb = np.prod(nav) * np.prod(sig) * 2 / 1e9
    print(f"wrote {path} ({size_gb:.2f} GB uint16) in {gen_time:.0f} s", flush=True)
    rows = []
    for mode in ("threads", "cluster"):
        result = run(path, mode)
        factors = np.load(str(path) + f".{mode}.factors.npy")
        cosine = float(match_components(factors.T, truth["factors"]).min())
        rows.append((mode, result, cosine))
        print(mode, result, f"planted cosine {cosine:.4f}", flush=True)
    size = 64 if not args.quick else 32
    crops = {
        "corner": crop_check(path, size),
        "strided": crop_check(path, size, nav[0] // size),
    }
    lines = [
        f"Data: {nav[0]} x {nav[1]} probe positions x {sig[0]} x {sig[1]} pixels, uint16, "
        f"{size_gb:.2f} GB, zspy chunks {chunks[0]} x {chunks[1]} probes; k = {K}.",
        "",
        "| scheduler | wall (s) | passes | one read pass (s) | wall / (passes x read pass) "
        "| peak RSS (GB) | worst planted-phase cosine |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r, cosine in rows:
        name = "threaded (default)" if mode == "threads" else "LocalCluster, 2 workers"
        ratio = r["wall"] / (r["passes"] * r["read"])
        lines.append(
            f"| {name} | {r['wall']:.1f} | {r['passes']} | {r['read']:.2f} | {ratio:.2f} | "
            f"{r['peak_total_mb'] / 1024:.2f} | {cosine:.4f} |"
        )
    lines += [
        "",
        f"{size} x {size}-probe windows, lazy from the file vs in memory (same "
        "random_state; components matched one to one):",
        "",
        "| window | largest factor difference (of the largest value) | worst cosine "
        "| relative error lazy / in memory |",
        "|---|---|---|---|",
    ]
    for name, (max_rel, cosine, (e_lazy, e_eager)) in crops.items():
        label = (
            f"corner crop [:{size}, :{size}]"
            if name == "corner"
            else f"every {nav[0] // size}th probe [::{nav[0] // size}, ::{nav[0] // size}]"
        )
        lines.append(
            f"| {label} | {max_rel:.1e} | {cosine:.6f} | {e_lazy:.6f} / {e_eager:.6f} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    return table


if __name__ == "__main__":
    main()

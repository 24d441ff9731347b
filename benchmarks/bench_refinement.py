"""What the exact full-data refinement (``n_refine_iter``) buys, and costs.

After the HALS iterations on the sketch, ``n_refine_iter`` exact alternating
updates on the full data (``H`` then ``W``, two passes each; the last ``W``
update is the final projection) recover the part of the components outside
the sketched subspace. Without them (``n_refine_iter=0``) the data are read
once after the sketch, for the loadings: 5 passes instead of 6 (default 1).

Measured in one run, for ``n_refine_iter`` = 0, 1 (default) and 2 and both
starts (NNDSVDar, SPA):

* planted cubes of 1200 probe positions x 187 x 187 pixels
  (:func:`hyperspy_rnmf.datasets.synthetic_4dstem`, k = 4, 8, 12, grain
  boundaries 1.5 and 4 probe positions wide, seeds 1 and 2, Poisson counts):
  datasets with every planted phase found (worst cosine > 0.95), the mean
  relative error against the data, and the mean **signal error**
  ``|W H - L F|_F / |L F|_F`` against the noiseless planted product ``L F``
  (what the fit is for: the data error is dominated by the Poisson noise
  and hides differences in the recovered structure), and the total time;
* the data of ``bench_rnmf.py`` (2028 x 187 x 187, float32, k = 3 and 8):
  relative error, worst planted cosine, passes and the time in one-pass
  times (median of alternating repeats, so that all settings see the same
  machine load).

Usage::

    python benchmarks/bench_refinement.py            # ~4 min
    python benchmarks/bench_refinement.py --quick    # 2 small cubes
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
from _planted import core_data, signal_error, timed_fit, timed_pass  # noqa: E402

from hyperspy_rnmf import RandomizedNMF  # noqa: E402
from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402
from hyperspy_rnmf.matching import match_components, relative_error  # noqa: E402

SETTINGS = [(init, refine) for init in ("nndsvdar", "spa") for refine in (0, 1, 2)]


def label(init, refine):
    return f"{init}, n_refine_iter={refine}"


def planted_table(ks, seeds, signal_shape):
    lines = [
        "| k | "
        + " | ".join(f"{label(*s)}: found / error / signal error" for s in SETTINGS)
        + " |",
        "|---|" + "---|" * len(SETTINGS),
    ]
    totals = {s: [0, [], [], 0.0] for s in SETTINGS}
    for k in ks:
        cells = {s: [0, [], []] for s in SETTINGS}
        for boundary in (1.5, 4.0):
            for seed in seeds:
                s, truth = synthetic_4dstem(
                    k, (40, 30), signal_shape, boundary=boundary, random_state=seed
                )
                X = s.data.reshape(s.axes_manager.navigation_size, -1)
                L = truth["loadings"].astype(np.float64)
                F = truth["factors"].astype(np.float64)
                for init, refine in SETTINGS:
                    model = RandomizedNMF(
                        k, init=init, n_refine_iter=refine, random_state=0
                    )
                    W, elapsed = timed_fit(model, X)
                    found = match_components(model.components_, F).min() > 0.95
                    err = relative_error(X, W, model.components_)
                    sig = signal_error(W, model.components_, L, F)
                    for store in (cells[init, refine], totals[init, refine]):
                        store[0] += found
                        store[1].append(err)
                        store[2].append(sig)
                    totals[init, refine][3] += elapsed
        lines.append(
            f"| {k} | "
            + " | ".join(
                f"{f}/{len(e)} / {np.mean(e):.5f} / {np.mean(g):.5f}"
                for f, e, g in cells.values()
            )
            + " |"
        )
        print(lines[-1], flush=True)
    lines.append(
        "| **all** | "
        + " | ".join(
            f"**{f}/{len(e)}** / {np.mean(e):.5f} / **{np.mean(g):.5f}**"
            for f, e, g, _ in totals.values()
        )
        + " |"
    )
    lines.append("")
    notes = []
    for init in ("nndsvdar", "spa"):
        base = np.array(totals[init, 1][2])
        for refine in (0, 2):
            ratio = np.array(totals[init, refine][2]) / base
            notes.append(
                f"{init}, n_refine_iter={refine} against 1: signal error x "
                f"{ratio.mean():.3f} on average ({ratio.min():.3f}-{ratio.max():.3f})"
            )
    lines.append("; ".join(notes) + ".")
    lines.append(
        "Fit time in total (s): "
        + ", ".join(f"{label(*s)}: {totals[s][3]:.1f}" for s in SETTINGS)
        + "."
    )
    return "\n".join(lines)


def core_table(ks, repeats):
    lines = [
        "| k | setting | rel. error | worst planted cosine | passes | "
        "time in one-pass times (median) |",
        "|---|---|---|---|---|---|",
    ]
    for k in ks:
        X, truth, omega = core_data(k)
        passes, times, results = [], {s: [] for s in SETTINGS}, {}
        for _ in range(repeats):
            for init, refine in SETTINGS:
                passes.append(timed_pass(X, omega))
                model = RandomizedNMF(
                    k, init=init, n_refine_iter=refine, random_state=0
                )
                W, elapsed = timed_fit(model, X)
                times[init, refine].append(elapsed)
                results[init, refine] = (
                    relative_error(X, W, model.components_),
                    match_components(model.components_, truth["factors"]).min(),
                    model.n_passes_,
                )
        one_pass = float(np.median(passes))
        for setting in SETTINGS:
            err, cosine, n_passes = results[setting]
            lines.append(
                f"| {k} | {label(*setting)} | {err:.7f} | {cosine:.4f} | "
                f"{n_passes} | {np.median(times[setting]) / one_pass:.1f} |"
            )
        print("\n".join(lines[-len(SETTINGS) :]), flush=True)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 small cubes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        tables = [planted_table((4,), (1,), (48, 48))]
    else:
        tables = [
            planted_table((4, 8, 12), (1, 2), (187, 187)),
            core_table((3, 8), args.repeats),
        ]
    print("\n" + "\n\n".join(tables))
    return tables


if __name__ == "__main__":
    main()

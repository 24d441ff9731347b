"""HALS on all rows after the leverage sample: the warm exit against the window rule.

With ``leverage_sampling=True`` (default) the HALS iterations on the sketch
first run on a leverage-score sample of the rows of the sketch basis, then
on all rows from the pair found (:func:`hyperspy_rnmf._hals.sampled_hals`).
That second stage starts next to convergence, so it uses the ``warm`` exit
of :func:`hyperspy_rnmf._hals.compressed_hals`: during the plain iterations
it stops as soon as one improves the error of the data (the part outside
the sketch plus the error of the sketch, ``outside_sq``) by less than
``tol / 10``, instead of waiting the 10-iteration window of the stopping
rule. Four ways of running the stage, in one run:

* ``window``: the window rule only (the behaviour before the warm exit);
* ``warm (sketch)``: the warm exit measured on the error of the sketch
  alone (``outside_sq=0``: the rule before the default);
* ``warm``: the default;
* ``skipped``: no iteration on all rows (the tall factor solved on every row
  for the sample's short factor, then the refinement of ``RandomizedNMF``);
  the variant that shows whether the stage is needed at all.

Data:

* planted cubes (:func:`hyperspy_rnmf.datasets.synthetic_4dstem`, k = 4, 8,
  12, grain boundaries 1.5 and 4 probe positions wide, seeds 1 and 2,
  Poisson counts, float32) in both orientations of the sample: "pixels"
  (1200 probe positions x 187 x 187 pixels: the pixels are sampled) and
  "probe positions" (30720 probe positions x 48 x 48 pixels: the probe
  positions are sampled). Per start and setting: the mean **signal error**
  ``|W H - L F| / |L F|`` against the noiseless planted product, its ratio
  to the window rule (mean and largest), the iterations on all rows (sum)
  and the total time;
* the data of ``bench_rnmf.py`` (2028 x 187 x 187, float32, k = 3 and 8):
  relative error, iterations on all rows and the time in one-pass times
  (median of alternating repeats).

Usage::

    python benchmarks/bench_warm_stage.py            # ~11 min
    python benchmarks/bench_warm_stage.py --quick    # 2 small cubes
"""

import argparse
import contextlib
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

import hyperspy_rnmf._hals as hals  # noqa: E402
from hyperspy_rnmf import RandomizedNMF  # noqa: E402
from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402
from hyperspy_rnmf.matching import relative_error  # noqa: E402

MODES = ("window", "warm (sketch)", "warm", "skipped")


@contextlib.contextmanager
def stage_on_all_rows(mode, counter):
    """Run the HALS stage on all rows as ``mode`` says; ``counter[0]`` adds
    up its iterations."""
    plain = hals.compressed_hals

    def stage(Q, B, U, V, *, warm=False, **options):
        if not warm:  # the sample stage, or no sample at all
            return plain(Q, B, U, V, **options)
        if mode == "skipped":
            return U, V, 0, True
        if mode == "warm (sketch)":
            options["outside_sq"] = 0.0
        result = plain(Q, B, U, V, warm=mode != "window", **options)
        counter[0] += result[2]
        return result

    hals.compressed_hals = stage
    try:
        yield
    finally:
        hals.compressed_hals = plain


def fit(mode, init, k, X):
    """``(model, W, seconds, iterations on all rows)``."""
    counter = [0]
    model = RandomizedNMF(k, init=init, random_state=0)
    with stage_on_all_rows(mode, counter):
        W, elapsed = timed_fit(model, X)
    return model, W, elapsed, counter[0]


def planted_table(orientations, ks, seeds):
    lines = [
        "| sampled | start | setting | signal error (mean) | ratio to window: "
        "mean / largest | iterations on all rows | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, navigation, signal in orientations:
        for init in ("nndsvdar", "spa"):
            errors = {m: [] for m in MODES}
            iterations, seconds = dict.fromkeys(MODES, 0), dict.fromkeys(MODES, 0.0)
            for k in ks:
                for boundary in (1.5, 4.0):
                    for seed in seeds:
                        s, truth = synthetic_4dstem(
                            k,
                            navigation,
                            signal,
                            boundary=boundary,
                            random_state=seed,
                            dtype="float32",
                        )
                        X = s.data.reshape(s.axes_manager.navigation_size, -1)
                        L = truth["loadings"].astype(np.float64)
                        F = truth["factors"].astype(np.float64)
                        for mode in MODES:
                            model, W, elapsed, n_all = fit(mode, init, k, X)
                            errors[mode].append(
                                signal_error(W, model.components_, L, F)
                            )
                            iterations[mode] += n_all
                            seconds[mode] += elapsed
            base = np.array(errors["window"])
            for mode in MODES:
                ratio = np.array(errors[mode]) / base
                lines.append(
                    f"| {name} | {init} | {mode} | {np.mean(errors[mode]):.5f} | "
                    f"{ratio.mean():.4f} / {ratio.max():.4f} | {iterations[mode]} | "
                    f"{seconds[mode]:.1f} |"
                )
            print("\n".join(lines[-len(MODES) :]), flush=True)
    return "\n".join(lines)


def core_table(ks, repeats):
    lines = [
        "| k | start | setting | rel. error | iterations on all rows | "
        "time in one-pass times (median) |",
        "|---|---|---|---|---|---|",
    ]
    for k in ks:
        X, _, omega = core_data(k)
        for init in ("nndsvdar", "spa"):
            passes, times, results = [], {m: [] for m in MODES}, {}
            for _ in range(repeats):
                for mode in MODES:
                    passes.append(timed_pass(X, omega))
                    model, W, elapsed, n_all = fit(mode, init, k, X)
                    times[mode].append(elapsed)
                    results[mode] = (relative_error(X, W, model.components_), n_all)
            one_pass = float(np.median(passes))
            for mode in MODES:
                err, n_all = results[mode]
                lines.append(
                    f"| {k} | {init} | {mode} | {err:.8f} | {n_all} | "
                    f"{np.median(times[mode]) / one_pass:.1f} |"
                )
            print("\n".join(lines[-len(MODES) :]), flush=True)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 small cubes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        orientations = [("probe positions", (128, 120), (24, 24))]
        tables = [planted_table(orientations, (4,), (1,))]
    else:
        orientations = [
            ("pixels", (40, 30), (187, 187)),
            ("probe positions", (192, 160), (48, 48)),
        ]
        tables = [
            planted_table(orientations, (4, 8, 12), (1, 2)),
            core_table((3, 8), args.repeats),
        ]
    print("\n" + "\n\n".join(tables))
    return tables


if __name__ == "__main__":
    main()

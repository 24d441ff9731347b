"""NMF-route segmentation against pyxem's LearningSegment on the same input.

Data: SPED-like cubes built from real silver grain patterns placed on the
real grain label maps (64 x 208 probe positions, 56 x 56 pixels after 2 x 2
binning; see ``_sped_like.py``), 8 crystals of 5 orientations, Poisson counts.
Every cube is decomposed once with ``s.decomposition("rnmf", k)``; the
components whose factor matches no grain pattern (cosine < 0.8 outside the
direct beam: vacuum, diffuse background; grain components have >= 0.95,
background components <= 0.5) are excluded for both methods, as a user would
discard them.

On the same factors and loadings, in one run:

* hyperspy-rnmf: ``segment_decomposition`` with its defaults (no parameter
  tuned per dataset), with and without the mean measured patterns (one pass
  over the data);
* pyxem 0.21 ``LearningSegment.correlate_learning_segments`` +
  ``separate_learning_segments`` with the parameters of Bergh et al. (2020)
  (pyxem demo 06: corr_th_factors 0.45, corr_th_loadings 0.3, min_distance
  10, min_size 50, marker_radius 2, exclude_border 1, threshold=True,
  min_intensity_threshold 10000) and with pyxem's defaults.

Quality: segments are matched one to one to the planted crystals (Hungarian
assignment on IoU, IoU >= 0.5 counts as found); "spurious" = segments matched
to no crystal; cosine = pattern of the matched segment (merged factor) against
the planted grain pattern, direct beam (r <= 3 px) left out.

Times are medians of 7 runs after one warm-up run (a single run when it
takes more than 5 s), in one process, the runs of all methods interleaved
(ours, pyxem, ours, pyxem, ...) so that a slow phase of the shared machine
slows every method alike; compare the ratios of one run.

Usage::

    python benchmarks/bench_segmentation_nmf.py           # 4 cubes, ~5 min
    python benchmarks/bench_segmentation_nmf.py --quick   # 1 cube
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
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _interleaved import interleaved_times  # noqa: E402
from _sped_like import sped_like  # noqa: E402

from hyperspy_rnmf.segmentation import segment_decomposition  # noqa: E402
from hyperspy_rnmf.segmentation.compare import compare_segmentations  # noqa: E402

PAPER = dict(
    corr=dict(corr_th_factors=0.45, corr_th_loadings=0.3),
    separate=dict(
        min_intensity_threshold=10000,
        min_distance=10,
        min_size=50,
        max_size=100000,
        max_number_of_grains=100000,
        marker_radius=2,
        exclude_border=1,
        threshold=True,
    ),
)
PYXEM_DEFAULTS = dict(corr={}, separate={})


def beam_mask(truth, shape):
    cy, cx = truth["beam_centre"]
    ky, kx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.hypot(ky - cy, kx - cx) <= 3


def cosine(a, b, keep):
    a = np.nan_to_num(np.asarray(a, float))[keep]
    b = np.asarray(b, float)[keep]
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def quality(masks, patterns, truth, keep):
    c = compare_segmentations(truth["masks"], masks, names=("planted", "found"))
    n = len(truth["masks"])
    ious = np.zeros(n)
    cos = []
    for i, j, v in c.matches:
        ious[i] = v
        cos.append(cosine(patterns[j], truth["patterns"][i], keep))
    return {
        "found": len(c.matches),
        "n": n,
        "spurious": len(c.only_b),
        "n_segments": len(masks),
        "mean_iou": float(ious[ious > 0].mean()) if (ious > 0).any() else 0.0,
        "min_iou": float(ious.min()),
        "min_cos": min(cos) if cos else float("nan"),
    }


def run_case(label, counts, blur, seed, k, tile, rows):
    import hyperspy.api as hs

    s, truth = sped_like(counts=counts, blur=blur, random_state=seed, tile=tile)
    t0 = time.perf_counter()
    s.decomposition("rnmf", output_dimension=k, random_state=0)
    t_rnmf = time.perf_counter() - t0
    shape = s.data.shape[2:]
    keep = ~beam_mask(truth, shape)
    F = s.learning_results.factors.T.reshape((k,) + shape)
    P = truth["orientation_patterns"]
    fk = F[:, keep]
    pk = P[:, keep]
    cos = (fk / np.linalg.norm(fk, axis=1, keepdims=True)) @ (
        pk / np.linalg.norm(pk, axis=1, keepdims=True)
    ).T
    exclude = [i for i in range(k) if cos[i].max() < 0.8]
    kept = [i for i in range(k) if i not in exclude]
    print(
        f"\n== {label}: scan {s.data.shape[1]} x {s.data.shape[0]}, "
        f"{len(truth['masks'])} crystals, counts {counts:g}/pattern, blur {blur} "
        f"px, seed {seed}; rnmf k={k} in {t_rnmf:.2f} s; excluded components "
        f"{exclude}"
    )

    from pyxem.signals.segments import LearningSegment

    factors = hs.signals.Signal2D(s.get_decomposition_factors().data[kept])
    loadings = hs.signals.Signal2D(s.get_decomposition_loadings().data[kept])

    def pyxem_route(params):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                learn = LearningSegment(factors=factors, loadings=loadings)
                corr = learn.correlate_learning_segments(**params["corr"])
                return corr.separate_learning_segments(**params["separate"])

        return run

    timed = interleaved_times(
        {
            "ours": lambda: segment_decomposition(
                s, exclude=exclude, mean_patterns=False, show_progressbar=False
            ),
            "ours + mean": lambda: segment_decomposition(
                s, exclude=exclude, show_progressbar=False
            ),
            "pyxem, paper parameters": pyxem_route(PAPER),
            "pyxem, defaults": pyxem_route(PYXEM_DEFAULTS),
        }
    )
    t_ours, ours = timed["ours"]
    q = quality(ours.masks.data, ours.patterns.data, truth, keep)
    rows.append((label, "hyperspy-rnmf defaults", t_ours, q))
    rows.append((label, "  + mean patterns", timed["ours + mean"][0], q))
    # order independence, measured: reversed components give the same masks
    k_rev = kept[::-1]
    rev = segment_decomposition(
        s,
        factors=s.get_decomposition_factors().data[k_rev],
        loadings=s.get_decomposition_loadings().data[k_rev],
        mean_patterns=False,
        show_progressbar=False,
    )
    same = np.array_equal(rev.masks.data, ours.masks.data)
    print(f"reversed component order gives identical segments: {same}")

    for name in ("pyxem, paper parameters", "pyxem, defaults"):
        t_px, seg = timed[name]
        try:
            if isinstance(seg, Exception):
                raise seg
            masks = seg.loadings.data > 0
            if masks.ndim == 2:
                masks = masks[None]
            q_px = quality(masks, seg.factors.data, truth, keep)
        except Exception as exc:  # pyxem returns no segment (or fails)
            q_px = {"error": f"{type(exc).__name__}: {exc}"}
        rows.append((label, name, t_px, q_px))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    import pyxem  # noqa: F401  (numba compilation, once)

    print(f"import pyxem: {time.perf_counter() - t0:.1f} s")
    cases = [("A", 20000.0, 1.0, 0, 12, (1, 1))]
    if not args.quick:
        cases += [
            ("B", 5000.0, 1.5, 1, 12, (1, 1)),
            ("C", 20000.0, 1.0, 2, 8, (1, 1)),
            ("D", 20000.0, 1.0, 3, 12, (2, 2)),
        ]
    rows = []
    for case in cases:
        run_case(*case, rows)

    print(
        "\n| cube | method | time (s) | speed-up | crystals found (IoU >= 0.5) | "
        "spurious segments | mean IoU | worst IoU | worst pattern cosine |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    reference = {
        label: t for label, name, t, _ in rows if name == "hyperspy-rnmf defaults"
    }
    for label, name, t, q in rows:
        if "error" in q:
            print(f"| {label} | {name} | {t:.3f} | | {q['error']} | | | | |")
            continue
        speed = (
            ""
            if name.startswith(("hyperspy", "  +"))
            else f"{t / reference[label]:.0f}x"
        )
        print(
            f"| {label} | {name} | {t:.3f} | {speed} | {q['found']}/{q['n']} | "
            f"{q['spurious']} of {q['n_segments']} | {q['mean_iou']:.3f} | "
            f"{q['min_iou']:.3f} | {q['min_cos']:.3f} |"
        )
    print(
        "\nspeed-up = pyxem time / hyperspy-rnmf time (without mean patterns); "
        "cubes: A 64 x 208 scan, 2e4 counts, blur 1, k=12; B counts 5e3, blur "
        "1.5, k=12; C seed 2, k=8; D the label maps tiled 2 x 2 (128 x 416 "
        "scan), k=12."
    )


if __name__ == "__main__":
    main()

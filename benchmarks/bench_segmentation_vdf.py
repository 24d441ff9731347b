"""VDF-route segmentation against pyxem 0.21's VDF route on the same input.

Data: SPED-like cubes built from real silver grain patterns placed on the real
grain label maps (64 x 208 probe positions, 56 x 56 pixels; see
``_sped_like.py``): 8 crystals of 5 orientations, several of which share
reflections (twins), Poisson counts.

In one run:

* hyperspy-rnmf ``segment_vdf`` with its defaults (every reciprocal-space
  length derived from the data): time of every step, the VDF stack for all
  vectors against one pass over the data (reading it once), quality;
* pyxem 0.21's route with the parameters of Bergh et al. (2020) (pyxem demo
  06, in pixels of this detector: DoG sigma 1.7/13.2, LoG min_sigma 0.7,
  max_sigma 10, num_sigma 30, threshold 0.046; DBSCAN eps 0.89 px,
  min_samples 10; direct beam: |g| >= 10 px; aperture 2 px;
  ``get_vdf_segments(min_distance=5.5, min_size=10, max_size=1000,
  marker_radius=2, exclude_border=2, threshold=True)``;
  ``correlate_vdf_segments(0.7, 5, 4)``), on float32 data (pyxem's
  difference of Gaussians keeps the integer dtype and wraps negative values
  of uint16 data to 65535);
* pyxem's VDF stack, segmentation and correlation fed with hyperspy-rnmf's
  unique vectors (and ``max_size`` lifted), to compare the later steps on the
  same vectors.

Quality: segments matched one to one to the planted crystals (Hungarian
assignment on IoU, IoU >= 0.5 counts as found); "spurious" = segments
matched to no crystal.

Usage::

    python benchmarks/bench_segmentation_vdf.py           # ~15 min (pyxem's
                                                          # peak finding ~10)
    python benchmarks/bench_segmentation_vdf.py --quick   # ours only, 3 cubes
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

from hyperspy_rnmf.segmentation._common import navigation_weighted_sums  # noqa: E402
from hyperspy_rnmf.segmentation.compare import compare_segmentations  # noqa: E402
from hyperspy_rnmf.segmentation.vdf_route import (  # noqa: E402
    estimate_vdf_parameters,
    find_diffraction_peaks,
    merge_vdf_segments,
    segment_vdf,
    unique_vectors,
    vdf_images,
    vdf_segments,
)


def quality(masks, truth):
    masks = np.asarray(masks, bool)
    if masks.ndim == 2:
        masks = masks[None]
    c = compare_segmentations(truth["masks"], masks, names=("planted", "found"))
    ious = np.zeros(len(truth["masks"]))
    for i, _, v in c.matches:
        ious[i] = v
    return {
        "found": len(c.matches),
        "n": len(truth["masks"]),
        "spurious": len(c.only_b),
        "n_segments": len(masks),
        "mean_iou": float(ious[ious > 0].mean()) if (ious > 0).any() else 0.0,
    }


def timed(func):
    t0 = time.perf_counter()
    out = func()
    return time.perf_counter() - t0, out


def stack_versus_pass(s, vectors, repeats=7):
    """Median times of one pass over the data (the mean pattern) and of the
    VDF stack of all vectors, their runs interleaved (pass, stack, pass, ...)
    so that the ratio survives a noisy machine."""
    ones = np.ones((1,) + s.axes_manager.navigation_shape[::-1], bool)
    timed = interleaved_times(
        {
            "pass": lambda: navigation_weighted_sums(s, ones),
            "stack": lambda: vdf_images(s, vectors, show_progressbar=False),
        },
        repeats,
    )
    return timed["pass"][0], timed["stack"][0]


def stack_rows(s, vectors, label, table):
    """VDF stack against one pass: in memory, and lazy from a zspy file
    (chunks of 16 scan rows)."""
    import tempfile

    import hyperspy.api as hs

    t_pass, t_stack = stack_versus_pass(s, vectors)
    table.append((label, "in memory", len(vectors), t_pass, t_stack))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cube.zspy")
        s.save(path, chunks=(16,) + s.data.shape[1:])
        lazy = hs.load(path, lazy=True)
        t_pass, t_stack = stack_versus_pass(lazy, vectors)
        table.append((label, "lazy, zspy file", len(vectors), t_pass, t_stack))


def ours(s, truth, label, rows, steps_table):
    # warm-up (imports, caches) on a corner of the scan
    segment_vdf(
        s.inav[:24, :24],
        show_progressbar=False,
        vector_threshold=2,
        segment_threshold=1,
    )
    t_total, result = timed(lambda: segment_vdf(s, show_progressbar=False))
    rows.append(
        (
            label,
            "hyperspy-rnmf segment_vdf, defaults",
            t_total,
            quality(result.masks.data, truth),
            len(result.merge_record["vectors"]),
        )
    )
    # steps, for the table of times
    t_pass, _ = timed(
        lambda: navigation_weighted_sums(s, np.ones((1,) + s.data.shape[:2], bool))
    )
    t_est, est = timed(lambda: estimate_vdf_parameters(s, show_progressbar=False))
    t_peaks, peaks = timed(
        lambda: find_diffraction_peaks(s, show_progressbar=False, _estimated=est)
    )
    t_uv, uv = timed(lambda: unique_vectors(peaks))
    uv.parameters["spot_sigma_px"] = peaks.parameters["spot_sigma_px"]
    t_vdf, vdfs = timed(lambda: vdf_images(s, uv, show_progressbar=False))
    t_seg, segs = timed(lambda: vdf_segments(vdfs, show_progressbar=False))
    t_merge, _ = timed(
        lambda: merge_vdf_segments(segs["images"], segs["masks"], segs["vector"])
    )
    steps_table.append(
        (
            label,
            t_pass,
            t_est,
            t_peaks,
            t_uv,
            len(uv),
            t_vdf,
            t_seg,
            len(segs["images"]),
            t_merge,
        )
    )
    p = result.parameters
    print(
        f"{label}: derived spot sigma {p['spot_sigma']:.4f} {p['units']} "
        f"({p['spot_sigma_px']:.2f} px), background sigma "
        f"{p['background_sigma_px']:.2f} px, DBSCAN eps {p['eps_px']:.2f} px, "
        f"min_samples {p['min_samples']}, "
        f"min |g| {p['min_magnitude_px']:.2f} px, aperture {p['radius_px']:.2f} px, "
        f"noise (median) {p['noise_median']:.3g}; {len(peaks)} peaks, "
        f"{len(uv)} vectors, {len(segs['images'])} VDF segments, {len(result)} "
        "crystals"
    )
    return uv, vdfs


def pyxem_vdf_steps(patterns, vectors, radius, max_size, times):
    """pyxem 0.21's VDF stack, VDF segments and correlation merging (the
    paper's parameters); fills ``times`` and returns the segment masks."""
    from pyxem.generators import VirtualDarkFieldGenerator
    from pyxem.signals import DiffractionVectors2D

    gen = VirtualDarkFieldGenerator(patterns, DiffractionVectors2D(vectors))
    times["VDF stack"], vdfs = timed(
        lambda: gen.get_virtual_dark_field_images(radius=radius)
    )
    times["segments"], segs = timed(
        lambda: vdfs.get_vdf_segments(
            min_distance=5.5,
            min_size=10,
            max_size=max_size,
            max_number_of_grains=1000,
            marker_radius=2,
            exclude_border=2,
            threshold=True,
        )
    )
    times["merge"], corr = timed(
        lambda: segs.correlate_vdf_segments(
            corr_threshold=0.7, vector_threshold=5, segment_threshold=4
        )
    )
    return np.asarray(corr.segments.data) > 0


def pyxem_route(s, truth, uv, rows, step_rows):
    import pyxem  # noqa: F401
    from hyperspy.defaults_parser import preferences

    preferences.General.show_progressbar = False
    scale = s.axes_manager.signal_axes[0].scale
    dp = s.deepcopy()
    dp.change_dtype("float32")
    times = {}
    t0 = time.perf_counter()
    failure = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times["background"], rb = timed(
                lambda: dp.subtract_diffraction_background(
                    "difference of gaussians", min_sigma=1.7, max_sigma=13.2
                )
            )
            times["peaks"], peaks = timed(
                lambda: rb.get_diffraction_vectors(
                    method="laplacian_of_gaussian",
                    min_sigma=0.7,
                    max_sigma=10,
                    num_sigma=30,
                    threshold=0.046,
                    overlap=0.5,
                    log_scale=False,
                    exclude_border=True,
                )
            )
            # flattened columns are (x, y, ky, kx, intensity): cluster (ky, kx)
            times["unique vectors"], unique = timed(
                lambda: peaks.get_unique_vectors(
                    method="DBSCAN",
                    distance_threshold=0.89 * scale,
                    min_samples=10,
                    columns=(2, 3),
                )
            )
            data = np.asarray(getattr(unique, "data", unique), dtype=float).reshape(
                -1, 2
            )
            data = data[np.hypot(data[:, 0], data[:, 1]) >= 10 * scale]
            n_vectors = len(data)
            if n_vectors == 0:
                raise ValueError("0 unique vectors")
            masks = pyxem_vdf_steps(rb, data, 2 * scale, 1000, times)
    except Exception as exc:  # report how pyxem fails
        failure = f"{type(exc).__name__}: {exc}"[:120]
        n_vectors = locals().get("n_vectors", 0)
    total = time.perf_counter() - t0
    q = {"error": failure} if failure else quality(masks, truth)
    rows.append(("A", "pyxem 0.21, paper parameters", total, q, n_vectors))
    step_rows.append(("pyxem, paper parameters", times))

    # pyxem's later steps on hyperspy-rnmf's vectors (raw data, max_size lifted)
    times = {}
    t0 = time.perf_counter()
    failure = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            radius = 2 * uv.parameters["spot_sigma_px"] * scale
            masks = pyxem_vdf_steps(dp, uv.vectors[:, ::-1], radius, 100000, times)
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"[:120]
    total = time.perf_counter() - t0
    q = {"error": failure} if failure else quality(masks, truth)
    rows.append(
        ("A", "pyxem 0.21 steps 5-7 on hyperspy-rnmf's vectors", total, q, len(uv))
    )
    step_rows.append(("pyxem, our vectors", times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    cases = [("A", 20000.0, 1.0, 0), ("B", 5000.0, 1.5, 1), ("C", 20000.0, 1.0, 2)]
    rows, steps_table, pyxem_steps, stack_table = [], [], [], []
    vectors_of = {}
    for label, counts, blur, seed in cases:
        s, truth = sped_like(counts=counts, blur=blur, random_state=seed)
        uv, _ = ours(s, truth, label, rows, steps_table)
        stack_rows(s, uv, label, stack_table)
        vectors_of[label] = uv
        if label == "A" and not args.quick:
            t0 = time.perf_counter()
            import pyxem  # noqa: F401

            print(f"import pyxem: {time.perf_counter() - t0:.1f} s")
            pyxem_route(s, truth, uv, rows, pyxem_steps)
    # the stack's fixed costs (aperture matrix, result signal: about 8 ms)
    # weigh less on a larger scan: cube C tiled 2 x 2, cube C's vectors
    big, _ = sped_like(counts=20000.0, blur=1.0, random_state=2, tile=(2, 2))
    stack_rows(big, vectors_of["C"], "C tiled 2 x 2", stack_table)
    del big

    print("\nhyperspy-rnmf steps (s): one pass = reading the data once (mean pattern)")
    print(
        "| cube | one pass | defaults (mean pattern) | peaks | unique vectors | "
        "vectors | VDF stack | VDF stack / one pass | watershed | VDF segments "
        "| merge |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (
        label,
        t_pass,
        t_est,
        t_peaks,
        t_uv,
        n_uv,
        t_vdf,
        t_seg,
        n_seg,
        t_m,
    ) in steps_table:
        print(
            f"| {label} | {t_pass:.3f} | {t_est:.3f} | {t_peaks:.2f} | {t_uv:.2f} | "
            f"{n_uv} | {t_vdf:.3f} | {t_vdf / t_pass:.1f} | {t_seg:.2f} | {n_seg} | "
            f"{t_m:.3f} |"
        )
    print(
        "\nVDF stack of all vectors against one pass (mean pattern), medians of "
        "7 interleaved runs:"
    )
    print("| cube | data | vectors | one pass (s) | VDF stack (s) | stack / pass |")
    print("|---|---|---|---|---|---|")
    for label, where, n_vectors, t_pass, t_stack in stack_table:
        print(
            f"| {label} | {where} | {n_vectors} | {t_pass:.3f} | {t_stack:.3f} | "
            f"{t_stack / t_pass:.2f} |"
        )
    if pyxem_steps:
        print("\npyxem steps (s):")
        for name, times in pyxem_steps:
            print(f"  {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()))

    print(
        "\n| cube | method | time (s) | speed-up | vectors | crystals found "
        "(IoU >= 0.5) | spurious segments | mean IoU |"
    )
    print("|---|---|---|---|---|---|---|---|")
    reference = {label: t for label, name, t, _, _ in rows if name.startswith("hyper")}
    for label, name, t, q, n_vectors in rows:
        speed = "" if name.startswith("hyper") else f"{t / reference[label]:.0f}x"
        if "error" in q:
            print(
                f"| {label} | {name} | {t:.2f} | {speed} | {n_vectors} | failed: "
                f"{q['error']} | | |"
            )
            continue
        print(
            f"| {label} | {name} | {t:.2f} | {speed} | {n_vectors} | "
            f"{q['found']}/{q['n']} | {q['spurious']} of {q['n_segments']} | "
            f"{q['mean_iou']:.3f} |"
        )
    print(
        "\nspeed-up = pyxem time / hyperspy-rnmf time (whole route); cubes: A "
        "2e4 counts/pattern, blur 1; B 5e3 counts, blur 1.5; C seed 2."
    )


if __name__ == "__main__":
    main()

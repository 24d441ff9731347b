"""The grouped test matrix of the first pass against a dense one, in one run.

When the data have fewer rows than columns (fewer probe positions than
pixels), the first pass of the sketch is ``Omega.T @ X``: each column of the
sketch weights the rows of the data. With the grouped test matrix
(:func:`hyperspy_rnmf._sketch.draw_test_matrix`) each group of 6 rows is
drawn in one block of 6 columns only, and the compiled product skips the
zero tiles: a third of the arithmetic at 18 columns (k = 8), about half at
13 (k = 3). Three tables:

1. the first pass (product and the checks of the data, as in a fit) with
   a dense and a grouped ``Omega``, and with 1 column (reading the data once,
   the floor), their runs interleaved, on the data of ``bench_rnmf.py``
   (2028 x 187^2 float32, Poisson counts);
2. default fits of the same data with either test matrix (interleaved):
   time, relative error, worst cosine to the planted phases, iterations;
3. how much of each planted phase pattern lies outside the sketch's basis
   ``Q`` (``|f - Q Q^T f|`` for unit ``f``; the worst phase, mean over 3
   sketches), on planted datasets of 3 to 12 phases and two shapes, for
   both test matrices: the quality of the sketch itself;
4. the fits that find every phase (cosine > 0.95, as in
   ``bench_starts.py``) on its 40 planted cubes (1200 x 64^2, 4-12 phases,
   sharp and wide grain boundaries), each fitted with 5 random states from
   NNDSVDar and from SPA, with either test matrix: a phase lost or found
   depends on the random draw, so only the totals over many draws compare.

Usage::

    python benchmarks/bench_test_matrix.py            # about 4 minutes
    python benchmarks/bench_test_matrix.py --quick    # smaller data
"""

import argparse
import os
import pathlib
import sys
import warnings
from unittest import mock

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "numba"),
)

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _interleaved import interleaved_times  # noqa: E402
from _planted import BOUNDARIES, fit_planted, synthetic_cubes  # noqa: E402

from hyperspy_rnmf import RandomizedNMF, _sketch  # noqa: E402
from hyperspy_rnmf import _thin_product as thin  # noqa: E402
from hyperspy_rnmf.datasets import synthetic_4dstem  # noqa: E402
from hyperspy_rnmf.matching import match_components, relative_error  # noqa: E402
from hyperspy_rnmf.rnmf import make_operand  # noqa: E402

GROUPED = _sketch.draw_test_matrix


def dense_test_matrix(n_rows, n_columns, rng, dtype, grouped=False):
    """The test matrix as it was before grouping: always dense."""
    return GROUPED(n_rows, n_columns, rng, dtype, grouped=False)


def drawing(draw):
    """Sketches made in this block draw their test matrix with ``draw``."""
    return mock.patch.object(_sketch, "draw_test_matrix", draw)


def planted(k, nav, sig, seed):
    s, truth = synthetic_4dstem(k, nav, sig, random_state=seed, dtype="float32")
    return s.data.reshape(-1, sig[0] * sig[1]), truth


def first_pass_rows(X, ks, repeats):
    rng = np.random.default_rng(0)
    rows = []
    for k in ks:
        width = k + RandomizedNMF().oversample
        omegas = {
            "dense": GROUPED(X.shape[0], width, rng, X.dtype, grouped=False),
            "grouped": GROUPED(X.shape[0], width, rng, X.dtype, grouped=True),
            "floor": rng.standard_normal((X.shape[0], 1)).astype(X.dtype),
        }
        timed = interleaved_times(
            {
                name: lambda omega=omega: thin.rmatmul_and_moments(omega, X)
                for name, omega in omegas.items()
            },
            repeats,
        )
        rows.append((k, width, {name: t for name, (t, _) in timed.items()}))
    return rows


def fit(X, k):
    model = RandomizedNMF(k, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = model.fit_transform(X)
    return model, W


def fit_rows(ks, nav, sig, repeats):
    rows = []
    for k in ks:
        X, truth = planted(k, nav, sig, k)
        funcs = {}
        for name, draw in (("dense", dense_test_matrix), ("grouped", GROUPED)):

            def run(draw=draw, X=X, k=k):
                with drawing(draw):
                    return fit(X, k)

            funcs[name] = run
        timed = interleaved_times(funcs, repeats)
        for name, (seconds, (model, W)) in timed.items():
            rows.append(
                (
                    k,
                    name,
                    seconds,
                    relative_error(X, W, model.components_),
                    match_components(model.components_, truth["factors"]).min(),
                    model.n_iter_,
                )
            )
    return rows


def outside(Q, factors):
    F = np.asarray(factors, np.float64).reshape(len(factors), -1)
    F = F / np.linalg.norm(F, axis=1, keepdims=True)
    return float(np.linalg.norm(F.T - Q @ (Q.T @ F.T), axis=0).max())


def quality_rows(ks, shapes, n_sketches=3):
    rows = []
    for k in ks:
        for nav, sig in shapes:
            for seed in (1, 2):
                X, truth = planted(k, nav, sig, 100 * k + seed)
                operand = make_operand(X)
                width = k + RandomizedNMF().oversample
                worst = {}
                for name, draw in (("dense", dense_test_matrix), ("grouped", GROUPED)):
                    with drawing(draw):
                        worst[name] = np.mean(
                            [
                                outside(
                                    _sketch.qb_sketch(
                                        operand,
                                        width,
                                        1,
                                        np.random.default_rng(s),
                                        lambda stats: None,
                                    ).Q,
                                    truth["factors"],
                                )
                                for s in range(n_sketches)
                            ]
                        )
                rows.append((k, X.shape, seed, worst["dense"], worst["grouped"]))
    return rows


def found_rows(ks, seeds, random_states):
    """Fits that find every planted phase, and their mean error, per start
    and test matrix, over planted cubes and random states."""
    found, errors = {}, {}
    for boundary in BOUNDARIES.values():
        for k in ks:
            for X, factors in synthetic_cubes(k, boundary, seeds):
                for init in ("nndsvdar", "spa"):
                    for state in random_states:
                        for name, draw in (
                            ("dense", dense_test_matrix),
                            ("grouped", GROUPED),
                        ):
                            model = RandomizedNMF(k, init=init, random_state=state)
                            with drawing(draw):
                                ok, err, _ = fit_planted(model, X, factors)
                            found[init, name] = found.get((init, name), 0) + ok
                            errors.setdefault((init, name), []).append(err)
    return [
        (
            init,
            name,
            found[init, name],
            len(errors[init, name]),
            np.mean(errors[init, name]),
        )
        for init, name in found
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, smoke test")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    if args.quick:
        nav, sig = (52, 39), (64, 64)
        shapes = [((40, 30), (48, 48))]
        qks = (3, 8)
    else:
        nav, sig = (52, 39), (187, 187)
        shapes = [((40, 30), (64, 64)), ((52, 39), (96, 96))]
        qks = (3, 4, 6, 8, 10, 12)
    X, _ = planted(8, nav, sig, 8)
    lines = [
        f"First pass (product and checks), {X.shape[0]} x {X.shape[1]} float32, "
        f"medians of {args.repeats} interleaved runs (ms):",
        "",
        "| k | columns | dense | grouped | grouped / dense | 1 column (the floor) |",
        "|---|---|---|---|---|---|",
    ]
    for k, width, t in first_pass_rows(X, (3, 8), args.repeats):
        lines.append(
            f"| {k} | {width} | {t['dense'] * 1e3:.1f} | {t['grouped'] * 1e3:.1f} | "
            f"{t['grouped'] / t['dense']:.2f} | {t['floor'] * 1e3:.1f} |"
        )
    print("\n".join(lines), flush=True)
    lines = [
        "",
        f"Default fits ({X.shape[0]} x {X.shape[1]}, planted phases, "
        f"medians of {args.repeats} interleaved runs):",
        "",
        "| k | test matrix | time (ms) | rel. error | worst cosine | iterations |",
        "|---|---|---|---|---|---|",
    ]
    for k, name, seconds, err, cos, n_iter in fit_rows((3, 8), nav, sig, args.repeats):
        lines.append(
            f"| {k} | {name} | {seconds * 1e3:.1f} | {err:.6f} | {cos:.4f} | {n_iter} |"
        )
    print("\n".join(lines), flush=True)
    lines = [
        "",
        "Worst planted phase outside the sketch's basis (mean of 3 sketches):",
        "",
        "| k | data | seed | dense | grouped | grouped / dense |",
        "|---|---|---|---|---|---|",
    ]
    ratios = []
    for k, shape, seed, dense, grouped in quality_rows(qks, shapes):
        ratios.append(grouped / dense)
        lines.append(
            f"| {k} | {shape[0]} x {shape[1]} | {seed} | {dense:.4f} | "
            f"{grouped:.4f} | {grouped / dense:.3f} |"
        )
    lines.append("")
    lines.append(
        f"grouped / dense: mean {np.mean(ratios):.3f}, "
        f"range {min(ratios):.3f}-{max(ratios):.3f}"
    )
    print("\n".join(lines), flush=True)
    fks, fseeds, states = (
        ((4, 8), (1,), range(2))
        if args.quick
        else (
            (4, 6, 8, 10, 12),
            (1, 2, 3, 4),
            range(5),
        )
    )
    lines = [
        "",
        "Fits that find every planted phase (planted cubes of bench_starts.py):",
        "",
        "| start | test matrix | every phase found | mean rel. error |",
        "|---|---|---|---|",
    ]
    for init, name, n_found, n_fits, err in found_rows(fks, fseeds, states):
        lines.append(f"| {init} | {name} | {n_found} of {n_fits} | {err:.5f} |")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()

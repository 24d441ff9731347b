"""Command line: ``hyperspy-rnmf demo`` compares RandomizedNMF with scikit-learn's NMF.

The demo builds a synthetic 4D-STEM dataset in memory (known phases, Poisson
counts), factorizes it with RandomizedNMF and with scikit-learn's NMF
(NNDSVDar, coordinate descent, 200 iterations), prints both times, errors and
how well each recovers the planted phases, and saves a PNG of the factors and
loadings.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np


def _demo_data(args):
    """The synthetic dataset of the demo: ``(signal, truth)``.

    Raises ValueError (with the option named) for values it cannot use.
    """
    from hyperspy_rnmf.datasets import synthetic_4dstem

    if not 0 <= args.seed < 2**32:
        raise ValueError(f"--seed must be in [0, 2**32 - 1], got {args.seed}")
    try:
        return synthetic_4dstem(
            args.phases, tuple(args.scan), tuple(args.detector), random_state=args.seed
        )
    except ValueError as error:  # the dataset's own checks name its parameters
        raise ValueError(
            f"--phases {args.phases} --scan {' '.join(map(str, args.scan))} "
            f"--detector {' '.join(map(str, args.detector))}: {error}"
        ) from error


def _speed_up(t_reference, t_rnmf):
    ratio = t_reference / t_rnmf
    if ratio >= 1:
        return f"{ratio:.{0 if ratio >= 10 else 1}f}x faster than"
    return f"{1 / ratio:.1f}x slower than"


def _demo(args, s, truth):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import NMF

    from hyperspy_rnmf import RandomizedNMF, _moments, _nnls, _sweep, _thin_product
    from hyperspy_rnmf.matching import match_components, relative_error

    k = args.phases
    X = s.data.reshape(s.axes_manager.navigation_size, -1)
    print(f"  data: {X.shape[0]} x {X.shape[1]} {X.dtype} ({X.nbytes / 2**20:.0f} MB)")

    # numba's start-up is paid once per Python process, by the first fit:
    # shown here, and kept out of the time of the fit
    ready = sum(
        module.load_kernel() for module in (_moments, _nnls, _sweep, _thin_product)
    )
    print(f"  compiled kernels ready in {ready:.2f} s (once per process)")

    t0 = time.perf_counter()
    rnmf = RandomizedNMF(k, random_state=args.seed)
    with warnings.catch_warnings():  # reported below as "converged: no"
        warnings.simplefilter("ignore")
        W_r = rnmf.fit_transform(X)
    t_rnmf = time.perf_counter() - t0

    t0 = time.perf_counter()
    sk = NMF(k, init="nndsvdar", solver="cd", max_iter=200, random_state=args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W_s = sk.fit_transform(X)
    t_sk = time.perf_counter() - t0

    rows = [
        (
            "RandomizedNMF",
            t_rnmf,
            relative_error(X, W_r, rnmf.components_),
            match_components(rnmf.components_, truth["factors"]).min(),
            rnmf.n_iter_ < rnmf.max_iter,
        ),
        (
            "scikit-learn NMF",
            t_sk,
            relative_error(X, W_s, sk.components_),
            match_components(sk.components_, truth["factors"]).min(),
            sk.n_iter_ < sk.max_iter,
        ),
    ]
    print(
        f"\n{'method':<18} {'time (s)':>9} {'rel. error':>11} {'min cosine':>11} "
        f"{'converged':>10}"
    )
    for name, t, err, cos, converged in rows:
        print(
            f"{name:<18} {t:9.2f} {err:11.5f} {cos:11.4f} "
            f"{'yes' if converged else 'no':>10}"
        )
    print("(min cosine: worst match between a planted phase pattern and a factor)")
    print(
        f"\nRandomizedNMF is {_speed_up(t_sk, t_rnmf)} scikit-learn "
        f"({rnmf.n_passes_} passes over the data, {rnmf.n_iter_} HALS iterations)."
    )

    nav_shape = s.axes_manager.navigation_shape[::-1]
    sig_shape = s.axes_manager.signal_shape[::-1]
    fig, axes = plt.subplots(2, k, figsize=(3 * k, 6), squeeze=False)
    for j in range(k):
        pattern = rnmf.components_[j].reshape(sig_shape)
        axes[0, j].imshow(np.log1p(pattern / pattern.max() * 1e3), cmap="inferno")
        axes[0, j].set_title(f"factor {j} (log)")
        axes[1, j].imshow(W_r[:, j].reshape(nav_shape), cmap="viridis")
        axes[1, j].set_title(f"loading {j} (counts)")
        for ax in axes[:, j]:
            ax.set_axis_off()
    fig.suptitle(f"RandomizedNMF, k={k}: {t_rnmf:.2f} s (scikit-learn: {t_sk:.1f} s)")
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    plt.close(fig)
    print(f"Factors and loadings saved to {args.output}")
    return 0


def main(argv=None):
    """Entry point of the ``hyperspy-rnmf`` command."""
    parser = argparse.ArgumentParser(
        prog="hyperspy-rnmf", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compare RandomizedNMF and scikit-learn NMF")
    demo.add_argument("--phases", type=int, default=3, help="number of phases (k)")
    demo.add_argument(
        "--scan",
        type=int,
        nargs=2,
        default=(52, 39),
        metavar=("X", "Y"),
        help="probe positions",
    )
    demo.add_argument(
        "--detector",
        type=int,
        nargs=2,
        default=(128, 128),
        metavar=("KX", "KY"),
        help="detector pixels",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--output", default="rnmf_demo.png", help="PNG file to write")
    args = parser.parse_args(argv)
    if args.phases < 1:
        parser.error(f"--phases must be >= 1, got {args.phases}")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        parser.error(f"--output {args.output}: the folder {folder} does not exist")
    print(
        f"Building a synthetic 4D-STEM dataset: {args.scan[0]} x {args.scan[1]} probe "
        f"positions, {args.detector[0]} x {args.detector[1]} pixels, {args.phases} "
        "phases, Poisson counts ..."
    )
    try:
        s, truth = _demo_data(args)
    except ValueError as error:
        parser.error(str(error))
    return _demo(args, s, truth)


if __name__ == "__main__":
    sys.exit(main())

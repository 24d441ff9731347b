"""ePDF benchmark: azimuthal integration and G(r) for 2028 probe positions.

Data of the size of Werbrouck et al. (2025): 2028 probe positions (52 x 39) x
187 x 187 pixels, float32. Every pattern is radially symmetric, built from the
electron Debye I(Q) of the alpha-quartz cluster of the test oracle
(:mod:`hyperspy_rnmf.tests._epdf_oracle`, R = 20 Å) with a random scale, a
linear background and a low-Q tail, with Poisson noise.

Rows of the table, each measured in this run:

* integration of the 2028 x 187 x 187 stack: ``integrate_azimuthal`` (one
  sparse matrix product per block of patterns) against pyFAI's
  ``integrate1d`` called pattern by pattern (same CSR engine; timed on a
  subset and scaled to 2028), and ``integrate_azimuthal`` on the lazy (dask)
  signal;
* G(r) of the 2028 I(Q): ``ePDFSignal1D.get_pdf`` (one set of matrices for all
  patterns) against a per-pattern loop that builds the transform for each
  pattern, as a per-pattern function mapped over the navigation does (timed
  on 400 patterns, checked equal to the vectorised result, scaled to 2028);
* optionally (``--pyxem``) pyxem 0.21's chain (ReducedIntensityGenerator1D
  fit, reduced intensity, PDFGenerator1D), timed on a subset and scaled.

Timings on a shared 2-core machine are noisy: compare the ratios of one run.

Usage::

    python benchmarks/bench_epdf.py            # full benchmark (~1 min)
    python benchmarks/bench_epdf.py --quick    # 400 patterns of 96 x 96
    python benchmarks/bench_epdf.py --pyxem    # also time pyxem's chain
"""

import argparse
import os
import pathlib
import time
import warnings

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "numba"),
)

import hyperspy.api as hs  # noqa: E402
import numpy as np  # noqa: E402

from hyperspy_rnmf import _pdf_transform  # noqa: E402
from hyperspy_rnmf._scattering import parse_composition, scattering_moments  # noqa: E402
from hyperspy_rnmf.integration import integrate_azimuthal  # noqa: E402
from hyperspy_rnmf.tests import _epdf_oracle as oracle  # noqa: E402

COMPOSITION = "SiO2"
WINDOWS = [(1.5, 1.7), (2.5, 2.75), (2.95, 3.2)]  # Si-O, O-O, Si-Si


def make_data(nav, size, q_per_pixel, rng):
    """Patterns (nav + (size, size)), float32, and the centre (x, y)."""
    center = ((size - 1) / 2 + 0.3, (size - 1) / 2 - 0.2)
    y, x = np.mgrid[:size, :size]
    q_pixel = np.hypot(x - center[0], y - center[1]) * q_per_pixel
    q = np.arange(0, q_pixel.max() + 0.05, 0.01)
    quartz = oracle.debye_intensity(q, "quartz", 20.0, 0.08)
    n = int(np.prod(nav))
    scale = rng.uniform(200, 400, n)
    data = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        profile = oracle.distorted(q, quartz, COMPOSITION, scale=scale[i])
        data[i] = np.interp(q_pixel, q, profile)
    data = rng.poisson(data).astype(np.float32)
    return data.reshape(tuple(nav) + (size, size)), center


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    out = function(*args, **kwargs)
    return out, time.perf_counter() - start


def pyfai_loop(data, center, q_per_pixel, npt, q_range, count):
    """pyFAI integrate1d per pattern (radius in 1 mm pixels = pixels)."""
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    size = data.shape[-1]
    ai = AzimuthalIntegrator(
        dist=1.0,
        poni1=(center[1] + 0.5) * 1e-3,
        poni2=(center[0] + 0.5) * 1e-3,
        detector=Detector(1e-3, 1e-3, max_shape=(size, size)),
        wavelength=1e-10,
    )
    flat = data.reshape(-1, size, size)
    radial_range = (q_range[0] / q_per_pixel, q_range[1] / q_per_pixel)
    out = []
    for i in range(count):
        result = ai.integrate1d(
            flat[i],
            npt,
            unit="r_mm",
            radial_range=radial_range,
            correctSolidAngle=False,
            method=("bbox", "csr", "cython"),
        )
        out.append(result.intensity)
    return np.array(out)


def per_pattern_pdf(iq, record, r, count):
    """G(r) one pattern at a time: the transform is built for every pattern."""
    q = iq.axes_manager.signal_axes[0].axis
    rows = iq.data.reshape(-1, q.size)[:count]
    fractions = parse_composition(COMPOSITION)
    out = np.empty((rows.shape[0], r.size))
    for i, row in enumerate(rows):
        mean_f, mean_f2 = scattering_moments(fractions, q)
        transform = _pdf_transform.PDFTransform(
            q,
            mean_f,
            mean_f2,
            qmin=record.qmin,
            qmax=record.qmax,
            qmaxinst=record.qmaxinst,
            fit_range=tuple(record.fit_range),
            background_degree=1,
            rpoly=None,
            lorch=record.lorch,
            r=r,
        )
        out[i] = transform.reduced_pdf(row[None])[0][0]
    return out


def pyxem_chain(iq, count):
    """pyxem 0.21: fit <f^2> + background, reduced intensity, PDF (s = Q / 2 pi)."""
    from pyxem.generators import PDFGenerator1D, ReducedIntensityGenerator1D
    from pyxem.signals import ElectronDiffraction1D

    q = iq.axes_manager.signal_axes[0].axis
    data = np.nan_to_num(np.asarray(iq.data).reshape(-1, q.size)[:count])
    s = ElectronDiffraction1D(data.reshape(10, count // 10, q.size))  # 2D navigation
    axis = s.axes_manager.signal_axes[0]
    axis.scale, axis.offset = (q[1] - q[0]) / (2 * np.pi), q[0] / (2 * np.pi)
    generator = ReducedIntensityGenerator1D(s)
    s_max = q[-1] / (2 * np.pi)
    generator.fit_atomic_scattering(
        ["Si", "O"],
        [1 / 3, 2 / 3],
        scattering_factor="lobato",
        plot_fit=False,
    )
    reduced = generator.get_reduced_intensity()
    return PDFGenerator1D(reduced).get_pdf(s_min=0.2, s_max=s_max, r_max=20)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, smoke test")
    parser.add_argument("--pyxem", action="store_true", help="also time pyxem 0.21")
    args = parser.parse_args()
    hs.preferences.General.show_progressbar = False
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    nav, size = ((20, 20), 96) if args.quick else ((52, 39), 187)
    q_per_pixel = 0.15 * 187 / size  # Q up to ~20 1/Å at the corners
    n = int(np.prod(nav))
    print(f"Building {n} patterns of {size} x {size} (float32) ...", flush=True)
    data, center = make_data(nav, size, q_per_pixel, rng)
    s = hs.signals.Signal2D(data)
    kwargs = dict(reciprocal_pixel_size=q_per_pixel, convention="q", center=center)
    rows = []

    # -- integration
    integrate_azimuthal(hs.signals.Signal2D(data[0, :2]), **kwargs)  # warm up pyFAI
    iq, t_vec = timed(integrate_azimuthal, s, **kwargs)
    record = iq.metadata.Signal.ePDF.integration
    subset = min(n, 200)
    reference, t_sub = timed(
        pyfai_loop, data, center, q_per_pixel, record.npt, record.q_range, subset
    )
    np.testing.assert_allclose(
        np.nan_to_num(iq.data.reshape(n, -1)[:subset]), reference, rtol=1e-4, atol=1e-3
    )
    t_loop = t_sub * n / subset
    lazy = s.as_lazy()
    lazy.data = lazy.data.rechunk((13, 13, -1, -1))
    _, t_lazy = timed(integrate_azimuthal, lazy, lazy_output=False, **kwargs)
    rows.append(
        (f"integrate {n} x {size} x {size}", "integrate_azimuthal", t_vec, None)
    )
    rows.append(
        ("", f"pyFAI integrate1d loop ({subset}, scaled)", t_loop, t_loop / t_vec)
    )
    rows.append(("", "integrate_azimuthal, lazy (dask)", t_lazy, t_loop / t_lazy))

    # -- G(r)
    gr, t_pdf = timed(iq.get_pdf, COMPOSITION)
    r = gr.axes_manager.signal_axes[0].axis
    count = min(n, 400)
    loop, t_pdf_loop = timed(per_pattern_pdf, iq, gr.metadata.Signal.ePDF, r, count)
    t_pdf_loop *= n / count
    scale = np.nanmax(np.abs(loop))  # G(r) is float32 like the data
    vectorised = gr.data.reshape(n, -1)[:count]
    np.testing.assert_allclose(loop, vectorised, rtol=0, atol=1e-5 * scale)
    rows.append((f"G(r) of {n} I(Q)", "ePDFSignal1D.get_pdf (vectorised)", t_pdf, None))
    rows.append(
        ("", f"per-pattern loop ({count}, scaled)", t_pdf_loop, t_pdf_loop / t_pdf)
    )
    (density, t_rho) = timed(gr.estimate_number_density)
    (peaks, t_peaks) = timed(gr.find_pair_distances, 3)
    rows.append(("", "number density map", t_rho, None))
    rows.append(("", "pair distance maps (3 peaks)", t_peaks, None))

    if args.pyxem:
        count = min(n, 100)
        _, t_pyxem = timed(pyxem_chain, iq, count)
        t_pyxem *= n / count
        rows.append(
            ("", f"pyxem 0.21 chain ({count}, scaled)", t_pyxem, t_pyxem / t_pdf)
        )

    print()
    print(f"| {'task':<28} | {'method':<40} | {'time (s)':>9} | {'ratio':>7} |")
    print(f"|{'-' * 30}|{'-' * 42}|{'-' * 11}|{'-' * 9}|")
    for task, method, seconds, ratio in rows:
        ratio_text = "" if ratio is None else f"{ratio:6.0f}x"
        print(f"| {task:<28} | {method:<40} | {seconds:9.3f} | {ratio_text:>7} |")
    print()
    r_range = density.metadata.Signal.ePDF.number_density.r_range
    rho = oracle.effective_density("quartz", 20.0, r_range)
    model = np.array([oracle.mean_distance("quartz", 20.0, *w) for w in WINDOWS])
    errors = peaks.data.reshape(n, 3) - model
    within = np.mean(np.abs(errors) < [0.02, 0.03, 0.03], axis=0)
    mean_gr = gr.mean(axis=tuple(range(gr.axes_manager.navigation_dimension)))
    mean_peaks = mean_gr.find_pair_distances(3).data
    print(
        "ratio = time of the loop / time of the vectorised method, same run.\n"
        f"Single noisy patterns: number density {np.nanmean(density.data):.4f} +- "
        f"{np.nanstd(density.data):.4f} atoms/Å^3 (model, finite-size corrected: "
        f"{rho:.4f}); share of pair distances within 0.02/0.03/0.03 Å of the model "
        f"{np.round(within, 2)}.\n"
        f"Mean G(r): pair distances {np.round(mean_peaks, 3)} Å, model "
        f"{np.round(model, 3)} Å."
    )


if __name__ == "__main__":
    main()

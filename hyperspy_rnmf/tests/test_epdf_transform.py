"""I(Q) -> S(Q), F(Q), G(r) (ePDFSignal1D) against an electron Debye oracle."""

import sys
import types

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_rnmf import _pdf_transform
from hyperspy_rnmf._scattering import parse_composition, scattering_moments
from hyperspy_rnmf.tests import _epdf_oracle as oracle

STEP = 0.05
Q = STEP / 2 + STEP * np.arange(480)  # bin centres up to 23.975 1/Å
MODELS = {
    # name: composition, cluster radius (Å), sigma (Å), windows of the 3 peaks
    "quartz": ("SiO2", 25.0, 0.08, [(1.5, 1.7), (2.5, 2.75), (2.95, 3.2)]),
    "Ni": ("Ni", 20.0, 0.10, [(2.4, 2.6), (3.4, 3.6), (4.2, 4.4)]),
}


def iq_signal(data, q=Q, lazy=False):
    s = hs.signals.Signal1D(np.asarray(data))
    s.set_signal_type("ePDF")
    axis = s.axes_manager.signal_axes[0]
    axis.scale, axis.offset, axis.units, axis.name = q[1] - q[0], q[0], "1/Å", "Q"
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 200.0)
    return s.as_lazy() if lazy else s


@pytest.fixture(scope="module")
def intensities():
    return {
        name: oracle.debye_intensity(Q, name, radius, sigma)
        for name, (_, radius, sigma, _) in MODELS.items()
    }


def accuracy(gr, name):
    """Peak errors (Å) and relative density error of a single-pattern G(r)."""
    composition, radius, _, windows = MODELS[name]
    expected = np.array([oracle.mean_distance(name, radius, *w) for w in windows])
    peaks = gr.find_pair_distances(3).data.reshape(-1, 3)
    density = gr.estimate_number_density()
    r_range = density.metadata.Signal.ePDF.number_density.r_range
    rho = oracle.effective_density(name, radius, r_range)
    return peaks - expected, density.data.ravel() / rho - 1


@pytest.mark.parametrize("lorch", [True, False])
@pytest.mark.parametrize("name", ["quartz", "Ni"])
def test_oracle_peaks_and_density(intensities, name, lorch):
    """Distorted (scale 50, linear background, low-Q tail) Debye I(Q), defaults."""
    composition = MODELS[name][0]
    s = iq_signal(oracle.distorted(Q, intensities[name], composition))
    gr = s.get_pdf(composition, lorch=lorch)
    peak_error, density_error = accuracy(gr, name)
    assert abs(peak_error[0, 0]) < 0.02
    np.testing.assert_array_less(np.abs(peak_error[0, 1:]), 0.03)
    assert abs(density_error[0]) < 0.10  # finite-size corrected, see the oracle


@pytest.mark.parametrize("table", ["kirkland", "peng"])
def test_other_scattering_factor_tables(intensities, table):
    s = iq_signal(oracle.distorted(Q, intensities["Ni"], "Ni"))
    gr = s.get_pdf("Ni", scattering_factors=table)
    peak_error, density_error = accuracy(gr, "Ni")
    np.testing.assert_array_less(np.abs(peak_error), 0.03)
    assert abs(density_error[0]) < 0.10
    assert gr.metadata.Signal.ePDF.scattering_factors == table


def navigation_stack(intensity, composition):
    """(2, 3) probe positions: scales and backgrounds differ."""
    rows = [
        oracle.distorted(Q, intensity, composition, scale=k) + 0.01 * k * Q
        for k in (10.0, 20.0, 30.0, 40.0, 50.0, 60.0)
    ]
    return np.array(rows).reshape(2, 3, Q.size)


@pytest.mark.parametrize("lazy", [False, True])
def test_lazy_equals_eager_and_vectorised_equals_loop(intensities, lazy):
    data = navigation_stack(intensities["quartz"], "SiO2")
    before = data.copy()
    eager = iq_signal(data).get_pdf("SiO2", rmax=8.0)
    other = iq_signal(data, lazy=lazy).get_pdf("SiO2", rmax=8.0)
    assert other._lazy is lazy
    assert type(other).__name__ == (
        "LazyePDFReducedPDF1D" if lazy else "ePDFReducedPDF1D"
    )
    if lazy:
        other.compute()
    np.testing.assert_allclose(other.data, eager.data, rtol=1e-10, atol=1e-10)
    # one pattern at a time gives the same G(r) (same defaults: pass them)
    record = eager.metadata.Signal.ePDF
    fixed = dict(qmin=record.qmin, qmax=record.qmax, fit_range=tuple(record.fit_range))
    single = iq_signal(data[1, 2]).get_pdf("SiO2", rmax=8.0, **fixed)
    np.testing.assert_allclose(single.data, eager.data[1, 2], rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(data, before)
    for method in ("get_structure_factor", "get_reduced_structure_function"):
        a = getattr(iq_signal(data), method)("SiO2")
        b = getattr(iq_signal(data, lazy=lazy), method)("SiO2")
        if lazy:
            b.compute()
        np.testing.assert_allclose(b.data, a.data, rtol=1e-10, atol=1e-10)


def test_structure_functions_consistent(intensities):
    s = iq_signal(oracle.distorted(Q, intensities["Ni"], "Ni"))
    sq = s.get_structure_factor("Ni")
    fq = s.get_reduced_structure_function("Ni")
    q = fq.axes_manager[0].axis
    np.testing.assert_allclose(fq.data, q * (sq.data - 1), atol=1e-12)
    assert type(sq).__name__ == "ePDFStructureFactor1D"
    assert type(fq).__name__ == "ePDFReducedStructureFunction1D"
    # S(Q) -> 1 at high Q (the normalisation), and S = I / <f^2> without distortion
    assert abs(np.mean(sq.data[q > 15]) - 1) < 0.02
    undistorted = iq_signal(intensities["Ni"]).get_structure_factor(
        "Ni", background_degree=None
    )
    q = undistorted.axes_manager[0].axis
    _, f2 = scattering_moments({"Ni": 1.0}, q)
    expected = np.interp(q, Q, intensities["Ni"]) / f2
    high = q > 6
    np.testing.assert_allclose(undistorted.data[high], expected[high], atol=0.03)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes(intensities, dtype):
    data = navigation_stack(intensities["Ni"], "Ni")
    reference = iq_signal(data).get_pdf("Ni", rmax=6.0)
    gr = iq_signal(data.astype(dtype)).get_pdf("Ni", rmax=6.0)
    assert gr.data.dtype == dtype
    scale = np.abs(reference.data).max()
    np.testing.assert_allclose(gr.data, reference.data, atol=1e-4 * scale)


def test_metadata_records_everything(intensities):
    s = iq_signal(oracle.distorted(Q, intensities["Ni"], "Ni"))
    gr = s.get_pdf({"Ni": 2}, rpoly=0.8, lorch=True, rmax=10.0, rstep=0.02)
    record = gr.metadata.Signal.ePDF
    assert record.composition.as_dictionary() == {"Ni": 1.0}
    assert record.scattering_factors == "lobato"
    assert "Lobato" in record.scattering_factors_reference
    assert record.qmin_rule == "first valley of the mean I(Q) after the direct beam"
    assert record.fit_range_rule == "upper 70% of [qmin, qmax]"
    np.testing.assert_allclose(record.qmax, Q[-1])
    assert record.qmaxinst == record.qmax
    assert record.polynomial_degree == round(0.8 * record.qmaxinst / np.pi)
    assert record.lorch is True and record.rpoly == 0.8
    assert (record.rmin, record.rmax, record.rstep) == (0.0, 10.0, 0.02)
    assert record.q_convention.startswith("Q = 4 pi sin(theta)")
    assert gr.metadata.Acquisition_instrument.TEM.beam_energy == 200.0
    axis = gr.axes_manager.signal_axes[0]
    assert (axis.units, axis.size) == ("Å", 501)
    assert gr.metadata.Signal.signal_type == "electron_reduced_pdf"


def test_composition_from_metadata(intensities):
    s = iq_signal(oracle.distorted(Q, intensities["Ni"], "Ni"))
    s.metadata.set_item("Signal.ePDF.composition", "Ni")
    np.testing.assert_allclose(s.get_pdf(rmax=5.0).data, s.get_pdf("Ni", rmax=5.0).data)


def test_ad_hoc_correction_removes_polynomials_and_keeps_structure():
    q = 1.0 + 0.05 * np.arange(400)
    f1, f2 = scattering_moments({"Ni": 1.0}, q)
    r = np.arange(0, 10, 0.01)
    transform = _pdf_transform.PDFTransform(
        q,
        f1,
        f2,
        qmin=q[0],
        qmax=q[-1],
        qmaxinst=q[-1],
        fit_range=(10.0, q[-1]),
        background_degree=1,
        rpoly=0.9,
        lorch=False,
        r=r,
    )
    n = transform.poly_degree
    assert n == round(0.9 * q[-1] / np.pi)
    x = q / q[-1]
    polynomial = 3 * x - 2 * x**2 + 0.5 * x**n  # no constant term, degree n
    np.testing.assert_allclose(
        transform.ad_hoc_correction(polynomial[None]), 0, atol=1e-9
    )
    structure = np.sin(4.0 * q) * np.exp(-0.005 * q**2)  # a shell at 4 Å
    kept = transform.ad_hoc_correction(structure[None])[0]
    assert np.linalg.norm(kept - structure) < 0.1 * np.linalg.norm(structure)


def test_non_positive_scale_gives_nan_and_warns(intensities):
    good = oracle.distorted(Q, intensities["Ni"], "Ni")
    data = np.stack([good, -good])
    with pytest.warns(UserWarning, match="1 of 2 patterns have no scattering"):
        gr = iq_signal(data).get_pdf("Ni", rmax=5.0, qmin=2.0)
    assert np.all(np.isfinite(gr.data[0])) and np.all(np.isnan(gr.data[1]))


def _good(intensities=None):
    q_data = oracle.distorted(Q, np.ones_like(Q), "Ni")
    return iq_signal(q_data)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"composition": None}, "`composition` is required"),
        ({"composition": "Ni("}, "unbalanced"),
        ({"composition": "Nx"}, "unknown element 'Nx'"),
        ({"qmax": 30.0}, "`qmax` = 30 1/Å is beyond the data"),
        ({"qmin": -1.0}, "`qmin` = -1 1/Å is below the data"),
        ({"qmin": 10.0, "qmax": 5.0}, "`qmax` \\(5\\) must be larger than `qmin`"),
        ({"qmax": 20.0, "qmaxinst": 15.0}, "`qmaxinst` \\(15\\) must be at least"),
        ({"qmaxinst": 40.0}, "`qmaxinst` = 40 1/Å is beyond the data"),
        ({"rpoly": 0}, "`rpoly` must be positive"),
        ({"rpoly": -0.9}, "`rpoly` must be positive"),
        ({"rpoly": "big"}, "`rpoly` must be a positive number"),
        (
            {"rmin": 5.0, "rmax": 5.0},
            "`rmax` \\(5\\) must be larger than `rmin` \\(5\\)",
        ),
        ({"rmax": 1.0, "rmin": 2.0}, "must be larger than `rmin`"),
        ({"rstep": 0.0}, "`rstep` must be positive"),
        ({"rmin": -1.0}, "`rmin` must be non-negative"),
        ({"fit_range": (20.0, 10.0)}, "must be increasing"),
        ({"fit_range": 10.0}, "`fit_range` must be a pair"),
        (
            {"fit_range": (10.0, 30.0)},
            "`fit_range\\[1\\]` = 30 1/Å is outside \\[qmin, qmaxinst\\] = ",
        ),
        (
            {"qmin": 2.0, "fit_range": (1.0, 20.0)},
            "`fit_range\\[0\\]` = 1 1/Å is outside \\[qmin, qmaxinst\\] = \\[2, ",
        ),
        ({"background_degree": -1}, "`background_degree` must be a non-negative"),
        ({"background_degree": 1.5}, "`background_degree` must be a non-negative"),
        ({"scattering_factors": "xray"}, "`scattering_factors` must be one of"),
        ({"low_q": "cubic"}, "`low_q` must be 'linear' or 'zero'"),
        ({"backend": "pyxem"}, "`backend` must be 'builtin' or 'pdfgetx'"),
        ({"rpoly": np.inf}, "`rpoly` must be a positive number .*got inf"),
        ({"rmax": np.inf}, "`rmax` must be a number .*got inf"),
        ({"rstep": np.inf}, "`rstep` must be a number .*got inf"),
        ({"rmax": 0.005}, "r grid .* has 1 point: at least 2 are needed"),
        (
            {"qmin": 1.03, "qmax": 1.07, "qmaxinst": 20.0, "fit_range": (5, 20)},
            r"holds 0 point\(s\) of the Q grid",
        ),
        ({"lorch": "False"}, "`lorch` must be True or False, got 'False'"),
        ({"composition": {"Si": 1e308, "O": 1e308}}, "amounts overflow"),
    ],
)
def test_transform_errors(kwargs, match):
    kwargs = {"composition": "Ni", **kwargs}
    with pytest.raises(ValueError, match=match):
        _good().get_pdf(**kwargs)


def _axis_signal(units="1/Å", offset=0.025, uniform=True):
    if units is None:  # a fresh signal: undefined units
        s = hs.signals.Signal1D(np.ones(50))
        s.set_signal_type("ePDF")
        return s
    s = _good()
    axis = s.axes_manager.signal_axes[0]
    axis.units, axis.offset = units, offset
    if not uniform:
        axis.convert_to_non_uniform_axis()
    return s


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: _axis_signal(units=None),
            "The Q axis is not calibrated: units '<undefined>'",
        ),
        (lambda: _axis_signal(units="px"), "not calibrated: units 'px'"),
        (lambda: _axis_signal(units="k_A^-1"), "mean s = 1/d"),
        (lambda: _axis_signal(units="$A^{-1}$"), "multiply the axis scale"),
        (lambda: _axis_signal(units="1/nm"), "are 1/nm"),
        (lambda: _axis_signal(uniform=False), "is non-uniform"),
        (lambda: _axis_signal(offset=-1.0), "must be non-negative"),
    ],
)
def test_q_axis_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make().get_pdf("Ni")


def test_nan_inside_range_error():
    s = _good()
    s.data[100] = np.nan
    with pytest.raises(
        ValueError, match="I\\(Q\\) is NaN or infinite in every pattern at Q = 5.025"
    ):
        s.get_pdf("Ni", qmin=2.0)
    # outside [qmin, qmax] it is fine (masked beam-stop bins)
    s.data[100] = 1.0
    s.data[:10] = np.nan
    assert np.all(np.isfinite(s.get_pdf("Ni", qmin=2.0, rmax=5.0).data))


@pytest.mark.parametrize("method", ["get_structure_factor", "get_pdf"])
def test_empty_q_range_error_in_every_transform(method):
    with pytest.raises(ValueError, match=r"holds 0 point\(s\)"):
        getattr(_good(), method)("Ni", qmin=1.03, qmax=1.07, qmaxinst=20.0)


def test_q_axis_from_zero_default_qmin_is_positive(intensities):
    q0 = STEP * np.arange(480)  # the grid starts at Q = 0, no direct beam
    data = oracle.distorted(q0, oracle.debye_intensity(q0, "Ni", 20.0, 0.1), "Ni")
    data[q0 < 1.8] = data[36]
    sq = iq_signal(data, q=q0).get_structure_factor("Ni")
    assert sq.metadata.Signal.ePDF.qmin == pytest.approx(STEP)
    assert np.all(np.isfinite(sq.data))
    with pytest.raises(ValueError, match="`qmin` must be positive, got 0"):
        iq_signal(data, q=q0).get_structure_factor("Ni", qmin=0.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_one_non_finite_pattern_gets_nan_lazy_as_eager(bad):
    # one pattern with a NaN (or inf) bin: that pattern's G(r) is NaN, with a
    # warning; it used to stop the transform of every pattern
    clean = np.stack([_good().data] * 4)
    data = clean.copy()
    data[1, 100] = bad
    expected = iq_signal(clean).get_pdf("Ni", qmin=2.0, rmax=5.0).data
    for lazy in (False, True):
        with pytest.warns(UserWarning, match="or NaN or inf in I\\(Q\\)"):
            gr = iq_signal(data, lazy=lazy).get_pdf("Ni", qmin=2.0, rmax=5.0)
            values = np.asarray(gr.data.compute() if lazy else gr.data)
        assert np.all(np.isnan(values[1]))
        np.testing.assert_allclose(np.delete(values, 1, 0), np.delete(expected, 1, 0))
    # S(Q) and F(Q) too (they gave NaN without a warning)
    for method in ("get_structure_factor", "get_reduced_structure_function"):
        with pytest.warns(UserWarning, match="1 of 4 patterns have no scattering"):
            values = getattr(iq_signal(data), method)("Ni", qmin=2.0).data
        assert np.all(np.isnan(values[1])) and np.isfinite(values[0]).all()
    # every pattern bad at that Q: an error naming it
    data[:, 100] = bad
    with pytest.raises(
        ValueError, match="NaN or infinite in every pattern at Q = 5.025"
    ):
        iq_signal(data).get_pdf("Ni", qmin=2.0)


def test_non_positive_scale_warns_lazy_too(intensities):
    good = oracle.distorted(Q, intensities["Ni"], "Ni")
    gr = iq_signal(np.stack([good, -good]), lazy=True).get_pdf("Ni", rmax=5.0, qmin=2.0)
    with pytest.warns(UserWarning, match="1 of 2 patterns of a chunk have no"):
        gr.compute()
    assert np.all(np.isfinite(gr.data[0])) and np.all(np.isnan(gr.data[1]))


def test_composition_dict_from_metadata(intensities):
    s = iq_signal(oracle.distorted(Q, intensities["quartz"], "SiO2"))
    s.metadata.set_item("Signal.ePDF.composition", {"Si": 1, "O": 2})
    np.testing.assert_allclose(
        s.get_pdf(rmax=5.0).data, s.get_pdf("SiO2", rmax=5.0).data
    )


def test_noise_variance_is_not_inherited(intensities):
    s = iq_signal(np.abs(oracle.distorted(Q, intensities["Ni"], "Ni")))
    s.estimate_poissonian_noise_variance()
    for out in (s.get_pdf("Ni", rmax=5.0), s.get_structure_factor("Ni")):
        assert out.metadata.get_item("Signal.Noise_properties") is None


def test_short_q_axis_error():
    s = iq_signal(np.ones(5), q=np.arange(5) * 0.5 + 1.0)
    with pytest.raises(ValueError, match="The Q axis has 5 points"):
        s.get_pdf("Ni")


def test_pdfgetx_backend_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffpy.pdfgetx", None)
    with pytest.raises(
        ImportError,
        match="ePDF backend 'pdfgetx' requires diffpy.pdfgetx \\(PDFgetX3\\), which "
        "is not installed",
    ):
        _good().get_pdf("Ni", backend="pdfgetx")


def test_pdfgetx_backend_calls_pdfgetter(monkeypatch, intensities):
    calls = {}

    class PDFConfig:
        def update(self, **kwargs):
            calls["config"] = kwargs

    class PDFGetter:
        def __init__(self, config):
            self.config = calls["config"]

        def __call__(self, x, y):
            c = self.config
            r = np.arange(c["rmin"], c["rmax"] + c["rstep"] / 2, c["rstep"])
            return r, np.full(r.size, float(np.sum(y)))

    fake = types.ModuleType("diffpy.pdfgetx")
    fake.PDFConfig, fake.PDFGetter = PDFConfig, PDFGetter
    monkeypatch.setitem(sys.modules, "diffpy.pdfgetx", fake)
    data = navigation_stack(intensities["Ni"], "Ni")[0]
    gr = iq_signal(data).get_pdf("Ni", backend="pdfgetx", rmax=5.0, qmin=2.0)
    np.testing.assert_allclose(gr.data, np.sum(data, axis=1)[:, None] * np.ones(501))
    assert calls["config"]["mode"] == "xray"
    assert calls["config"]["composition"] == "Ni"
    assert calls["config"]["qmin"] == 2.0
    assert gr.metadata.Signal.ePDF.backend.startswith("pdfgetx")


def test_default_q_ranges_masked_direct_beam():
    # no direct beam in the data (masked): qmin is the first Q with data
    intensity = 1 + np.exp(-0.5 * ((Q - 3) / 0.3) ** 2)
    intensity[Q < 1.2] = np.nan
    chosen = _pdf_transform.default_q_ranges(Q, intensity)
    assert chosen["qmin"] == Q[np.argmax(Q >= 1.2)]
    assert chosen["qmin_rule"].startswith("first Q > 0 with data")
    with pytest.raises(ValueError, match="only 3 finite values"):
        _pdf_transform.default_q_ranges(Q[:3], np.ones(3))


def test_transform_input_not_modified(intensities):
    data = navigation_stack(intensities["Ni"], "Ni")
    s = iq_signal(data)
    before = s.data.copy()
    s.get_pdf("Ni", rpoly=0.9, lorch=True)
    s.get_structure_factor("Ni")
    np.testing.assert_array_equal(s.data, before)
    assert parse_composition("Ni") == {"Ni": 1.0}


def test_titles_of_untitled_and_titled_signals():
    s = _good()
    s.metadata.General.title = ""
    assert s.get_pdf("Ni", qmin=2.0, rmax=5.0).metadata.General.title == "G(r)"
    assert s.get_structure_factor("Ni", qmin=2.0).metadata.General.title == "S(Q)"
    s.metadata.General.title = "scan 3"
    assert s.get_pdf("Ni", qmin=2.0, rmax=5.0).metadata.General.title == "scan 3 G(r)"


@pytest.mark.parametrize("dq", [0.02, 0.1, 0.25, 0.3])
def test_default_qmin_between_direct_beam_and_first_ring_on_any_grid(dq):
    # smoothing over 1.5 bins filled the valley on a 0.25 1/Å grid: qmin was
    # 7.1 1/Å and G(r) had peaks at 0.88, 1.64, 2.61 Å instead of quartz's
    q = np.arange(dq / 2, 20, dq)
    beam = 4e4 * np.exp(-0.5 * (q / 0.25) ** 2)
    intensity = oracle.distorted(q, oracle.debye_intensity(q, "quartz", 12.0), "SiO2")
    gr = iq_signal(intensity + beam, q).get_pdf("SiO2")
    assert 0.75 < gr.metadata.Signal.ePDF.qmin < 1.3
    np.testing.assert_allclose(
        gr.find_pair_distances(3).data, [1.60, 2.62, 3.54], atol=0.03
    )


def test_default_qmin_with_zero_counts_at_high_q():
    # zero counts far out switched the valley search to a linear scale, where
    # the valley after the direct beam is too shallow: qmin fell back to Q[0]
    q = np.arange(0.01, 20, 0.02)
    beam = 4e4 * np.exp(-0.5 * (q / 0.25) ** 2)
    intensity = beam + oracle.distorted(
        q, oracle.debye_intensity(q, "quartz", 12.0), "SiO2"
    )
    counts = np.random.default_rng(0).poisson(intensity / intensity.sum() * 1e5)
    assert np.any(counts[q > 10] == 0)
    chosen = _pdf_transform.default_q_ranges(q, counts.astype(np.float64))
    assert 0.75 < chosen["qmin"] < 1.3
    assert chosen["qmin_rule"].startswith("first valley")


@pytest.mark.parametrize("rpoly", [None, 0.9])
def test_transform_pickles_small_and_equal(intensities, rpoly, monkeypatch):
    """The transform travels with every task of a lazy G(r) to the workers
    of a dask.distributed cluster: it carried its Q x r kernel (15 MB) and,
    with ``rpoly``, a dense Q x Q correction (18 MB at 1500 Q points)."""
    import pickle

    q = 0.01 / 2 + 0.01 * np.arange(1500)
    intensity = np.interp(q, Q, oracle.distorted(Q, intensities["Ni"], "Ni"))
    s = iq_signal(intensity[None].repeat(2, 0), q=q)
    s.data[1, 600] = np.nan  # in the range used (Q = 6 1/Å)
    built = []
    original = type(s)._transform

    def keep(self, *args, **kwargs):  # the transform get_pdf builds
        result = original(self, *args, **kwargs)
        built.append(result[0])
        return result

    monkeypatch.setattr(type(s), "_transform", keep)
    with pytest.warns(UserWarning, match="1 of 2 patterns"):  # the NaN one
        s.get_pdf("Ni", rpoly=rpoly)
    transform = built[0]
    expected = transform.reduced_pdf(s.data)[0]
    payload = pickle.dumps(transform)
    assert len(payload) < 1e6
    again = pickle.loads(payload).reduced_pdf(s.data)[0]
    np.testing.assert_array_equal(again, expected)
    assert np.isnan(expected[1]).all() and np.isfinite(expected[0]).all()

"""``s.decomposition("rnmf")`` on HyperSpy signals (eager and lazy)."""

import re

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_rnmf import RandomizedNMF, rnmf_decomposition
from hyperspy_rnmf.matching import match_components
from hyperspy_rnmf.tests.helpers import separable_product

NAV = (8, 6)  # array order (y, x)
SIG = (9, 7)  # array order (ky, kx)
K = 3


def make_signal(kind="2d", lazy=False, dtype=np.float64, noise=False, seed=0):
    m, n = int(np.prod(NAV)), int(np.prod(SIG))
    X, W, H = separable_product(m, n, K, random_state=seed)
    if noise:
        X = np.random.default_rng(seed).poisson(200 * X)
    data = X.astype(dtype)
    if kind == "2d":
        s = hs.signals.Signal2D(data.reshape(NAV + SIG))
    else:
        s = hs.signals.Signal1D(data.reshape(NAV + (n,)))
    for axis in s.axes_manager.navigation_axes:
        axis.scale, axis.units = 2.5, "nm"
    if lazy:
        s = s.as_lazy()
        s.rechunk(nav_chunks=(3, 4))
    return s, W, H


def results(s):
    lr = s.learning_results
    return np.asarray(lr.factors), np.asarray(lr.loadings)


@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("lazy", [False, True])
def test_positional_name_recovers_planted_factors(kind, lazy):
    s, W, H = make_signal(kind, lazy)
    s.decomposition(
        "rnmf", output_dimension=K, tol=1e-7, max_iter=3000, print_info=False
    )
    factors, loadings = results(s)
    assert factors.shape == (int(np.prod(SIG)), K)
    assert loadings.shape == (int(np.prod(NAV)), K)
    assert s.learning_results.decomposition_algorithm == "rnmf"
    assert s.learning_results.output_dimension == K
    assert match_components(factors.T, H).min() > 0.999
    assert match_components(loadings.T, W.T).min() > 0.999
    np.testing.assert_allclose(factors.sum(axis=0), 1.0, rtol=1e-8)
    model = s.get_decomposition_model()
    data = np.asarray(s.data)
    np.testing.assert_allclose(np.asarray(model.data), data, atol=1e-4 * data.max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
def test_lazy_equals_eager(dtype):
    eager, _, _ = make_signal(noise=True, dtype=dtype)
    lazy, _, _ = make_signal(noise=True, dtype=dtype, lazy=True)
    options = dict(
        output_dimension=K, random_state=3, tol=1e-6, max_iter=2000, print_info=False
    )
    eager.decomposition("rnmf", **options)
    lazy.decomposition("rnmf", **options)
    f_e, l_e = results(eager)
    f_l, l_l = results(lazy)
    rtol = 1e-3 if np.dtype(dtype).itemsize <= 4 else 1e-5
    np.testing.assert_allclose(f_l, f_e, rtol=rtol, atol=rtol * f_e.max())
    np.testing.assert_allclose(l_l, l_e, rtol=rtol, atol=rtol * l_e.max())
    expected = np.float64 if dtype == np.float64 else np.float32
    assert f_e.dtype == expected and l_l.dtype == expected


def test_algorithm_keyword_options_and_return_info():
    s, _, _ = make_signal(noise=True)
    estimator = s.decomposition(
        algorithm="rnmf",
        output_dimension=K,
        oversample=5,
        n_power_iter=0,
        init="spa",
        random_state=1,
        return_info=True,
        print_info=False,
    )
    assert isinstance(estimator, RandomizedNMF)
    assert estimator.oversample == 5 and estimator.n_power_iter == 0
    assert estimator.init == "spa"
    assert estimator.n_components_ == K


def test_estimator_object_is_fitted_in_place():
    s, _, H = make_signal()
    estimator = RandomizedNMF(K, tol=1e-7, max_iter=3000, random_state=0)
    out = s.decomposition(algorithm=estimator, return_info=True, print_info=False)
    assert out is estimator
    assert match_components(estimator.components_, H).min() > 0.999
    np.testing.assert_allclose(results(s)[0], estimator.components_.T)


@pytest.mark.parametrize("lazy", [False, True])
def test_positional_estimator_object_is_the_algorithm(lazy):
    # HyperSpy would take it as normalize_poissonian_noise (truthy) and run SVD
    s, _, H = make_signal(lazy=lazy)
    estimator = RandomizedNMF(K, tol=1e-7, max_iter=3000, random_state=0)
    out = s.decomposition(estimator, return_info=True, print_info=False)
    assert out is estimator
    assert s.learning_results.decomposition_algorithm == "rnmf"
    assert s.learning_results.poissonian_noise_normalized is False
    np.testing.assert_allclose(results(s)[0], estimator.components_.T)
    with pytest.raises(TypeError, match="algorithm twice.*algorithm='rnmf'"):
        s.decomposition(estimator, algorithm="rnmf")


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("value, flag", [("NMF", True), ("True", True), ("", False)])
def test_other_positional_string_warns_and_hyperspy_runs(value, flag, lazy):
    # HyperSpy reads s.decomposition("NMF") as normalize_poissonian_noise="NMF"
    # with its default SVD: it did so without a word
    s, _, _ = make_signal(noise=True, lazy=lazy)
    message = (
        rf"decomposition\({value!r}, ...\): HyperSpy's first positional parameter "
        rf"is normalize_poissonian_noise, so the string {value!r} is read as "
        rf"normalize_poissonian_noise={flag} and the algorithm is not changed "
        rf"\(the default is SVD\). Name the algorithm: algorithm={value!r}"
    )
    with pytest.warns(UserWarning, match=message) as caught:
        s.decomposition(value, output_dimension=2, print_info=False)
    assert [w.filename for w in caught if w.category is UserWarning] == [__file__]
    assert s.learning_results.decomposition_algorithm == "SVD"
    assert bool(s.learning_results.poissonian_noise_normalized) is flag
    s.decomposition(algorithm="SVD", output_dimension=2, print_info=False)  # quiet


def test_positional_string_with_an_algorithm_warns_about_the_noise_flag():
    # with algorithm= given too, the warning said the algorithm was not changed
    s, _, _ = make_signal(noise=True)
    message = (
        r"the string 'x' is read as normalize_poissonian_noise=True for "
        r"algorithm='NMF'\. If that is not meant, remove the string"
    )
    with pytest.warns(UserWarning, match=message):
        s.decomposition("x", algorithm="NMF", output_dimension=2, print_info=False)
    assert s.learning_results.decomposition_algorithm == "NMF"
    assert s.learning_results.poissonian_noise_normalized
    with pytest.raises(TypeError, match="`normalize_poissonian_noise` must be True"):
        s.decomposition("x", algorithm="rnmf", output_dimension=2)


def test_positional_output_dimension():
    s, _, _ = make_signal()
    s.decomposition("rnmf", 2, print_info=False)
    assert results(s)[0].shape[1] == 2


def test_print_info(capsys):
    s, _, _ = make_signal()
    s.decomposition("rnmf", output_dimension=K)
    out = capsys.readouterr().out
    assert "algorithm=rnmf" in out and "RandomizedNMF(n_components=3)" in out


@pytest.mark.parametrize("lazy", [False, True])
def test_masks_exclude_pixels_and_positions(lazy):
    s, W, H = make_signal(lazy=lazy)
    data = s.data.compute() if lazy else s.data.copy()
    # NaN in excluded pixels must not matter
    sig_mask = np.zeros(SIG, dtype=bool)
    sig_mask[4, 3] = sig_mask[0, :2] = True
    nav_mask = np.zeros(NAV[::-1], dtype=bool)  # navigation_shape order (x, y)
    nav_mask[1, 2] = True
    data[..., 4, 3] = np.nan
    s = hs.signals.Signal2D(data)
    if lazy:
        s = s.as_lazy()
    s.decomposition(
        "rnmf",
        output_dimension=K,
        signal_mask=sig_mask,
        navigation_mask=nav_mask,
        tol=1e-7,
        max_iter=3000,
        print_info=False,
    )
    factors, loadings = results(s)
    flat_sig = sig_mask.ravel()
    flat_nav = nav_mask.T.ravel()
    assert np.isnan(factors[flat_sig]).all() and not np.isnan(factors[~flat_sig]).any()
    assert (
        np.isnan(loadings[flat_nav]).all() and not np.isnan(loadings[~flat_nav]).any()
    )
    assert match_components(factors[~flat_sig].T, H[:, ~flat_sig]).min() > 0.999
    np.testing.assert_array_equal(s.learning_results.signal_mask, sig_mask)
    np.testing.assert_array_equal(s.learning_results.navigation_mask, nav_mask.T)


def test_signal_masks_as_signals():
    s, _, _ = make_signal()
    sig_mask = hs.signals.Signal2D(np.zeros(SIG, dtype=bool))
    sig_mask.data[2, 2] = True
    nav_mask = hs.signals.BaseSignal(np.zeros(NAV, dtype=bool)).T
    nav_mask.data[0, 1] = True
    s.decomposition(
        "rnmf",
        output_dimension=K,
        signal_mask=sig_mask,
        navigation_mask=nav_mask,
        print_info=False,
    )
    factors, loadings = results(s)
    assert np.isnan(factors[2 * SIG[1] + 2]).all()
    assert np.isnan(loadings[1]).all()
    assert np.isnan(factors).sum() == K and np.isnan(loadings).sum() == K


@pytest.mark.parametrize("reproject", ["navigation", "signal", "both"])
def test_reproject_fills_masked_entries(reproject):
    s, W, H = make_signal()
    sig_mask = np.zeros(SIG, dtype=bool)
    sig_mask[3:5, 2:4] = True
    nav_mask = np.zeros(NAV[::-1], dtype=bool)
    nav_mask[0, :3] = True
    s.decomposition(
        "rnmf",
        output_dimension=K,
        signal_mask=sig_mask,
        navigation_mask=nav_mask,
        reproject=reproject,
        tol=1e-7,
        max_iter=3000,
        print_info=False,
    )
    factors, loadings = results(s)
    assert np.isnan(factors).any() == (reproject == "navigation")
    assert np.isnan(loadings).any() == (reproject == "signal")
    if reproject == "both":
        assert match_components(factors.T, H).min() > 0.999
        assert match_components(loadings.T, W.T).min() > 0.999
        model = s.get_decomposition_model()
        np.testing.assert_allclose(model.data, s.data, atol=1e-4 * s.data.max())


@pytest.mark.parametrize("init", ["nndsvdar", "spa"])
@pytest.mark.parametrize("lazy", [False, True])
def test_poisson_normalisation(lazy, init):
    s, _, H = make_signal(noise=True, lazy=lazy, dtype=np.float32)
    before = np.array(s.data)
    s.decomposition(
        "rnmf",
        output_dimension=K,
        normalize_poissonian_noise=True,
        init=init,
        random_state=0,
        print_info=False,
    )
    assert np.array_equal(np.array(s.data), before)
    assert s.learning_results.poissonian_noise_normalized is True
    factors, loadings = results(s)
    assert match_components(factors.T, H).min() > 0.99
    np.testing.assert_allclose(factors.sum(axis=0), 1.0, rtol=1e-5)
    # the model is in counts, not in normalised units
    model = np.asarray(s.get_decomposition_model().data, dtype=np.float64)
    assert abs(model.sum() / before.sum() - 1) < 0.02


@pytest.mark.parametrize("init", ["nndsvdar", "spa"])
def test_poisson_normalisation_with_masks_matches_manual_weighting(init):
    s, _, _ = make_signal(noise=True)
    sig_mask = np.zeros(SIG, dtype=bool)
    sig_mask[0, 0] = True
    options = dict(
        output_dimension=K, init=init, random_state=0, tol=1e-8, max_iter=5000
    )
    s.decomposition(
        "rnmf",
        normalize_poissonian_noise=True,
        signal_mask=sig_mask,
        print_info=False,
        **options,
    )
    factors, loadings = results(s)
    X = s.data.reshape(int(np.prod(NAV)), -1)[:, ~sig_mask.ravel()]
    a, b = np.sqrt(X.sum(axis=1)), np.sqrt(X.sum(axis=0))
    a, b = np.where(a > 0, a, 1), np.where(b > 0, b, 1)  # empty rows/columns
    manual = RandomizedNMF(
        K, **{k: v for k, v in options.items() if k != "output_dimension"}
    )
    W = manual.fit_transform(X / a[:, None] / b)
    expected = (W * a[:, None]) @ (manual.components_ * b)
    ours = loadings @ factors[~sig_mask.ravel()].T
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6 * expected.max())


def test_integer_data_untouched_and_results_float32():
    s, _, H = make_signal(noise=True, dtype=np.uint16)
    before = s.data.copy()
    s.decomposition("rnmf", output_dimension=K, random_state=0, print_info=False)
    assert s.data.dtype == np.uint16 and np.array_equal(s.data, before)
    factors, _ = results(s)
    assert factors.dtype == np.float32
    assert match_components(factors.T, H).min() > 0.99


def test_float32_data_bit_identical_after_poisson_and_after_errors():
    s, _, _ = make_signal(noise=True, dtype=np.float32)
    s.data /= 7.0  # values that do not survive a scale round trip exactly
    before = s.data.copy()
    s.decomposition(
        "rnmf", output_dimension=K, normalize_poissonian_noise=True, print_info=False
    )
    assert np.array_equal(s.data, before)
    with pytest.raises(TypeError, match=r"Unknown keyword argument\(s\).*bogus=1"):
        s.decomposition(
            "rnmf", output_dimension=K, normalize_poissonian_noise=True, bogus=1
        )
    s.data[0, 0, 0, 0] = -1
    before = s.data.copy()
    with pytest.raises(ValueError, match="Negative values"):
        s.decomposition("rnmf", output_dimension=K, normalize_poissonian_noise=True)
    assert np.array_equal(s.data, before)


@pytest.mark.parametrize("extension", ["hspy", "zspy"])
def test_save_and_load(tmp_path, extension):
    s, _, _ = make_signal(noise=True)
    s.decomposition("rnmf", output_dimension=K, random_state=0, print_info=False)
    path = tmp_path / f"rnmf.{extension}"
    s.save(path)
    loaded = hs.load(path)
    assert loaded.learning_results.decomposition_algorithm == "rnmf"
    np.testing.assert_array_equal(
        loaded.learning_results.factors, s.learning_results.factors
    )
    np.testing.assert_array_equal(
        loaded.learning_results.loadings, s.learning_results.loadings
    )
    loaded.get_decomposition_model()


def test_plot_decomposition_results():
    s, _, _ = make_signal(noise=True)
    s.decomposition("rnmf", output_dimension=K, print_info=False)
    s.plot_decomposition_results()
    factors = s.get_decomposition_factors()
    loadings = s.get_decomposition_loadings()
    assert factors.axes_manager.navigation_shape == (K,)
    assert loadings.axes_manager.signal_shape == NAV[::-1]
    assert loadings.axes_manager.signal_axes[0].scale == 2.5


def test_hyperspy_algorithms_unaffected():
    s, _, _ = make_signal(noise=True)
    s.decomposition(algorithm="SVD", output_dimension=K, print_info=False)
    ours = np.array(s.learning_results.factors)
    original = type(s).decomposition._hyperspy_rnmf_original
    original(s, algorithm="SVD", output_dimension=K, print_info=False)
    np.testing.assert_array_equal(ours, s.learning_results.factors)
    assert s.learning_results.decomposition_algorithm == "SVD"


def test_direct_function_call():
    s, _, H = make_signal()
    rnmf_decomposition(s, output_dimension=K, tol=1e-7, max_iter=3000, print_info=False)
    assert match_components(results(s)[0].T, H).min() > 0.999


# ---------------------------------------------------------------------- #
# errors
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"output_dimension": 2, "oversampling": 3},
            TypeError,
            r"Unknown keyword argument\(s\) for algorithm='rnmf': oversampling=3",
        ),
        (
            {"output_dimension": 2, "centre": "navigation"},
            ValueError,
            r"`centre='navigation'` is not used by algorithm='rnmf'",
        ),
        (
            {"output_dimension": 2, "svd_solver": "full"},
            ValueError,
            r"`svd_solver='full'` is not used",
        ),
        (
            {"output_dimension": 2, "var_array": np.ones((4, 3))},
            ValueError,
            r"`var_array=<ndarray of shape \(4, 3\), float64>` is not used",
        ),
        (
            {"output_dimension": 0},
            ValueError,
            r"`output_dimension` must be an integer >= 1, got 0",
        ),
        (
            {"output_dimension": 3.0},
            TypeError,
            r"`output_dimension` must be an integer, got 3.0",
        ),
        (
            {"output_dimension": 49},
            ValueError,
            r"`output_dimension` must be an integer in \[1, 48\], got 49",
        ),
        (
            {"output_dimension": 2, "copy": None},
            ValueError,
            r"`copy=None` is not used by algorithm='rnmf'",
        ),
        (
            {"output_dimension": 2, "reproject": "all"},
            ValueError,
            "`reproject` must be one of",
        ),
        (
            {"output_dimension": 2, "algorithm": "NMF"},
            TypeError,
            "got the algorithm twice",
        ),
        (
            {"output_dimension": 2, "normalize_poissonian_noise": "yes"},
            TypeError,
            "`normalize_poissonian_noise` must be True or False, got 'yes'",
        ),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    s, _, _ = make_signal()
    before = s.data.copy()
    with pytest.raises(error, match=match):
        s.decomposition("rnmf", **kwargs)
    assert np.array_equal(s.data, before)


def test_copy_is_accepted_either_way():
    # HyperSpy's copy=True asks that the data are not modified: always true here
    s, _, _ = make_signal()
    before = s.data.copy()
    for copy in (True, False, np.True_, np.False_):
        s.decomposition("rnmf", output_dimension=K, copy=copy, print_info=False)
        assert s.learning_results.factors.shape[1] == K
    assert np.array_equal(s.data, before)


def test_normalize_poissonian_noise_none_means_false():
    s, _, _ = make_signal()
    s.decomposition(True, "rnmf", K, print_info=False)
    assert s.learning_results.poissonian_noise_normalized is True
    s.decomposition(None, "rnmf", K, print_info=False)
    assert s.learning_results.poissonian_noise_normalized is False


def test_signal_without_signal_axes_raises():
    data = np.random.default_rng(0).random((6, 5, 4))
    s = hs.signals.BaseSignal(data).transpose(signal_axes=0)
    with pytest.raises(
        ValueError, match=r"at least one signal axis.*shape \(4, 5, 6\)"
    ):
        s.decomposition("rnmf", output_dimension=2)


def test_output_dimension_bound_counts_kept_rows():
    s, _, _ = make_signal()
    mask = np.ones(s.axes_manager.navigation_shape, dtype=bool)
    mask.flat[:3] = False  # 3 kept probe positions
    with pytest.raises(ValueError, match=r"`output_dimension` .* in \[1, 3\], got 4"):
        s.decomposition("rnmf", output_dimension=4, navigation_mask=mask)


def bad_entry_signal(lazy, bad):
    """make_signal with ``bad`` at position (y=2, x=1), pixel (5, 3), and the
    masks that exclude that position and that pixel."""
    s, _, _ = make_signal(lazy=lazy)
    data = s.data.compute() if lazy else s.data
    data = data.copy()
    data[2, 1, 5, 3] = bad
    s = hs.signals.Signal2D(data)
    if lazy:
        s = s.as_lazy()
    nav_mask = np.zeros(NAV[::-1], dtype=bool)
    nav_mask[1, 2] = True  # (x, y) order
    sig_mask = np.zeros(SIG, dtype=bool)
    sig_mask[5, 3] = True
    return s, nav_mask, sig_mask


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_reprojected_non_finite_entries_give_nan_with_a_warning(lazy, bad):
    """Masked data may hold NaN (e.g. dead pixels): reprojection gives NaN
    exactly there, like HyperSpy's SVD, and the rest as without them."""
    s, nav_mask, sig_mask = bad_entry_signal(lazy, bad)
    clean, _, _ = bad_entry_signal(lazy, 1.0)
    options = dict(output_dimension=K, print_info=False, random_state=0)
    row, col = 2 * NAV[1] + 1, 5 * SIG[1] + 3
    for reproject, mask in (("navigation", nav_mask), ("signal", sig_mask)):
        key = f"{reproject}_mask"
        with pytest.warns(UserWarning, match=rf"reproject='{reproject}': 1 masked"):
            s.decomposition("rnmf", reproject=reproject, **{key: mask}, **options)
        clean.decomposition("rnmf", reproject=reproject, **{key: mask}, **options)
        factors, loadings = results(s)
        expected_f, expected_l = results(clean)
        if reproject == "navigation":
            assert np.isnan(loadings[row]).all()
            assert np.isfinite(np.delete(loadings, row, axis=0)).all()
            loadings, expected_l = (
                np.delete(a, row, 0) for a in (loadings, expected_l)
            )
        else:
            assert np.isnan(factors[col]).all()
            assert np.isfinite(np.delete(factors, col, axis=0)).all()
            factors, expected_f = (np.delete(a, col, 0) for a in (factors, expected_f))
        # the model elsewhere (factors sum to one over the pixels with a value)
        model, expected = loadings @ factors.T, expected_l @ expected_f.T
        np.testing.assert_allclose(model, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("bad", [-3.0])
def test_reprojected_entries_are_checked(lazy, bad):
    """Masked data are read for the first time when reprojected: negative
    values there raise (with their place in the data) instead of giving zero
    loadings or factors."""
    s, nav_mask, sig_mask = bad_entry_signal(lazy, bad)
    row, col = 2 * NAV[1] + 1, 5 * SIG[1] + 3
    problem = "negative values (minimum -3"
    # the place also as HyperSpy indices (axes order): position x=1, y=2
    where = re.escape("; s.inav[1, 2].isig[3, 5])")
    match = rf"{re.escape(problem)} at row {row}, column {col}{where}"
    options = dict(output_dimension=K, print_info=False)
    # without reprojection the masked entries are never read
    s.decomposition("rnmf", navigation_mask=nav_mask, signal_mask=sig_mask, **options)
    with pytest.raises(ValueError, match=match):
        s.decomposition(
            "rnmf", navigation_mask=nav_mask, reproject="navigation", **options
        )
    with pytest.raises(ValueError, match=match):
        s.decomposition("rnmf", signal_mask=sig_mask, reproject="signal", **options)


def test_negative_value_reported_in_data_units_with_poisson():
    s, _, _ = make_signal()
    s.data[1, 0, 2, 2] = -7.0
    with pytest.raises(
        ValueError,
        match=r"\(for example -7 at row 6, column 16; s\.inav\[0, 1\]\.isig\[2, 2\]\)",
    ):
        s.decomposition(True, "rnmf", output_dimension=2, print_info=False)


def test_estimator_object_settings_unchanged():
    """``output_dimension`` is used for the fit, not written into the user's
    estimator (nor left there by a failing call)."""
    s, _, _ = make_signal()
    estimator = RandomizedNMF(random_state=0)
    s.decomposition(algorithm=estimator, output_dimension=2, print_info=False)
    assert estimator.n_components is None and estimator.n_components_ == 2
    s.decomposition(algorithm=estimator, output_dimension=3, print_info=False)
    assert estimator.n_components is None and estimator.n_components_ == 3
    with pytest.raises(ValueError, match="`output_dimension` must be an integer"):
        s.decomposition(algorithm=estimator, output_dimension=999)
    assert estimator.n_components is None


def test_estimator_subclass_is_routed_to_rnmf():
    class Subclass(RandomizedNMF):
        pass

    Subclass.__module__ = "users_notebook"  # not from hyperspy_rnmf

    s, _, H = make_signal()
    s.decomposition(algorithm=Subclass(K, random_state=0), print_info=False)
    assert s.learning_results.decomposition_algorithm == "rnmf"


def test_other_objects_are_not_algorithms():
    s, _, _ = make_signal()
    with pytest.raises(
        TypeError, match=r"`algorithm` must be 'rnmf' or a RandomizedNMF, got .*list"
    ):
        rnmf_decomposition(s, algorithm=[1, 2], output_dimension=2)


def test_custom_init_needs_the_estimator():
    s, _, _ = make_signal()
    with pytest.raises(ValueError, match=r"init='custom' needs the starting factors"):
        s.decomposition("rnmf", output_dimension=2, init="custom")
    with pytest.raises(TypeError, match=r"W=<ndarray of shape \(48, 2\), float64>"):
        s.decomposition("rnmf", output_dimension=2, W=np.ones((48, 2)))


def test_estimator_conflicts_raise():
    s, _, _ = make_signal()
    with pytest.raises(TypeError, match=r"Options tol=0.1 cannot be combined"):
        s.decomposition(algorithm=RandomizedNMF(2), tol=0.1)
    with pytest.raises(
        ValueError,
        match="`output_dimension=3` differs from the estimator's n_components=2",
    ):
        s.decomposition(algorithm=RandomizedNMF(2), output_dimension=3)


@pytest.mark.parametrize(
    "masks, error, match",
    [
        (
            {"signal_mask": np.zeros((7, 9), bool)},
            ValueError,
            r"`signal_mask` has shape \(7, 9\) \(signal_shape, \(kx, ky\) order\), "
            r"expected \(9, 7\) \(one pattern in the data array, \(ky, kx\) order\): "
            r"it is the transpose of the expected shape; if only the axes are "
            r"swapped, pass `signal_mask.T`",
        ),
        (
            {"navigation_mask": np.zeros((8, 6), bool)},
            ValueError,
            r"`navigation_mask` has shape \(8, 6\) \(the scan image's \(y, x\) "
            r"order\), expected \(6, 8\) \(navigation_shape, \(x, y\) order\): it is "
            r"the transpose of the expected shape; if only the axes are swapped, "
            r"pass `navigation_mask.T`",
        ),
        (
            {"signal_mask": np.zeros((9, 7), int)},
            TypeError,
            "`signal_mask` must be a boolean array .* got dtype int64",
        ),
        (
            {"signal_mask": np.ones((9, 7), bool)},
            ValueError,
            "All pixels are excluded by `signal_mask`",
        ),
        (
            {"navigation_mask": hs.signals.Signal2D(np.zeros((8, 6), bool))},
            ValueError,
            r"`navigation_mask` has signal axes \(shape \(6, 8\)\) and no navigation "
            r"axes; a navigation mask has only navigation axes, of the signal's "
            r"navigation_shape \(6, 8\): pass `navigation_mask.T`",
        ),
    ],
)
def test_bad_masks_raise(masks, error, match):
    s, _, _ = make_signal()
    with pytest.raises(error, match=match):
        s.decomposition("rnmf", output_dimension=2, **masks)


@pytest.mark.parametrize("lazy", [False, True])
def test_all_zero_data_raise(lazy):
    # the factors of all-zero data were all zero, not summing to one
    s = hs.signals.Signal2D(np.zeros(NAV + SIG))
    s.data[0, 0] = 5.0  # counts only at the masked position
    if lazy:
        s = s.as_lazy()
    mask = np.zeros(NAV[::-1], bool)  # (x, y)
    mask[0, 0] = True
    message = r"The data are all zero \(after masks\): `X` has nothing to factorize"
    with pytest.raises(ValueError, match=message):
        s.decomposition("rnmf", output_dimension=2, navigation_mask=mask)
    with pytest.raises(ValueError, match=message):
        (s * 0).decomposition("rnmf", output_dimension=2)
    assert s.learning_results.factors is None


@pytest.mark.parametrize("lazy", [False, True])
def test_inf_with_poisson_normalisation_raises_without_numpy_warnings(lazy):
    """inf / inf in the Poisson weighting gave NumPy's "invalid value
    encountered in divide" (an error here, where warnings are errors)
    instead of ours."""
    s, _, _ = make_signal(dtype=np.float32)
    s.data[1, 1, 2, 2] = np.inf
    before = s.data.copy()
    signal = s.as_lazy() if lazy else s
    with pytest.raises(ValueError, match=r"NaN after the Poisson normalisation"):
        signal.decomposition(
            "rnmf", output_dimension=2, normalize_poissonian_noise=True
        )
    np.testing.assert_array_equal(np.asarray(signal.data), before)


def test_bad_data_raise():
    s, _, _ = make_signal()
    s.data[1, 2, 3, 4] = np.nan
    # row = y * 6 + x, column = ky * 7 + kx; then HyperSpy's (x, y), (kx, ky)
    where = r"first at row 8, column 25; s\.inav\[2, 1\]\.isig\[4, 3\]\)"
    for signal in (s, s.as_lazy()):
        with pytest.raises(ValueError, match=r"NaN or inf: NaN \(" + where):
            signal.decomposition("rnmf", output_dimension=2)
    line = hs.signals.Signal1D(np.ones((3, 10)))  # one navigation axis
    line.data[2, 7] = -1.0
    with pytest.raises(
        ValueError, match=r"at row 2, column 7; s\.inav\[2\]\.isig\[7\]\)"
    ):
        line.decomposition("rnmf", output_dimension=1)
    single = hs.signals.Signal1D(np.ones((1, 10)))
    with pytest.raises(ValueError, match="at least 2 navigation positions"):
        single.decomposition("rnmf", output_dimension=1)
    complex_signal = hs.signals.Signal1D(np.ones((3, 10), dtype=complex))
    with pytest.raises(TypeError, match="needs real numeric data"):
        complex_signal.decomposition("rnmf", output_dimension=1)

"""RandomizedNMF as a scikit-learn estimator: recovery, dtypes, errors, API checks."""

import warnings

import dask.array as da
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from hyperspy_rnmf import RandomizedNMF
from hyperspy_rnmf._init import spa_from_sketch
from hyperspy_rnmf.datasets import synthetic_4dstem
from hyperspy_rnmf.matching import match_components, relative_error
from hyperspy_rnmf.tests.helpers import counting_reads, separable_product


@parametrize_with_checks(
    [RandomizedNMF(n_components=2), RandomizedNMF(n_components=2, init="spa")]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("init", ["nndsvdar", "spa", "random"])
@pytest.mark.parametrize("lazy", [False, True])
def test_all_zero_data_raise(init, lazy):
    # returned all-zero factors before, not summing to one, without a word
    X = np.zeros((40, 30), dtype=np.float32)
    if lazy:
        X = da.from_array(X, chunks=(10, 30))
    with pytest.raises(
        ValueError,
        match=r"The data are all zero \(after masks\): `X` has nothing to factorize",
    ):
        RandomizedNMF(2, init=init, random_state=0).fit(X)
    X = np.zeros((40, 30))
    X[3, 4] = 1.0  # one count is data: fitted, factors sum to one
    model = RandomizedNMF(1, init=init, random_state=0).fit(X)
    np.testing.assert_allclose(model.components_.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "shape, k", [((300, 500), 3), ((500, 300), 4), ((200, 900), 6), ((120, 40), 2)]
)
def test_exact_recovery_of_separable_product(shape, k):
    X, W0, H0 = separable_product(*shape, k, random_state=k)
    model = RandomizedNMF(k, tol=1e-7, max_iter=2000, random_state=0)
    W = model.fit_transform(X)
    assert relative_error(X, W, model.components_) < 1e-4
    assert match_components(model.components_, H0).min() > 0.999
    assert match_components(W.T, W0.T).min() > 0.999
    assert model.reconstruction_err_ == pytest.approx(
        np.linalg.norm(X - W @ model.components_), rel=1e-6, abs=1e-9
    )


def test_recovery_under_poisson_noise():
    X, W0, H0 = separable_product(400, 600, 4, random_state=1)
    rng = np.random.default_rng(0)
    counts = rng.poisson(50 * X).astype(np.float64)
    model = RandomizedNMF(4, random_state=0)
    W = model.fit_transform(counts)
    assert match_components(model.components_, H0).min() > 0.99
    assert match_components(W.T, W0.T).min() > 0.99
    # as good as scikit-learn's NMF on the same data
    from sklearn.decomposition import NMF

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = NMF(4, init="nndsvdar", max_iter=400, random_state=0)
        W_sk = sk.fit_transform(counts)
    ours = relative_error(counts, W, model.components_)
    theirs = relative_error(counts, W_sk, sk.components_)
    assert ours <= theirs * (1 + 1e-4)


def test_components_normalised_and_sorted():
    X, _, _ = separable_product(200, 300, 4, random_state=2)
    model = RandomizedNMF(4, random_state=0)
    W = model.fit_transform(X)
    np.testing.assert_allclose(model.components_.sum(axis=1), 1.0, rtol=1e-10)
    totals = W.sum(axis=0)
    assert np.all(np.diff(totals) <= 0)
    assert W.min() >= 0 and model.components_.min() >= 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_and_consistent(dtype):
    X, _, H0 = separable_product(150, 200, 3, random_state=3)
    model = RandomizedNMF(3, random_state=0, tol=1e-6, max_iter=1000)
    W = model.fit_transform(X.astype(dtype))
    assert W.dtype == dtype and model.components_.dtype == dtype
    assert model.transform(X.astype(dtype)).dtype == dtype
    assert match_components(model.components_, H0).min() > 0.999


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int64])
def test_integer_counts_accepted_as_they_are(dtype):
    X, _, _ = separable_product(120, 160, 3, random_state=4)
    counts = np.random.default_rng(0).poisson(20 * X).astype(dtype)
    expected_float = np.float32 if np.dtype(dtype).itemsize <= 2 else np.float64
    model = RandomizedNMF(3, random_state=0)
    W = model.fit_transform(counts)
    assert W.dtype == expected_float
    reference = RandomizedNMF(3, random_state=0).fit(counts.astype(expected_float))
    np.testing.assert_allclose(model.components_, reference.components_, rtol=1e-6)


def test_big_endian_float32_stays_float32():
    X, _, H0 = separable_product(150, 200, 3, random_state=3)
    native = X.astype(np.float32)
    swapped = native.astype(">f4")  # e.g. read from a big-endian file
    model = RandomizedNMF(3, random_state=0)
    W = model.fit_transform(swapped)
    assert W.dtype == np.float32 and model.components_.dtype == np.float32
    reference = RandomizedNMF(3, random_state=0).fit(native)
    np.testing.assert_array_equal(model.components_, reference.components_)


@pytest.mark.parametrize(
    "scale, dtype, match",
    [
        (1e30, np.float32, r"too large .* \(float32 goes up to 3.4e\+38\).* float64"),
        (1e200, np.float64, r"too large .* \(float64 goes up to 1.8e\+308\).* Scale"),
        (1e-30, np.float32, r"too small .* \(float32 goes down to 1.4e-45\).* float64"),
        (1e-200, np.float64, r"too small .* \(float64 goes down to 4.9e-324\).* Scale"),
    ],
)
def test_values_out_of_range_of_the_working_precision_raise(scale, dtype, match):
    X, _, _ = separable_product(50, 60, 2, random_state=0)
    with pytest.raises(ValueError, match=match):
        RandomizedNMF(2, random_state=0).fit((X * scale).astype(dtype))


@pytest.mark.parametrize("lazy", [False, True])
def test_values_near_the_float32_maximum_raise_without_numpy_warnings(lazy):
    """Near 3.4e38 the products of the checking passes overflow; NumPy 2.4
    reports that as a RuntimeWarning in matmul, which (with warnings as
    errors, as here) replaced our error."""
    X, _, _ = separable_product(50, 60, 2, random_state=0)
    big = (X / X.max() * 3e38).astype(np.float32)
    data = da.from_array(big, chunks=(20, 60)) if lazy else big
    with pytest.raises(ValueError, match=r"too large .* \(float32 goes up to"):
        RandomizedNMF(2, random_state=0).fit(data)
    model = RandomizedNMF(2, random_state=0).fit(X.astype(np.float32))
    with pytest.raises(ValueError, match=r"too large .* \(float32 goes up to"):
        model.transform(data)


def test_input_not_modified():
    X, _, _ = separable_product(100, 120, 3, random_state=5)
    X32 = X.astype(np.float32)
    copy64, copy32 = X.copy(), X32.copy()
    model = RandomizedNMF(3, random_state=0).fit(X)
    model.transform(X)
    RandomizedNMF(3, random_state=0).fit_transform(X32)
    np.testing.assert_array_equal(X, copy64)
    np.testing.assert_array_equal(X32, copy32)


def test_same_random_state_same_result():
    X, _, _ = separable_product(150, 180, 3, random_state=6)
    noisy = np.random.default_rng(1).poisson(30 * X).astype(np.float64)
    a = RandomizedNMF(3, random_state=7).fit(noisy)
    b = RandomizedNMF(3, random_state=7).fit(noisy)
    np.testing.assert_array_equal(a.components_, b.components_)
    c = RandomizedNMF(3, random_state=np.random.RandomState(7)).fit(noisy)
    np.testing.assert_array_equal(a.components_, c.components_)


@pytest.mark.parametrize("shape", [(150, 90), (90, 150)])
@pytest.mark.parametrize("chunks", [(50, -1), (37, 40), (150, 13)])
def test_dask_equals_numpy(shape, chunks):
    X, _, _ = separable_product(*shape, 3, random_state=8)
    noisy = np.random.default_rng(2).poisson(40 * X).astype(np.float64)
    eager = RandomizedNMF(3, random_state=0, tol=1e-6, max_iter=2000)
    W_eager = eager.fit_transform(noisy)
    lazy = RandomizedNMF(3, random_state=0, tol=1e-6, max_iter=2000)
    W_lazy = lazy.fit_transform(da.from_array(noisy, chunks=chunks))
    assert isinstance(W_lazy, np.ndarray)
    np.testing.assert_allclose(
        lazy.components_, eager.components_, rtol=1e-4, atol=1e-7
    )
    np.testing.assert_allclose(W_lazy, W_eager, rtol=1e-4, atol=1e-6 * W_eager.max())
    # transform is exact NNLS per row: chunking does not matter
    np.testing.assert_allclose(
        eager.transform(da.from_array(noisy, chunks=chunks)),
        eager.transform(noisy),
        rtol=1e-10,
        atol=1e-10 * W_eager.max(),
    )


def test_transform_is_per_row():
    X, _, _ = separable_product(120, 100, 3, random_state=9)
    noisy = np.random.default_rng(3).poisson(10 * X).astype(np.float64)
    model = RandomizedNMF(3, random_state=0).fit(noisy)
    full = model.transform(noisy)
    np.testing.assert_allclose(model.transform(noisy[17:18]), full[17:18], rtol=1e-12)
    np.testing.assert_allclose(model.transform(noisy[::-1]), full[::-1], rtol=1e-12)


def test_inverse_transform():
    X, _, _ = separable_product(80, 60, 2, random_state=10)
    model = RandomizedNMF(2, random_state=0, tol=1e-7, max_iter=2000)
    W = model.fit_transform(X)
    np.testing.assert_allclose(model.inverse_transform(W), X, atol=1e-4 * X.max())
    with pytest.raises(ValueError, match=r"must have shape \(n_samples, 2\)"):
        model.inverse_transform(W[:, :1])
    import scipy.sparse

    with pytest.raises(TypeError, match="got a sparse csr_matrix; convert it"):
        model.inverse_transform(scipy.sparse.csr_matrix(W))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_blown_up_extrapolation_is_not_taken_for_convergence():
    # a dominant shared component: at iteration 71 an extrapolated step blew
    # the sketch error up by 47 %, and the window rule (whose best still held
    # the iterate before it) stopped 8 iterations later on the blown-up pair:
    # relative error 18 % above scikit-learn's, no warning
    from sklearn.decomposition import NMF

    rng = np.random.default_rng(0)
    n, m = 2160, 92
    X = rng.random((n, 3)) @ rng.random((3, m))
    X += 50 * np.outer(rng.random(n) + 1, (np.arange(m) == 0) + 0.5)
    reference = NMF(2, init="nndsvdar", max_iter=2000, tol=1e-8, random_state=0)
    W_ref = reference.fit_transform(X)
    model = RandomizedNMF(2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # ours must converge
        W = model.fit_transform(X)
    ours = relative_error(X, W, model.components_)
    assert ours <= 1.001 * relative_error(X, W_ref, reference.components_)


def test_convergence_warning():
    X, _, _ = separable_product(80, 60, 3, random_state=11)
    with pytest.warns(
        ConvergenceWarning, match="Maximum number of iterations 2"
    ) as record:
        RandomizedNMF(3, max_iter=2, tol=0, random_state=0).fit(X)
    assert record[0].filename == __file__  # the user's call, not rnmf.py


@pytest.mark.parametrize("init", ["nndsvd", "nndsvda", "nndsvdar", "spa", "random"])
def test_inits_reach_the_same_fit(init):
    X, _, H0 = separable_product(200, 150, 3, random_state=12)
    model = RandomizedNMF(3, init=init, tol=1e-7, max_iter=3000, random_state=0)
    model.fit(X)
    assert match_components(model.components_, H0).min() > 0.999


@pytest.mark.parametrize("shape", [(200, 150), (150, 200)])
def test_spa_start_is_the_pure_samples(shape):
    # Separable data: SPA on the sketch picks one pure sample per component,
    # so the start is already the exact factorization, before any HALS.
    X, _, H0 = separable_product(*shape, 4, random_state=21)
    transposed = X.shape[0] < X.shape[1]
    A = X.T if transposed else X
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(A @ rng.standard_normal((A.shape[1], 9)))[0]
    U, V = spa_from_sketch(Q, Q.T @ A, 4, transposed)
    W, H = (V.T, U.T) if transposed else (U, V)
    assert match_components(H, H0).min() > 0.9999
    assert relative_error(X, W, H) < 1e-8


def test_spa_start_with_fewer_dimensions_than_components():
    # rank-2 data, 3 components: SPA finds 2 samples, the third starts at zero
    X, _, H0 = separable_product(60, 40, 2, random_state=22)
    Q = np.linalg.qr(X.T @ np.random.default_rng(0).standard_normal((60, 5)))[0]
    U, V = spa_from_sketch(Q, Q.T @ X.T, 3, True)
    assert U.shape == (40, 3) and V.shape == (3, 60)
    assert not U[:, 2].any() and not V[2].any()
    assert match_components(U[:, :2].T, H0).min() > 0.9999


@pytest.fixture(scope="module")
def shared_beam_phases():
    """6 planted phases sharing a strong direct beam, on which the NNDSVD start
    of this random_state ends with phases mixed into each other."""
    s, truth = synthetic_4dstem(6, (40, 30), (64, 64), random_state=6)
    return s.data.reshape(1200, -1), truth["factors"]


def fitted(X, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RandomizedNMF(6, random_state=0, **options)
        W = model.fit_transform(X)
    return model, relative_error(X, W, model.components_)


def test_spa_finds_phases_that_the_nndsvd_start_mixes(shared_beam_phases):
    X, H0 = shared_beam_phases
    nndsvdar, err_nndsvdar = fitted(X)
    spa, err_spa = fitted(X, init="spa")
    assert match_components(nndsvdar.components_, H0).min() < 0.9
    assert match_components(spa.components_, H0).min() > 0.99
    assert err_spa < 0.95 * err_nndsvdar


@pytest.mark.parametrize("shape", [(150, 90), (90, 150)])
def test_spa_dask_equals_numpy(shape):
    X, _, _ = separable_product(*shape, 3, random_state=8)
    noisy = np.random.default_rng(2).poisson(40 * X).astype(np.float64)
    options = dict(init="spa", random_state=0, tol=1e-6, max_iter=2000)
    eager = RandomizedNMF(3, **options)
    W_eager = eager.fit_transform(noisy)
    lazy = RandomizedNMF(3, **options)
    W_lazy = lazy.fit_transform(da.from_array(noisy, chunks=(37, 40)))
    np.testing.assert_allclose(
        lazy.components_, eager.components_, rtol=1e-4, atol=1e-7
    )
    np.testing.assert_allclose(W_lazy, W_eager, rtol=1e-4, atol=1e-6 * W_eager.max())


def test_custom_init():
    X, W0, H0 = separable_product(100, 80, 3, random_state=13)
    model = RandomizedNMF(3, init="custom", random_state=0, tol=1e-7, max_iter=2000)
    W = model.fit_transform(X, W=W0 * 1.1, H=H0 * 0.9)
    assert match_components(model.components_, H0).min() > 0.9999
    assert relative_error(X, W, model.components_) < 1e-5


def test_penalties_shrink_and_sparsify():
    X, _, _ = separable_product(150, 120, 3, random_state=14)
    plain = RandomizedNMF(3, random_state=0).fit(X)
    sparse = RandomizedNMF(3, random_state=0, alpha_W=0.01, l1_ratio=1.0)
    W_sparse = sparse.fit_transform(X)
    W_plain = plain.transform(X)
    assert (W_sparse == 0).mean() > (W_plain == 0).mean()


def penalized_objective(X, W, H, alpha_W, alpha_H, l1_ratio):
    """scikit-learn's NMF objective with penalties."""
    n_samples, n_features = X.shape
    alpha_H = alpha_W if alpha_H == "same" else alpha_H
    return (
        0.5 * np.linalg.norm(X - W @ H) ** 2
        + alpha_W
        * n_features
        * (l1_ratio * W.sum() + 0.5 * (1 - l1_ratio) * (W**2).sum())
        + alpha_H
        * n_samples
        * (l1_ratio * H.sum() + 0.5 * (1 - l1_ratio) * (H**2).sum())
    )


@pytest.mark.parametrize(
    "alpha_W, alpha_H, l1_ratio",
    [
        (0.001, "same", 0.0),
        (0.01, "same", 0.5),
        (0.01, "same", 1.0),
        (0.001, 0.01, 0.3),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_penalized_fit_matches_scikit_learn_objective(
    alpha_W, alpha_H, l1_ratio, dtype
):
    # the components are normalized after the fit; the loadings must still be
    # solved where the penalties apply (before: |X - W H| 16 instead of 0.14)
    from sklearn.decomposition import NMF

    rng = np.random.default_rng(0)
    X = rng.random((60, 3)) @ rng.random((3, 40)) + 0.01 * rng.random((60, 40))
    X = X.astype(dtype)
    options = dict(alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio, random_state=0)
    model = RandomizedNMF(3, tol=1e-8, max_iter=3000, **options)
    W = model.fit_transform(X)
    reference = NMF(3, init="nndsvdar", tol=1e-10, max_iter=20000, **options)
    W_ref = reference.fit_transform(X.astype(np.float64))
    scale = model._scale_  # the split of each component at the fit
    ours = penalized_objective(
        X.astype(np.float64),
        W / scale,
        model.components_ * scale[:, None],
        alpha_W,
        alpha_H,
        l1_ratio,
    )
    theirs = penalized_objective(
        X, W_ref, reference.components_, alpha_W, alpha_H, l1_ratio
    )
    assert ours <= theirs * 1.01
    sums = model.components_.sum(axis=1)  # one, or zero for a dead component
    np.testing.assert_allclose(sums[sums > 0], 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.transform(X), W, rtol=1e-6, atol=1e-6 * W.max())


def test_model_pickled_without_scale_still_transforms():
    X, _, _ = separable_product(80, 60, 3, random_state=2)
    model = RandomizedNMF(3, random_state=0).fit(X)
    W = model.transform(X)
    del model._scale_  # as pickled by earlier builds (no penalties: same loadings)
    np.testing.assert_allclose(model.transform(X), W, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_penalized_fit_stops_on_the_objective_not_on_the_fit():
    # L1 on both factors: the fit gets worse while the penalties fall, and the
    # stopping rule watched the fit: every tol stopped at iteration 44, with
    # an objective 2.1 % above scikit-learn's
    from sklearn.decomposition import NMF

    s, _ = synthetic_4dstem(4, (30, 25), (24, 24), random_state=1, counts=2e3)
    X = s.data.reshape(750, -1).astype(np.float64)
    options = dict(alpha_W=0.1, alpha_H=0.1, l1_ratio=1.0, random_state=0)
    reference = NMF(4, init="nndsvdar", max_iter=2000, tol=1e-7, **options)
    W_ref = reference.fit_transform(X)
    theirs = penalized_objective(X, W_ref, reference.components_, 0.1, 0.1, 1.0)
    fits = [RandomizedNMF(4, tol=tol, **options) for tol in (1e-4, 1e-7)]
    for model in fits:
        W = model.fit_transform(X)
        scale = model._scale_
        ours = penalized_objective(
            X, W / scale, model.components_ * scale[:, None], 0.1, 0.1, 1.0
        )
        assert ours <= 1.001 * theirs
    assert fits[1].n_iter_ > fits[0].n_iter_


def test_fit_transform_equals_transform_in_float32_with_many_components():
    # the last projection of the fit used float64 components, transform the
    # float32 ones: loadings differed by 0.02 of 67
    rng = np.random.default_rng(0)
    X = rng.random((60, 5)) @ rng.random((5, 40)) + 0.01 * rng.random((60, 40))
    model = RandomizedNMF(10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(X.astype(np.float32))
    # equal up to the order of the components in the solver (float32 round-off)
    np.testing.assert_allclose(
        model.transform(X.astype(np.float32)), W, rtol=1e-6, atol=1e-6 * W.max()
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_power_iterations_and_refinement_improve_a_rough_sketch():
    X, _, _ = separable_product(300, 400, 5, random_state=15)
    noisy = np.random.default_rng(4).poisson(5 * X).astype(np.float64)
    rough = RandomizedNMF(
        5, oversample=0, n_power_iter=0, n_refine_iter=0, random_state=0
    )
    better = RandomizedNMF(
        5, oversample=0, n_power_iter=0, n_refine_iter=3, random_state=0
    )
    rough.fit(noisy)
    better.fit(noisy)
    assert better.reconstruction_err_ < rough.reconstruction_err_
    assert better.n_passes_ == 2 + 6 and rough.n_passes_ == 2 + 1


@pytest.mark.parametrize("shape", [(400, 300), (300, 500)])  # sketch of X or X.T
@pytest.mark.parametrize(
    "options, passes",
    [({}, 6), ({"n_refine_iter": 0}, 5), ({"n_power_iter": 2, "n_refine_iter": 2}, 10)],
)
def test_each_chunk_is_read_once_per_counted_pass(shape, options, passes):
    X, _, _ = separable_product(*shape, 3, random_state=1)
    X = np.random.default_rng(0).poisson(20 * X).astype(np.float32)
    lazy, reads = counting_reads(X, (100, shape[1]))
    model = RandomizedNMF(3, random_state=0, **options).fit(lazy)
    n_chunks = shape[0] // 100
    assert model.n_passes_ == passes
    assert len(reads) == n_chunks * passes
    assert sorted(set(reads)) == [(i, 0) for i in range(n_chunks)]


@pytest.mark.parametrize("lazy", [False, True])
def test_exact_residual_pass_is_counted_and_only_made_for_the_result(lazy):
    # a rank-1 product is fitted exactly: the one-pass residual is round-off,
    # so the final projection reads the data once more for it (counted);
    # the projections inside the refinement do not need it (not made)
    X = np.outer(np.arange(1, 301.0), np.arange(1, 201.0))
    data, reads = counting_reads(X, (100, 200)) if lazy else (X, [])
    model = RandomizedNMF(1, random_state=0, n_refine_iter=3).fit(data)
    assert model.n_passes_ == 4 + 6 + 1
    if lazy:
        assert len(reads) == 3 * model.n_passes_
    assert model.reconstruction_err_ < 1e-9 * np.linalg.norm(X)


# ---------------------------------------------------------------------- #
# errors
# ---------------------------------------------------------------------- #
@pytest.fixture
def X_small():
    return separable_product(30, 20, 2, random_state=16)[0]


def test_negative_values_raise(X_small):
    X = X_small.copy()
    X[4, 7] = -0.5
    with pytest.raises(
        ValueError, match=r"negative values \(minimum -0.5 at row 4, column 7\)"
    ):
        RandomizedNMF(2).fit(X)
    model = RandomizedNMF(2).fit(X_small)
    with pytest.raises(ValueError, match="negative values"):
        model.transform(X)


@pytest.mark.parametrize(
    "bad, named", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")]
)
def test_nan_inf_raise(X_small, bad, named):
    X = X_small.copy()
    X[3, 5] = bad
    message = rf"contains NaN or inf: {named} \(first at row 3, column 5\)"
    with pytest.raises(ValueError, match=message):
        RandomizedNMF(2).fit(X)
    with pytest.raises(ValueError, match=message):
        RandomizedNMF(2).fit(da.from_array(X, chunks=(7, 20)))
    model = RandomizedNMF(2, random_state=0).fit(X_small)
    with pytest.raises(ValueError, match=message):
        model.transform(X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, r"`n_components` must be an integer in \[1, 20\], got 0"),
        (
            {"n_components": 21},
            r"`n_components` must be an integer in \[1, 20\], got 21",
        ),
        ({"n_components": 2.5}, r"`n_components` must be an integer, got 2.5"),
        ({"init": "svd"}, r"`init` must be one of .*got 'svd'"),
        ({"oversample": -1}, r"`oversample` must be an integer >= 0, got -1"),
        ({"n_power_iter": -2}, r"`n_power_iter` must be an integer >= 0, got -2"),
        ({"max_iter": 0}, r"`max_iter` must be an integer >= 1, got 0"),
        ({"tol": -1.0}, r"`tol` must be a number >= 0, got -1.0"),
        ({"alpha_W": -1}, r"`alpha_W` must be a number >= 0, got -1"),
        ({"alpha_H": "x"}, r"`alpha_H` must be a real number, got 'x'"),
        ({"l1_ratio": 2}, r"`l1_ratio` must be a number in \[0, 1\], got 2"),
        ({"n_refine_iter": -1}, r"`n_refine_iter` must be an integer >= 0, got -1"),
        ({"random_state": "x"}, r"`random_state` must be None, an integer .*got 'x'"),
        ({"random_state": -1}, r"`random_state` must be None, an integer .*got -1\."),
        (
            {"random_state": np.random.default_rng(0)},
            r"got Generator.*numpy.random.Generator is not accepted",
        ),
    ],
)
def test_bad_parameters_raise(X_small, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        RandomizedNMF(**{"n_components": 2, **params}).fit(X_small)


def test_unknown_parameter_raises():
    with pytest.raises(TypeError, match="unexpected keyword argument 'oversampling'"):
        RandomizedNMF(2, oversampling=10)


def test_custom_init_errors(X_small):
    with pytest.raises(ValueError, match="init='custom' needs both `W` and `H`"):
        RandomizedNMF(2, init="custom").fit(X_small)
    with pytest.raises(
        ValueError, match=r"`W` \(shape \(3, 2\)\) must have shape \(30, 2\)"
    ):
        RandomizedNMF(2, init="custom").fit(
            X_small, W=np.ones((3, 2)), H=np.ones((2, 20))
        )
    with pytest.raises(ValueError, match="`H` must be finite and non-negative"):
        RandomizedNMF(2, init="custom").fit(
            X_small, W=np.ones((30, 2)), H=-np.ones((2, 20))
        )
    with pytest.raises(ValueError, match="only used with init='custom'"):
        RandomizedNMF(2).fit(X_small, W=np.ones((30, 2)), H=np.ones((2, 20)))
    with pytest.raises(ValueError, match="`W` and `H` are both all zero"):
        RandomizedNMF(2, init="custom").fit(
            X_small, W=np.zeros((30, 2)), H=np.zeros((2, 20))
        )
    with pytest.raises(ValueError, match=r"`H` must hold real numbers.*complex128"):
        RandomizedNMF(2, init="custom").fit(
            X_small, W=np.ones((30, 2)), H=np.ones((2, 20)) * (1 + 1j)
        )
    with pytest.raises(ValueError, match=r"`W` must hold real numbers.*<U1"):
        RandomizedNMF(2, init="custom").fit(
            X_small, W=np.full((30, 2), "a"), H=np.ones((2, 20))
        )
    # one zero factor is a valid start: HALS fills it from the other
    model = RandomizedNMF(2, init="custom", random_state=0)
    model.fit(X_small, W=np.zeros((30, 2)), H=np.ones((2, 20)))
    assert model.components_.max() > 0


def test_dask_wrong_features_raise(X_small):
    model = RandomizedNMF(2).fit(X_small)
    with pytest.raises(
        ValueError, match="X has 19 features, but RandomizedNMF is expecting 20"
    ):
        model.transform(da.from_array(X_small[:, :19]))


@pytest.mark.parametrize(
    "X, match",
    [
        (
            da.zeros((0, 5), chunks=1),
            r"Found array with 0 sample\(s\) \(shape=\(0, 5\)\)",
        ),
        (
            da.zeros((5, 0), chunks=1),
            r"Found array with 0 feature\(s\) \(shape=\(5, 0\)\)",
        ),
        (
            da.ones((6, 4), chunks=2)[da.arange(6, chunks=2) > 2],
            r"`X` has unknown chunk sizes \(shape \(nan, 4\).*X\.compute_chunk_sizes",
        ),
    ],
)
def test_dask_degenerate_shapes_raise(X, match):
    with pytest.raises(ValueError, match=match):
        RandomizedNMF(1).fit(X)


@pytest.mark.parametrize("lazy", [False, True])
def test_finite_values_whose_sums_overflow_raise(lazy):
    X = np.full((20, 100), 1e307)  # finite, but every row sum overflows
    if lazy:
        X = da.from_array(X, chunks=(10, 100))
    with np.errstate(over="ignore"):
        with pytest.raises(ValueError, match=r"too large .*\(float64 goes up to"):
            RandomizedNMF(2, random_state=0).fit(X)
        model = RandomizedNMF(2, random_state=0).fit(np.ones((20, 100)))
        with pytest.raises(ValueError, match=r"too large .*\(float64 goes up to"):
            model.transform(X)


def test_no_stop_while_the_error_recovers_from_a_restart():
    # nearly exact rank-3 data: an extrapolation restart made the error jump
    # 17x; it took more than 10 iterations to come back below the best, and the
    # fit stopped there (83 iterations, relative error 9.7e-3) while the error
    # still fell by 10 % per iteration
    rng = np.random.default_rng(4)
    X = rng.random((20000, 3)) @ rng.random((3, 50)) + 1e-3 * rng.random((20000, 50))
    model = RandomizedNMF(3, random_state=0, leverage_sampling=False, max_iter=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    assert model.n_iter_ > 200
    assert model.reconstruction_err_ < 1e-3 * np.linalg.norm(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loadings_bounded_with_more_components_than_the_rank(dtype):
    # k = 40 components of rank-20 data: H H^T is singular (condition 2e14)
    # and round-off in X H^T made the Gram-form NNLS run off (loadings of 1e4
    # for data <= 9, residual 50 times the data)
    rng = np.random.default_rng(0)
    X = (rng.random((60, 20)) @ rng.random((20, 40))).astype(dtype)
    model = RandomizedNMF(40, init="random", random_state=0, max_iter=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(X)
    H = model.components_
    norm = np.linalg.norm(X)
    for loadings in (W, model.transform(X)):
        assert np.linalg.norm(X - loadings @ H) < 1e-4 * norm
    assert model.reconstruction_err_ < 1e-4 * norm


def test_float32_fit_does_not_depend_on_blas_threads_or_chunks():
    # 6 components of overlapping crystals: a flat objective, on which float32
    # HALS iterations ended 2 % apart between 1 and 2 BLAS threads and between
    # eager and lazy reading; the iterations run in float64
    from threadpoolctl import threadpool_limits

    from hyperspy_rnmf.tests.segmentation_data import planted_crystals

    s, _ = planted_crystals(0)
    X = s.data.reshape(s.axes_manager.navigation_size, -1).astype(np.float32)
    fits = []
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            fits.append(RandomizedNMF(6, random_state=0).fit(X).components_)
    fits.append(
        RandomizedNMF(6, random_state=0)
        .fit(da.from_array(X, chunks=(500, -1)))
        .components_
    )
    assert all(f.dtype == np.float32 for f in fits)
    for other in fits[1:]:
        assert np.abs(other - fits[0]).max() < 1e-4 * fits[0].max()


def test_reconstruction_error_of_float32_counts_with_a_bright_beam_is_exact():
    # squares of up to 1.8e6 counts: one float32 dot product over a whole
    # piece made |X|^2 3.4e-5 too low and the residual 0.27 % too low
    s, _ = synthetic_4dstem(3, (30, 30), (64, 64), random_state=1, dtype="float32")
    X = s.data.reshape(900, -1)
    model = RandomizedNMF(3, random_state=0)
    W = model.fit_transform(X)
    exact = np.linalg.norm(
        X.astype(np.float64) - W.astype(np.float64) @ model.components_
    )
    assert model.reconstruction_err_ == pytest.approx(exact, rel=2e-5)

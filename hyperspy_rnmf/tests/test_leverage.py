"""Leverage-score sampling of the sketch rows and HALS started on the sample."""

import warnings

import dask.array as da
import numpy as np
import pytest

from hyperspy_rnmf import RandomizedNMF
from hyperspy_rnmf._hals import PLAIN_ITER, WINDOW, compressed_hals, sampled_hals
from hyperspy_rnmf._leverage import (
    MAX_SHARE,
    inclusion_probabilities,
    sample_rows,
    sample_size,
)
from hyperspy_rnmf.datasets import synthetic_4dstem
from hyperspy_rnmf.matching import match_components, relative_error
from hyperspy_rnmf.tests.helpers import separable_product

OPTIONS = dict(l1_u=0.0, l2_u=0.0, l1_v=0.0, l2_v=0.0, tol=1e-4)


def orthonormal(n_rows, n_cols, seed=0, spikes=0):
    """Orthonormal basis; ``spikes`` columns concentrated on one row each."""
    A = np.random.default_rng(seed).standard_normal((n_rows, n_cols))
    A[:spikes, :spikes] += 1e3 * np.eye(spikes)
    return np.linalg.qr(A)[0]


def test_inclusion_probabilities_sum_to_the_size_and_cap_at_one():
    leverage = np.random.default_rng(0).random(1000) ** 8
    leverage[:3] = [5.0, 2.0, 0.0]
    p = inclusion_probabilities(leverage, 100)
    assert p.sum() == pytest.approx(100)
    assert p.max() == 1.0 and p[0] == p[1] == 1.0 and p[2] == 0.0
    uncapped = p < 1
    ratio = p[uncapped & (leverage > 0)] / leverage[uncapped & (leverage > 0)]
    np.testing.assert_allclose(ratio, ratio[0])  # proportional below the cap
    np.testing.assert_allclose(inclusion_probabilities(np.ones(50), 10), 0.2)


def test_sample_keeps_the_rows_with_large_leverage():
    Q = orthonormal(40_000, 13, spikes=3)  # three rows own a direction each
    rows, scale = sample_rows(Q, np.random.RandomState(0))
    assert {0, 1, 2} <= set(rows)
    expected = sample_size(13)
    assert abs(len(rows) - expected) < 5 * np.sqrt(expected)
    assert np.all(scale >= 1.0)
    assert np.all(np.diff(rows) > 0)


def test_sampled_objective_is_unbiased():
    rng = np.random.default_rng(1)
    Q = orthonormal(40_000, 13, seed=1)
    B = rng.standard_normal((13, 300))
    U, V = rng.random((40_000, 3)), rng.random((3, 300)) * 1e-3
    full = np.linalg.norm(Q @ B - U @ V) ** 2
    draws = []
    for seed in range(100):
        rows, scale = sample_rows(Q, np.random.RandomState(seed))
        Qs, Us = Q[rows] * scale[:, None], U[rows] * scale[:, None]
        draws.append(np.linalg.norm(Qs @ B - Us @ V) ** 2)
    assert np.mean(draws) == pytest.approx(full, rel=0.02)


def test_no_sample_when_it_would_not_save_work():
    size = sample_size(13)
    n_rows = int(size / MAX_SHARE) - 1
    assert sample_rows(orthonormal(n_rows, 13), np.random.RandomState(0)) == (
        None,
        None,
    )
    rows, _ = sample_rows(orthonormal(n_rows + 2, 13), np.random.RandomState(0))
    assert rows is not None


@pytest.fixture(scope="module")
def tall_product():
    """Exact separable rank-3 product with 20000 features (sampled)."""
    X, W, H = separable_product(300, 20_000, 3, random_state=2, pure=20)
    return X, W, H


@pytest.fixture(scope="module")
def tall_sketch(tall_product):
    """Exact sketch of ``A = X.T`` (20000 x 300, l = 13) and a random start."""
    X, _, H = tall_product
    Q, R = np.linalg.qr(X.T)
    rng = np.random.default_rng(0)
    start = rng.random((20_000, 3)), rng.random((3, 300))
    return Q[:, :13], R[:13], start, H


def test_sampled_hals_matches_the_plain_iteration(
    tall_product, tall_sketch, monkeypatch
):
    import hyperspy_rnmf._hals as hals

    Q, B, (U0, V0), H = tall_sketch
    U1, V1, n1, ok1 = compressed_hals(Q, B, U0, V0, max_iter=2000, **OPTIONS)
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0].shape[0])
        return compressed_hals(*args, **kwargs)

    monkeypatch.setattr(hals, "compressed_hals", counting)
    U2, V2, n2, ok2 = sampled_hals(
        Q, B, U0, V0, rng=np.random.RandomState(0), max_iter=2000, **OPTIONS
    )
    assert ok1 and ok2
    assert calls[0] < MAX_SHARE * 20_000 and calls[1] == 20_000
    for U in (U1, U2):
        assert match_components(U.T, H).min() > 0.999
    assert relative_error(tall_product[0].T, U2, V2) < 1e-3


def test_budget_is_shared_between_the_two_stages(tall_sketch, monkeypatch):
    import hyperspy_rnmf._hals as hals

    Q, B, (U0, V0), _ = tall_sketch
    stages = []

    def counting(*args, **kwargs):
        result = compressed_hals(*args, **kwargs)
        stages.append(result[2])
        return result

    monkeypatch.setattr(hals, "compressed_hals", counting)
    unbounded = sampled_hals(
        Q, B, U0, V0, rng=np.random.RandomState(0), max_iter=2000, **OPTIONS
    )
    n_sample, n_all = stages  # e.g. 37 on the sample, then 8-13 on all rows
    assert unbounded[2:] == (n_sample + n_all, True) and n_all >= 2
    # the budget ends in the first or in the second stage
    for max_iter in (n_sample - 2, n_sample + n_all - 1):
        U, V, n_iter, converged = sampled_hals(
            Q, B, U0, V0, rng=np.random.RandomState(0), max_iter=max_iter, **OPTIONS
        )
        assert n_iter == max_iter and not converged
        assert U.shape == (20_000, 3) and np.all(U >= 0)


def test_warm_start_that_is_converged_stops_after_one_iteration(tall_sketch):
    Q, B, (U0, V0), _ = tall_sketch
    U, V, _, converged = compressed_hals(Q, B, U0, V0, max_iter=2000, **OPTIONS)
    assert converged
    warm = compressed_hals(Q, B, U, V, max_iter=2000, warm=True, **OPTIONS)
    cold = compressed_hals(Q, B, U, V, max_iter=2000, **OPTIONS)
    # the update of V gained nothing on the start: the start's U is returned
    assert warm[2:] == (1, True)
    np.testing.assert_array_equal(warm[0], U)
    one = compressed_hals(Q, B, U, V, max_iter=1, **OPTIONS)
    np.testing.assert_array_equal(warm[1], one[1])  # V after one update
    # the window rule needs at least WINDOW + 1 (more while round-off of this
    # exact product still lowers the error: 11 or 16 with different BLAS)
    assert cold[3] and cold[2] >= WINDOW + 1


def test_warm_exit_does_not_cut_a_fit_that_still_improves(tall_sketch):
    """From a random start every plain iteration improves the error by far
    more than tol / WINDOW: the warm exit never fires and the fit is the same.
    (Four components for the rank-3 product: with three, the fit is exact,
    i.e. round-off, within the plain iterations, where the warm exit rightly
    stops it.)"""
    Q, B, _, _ = tall_sketch
    rng = np.random.default_rng(0)
    U0, V0 = rng.random((Q.shape[0], 4)), rng.random((4, B.shape[1]))
    warm = compressed_hals(Q, B, U0, V0, max_iter=2000, warm=True, **OPTIONS)
    cold = compressed_hals(Q, B, U0, V0, max_iter=2000, **OPTIONS)
    assert warm[2] == cold[2] > PLAIN_ITER
    for a, b in zip(warm[:2], cold[:2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_warm_exit_measures_the_gain_on_the_error_of_the_data(tall_sketch):
    """With ``outside_sq`` (the data's squared norm outside the sketch), the
    warm exit watches the error of the data, ``d_n = sqrt(outside_sq +
    e_n^2)``: it stops at the first plain iteration ``n >= 1`` with
    ``d_{n-1} - d_n <= tol / WINDOW * d_n`` (``e_0``: the start's error),
    predicted here from the errors ``e_n`` of the iterates."""
    Q, B, _, _ = tall_sketch
    rng = np.random.default_rng(0)
    U0, V0 = rng.random((Q.shape[0], 4)), rng.random((4, B.shape[1]))
    U, V, _, converged = compressed_hals(Q, B, U0, V0, max_iter=20, **OPTIONS)
    assert not converged  # still improving: the warm stage has work to do
    # error of iteration n: the start's U (or iteration n-1's) with V_n
    iterates = [(U, V)] + [
        compressed_hals(Q, B, U, V, max_iter=n, **OPTIONS)[:2] for n in range(1, 6)
    ]
    errors = [np.linalg.norm(Q @ B - U @ V)] + [
        np.linalg.norm(Q @ B - iterates[n - 1][0] @ iterates[n][1]) for n in range(1, 6)
    ]
    rate = OPTIONS["tol"] / WINDOW
    # the least outside_sq at which iteration n meets the rule, to first order
    # in the gain: e_n (e_{n-1} - e_n) = rate (outside + e_n^2)
    least = {
        n: errors[n] * (errors[n - 1] - errors[n]) / rate - errors[n] ** 2
        for n in (1, 2, 3, 4)
    }
    sketch_only = compressed_hals(Q, B, U, V, max_iter=2000, warm=True, **OPTIONS)
    assert sketch_only[2] > 4 and min(least.values()) > 0
    outside = np.sqrt(least[3] * least[4])
    assert least[4] < outside < min(least[1], least[2], least[3])
    stops_at_4 = compressed_hals(
        Q, B, U, V, max_iter=2000, warm=True, outside_sq=outside, **OPTIONS
    )
    assert stops_at_4[2:] == (4, True)
    far = compressed_hals(
        Q, B, U, V, max_iter=2000, warm=True, outside_sq=1e6 * outside, **OPTIONS
    )
    assert far[2:] == (1, True)
    np.testing.assert_array_equal(far[0], U)  # stopped before U's update
    # nothing outside the sketch (or a negative round-off): the sketch's error
    for outside_sq in (0.0, -1e-9 * float(np.vdot(B, B))):
        same = compressed_hals(
            Q, B, U, V, max_iter=2000, warm=True, outside_sq=outside_sq, **OPTIONS
        )
        assert same[2:] == sketch_only[2:]
        for a, b in zip(same[:2], sketch_only[:2], strict=True):
            np.testing.assert_array_equal(a, b)
    # the window rule does not use it: a cold fit is the same bit for bit
    cold = compressed_hals(Q, B, U, V, max_iter=2000, **OPTIONS)
    cold_outside = compressed_hals(
        Q, B, U, V, max_iter=2000, outside_sq=1e6 * outside, **OPTIONS
    )
    assert cold[2:] == cold_outside[2:]
    for a, b in zip(cold[:2], cold_outside[:2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_gives_hals_the_data_outside_the_sketch(monkeypatch):
    """RandomizedNMF passes |X|^2 - |B|^2 (|X|^2 from its first pass) to both
    HALS stages; only the warm one uses it."""
    import hyperspy_rnmf._hals as hals

    s, _ = synthetic_4dstem(3, (12, 10), (128, 128), random_state=0, dtype="float32")
    X = s.data.reshape(120, -1)
    seen = []

    def recording(Q, B, *args, **kwargs):
        seen.append((kwargs.get("warm", False), kwargs["outside_sq"], B))
        return compressed_hals(Q, B, *args, **kwargs)

    monkeypatch.setattr(hals, "compressed_hals", recording)
    RandomizedNMF(3, random_state=0).fit(X)
    assert [warm for warm, _, _ in seen] == [False, True]
    squares = float(np.sum(X.astype(np.float64) ** 2))
    for _, outside_sq, B in seen:
        expected = squares - float(np.sum(B**2))
        assert outside_sq == pytest.approx(expected, rel=1e-6)
        assert 0 < outside_sq < squares


def test_sample_stage_error_is_measured_on_the_sampled_rows(tall_sketch, monkeypatch):
    """The rescaled sample of Q is not orthonormal: the sample stage must
    measure its error with |Q_s B|^2, not |B|^2. With |B|^2 the error of this
    exact product was off by a constant and the stage stopped after 18
    iterations at a relative error of 1e-5; it now converges (2e-11)."""
    import hyperspy_rnmf._hals as hals

    Q, B, (U0, V0), _ = tall_sketch
    stages = []

    def recording(Qs, B, U, V, **kwargs):
        U, V, n_iter, converged = compressed_hals(Qs, B, U, V, **kwargs)
        error = np.linalg.norm(Qs @ B - U @ V) / np.linalg.norm(Qs @ B)
        stages.append((Qs.shape[0], n_iter, error))
        return U, V, n_iter, converged

    monkeypatch.setattr(hals, "compressed_hals", recording)
    sampled_hals(Q, B, U0, V0, rng=np.random.RandomState(0), max_iter=2000, **OPTIONS)
    n_rows, n_iter, error = stages[0]
    assert n_rows < MAX_SHARE * 20_000 and n_iter > 20
    assert error < 1e-8


def test_l1_penalty_on_the_tall_factor_skips_the_sample(tall_product):
    X = tall_product[0].astype(np.float32)
    fits = [
        RandomizedNMF(
            3, random_state=0, alpha_W=1e-3, l1_ratio=1.0, leverage_sampling=s
        ).fit(X)
        for s in (True, False)
    ]
    np.testing.assert_array_equal(fits[0].components_, fits[1].components_)
    assert fits[0].n_iter_ == fits[1].n_iter_


@pytest.fixture(scope="module")
def large_detector():
    s, truth = synthetic_4dstem(
        4, (20, 15), (128, 128), random_state=0, dtype="float32"
    )
    return s.data.reshape(300, -1), truth["factors"]


def test_recovery_with_and_without_sampling(large_detector):
    X, factors = large_detector
    fits = {}
    for sampling in (True, False):
        model = RandomizedNMF(4, random_state=0, leverage_sampling=sampling)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # converges within max_iter
            W = model.fit_transform(X)
        assert match_components(model.components_, factors).min() > 0.99
        fits[sampling] = relative_error(X, W, model.components_)
    assert fits[True] <= fits[False] * (1 + 1e-4)


def test_sampled_fit_is_reproducible_and_lazy_equals_eager(large_detector):
    X = large_detector[0]
    fits = [RandomizedNMF(4, random_state=5).fit(X) for _ in range(2)]
    fits.append(RandomizedNMF(4, random_state=5).fit(da.from_array(X, chunks=(64, -1))))
    np.testing.assert_array_equal(fits[0].components_, fits[1].components_)
    assert fits[2].n_iter_ == fits[0].n_iter_
    assert np.abs(fits[2].components_ - fits[0].components_).max() < (
        1e-4 * fits[0].components_.max()
    )


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_leverage_sampling_must_be_bool(value):
    X = np.random.default_rng(0).random((20, 30))
    with pytest.raises(TypeError, match=r"`leverage_sampling` must be True or False"):
        RandomizedNMF(2, leverage_sampling=value).fit(X)

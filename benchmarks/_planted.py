"""Planted data and one timed fit scored against planted factors (shared by
the benchmarks)."""

import time
import warnings

import numpy as np

from hyperspy_rnmf import RandomizedNMF
from hyperspy_rnmf.datasets import synthetic_4dstem
from hyperspy_rnmf.matching import match_components, relative_error

#: Grain boundaries (probe positions) of the planted cubes of
#: ``bench_starts.py`` (:func:`synthetic_cubes`).
BOUNDARIES = {"sharp boundaries": 1.5, "wide boundaries": 4.0}


def synthetic_cubes(k, boundary, seeds):
    """The planted cubes of ``bench_starts.py`` (1200 probe positions x 64 x
    64 pixels, :func:`synthetic_4dstem`): yields ``(X, factors)``."""
    for seed in seeds:
        s, truth = synthetic_4dstem(
            k, (40, 30), (64, 64), boundary=boundary, random_state=seed
        )
        yield s.data.reshape(s.axes_manager.navigation_size, -1), truth["factors"]


def core_data(k):
    """The data of ``bench_rnmf.py`` for ``k`` phases and the matrix of one
    pass: ``(X, truth, omega)``, with ``X @ omega`` the one-pass time unit
    (``k + oversample`` random columns)."""
    s, truth = synthetic_4dstem(
        k, (52, 39), (187, 187), random_state=k, dtype="float32"
    )
    X = s.data.reshape(s.axes_manager.navigation_size, -1)
    omega = (
        np.random.default_rng(0)
        .standard_normal((X.shape[1], k + RandomizedNMF().oversample))
        .astype(X.dtype)
    )
    return X, truth, omega


def timed_pass(X, omega):
    """Seconds of one pass ``X @ omega``."""
    t0 = time.perf_counter()
    X @ omega
    return time.perf_counter() - t0


def timed_fit(model, X):
    """``model.fit_transform(X)`` with warnings silenced: ``(W, seconds)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        W = model.fit_transform(X)
        return W, time.perf_counter() - t0


def fit_planted(model, X, factors):
    """Fit ``model`` on ``X`` (warnings silenced) and score it.

    Returns ``(found, error, seconds)``: whether every planted factor is
    matched by a component with cosine > 0.95, the relative error of the
    fit and its time. ``model`` keeps its fitted attributes.
    """
    W, elapsed = timed_fit(model, X)
    found = match_components(model.components_, factors).min() > 0.95
    return found, relative_error(X, W, model.components_), elapsed


def signal_error(W, H, L, F):
    """``|W H - L F|_F / |L F|_F`` from k x k products (float64)."""
    W, H = np.asarray(W, np.float64), np.asarray(H, np.float64)
    model = np.vdot(W.T @ W, H @ H.T)
    cross = np.vdot(W.T @ L, H @ F.T)
    truth = np.vdot(L.T @ L, F @ F.T)
    return float(np.sqrt(max(model - 2 * cross + truth, 0.0) / truth))

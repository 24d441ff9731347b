"""One timed fit scored against planted factors (shared by the benchmarks)."""

import time
import warnings

from hyperspy_rnmf.matching import match_components, relative_error


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

"""Planted data shared by the tests."""

import os
import subprocess
import sys
import textwrap

import numpy as np


def separable_product(n_samples, n_features, k, random_state=0, pure=3):
    """Exact non-negative rank-k product with pure samples and pure features.

    ``pure`` samples (rows of W) and ``pure`` features (columns of H) per
    component contain only that component, which makes the factorization
    unique up to scaling and order (separability on both sides).

    Returns
    -------
    X, W, H : numpy.ndarray (float64)
    """
    rng = np.random.default_rng(random_state)
    W = rng.random((n_samples, k)) * (rng.random((n_samples, k)) < 0.6)
    W[: k * pure] = np.repeat(np.eye(k), pure, axis=0) * rng.uniform(
        1, 2, (k * pure, 1)
    )
    H = rng.random((k, n_features)) * (rng.random((k, n_features)) < 0.5)
    H[:, : k * pure] = np.repeat(np.eye(k), pure, axis=1) * rng.uniform(
        1, 2, (1, k * pure)
    )
    W = W[rng.permutation(n_samples)]
    H = H[:, rng.permutation(n_features)]
    return W @ H, W, H


def counting_reads(data, chunks):
    """``data`` as a dask array that records every chunk it reads.

    Returns ``(array, reads)``: ``reads`` receives the location of each chunk
    each time a computation reads it.
    """
    import dask.array as da

    reads = []

    def count(block, block_info=None):
        reads.append(block_info[0]["chunk-location"])
        return block

    array = da.from_array(data, chunks=chunks).map_blocks(count, dtype=data.dtype)
    return array, reads


def run_python(code, env=None, drop=(), cwd=None, timeout=600):
    """Run ``code`` in a fresh interpreter (the environment of this one, less
    the variables in ``drop``, plus ``env``); fail the test with its output
    unless it exits with 0. Returns the ``CompletedProcess``."""
    environment = {k: v for k, v in os.environ.items() if k not in drop}
    environment.update(env or {})
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result

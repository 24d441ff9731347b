"""One HALS sweep over the rows of a factor, compiled.

A HALS sweep updates row ``j`` of ``V`` (k x N) for
``min 0.5 tr(V^T G V) - <R, V> + l1 |V|_1 + 0.5 l2 |V|_F^2, V >= 0``
in closed form, ``V[j] = max(0, V[j] - g_j / (G[j, j] + l2))`` with the
gradient ``g_j = G[j] @ V - R[j] + l1 + l2 V[j]``, one row after the other.
The columns of ``V`` are independent problems, so the sweep can run column
block by column block: here each block of ``BLOCK`` columns of all ``k``
rows stays in the L1/L2 cache while its ``k`` rows are updated, and the
loops over the block are vectorised by the compiler.

With NumPy, a sweep was ``k`` matrix-vector products over the whole of
``V`` (each reading every row of ``V`` from memory again) plus about eight
array operations per row, each with its call overhead. Measured on one core
(float64, mean of 1000 sweeps): 2.5-2.9 times faster for 8 x 5199,
8 x 34969 and 12 x 5000, 3.9-4.9 times for 8 x 2028, 3 x 3259 and
3 x 34969. On the 2028 x 187^2 data of ``bench_rnmf.py``, the runs
interleaved: the same iterations and errors, k = 8 from NNDSVDar in 12.9
instead of 16.4 one-pass times (the HALS stages 85 + 25 ms instead of
130 + 33 ms), k = 3 unchanged within the noise.

The kernel is compiled by numba (a dependency of pyxem and of the
segmentation routes) on first use and cached on disk (under
``NUMBA_CACHE_DIR`` when set; where no cache folder is writable, compiled in
every process: :func:`hyperspy_rnmf._numba.compile_kernel`). The first fit
in a new Python process pays numba's start-up, about 0.4 s measured
(``import numba`` and its compiler's initialisation; 1.0 s once, when the
kernel is compiled), unless numba is already in use in that process (e.g.
after ``import pyxem``): then loading the kernel takes under 10 ms. The
kernel runs in float64 without reassociation (no ``fastmath``): the order of
the operations on each column is the one written here, whatever the vector
width or the number of threads (HALS is not threaded).
"""

import functools

import numpy as np

from hyperspy_rnmf._numba import compile_kernel

#: Columns updated together (measured for k = 3..30: 512 to 1024 columns
#: were 5-20 % faster than 128-256 and equal to each other).
BLOCK = 512


@functools.cache
def _kernel():
    # one function without closures: numba's disk cache misses functions
    # that close over other compiled functions
    def sweep(V, gram, rhs, l1, l2, block):
        k, n = V.shape
        acc = np.empty(block)
        change = np.zeros(block)  # per lane: no reassociated sum in the loop
        for start in range(0, n, block):
            width = min(block, n - start)
            a = acc[:width]
            c = change[:width]
            for j in range(k):
                denom = gram[j, j] + l2
                if denom <= 0.0:  # an all-zero factor row: V[j] has no effect
                    continue
                row = V[j, start : start + width]
                target = rhs[j, start : start + width]
                for t in range(width):
                    a[t] = (l1 - target[t]) + l2 * row[t]
                for i in range(k):
                    weight = gram[j, i]
                    other = V[i, start : start + width]
                    for t in range(width):
                        a[t] += weight * other[t]
                inverse = 1.0 / denom
                for t in range(width):
                    old = row[t]
                    new = old - a[t] * inverse
                    new = new if new > 0.0 else 0.0
                    step = new - old
                    c[t] += step * step
                    row[t] = new
        return change.sum()

    return compile_kernel(sweep, nogil=True)


def sweep_rows(V, gram, rhs, l1=0.0, l2=0.0):
    """One HALS sweep over the rows of ``V`` for ``min 0.5 V^T G V - R^T V``
    (plus the penalties ``l1 |V|_1 + 0.5 l2 |V|^2``), in place.

    Parameters
    ----------
    V : numpy.ndarray, shape (k, N), float64, C-contiguous
        Updated in place.
    gram : numpy.ndarray, shape (k, k)
        ``G``, symmetric positive semi-definite.
    rhs : numpy.ndarray, shape (k, N)
        ``R``.
    l1, l2 : float

    Returns
    -------
    float
        The squared Frobenius norm of the update.
    """
    if V.dtype != np.float64 or not V.flags.c_contiguous or not V.flags.writeable:
        raise TypeError("V must be a writeable C-contiguous float64 array")
    gram = np.ascontiguousarray(gram, dtype=np.float64)
    rhs = np.ascontiguousarray(rhs, dtype=np.float64)
    if gram.shape != (V.shape[0],) * 2 or rhs.shape != V.shape:
        raise ValueError(
            f"shapes V {V.shape}, gram {gram.shape} and rhs {rhs.shape} do not match"
        )
    return float(_kernel()(V, gram, rhs, float(l1), float(l2), BLOCK))


def load_kernel():
    """Compile the kernel, or load it from numba's disk cache, now rather than
    in the first fit; returns the seconds it took (about 0 once loaded)."""
    import time

    start = time.perf_counter()
    sweep_rows(np.zeros((1, 1)), np.ones((1, 1)), np.zeros((1, 1)))
    return time.perf_counter() - start

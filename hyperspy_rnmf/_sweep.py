"""HALS sweeps over the rows of a factor, and the extrapolation step, compiled.

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

Each row's gradient adds ``G[j, i] V[i]`` for ``i = 0, 1, ..., k-1`` in that
order; four of these terms are added per loop over the block, so that the
block's accumulator is read and written ``k / 4`` times instead of ``k``
(the same additions in the same order: bit-identical results). One sweep
then costs 8.5-9.0 instead of 10.5-11.7 ns per column at k = 8 (one core),
2.4-3.2 instead of 3.9-4.4 at k = 4, 25-26 instead of 36-41 at k = 16 and
99-103 instead of 131-144 at k = 30; k <= 3 is unchanged.
:func:`sweep_until` runs the repeated sweeps of one HALS update in one
compiled call, and :func:`extrapolate` the extrapolation step of
:func:`hyperspy_rnmf._hals.compressed_hals` in one loop (4 times faster
than its four NumPy operations). With the three, a k = 8 fit of
``bench_rnmf.py``'s data spends 78 instead of 95 ms in HALS, with the same
iterations and the same results bit for bit.

The kernels are compiled by numba (a dependency of pyxem and of the
segmentation routes) on first use and cached on disk (under
``NUMBA_CACHE_DIR`` when set; where no cache folder is writable, compiled in
every process: :func:`hyperspy_rnmf._numba.compile_kernel`). The first fit
in a new Python process pays numba's start-up, about 0.4 s measured
(``import numba`` and its compiler's initialisation; 1.0 s once, when the
kernel is compiled), unless numba is already in use in that process (e.g.
after ``import pyxem``): then loading the kernel takes under 10 ms. The
kernels run in float64 without reassociation (no ``fastmath``): the order of
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
    def sweeps(V, gram, rhs, l1, l2, block, max_sweeps, ratio, threshold):
        k, n = V.shape
        acc = np.empty(block)
        change = np.empty(block)  # per lane: no reassociated sum in the loop
        first = 0.0
        total = 0.0
        for sweep in range(max_sweeps):
            change[:] = 0.0
            for start in range(0, n, block):
                stop = min(start + block, n)
                width = stop - start
                a = acc[:width]
                c = change[:width]
                for j in range(k):
                    denom = gram[j, j] + l2
                    if denom <= 0.0:  # an all-zero factor row: no effect
                        continue
                    row = V[j, start:stop]
                    target = rhs[j, start:stop]
                    # a = (l1 - R[j]) + l2 V[j] + G[j, 0] V[0] + ... + G[j, k-1]
                    # V[k-1], added in that order; four terms per loop over the
                    # block, so that ``a`` is read and written k / 4 times, not k
                    if k >= 4:
                        w0, w1, w2, w3 = gram[j, 0], gram[j, 1], gram[j, 2], gram[j, 3]
                        v0, v1 = V[0, start:stop], V[1, start:stop]
                        v2, v3 = V[2, start:stop], V[3, start:stop]
                        for t in range(width):
                            s = ((l1 - target[t]) + l2 * row[t]) + w0 * v0[t]
                            s = s + w1 * v1[t]
                            s = s + w2 * v2[t]
                            a[t] = s + w3 * v3[t]
                        i = 4
                    else:
                        for t in range(width):
                            a[t] = (l1 - target[t]) + l2 * row[t]
                        i = 0
                    while i + 4 <= k:
                        w0, w1 = gram[j, i], gram[j, i + 1]
                        w2, w3 = gram[j, i + 2], gram[j, i + 3]
                        v0, v1 = V[i, start:stop], V[i + 1, start:stop]
                        v2, v3 = V[i + 2, start:stop], V[i + 3, start:stop]
                        for t in range(width):
                            s = a[t] + w0 * v0[t]
                            s = s + w1 * v1[t]
                            s = s + w2 * v2[t]
                            a[t] = s + w3 * v3[t]
                        i += 4
                    for m in range(i, k):
                        weight = gram[j, m]
                        other = V[m, start:stop]
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
            total = change.sum()
            if sweep == 0:
                first = total
            if total <= threshold or (sweep > 0 and total <= ratio * first):
                return sweep + 1, total
        return max_sweeps, total

    return compile_kernel(sweeps, nogil=True)


@functools.cache
def _extrapolation_kernel():
    def extrapolate(out, new, old, beta):
        for i in range(out.shape[0]):
            for t in range(out.shape[1]):
                value = (new[i, t] - old[i, t]) * beta + new[i, t]
                out[i, t] = value if value > 0.0 else 0.0

    return compile_kernel(extrapolate, nogil=True)


def _check(V, gram, rhs):
    """``gram`` and ``rhs`` as C-contiguous float64 arrays matching ``V``."""
    if V.dtype != np.float64 or not V.flags.c_contiguous or not V.flags.writeable:
        raise TypeError("V must be a writeable C-contiguous float64 array")
    gram = np.ascontiguousarray(gram, dtype=np.float64)
    rhs = np.ascontiguousarray(rhs, dtype=np.float64)
    if gram.shape != (V.shape[0],) * 2 or rhs.shape != V.shape:
        raise ValueError(
            f"shapes V {V.shape}, gram {gram.shape} and rhs {rhs.shape} do not match"
        )
    return gram, rhs


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
    return sweep_until(V, gram, rhs, l1, l2, max_sweeps=1)[1]


def sweep_until(V, gram, rhs, l1=0.0, l2=0.0, *, max_sweeps, ratio=0.0, threshold=-1.0):
    """Repeat :func:`sweep_rows` in one compiled call, in place.

    Stops after at most ``max_sweeps`` sweeps, or after a sweep whose
    squared change is at most ``threshold``, or, from the second sweep on,
    at most ``ratio`` times the first sweep's. The same sweeps as calling
    :func:`sweep_rows` in a loop with that rule, without a Python call and
    numba dispatch per sweep (HALS makes about 900 sweeps per fit of the
    ``bench_rnmf.py`` data at k = 8, most of them on a few thousand columns).

    Returns
    -------
    n_sweeps : int
    change : float
        The squared Frobenius norm of the last sweep's update.
    """
    gram, rhs = _check(V, gram, rhs)
    n_sweeps, change = _kernel()(
        V,
        gram,
        rhs,
        float(l1),
        float(l2),
        BLOCK,
        int(max_sweeps),
        float(ratio),
        float(threshold),
    )
    return int(n_sweeps), float(change)


def extrapolate(out, new, old, beta):
    """``out = max(0, new + beta (new - old))`` in place, computed as
    ``(new - old) * beta + new`` (all C-contiguous float64 arrays of one
    2D shape; one compiled loop instead of four NumPy operations)."""
    for array in (out, new, old):
        if array.dtype != np.float64 or not array.flags.c_contiguous:
            raise TypeError("extrapolate needs C-contiguous float64 arrays")
        if array.shape != out.shape or array.ndim != 2:
            raise ValueError(
                f"shapes {out.shape}, {new.shape} and {old.shape} are not one 2D shape"
            )
    _extrapolation_kernel()(out, new, old, float(beta))


def load_kernel():
    """Compile the kernel, or load it from numba's disk cache, now rather than
    in the first fit; returns the seconds it took (about 0 once loaded)."""
    import time

    start = time.perf_counter()
    sweep_rows(np.zeros((1, 1)), np.ones((1, 1)), np.zeros((1, 1)))
    extrapolate(np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), 0.5)
    return time.perf_counter() - start

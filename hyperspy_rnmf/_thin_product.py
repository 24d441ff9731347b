"""Products of the data with a thin matrix, compiled: ``X @ R`` and ``L.T @ X``.

Every pass of RandomizedNMF over in-memory data is one of these two
products, with ``R`` or ``L`` of a few columns (the sketch size
``k + oversample``, or ``k``). OpenBLAS copies ``X`` into packed buffers
before it multiplies, which for so few columns costs about as much as the
arithmetic: on the 2028 x 187^2 float32 data of ``bench_rnmf.py`` (2 cores)
``X @ R`` with 18 columns takes 27-30 ms, where reading the data takes 10-14
ms. These kernels read ``X`` once, where it is, and keep a tile of the result
in registers:

* ``X @ R``: the dot products of 4 rows of ``X`` with 6 columns of ``R`` (24
  running sums, vectorised) over chunks of ``CHUNK`` columns; ``GROUP`` rows
  share a chunk of ``R`` while it is in cache. Threads take ranges of rows.
* ``L.T @ X``: 6 rows of ``X``, weighted by ``L``, are added to 6 rows of the
  result at a time, over strips of ``STRIP`` columns that stay in cache while
  every row of ``X`` is read. Threads take ranges of strips. A 6 x 6 tile of
  ``L`` that is all zero is skipped (its weights add nothing; not even the
  NaN of ``0 x inf``: the data of every product are checked by the first
  pass, see ``moments`` below): the grouped test matrix of the sketch
  (:func:`hyperspy_rnmf._sketch.draw_test_matrix`) is zero in all but one
  block of 6 columns of each group of 6 rows.

Columns of ``R`` (rows of the result of ``L.T @ X``) beyond a multiple of 6
are computed from the same rows of ``X`` in cache, not padded with zeros to
a full tile: with 13 columns (k = 3 and the default oversampling) ``X @ R``
took 20-21 ms instead of 22-25 ms and ``L.T @ X`` 19-21 ms instead of 25-26
ms on the data below, about their time for 12. They are taken two at a time
(a tile of 4 rows x 2 columns; 2 rows of the result per read of 6 rows of
``X``), then the last one alone. Two at a time rather than one at a time
read the rows of ``X`` from cache half as often: on the data below, 2 cores,
the two versions interleaved 15 times, the median ratio of their times at
2, 3, 4, 5, 8 and 9 columns was 0.78-0.96 for ``X @ R`` and 0.86-0.97 for
``L.T @ X`` in float32 (8 columns, the refinement and projection passes of k
= 8: 0.93 and 0.92), 0.84-0.93 and 0.87-0.93 in uint16, and 0.86-0.94 and
0.87-0.96 in float64; at 6 columns, where nothing changed, 0.95-0.99 and
1.01-1.07.

``python benchmarks/bench_thin_product.py`` measures them against NumPy's
BLAS (OpenBLAS 0.3.31, 2 cores, AMD Zen 4), float32, 3 to 18 columns:
0.57-0.73 times BLAS's time for ``X @ R`` and 0.52-0.68 for ``L.T @ X``
(float64: 0.37-0.55 and 0.55-0.77; a second run: 0.60-0.89 and 0.61-0.84 in
float32). Right after a multi-threaded BLAS call they lose much of that lead
(0.85-1.07 and 0.79-1.00): OpenBLAS keeps its threads spinning for about 0.1
s after each call (``OPENBLAS_THREAD_TIMEOUT``), and a thread sharing a core
with one runs at half speed. Each thread therefore takes ``TASKS`` ranges in
turn, not one, so that a slowed thread takes fewer. Inside a fit the
products follow each other without multi-threaded BLAS calls in between (the
small products run on one BLAS thread). Default fits of the
``bench_rnmf.py`` data, started on idle threads: 4.1 instead of 6.4 one-pass
times at k = 3 and 7.0 instead of 9.0 at k = 8; back to back, 5.5 instead of
6.6 and 8.3 instead of 9.1. The same counts as uint16, read in place
(``WORK_DTYPES``): 3.5 instead of 9.7 and 6.4 instead of 11.8 (BLAS on
blocks converted one by one).

Integer data of 8 to 32 bits (detector counts) are read as they are: each
value is converted to the working precision as it is loaded, exactly
(``WORK_DTYPES``), so a uint16 fit reads half the bytes of its float32 copy
and gives the same bits, and no float copy of the data is made.

They are used for C-contiguous arrays of these types of at least
``MIN_BYTES`` times at most ``MAX_COLUMNS`` columns, on CPUs with AVX-512
(32 vector registers: the tile of ``X @ R`` needs 24 of them for its sums;
measured only there, on AMD Zen 4). Elsewhere, and when the environment
variable ``HYPERSPY_RNMF_BLAS_PRODUCTS`` is ``1``, NumPy's BLAS computes the
products. Dask chunks (lazy signals) always go to BLAS.

With ``moments=True`` the kernels also return the sum, the sum of squares
and the number of negative values of ``X`` (the checks of the first pass,
:mod:`hyperspy_rnmf._moments`), computed on each group of rows (``X @ R``)
or strip (``L.T @ X``) right after the product, while it is in cache: 29-30
ms on the data above (18 columns) against 37-38 ms for the product followed
by the moments kernel, which reads the data again. The moments of each group
or strip are added in their order, so they do not depend on the threads
either.

Both kernels compute in the data's working precision (``WORK_DTYPES``),
like BLAS, with numba's
``reassoc`` and ``contract`` flags (vectorised sums and fused multiply-adds;
NaN and inf propagate). Each value of the result is computed by one thread,
in an order that depends only on the shapes: the result does not depend on
the number of threads.
"""

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hyperspy_rnmf._moments import block_moments, row_kernel
from hyperspy_rnmf._numba import compile_kernel
from hyperspy_rnmf._threads import available_cores

#: The tile of the kernels (written out in them, unrolled): ``L.T @ X`` adds
#: 6 rows of ``X`` to 6 rows of the result at a time and skips the 6 x 6
#: tiles of ``L`` that are all zero; ``X @ R`` takes 6 columns of ``R``.
TILE = 6
#: ``X @ R``: columns of ``X`` per chunk, rows that share a chunk of ``R``
#: (the kernel's tile is 4 rows x 6 columns).
CHUNK, GROUP = 2048, 12
#: ``L.T @ X``: columns of ``X`` per strip (6 rows are added at a time); with
#: 8 and 18 columns, 512 / 1024 / 2048 / 4096 took 0.75 / 0.64 / 0.58 / 0.59
#: and 0.76 / 0.72 / 0.61 / 0.67 times BLAS's time.
STRIP = 2048
#: Widest thin matrix computed here; wider ones go to BLAS (with 28 or 36
#: columns the kernels took 0.63-0.87 times BLAS's time on idle threads but
#: 1.17-1.26 right after a BLAS call).
MAX_COLUMNS = 24
#: Smallest block (bytes) computed here: smaller blocks stay in cache, where
#: BLAS's packing costs little (512 x 9000 float32: the kernels took 0.9-1.4
#: times as long as BLAS).
MIN_BYTES = 2**22
#: Ranges of work per thread.
TASKS = 4
#: Most threads used.
MAX_THREADS = 8

_FLAGS = {"reassoc", "contract"}


#: The compiled row moments (:func:`hyperspy_rnmf._moments.row_kernel`),
#: set when a kernel is first compiled. The kernels call it as a global:
#: numba does not reuse cached kernels that hold it in a closure (measured:
#: they were compiled again in every process, 5 s). numba's cache does not
#: see edits of the row kernel: after one, clear the cache or touch this file.
_row_moments = None


def _load_row_moments():
    global _row_moments
    _row_moments = row_kernel()


#: Working precision of the products for each data type they read (that of
#: :func:`hyperspy_rnmf._operand.float_dtype`): integer counts (what
#: detectors write) are converted value by value as the kernels read them,
#: exactly (8 and 16-bit integers to float32, 32-bit ones to float64), so
#: they need no float copy of the data.
WORK_DTYPES = {
    np.dtype(np.float32): np.dtype(np.float32),
    np.dtype(np.float64): np.dtype(np.float64),
    np.dtype(np.uint8): np.dtype(np.float32),
    np.dtype(np.uint16): np.dtype(np.float32),
    np.dtype(np.int8): np.dtype(np.float32),
    np.dtype(np.int16): np.dtype(np.float32),
    np.dtype(np.uint32): np.dtype(np.float64),
    np.dtype(np.int32): np.dtype(np.float64),
}


def as_work(value, zero):
    """``value`` (read from the data) in the precision of ``zero``; compiled
    by :func:`_register_overloads` (an integer becomes a float, a float stays as
    it is, so that float data compile to the plain products)."""
    return type(zero)(value)


def weighted_sum(w0, w1, w2, w3, w4, w5, u0, u1, u2, u3, u4, u5):
    """``w0 u0 + ... + w5 u5``, added in that order: one value of ``L.T @ X``
    from 6 rows of ``X``; compiled into the kernels by
    :func:`_register_overloads` (with their fused multiply-adds)."""
    return w0 * u0 + w1 * u1 + w2 * u2 + w3 * u3 + w4 * u4 + w5 * u5


@functools.cache
def _register_overloads():
    from numba import types
    from numba.extending import overload

    @overload(as_work)
    def _as_work(value, zero):
        if not isinstance(value, types.Integer):
            return lambda value, zero: value
        if zero == types.float32:
            return lambda value, zero: np.float32(value)
        return lambda value, zero: np.float64(value)

    @overload(weighted_sum, jit_options={"fastmath": _FLAGS})
    def _weighted_sum(w0, w1, w2, w3, w4, w5, u0, u1, u2, u3, u4, u5):
        return weighted_sum


@functools.cache
def _matmul_kernel():
    _load_row_moments()
    _register_overloads()

    def matmul(X, Rt, out, start, stop, zero, chunk, group, moments):
        # out[start:stop] = X[start:stop] @ Rt.T; group % 4 == 0; with
        # moments (one row per group), their moments
        n = X.shape[1]
        width = Rt.shape[0]
        tiles = width // 6 * 6  # columns in tiles of 6, then pairs, then one
        pairs = tiles + (width - tiles) // 2 * 2
        tiled = start + (stop - start) // 4 * 4
        with_moments = moments.shape[0] > 0
        for g0 in range(start, tiled, group):
            g1 = min(g0 + group, tiled)
            out[g0:g1] = zero
            total, squares, negative = 0.0, 0.0, 0
            for a in range(0, n, chunk):
                b = min(a + chunk, n)
                for i in range(g0, g1, 4):
                    x0, x1 = X[i, a:b], X[i + 1, a:b]
                    x2, x3 = X[i + 2, a:b], X[i + 3, a:b]
                    for j in range(0, tiles, 6):
                        q0, q1, q2 = Rt[j, a:b], Rt[j + 1, a:b], Rt[j + 2, a:b]
                        q3, q4, q5 = Rt[j + 3, a:b], Rt[j + 4, a:b], Rt[j + 5, a:b]
                        s00 = s01 = s02 = s03 = s04 = s05 = zero
                        s10 = s11 = s12 = s13 = s14 = s15 = zero
                        s20 = s21 = s22 = s23 = s24 = s25 = zero
                        s30 = s31 = s32 = s33 = s34 = s35 = zero
                        for t in range(b - a):
                            u0, u1 = as_work(x0[t], zero), as_work(x1[t], zero)
                            u2, u3 = as_work(x2[t], zero), as_work(x3[t], zero)
                            v0, v1, v2 = q0[t], q1[t], q2[t]
                            v3, v4, v5 = q3[t], q4[t], q5[t]
                            s00 += u0 * v0
                            s01 += u0 * v1
                            s02 += u0 * v2
                            s03 += u0 * v3
                            s04 += u0 * v4
                            s05 += u0 * v5
                            s10 += u1 * v0
                            s11 += u1 * v1
                            s12 += u1 * v2
                            s13 += u1 * v3
                            s14 += u1 * v4
                            s15 += u1 * v5
                            s20 += u2 * v0
                            s21 += u2 * v1
                            s22 += u2 * v2
                            s23 += u2 * v3
                            s24 += u2 * v4
                            s25 += u2 * v5
                            s30 += u3 * v0
                            s31 += u3 * v1
                            s32 += u3 * v2
                            s33 += u3 * v3
                            s34 += u3 * v4
                            s35 += u3 * v5
                        o0, o1, o2, o3 = out[i], out[i + 1], out[i + 2], out[i + 3]
                        o0[j] += s00
                        o0[j + 1] += s01
                        o0[j + 2] += s02
                        o0[j + 3] += s03
                        o0[j + 4] += s04
                        o0[j + 5] += s05
                        o1[j] += s10
                        o1[j + 1] += s11
                        o1[j + 2] += s12
                        o1[j + 3] += s13
                        o1[j + 4] += s14
                        o1[j + 5] += s15
                        o2[j] += s20
                        o2[j + 1] += s21
                        o2[j + 2] += s22
                        o2[j + 3] += s23
                        o2[j + 4] += s24
                        o2[j + 5] += s25
                        o3[j] += s30
                        o3[j + 1] += s31
                        o3[j + 2] += s32
                        o3[j + 3] += s33
                        o3[j + 4] += s34
                        o3[j + 5] += s35
                    for j in range(tiles, pairs, 2):  # 4 rows x 2 columns
                        q0, q1 = Rt[j, a:b], Rt[j + 1, a:b]
                        s00 = s01 = s10 = s11 = zero
                        s20 = s21 = s30 = s31 = zero
                        for t in range(b - a):
                            u0, u1 = as_work(x0[t], zero), as_work(x1[t], zero)
                            u2, u3 = as_work(x2[t], zero), as_work(x3[t], zero)
                            v0, v1 = q0[t], q1[t]
                            s00 += u0 * v0
                            s01 += u0 * v1
                            s10 += u1 * v0
                            s11 += u1 * v1
                            s20 += u2 * v0
                            s21 += u2 * v1
                            s30 += u3 * v0
                            s31 += u3 * v1
                        out[i, j] += s00
                        out[i, j + 1] += s01
                        out[i + 1, j] += s10
                        out[i + 1, j + 1] += s11
                        out[i + 2, j] += s20
                        out[i + 2, j + 1] += s21
                        out[i + 3, j] += s30
                        out[i + 3, j + 1] += s31
                    for j in range(pairs, width):
                        q = Rt[j, a:b]
                        s0 = s1 = s2 = s3 = zero
                        for t in range(b - a):
                            v = q[t]
                            s0 += as_work(x0[t], zero) * v
                            s1 += as_work(x1[t], zero) * v
                            s2 += as_work(x2[t], zero) * v
                            s3 += as_work(x3[t], zero) * v
                        out[i, j] += s0
                        out[i + 1, j] += s1
                        out[i + 2, j] += s2
                        out[i + 3, j] += s3
                    for r in range(i, i + 4 if with_moments else i):  # in cache
                        total, squares, negative = _row_moments(
                            X[r, a:b], total, squares, negative
                        )
            if with_moments:
                slot = moments[g0 // group]
                slot[0], slot[1], slot[2] = total, squares, negative
        for i in range(tiled, stop):  # the last rows, one at a time
            x = X[i]
            for j in range(width):
                q = Rt[j]
                s = zero
                for t in range(n):
                    s += as_work(x[t], zero) * q[t]
                out[i, j] = s
        for i in range(tiled, stop if with_moments else tiled):
            slot = moments[tiled // group]  # zero, or the last group's
            slot[0], slot[1], slot[2] = _row_moments(X[i], slot[0], slot[1], slot[2])

    return compile_kernel(matmul, nogil=True, fastmath=_FLAGS)


@functools.cache
def _rmatmul_kernel():
    _load_row_moments()
    _register_overloads()

    def rmatmul(L, X, out, start, stop, zero, strip, moments):
        # out[:, start:stop] = L.T @ X[:, start:stop]; with moments (one row
        # per strip), their moments
        m = X.shape[0]
        width = L.shape[1]
        tiles = width // 6 * 6  # rows of out 6 at a time, then 2, then 1
        pairs = tiles + (width - tiles) // 2 * 2
        stepped = m // 6 * 6
        with_moments = moments.shape[0] > 0
        for s0 in range(start, stop, strip):
            s1 = min(s0 + strip, stop)
            out[:, s0:s1] = zero
            total, squares, negative = 0.0, 0.0, 0
            for i in range(0, stepped, 6):
                x0, x1, x2 = X[i, s0:s1], X[i + 1, s0:s1], X[i + 2, s0:s1]
                x3, x4, x5 = X[i + 3, s0:s1], X[i + 4, s0:s1], X[i + 5, s0:s1]
                l0, l1, l2 = L[i], L[i + 1], L[i + 2]
                l3, l4, l5 = L[i + 3], L[i + 4], L[i + 5]
                for j in range(0, tiles, 6):
                    if not L[i : i + 6, j : j + 6].any():
                        continue
                    o0, o1, o2 = out[j, s0:s1], out[j + 1, s0:s1], out[j + 2, s0:s1]
                    o3, o4, o5 = out[j + 3, s0:s1], out[j + 4, s0:s1], out[j + 5, s0:s1]
                    w00, w01, w02, w03, w04, w05 = l0[j : j + 6]
                    w10, w11, w12, w13, w14, w15 = l1[j : j + 6]
                    w20, w21, w22, w23, w24, w25 = l2[j : j + 6]
                    w30, w31, w32, w33, w34, w35 = l3[j : j + 6]
                    w40, w41, w42, w43, w44, w45 = l4[j : j + 6]
                    w50, w51, w52, w53, w54, w55 = l5[j : j + 6]
                    for t in range(s1 - s0):
                        u0, u1 = as_work(x0[t], zero), as_work(x1[t], zero)
                        u2, u3 = as_work(x2[t], zero), as_work(x3[t], zero)
                        u4, u5 = as_work(x4[t], zero), as_work(x5[t], zero)
                        o0[t] += weighted_sum(
                            w00, w10, w20, w30, w40, w50, u0, u1, u2, u3, u4, u5
                        )
                        o1[t] += weighted_sum(
                            w01, w11, w21, w31, w41, w51, u0, u1, u2, u3, u4, u5
                        )
                        o2[t] += weighted_sum(
                            w02, w12, w22, w32, w42, w52, u0, u1, u2, u3, u4, u5
                        )
                        o3[t] += weighted_sum(
                            w03, w13, w23, w33, w43, w53, u0, u1, u2, u3, u4, u5
                        )
                        o4[t] += weighted_sum(
                            w04, w14, w24, w34, w44, w54, u0, u1, u2, u3, u4, u5
                        )
                        o5[t] += weighted_sum(
                            w05, w15, w25, w35, w45, w55, u0, u1, u2, u3, u4, u5
                        )
                for j in range(tiles, pairs, 2):  # 2 rows of out at a time
                    o0, o1 = out[j, s0:s1], out[j + 1, s0:s1]
                    w00, w01 = l0[j], l0[j + 1]
                    w10, w11 = l1[j], l1[j + 1]
                    w20, w21 = l2[j], l2[j + 1]
                    w30, w31 = l3[j], l3[j + 1]
                    w40, w41 = l4[j], l4[j + 1]
                    w50, w51 = l5[j], l5[j + 1]
                    for t in range(s1 - s0):
                        u0, u1 = as_work(x0[t], zero), as_work(x1[t], zero)
                        u2, u3 = as_work(x2[t], zero), as_work(x3[t], zero)
                        u4, u5 = as_work(x4[t], zero), as_work(x5[t], zero)
                        o0[t] += weighted_sum(
                            w00, w10, w20, w30, w40, w50, u0, u1, u2, u3, u4, u5
                        )
                        o1[t] += weighted_sum(
                            w01, w11, w21, w31, w41, w51, u0, u1, u2, u3, u4, u5
                        )
                for j in range(pairs, width):
                    o = out[j, s0:s1]
                    w0, w1, w2 = l0[j], l1[j], l2[j]
                    w3, w4, w5 = l3[j], l4[j], l5[j]
                    for t in range(s1 - s0):
                        o[t] += weighted_sum(
                            w0,
                            w1,
                            w2,
                            w3,
                            w4,
                            w5,
                            as_work(x0[t], zero),
                            as_work(x1[t], zero),
                            as_work(x2[t], zero),
                            as_work(x3[t], zero),
                            as_work(x4[t], zero),
                            as_work(x5[t], zero),
                        )
                for r in range(i, i + 6 if with_moments else i):  # in cache
                    total, squares, negative = _row_moments(
                        X[r, s0:s1], total, squares, negative
                    )
            for i in range(stepped, m):  # the last rows, one at a time
                x = X[i, s0:s1]
                for c in range(width):
                    o = out[c, s0:s1]
                    weight = L[i, c]
                    for t in range(s1 - s0):
                        o[t] += weight * as_work(x[t], zero)
            for i in range(stepped, m if with_moments else stepped):
                total, squares, negative = _row_moments(
                    X[i, s0:s1], total, squares, negative
                )
            if with_moments:
                slot = moments[s0 // strip]
                slot[0], slot[1], slot[2] = total, squares, negative

    return compile_kernel(rmatmul, nogil=True, fastmath=_FLAGS)


def _threads(threads):
    if threads is not None:
        return max(1, int(threads))
    return min(available_cores(), MAX_THREADS)


@functools.cache
def _avx512():
    try:
        from llvmlite.binding import get_host_cpu_features

        return bool(get_host_cpu_features().get("avx512f", False))
    except Exception:  # no llvmlite, or no host features: BLAS
        return False


def compiled(X, other):
    """Whether the product of ``X`` (2D) with the thin matrix ``other``
    (``R`` or ``L``) is computed here rather than by BLAS."""
    return (
        os.environ.get("HYPERSPY_RNMF_BLAS_PRODUCTS", "") != "1"
        and X.ndim == 2
        and X.dtype in WORK_DTYPES
        and other.dtype == WORK_DTYPES[X.dtype]
        and X.flags.c_contiguous
        and X.nbytes >= MIN_BYTES
        and 0 < other.shape[1] <= MAX_COLUMNS
        and _avx512()
    )


def _ranges(n, parts, multiple):
    """About ``parts`` ranges covering ``0..n``, all but the last of a length
    that is a multiple of ``multiple``."""
    size = -(-n // parts)  # ceil(n / parts) ...
    size = -(-size // multiple) * multiple  # ... rounded up to a multiple
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _run(kernel, ranges, threads, *args):
    if threads == 1 or len(ranges) == 1:
        for start, stop in ranges:
            kernel(*args[:3], start, stop, *args[3:])
        return
    with ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(kernel, *args[:3], start, stop, *args[3:])
            for start, stop in ranges
        ]
        for future in futures:
            future.result()


def _moment_slots(n_slots, moments):
    """Per-group (or per-strip) moments filled by a kernel, or none."""
    return np.zeros((n_slots if moments else 0, 3))


def _summed(slots):
    """``(sum, sum of squares, number of negative values)`` from the slots,
    added in their order (fixed by the shapes, whatever the threads)."""
    total, squares, negative = slots.sum(axis=0)
    return float(total), float(squares), int(negative)


def thin_matmul(X, R, threads=None, moments=False):
    """``X @ R`` by the compiled kernel.

    Parameters
    ----------
    X : numpy.ndarray, shape (m, n), C-contiguous
        float32, float64, or an integer type of ``WORK_DTYPES`` (computed
        in float32, or float64 for 32-bit integers).
    R : numpy.ndarray, shape (n, w)
        Used in the working precision of ``X``.
    threads : int or None
        Threads sharing the rows of ``X``; None: the cores this process may
        use (at most ``MAX_THREADS``).
    moments : bool
        Also return the moments of ``X``
        (:func:`hyperspy_rnmf._moments.block_moments`), computed while each
        piece of ``X`` is in cache.

    Returns
    -------
    numpy.ndarray, shape (m, w), the working precision of ``X``
        With ``moments``, a tuple of it and ``(sum, sum of squares, number
        of negative values)``.
    """
    m = X.shape[0]
    work = WORK_DTYPES[X.dtype]
    Rt = np.ascontiguousarray(R.T, dtype=work)
    out = np.empty((m, Rt.shape[0]), work)
    threads = _threads(threads)
    ranges = _ranges(m, max(1, min(TASKS * threads, m // (2 * GROUP))), GROUP)
    zero = work.type(0)
    slots = _moment_slots(m // GROUP + 1, moments)
    _run(_matmul_kernel(), ranges, threads, X, Rt, out, zero, CHUNK, GROUP, slots)
    return (out, _summed(slots)) if moments else out


def thin_rmatmul(L, X, threads=None, moments=False):
    """``L.T @ X`` by the compiled kernel: ``L`` of shape (m, w), ``X``,
    ``moments`` as in :func:`thin_matmul`; ``threads`` share the columns of
    ``X``. Returns a C-contiguous array of shape (w, n)."""
    n = X.shape[1]
    work = WORK_DTYPES[X.dtype]
    Lc = np.ascontiguousarray(L, dtype=work)
    out = np.empty((Lc.shape[1], n), work)
    threads = _threads(threads)
    ranges = _ranges(n, max(1, min(TASKS * threads, n // (2 * STRIP))), STRIP)
    zero = work.type(0)
    slots = _moment_slots(-(-n // STRIP), moments)
    _run(_rmatmul_kernel(), ranges, threads, Lc, X, out, zero, STRIP, slots)
    return (out, _summed(slots)) if moments else out


def matmul(X, R, threads=None):
    """``X @ R``: compiled when :func:`compiled` says so, else by BLAS (which
    then uses its own threads, whatever ``threads`` says)."""
    if compiled(X, R):
        return thin_matmul(X, R, threads)
    return X @ R


def rmatmul(L, X, threads=None):
    """``L.T @ X``, as :func:`matmul`."""
    if compiled(X, L):
        return thin_rmatmul(L, X, threads)
    return L.T @ X


def matmul_and_moments(X, R, threads=None):
    """``X @ R`` and the moments of the float block ``X`` (``(sum, sum of
    squares, number of negative values)``, see
    :func:`hyperspy_rnmf._moments.block_moments`): in one read of ``X`` when
    compiled, else BLAS's product and then the moments kernel."""
    if compiled(X, R):
        return thin_matmul(X, R, threads, moments=True)
    return X @ R, block_moments(X)


def rmatmul_and_moments(L, X, threads=None):
    """``L.T @ X`` and the moments of ``X``, as :func:`matmul_and_moments`."""
    if compiled(X, L):
        return thin_rmatmul(L, X, threads, moments=True)
    return L.T @ X, block_moments(X)


def load_kernel():
    """Compile the kernels (float32 and float64), or load them from numba's
    disk cache, now rather than in the first fit; returns the seconds it
    took."""
    import time

    start = time.perf_counter()
    for dtype in (np.float32, np.float64):
        thin_matmul(np.zeros((1, 1), dtype), np.zeros((1, 1), dtype), threads=1)
        thin_rmatmul(np.zeros((1, 1), dtype), np.zeros((1, 1), dtype), threads=1)
    return time.perf_counter() - start

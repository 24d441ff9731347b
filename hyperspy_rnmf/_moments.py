"""Sum, sum of squares and number of negative values of a block, in one read.

The first pass over the data checks it (NaN, inf, negative values, squares
that overflow the working precision) and learns its sum and squared norm
while it computes the first product of the sketch. With NumPy, that is three
reductions (``min``, squares in runs, sums), each reading the data again:
on the 2028 x 187^2 float32 data of ``bench_rnmf.py``, about 30 ms on one
core against 31 ms for the product on two. This compiled kernel reads each
value once, vectorised: 13 ms on one core, so that the first pass (product
on two BLAS threads, then this kernel) takes 44 ms instead of 59-78 ms.

The compiled thin products (:mod:`hyperspy_rnmf._thin_product`) gather the
same moments through :func:`row_kernel` while they hold each piece of the
data in cache, so that the first pass reads the data once: on the same data
the product with the moments took 29-30 ms, the product alone 24 ms, and
the product followed by this kernel 37-38 ms.

Each value ``v`` is squared in its own precision (so that float32 values
whose squares overflow float32 are reported, as the factorization would
overflow on them too) and the sums are accumulated in float64. The kernel
may reorder the additions (numba's ``fastmath`` ``reassoc`` flag, the only
one set: NaN and inf propagate as usual): the result is the same for the
same block on the same machine, and differs from an ordered sum by float64
round-off. ``NaN < 0`` is false, so NaN is not counted as negative: a
non-finite sum says that NaN or inf are present.
"""

import functools

import numpy as np

from hyperspy_rnmf._numba import compile_kernel


@functools.cache
def row_kernel():
    """The compiled moments of one contiguous row (1D) added to running
    ``(total, squares, negative)``; also called by the thin products
    (:mod:`hyperspy_rnmf._thin_product`) on the rows they have in cache."""

    def row_moments(row, total, squares, negative):
        for j in range(row.shape[0]):
            value = row[j]
            square = value * value  # in the block's precision
            total += np.float64(value)
            squares += np.float64(square)
            negative += value < 0
        return total, squares, negative

    return compile_kernel(row_moments, nogil=True, fastmath={"reassoc"})


#: :func:`row_kernel`, set when :func:`_kernel` is first compiled; called as a
#: global (numba does not reuse cached kernels holding it in a closure).
_row_moments = None


@functools.cache
def _kernel():
    global _row_moments
    _row_moments = row_kernel()

    def moments(block):
        total, squares, negative = 0.0, 0.0, 0
        for i in range(block.shape[0]):
            total, squares, negative = _row_moments(block[i], total, squares, negative)
        return total, squares, negative

    return compile_kernel(moments, nogil=True, fastmath={"reassoc"})


def block_moments(block):
    """``(sum, sum of squares, number of negative values)`` of a 2D float block.

    Parameters
    ----------
    block : numpy.ndarray, shape (rows, columns), float32 or float64

    Returns
    -------
    total : float
        Sum of the values (float64 accumulation); not finite if the block
        holds NaN or inf (or finite values whose sum overflows).
    sum_squares : float
        Sum of the squares, each computed in the block's precision.
    negative : int
        Number of values below zero (NaN not counted).
    """
    if block.dtype not in (np.float32, np.float64) or block.ndim != 2:
        raise TypeError(
            f"block must be a 2D float32 or float64 array, got {block.ndim}D "
            f"{block.dtype}"
        )
    if not block.flags.c_contiguous and block.flags.f_contiguous:
        block = block.T  # the same values, read in memory order
    total, squares, negative = _kernel()(block)
    return float(total), float(squares), int(negative)


def load_kernel():
    """Compile the kernel, or load it from numba's disk cache, now rather than
    in the first fit; returns the seconds it took (about 0 once loaded)."""
    import time

    start = time.perf_counter()
    block_moments(np.zeros((1, 1), np.float32))
    block_moments(np.zeros((1, 1)))
    return time.perf_counter() - start

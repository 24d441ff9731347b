"""Sums of every pattern over many sparse apertures, in one read of the
patterns: the kernel of the VDF stack.

``out[i, v] = sum_t weights[t] * patterns[i, pixels[t]]`` over the entries
``t`` of aperture ``v`` (a CSR matrix, one row per aperture). Eight patterns
at a time are converted and interleaved into a small buffer (eight values per
pixel, in cache), then every aperture adds its pixels' eight-value rows into
eight accumulators held in registers. The patterns are read once, whatever
the number of apertures, and no transposed copy of a block is made.

Why a compiled kernel (numba, already required by pyxem): with scipy the
pattern block needs a transposed float copy for the sparse product (about one
pass over the data on its own), and the product holds the GIL. The kernel
releases the GIL, so threads (NumPy blocks) and dask tasks run it on every
core. It is compiled without numba's own parallel layer (its default
"workqueue" layer aborts the process when two threads launch parallel
kernels; the OpenMP one is not fork-safe); the threads are ours or dask's.
Measured against one pass over the data (the mean pattern), interleaved runs
on 2 cores, 13312 uint16 patterns, kernel alone: 56 x 56 pixels and 109
apertures, 0.74-1.16 passes (scipy: 1.24-1.56 in the same runs); 112 x 112
pixels and 113 apertures, 0.96 (scipy: 1.36). One thread: 1.05 and 1.60.

The eight sums are accumulated in the precision of the buffer (float32, or
float64 for float64 data), as documented. Until this version they were
float64 for every input: numba typed the accumulators' zero, ``weights[0] *
0``, as float64 (float32 times an integer), so every product was converted
and the aperture loop ran in scalar float64. With float32 sums the compiler
keeps the eight in registers: on another machine, one thread, 13312 uint16
patterns of 56 x 56 pixels and 99 discs of 12.5 / 28.2 / 50.3 pixels, 13.4
/ 19.4 / 28.2 ms instead of 26.4 / 39.6 / 44.1 ms (one pass over the data
17-18 ms).
"""

import functools

import numpy as np

from hyperspy_rnmf._numba import compile_kernel


@functools.cache
def _kernel():
    """The compiled kernel (numba is imported and the kernel compiled on
    first use; the machine code is cached on disk, under NUMBA_CACHE_DIR
    when set; see :func:`hyperspy_rnmf._numba.compile_kernel`)."""

    def aperture_sums(patterns, indptr, pixels, weights, buffer, out):
        n, n_pixels = patterns.shape
        # the sums of eight patterns, in the precision of the buffer (held in
        # registers by the compiler)
        acc = np.empty(8, buffer.dtype)
        for i0 in range(0, n, 8):
            m = min(8, n - i0)
            # eight rows (the last one repeated in a short group), read side
            # by side: one contiguous store of eight values per pixel
            r0 = patterns[i0]
            r1 = patterns[min(i0 + 1, n - 1)]
            r2 = patterns[min(i0 + 2, n - 1)]
            r3 = patterns[min(i0 + 3, n - 1)]
            r4 = patterns[min(i0 + 4, n - 1)]
            r5 = patterns[min(i0 + 5, n - 1)]
            r6 = patterns[min(i0 + 6, n - 1)]
            r7 = patterns[min(i0 + 7, n - 1)]
            for p in range(n_pixels):
                o = p * 8
                buffer[o] = r0[p]
                buffer[o + 1] = r1[p]
                buffer[o + 2] = r2[p]
                buffer[o + 3] = r3[p]
                buffer[o + 4] = r4[p]
                buffer[o + 5] = r5[p]
                buffer[o + 6] = r6[p]
                buffer[o + 7] = r7[p]
            for v in range(out.shape[1]):
                acc[:] = 0
                for t in range(indptr[v], indptr[v + 1]):
                    w = weights[t]
                    o = pixels[t] * 8
                    for b in range(8):  # the eight patterns in the buffer
                        acc[b] += w * buffer[o + b]
                for b in range(m):
                    out[i0 + b, v] = acc[b]

    return compile_kernel(aperture_sums, nogil=True, fastmath=True, boundscheck=False)


class ApertureSums:
    """Sums of flattened patterns over the rows of a sparse aperture matrix.

    Parameters
    ----------
    apertures : scipy.sparse matrix or numpy.ndarray, shape (n_apertures, n_pixels)
    dtype : numpy.float32 or numpy.float64
        Precision of the products and of the accumulation.

    Calling the object with an array of shape (n_patterns, n_pixels), of any
    real dtype, returns the float64 sums, shape (n_patterns, n_apertures). It
    releases the GIL: several threads may call one object at once.
    """

    def __init__(self, apertures, dtype=np.float32):
        import scipy.sparse

        csr = scipy.sparse.csr_matrix(apertures, dtype=dtype)
        csr.sum_duplicates()
        self.shape = csr.shape
        self.dtype = np.dtype(dtype)
        self._indptr = csr.indptr.astype(np.int64)
        self._pixels = csr.indices.astype(np.int64)
        self._weights = np.ascontiguousarray(csr.data)

    def __call__(self, patterns, out=None):
        """Sums of ``patterns`` (n_patterns, n_pixels) over every aperture:
        float64, shape (n_patterns, n_apertures), written to ``out`` if given
        (a C-contiguous float64 array of that shape)."""
        n_apertures, n_pixels = self.shape
        if patterns.ndim != 2 or patterns.shape[1] != n_pixels:
            raise ValueError(
                f"`patterns` must have shape (n, {n_pixels}), got {patterns.shape}."
            )
        shape = (patterns.shape[0], n_apertures)
        if out is None:
            out = np.empty(shape)
        elif out.shape != shape or out.dtype != np.float64:
            raise ValueError(
                f"`out` must be a float64 array of shape {shape}, got "
                f"{out.dtype} {out.shape}."
            )
        if self._weights.size == 0 or patterns.shape[0] == 0:
            out[...] = 0.0
            return out
        if patterns.dtype.kind not in "uif" or not patterns.dtype.isnative:
            patterns = patterns.astype(self.dtype)
        if patterns.dtype.kind == "f" and not np.isfinite(patterns).all():
            # NaN or inf pixels (dead ones) add nothing, as masked pixels; the
            # kernel is compiled with fastmath, which assumes finite values
            patterns = np.where(np.isfinite(patterns), patterns, 0)
        # one compiled kernel per dtype (C order; blocks of a signal's data
        # are C-contiguous after the reshape to (patterns, pixels) anyway)
        patterns = np.ascontiguousarray(patterns)
        # eight patterns interleaved, one per accumulator of the kernel (in
        # float32 they fill one 256-bit register)
        buffer = np.zeros(n_pixels * 8, dtype=self.dtype)
        _kernel()(patterns, self._indptr, self._pixels, self._weights, buffer, out)
        return out

"""Sums of a residual ``model - data`` of a piece of rows, in one read.

The diagnostics of a factorization (residual maps in real and reciprocal
space, the Frobenius error; :mod:`hyperspy_rnmf._residuals`) reduce the
residual of every piece of rows to the sum of ``|R|`` of each row and of each
column and the sum of ``R^2``. With NumPy that is five passes over the piece
per model (subtract, squares, absolute values, row sums, column sums); this
compiled kernel reads the model and the data once. On 120 rows x 187^2
float32 pixels and the 11 models of a k-scan over k = 2..12 (one core), the
reductions took 40 of 60 ms with NumPy (the products ``W H`` the rest)
and take 17 of 32 ms with this kernel; the k-scan of
``benchmarks/bench_kscan.py`` (2028 x 187^2) went from 2.36 to 1.86 s
(median of 4, alternating, in one process).

Each residual is formed and squared in the data's precision (as the model
is: float32 for detector counts) and the sums are accumulated in float64
(the row sums and the sum of squares with numba's ``fastmath`` ``reassoc``
flag, the only one set: they may be added in another order, the same for the
same piece on the same machine). NumPy summed the squares in float32 runs of
1024 values and the rows pairwise in float32: within 1e-7 of the exact sums
for detector counts with a bright direct beam, where whole float32 rows
drifted by 2e-6; float64 accumulation removes that drift.
"""

import functools

import numpy as np

from hyperspy_rnmf._numba import compile_kernel


@functools.cache
def _kernel():
    def residual_sums(model, piece, row_abs, col_abs):
        squares = 0.0
        for i in range(piece.shape[0]):
            fitted = model[i]
            values = piece[i]
            total = 0.0
            for j in range(values.shape[0]):
                residual = fitted[j] - values[j]  # in the data's precision
                size = abs(residual)
                total += np.float64(size)
                squares += np.float64(residual * residual)
                col_abs[j] += size
            row_abs[i] = total
        return squares

    return compile_kernel(residual_sums, nogil=True, fastmath={"reassoc"})


def residual_sums(model, piece, row_abs, col_abs):
    """Sums of ``|model - piece|`` per row and per column, and of its squares.

    Parameters
    ----------
    model, piece : numpy.ndarray, shape (rows, n), one float dtype
        The model ``W H`` of the rows and their data.
    row_abs : numpy.ndarray, shape (rows,), float64
        Receives the sum of ``|R|`` of every row.
    col_abs : numpy.ndarray, shape (n,), float64
        The sum of ``|R|`` of every column is added to it.

    Returns
    -------
    float
        The sum of ``R^2`` (float64).
    """
    if model.dtype != piece.dtype or model.dtype not in (np.float32, np.float64):
        raise TypeError(
            "model and piece must have one float32 or float64 dtype, got "
            f"{model.dtype} and {piece.dtype}"
        )
    if model.ndim != 2 or model.shape != piece.shape:
        raise ValueError(
            f"model {model.shape} and piece {piece.shape} must be 2D of one shape"
        )
    for name, out, size in (
        ("row_abs", row_abs, model.shape[0]),
        ("col_abs", col_abs, model.shape[1]),
    ):
        if out.dtype != np.float64 or out.shape != (size,) or not out.flags.writeable:
            raise ValueError(
                f"{name} must be a writeable float64 array of shape ({size},), got "
                f"{out.dtype} {out.shape}"
            )
    model = np.ascontiguousarray(model)
    piece = np.ascontiguousarray(piece)
    return float(_kernel()(model, piece, row_abs, col_abs))

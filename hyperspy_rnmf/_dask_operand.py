"""The data matrix as a dask array: every pass is one task graph over row chunks.

Each pass maps the same block kernels as :class:`~hyperspy_rnmf._operand.NumpyOperand`
over the chunks of whole rows (``X @ M`` is concatenated, ``X.T @ M`` is summed
in a tree), and only small results come back: the data are never materialised.
Blocks are converted to float (and scaled) inside each task, and BLAS runs with
one thread per task so that dask's worker threads do not oversubscribe the
cores. Works on any dask scheduler, including a ``dask.distributed`` client.
"""

import numpy as np

from hyperspy_rnmf._operand import (
    _CANCELLATION,
    _block_sums,
    _block_products,
    _block_stats,
    _exact_residual,
    _merge_stats,
    _solve_loadings,
    _with_ones,
    float_dtype,
)


def _single_blas_thread(func):
    """Run ``func`` with BLAS limited to one thread (inside dask tasks)."""

    def wrapper(*args):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args)

    wrapper.__name__ = func.__name__
    return wrapper


def _prepare(block, start, stop, dtype, row_scale, col_scale):
    block = np.asarray(block)
    out = block.astype(dtype, copy=row_scale is not None or col_scale is not None)
    if col_scale is not None:
        out /= col_scale
    if row_scale is not None:
        out /= row_scale[start:stop, None].astype(dtype)
    return out


@_single_blas_thread
def _task_first_matmul(block, start, matrix, check_min):
    out = block @ matrix
    return _block_stats(block, start, out[:, -1], check_min), out


@_single_blas_thread
def _task_first_rmatmul(block, start, matrix, check_min):
    out = matrix.T @ block
    return _block_stats(block, start, out[-1], check_min), out


def _task_sums(block, start, stop, row_keep, col_keep):
    return _block_sums(block, start, stop, row_keep, col_keep)


@_single_blas_thread
def _task_matmul(block, matrix):
    return block @ matrix


@_single_blas_thread
def _task_rmatmul(block, matrix):
    return matrix.T @ block


@_single_blas_thread
def _task_products(block, start, components, with_stats, check_min, need_norm):
    if with_stats:
        stats = _block_stats(block, start, block.sum(axis=1), check_min)
        if not stats.finite:
            return stats, None, 0.0
        return stats, (block @ components.T).astype(np.float64), stats.sum_squares
    if need_norm:
        return (None,) + _block_products(block, components)
    return None, (block @ components.T).astype(np.float64), 0.0


@_single_blas_thread
def _task_exact_residual(block, loadings, components):
    return _exact_residual(block, loadings, components)


def _tree_sum(parts):
    from dask import delayed

    while len(parts) > 1:
        pairs = [delayed(np.add)(a, b) for a, b in zip(parts[::2], parts[1::2])]
        parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


class DaskOperand:
    """A 2D dask array read chunk by chunk (chunks of whole rows).

    Parameters
    ----------
    data : dask.array.Array, shape (n_rows, n_cols)
    rows, cols : numpy.ndarray of int or None
        Indices of the rows / columns taken into account (None: all).
    row_scale, col_scale : numpy.ndarray or None
        Factors by which each selected row / column is divided.
    progressbar : bool, default False
        Show dask's progress bar during each pass (local schedulers).
    """

    def __init__(
        self,
        data,
        rows=None,
        cols=None,
        row_scale=None,
        col_scale=None,
        progressbar=False,
    ):
        x = data
        if rows is not None:
            x = x[np.asarray(rows)]
        if cols is not None:
            x = x[:, np.asarray(cols)]
        self.dtype = float_dtype(x.dtype)
        self.check_min = np.dtype(x.dtype).kind not in "ub"
        if x.numblocks[1] > 1:
            x = x.rechunk({1: -1})
        self.x = x
        self.shape = tuple(int(v) for v in x.shape)
        self.row_scale = None if row_scale is None else np.asarray(row_scale)
        self.col_scale = (
            None if col_scale is None else np.asarray(col_scale, dtype=self.dtype)
        )
        self.progressbar = progressbar
        self.sum_squares = None
        self.offsets = np.concatenate([[0], np.cumsum(x.chunks[0])]).astype(int)

    def _blocks(self):
        """``(start, stop, delayed float block)`` for every row chunk."""
        from dask import delayed

        chunks = self.x.to_delayed()[:, 0]
        prepare = delayed(_prepare, pure=True)
        for i, chunk in enumerate(chunks):
            start, stop = int(self.offsets[i]), int(self.offsets[i + 1])
            yield start, stop, prepare(
                chunk, start, stop, self.dtype, self.row_scale, self.col_scale
            )

    def _compute(self, *tasks):
        import dask

        if self.progressbar and not _distributed_client_active():
            from dask.diagnostics import ProgressBar

            with ProgressBar():
                return dask.compute(*tasks)
        return dask.compute(*tasks)

    def sums(self, row_keep=None, col_keep=None):
        from dask import delayed

        task = delayed(_task_sums)
        parts = [task(b, s, e, row_keep, col_keep) for s, e, b in self._blocks()]
        rows = [p[0] for p in parts]
        cols = _tree_sum([p[1] for p in parts])
        *rows, cols = self._compute(*rows, cols)
        return np.concatenate(rows), cols

    def stats_and_matmul(self, matrix):
        from dask import delayed

        matrix = _with_ones(matrix)
        task = delayed(_task_first_matmul)
        parts = [task(b, s, matrix, self.check_min) for s, _, b in self._blocks()]
        parts = self._compute(*parts)
        stats = self._first(p[0] for p in parts)
        out = np.concatenate([p[1] for p in parts], axis=0)
        return stats, np.ascontiguousarray(out[:, :-1])

    def _first(self, stats):
        stats = _merge_stats(stats)
        if stats.finite:
            self.sum_squares = stats.sum_squares
        return stats

    def stats_and_rmatmul(self, matrix):
        from dask import delayed

        matrix = _with_ones(matrix)
        task = delayed(_task_first_rmatmul)
        parts = [
            task(b, s, matrix[s:e], self.check_min) for s, e, b in self._blocks()
        ]
        stats = [p[0] for p in parts]
        total = _tree_sum([p[1] for p in parts])
        *stats, total = self._compute(*stats, total)
        return self._first(stats), np.ascontiguousarray(total[:-1].T)

    def matmul(self, matrix):
        from dask import delayed

        task = delayed(_task_matmul)
        parts = self._compute(*[task(b, matrix) for _, _, b in self._blocks()])
        return np.concatenate(parts, axis=0)

    def rmatmul(self, matrix):
        from dask import delayed

        task = delayed(_task_rmatmul)
        total = _tree_sum([task(b, matrix[s:e]) for s, e, b in self._blocks()])
        (total,) = self._compute(total)
        return np.ascontiguousarray(total.T)

    def project(self, components, gram, l1=0.0, l2=0.0, with_stats=False):
        from dask import delayed

        task = delayed(_task_products)
        need_norm = self.sum_squares is None
        parts = self._compute(
            *[
                task(b, s, components, with_stats, self.check_min, need_norm)
                for s, _, b in self._blocks()
            ]
        )
        stats = _merge_stats(p[0] for p in parts) if with_stats else None
        if stats is not None and not stats.finite:
            return None, None, stats
        rhs = np.concatenate([p[1] for p in parts], axis=0)
        norm = sum(p[2] for p in parts) if need_norm or with_stats else self.sum_squares
        loadings, residual = _solve_loadings(rhs, norm, gram, l1, l2)
        loadings = loadings.astype(self.dtype)
        if residual < _CANCELLATION[self.dtype] * norm:
            task = delayed(_task_exact_residual)
            residual = sum(
                self._compute(
                    *[
                        task(b, loadings[s:e], components)
                        for s, e, b in self._blocks()
                    ]
                )
            )
        return loadings, residual, stats


def _distributed_client_active():
    try:
        from distributed import default_client
    except ImportError:
        return False
    try:
        default_client()
    except ValueError:
        return False
    return True

"""The data matrix as a dask array: every pass is one task graph over chunks.

The data may keep their N-D shape (navigation axes first, then signal axes,
as a lazy HyperSpy signal holds them): each chunk of the navigation axes is a
block of rows of the (navigation x signal) matrix, with known row numbers, so
the array is never reshaped or rechunked along the navigation, whatever its
chunking (uneven chunks included). Every pass maps the block kernels of
:mod:`hyperspy_rnmf._operand` over the chunks: ``X @ M`` is scattered back by
row number, ``X.T @ M`` is summed in a tree, and only small results come back.
The thin matrices of a pass enter the graph once, as one shared key.

Blocks are converted to float (and masked, scaled) inside each task, and BLAS
runs with one thread per task so that dask's worker threads do not
oversubscribe the cores. Works on any dask scheduler, including a
``dask.distributed`` client, which recomputes the pieces of a lost worker.

Memory: each running task holds one chunk in its stored dtype and once more in
float; everything else is small (see the user guide for the formula).
"""

import numpy as np

from hyperspy_rnmf._operand import (
    _CANCELLATION,
    _block_products,
    _block_stats,
    _block_sums,
    _exact_residual,
    _merge_stats,
    _scan_block,
    _solve_loadings,
    _stack_components,
    float_dtype,
    in_data_coordinates,
    non_finite_allowed,
)
from hyperspy_rnmf._threads import single_blas_thread


def _prepare(block, local_rows, row_scale, cols, col_scale, dtype, n_sig):
    """A chunk as float rows: selected rows and columns, scaled."""
    block = np.asarray(block).reshape(-1, n_sig)
    if local_rows is not None:
        block = block[local_rows]
    if cols is not None:
        block = block[:, cols]
    copy = row_scale is not None or col_scale is not None
    out = block.astype(dtype, copy=copy)
    with non_finite_allowed():  # inf / inf: NaN, reported by the check
        if col_scale is not None:
            out /= col_scale
        if row_scale is not None:
            out /= row_scale[:, None].astype(dtype)
    return out


def _task_first_matmul(chunk, prep, rows, matrix, check_min):
    block = _prepare_shared(chunk, *prep)
    with single_blas_thread(), non_finite_allowed():
        out = block @ matrix
    return _block_stats(block, rows, check_min), out


def _task_first_rmatmul(chunk, prep, rows, matrix, check_min):
    block = _prepare_shared(chunk, *prep)
    with single_blas_thread(), non_finite_allowed():
        out = matrix[rows].T @ block
    return _block_stats(block, rows, check_min), out


def _task_matmul(chunk, prep, matrix):
    block = _prepare_shared(chunk, *prep)
    with single_blas_thread():
        return block @ matrix


def _task_rmatmul(chunk, prep, rows, matrix):
    block = _prepare_shared(chunk, *prep)
    with single_blas_thread():
        return matrix[rows].T @ block


def _task_sums(chunk, prep, rows, row_keep, col_keep):
    block = _prepare_shared(chunk, *prep)
    keep = None if row_keep is None else row_keep[rows]
    return _block_sums(block, 0, len(rows), keep, col_keep)


def _task_products(chunk, prep, rows, components, with_stats, check_min, need_norm):
    block = _prepare_shared(chunk, *prep)
    with single_blas_thread():
        if with_stats:
            stats = _block_stats(block, rows, check_min)
            if not stats.finite:
                return stats, None, 0.0
            with non_finite_allowed():  # too large: rejected by the caller
                rhs = (block @ components.T).astype(np.float64)
            return stats, rhs, stats.sum_squares
        if need_norm:
            return (None,) + _block_products(block, components)
        return None, (block @ components.T).astype(np.float64), 0.0


def _task_exact_residual(chunk, prep, rows, loadings, components):
    block = _prepare_shared(chunk, *prep)
    with single_blas_thread():
        return _exact_residual(block, loadings[rows], components)


def _task_residual(chunk, prep, rows, loadings, components, expected):
    from hyperspy_rnmf._residuals import residual_stats

    block = _prepare_shared(chunk, *prep)
    with single_blas_thread():
        (stats,) = residual_stats(block, [(loadings[rows], components)], expected)
    row_parts = (stats[0], stats[3] if expected else None)
    return row_parts, (stats[1], stats[2])


def _task_scan(chunk, prep, scan):
    block = _prepare_shared(chunk, *prep)
    stacked, bounds, grams, l1, l2, expected = scan
    _, row_scale, (_, col_scale, _, _) = prep
    with single_blas_thread():
        loadings, stats, rows, cols = _scan_block(
            block, stacked, bounds, grams, l1, l2, expected, (row_scale, col_scale)
        )
    row_parts = (
        loadings,
        [s[0] for s in stats],
        [s[3] if expected else None for s in stats],
        rows,
    )
    col_parts = [s[1] for s in stats] + [np.array([s[2] for s in stats]), cols]
    return row_parts, col_parts


def _add_nested(a, b):
    """Elementwise sum of two (possibly nested) lists/tuples of arrays."""
    if isinstance(a, (list, tuple)):
        return type(a)(_add_nested(x, y) for x, y in zip(a, b, strict=False))
    return a + b


def _add_unchecked(a, b):
    """:func:`_add_nested` of the products of a checking pass, which may
    overflow or hold NaN before the check reports it."""
    with non_finite_allowed():
        return _add_nested(a, b)


def _tree_sum(parts, checking=False):
    from dask import delayed

    add = delayed(_add_unchecked if checking else _add_nested, pure=True)
    while len(parts) > 1:
        pairs = [add(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


class DaskOperand:
    """A dask array seen as the (navigation x signal) matrix, read chunk by chunk.

    Parameters
    ----------
    data : dask.array.Array
        Navigation axes first, then signal axes, shape ``nav + sig``.
    nav_ndim : int, default 1
        Number of navigation axes (1 for a 2D matrix).
    rows, cols : numpy.ndarray of int or None
        Indices (in the flattened navigation / signal) of the rows and
        columns taken into account, sorted (None: all).
    row_scale, col_scale : numpy.ndarray or None
        Factors by which each selected row / column is divided.
    progressbar : bool, default False
        Show dask's progress bar during each pass (local schedulers; with
        dask.distributed, follow the dashboard).
    """

    def __init__(
        self,
        data,
        nav_ndim=1,
        rows=None,
        cols=None,
        row_scale=None,
        col_scale=None,
        progressbar=False,
    ):
        sig_axes = tuple(range(nav_ndim, data.ndim))
        if any(len(data.chunks[a]) > 1 for a in sig_axes):
            data = data.rechunk({a: -1 for a in sig_axes})
        self.data = data
        self.nav_shape = tuple(int(v) for v in data.shape[:nav_ndim])
        n_nav = int(np.prod(self.nav_shape, dtype=np.int64))
        n_sig = int(np.prod(data.shape[nav_ndim:], dtype=np.int64))
        self.dtype = float_dtype(data.dtype)
        self.check_min = np.dtype(data.dtype).kind not in "ub"
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.cols = None if cols is None else np.asarray(cols, dtype=np.int64)
        self.shape = (
            n_nav if rows is None else len(self.rows),
            n_sig if cols is None else len(self.cols),
        )
        self.row_scale = None if row_scale is None else np.asarray(row_scale)
        self.col_scale = (
            None if col_scale is None else np.asarray(col_scale, dtype=self.dtype)
        )
        self.progressbar = progressbar
        self.sum_squares = None
        self.residual_passes = 0  # extra passes of project(), see there
        self.where = None  # names a data (row, col) in errors, see SignalMatrix
        self._block_list = None

    def _blocks(self):
        """``(rows, chunk, prep)`` for every chunk with selected rows.

        ``rows`` are the positions of the block's rows in the operand (the
        selected rows, in order); ``chunk`` is the delayed chunk as stored and
        ``prep`` what each task needs to turn it into float rows (done inside
        the task, so that no converted chunk is ever stored or transferred).
        """
        if self._block_list is None:
            self._block_list = self._make_blocks()
        return self._block_list

    def _make_blocks(self):
        from dask import delayed

        position = None
        if self.rows is not None:
            position = np.full(int(np.prod(self.nav_shape, dtype=np.int64)), -1)
            position[self.rows] = np.arange(len(self.rows))
        n_sig = int(np.prod(self.data.shape[len(self.nav_shape) :], dtype=np.int64))
        shared = delayed(
            (self.cols, self.col_scale, self.dtype, n_sig), pure=True, traverse=False
        )
        nav_chunks = self.data.chunks[: len(self.nav_shape)]
        starts = [np.concatenate([[0], np.cumsum(c)]) for c in nav_chunks]
        blocks = []
        chunks = self.data.to_delayed()
        for index in np.ndindex(*chunks.shape[: len(self.nav_shape)]):
            grids = [
                np.arange(starts[d][i], starts[d][i + 1]) for d, i in enumerate(index)
            ]
            flat = np.ravel_multi_index(
                np.meshgrid(*grids, indexing="ij"), self.nav_shape
            ).ravel()
            if position is None:
                local, rows = None, flat
            else:
                local = np.flatnonzero(position[flat] >= 0)
                if local.size == 0:
                    continue
                rows = position[flat][local]
                if local.size == flat.size:
                    local = None
            scale = None if self.row_scale is None else self.row_scale[rows]
            chunk = chunks[index + (0,) * (chunks.ndim - len(index))]
            blocks.append((rows, chunk, (local, scale, shared)))
        return blocks

    def _compute(self, *tasks):
        import dask

        if self.progressbar and not _distributed_client_active():
            from dask.diagnostics import ProgressBar

            with ProgressBar():
                return dask.compute(*tasks)
        return dask.compute(*tasks)

    def _located(self, stats):
        """Merged ``stats`` located in the data (:func:`in_data_coordinates`)."""
        stats = in_data_coordinates(
            _merge_stats(stats),
            self.rows,
            self.cols,
            self.row_scale,
            self.col_scale,
            self.dtype,
        )
        stats.where = self.where
        return stats

    def _first(self, stats):
        stats = self._located(stats)
        if stats.finite:
            self.sum_squares = stats.sum_squares
        return stats

    @staticmethod
    def _shared(matrix):
        from dask import delayed

        return delayed(matrix, pure=True, traverse=False)

    def sums(self, row_keep=None, col_keep=None):
        """Row sums over kept columns (every row), column sums over kept rows."""
        from dask import delayed

        task = delayed(_task_sums, pure=True)
        keep_rows, keep_cols = self._shared(row_keep), self._shared(col_keep)
        parts = [
            (rows, task(c, p, rows, keep_rows, keep_cols))
            for rows, c, p in self._blocks()
        ]
        row_parts = [p[0] for _, p in parts]
        cols = _tree_sum([p[1] for _, p in parts])
        *row_parts, cols = self._compute(*row_parts, cols)
        row_sums = np.empty(self.shape[0])
        for (rows, _), values in zip(parts, row_parts, strict=False):
            row_sums[rows] = values
        return row_sums, cols

    def stats_and_matmul(self, matrix):
        from dask import delayed

        matrix = self._shared(matrix)
        task = delayed(_task_first_matmul, pure=True)
        blocks = self._blocks()
        parts = self._compute(
            *[task(c, p, rows, matrix, self.check_min) for rows, c, p in blocks]
        )
        out = np.empty((self.shape[0], parts[0][1].shape[1]), dtype=self.dtype)
        for (rows, _, _), (_, values) in zip(blocks, parts, strict=False):
            out[rows] = values
        return self._first(p[0] for p in parts), out

    def stats_and_rmatmul(self, matrix):
        from dask import delayed

        matrix = self._shared(matrix)
        task = delayed(_task_first_rmatmul, pure=True)
        parts = [
            task(c, p, rows, matrix, self.check_min) for rows, c, p in self._blocks()
        ]
        stats = [p[0] for p in parts]
        total = _tree_sum([p[1] for p in parts], checking=True)
        *stats, total = self._compute(*stats, total)
        return self._first(stats), np.ascontiguousarray(total.T)

    def matmul(self, matrix):
        from dask import delayed

        shared = self._shared(matrix)
        task = delayed(_task_matmul, pure=True)
        blocks = self._blocks()
        parts = self._compute(*[task(c, p, shared) for _, c, p in blocks])
        out = np.empty((self.shape[0], matrix.shape[1]), dtype=self.dtype)
        for (rows, _, _), values in zip(blocks, parts, strict=False):
            out[rows] = values
        return out

    def rmatmul(self, matrix):
        from dask import delayed

        shared = self._shared(matrix)
        task = delayed(_task_rmatmul, pure=True)
        total = _tree_sum([task(c, p, rows, shared) for rows, c, p in self._blocks()])
        (total,) = self._compute(total)
        return np.ascontiguousarray(total.T)

    def project(
        self, components, gram, l1=0.0, l2=0.0, with_stats=False, exact_residual=True
    ):
        from dask import delayed

        shared = self._shared(components)
        task = delayed(_task_products, pure=True)
        need_norm = self.sum_squares is None
        blocks = self._blocks()
        parts = self._compute(
            *[
                task(c, p, rows, shared, with_stats, self.check_min, need_norm)
                for rows, c, p in blocks
            ]
        )
        stats = self._located(p[0] for p in parts) if with_stats else None
        if stats is not None and stats.rejects():
            return None, None, stats
        rhs = np.empty((self.shape[0], components.shape[0]))
        for (rows, _, _), part in zip(blocks, parts, strict=False):
            rhs[rows] = part[1]
        norm = sum(p[2] for p in parts) if need_norm or with_stats else self.sum_squares
        loadings, residual = _solve_loadings(rhs, norm, gram, l1, l2, self.dtype)
        loadings = loadings.astype(self.dtype)
        if exact_residual and residual < _CANCELLATION[self.dtype] * norm:
            self.residual_passes += 1
            shared_loadings = self._shared(loadings)
            task = delayed(_task_exact_residual, pure=True)
            residual = sum(
                self._compute(
                    *[
                        task(c, p, rows, shared_loadings, shared)
                        for rows, c, p in blocks
                    ]
                )
            )
        return loadings, residual, stats

    def residual_pass(self, loadings, components, expected=False):
        from dask import delayed

        task = delayed(_task_residual, pure=True)
        W, H = self._shared(np.asarray(loadings)), self._shared(np.asarray(components))
        blocks = self._blocks()
        parts = [task(c, p, rows, W, H, expected) for rows, c, p in blocks]
        cols = _tree_sum([part[1] for part in parts])
        *row_parts, (col_abs, squares) = self._compute(
            *[part[0] for part in parts], cols
        )
        row_abs = np.empty(self.shape[0])
        row_expected = np.empty(self.shape[0]) if expected else None
        for (rows, _, _), (values, exp) in zip(blocks, row_parts, strict=False):
            row_abs[rows] = values
            if expected:
                row_expected[rows] = exp
        return row_abs, col_abs, squares, row_expected

    def scan_pass(self, components_list, l1=0.0, l2=0.0, expected=False):
        from dask import delayed

        stacked, bounds, grams = _stack_components(components_list, self.dtype)
        scan = self._shared((stacked, bounds, grams, l1, l2, expected))
        task = delayed(_task_scan, pure=True)
        blocks = self._blocks()
        parts = [task(c, p, scan) for _, c, p in blocks]
        cols = _tree_sum([part[1] for part in parts])
        *row_parts, cols = self._compute(*[part[0] for part in parts], cols)
        m = self.shape[0]
        models = [
            [
                np.empty((m, b - a), dtype=self.dtype),
                np.empty(m),
                np.empty(m) if expected else None,
            ]
            for a, b in bounds
        ]
        data_rows = np.empty(m)
        for (rows, _, _), (loadings, row_abs, row_exp, data) in zip(
            blocks, row_parts, strict=False
        ):
            for entry, W, r, e in zip(models, loadings, row_abs, row_exp, strict=False):
                entry[0][rows] = W
                entry[1][rows] = r
                if expected:
                    entry[2][rows] = e
            data_rows[rows] = data
        *col_abs, squares, data_cols = cols
        out = [
            (entry[0], entry[1], c, float(sq), entry[2])
            for entry, c, sq in zip(models, col_abs, squares, strict=False)
        ]
        return out, data_rows, data_cols


def _prepare_shared(chunk, local_rows, row_scale, shared):
    cols, col_scale, dtype, n_sig = shared
    return _prepare(chunk, local_rows, row_scale, cols, col_scale, dtype, n_sig)


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

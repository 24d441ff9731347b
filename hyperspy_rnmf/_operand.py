"""The data matrix as the factorization sees it, read block by block.

RandomizedNMF only touches the data through a handful of streaming passes:
``X @ M``, ``X.T @ M`` (``M`` a thin matrix), summary statistics, and a final
projection of every row onto the components. This module provides those
passes for NumPy arrays (:class:`NumpyOperand`, row blocks processed on a
few threads, or one product over the whole array when it can be used as it
is: float data, and 8 to 32-bit integer counts that the compiled products
of :mod:`hyperspy_rnmf._thin_product` convert as they read them);
``_dask_operand`` maps the same block kernels over dask chunks. Neither
backend holds more than one block of the data per thread in a
floating-point type.

Rows and columns can be selected (navigation and signal masks) and scaled
(Poisson normalisation) on the fly: the user's array is never modified.
"""

import numpy as np

from hyperspy_rnmf import _thin_product as thin
from hyperspy_rnmf._moments import block_moments
from hyperspy_rnmf._nnls import nnls_gram
from hyperspy_rnmf._threads import available_cores as _available_cores
from hyperspy_rnmf._threads import single_blas_thread

#: Size of one block of the floating-point data handled at a time (bytes).
#: Blocks are converted into buffers allocated once per operand: fresh large
#: allocations cost page faults on every pass (measured: converting a 61 MB
#: block into a new float64 array took 20x longer than copying it into an
#: existing buffer).
BLOCK_BYTES = 2**24

#: Most threads of the in-memory block passes (``NumpyOperand._map_blocks``):
#: each holds up to two block buffers, so this bounds their memory
#: (8 x 2 x ``BLOCK_BYTES`` = 256 MB) on machines with many cores.
MAX_BLOCK_THREADS = 8

#: Size of the pieces reduced at once (statistics, exact residuals): small
#: enough to stay in cache while several reductions read them.
CACHE_BYTES = 2**21

#: Relative size of the squared residual below which the one-pass identity
#: ``|x|^2 - 2 w.(Hx) + w^T G w`` loses too many digits to round-off (float32
#: products carry ~1e-6 relative error) and the residual is recomputed exactly.
_CANCELLATION = {np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-11}


def float_dtype(dtype):
    """The floating-point type in which data of ``dtype`` are processed.

    float32 stays float32, float64 stays float64; integers use the smallest
    float that represents every value of the integer type exactly (float32 for
    8 and 16 bit integers, float64 otherwise), in native byte order.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize == 4:  # also big-endian '>f4'
        return np.dtype(np.float32)
    if dtype.kind in "iub" and dtype.itemsize <= 2:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


class BlockStats:
    """What the first pass learns about the data besides the sketch.

    ``total`` and ``sum_squares`` are the sum and the sum of squares of all
    values, ``minimum`` the smallest value if it is negative, else 0 (with
    ``weighted``, the value whose Poisson-weighted value was the smallest;
    inf where negative values were not looked for, e.g. unsigned integer
    data); ``finite`` is False if any value is NaN or infinite. ``argmin``
    and ``argbad`` locate a negative and a non-finite value (row, column).
    """

    def __init__(self, minimum=np.inf, total=0.0, sum_squares=0.0):
        self.minimum = minimum
        self.total = total
        self.sum_squares = sum_squares
        self.finite = True
        self.weighted = False  # minimum searched among weighted values
        self.dtype = np.dtype(np.float64)  # working precision of the pass
        self.argmin = None
        self.argbad = None
        self.badvalue = None  # the first non-finite value (as read, weighted)
        self.where = None  # (row, col) -> text naming the place, e.g. in a signal

    def rejects(self):
        """True if the data cannot be factorized (see ``check_data_stats``):
        NaN or inf, negative values, or squares that overflow."""
        return not self.finite or self.minimum < 0 or not np.isfinite(self.sum_squares)


def _rows_per_piece(n_cols, itemsize):
    return max(1, CACHE_BYTES // max(1, n_cols * itemsize))


def non_finite_allowed():
    """Silence NumPy's invalid-value and overflow warnings for the checking
    passes.

    The passes that check the data multiply and sum it before the check
    looks at the results: NaN or inf in the data make NaN in the product
    (``inf * 0``), and float32 values near its maximum (3.4e38) overflow,
    which NumPy >= 2.4 reports as a ``RuntimeWarning`` in ``matmul``. The
    check then raises an error naming the first bad entry, or saying that
    the values are too large, so the warning would only add noise (or, with
    warnings as errors, hide that error).
    """
    return np.errstate(invalid="ignore", over="ignore")


def _row_number(rows, local):
    """Row number of local row ``local``: ``rows`` is an offset or an index array."""
    if isinstance(rows, (int, np.integer)):
        return int(rows) + int(local)
    return int(rows[local])


def _first_non_finite(block):
    """``(row, column)`` of the first NaN or infinity of ``block``, or None.

    Searched a few rows at a time: the block can be the whole in-memory
    array, whose boolean mask would be as many bytes as it has values.
    """
    step = _rows_per_piece(block.shape[1], block.itemsize)
    for start in range(0, block.shape[0], step):
        bad = np.argwhere(~np.isfinite(block[start : start + step]))
        if bad.size:
            return start + int(bad[0, 0]), int(bad[0, 1])
    return None


def _block_stats(block, rows, check_min, moments=None):
    """Statistics of one float block, read once (:mod:`hyperspy_rnmf._moments`).

    ``rows`` gives the row numbers of the block (first row number, or one
    number per row), used to locate bad values. The block is searched again
    only when something is wrong: for its first NaN or infinity when its sum
    is not finite, for its smallest value when it holds negative values
    (skipped for unsigned integer data, ``check_min=False``). ``moments``:
    the block's moments if a product already computed them
    (:func:`hyperspy_rnmf._thin_product.matmul_and_moments`), else they are
    computed here.
    """
    stats = BlockStats()
    if block.size == 0:
        return stats
    total, squares, negative = block_moments(block) if moments is None else moments
    stats.total = total
    if not np.isfinite(total):
        bad = _first_non_finite(block)
        if bad is not None:
            stats.finite = False
            stats.argbad = (_row_number(rows, bad[0]), bad[1])
            stats.badvalue = float(block[bad])
            return stats
        # finite values whose sum overflows: the sum of squares overflows
        # too, and check_data_stats reports the values as too large
    stats.sum_squares = squares
    if check_min:
        stats.minimum = 0.0
        if negative:
            neg = np.unravel_index(np.argmin(block), block.shape)
            stats.minimum = float(block[neg])
            stats.argmin = (_row_number(rows, neg[0]), int(neg[1]))
    return stats


def in_data_coordinates(stats, rows, cols, row_scale, col_scale, dtype):
    """``stats`` with its locations and minimum in terms of the data, in place.

    Blocks are read through the row and column selections and the Poisson
    weights: a value found at operand row ``r`` and column ``c`` is the data
    value at ``rows[r], cols[c]`` divided by ``row_scale[r] * col_scale[c]``.
    Error messages must name the user's value and where it is. ``dtype`` is
    the working precision of the pass.
    """
    stats.dtype = np.dtype(dtype)

    def locate(where):
        r, c = where
        return (
            int(r if rows is None else rows[r]),
            int(c if cols is None else cols[c]),
        )

    if stats.argbad is not None:
        stats.argbad = locate(stats.argbad)
        stats.weighted = row_scale is not None or col_scale is not None
    if stats.argmin is not None:
        r, c = stats.argmin
        factor = 1.0 if row_scale is None else float(row_scale[r])
        factor *= 1.0 if col_scale is None else float(col_scale[c])
        stats.minimum = float(stats.minimum) * factor
        stats.weighted = row_scale is not None or col_scale is not None
        stats.argmin = locate(stats.argmin)
    return stats


def _merge_stats(stats):
    merged = BlockStats()
    for item in stats:
        merged.total += item.total
        merged.sum_squares += item.sum_squares
        if not item.finite and merged.finite:
            merged.finite, merged.argbad = False, item.argbad
            merged.badvalue = item.badvalue
        if item.minimum < merged.minimum:
            merged.minimum, merged.argmin = item.minimum, item.argmin
    return merged


def _block_sums(block, start, stop, row_keep, col_keep):
    """Row sums over the kept columns and column sums over the kept rows."""
    kept = block if col_keep is None else block[:, col_keep]
    row_sums = kept.sum(axis=1, dtype=np.float64)
    if row_keep is not None:
        block = block[row_keep[start:stop]]
    col_sums = block.sum(axis=0, dtype=np.float64)
    return row_sums, col_sums


def _block_products(block, components):
    """``block @ components.T`` (float64) and the squared norm of the block."""
    product, moments = thin.matmul_and_moments(block, components.T, threads=1)
    return product.astype(np.float64), moments[1]


def _solve_loadings(rhs, norm, gram, l1, l2, dtype):
    """Loadings by NNLS from ``rhs = X @ H.T`` (computed in ``dtype``), and the
    squared residual.

    The residual comes from ``|X|^2 - 2 <W, X H^T> + <W^T W, H H^T>``.
    """
    rtol = np.finfo(dtype).eps
    with single_blas_thread():
        loadings = nnls_gram(gram, rhs.T, l1=l1, l2=l2, rtol=rtol).T
    residual = (
        norm
        - 2.0 * np.einsum("ij,ij->", loadings, rhs)
        + np.einsum("ij,ij->", loadings.T @ loadings, gram)
    )
    return loadings, max(float(residual), 0.0)


def _exact_residual(block, loadings, components):
    """Squared norm of ``block - loadings @ components``, in float64 pieces."""
    components = np.asarray(components, dtype=np.float64)
    loadings = np.asarray(loadings, dtype=np.float64)
    step = _rows_per_piece(block.shape[1], 8)
    buffer = np.empty((min(step, block.shape[0]), block.shape[1]))
    total = 0.0
    for start in range(0, block.shape[0], step):
        stop = min(start + step, block.shape[0])
        part = buffer[: stop - start]
        np.matmul(loadings[start:stop], components, out=part)
        part -= block[start:stop]
        total += float(np.einsum("ij,ij->", part, part))
    return total


class NumpyOperand:
    """A 2D NumPy array (or array-like) read in row blocks.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_rows, n_cols)
        The user's array; never written to.
    rows, cols : numpy.ndarray of int or None
        Indices of the rows / columns taken into account (None: all).
    row_scale, col_scale : numpy.ndarray or None
        Factors by which each selected row / column is divided.

    Attributes
    ----------
    sum_squares : float or None
        Squared norm of the data, known after the first pass.
    """

    def __init__(self, data, rows=None, cols=None, row_scale=None, col_scale=None):
        self.data = data
        self.rows = rows
        self.cols = cols
        self.dtype = float_dtype(data.dtype)
        self.check_min = np.dtype(data.dtype).kind not in "ub"
        n_rows = data.shape[0] if rows is None else len(rows)
        n_cols = data.shape[1] if cols is None else len(cols)
        self.shape = (n_rows, n_cols)
        self.row_scale = None if row_scale is None else np.asarray(row_scale)
        self.col_scale = (
            None if col_scale is None else np.asarray(col_scale, dtype=self.dtype)
        )
        per_row = max(1, n_cols * self.dtype.itemsize)
        self.block_rows = max(1, BLOCK_BYTES // per_row)
        if self.block_rows >= thin.TILE:  # blocks start on a tile of rows
            self.block_rows -= self.block_rows % thin.TILE
        self.sum_squares = None
        self.residual_passes = 0  # extra passes of project(), see there
        self.where = None  # names a data (row, col) in errors, see SignalMatrix
        # blocks must be copied into a float buffer (else they are views)
        self.convert = (
            self.dtype != data.dtype
            or cols is not None
            or self.col_scale is not None
            or self.row_scale is not None
        )

    def _whole(self, matrix):
        """The data as one array for a product with the thin ``matrix``, else
        None (block by block).

        Float data that need no converting; also integer counts with no
        selection or scaling when the compiled products take this product
        (:func:`hyperspy_rnmf._thin_product.compiled`): they convert each
        value as they read it, so no float copy of the data is made.
        """
        if self.rows is not None:
            return None
        if not self.convert:
            return np.asarray(self.data)
        plain = self.cols is None and self.row_scale is None and self.col_scale is None
        if (
            plain
            and isinstance(self.data, np.ndarray)
            and thin.compiled(self.data, matrix)
        ):
            return self.data
        return None

    def _bounds(self):
        n = self.shape[0]
        return [
            (start, min(start + self.block_rows, n))
            for start in range(0, n, self.block_rows)
        ]

    def _block(self, start, stop, buffers):
        """Rows ``start:stop`` as a float block.

        A view of the data when no conversion is needed, else written into
        ``buffers`` (a dict, filled on first use and reused: fresh large
        allocations cost page faults on every pass).
        """
        if self.rows is None:
            block = self.data[start:stop]
        else:
            if "gathered" not in buffers:
                buffers["gathered"] = np.empty(
                    (self.block_rows, self.data.shape[1]), self.data.dtype
                )
            block = np.take(
                self.data,
                self.rows[start:stop],
                axis=0,
                out=buffers["gathered"][: stop - start],
            )
        if not self.convert:
            return block
        if "converted" not in buffers:
            buffers["converted"] = np.empty(
                (self.block_rows, self.shape[1]), self.dtype
            )
        out = buffers["converted"][: stop - start]
        if self.cols is not None:
            block = block[:, self.cols]
        np.copyto(out, block, casting="unsafe")
        with non_finite_allowed():  # inf / inf: NaN, reported by the check
            if self.col_scale is not None:
                out /= self.col_scale
            if self.row_scale is not None:
                out /= self.row_scale[start:stop, None].astype(self.dtype)
        return out

    def _blocks(self):
        """Yield ``(start, stop, float_block)`` over the selected rows.

        The block is a view of the data or a reused buffer: consumers must
        not keep it.
        """
        buffers = {}
        for start, stop in self._bounds():
            yield start, stop, self._block(start, stop, buffers)

    def _map_blocks(self, func):
        """Yield ``(start, stop, func(start, stop, block))`` in block order,
        the blocks converted and processed on several threads.

        NumPy runs the conversions and the many small operations of a block
        (NNLS solves, residual statistics) on one core. Here each thread
        works on its own blocks with one BLAS thread, like dask's threads on
        chunks (many small products on two OpenBLAS threads mostly wait for
        each other: the k-scan pass over a 13312 x 12544 cube took 10.1 s
        with two BLAS threads, 4.8 s with one, before it ran on several
        threads), and the caller accumulates the results in block order, so the
        results are the same whatever the number of threads (one BLAS
        thread also when there is one block or one core: BLAS kernels round
        differently with different thread counts). ``func`` must not keep the
        block. At most ``2 x threads`` results wait to be consumed.
        """
        import collections
        import queue
        from concurrent.futures import ThreadPoolExecutor

        bounds = self._bounds()
        workers = min(_available_cores(), len(bounds), MAX_BLOCK_THREADS)
        if workers <= 1:
            with single_blas_thread():
                for start, stop, block in self._blocks():
                    yield start, stop, func(start, stop, block)
            return
        free = queue.SimpleQueue()
        for _ in range(workers):
            free.put({})

        def run(start, stop):
            buffers = free.get()
            try:
                return func(start, stop, self._block(start, stop, buffers))
            finally:
                free.put(buffers)

        with single_blas_thread(), ThreadPoolExecutor(workers) as pool:
            pending = collections.deque()
            for start, stop in bounds:
                pending.append((start, stop, pool.submit(run, start, stop)))
                if len(pending) > 2 * workers:
                    a, b, future = pending.popleft()
                    yield a, b, future.result()
            while pending:
                a, b, future = pending.popleft()
                yield a, b, future.result()

    def sums(self, row_keep=None, col_keep=None):
        """Row sums over kept columns (every row) and column sums over kept rows.

        One pass, float64; used for Poisson normalisation. ``row_keep`` and
        ``col_keep`` are boolean arrays (None: all).
        """
        row_sums = np.empty(self.shape[0])
        col_sums = np.zeros(self.shape[1])

        def block_sums(start, stop, block):
            return _block_sums(block, start, stop, row_keep, col_keep)

        for start, stop, (rows, cols) in self._map_blocks(block_sums):
            row_sums[start:stop] = rows
            col_sums += cols
        return row_sums, col_sums

    def _located(self, stats):
        """Merged ``stats`` located in the data (:func:`in_data_coordinates`)."""
        stats = stats if isinstance(stats, BlockStats) else _merge_stats(stats)
        stats = in_data_coordinates(
            stats, self.rows, self.cols, self.row_scale, self.col_scale, self.dtype
        )
        stats.where = self.where
        return stats

    def _first(self, stats):
        stats = self._located(stats)
        if stats.finite:
            self.sum_squares = stats.sum_squares
        return stats

    def stats_and_matmul(self, matrix):
        """First pass: statistics and ``X @ matrix`` together.

        Data that can be used as they are go to one product on all cores
        (:func:`hyperspy_rnmf._thin_product.matmul_and_moments`): the
        compiled product gathers the statistics while each piece of the data
        is in cache; BLAS's product is followed by the compiled statistics
        kernel (:mod:`hyperspy_rnmf._moments`, one core). Other data
        (converted, selected or scaled) go block by block on several threads,
        each block's statistics computed while it is in cache. On the
        2028 x 187^2 float32 data of ``bench_rnmf.py`` (runs interleaved):
        29-30 ms with the compiled product, 37-38 ms when the statistics
        kernel read the data again after it; with BLAS's product 43-46 ms,
        against 54-59 ms block by block with the same kernel and 59-78 ms
        block by block with NumPy's reductions.
        """
        whole = self._whole(matrix)
        if whole is not None:
            with non_finite_allowed():
                out, moments = thin.matmul_and_moments(whole, matrix)
            return self._first(_block_stats(whole, 0, self.check_min, moments)), out
        out = np.empty((self.shape[0], matrix.shape[1]), dtype=self.dtype)

        def product_and_stats(start, stop, block):
            with non_finite_allowed():
                out[start:stop], moments = thin.matmul_and_moments(
                    block, matrix, threads=1
                )
            return _block_stats(block, start, self.check_min, moments)

        stats = [part for _, _, part in self._map_blocks(product_and_stats)]
        return self._first(stats), out

    def stats_and_rmatmul(self, matrix):
        """First pass: statistics and ``X.T @ matrix`` together (see
        :meth:`stats_and_matmul`)."""
        whole = self._whole(matrix)
        if whole is not None:
            with non_finite_allowed():
                out, moments = thin.rmatmul_and_moments(matrix, whole)
            stats = _block_stats(whole, 0, self.check_min, moments)
            return self._first(stats), np.ascontiguousarray(out.T)
        out = np.zeros((matrix.shape[1], self.shape[1]), dtype=self.dtype)

        def product_and_stats(start, stop, block):
            with non_finite_allowed():
                part, moments = thin.rmatmul_and_moments(
                    matrix[start:stop], block, threads=1
                )
            return part, _block_stats(block, start, self.check_min, moments)

        stats = []
        for _, _, (part, part_stats) in self._map_blocks(product_and_stats):
            out += part
            stats.append(part_stats)
        return self._first(stats), np.ascontiguousarray(out.T)

    def matmul(self, matrix):
        """``X @ matrix`` for a thin ``matrix`` of shape (n_cols, l)."""
        whole = self._whole(matrix)
        if whole is not None:
            return thin.matmul(whole, matrix)
        out = np.empty((self.shape[0], matrix.shape[1]), dtype=self.dtype)

        def product(start, stop, block):
            out[start:stop] = thin.matmul(block, matrix, threads=1)

        for _ in self._map_blocks(product):
            pass
        return out

    def rmatmul(self, matrix):
        """``X.T @ matrix`` for a thin ``matrix`` of shape (n_rows, l)."""
        whole = self._whole(matrix)
        if whole is not None:
            return np.ascontiguousarray(thin.rmatmul(matrix, whole).T)
        out = np.zeros((matrix.shape[1], self.shape[1]), dtype=self.dtype)

        def product(start, stop, block):
            return thin.rmatmul(matrix[start:stop], block, threads=1)

        for _, _, part in self._map_blocks(product):
            out += part
        return np.ascontiguousarray(out.T)

    def project(
        self, components, gram, l1=0.0, l2=0.0, with_stats=False, exact_residual=True
    ):
        """Row loadings by NNLS against ``components`` and the squared residual.

        One pass; a second one (counted in ``residual_passes``) computes the
        residual exactly when the fit is so close that the one-pass identity
        would be dominated by round-off, unless ``exact_residual`` is False
        (the residual is not needed).
        With ``with_stats``, the statistics of the data are gathered too (third
        item of the result, else None) and NaN, inf stop the pass early.
        """
        whole = self._whole(components.T)
        stats = None
        if whole is not None and self.sum_squares is not None and not with_stats:
            rhs = thin.matmul(whole, components.T).astype(np.float64)
            norm = self.sum_squares
        else:
            rhs = np.empty((self.shape[0], components.shape[0]))
            norm = 0.0
            if with_stats:  # in order, stopping at the first non-finite block
                parts = []
                for start, stop, block in self._blocks():
                    with non_finite_allowed():  # bad or too large: rejected below
                        product, moments = thin.matmul_and_moments(block, components.T)
                    part = _block_stats(block, start, self.check_min, moments)
                    parts.append(part)
                    if not part.finite:
                        break
                    rhs[start:stop] = product
                    norm += part.sum_squares
                stats = self._located(parts)
                if stats.rejects():
                    return None, None, stats
            else:

                def products(start, stop, block):
                    return _block_products(block, components)

                for start, stop, (part, block_norm) in self._map_blocks(products):
                    rhs[start:stop] = part
                    norm += block_norm
        loadings, residual = _solve_loadings(rhs, norm, gram, l1, l2, self.dtype)
        loadings = loadings.astype(self.dtype)
        if exact_residual and residual < _CANCELLATION[self.dtype] * norm:
            self.residual_passes += 1
            residual = sum(
                _exact_residual(block, loadings[start:stop], components)
                for start, stop, block in self._blocks()
            )
        return loadings, residual, stats

    def residual_pass(self, loadings, components, expected=False):
        """Residual statistics of the model ``loadings @ components``.

        Returns ``row_abs`` (n_rows,), ``col_abs`` (n_cols,), the sum of
        squares of the residual and, with ``expected``, the |residual| per row
        expected from Poisson noise (else None); see
        :func:`~hyperspy_rnmf._residuals.residual_stats`.
        """
        from hyperspy_rnmf._residuals import residual_stats

        row_abs = np.empty(self.shape[0])
        row_expected = np.empty(self.shape[0]) if expected else None
        col_abs = np.zeros(self.shape[1])
        squares = 0.0

        def block_stats(start, stop, block):
            return residual_stats(
                block, [(loadings[start:stop], components)], expected=expected
            )[0]

        for start, stop, stats in self._map_blocks(block_stats):
            row_abs[start:stop] = stats[0]
            col_abs += stats[1]
            squares += stats[2]
            if expected:
                row_expected[start:stop] = stats[3]
        return row_abs, col_abs, squares, row_expected

    def scan_pass(self, components_list, l1=0.0, l2=0.0, expected=False):
        """Loadings and residual statistics for several component sets, one pass.

        For every ``H`` in ``components_list`` the rows get their loadings by
        NNLS, and the residual statistics of ``W H`` are accumulated; the row
        and column sums of the data come along.

        Returns
        -------
        models : list of (loadings, row_abs, col_abs, sum_squares, row_expected)
            ``row_expected`` (the |residual| expected from Poisson noise
            around the last model of ``components_list``, the same for all;
            for Poisson-normalised data, the counts' expectation on the
            normalised scale) is None unless ``expected``.
        data_rows, data_cols : numpy.ndarray
            Row sums (n_rows,) and column sums (n_cols,) of the data.
        """
        stacked, bounds, grams = _stack_components(components_list, self.dtype)
        m, n = self.shape
        out = [
            [
                np.empty((m, b - a), dtype=self.dtype),
                np.empty(m),
                np.zeros(n),
                0.0,
                np.empty(m) if expected else None,
            ]
            for a, b in bounds
        ]
        data_rows, data_cols = np.empty(m), np.zeros(n)

        def scan_block(start, stop, block):
            rows_scale = None if self.row_scale is None else self.row_scale[start:stop]
            scales = (rows_scale, self.col_scale)  # undo the Poisson weights
            return _scan_block(block, stacked, bounds, grams, l1, l2, expected, scales)

        for start, stop, result in self._map_blocks(scan_block):
            loadings, stats, rows, cols = result
            for entry, W, stat in zip(out, loadings, stats, strict=False):
                entry[0][start:stop] = W
                entry[1][start:stop] = stat[0]
                entry[2] += stat[1]
                entry[3] += stat[2]
                if expected:
                    entry[4][start:stop] = stat[3]
            data_rows[start:stop] = rows
            data_cols += cols
        return [tuple(entry) for entry in out], data_rows, data_cols


def _stack_components(components_list, dtype):
    """Components stacked for one product, their row ranges and Gram matrices."""
    stacked = np.concatenate([np.asarray(H, dtype=dtype) for H in components_list])
    sizes = np.cumsum([0] + [len(H) for H in components_list])
    bounds = list(zip(sizes[:-1], sizes[1:], strict=False))
    grams = [
        np.asarray(H, np.float64) @ np.asarray(H, np.float64).T for H in components_list
    ]
    return stacked, bounds, grams


def _scan_block(block, stacked, bounds, grams, l1, l2, expected=False, scales=None):
    """Per component set: NNLS loadings of the block and residual statistics.

    ``scales`` (row factors of the block, column factors) undo the Poisson
    normalisation for the expected |residual| (see
    :func:`~hyperspy_rnmf._residuals.residual_stats`).
    """
    from hyperspy_rnmf._residuals import residual_stats

    rhs = (block @ stacked.T).astype(np.float64)
    rtol = np.finfo(block.dtype).eps
    loadings = [
        nnls_gram(gram, rhs[:, a:b].T, l1=l1, l2=l2, rtol=rtol).T.astype(block.dtype)
        for gram, (a, b) in zip(grams, bounds, strict=False)
    ]
    stats = residual_stats(
        block,
        [(W, stacked[a:b]) for W, (a, b) in zip(loadings, bounds, strict=False)],
        expected="last" if expected else False,
        scales=scales,
    )
    rows = block.sum(axis=1, dtype=np.float64)
    cols = block.sum(axis=0, dtype=np.float64)
    return loadings, stats, rows, cols

"""The compiled statistics kernel of the first pass."""

import numpy as np
import pytest

from hyperspy_rnmf._moments import block_moments, load_kernel


def exact(block):
    values = block.astype(np.float64)
    squares = (block * block).astype(np.float64)  # squared in its precision
    return float(values.sum()), float(squares.sum()), int((block < 0).sum())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 1000), (40, 4099), (0, 5)])
def test_moments_match_the_float64_sums(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    block = (rng.standard_normal(shape) * 1e3).astype(dtype)
    total, squares, negative = block_moments(block)
    want = exact(block)
    assert total == pytest.approx(want[0], rel=1e-12, abs=1e-9)
    assert squares == pytest.approx(want[1], rel=1e-12)
    assert negative == want[2]
    assert block_moments(block) == (total, squares, negative)  # deterministic


def test_counts_look_only_at_values_below_zero():
    block = np.array([[0.0, -0.0, 1.0, np.nan], [-3.0, 2.0, -1e-30, 0.5]], np.float32)
    total, squares, negative = block_moments(block)
    assert negative == 2  # -3 and -1e-30: not -0.0, not NaN
    assert np.isnan(total) and np.isnan(squares)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinity_makes_the_sums_non_finite(bad):
    block = np.ones((4, 50), np.float32)
    block[3, 49] = bad
    total, squares, _ = block_moments(block)
    assert not np.isfinite(total) and squares == np.inf


def test_squares_overflow_in_the_blocks_precision():
    block = np.full((2, 3), 1e20, np.float32)  # 1e40 overflows float32
    total, squares, _ = block_moments(block)
    assert total == pytest.approx(6e20, rel=1e-7) and squares == np.inf
    total, squares, _ = block_moments(block.astype(np.float64))
    assert squares == pytest.approx(6e40, rel=1e-6)


@pytest.mark.parametrize(
    "view",
    [
        lambda a: np.asfortranarray(a),
        lambda a: a[:, ::3],
        lambda a: a[::2],
        lambda a: a.T[5:40],
    ],
    ids=["fortran", "column-step", "row-step", "transposed-slice"],
)
def test_any_memory_layout(view):
    rng = np.random.default_rng(3)
    base = rng.poisson(2.0, (60, 333)).astype(np.float32) - 1.0
    block = view(base)
    total, squares, negative = block_moments(block)
    want = exact(np.ascontiguousarray(block))
    assert total == pytest.approx(want[0], rel=1e-12)
    assert squares == pytest.approx(want[1], rel=1e-12)
    assert negative == want[2] > 0


@pytest.mark.parametrize(
    "block, match",
    [
        (np.ones((2, 2), np.int16), r"2D float32 or float64 array, got 2D int16"),
        (np.ones(4), r"2D float32 or float64 array, got 1D float64"),
        (np.ones((2, 2), ">f4"), r"got 2D >f4"),
    ],
)
def test_other_blocks_are_refused(block, match):
    with pytest.raises(TypeError, match=match):
        block_moments(block)


def test_load_kernel_returns_its_time():
    assert 0.0 <= load_kernel() < 60.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_first_bad_value_is_found_piece_by_piece(monkeypatch, dtype):
    from hyperspy_rnmf import _operand

    monkeypatch.setattr(_operand, "CACHE_BYTES", 64 * 8)  # a few rows a piece
    block = np.ones((300, 64), dtype)
    assert _operand._first_non_finite(block) is None
    block[250, 3] = np.inf
    block[251, 0] = np.nan
    block[250, 40] = np.nan
    assert _operand._first_non_finite(block) == (250, 3)
    stats = _operand._block_stats(block, 1000, True)  # rows numbered from 1000
    assert not stats.finite and stats.argbad == (1250, 3) and stats.badvalue == np.inf

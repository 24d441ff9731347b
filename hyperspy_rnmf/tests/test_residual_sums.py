"""The compiled residual sums against float64 NumPy."""

import numpy as np
import pytest

from hyperspy_rnmf._residual_sums import residual_sums
from hyperspy_rnmf._residuals import residual_stats


def exact_sums(model, piece):
    residual = model.astype(np.float64) - piece.astype(np.float64)
    return (
        np.abs(residual).sum(axis=1),
        np.abs(residual).sum(axis=0),
        float((residual**2).sum()),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (15, 4099)])
def test_sums_match_float64_numpy(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    piece = rng.poisson(3.0, shape).astype(dtype)
    model = (rng.random(shape) * 6).astype(dtype)
    row_abs = np.full(shape[0], np.nan)
    col_abs = np.full(shape[1], 2.5)  # the column sums are added to it
    squares = residual_sums(model, piece, row_abs, col_abs)
    rows, cols, expected = exact_sums(model, piece)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(row_abs, rows, rtol=rtol)
    np.testing.assert_allclose(col_abs, cols + 2.5, rtol=rtol)
    assert squares == pytest.approx(expected, rel=rtol)


def test_long_float32_rows_with_a_bright_beam_keep_their_digits():
    # float32 sums over whole 256^2-pixel rows drifted by 2e-6
    y, x = np.mgrid[0:256, 0:256]
    beam = 1.8e6 * np.exp(-0.5 * ((y - 128) ** 2 + (x - 128) ** 2) / 4.0)
    rng = np.random.default_rng(0)
    piece = rng.poisson(beam + 50, size=(20, 256, 256)).astype(np.float32)
    piece = piece.reshape(20, -1)
    model = np.zeros_like(piece)
    row_abs, col_abs = np.empty(20), np.zeros(piece.shape[1])
    squares = residual_sums(model, piece, row_abs, col_abs)
    exact = piece.astype(np.float64)
    assert squares == pytest.approx(float((exact**2).sum()), rel=1e-7)
    np.testing.assert_allclose(row_abs, exact.sum(axis=1), rtol=1e-12)


def test_any_memory_layout_gives_the_same_sums():
    rng = np.random.default_rng(4)
    piece = rng.random((40, 30)).astype(np.float32)
    model = rng.random((40, 30)).astype(np.float32)
    expected = [np.empty(40), np.zeros(30)]
    squares = residual_sums(model, piece, *expected)
    got = [np.empty(40), np.zeros(30)]
    assert residual_sums(
        np.asfortranarray(model), np.asfortranarray(piece), *got
    ) == pytest.approx(squares, rel=1e-12)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_residual_stats_of_several_models_in_pieces():
    """``residual_stats`` reads the block in pieces of a few rows and reduces
    every model's residual with the kernel: the float64 NumPy sums."""
    rng = np.random.default_rng(2)
    block = rng.poisson(4.0, (300, 2500)).astype(np.float32)
    models = [
        (rng.random((300, k)).astype(np.float32), rng.random((k, 2500)) * 2 / k)
        for k in (1, 3, 6)
    ]
    stats = residual_stats(block, models)
    assert len(stats) == 3
    for (W, H), (rows, cols, squares) in zip(models, stats, strict=True):
        fitted = W @ H.astype(np.float32)
        exact_rows, exact_cols, exact_squares = exact_sums(fitted, block)
        np.testing.assert_allclose(rows, exact_rows, rtol=1e-6)
        np.testing.assert_allclose(cols, exact_cols, rtol=1e-6)
        assert squares == pytest.approx(exact_squares, rel=1e-6)


@pytest.mark.parametrize(
    "args, error, match",
    [
        (
            (np.ones((2, 3)), np.ones((2, 3), np.float32), np.empty(2), np.zeros(3)),
            TypeError,
            "one float32 or float64 dtype",
        ),
        (
            (np.ones((2, 3), int), np.ones((2, 3), int), np.empty(2), np.zeros(3)),
            TypeError,
            "one float32 or float64 dtype",
        ),
        (
            (np.ones((2, 3)), np.ones((3, 2)), np.empty(2), np.zeros(3)),
            ValueError,
            "must be 2D of one shape",
        ),
        (
            (np.ones(6), np.ones(6), np.empty(1), np.zeros(6)),
            ValueError,
            "must be 2D of one shape",
        ),
        (
            (np.ones((2, 3)), np.ones((2, 3)), np.empty(3), np.zeros(3)),
            ValueError,
            r"row_abs must be a writeable float64 array of shape \(2,\)",
        ),
        (
            (np.ones((2, 3)), np.ones((2, 3)), np.empty(2), np.zeros(3, np.float32)),
            ValueError,
            r"col_abs must be a writeable float64 array of shape \(3,\)",
        ),
    ],
)
def test_refused_arguments(args, error, match):
    with pytest.raises(error, match=match):
        residual_sums(*args)

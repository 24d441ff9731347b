"""Synthetic data, component matching and the ``hyperspy-rnmf demo`` command."""

import re

import numpy as np
import pytest

from hyperspy_rnmf.cli import _speed_up, main
from hyperspy_rnmf.datasets import synthetic_4dstem
from hyperspy_rnmf.matching import match_components, relative_error


@pytest.mark.parametrize("lazy", [False, True])
def test_synthetic_4dstem_is_the_planted_product(lazy):
    s, truth = synthetic_4dstem(
        4, (10, 7), (16, 12), noise=False, dtype="float64", random_state=0, lazy=lazy
    )
    assert s.data.shape == (7, 10, 12, 16)
    assert s._lazy is lazy
    data = np.asarray(s.data).reshape(70, -1)
    np.testing.assert_allclose(data, truth["loadings"] @ truth["factors"], rtol=1e-12)
    np.testing.assert_allclose(truth["factors"].sum(axis=1), 1.0)
    assert s.axes_manager.navigation_axes[0].units == "nm"


def test_synthetic_4dstem_counts_and_dtype():
    s, truth = synthetic_4dstem(2, (6, 5), (8, 8), dtype="uint16", random_state=1)
    assert s.data.dtype == np.uint16
    assert abs(s.data.sum() / truth["loadings"].sum() - 1) < 0.05


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_phases": 0}, "`n_phases` must be a positive integer, got 0"),
        ({"navigation_shape": (5,)}, r"`navigation_shape` must be two integers >= 2"),
        ({"signal_shape": (1, 8)}, r"`signal_shape` must be two integers >= 2"),
        ({"counts": -1}, "`counts` must be positive, got -1"),
    ],
)
def test_synthetic_4dstem_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic_4dstem(**kwargs)


def test_match_components_and_relative_error():
    rng = np.random.default_rng(0)
    H = rng.random((3, 20))
    assert match_components(H[[2, 0, 1]] * 5, H) == pytest.approx(np.ones(3))
    W = rng.random((10, 3))
    assert relative_error(W @ H, W, H) == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match=r"same number of columns"):
        match_components(H, H[:, :5])


def test_demo_command(tmp_path, capsys):
    out = tmp_path / "demo.png"
    code = main(
        ["demo", "--scan", "12", "10", "--detector", "16", "16", "--output", str(out)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "RandomizedNMF" in text and "scikit-learn NMF" in text
    assert "compiled kernels ready in" in text
    assert out.stat().st_size > 1000


@pytest.mark.parametrize(
    "options, match",
    [
        (["--phases", "0"], "--phases must be >= 1, got 0"),
        (["--seed", "-1"], r"--seed must be in \[0, 2\*\*32 - 1\], got -1"),
        (["--scan", "1", "1"], "--scan 1 1 .*must be two integers >= 2"),
        (["--detector", "-3", "8"], "--detector -3 8: `signal_shape` must be"),
        (["--output", "/no/such/folder/x.png"], "the folder /no/such/folder does"),
    ],
)
def test_demo_bad_arguments(options, match, capsys):
    # argparse errors (exit code 2, message on stderr) before any fit runs
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *options])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert re.search(match, captured.err)
    assert "RandomizedNMF" not in captured.out


def test_demo_speed_up_wording():
    assert _speed_up(20.0, 0.4) == "50x faster than"
    assert _speed_up(2.0, 0.8) == "2.5x faster than"
    assert _speed_up(0.1, 0.5) == "5.0x slower than"

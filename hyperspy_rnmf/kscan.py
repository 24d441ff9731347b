"""Choosing the number of components: a k-scan on one sketch.

The QB sketch is computed once, for the largest k (plus oversampling), and
every k is factorized on it (:mod:`hyperspy_rnmf._hals`); the refinement of
the components and the final projection of all k share one pass each
(:meth:`~hyperspy_rnmf._operand.NumpyOperand.scan_pass`). A scan over k = 1..12
therefore reads the data as often as a single fit.

Reported per k, following Werbrouck et al. (2025) and arXiv 2503.06699:

* ``mean_abs_error`` e(k): the mean absolute residual over all entries;
* ``relative_error``: ``|X - W H|_F / |X|_F``;
* SSIM and PSNR (scikit-image) between data and reconstruction, on two
  images: the **mean pattern** (mean over probe positions, signal space) and
  the **navigation sum image** (total intensity per probe position). SSIM
  needs a 2D image at least 7 pixels wide and is NaN otherwise;
* ``spatial_structure``: Moran's I of the real-space residual map r_real (about
  0 for noise, towards 1 when the residual forms regions, e.g. where a
  component is missing);
* the residual maps r_real (mean |residual| over the pixels of each position)
  and r_reciprocal (mean |residual| over the positions at each pixel).

The suggested k is the knee of e(k) found by the kneedle algorithm (Satopaa et
al. 2011, ``kneed.KneeLocator``, convex, decreasing, sensitivity 1): the k
after which adding components stops paying. If kneedle finds no knee (fewer
than three k values or a straight curve), the k of largest discrete
curvature of e(k) is used, and the reason says so. For count data (Poisson
noise model), a knee whose r_real still shows a missing component moves up to
the smallest k whose r_real shows none (:func:`correct_for_structure`), and a
knee above the smallest k whose residual is already at the Poisson noise
level, without structure, moves down to it (:func:`stop_at_noise_level`).
Last, a suggestion whose residual is still above the Poisson noise level
moves up to the smallest larger k that reaches it with a sharp drop
(:func:`rise_to_noise_level`: small grains whose residual shows no spatial
structure at low counts).

With ``normalize_poissonian_noise`` the metrics are those of the weighted data
that are factorized; the Poisson expectation of the structure score is that
of the counts, weighted like the data, so the correction applies there too.
"""

import logging
import numbers

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from hyperspy_rnmf._axes import copy_axes
from hyperspy_rnmf._init import nndsvd_from_sketch, sketch_svd
from hyperspy_rnmf._residuals import morans_i, noise_scaled
from hyperspy_rnmf._sketch import qb_sketch
from hyperspy_rnmf.rnmf import check_data_stats, split_scale

_logger = logging.getLogger(__name__)

#: Stopping tolerance of the fits of a scan unless ``tol`` is given: e(k)
#: needs about three digits to place the elbow, not a converged fit.
SCAN_TOL = 1e-3

#: Metrics of a scan, in the order they are stored in :meth:`KScanResult.to_signal`.
METRICS = (
    "mean_abs_error",
    "relative_error",
    "ssim_mean_pattern",
    "psnr_mean_pattern",
    "ssim_navigation_image",
    "psnr_navigation_image",
    "spatial_structure",
)


def default_k_values(shape, largest=12):
    """k = 1..12, capped at the smallest dimension of the data.

    k = 1 is included so that an elbow at k = 2 can be detected (an elbow
    needs a point on either side).
    """
    top = min(largest, min(shape))
    if top < 1:
        raise ValueError(f"A k-scan needs non-empty data, got shape {shape}.")
    return list(range(1, top + 1))


def _check_k_values(k_values, shape):
    """Sorted distinct k (duplicates and order do not matter)."""
    if isinstance(k_values, (str, bytes)) or not np.iterable(k_values):
        raise TypeError(
            "`k_values` must be a sequence of integers (e.g. range(1, 13)), got "
            f"{k_values!r}."
        )
    k_values = list(k_values)
    if not k_values or not all(
        isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_))
        for k in k_values
    ):
        raise ValueError(f"`k_values` must be positive integers, got {k_values!r}.")
    ks = sorted({int(k) for k in k_values})
    if ks[0] < 1 or ks[-1] > min(shape):
        raise ValueError(
            f"`k_values` must lie in [1, {min(shape)}] (the smallest dimension of "
            f"the data), got {ks[0]}..{ks[-1]}."
        )
    return ks


def suggest_k(k_values, errors):
    """The knee of a decreasing error curve and the reason for the choice."""
    ks = np.asarray(k_values)
    errors = np.asarray(errors, dtype=np.float64)
    if ks.ndim != 1 or ks.size == 0 or errors.shape != ks.shape:
        raise ValueError(
            "`k_values` and `errors` must be non-empty 1D sequences of the same "
            f"length, got shapes {ks.shape} and {errors.shape}."
        )
    if not np.all(np.isfinite(errors)):
        raise ValueError(f"`errors` must be finite, got {errors.tolist()!r}.")
    if ks.size > 1 and not np.all(np.diff(ks) > 0):
        raise ValueError(f"`k_values` must be increasing, got {ks.tolist()!r}.")
    knee = None
    if len(ks) >= 3:
        from kneed import KneeLocator

        knee = KneeLocator(
            ks, errors, curve="convex", direction="decreasing", S=1.0
        ).knee
    if knee is not None:
        return int(knee), "knee (kneedle) of the mean absolute residual e(k)"
    if len(ks) >= 3:
        # second derivative on the (possibly uneven) k grid
        slopes = np.diff(errors) / np.diff(ks)
        curvature = np.diff(slopes) / (0.5 * (ks[2:] - ks[:-2]))
        return int(ks[1 + int(np.argmax(curvature))]), (
            "largest curvature of e(k) (kneedle found no knee)"
        )
    return int(ks[int(np.argmin(errors))]), "smallest e(k) (fewer than 3 k values)"


#: Moran's I of the Poisson-scaled r_real above which a residual map shows
#: regions (a missing component), and below which it shows none. Planted data
#: of the tests and of ``benchmarks/bench_kscan.py``: 0.81-0.96 with a
#: component missing, below 0.06 from the planted k on.
STRUCTURE_LEFT = 0.5
STRUCTURE_NONE = 0.15

#: When no larger k gets below ``STRUCTURE_NONE``: how far above the lowest
#: Moran's I of the larger k a k may be and still count as having reached it.
#: The score of one k varies by about 0.03 (one standard deviation) between
#: sketches; on the SPED-like cube of ``benchmarks/bench_suggest_k.py`` (real
#: silver grain patterns, 6 phases) it is 0.06-0.18 at the right k and rises
#: again above it (to about 0.3 at k = 12, unweighted scans).
STRUCTURE_MARGIN = 0.05


def correct_for_structure(k_values, knee, rule, structure, noise_ratio):
    """Move the knee of e(k) up while r_real still shows a missing component.

    Structure left in r_real means that more components are needed (Werbrouck
    et al. 2025). When phases share most of their signal (a strong direct
    beam), the curve e(k) bends before the last phases are added, and its
    knee comes too early. If r_real at the knee has clear spatial structure
    (Moran's I > ``STRUCTURE_LEFT``) while the residual is at least at the
    level of the Poisson noise (``noise_ratio``, total |residual| over its
    Poisson expectation, >= 0.5: not noise-free data, whose tiny residual has
    a meaningless structure), the suggestion becomes the smallest larger k
    whose r_real has none: Moran's I below ``STRUCTURE_NONE``, or within
    ``STRUCTURE_MARGIN`` of the lowest Moran's I of the larger k (real data
    keep a little structure at every k, from model mismatch). If the
    structure never falls below ``STRUCTURE_LEFT``, more components do not
    remove it and the knee is kept.

    Returns
    -------
    suggested : int
    rule : str
        ``rule`` unchanged, or the reason for the move.
    """
    ks = list(k_values)
    i = ks.index(knee)
    if not (structure[i] > STRUCTURE_LEFT and noise_ratio[i] >= 0.5):
        return knee, rule
    later = np.asarray(structure[i + 1 :], dtype=np.float64)
    lowest = float(np.nanmin(later, initial=np.inf))  # inf: none, or all NaN
    if not lowest < STRUCTURE_LEFT:
        return knee, rule
    level = max(STRUCTURE_NONE, lowest + STRUCTURE_MARGIN)
    j = i + 1 + int(np.flatnonzero(later < level)[0])
    return ks[j], (
        f"{rule} at k = {knee} left spatial structure in r_real (Moran's I "
        f"{structure[i]:.2f}); k = {ks[j]} is the smallest larger k without "
        f"({structure[j]:.2f}; lowest of the larger k {lowest:.2f})"
    )


#: A residual whose total |residual| is at most its Poisson expectation is
#: at the noise level: the fits absorb a little noise, so at the planted k the
#: ratio is 0.991-0.999 (planted counts of 1-10 phases, 1200 x 64^2 and
#: 320 x 16^2; cubes built from real silver grain patterns), below it 1.004
#: or more. Shared by :func:`stop_at_noise_level` and
#: :func:`rise_to_noise_level` (one definition: a ratio of 1.006 is signal
#: for both; the first used 1.01 before the second existed).
NOISE_LEVEL = 1.0


def stop_at_noise_level(k_values, suggested, rule, structure, noise_ratio):
    """Move the suggestion down to the smallest k whose residual is noise.

    The knee of e(k) always exists for kneedle (it rescales any convex curve),
    also where every k fits only noise: single-phase counts gave k = 5 from a
    nearly straight e(k). A smaller k whose residual is at the Poisson noise
    level (``noise_ratio`` <= ``NOISE_LEVEL``) and shows no spatial structure
    (Moran's I below ``STRUCTURE_NONE``) already explains the data; the
    components added after it only fit noise. Returns ``(suggested, rule)``
    like :func:`correct_for_structure`.
    """
    ks = list(k_values)
    for i, k in enumerate(ks[: ks.index(suggested)]):
        if noise_ratio[i] <= NOISE_LEVEL and structure[i] < STRUCTURE_NONE:
            return k, (
                f"the smallest k whose residual is at the Poisson noise level "
                f"(|residual| {noise_ratio[i]:.3f} of its expectation, Moran's I "
                f"{structure[i]:.2f}); the {rule} at k = {suggested} fits noise"
            )
    return suggested, rule


#: The drop of ``noise_ratio`` onto the noise level must be this many times
#: the median drop per k after it (which only fits noise), so that a ratio
#: drifting slowly through 1 (counts that are not quite Poisson, e.g. a
#: detector gain slightly above 1) moves nothing. Measured drops: 0.005-0.05
#: against medians of 0.0002-0.0005 per k on real silver grain patterns.
RISE_SHARPNESS = 5.0


def rise_to_noise_level(k_values, suggested, rule, noise_ratio):
    """Move the suggestion up to the smallest k whose residual is noise.

    A phase seen at few probe positions (a small grain) leaves a residual
    that raises the total |residual| above its Poisson expectation, but at
    low counts its map is too weak for Moran's I, and e(k) bends before it
    (real silver grain patterns, 4 grains, one on 3.5 % of the positions:
    knee and suggestion k = 3 at 3000 and 20000 counts per pattern, with
    ``noise_ratio`` 1.0055 and 1.0177 there, 0.9992 and 0.9964 at k = 4).
    If ``noise_ratio`` at the suggestion is above ``NOISE_LEVEL``, the
    suggestion becomes the smallest larger k whose ratio is at most
    ``NOISE_LEVEL``, provided the ratio drops onto it sharply
    (``RISE_SHARPNESS`` times the median drop per scanned k after it, at
    least two of which must have been scanned; with uneven k steps, per
    step). Returns ``(suggested, rule)`` like :func:`correct_for_structure`.
    """
    ks = list(k_values)
    ratio = np.asarray(noise_ratio, dtype=np.float64)
    i = ks.index(suggested)
    if not ratio[i] > NOISE_LEVEL:
        return suggested, rule
    below = np.flatnonzero(ratio[i + 1 :] <= NOISE_LEVEL)
    if not below.size:
        return suggested, rule
    j = i + 1 + int(below[0])
    after = -np.diff(ratio[j:])
    drop = ratio[j - 1] - ratio[j]
    if after.size < 2 or not drop >= RISE_SHARPNESS * max(np.median(after), 0.0):
        return suggested, rule
    return ks[j], (
        f"{rule} at k = {suggested} left |residual| {ratio[i]:.4f} of its Poisson "
        f"expectation; k = {ks[j]} is the smallest larger k at the noise level "
        f"({ratio[j]:.4f}, a drop of {drop:.4f} against a median of "
        f"{np.median(after):.4f} per k after it)"
    )


#: The total |residual| of the largest k over its Poisson expectation outside
#: this range: the data do not behave like counts of unit gain (1 +- 0.01 on
#: every count dataset measured, see ``NOISE_LEVEL``).
COUNTS_RANGE = (0.5, 2.0)


#: Relative fall of the Poisson ratio over the last three scanned k below
#: which it has levelled off (a ratio still falling means that larger k are
#: still fitting structure, not that the data are not counts).
LEVELLED = 0.05


def _not_like_counts(k_values, noise_ratio):
    """A note for the reason when ``noise="poisson"`` does not fit the data.

    The rules that compare the residual with its Poisson expectation
    (:func:`correct_for_structure`, :func:`stop_at_noise_level`,
    :func:`rise_to_noise_level`) then cannot act, silently: the same counts
    divided by 10 were suggested k = 3 instead of the planted 4. A ratio far
    above 1 that is still falling at the largest k says that the scan stops
    too early (8 phases scanned up to k = 3: 6.2).
    """
    low, high = COUNTS_RANGE
    k, ratio = k_values[-1], noise_ratio[-1]
    if not np.isfinite(ratio) or low <= ratio <= high:
        return ""
    recent = np.asarray(noise_ratio[-3:], dtype=np.float64)
    if ratio > high and len(recent) < 3:
        return (
            f"; note: at k = {k}, the largest scanned, the residual is "
            f"{ratio:.3g} times its Poisson expectation: scan more k to tell a "
            "scan that stops too early from counts times a gain"
        )
    falling = bool(np.all(np.diff(recent) < 0)) and (
        recent[0] - recent[-1] > LEVELLED * recent[-1]
    )
    if ratio > high and falling:
        return (
            f"; note: at k = {k}, the largest scanned, the residual is still "
            f"{ratio:.3g} times its Poisson expectation and falling: scan larger k"
        )
    if ratio < low:
        what = "far below it: scaled-down, averaged or noise-free data"
        rules = "the structure and noise-level rules"
    else:
        what = "far above it: counts times a gain, or extra noise"
        rules = "the noise-level rules"
    return (
        f"; note: at k = {k} the residual is {ratio:.3g} times its Poisson "
        f"expectation ({what}), so {rules} could not act; for counts, scale "
        "the data to counts (divide by the gain)"
    )


def _image_metrics(data, model, keep=None):
    """SSIM and PSNR of a model image against a data image (NaN when undefined).

    ``keep`` (boolean image) limits both to the pixels that were fitted:
    masked pixels hold zeros in both images, which counted as perfect
    agreement (a direct-beam disc masked out of a 64 x 64 pattern raised the
    PSNR of a poor fit by about 1 dB). SSIM is the mean of the SSIM image
    over the kept pixels, without the border that scikit-image leaves out.
    """
    from skimage.metrics import structural_similarity

    data = np.asarray(data, dtype=np.float64)
    model = np.asarray(model, dtype=np.float64)
    if keep is None:
        keep = np.ones(data.shape, dtype=bool)
    kept = data[keep]
    data_range = float(kept.max() - kept.min()) if kept.size else 0.0
    if data_range == 0:
        return float("nan"), float("nan")
    mse = np.mean((kept - model[keep]) ** 2)
    with np.errstate(divide="ignore"):  # an exact model: PSNR = inf
        psnr = float(10.0 * np.log10(np.float64(data_range) ** 2 / mse))
    ssim = float("nan")
    if data.ndim == 2 and min(data.shape) >= 7:
        _, image = structural_similarity(data, model, data_range=data_range, full=True)
        pad = 3  # (7 - 1) // 2: scikit-image's default window
        inner = np.zeros(data.shape, dtype=bool)
        inner[pad:-pad, pad:-pad] = True
        inner &= keep
        if inner.any():
            ssim = float(image[inner].mean())
    return ssim, psnr


class _Scan:
    """Per-k models of a scan of a :class:`SignalMatrix` (internal)."""

    def __init__(
        self,
        matrix,
        k_values,
        models,
        metrics,
        suggested,
        reason,
        n_passes,
        sketch,
        starts,
        seed,
    ):
        self.matrix = matrix
        self.k_values = k_values
        self.models = models  # k -> dict(components, loadings, n_iter, residual, ...)
        self.metrics = metrics
        self.suggested_k = suggested
        self.reason = reason
        self.n_passes = n_passes
        self.sketch = sketch
        self.starts = starts  # k -> (W, H) after HALS on the sketch
        self.seed = seed

    def fit(self, k, estimator, operand):
        """Fit ``estimator`` with ``n_components=k`` from the scan's factors.

        HALS continues on the scan's sketch from the scan's factors for k, with
        the estimator's own ``tol`` and ``max_iter``; then the refinement and
        the final projection (their own passes). Returns the loadings.
        """
        estimator.n_features_in_ = operand.shape[1]
        loadings = estimator._fit_sketch(
            operand, self.sketch, k, np.random.RandomState(self.seed), self.starts[k]
        )
        # the scan's passes instead of its sketch's (the fit's own: refinement,
        # projection and any exact-residual pass are counted by the fit)
        estimator.n_passes_ += self.n_passes - self.sketch.n_passes
        return loadings


def _warm_start(sketch, previous, k, mean, seed, svd):
    """Initial factors for k from the fit for k - 1 and one new NNDSVD pair.

    The new component is the k-th NNDSVD pair of the sketch (positive or
    negative part of the k-th singular pair, small random values where it is
    zero), the direction the k - 1 components leave unexplained first.
    """
    U, V = nndsvd_from_sketch(
        sketch.Q, sketch.B, k, "nndsvdar", mean, np.random.RandomState(seed), svd
    )
    new_w, new_h = (V[-1], U[:, -1]) if sketch.transposed else (U[:, -1], V[-1])
    W = np.column_stack([np.asarray(previous[0], np.float64), new_w])
    H = np.vstack([np.asarray(previous[1], np.float64), new_h])
    return W, H


def scan_matrix(
    matrix,
    operand,
    k_values,
    template,
    show_progressbar=None,
    noise=None,
    warm_start=True,
):
    """Scan ``k_values`` on one sketch of ``operand`` (see the module docstring).

    Parameters
    ----------
    matrix : SignalMatrix
        Shapes, masks and weights of the signal behind ``operand``.
    operand : NumpyOperand or DaskOperand
        The (weighted, masked) data that are factorized.
    k_values : list of int
    template : RandomizedNMF
        Options of the fits (its ``n_components`` is ignored).
    show_progressbar : bool or None
    noise : {'poisson', 'gaussian'} or None
        Noise model of the structure score (None: 'poisson'; for weighted
        data the Poisson expectation is that of the counts, weighted alike).
    warm_start : bool, default True
        Start the fit for k from the fit for k - 1 plus one new NNDSVD pair
        (when k - 1 was scanned), instead of from scratch.

    Returns
    -------
    _Scan
    """
    from tqdm.auto import tqdm

    if noise is None:
        noise = "poisson"
    if noise not in ("poisson", "gaussian"):  # before any pass over the data
        raise ValueError(f"`noise` must be 'poisson' or 'gaussian', got {noise!r}.")
    ks = _check_k_values(k_values, operand.shape)
    base = clone(template).set_params(n_components=ks[-1])
    base._check_params(operand.shape)
    if isinstance(base.init, str) and base.init == "custom":
        raise ValueError(
            "init='custom' needs starting factors for every k, which a k-scan "
            "does not take; choose another `init`."
        )
    rng = check_random_state(base.random_state)
    size = min(ks[-1] + base.oversample, min(operand.shape))
    sketch = qb_sketch(operand, size, base.n_power_iter, rng, check_data_stats)
    if not operand.sum_squares > 0:
        raise ValueError(
            "The data are all zero (after masks): there is nothing to scan k on."
        )
    seed = int(rng.randint(2**31 - 1))
    m, n = operand.shape
    l1_W, l2_W, _, _ = base._regularization(m, n)
    if show_progressbar is None:
        show_progressbar = matrix.progressbar if matrix is not None else False
    fits, starts = {}, {}
    mean = sketch.stats.total / max(m * n, 1)
    svd = sketch_svd(sketch.Q, sketch.B) if warm_start else None
    for k in tqdm(ks, desc="k-scan", disable=not show_progressbar, leave=False):
        estimator = clone(template).set_params(n_components=k)
        custom = None
        if warm_start and k - 1 in fits:
            custom = _warm_start(sketch, fits[k - 1], k, mean, seed, svd)
        W, H, n_iter = estimator._factorize_sketch(
            operand, sketch, k, np.random.RandomState(seed), custom
        )
        fits[k] = [W, H, n_iter]
        starts[k] = (W, H)
    for i in range(base.n_refine_iter):
        if i > 0:  # new loadings first (one pass for all k)
            parts, _, _ = operand.scan_pass([fits[k][1] for k in ks], l1_W, l2_W)
            for k, part in zip(ks, parts, strict=False):
                fits[k][0] = part[0]
        stacked = np.concatenate(
            [np.asarray(fits[k][0], np.float64) for k in ks], axis=1
        )
        WtX = operand.rmatmul(stacked.astype(operand.dtype)).T
        start = 0
        for k in ks:
            fits[k][1] = base._solve_components(
                fits[k][0], WtX[start : start + k], fits[k][1], operand.shape
            )
            start += k
    # loadings solved at the scale of the fit, where the penalties apply
    # (see RandomizedNMF._project), then carried to components summing to one
    components, scales = zip(*(split_scale(fits[k][1]) for k in ks), strict=True)
    parts, data_rows, data_cols = operand.scan_pass(
        [np.asarray(fits[k][1], dtype=np.float64) for k in ks],
        l1_W,
        l2_W,
        expected=noise == "poisson",
    )
    parts = [
        ((W * d).astype(W.dtype), *rest)
        for (W, *rest), d in zip(parts, scales, strict=True)
    ]
    n_passes = sketch.n_passes + max(1, 2 * base.n_refine_iter)
    models, metrics = {}, {name: [] for name in METRICS}
    for k, H, (W, row_abs, col_abs, squares, row_expected) in zip(
        ks, components, parts, strict=False
    ):
        models[k] = dict(
            components=H,
            loadings=W,
            n_iter=fits[k][2],
            residual=squares,
            row_abs=row_abs,
            col_abs=col_abs,
            row_expected=row_expected,
        )
        metrics["mean_abs_error"].append(row_abs.sum() / (m * n))
        metrics["relative_error"].append(np.sqrt(squares / operand.sum_squares))
    _image_and_structure_metrics(matrix, ks, models, data_rows, data_cols, metrics)
    metrics = {
        name: np.asarray(values, dtype=np.float64) for name, values in metrics.items()
    }
    suggested, rule = suggest_k(ks, metrics["mean_abs_error"])
    if noise == "poisson":
        noise_ratio = [
            models[k]["row_abs"].sum() / max(models[k]["row_expected"].sum(), 1e-300)
            for k in ks
        ]
        suggested, rule = correct_for_structure(
            ks, suggested, rule, metrics["spatial_structure"], noise_ratio
        )
        suggested, rule = stop_at_noise_level(
            ks, suggested, rule, metrics["spatial_structure"], noise_ratio
        )
        suggested, rule = rise_to_noise_level(ks, suggested, rule, noise_ratio)
        rule += _not_like_counts(ks, noise_ratio)
    shown = [k for k in ks if abs(k - suggested) <= 1]
    values = ", ".join(
        f"e({k})={metrics['mean_abs_error'][ks.index(k)]:.4g}" for k in shown
    )
    reason = (
        f"k-scan over k = {ks[0]}..{ks[-1]} on one sketch ({n_passes} passes over the "
        f"data): suggested k = {suggested}, {rule} ({values})"
    )
    return _Scan(
        matrix, ks, models, metrics, suggested, reason, n_passes, sketch, starts, seed
    )


def _image_and_structure_metrics(matrix, ks, models, data_rows, data_cols, metrics):
    m, n = len(data_rows), len(data_cols)
    nav_shape = tuple(matrix.signal.axes_manager.navigation_shape[::-1])
    sig_shape = tuple(matrix.signal.axes_manager.signal_shape[::-1])

    def full(values, keep, size, fill):
        if keep is None:
            return values
        out = np.full(size, fill, dtype=np.float64)
        out[keep] = values
        return out

    data_pattern = full(data_cols / m, matrix.keep_cols, matrix.n_cols, 0.0)
    data_image = full(data_rows, matrix.keep_rows, matrix.n_rows, 0.0)
    # the fitted pixels and positions (flat masks in the data array's order)
    sig_mask, nav_mask = matrix.sig_mask, matrix.nav_mask
    keep_pattern = None if sig_mask is None else ~sig_mask.reshape(sig_shape)
    keep_image = None if nav_mask is None else ~nav_mask.reshape(nav_shape)
    for k in ks:
        model = models[k]
        W = np.asarray(model["loadings"], np.float64)
        H = np.asarray(model["components"], np.float64)
        pattern = full(W.sum(axis=0) / m @ H, matrix.keep_cols, matrix.n_cols, 0.0)
        image = full(W @ H.sum(axis=1), matrix.keep_rows, matrix.n_rows, 0.0)
        ssim, psnr = _image_metrics(
            data_pattern.reshape(sig_shape), pattern.reshape(sig_shape), keep_pattern
        )
        metrics["ssim_mean_pattern"].append(ssim)
        metrics["psnr_mean_pattern"].append(psnr)
        ssim, psnr = _image_metrics(
            data_image.reshape(nav_shape), image.reshape(nav_shape), keep_image
        )
        metrics["ssim_navigation_image"].append(ssim)
        metrics["psnr_navigation_image"].append(psnr)
        r_real = full(model["row_abs"] / n, matrix.keep_rows, matrix.n_rows, np.nan)
        model["r_real"] = r_real
        model["r_reciprocal"] = full(
            model["col_abs"] / m, matrix.keep_cols, matrix.n_cols, np.nan
        )
        score = r_real
        if model["row_expected"] is not None:  # relative to the Poisson noise
            ratio = noise_scaled(model["row_abs"], model["row_expected"])
            score = full(ratio, matrix.keep_rows, matrix.n_rows, np.nan)
        metrics["spatial_structure"].append(morans_i(score.reshape(nav_shape)))


class KScanResult:
    """Curves, residual maps and models of a k-scan.

    Attributes
    ----------
    k_values : numpy.ndarray of int
    suggested_k : int
    reason : str
        How ``suggested_k`` was chosen.
    mean_abs_error, relative_error, ssim_mean_pattern, psnr_mean_pattern,
    ssim_navigation_image, psnr_navigation_image, spatial_structure : numpy.ndarray
        One value per k (see :mod:`hyperspy_rnmf.kscan`).
    r_real : BaseSignal
        Real-space residual maps: navigation axis k, signal axes the
        navigation axes of the data (calibration kept).
    r_reciprocal : BaseSignal
        Reciprocal-space residual maps: navigation axis k, signal axes those
        of the data.
    parameters : dict
        Options of the scan.
    """

    def __init__(
        self,
        k_values,
        metrics,
        suggested_k,
        reason,
        r_real,
        r_reciprocal,
        parameters,
        models=None,
    ):
        self.k_values = np.asarray(k_values, dtype=int)
        for name in METRICS:
            setattr(self, name, np.asarray(metrics[name], dtype=np.float64))
        self.suggested_k = int(suggested_k)
        self.reason = reason
        self.r_real = r_real
        self.r_reciprocal = r_reciprocal
        self.parameters = dict(parameters)
        self._models = models or {}

    def __repr__(self):
        return (
            f"<KScanResult k={self.k_values[0]}..{self.k_values[-1]}, "
            f"suggested k={self.suggested_k}>"
        )

    def metrics_table(self):
        """The curves as a text table (one row per k)."""
        width = len(str(max(self.k_values))) + 1  # k and the mark of the suggestion
        header = f"{'k':<{width}}" + " ".join(f"{name:>22}" for name in METRICS)
        rows = [header]
        for i, k in enumerate(self.k_values):
            mark = "*" if k == self.suggested_k else ""
            rows.append(
                f"{str(k) + mark:<{width}}"
                + " ".join(f"{getattr(self, n)[i]:22.6g}" for n in METRICS)
            )
        return "\n".join(rows)

    def set_decomposition(self, signal, k=None):
        """Store the fit for ``k`` (default: the suggested k) in the learning results.

        Only for the signal (and masks) that were scanned, in the same session.
        """
        if k is None:
            k = self.suggested_k
        elif not isinstance(k, numbers.Integral) or isinstance(k, (bool, np.bool_)):
            raise ValueError(f"`k` must be an integer (a scanned k), got {k!r}.")
        k = int(k)
        if k not in self._models:
            raise ValueError(
                f"`k={k}` has no stored model; scanned k: {self.k_values.tolist()}"
                " (models are not saved to files)."
            )
        matrix, model = self._models[k]
        if signal is not matrix.signal:
            raise ValueError("`signal` must be the signal that was scanned.")
        factors, loadings = matrix.to_learning_results(
            model["components"].T.astype(model["loadings"].dtype),
            model["loadings"],
            matrix.keep_rows,
            matrix.keep_cols,
        )
        matrix.store(factors, loadings, k)

    def plot(self):
        """Plot the curves with the suggested k marked; returns the figure."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        ks = self.k_values
        ax = axes[0]
        ax.plot(ks, self.mean_abs_error, "o-", label="e(k), mean |residual|")
        ax.set_ylabel("e(k)")
        twin = ax.twinx()
        twin.plot(ks, self.relative_error, "s--", color="C1", label="relative error")
        twin.set_ylabel("relative Frobenius error")
        ax.legend(loc="upper right", fontsize="small")
        ax = axes[1]
        ax.plot(ks, self.ssim_mean_pattern, "o-", label="SSIM, mean pattern")
        ax.plot(ks, self.ssim_navigation_image, "s-", label="SSIM, navigation image")
        ax.set_ylabel("SSIM")
        twin = axes[1].twinx()
        twin.plot(
            ks, self.psnr_mean_pattern, "o:", color="C2", label="PSNR, mean pattern"
        )
        twin.plot(
            ks,
            self.psnr_navigation_image,
            "s:",
            color="C3",
            label="PSNR, navigation image",
        )
        twin.set_ylabel("PSNR (dB)")
        ax.legend(loc="lower right", fontsize="small")
        ax = axes[2]
        ax.plot(ks, self.spatial_structure, "o-", color="C4")
        ax.set_ylabel("Moran's I of r_real")
        for ax in axes:
            ax.axvline(self.suggested_k, color="k", ls="--", lw=1)
            ax.set_xlabel("k")
        fig.suptitle(
            f"suggested k = {self.suggested_k}: {self.reason}", fontsize="small"
        )
        fig.tight_layout()
        return fig

    def to_signal(self):
        """The curves as a Signal1D (navigation: metric, signal: k), all in metadata."""
        import hyperspy.api as hs

        data = np.stack([getattr(self, name) for name in METRICS])
        axes = [
            {"name": "metric", "size": len(METRICS), "navigate": True},
            _k_axis(self.k_values, navigate=False),
        ]
        s = hs.signals.Signal1D(data, axes=axes)
        s.metadata.General.title = "k-scan"
        s.metadata.set_item("KScan.metrics", list(METRICS))
        s.metadata.set_item("KScan.k_values", self.k_values)
        s.metadata.set_item("KScan.suggested_k", self.suggested_k)
        s.metadata.set_item("KScan.reason", self.reason)
        s.metadata.set_item("KScan.parameters", self.parameters)
        s.metadata.set_item("KScan.r_real", self.r_real)
        s.metadata.set_item("KScan.r_reciprocal", self.r_reciprocal)
        return s

    def save(self, filename, **kwargs):
        """Save curves, residual maps and parameters (e.g. ``.hspy``, ``.zspy``)."""
        self.to_signal().save(filename, **kwargs)

    @classmethod
    def load(cls, filename):
        """Read a result written by :meth:`save` (models are not stored)."""
        import hyperspy.api as hs

        s = hs.load(filename)
        md = s.metadata.get_item("KScan")
        if md is None:
            raise ValueError(
                f"{filename!r} is not a k-scan result (no metadata.KScan): write "
                "one with KScanResult.save."
            )
        metrics = dict(zip(md.metrics, np.asarray(s.data), strict=False))
        parameters = (
            md.parameters.as_dictionary()
            if hasattr(md.parameters, "as_dictionary")
            else dict(md.parameters)
        )
        return cls(
            md.k_values,
            metrics,
            md.suggested_k,
            md.reason,
            _signal_class(md.r_real),
            _signal_class(md.r_reciprocal),
            parameters,
        )


def _signal_class(s):
    """A stack of maps read back from metadata (a BaseSignal) as Signal1D/2D."""
    n = s.axes_manager.signal_dimension
    if type(s).__name__ == "BaseSignal" and n in (1, 2):
        return s.transpose(signal_axes=n)
    return s


def _k_axis(ks, navigate):
    """Axis description for the k values (uniform when consecutive)."""
    ks = np.asarray(ks, dtype=float)
    if len(ks) > 1 and np.all(np.diff(ks) == 1):
        return {
            "name": "k",
            "size": len(ks),
            "offset": ks[0],
            "scale": 1.0,
            "navigate": navigate,
        }
    if len(ks) == 1:
        return {
            "name": "k",
            "size": 1,
            "offset": ks[0],
            "scale": 1.0,
            "navigate": navigate,
        }
    return {"name": "k", "axis": ks, "navigate": navigate}


def _maps_signal(values, ks, source_axes, title):
    """A stack of maps (navigation k, signal = ``source_axes``) as a signal.

    ``inav[i]`` is the map of the i-th k, also for a single k.
    """
    import hyperspy.api as hs

    shape = tuple(ax.size for ax in source_axes[::-1])
    stack = np.stack([np.reshape(v, shape) for v in values])
    axes = [_k_axis(ks, navigate=True)] + [
        {"size": size, "navigate": False} for size in shape
    ]
    s = hs.signals.BaseSignal(stack, axes=axes)
    if len(shape) in (1, 2):
        s = s.transpose(signal_axes=len(shape))  # Signal1D / Signal2D: plots
    copy_axes(s.axes_manager.signal_axes, source_axes)
    s.metadata.General.title = title
    return s


def scan_components(
    data,
    k_values=None,
    *,
    navigation_mask=None,
    signal_mask=None,
    normalize_poissonian_noise=False,
    show_progressbar=None,
    noise=None,
    warm_start=True,
    **rnmf_options,
):
    """Scan the number of components k on one sketch and suggest one.

    Parameters
    ----------
    data : BaseSignal, numpy.ndarray or dask.array.Array
        A signal (eager or lazy), or a 2D array (samples x features).
    k_values : iterable of int, optional
        Default 1..12, capped at the smallest dimension of the data (k = 1
        anchors the elbow so that k = 2 can be suggested). Scanned in
        increasing order, each once (``[5, 3, 3]`` scans 3 and 5).
    navigation_mask, signal_mask, normalize_poissonian_noise
        As in ``s.decomposition("rnmf")``.
    show_progressbar : bool or None
        Progress bar over k (and over the passes on lazy data); None follows
        HyperSpy's preference.
    noise : {'poisson', 'gaussian'} or None
        Noise model of ``spatial_structure``: with 'poisson' (the default,
        None) Moran's I is computed on r_real divided by the |residual|
        expected from Poisson noise around the model, so that the varying
        intensity of the patterns does not count as structure; with
        ``normalize_poissonian_noise`` the expectation is that of the counts
        ``model * row weight * column weight``, divided by the same weights
        as the data. With 'gaussian' it is computed on r_real itself (data
        that are not counts).
    warm_start : bool, default True
        Start each k from the fit for k - 1 plus the k-th NNDSVD pair of the
        sketch: several times fewer iterations than independent starts, and
        the squared error decreases with k (e(k), a mean absolute residual,
        usually does too, but can rise at low counts). With False every k
        starts from its own NNDSVD initialisation, exactly as independent fits
        on the same sketch.
    **rnmf_options
        RandomizedNMF options (``oversample``, ``n_power_iter``, ``tol``,
        ``max_iter``, ``random_state``, ...). ``tol`` defaults to
        ``SCAN_TOL`` = 1e-3 here: the curves need about three digits, not
        converged fits.

    Returns
    -------
    KScanResult

    Examples
    --------
    >>> from hyperspy_rnmf.datasets import synthetic_4dstem
    >>> s, _ = synthetic_4dstem(3, (20, 16), (24, 24), random_state=0)
    >>> result = scan_components(s, range(2, 7), random_state=0)
    >>> result.suggested_k
    3
    """
    import hyperspy.api as hs

    from hyperspy_rnmf._signal_matrix import SignalMatrix
    from hyperspy_rnmf.decomposition import _make_estimator
    from hyperspy_rnmf.rnmf import is_dask_array

    if not hasattr(data, "axes_manager"):
        if is_dask_array(data):
            from hyperspy.signals import LazySignal1D

            if data.ndim != 2 or any(np.isnan(size) for size in data.shape):
                raise ValueError(
                    "`data` must be a signal or a 2D array with known chunk "
                    f"sizes, got a dask array of shape {data.shape} (for unknown "
                    "sizes, call data.compute_chunk_sizes() first)."
                )
            data = LazySignal1D(data)
        else:
            try:
                array = np.asarray(data)
            except (TypeError, ValueError):  # ragged sequences, tuples of objects
                array = None
            if array is None or array.dtype == object:
                raise TypeError(
                    "`data` must be a signal or a 2D array, got "
                    f"{type(data).__name__} that is neither."
                )
            if array.ndim != 2:
                raise ValueError(
                    "`data` must be a signal or a 2D array, got "
                    f"{type(data).__name__} of shape {array.shape}."
                )
            data = hs.signals.Signal1D(array)
    rnmf_options.setdefault("tol", SCAN_TOL)
    template, _ = _make_estimator(
        "rnmf", None, rnmf_options, also=" and the parameters of scan_components"
    )
    matrix = SignalMatrix(
        data, navigation_mask, signal_mask, normalize_poissonian_noise, show_progressbar
    )
    operand = matrix.fit_operand()
    ks = (
        default_k_values(operand.shape)
        if k_values is None
        else _check_k_values(k_values, operand.shape)
    )
    scan = scan_matrix(
        matrix, operand, ks, template, show_progressbar, noise, warm_start
    )
    am = data.axes_manager
    r_real = _maps_signal(
        [scan.models[k]["r_real"] for k in scan.k_values],
        scan.k_values,
        am.navigation_axes,
        "r_real: mean |residual| per probe position",
    )
    r_reciprocal = _maps_signal(
        [scan.models[k]["r_reciprocal"] for k in scan.k_values],
        scan.k_values,
        am.signal_axes,
        "r_reciprocal: mean |residual| per pixel",
    )
    parameters = dict(
        template.get_params(),
        k_values=list(scan.k_values),
        normalize_poissonian_noise=matrix.poisson,
        n_passes=scan.n_passes,
    )
    parameters.pop("n_components", None)
    parameters["random_state"] = repr(parameters["random_state"])
    models = {k: (matrix, scan.models[k]) for k in scan.k_values}
    _logger.info(scan.reason)
    return KScanResult(
        scan.k_values,
        scan.metrics,
        scan.suggested_k,
        scan.reason,
        r_real,
        r_reciprocal,
        parameters,
        models,
    )

"""Compare segmentations: one-to-one matching of segments by IoU.

:func:`compare_segmentations` matches the segments of two segmentations (or a
segmentation and ground-truth masks) one to one, maximising the total
intersection over union (Hungarian assignment); pairs below ``min_iou`` do
not count as matches. :func:`compare_routes` runs the NMF and the VDF route on
one dataset and tabulates which segments match and which each route missed.
"""

import numpy as np

from hyperspy_rnmf.segmentation._common import check_real


def _masks_of(value, name):
    from hyperspy_rnmf.segmentation._result import SegmentationResult

    if isinstance(value, SegmentationResult):
        return np.asarray(value.masks.data, dtype=bool)
    from hyperspy.signal import BaseSignal

    if isinstance(value, BaseSignal):
        value = value.data
    masks = np.asarray(value)
    if masks.ndim != 3:
        raise ValueError(
            f"`{name}` must be a SegmentationResult or masks of shape (n, rows, "
            f"columns), got shape {masks.shape}."
        )
    return masks.astype(bool)


def iou_matrix(masks_a, masks_b):
    """Intersection over union of every mask of ``a`` with every mask of ``b``.

    Parameters
    ----------
    masks_a : array-like of bool, shape (n, rows, columns)
    masks_b : array-like of bool, shape (m, rows, columns)

    Returns
    -------
    numpy.ndarray, shape (n, m)

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 4, 4), bool); a[0, :2] = True
    >>> b = np.zeros((1, 4, 4), bool); b[0, :1] = True
    >>> iou_matrix(a, b).tolist()
    [[0.5]]
    """
    a = np.asarray(masks_a, dtype=bool)
    b = np.asarray(masks_b, dtype=bool)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(
            f"The masks (shapes {a.shape[1:]} and {b.shape[1:]}) must cover the "
            "same scan."
        )
    fa = a.reshape(len(a), -1).astype(np.float64)
    fb = b.reshape(len(b), -1).astype(np.float64)
    inter = fa @ fb.T
    union = fa.sum(axis=1)[:, None] + fb.sum(axis=1)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


class SegmentationComparison:
    """One-to-one matches between segmentations ``a`` and ``b``.

    Attributes
    ----------
    iou : numpy.ndarray (n_a, n_b)
        IoU of every pair of segments.
    matches : list of (int, int, float)
        Matched pairs (segment of a, segment of b, IoU), IoU >= ``min_iou``.
    only_a, only_b : list of int
        Segments of a (of b) matched to nothing: what the other one missed.
    names : (str, str)
    """

    def __init__(self, iou, matches, only_a, only_b, names, min_iou):
        self.iou = iou
        self.matches = matches
        self.only_a = only_a
        self.only_b = only_b
        self.names = names
        self.min_iou = min_iou

    def table(self):
        """Rows (segment of a or None, segment of b or None, IoU or None)."""
        rows = [(i, j, v) for i, j, v in self.matches]
        rows += [(i, None, None) for i in self.only_a]
        rows += [(None, j, None) for j in self.only_b]
        return rows

    def __str__(self):
        a, b = self.names
        width = max(len(a), len(b), 9)
        lines = [
            f"{a:>{width}} | {b:>{width}} | IoU",
            f"{'-' * width}-+-{'-' * width}-+------",
        ]
        for i, j, v in self.table():
            left = "missed" if i is None else str(i)
            right = "missed" if j is None else str(j)
            value = "" if v is None else f"{v:.3f}"
            lines.append(f"{left:>{width}} | {right:>{width}} | {value}")
        lines.append(
            f"{len(self.matches)} matched (IoU >= {self.min_iou}), "
            f"{len(self.only_a)} only in {a}, {len(self.only_b)} only in {b}"
        )
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"<SegmentationComparison: {len(self.matches)} matched, "
            f"{len(self.only_a)} only in {self.names[0]}, {len(self.only_b)} only "
            f"in {self.names[1]}>"
        )


def compare_segmentations(a, b, *, min_iou=0.5, names=("a", "b")):
    """Match the segments of ``a`` and ``b`` one to one by IoU.

    Parameters
    ----------
    a, b : SegmentationResult or array-like of bool (n, rows, columns)
        Two segmentations of one scan, or a segmentation and ground-truth
        masks.
    min_iou : float in (0, 1], default 0.5
        Pairs matched with a lower IoU count as unmatched.
    names : (str, str)
        Labels of ``a`` and ``b`` in the table.

    Returns
    -------
    SegmentationComparison
        ``print(comparison)`` shows the table.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((2, 4, 4), bool); a[0, :2] = True; a[1, 3] = True
    >>> b = a[:1].copy()
    >>> c = compare_segmentations(a, b)
    >>> c.matches, c.only_a, c.only_b
    ([(0, 0, 1.0)], [1], [])
    """
    from scipy.optimize import linear_sum_assignment

    min_iou = check_real(min_iou, "min_iou", 0, 1, low_open=True)
    ma = _masks_of(a, "a")
    mb = _masks_of(b, "b")
    iou = iou_matrix(ma, mb)
    matches = []
    if iou.size:
        rows, cols = linear_sum_assignment(-iou)
        matches = sorted(
            (int(i), int(j), float(iou[i, j]))
            for i, j in zip(rows, cols, strict=True)
            if iou[i, j] >= min_iou
        )
    used_a = {i for i, _, _ in matches}
    used_b = {j for _, j, _ in matches}
    only_a = [i for i in range(len(ma)) if i not in used_a]
    only_b = [j for j in range(len(mb)) if j not in used_b]
    return SegmentationComparison(iou, matches, only_a, only_b, tuple(names), min_iou)


def compare_routes(signal, *, nmf=None, vdf=None, min_iou=0.5):
    """Run both segmentation routes on one dataset and compare them.

    Parameters
    ----------
    signal : hyperspy signal
        4D-STEM data with decomposition results (for the NMF route).
    nmf, vdf : dict, optional
        Keyword arguments of :func:`segment_decomposition` and
        :func:`segment_vdf`.
    min_iou : float, default 0.5

    Returns
    -------
    comparison : SegmentationComparison
        ``a`` = NMF route, ``b`` = VDF route.
    nmf_result, vdf_result : SegmentationResult
    """
    from hyperspy_rnmf.segmentation.nmf_route import segment_decomposition
    from hyperspy_rnmf.segmentation.vdf_route import segment_vdf

    check_real(min_iou, "min_iou", 0, 1, low_open=True)  # before both routes run
    nmf_result = segment_decomposition(signal, **(nmf or {}))
    vdf_result = segment_vdf(signal, **(vdf or {}))
    comparison = compare_segmentations(
        nmf_result, vdf_result, min_iou=min_iou, names=("NMF route", "VDF route")
    )
    return comparison, nmf_result, vdf_result

"""One entry point for every segmentation method: ``make_segmenter(method, n_clusters, **p)``.

Each method is a scikit-learn-style estimator (parameters in ``__init__``, ``fit_predict(X)``
returns one int64 label per row of the ``(N, D)`` node features, in temporal order; fitted
``labels_``, ``n_clusters_`` (the K actually used) and ``note_`` (why it differs from the
request, or ``""``); see :mod:`steploc.segment.base`). Its parameters and their defaults are
defined once, in ``schemas/segmenters.schema.yaml``.

| method   | estimator                                           | cost at N rows, D dims         |
|----------|-----------------------------------------------------|--------------------------------|
| spectral | :class:`~steploc.segment.spectral.SpectralStepSegmenter` | Θ(m²) memory, m ≤ reduce_above |
| kmeans   | :class:`~steploc.segment.kmeans.KMeansStepSegmenter`     | O(m·D·K) per iteration, m ≤ reduce_above |
| twfinch  | :class:`~steploc.segment.twfinch.TWFinchSegmenter`       | Θ(N²·D) time, O(N·D) memory    |
| abd      | :class:`~steploc.segment.abd.ABDSegmenter`               | O(N·D) + O(M²) merging         |
| kcpd     | :class:`~steploc.segment.kcpd.KernelCPDSegmenter`        | O(m²·D), m ≤ reduce_above      |
"""

from __future__ import annotations

from typing import Any

from steploc.schema import segmenter_defaults, segmenter_parameters
from steploc.segment.base import StepSegmenter


def estimator_class(method: str) -> type[StepSegmenter]:
    """The estimator class of ``method`` (a ``ValueError`` for an unknown one)."""
    if method == "spectral":
        from steploc.segment.spectral import SpectralStepSegmenter

        return SpectralStepSegmenter
    if method == "kmeans":
        from steploc.segment.kmeans import KMeansStepSegmenter

        return KMeansStepSegmenter
    if method == "twfinch":
        from steploc.segment.twfinch import TWFinchSegmenter

        return TWFinchSegmenter
    if method == "abd":
        from steploc.segment.abd import ABDSegmenter

        return ABDSegmenter
    if method == "kcpd":
        from steploc.segment.kcpd import KernelCPDSegmenter

        return KernelCPDSegmenter
    raise ValueError(f"unknown segmentation method {method!r} "
                     f"(known: spectral, kmeans, twfinch, abd, kcpd)")


def make_segmenter(method: str, n_clusters: int, *, memory_limit_mb: float | None = None,
                   **params: Any) -> StepSegmenter:
    """The estimator of ``method`` with ``n_clusters`` and ``params`` (the others default to
    the schema). A parameter the method does not take is a ``ValueError`` naming it.

    ``memory_limit_mb`` is not a method parameter: the workflow passes the job's ``mem_mb``.
    ``None`` keeps the estimator's default (``x-estimator-options`` in the schema, 4000);
    ``float("inf")`` disables the check. ``fit`` raises
    :class:`~steploc.segment.memory.SegmenterTooLarge` before allocating when the input
    would need more.
    """
    cls = estimator_class(method)
    known = segmenter_parameters(method)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"method {method!r} takes no parameter(s) {unknown} "
                         f"(it takes: {', '.join(sorted(known)) or 'none'})")
    options = {} if memory_limit_mb is None else {"memory_limit_mb": memory_limit_mb}
    return cls(n_clusters=n_clusters, **{**segmenter_defaults(method), **params}, **options)

"""Step segmentation of one video's node features: clustering, smoothing, segments.

``make_segmenter(method, K, **params)`` builds any segmenter (spectral, kmeans, twfinch, abd,
kcpd); see :mod:`steploc.segment.factory`. The estimator classes are imported lazily, so
optional dependencies (ruptures for kcpd) are only needed by the method that uses them.
"""

from steploc.segment.base import StepSegmenter, relabel_by_first_occurrence
from steploc.segment.factory import estimator_class, make_segmenter
from steploc.segment.memory import SegmenterTooLarge
from steploc.segment.reduce import expand_labels, reduce_nodes
from steploc.segment.segments import runs_to_segments
from steploc.segment.smoothing import median_smooth, mode_smooth, smooth_labels
from steploc.segment.spectral import SpectralStepSegmenter, cosine_affinity

__all__ = [
    "SegmenterTooLarge",
    "SpectralStepSegmenter",
    "StepSegmenter",
    "cosine_affinity",
    "estimator_class",
    "expand_labels",
    "make_segmenter",
    "median_smooth",
    "mode_smooth",
    "reduce_nodes",
    "relabel_by_first_occurrence",
    "runs_to_segments",
    "smooth_labels",
]

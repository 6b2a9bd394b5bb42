"""Step segmentation of one video's node features: clustering, smoothing, segments."""

from steploc.segment.segments import Segments, runs_to_segments
from steploc.segment.smoothing import median_smooth, mode_smooth, smooth_labels
from steploc.segment.spectral import SpectralStepSegmenter, cosine_affinity

__all__ = [
    "Segments",
    "SpectralStepSegmenter",
    "cosine_affinity",
    "median_smooth",
    "mode_smooth",
    "runs_to_segments",
    "smooth_labels",
]

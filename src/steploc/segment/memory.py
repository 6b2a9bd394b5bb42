"""Memory budget of one segmenter fit: refuse before allocating instead of being OOM-killed.

Every estimator has ``estimated_memory_bytes(n_samples, n_features)``: an upper estimate of
the arrays its ``fit`` allocates (the input copy included, the interpreter's own few hundred
MB not). ``fit`` compares it with ``memory_limit_mb`` and raises :class:`SegmenterTooLarge`
before touching the data when it does not fit.
"""

from __future__ import annotations

#: What to do about a too large input, whatever the method.
GENERAL_FIX = ("cluster fewer rows: a deeper hierarchy (models.<name>.depth), "
               "clustering.<name>.reduce_above (contiguous rows averaged first, where the "
               "method has it), another method, or more memory (resources.segment.mem_mb)")

MIB = 1 << 20

#: MiB of a segment job that are not the fit's: the interpreter with numpy, scikit-learn,
#: ruptures, pandas and pyarrow imported (250 MiB measured) plus the shard's tables.
JOB_ALLOWANCE_MB = 512


def fit_budget_mb(job_mem_mb: float) -> float:
    """The memory a fit may use inside a job of ``job_mem_mb`` (its ``mem_mb`` resource)."""
    return max(float(job_mem_mb) - JOB_ALLOWANCE_MB, float(job_mem_mb) / 2)


def format_bytes(n_bytes: float) -> str:
    """``1536 MiB`` -> ``"1.5 GiB"``; binary units, one decimal."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class SegmenterTooLarge(ValueError):
    """A segmenter refused an input whose fit would need more memory than allowed.

    Attributes: ``method``, ``n`` (rows), ``n_features``, ``needed_bytes``, ``limit_bytes`` and
    ``fix`` (what to change). The message names all of them; the caller adds the video id.
    """

    def __init__(self, method: str, n: int, n_features: int, needed_bytes: int,
                 limit_bytes: int, fix: str):
        self.method = method
        self.n = int(n)
        self.n_features = int(n_features)
        self.needed_bytes = int(needed_bytes)
        self.limit_bytes = int(limit_bytes)
        self.fix = fix
        super().__init__(
            f"segmenter {method!r} refuses N={self.n} rows x D={self.n_features}: it would need "
            f"about {format_bytes(self.needed_bytes)} ({self.needed_bytes} bytes), more than "
            f"its memory limit of {format_bytes(self.limit_bytes)} (memory_limit_mb="
            f"{self.limit_bytes / MIB:g}). Fix: {fix}")


def check_memory(method: str, n: int, n_features: int, needed_bytes: int,
                 memory_limit_mb: float | None, fix: str) -> None:
    """Raise :class:`SegmenterTooLarge` when ``needed_bytes`` exceeds ``memory_limit_mb``
    (``None`` or infinity: no limit)."""
    if memory_limit_mb is None or float(memory_limit_mb) == float("inf"):
        return
    limit = int(float(memory_limit_mb) * MIB)
    if needed_bytes > limit:
        raise SegmenterTooLarge(method, n, n_features, needed_bytes, limit, fix)

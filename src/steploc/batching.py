"""Stable assignment of videos to shards for batched jobs.

A video's shard depends only on its id and the shard count (CRC-32 of the id modulo the count),
so adding a video to the dataset reruns only the shard it lands in.
"""

from __future__ import annotations

import zlib


def shard_of(video_id: str, n_shards: int) -> int:
    return zlib.crc32(video_id.encode()) % n_shards


def assign_shards(video_ids: list[str], n_shards: int) -> dict[str, list[str]]:
    """``{shard_name: [video ids]}``: ``n_shards > 0`` hashed shards ``shard0``, ``shard1``, ...
    (empty ones omitted); with ``0`` every video is its own shard, named by its id."""
    if n_shards <= 0:
        return {vid: [vid] for vid in sorted(video_ids)}
    width = len(str(n_shards - 1))
    shards: dict[str, list[str]] = {}
    for vid in sorted(video_ids):
        shards.setdefault(f"shard{shard_of(vid, n_shards):0{width}d}", []).append(vid)
    return dict(sorted(shards.items()))

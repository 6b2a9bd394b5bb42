"""Node bookkeeping for a batch of 1-D temporal sequences at one depth of the hierarchy.

Several videos are concatenated into flat node arrays (``video`` sorted, ``index`` restarting at 0
for each video, docs/hiero.md §1.2; bare ``§x`` below refer to that file too). Everything else
in the package works on these flat arrays, so a batch of videos runs through the dense layers as
one matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Level:
    """The nodes of one depth: ``n`` nodes of ``V`` videos, in (video, index) order."""

    depth: int
    video: Tensor  # (n,) int64: slot of the node's video in the batch
    index: Tensor  # (n,) int64: node index inside its video, 0..counts[video]-1
    pos: Tensor  # (n,) float32: anchor position (hiero.md §1.7: pos_d[j] = pos_in[j * 2**d])
    counts: Tensor  # (V,) int64: nodes per video
    offsets: Tensor  # (V,) int64: flat index of each video's first node

    @classmethod
    def from_positions(cls, positions: list[Tensor]) -> Level:
        """Depth-0 layout for videos whose per-node positions are given (one 1-D tensor each)."""
        device = positions[0].device
        counts = torch.tensor([p.numel() for p in positions], dtype=torch.long, device=device)
        video = torch.repeat_interleave(torch.arange(len(positions), device=device), counts)
        offsets = torch.cumsum(counts, 0) - counts
        index = torch.arange(video.numel(), device=device) - offsets[video]
        pos = torch.cat(positions).to(torch.float32)
        return cls(0, video, index, pos, counts, offsets)

    @property
    def num_nodes(self) -> int:
        return self.video.numel()

    @property
    def num_videos(self) -> int:
        return self.counts.numel()

    def last_index(self) -> Tensor:
        """(n,) largest node index of each node's video."""
        return (self.counts - 1)[self.video]

    def kept_by_pooling(self) -> Tensor:
        """(n_coarse,) flat ids of the nodes that survive temporal pooling: even indices (§1.7.2)."""
        return torch.nonzero(self.index % 2 == 0).squeeze(1)

    def coarsen(self) -> Level:
        """The next depth: even-index nodes keep their ``pos``, indices are halved, ceil(n/2) nodes."""
        kept = self.kept_by_pooling()
        counts = (self.counts + 1) // 2
        return Level(
            depth=self.depth + 1,
            video=self.video[kept],
            index=self.index[kept] // 2,
            pos=self.pos[kept],
            counts=counts,
            offsets=torch.cumsum(counts, 0) - counts,
        )

    def split(self, values: Tensor) -> list[Tensor]:
        """Cut a per-node tensor back into one tensor per video."""
        return list(torch.split(values, self.counts.tolist()))

"""The trainable heads of the reference ``HiEROTask`` (``models/tasks/hiero.py``), without the
text encoder: ``projector`` on the decoder output and ``text_proj`` on the narration vectors.

State-dict keys are the reference's: ``projector.net.{1,2,4}.{weight,bias}`` and
``text_proj.{0,2}.{weight,bias}``. The frozen DistilBERT (``text_model.*``) is not a module here;
:mod:`steploc.hiero.training.checkpoint` can copy its weights into the official checkpoint.
"""

from __future__ import annotations

from torch import Tensor, nn


class Projection(nn.Module):
    """``Dropout -> Linear -> LayerNorm -> ReLU -> Linear`` (keys ``net.1``, ``net.2``,
    ``net.4``)."""

    def __init__(self, input_size: int, features_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(input_size, features_size),
            nn.LayerNorm(features_size),
            nn.ReLU(),
            nn.Linear(features_size, features_size),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class TaskHeads(nn.Module):
    """``projector`` (hidden -> features) and ``text_proj`` (text -> features -> features)."""

    def __init__(
        self, hidden_size: int, features_size: int, text_size: int = 768, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.projector = Projection(hidden_size, features_size, dropout)
        self.text_proj = nn.Sequential(
            nn.Linear(text_size, features_size), nn.ReLU(), nn.Linear(features_size, features_size)
        )

    def forward(self, node_features: Tensor) -> Tensor:
        return self.projector(node_features)

    def encode_text(self, text_vectors: Tensor) -> Tensor:
        """``text_proj`` of pre-computed (M, text_size) narration vectors."""
        return self.text_proj(text_vectors)

"""TDGC convolution and the stage block of the reference model (docs/hiero.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from .graphs import TemporalGraph

STAGE_NEGATIVE_SLOPE = 0.2  # LeakyReLU between and after the TDGC layers, and on lin_rel


class TDGC(MessagePassing):
    """Temporal distance gated convolution (docs/hiero.md, "TDGC").

    ``out_i = mean_j( h_j * g_ij * sign(p_j - p_i) ) + W_root x_i + bias`` with
    ``h_j = LeakyReLU_0.2(W_rel x_j + b_rel)`` and the gate ``g_ij = tanh(MLP(|p_j - p_i|))``,
    over the edges ``j -> i`` of ``edge_index``; ``edge_attr`` is each edge's signed distance
    ``p_j - p_i``. Messages from the future are added, from the past subtracted; sign-0 edges
    still count in the mean (PyG's mean aggregation; 0 for a node without edges). Parameter
    names and their order match the reference state dict.
    """

    def __init__(self, in_channels: int, out_channels: int, pos_hidden_channels: int) -> None:
        super().__init__(aggr="mean")
        self.bias = nn.Parameter(torch.zeros(1, out_channels))
        self.lin_rel = nn.Linear(in_channels, out_channels)
        self.lin_root = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_pos = nn.Sequential(
            nn.Linear(1, pos_hidden_channels),
            nn.LeakyReLU(),  # PyTorch's default slope 0.01, as in the reference
            nn.Linear(pos_hidden_channels, out_channels),
            nn.Tanh(),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The reference's initialisation: PyTorch defaults, except ``lin_rel`` = identity with
        zero bias and the extra ``bias`` = 0 (every message starts as the neighbour itself)."""
        super().reset_parameters()
        self.lin_root.reset_parameters()
        for layer in self.lin_pos:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        with torch.no_grad():
            self.lin_rel.weight.copy_(torch.eye(*self.lin_rel.weight.shape))
            self.lin_rel.bias.zero_()
            self.bias.zero_()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        # lin_root(x) + bias in one fused op; adding the mean message last differs from the
        # reference's (message + root) + bias only by float rounding
        out = torch.addmm(self.bias, x, self.lin_root.weight.t())
        if edge_index.shape[1] == 0:  # e.g. every encoder graph with index positions
            return out
        h = F.leaky_relu_(self.lin_rel(x), STAGE_NEGATIVE_SLOPE)
        # The gate depends on the edge only through |p_j - p_i|, which takes few distinct
        # values in these graphs: evaluate the MLP once per distinct distance.
        distances, distance_index = torch.unique(edge_attr.abs(), return_inverse=True)
        gate = self.lin_pos(distances.unsqueeze(1))[distance_index]
        signed_gate = gate * torch.sign(edge_attr).unsqueeze(1)
        messages = self.propagate(edge_index, h=h, signed_gate=signed_gate,
                                  size=(x.shape[0], x.shape[0]))
        return out.add_(messages)

    def message(self, h_j: Tensor, signed_gate: Tensor) -> Tensor:
        return h_j * signed_gate


class Stage(nn.Module):
    """One encoder or decoder stage: Dropout, then n_layers TDGC with LeakyReLU(0.2) between,
    LayerNorm and LeakyReLU(0.2) after the last.

    Children are named ``module_0`` ... like the reference's PyG ``Sequential`` so that the state
    dict keys match (``module_1``, ``module_3``, ``module_5`` are the TDGC layers, ``module_6`` the
    LayerNorm for 3 layers).
    """

    def __init__(self, hidden_size: int, n_layers: int, pos_hidden_channels: int, dropout: float) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Dropout(dropout)]
        for layer in range(n_layers):
            blocks.append(TDGC(hidden_size, hidden_size, pos_hidden_channels))
            if layer < n_layers - 1:
                blocks.append(nn.LeakyReLU(STAGE_NEGATIVE_SLOPE))
        blocks += [nn.LayerNorm(hidden_size), nn.LeakyReLU(STAGE_NEGATIVE_SLOPE)]
        for i, block in enumerate(blocks):
            self.add_module(f"module_{i}", block)

    def forward(self, x: Tensor, graph: TemporalGraph) -> Tensor:
        for block in self.children():
            if isinstance(block, TDGC):
                x = block(x, graph.edge_index, graph.edge_attr)
            else:
                x = block(x)
        return x

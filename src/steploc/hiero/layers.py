"""TDGC convolution and the stage block of the reference model (spec §1.3-1.5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from .graphs import TemporalGraph

STAGE_NEGATIVE_SLOPE = 0.2  # LeakyReLU between and after the TDGC layers, and on lin_rel


class TDGC(MessagePassing):
    """Temporal distance gated convolution (§1.4).

    ``out_i = mean_j( h_j * g_ij * sign(p_j - p_i) ) + W_root x_i + bias`` with
    ``h_j = LeakyReLU_0.2(W_rel x_j + b_rel)`` and the gate ``g_ij = tanh(MLP(|p_j - p_i|))``.
    Messages from the future are added, from the past subtracted; sign-0 edges still count in
    the mean. Parameter names and their order match the reference state dict (§2).
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

    def forward(self, x: Tensor, graph: TemporalGraph) -> Tensor:
        # lin_root(x) + bias in one fused op; adding the mean message last differs from the
        # reference's (message + root) + bias only by float rounding
        out = torch.addmm(self.bias, x, self.lin_root.weight.t())
        if graph.num_edges == 0:  # e.g. every encoder graph with index positions (§0.1)
            return out
        h = F.leaky_relu_(self.lin_rel(x), STAGE_NEGATIVE_SLOPE)
        # one gate per distinct distance, signed per edge: (E, H)
        signed_gate = self.lin_pos(graph.distances)[graph.distance_index] * graph.sign.unsqueeze(1)
        messages = self.propagate(
            graph.edge_index, h=h, signed_gate=signed_gate, in_degree=graph.in_degree,
            size=(x.shape[0], x.shape[0]),
        )
        return out.add_(messages)

    def message(self, h_j: Tensor, signed_gate: Tensor) -> Tensor:
        return h_j * signed_gate

    def aggregate(self, inputs: Tensor, index: Tensor, dim_size: int, in_degree: Tensor) -> Tensor:
        """Mean over incoming edges (sign-0 edges count); 0 for nodes without any."""
        total = inputs.new_zeros(dim_size, inputs.shape[1]).index_add_(0, index, inputs)
        return total.div_(in_degree)


class Stage(nn.Module):
    """One encoder or decoder stage: Dropout, then n_layers TDGC with LeakyReLU(0.2) between,
    LayerNorm and LeakyReLU(0.2) after the last (§1.5).

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
            x = block(x, graph) if isinstance(block, TDGC) else block(x)
        return x

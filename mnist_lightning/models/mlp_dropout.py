"""MLP 784-300-10 with dropout 0.6 and a sigmoid output (reference recipe 002, trained with MSE)."""

from __future__ import annotations

import math

from torch import Tensor, nn


class DropoutMLP(nn.Module):
    """Flatten -> Linear -> ReLU -> Dropout -> Linear -> Sigmoid; emits per-class scores in (0, 1)."""

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        hidden: int = 300,
        dropout: float = 0.6,
    ) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),  # (B, C*H*W): 784 for MNIST, 3072 for 3x32x32
            nn.Linear(math.prod(in_shape), hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
            nn.Sigmoid(),  # (B, 10), compared with 0.01/0.99 one-hot targets by the MSE loss
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)

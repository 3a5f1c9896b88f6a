"""MLP 784-490-10 with LeakyReLU and a log-softmax output (reference recipe 001, trained with NLL)."""

from __future__ import annotations

import math

from torch import Tensor, nn


class MLP(nn.Module):
    """Flatten -> Linear -> LeakyReLU -> Linear -> LogSoftmax; emits log-probabilities."""

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        hidden: int = 490,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),  # (B, C*H*W): 784 for MNIST, 3072 for 3x32x32
            nn.Linear(math.prod(in_shape), hidden),
            nn.LeakyReLU(negative_slope),
            nn.Linear(hidden, num_classes),
            nn.LogSoftmax(dim=1),  # (B, 10) log-probabilities, as NLL loss expects
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)

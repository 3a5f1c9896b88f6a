"""Losses that pair with a model's output kind, each able to turn that output into probabilities."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class CrossEntropy(nn.Module):
    """Cross-entropy on logits (`ce`)."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(output, target, label_smoothing=self.label_smoothing)

    def probs(self, output: Tensor) -> Tensor:
        """Class probabilities (B, K) from logits."""
        return output.float().softmax(dim=1)


class NLL(nn.Module):
    """Negative log-likelihood on log-probabilities (`nll`), for models ending in LogSoftmax."""

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(output, target)

    def probs(self, output: Tensor) -> Tensor:
        """Class probabilities (B, K) from log-probabilities."""
        return output.float().exp()


class OneHotMSE(nn.Module):
    """Mean squared error against soft one-hot targets (`mse`), for sigmoid outputs.

    The reference recipe used 0.01/0.99 targets so that a sigmoid never has to saturate.
    """

    def __init__(self, low: float = 0.01, high: float = 0.99) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        onehot = F.one_hot(target, output.shape[1]).to(output.dtype)  # (B, K)
        return F.mse_loss(output, onehot * (self.high - self.low) + self.low)

    def probs(self, output: Tensor) -> Tensor:
        """Per-class scores (B, K) renormalised to sum to one."""
        scores = output.float().clamp_min(0)
        return scores / scores.sum(dim=1, keepdim=True).clamp_min(1e-12)

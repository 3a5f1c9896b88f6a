"""One plain `nn.Module` per file; each takes `in_shape` (C, H, W) and `num_classes` from the data."""

from __future__ import annotations

import torch
from torch import nn


def flat_size(features: nn.Module, in_shape: tuple[int, int, int]) -> int:
    """Values per sample after `features`, from a dry run in eval mode (batch-norm stats untouched)."""
    was_training = features.training
    features.eval()
    with torch.no_grad():
        size = features(torch.zeros(1, *in_shape)).shape[1:].numel()
    features.train(was_training)
    return size

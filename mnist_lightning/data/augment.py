"""Augmentation for a whole batch on its device: one random affine warp (optionally elastic) per image."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W), zero-padded."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, radius), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(radius, 0), groups=c)


class Augment(nn.Module):
    """Random rotation, translation and scale per image, plus an optional elastic distortion.

    Works on float images in [0, 1] (B, 1, H, W), before normalisation, so the zero padding
    that the warp brings in is the black MNIST background.
    """

    def __init__(
        self,
        degrees: float = 10.0,
        translate: float = 0.1,
        scale: Sequence[float] = (0.9, 1.1),
        elastic_alpha: float = 0.0,
        elastic_sigma: float = 4.0,
    ) -> None:
        super().__init__()
        self.degrees, self.translate = degrees, translate
        self.scale = (float(scale[0]), float(scale[1]))
        self.elastic_alpha, self.elastic_sigma = elastic_alpha, elastic_sigma

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        rand = torch.rand(b, 4, device=x.device, dtype=x.dtype)  # (B, 4) uniform draws
        angle = (2 * rand[:, 0] - 1) * math.radians(self.degrees)
        zoom = self.scale[0] + rand[:, 1] * (self.scale[1] - self.scale[0])
        # affine_grid spans [-1, 1] across the image, so a shift of `translate` of the width is 2x that.
        shift = (2 * rand[:, 2:] - 1) * 2 * self.translate  # (B, 2)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        # The matrix maps output to input coordinates: the inverse of the rotation and zoom.
        theta = torch.stack(
            [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
        )  # (B, 2, 3)
        grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)  # (B, H, W, 2)
        if self.elastic_alpha > 0:
            noise = 2 * torch.rand(b, 2, h, w, device=x.device, dtype=x.dtype) - 1
            # alpha is in pixels; grid units are 2/size per pixel
            field = _gaussian_blur(noise, self.elastic_sigma) * self.elastic_alpha  # (B, 2, H, W)
            scale = torch.tensor([2 / w, 2 / h], device=x.device, dtype=x.dtype)
            grid = grid + field.permute(0, 2, 3, 1) * scale
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

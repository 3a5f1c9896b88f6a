"""Augmentation for a whole batch on its device: one random affine warp (optionally elastic) per image."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mnist_lightning.checks import is_number
from mnist_lightning.errors import ConfigError


def _blur_matrix(n: int, sigma: float, like: Tensor) -> tuple[Tensor, Tensor]:
    """(n, n) matrix M: M @ v is a zero-padded Gaussian blur of v; also the blur's noise gain."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, device=like.device, dtype=like.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()  # (2r+1,) taps
    i = torch.arange(n, device=like.device)
    offset = i[None, :] - i[:, None] + radius  # tap index for input j at output i
    inside = (offset >= 0) & (offset <= 2 * radius)
    matrix = torch.where(inside, kernel[offset.clamp(0, 2 * radius)], torch.zeros((), dtype=like.dtype))
    return matrix, kernel.square().sum().sqrt()


def _smooth_field(b: int, h: int, w: int, sigma: float, like: Tensor) -> Tensor:
    """A random displacement field (B, 2, H, W): Gaussian-blurred white noise with unit std per pixel."""
    rows, gain_h = _blur_matrix(h, sigma, like)
    cols, gain_w = _blur_matrix(w, sigma, like)
    noise = torch.randn(b, 2, h, w, device=like.device, dtype=like.dtype)
    # Two small matmuls instead of a depthwise convolution: about 20 times faster on a CPU.
    blurred = rows @ noise @ cols.T  # (B, 2, H, W)
    # Blurring unit white noise leaves a std of gain_h * gain_w away from the edges; divide it out so
    # alpha alone sets the amplitude, whatever sigma is.
    return blurred / (gain_h * gain_w)


def _non_negative(key: str, value: object) -> None:
    if not (is_number(value) and value >= 0):  # type: ignore[operator]
        raise ConfigError(f"data.augment.{key}={value}: must be a number, 0 or more")


class Augment(nn.Module):
    """Random rotation, translation and scale per image, plus an optional elastic distortion.

    Works on float images in [0, 1] (B, C, H, W), before normalisation, so the zero padding
    that the warp brings in is the black MNIST background. Colour images (C=3) are warped as one:
    the same displacement moves all channels of an image.
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
        for key, value in (("degrees", degrees), ("translate", translate), ("elastic_alpha", elastic_alpha)):
            _non_negative(key, value)
        if not (is_number(elastic_sigma) and elastic_sigma > 0):
            raise ConfigError(
                f"data.augment.elastic_sigma={elastic_sigma}: must be a positive number of pixels"
            )
        if not (len(scale) == 2 and all(is_number(s) and s > 0 for s in scale) and scale[0] <= scale[1]):
            raise ConfigError(f"data.augment.scale={list(scale)}: must be [low, high] with 0 < low <= high")
        self.degrees, self.translate = degrees, translate
        self.scale = (float(scale[0]), float(scale[1]))
        self.elastic_alpha, self.elastic_sigma = elastic_alpha, elastic_sigma

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape  # (B, C, H, W): one grid per image, shared by its channels
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
            # alpha is the std of each pixel's displacement, in pixels; grid units are 2/size per pixel
            field = _smooth_field(b, h, w, self.elastic_sigma, x) * self.elastic_alpha  # (B, 2, H, W)
            scale = torch.tensor([2 / w, 2 / h], device=x.device, dtype=x.dtype)
            grid = grid + field.permute(0, 2, 3, 1) * scale
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

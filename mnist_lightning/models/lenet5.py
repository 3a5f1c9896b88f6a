"""LeNet-5 with tanh and average pooling on 32x32 input (reference recipe 003): 61,706 parameters on MNIST."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

LENET_SIZE = 32  # LeNet-5 was designed for 32x32 input


class LeNet5(nn.Module):
    """conv6 -> avgpool -> conv16 -> avgpool -> conv120 -> fc84 -> fc10, tanh throughout."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        channels = in_shape[0]
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 5),  # (B, 6, 28, 28); channels: 1 grayscale, 3 colour
            nn.Tanh(),
            nn.AvgPool2d(2),  # (B, 6, 14, 14)
            nn.Conv2d(6, 16, 5),  # (B, 16, 10, 10)
            nn.Tanh(),
            nn.AvgPool2d(2),  # (B, 16, 5, 5)
            nn.Conv2d(16, 120, 5),  # (B, 120, 1, 1)
            nn.Tanh(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 120)
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, num_classes),  # (B, 10) logits
        )

    def forward(self, x: Tensor) -> Tensor:
        # Resize 28 -> 32 as the recipe does (torchvision Resize, bilinear), rather than padding: the
        # digit then fills LeNet's 32x32 field. Bilinear weights sum to 1, so resizing the normalised
        # image equals normalising the resized one. Any input size works: (B, C, H, W) -> (B, C, 32, 32);
        # 32x32 input (data.image_size=32) is LeNet's own size and goes in as it is.
        if x.shape[-2:] != (LENET_SIZE, LENET_SIZE):
            x = F.interpolate(x, size=(LENET_SIZE, LENET_SIZE), mode="bilinear", align_corners=False)
        return self.classifier(self.features(x))

"""BN CNN (reference recipe 004): five unpadded 3x3 convs with max-pool and batch norm, 256-512-10 head."""

from __future__ import annotations

from torch import Tensor, nn

from mnist_lightning.models import flat_size


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3), nn.ReLU()]


class BNCNN(nn.Module):
    """Emits logits: the recipe's softmax before cross-entropy was a bug, so it is left out."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_conv(in_shape[0], 64),  # (B, 64, 26, 26) from 28x28; 32x32 gives 30 ... (B, 256, 1, 1) too
            *_conv(64, 64),  # (B, 64, 24, 24)
            nn.MaxPool2d(2),  # (B, 64, 12, 12)
            nn.BatchNorm2d(64),
            *_conv(64, 128),  # (B, 128, 10, 10)
            *_conv(128, 128),  # (B, 128, 8, 8)
            nn.MaxPool2d(2),  # (B, 128, 4, 4)
            nn.BatchNorm2d(128),
            *_conv(128, 256),  # (B, 256, 2, 2)
            nn.MaxPool2d(2),  # (B, 256, 1, 1)
            nn.BatchNorm2d(256),
        )
        flat = flat_size(self.features, in_shape)
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 256)
            nn.Linear(flat, 512),
            nn.ReLU(),
            nn.Linear(512, num_classes),  # (B, 10) logits
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

"""VGG-style CNN (reference recipe 000): blocks of 3x3 convolutions, each block ending in a max-pool."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from mnist_lightning.models import flat_size


class VGG(nn.Module):
    """`blocks` lists each block's conv widths; 28x28 input allows two blocks (28 -> 14 -> 7), 32x32 five."""

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        blocks: Sequence[Sequence[int]] = ((32, 32), (64, 64, 64)),
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_shape[0]
        for widths in blocks:
            for width in widths:
                # padding=1 keeps H x W within a block; only the pool halves it
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)  # (B, 64, 7, 7) with the default blocks
        flat = flat_size(self.features, in_shape)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(flat, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

"""`ImageFormat`: what data=folder makes every image into (data.channels, data.image_size)."""

from __future__ import annotations

from dataclasses import dataclass

from mnist_lightning.data.digits import COLOUR
from mnist_lightning.errors import ConfigError

IMAGE_SIZE = 28  # data.image_size's default: images are made 28x28, as MNIST's
CHANNELS = (1, COLOUR)  # data.channels: grayscale, or RGB kept as colour


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ImageFormat:
    """`channels` (1 or 3) x `size` x `size` pixels; a bad value is a one-line ConfigError naming its key."""

    channels: int = 1
    size: int = IMAGE_SIZE

    def __post_init__(self) -> None:
        if not _whole(self.channels) or self.channels not in CHANNELS:
            raise ConfigError(f"data.channels={self.channels}: must be 1 (grayscale) or 3 (colour, RGB)")
        if not _whole(self.size) or self.size < 1:
            raise ConfigError(f"data.image_size={self.size}: must be a whole number of pixels, at least 1")

    def key(self) -> str:
        """For the decoded-folder cache's name: another format, another file."""
        return f"c{self.channels}s{self.size}"


GRAY = ImageFormat()  # the default: 28x28 grayscale, as MNIST

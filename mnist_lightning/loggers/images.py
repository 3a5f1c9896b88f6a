"""A report figure sent to each logger that keeps images, in its own way."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from lightning.pytorch.loggers import Logger

# A logger class's name -> how it keeps an (H, W, 3) uint8 image named `report/<figure>`; CSV keeps none.
SEND: dict[str, Callable[[Logger, str, np.ndarray], None]] = {
    "TensorBoardLogger": lambda lg, tag, pixels: lg.experiment.add_image(tag, pixels, dataformats="HWC"),
    "MLFlowLogger": lambda lg, tag, pixels: lg.experiment.log_image(lg.run_id, pixels, f"{tag}.png"),
    "WandbLogger": lambda lg, tag, pixels: lg.log_image(key=tag, images=[pixels]),
}


def send_image(loggers: list[Logger], tag: str, pixels: np.ndarray) -> None:
    """Give `pixels` (H, W, 3) to every logger that keeps images, under `tag`."""
    for logger in loggers:
        if (send := SEND.get(type(logger).__name__)) is not None:
            send(logger, tag, pixels)

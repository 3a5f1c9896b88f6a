"""A report figure sent to each logger that keeps images, in its own way."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger

# A logger class (or a subclass) -> how it keeps an (H, W, 3) uint8 image named `report/<figure>`.
# CSV keeps none.
SEND: tuple[tuple[type[Logger], Callable[[Logger, str, np.ndarray], None]], ...] = (
    (TensorBoardLogger, lambda lg, tag, pixels: lg.experiment.add_image(tag, pixels, dataformats="HWC")),
    (MLFlowLogger, lambda lg, tag, pixels: lg.experiment.log_image(lg.run_id, pixels, f"{tag}.png")),
    (WandbLogger, lambda lg, tag, pixels: lg.log_image(key=tag, images=[pixels])),
)


def send_image(loggers: list[Logger], tag: str, pixels: np.ndarray) -> None:
    """Give `pixels` (H, W, 3) to every logger that keeps images, under `tag`."""
    for logger in loggers:
        for kind, send in SEND:
            if isinstance(logger, kind):
                send(logger, tag, pixels)

"""Progress bars for a terminal only: in a log file, a pipe or CI, each epoch is one line (EpochLine)."""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar as LightningRichProgressBar
from lightning.pytorch.callbacks import TQDMProgressBar


def _off_terminal(bar: Any) -> None:
    # A bar redraws itself with carriage returns: written to a file (SLURM, nohup, CI) it becomes one
    # endless line. Both of Lightning's bars write to stdout. Checked at setup, not import: a warm
    # process takes the command's streams late.
    if not sys.stdout.isatty():
        bar.disable()


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar when stdout is a terminal; nothing otherwise."""

    def __init__(self, refresh_rate: int = 10, **kwargs: Any) -> None:
        super().__init__(refresh_rate=refresh_rate, **kwargs)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        _off_terminal(self)


class RichProgressBar(LightningRichProgressBar):
    """Lightning's Rich bar (`pip install 'mnist-lightning[rich]'`), on stdout when that is a terminal."""

    def __init__(self, refresh_rate: int = 10, **kwargs: Any) -> None:
        super().__init__(refresh_rate=refresh_rate, **kwargs)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        _off_terminal(self)

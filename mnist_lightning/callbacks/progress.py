"""Progress bars for a terminal only: in a log file, a pipe or CI, each epoch is one line (EpochLine)."""

from __future__ import annotations

import sys

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar as LightningRichProgressBar
from lightning.pytorch.callbacks import TQDMProgressBar


class _OnlyOnTerminal:
    """A Lightning progress bar that turns itself off when stdout (where both bars write) is no terminal.

    A bar redraws itself with carriage returns: written to a file (SLURM, nohup, CI) it becomes one
    endless line. Checked at setup, not import: a warm process takes the command's streams late.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)  # type: ignore[misc]
        if not sys.stdout.isatty():
            self.disable()  # type: ignore[attr-defined]


class ProgressBar(_OnlyOnTerminal, TQDMProgressBar):
    """Lightning's tqdm bar when stdout is a terminal; nothing otherwise."""


class RichProgressBar(_OnlyOnTerminal, LightningRichProgressBar):
    """Lightning's Rich bar (`pip install 'mnist-lightning[rich]'`) when stdout is a terminal."""

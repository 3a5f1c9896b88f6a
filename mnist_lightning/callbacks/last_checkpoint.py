"""The one writer of `checkpoints/last.ckpt`, the full state a resumed run continues from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from mnist_lightning.callbacks.divergence import DivergenceGuard
from mnist_lightning.run_dirs import LAST, checkpoint_path


class LastCheckpoint(Callback):
    """Writes `last.ckpt` after every epoch and every `every` optimizer steps (0: epochs only).

    One writer for last.ckpt: ModelCheckpoint's own save_last would version a second copy
    (last-v1.ckpt) next to ours. The guard checks the loss first: a diverged run keeps its last
    good last.ckpt.
    """

    def __init__(self, every: int = 200) -> None:
        self.every = every
        self.path = Path(LAST)  # <run_dir>/checkpoints/last.ckpt, set when the run starts
        self.guard: DivergenceGuard | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.path = checkpoint_path(Path(trainer.default_root_dir), LAST)
        self.guard = next((cb for cb in trainer.callbacks if isinstance(cb, DivergenceGuard)), None)

    def _save(self, trainer: L.Trainer) -> None:
        if self.guard is not None:
            self.guard.check(trainer, weights=True)
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state, to resume from

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.every > 0 and trainer.global_step % self.every == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._save(trainer)

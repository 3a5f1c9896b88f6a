"""`checkpoints/best.ckpt`: the weights of the best validation accuracy, the ones a run tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from mnist_lightning import metric_keys as M
from mnist_lightning.run_dirs import BEST, checkpoint_path


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint keeping one file, `<run_dir>/checkpoints/best.ckpt`: the best `monitor`."""

    def __init__(self, monitor: str = M.VAL_ACC, mode: str = "max", **kwargs: Any) -> None:
        super().__init__(monitor=monitor, mode=mode, filename=BEST, auto_insert_metric_name=False, **kwargs)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # The run directory is the Trainer's default_root_dir; Lightning would otherwise pick the first
        # logger's folder (tensorboard/checkpoints), which changes with logger=.
        self.dirpath = str(checkpoint_path(Path(trainer.default_root_dir), BEST).parent)
        super().setup(trainer, pl_module, stage)

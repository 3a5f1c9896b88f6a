"""An exponential moving average of the weights that validation, the best checkpoint and the test all use."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn


class EMA(EMAWeightAveraging):
    """Lightning's EMA of the weights; testing a checkpoint tests the averaged weights it holds.

    The parent restores the raw (non-averaged) weights whenever a checkpoint is loaded, which is
    right for resuming a fit but would make `trainer.test(ckpt_path=...)` test the raw weights.
    """

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: Any) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)

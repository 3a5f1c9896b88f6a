"""Build Lightning's Trainer from `cfg.trainer`, with our logger and callbacks and clear hardware errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn
from omegaconf import DictConfig

from mnist_lightning import metrics as M
from mnist_lightning.errors import ConfigError
from mnist_lightning.io import atomic_torch_save

GPU_NAMES = ("gpu", "cuda")
BEST, LAST = "best", "last"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file and renames it: a kill mid-write keeps the old one."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        atomic_torch_save(checkpoint, path)


class LastCheckpoint(Callback):
    """Writes `last.ckpt` after every epoch and every `every` optimizer steps (0: epochs only).

    One writer for last.ckpt: ModelCheckpoint's own save_last would version a second copy
    (last-v1.ckpt) next to ours.
    """

    def __init__(self, path: Path, every: int) -> None:
        self.path, self.every = path, every

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state, to resume from

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.every > 0 and trainer.global_step % self.every == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._save(trainer)


class EMA(EMAWeightAveraging):
    """Lightning's EMA of the weights; testing a checkpoint tests the averaged weights it holds.

    The parent restores the raw (non-averaged) weights whenever a checkpoint is loaded, which is
    right for resuming a fit but would make `trainer.test(ckpt_path=...)` test the raw weights.
    """

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: Any) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)


def check_accelerator(accelerator: str) -> None:
    """Fail at once, in one line, when a GPU is asked for and none is visible."""
    if str(accelerator).lower() in GPU_NAMES and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={accelerator}: no CUDA GPU is visible to PyTorch on this machine "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
            "use trainer.accelerator=cpu or trainer.accelerator=auto"
        )


def build_trainer(cfg: DictConfig, run_dir: Path) -> L.Trainer:
    """The Trainer, logging to `run_dir/tensorboard` and checkpointing to `run_dir/checkpoints`."""
    # version="" keeps the event files in run_dir/tensorboard itself: one run directory, one TB run.
    logger = TensorBoardLogger(save_dir=run_dir, name="tensorboard", version="", default_hp_metric=False)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename=BEST,
        monitor=M.VAL_ACC,
        mode="max",
        auto_insert_metric_name=False,
    )
    last = LastCheckpoint(run_dir / "checkpoints" / f"{LAST}.ckpt", cfg.last_checkpoint_every)
    callbacks: list[Callback] = [checkpoint, last]
    if cfg.ema:
        # Validation, the best checkpoint and the test all see the averaged weights (BN statistics
        # included); last.ckpt also keeps the raw weights, so a resumed run continues exactly.
        callbacks.append(EMA(decay=cfg.ema))
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(TQDMProgressBar(refresh_rate=cfg.progress_refresh))
    try:
        return instantiate(
            cfg.trainer,
            logger=logger,
            callbacks=callbacks,
            default_root_dir=run_dir,
            plugins=[AtomicCheckpointIO()],
        )
    except MisconfigurationException as err:
        raise ConfigError(f"trainer: {str(err).splitlines()[0]}") from None

"""Build Lightning's Trainer from `cfg.trainer`, with our logger and callbacks and clear hardware errors."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from mnist_lightning import metrics as M
from mnist_lightning.errors import ConfigError

GPU_NAMES = ("gpu", "cuda")
BEST, LAST = "best", "last"


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
        save_last=True,
        auto_insert_metric_name=False,
    )
    checkpoint.CHECKPOINT_NAME_LAST = LAST
    callbacks: list[Callback] = [checkpoint]
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(TQDMProgressBar(refresh_rate=cfg.progress_refresh))
    try:
        return instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=run_dir)
    except MisconfigurationException as err:
        raise ConfigError(f"trainer: {str(err).splitlines()[0]}") from None

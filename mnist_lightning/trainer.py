"""Build Lightning's Trainer from `cfg.trainer`, with our logger and callbacks and clear hardware errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning.building import build
from mnist_lightning.callbacks import EMA, DivergenceGuard, EpochLine, LastCheckpoint, OwnSignals
from mnist_lightning.checks import GPU_NAMES
from mnist_lightning.distributed import DDP, needs_our_launcher
from mnist_lightning.errors import ConfigError
from mnist_lightning.io import atomic_torch_save

BEST, LAST = "best", "last"
CHECKPOINTS = "checkpoints"  # the run directory's folder of best.ckpt and last.ckpt


def last_checkpoint(run_dir: Path) -> Path:
    """`<run_dir>/checkpoints/last.ckpt`: the run's full state, to resume from."""
    return run_dir / CHECKPOINTS / f"{LAST}.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file and renames it: a kill mid-write keeps the old one."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        atomic_torch_save(checkpoint, path)


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
        dirpath=run_dir / CHECKPOINTS,
        filename=BEST,
        monitor=M.VAL_ACC,
        mode="max",
        auto_insert_metric_name=False,
    )
    last_path = last_checkpoint(run_dir)
    guard = DivergenceGuard(cfg.progress_refresh, last_path)
    # The guard comes before last.ckpt's writer, so a broken step is never saved over a good one.
    callbacks: list[Callback] = [
        OwnSignals(),
        guard,
        LastCheckpoint(last_path, cfg.last_checkpoint_every, guard),
        checkpoint,
        EpochLine(),  # before the progress bar: its line is written before the next epoch's bar starts
    ]
    if cfg.ema:
        # Validation, the best checkpoint and the test all see the averaged weights (BN statistics
        # included); last.ckpt also keeps the raw weights, so a resumed run continues exactly.
        callbacks.append(EMA(decay=cfg.ema))
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(TQDMProgressBar(refresh_rate=cfg.progress_refresh))
    trainer = _instantiate(cfg, logger=logger, callbacks=callbacks, default_root_dir=run_dir)
    if needs_our_launcher(trainer):
        # Lightning chose DDP by itself (several devices, no trainer=ddp): its launcher would rerun the
        # whole command line, so use ours, exactly as trainer=ddp does.
        trainer = _instantiate(
            cfg, logger=logger, callbacks=callbacks, default_root_dir=run_dir, strategy=DDP()
        )
    return trainer


def _instantiate(cfg: DictConfig, **kwargs: Any) -> L.Trainer:
    return build("trainer", cfg.trainer, plugins=[AtomicCheckpointIO()], **kwargs)

"""Build Lightning's Trainer from config: `cfg.trainer`'s arguments, `cfg.callbacks` and `cfg.logger`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ProgressBar
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig

from mnist_lightning.building import build
from mnist_lightning.callbacks import EMA
from mnist_lightning.checks import GPU_NAMES
from mnist_lightning.distributed import DDP, needs_our_launcher
from mnist_lightning.errors import ConfigError
from mnist_lightning.io import atomic_torch_save


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


def build_callbacks(cfg: DictConfig) -> list[Callback]:
    """Every callback in `cfg.callbacks` (conf/callbacks/_core.yaml's and those chosen), in that order.

    A key set to null (`callbacks.early_stopping=null`) is left out.
    """
    callbacks = [build(f"callbacks.{name}", node) for name, node in cfg.callbacks.items() if node is not None]
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar it was told not to show
        callbacks = [cb for cb in callbacks if not isinstance(cb, ProgressBar)]
    if cfg.ema:
        # A run setting more than a callback: validation, best.ckpt and the test all see the averaged
        # weights (BN statistics included); last.ckpt also keeps the raw ones, so a resumed run continues
        # exactly.
        callbacks.append(EMA(decay=cfg.ema))
    return callbacks


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """Every logger in `cfg.logger` (conf/logger/), in order; none for `logger=none`."""
    chosen = cfg.get("logger") or {}
    return [build(f"logger.{name}", node) for name, node in chosen.items() if node is not None]


def build_trainer(cfg: DictConfig, run_dir: Path) -> L.Trainer:
    """The Trainer, with its callbacks and loggers from config; `run_dir` holds checkpoints/."""
    parts: dict[str, Any] = {
        "logger": build_loggers(cfg) or False,
        "callbacks": build_callbacks(cfg),
        "default_root_dir": run_dir,  # our checkpoint callbacks write into <run_dir>/checkpoints
    }
    trainer = _instantiate(cfg, **parts)
    if needs_our_launcher(trainer):
        # Lightning chose DDP by itself (several devices, no trainer=ddp): its launcher would rerun the
        # whole command line, so use ours, exactly as trainer=ddp does.
        trainer = _instantiate(cfg, **parts, strategy=DDP())
    return trainer


def _instantiate(cfg: DictConfig, **kwargs: Any) -> L.Trainer:
    return build("trainer", cfg.trainer, plugins=[AtomicCheckpointIO()], **kwargs)

"""Where each logger wrote, said as the command that opens it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger

# A logger class (or a user's subclass of it) -> how to open what it wrote; any other logger says nothing.
OPEN_WITH: tuple[tuple[type[Logger], Callable[[Logger], str]], ...] = (
    (TensorBoardLogger, lambda lg: f"TensorBoard: tensorboard --logdir {Path(lg.log_dir)}"),
    (CSVLogger, lambda lg: f"CSV: {Path(lg.log_dir) / 'metrics.csv'}"),
    (MLFlowLogger, lambda lg: f"MLflow: mlflow ui --backend-store-uri {lg._tracking_uri}  (run {lg.run_id})"),
    (WandbLogger, lambda lg: f"W&B (offline): wandb sync {Path(lg.save_dir or '.') / 'wandb'}/offline-run-*"),
)


def open_lines(loggers: list[Logger]) -> list[str]:
    """One line per logger that we know how to open, e.g. `TensorBoard: tensorboard --logdir ...`."""
    return [say(lg) for lg in loggers for kind, say in OPEN_WITH if isinstance(lg, kind)]

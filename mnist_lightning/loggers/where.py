"""Where each logger wrote, said as the command that opens it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lightning.pytorch.loggers import Logger

# A logger class's name -> how to open what it wrote; a class not named here (a user's own) says nothing.
OPEN_WITH: dict[str, Callable[[Logger], str]] = {
    "TensorBoardLogger": lambda lg: f"TensorBoard: tensorboard --logdir {Path(lg.log_dir)}",
    "CSVLogger": lambda lg: f"CSV: {Path(lg.log_dir) / 'metrics.csv'}",
    "MLFlowLogger": lambda lg: f"MLflow: mlflow ui --backend-store-uri {lg._tracking_uri}  (run {lg.run_id})",
    "WandbLogger": lambda lg: f"W&B (offline): wandb sync {Path(lg.save_dir or '.') / 'wandb'}/offline-run-*",
}


def open_lines(loggers: list[Logger]) -> list[str]:
    """One line per logger that we know how to open, e.g. `TensorBoard: tensorboard --logdir ...`."""
    return [OPEN_WITH[type(lg).__name__](lg) for lg in loggers if type(lg).__name__ in OPEN_WITH]

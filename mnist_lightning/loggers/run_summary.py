"""Flat hyperparameters for TensorBoard's HPARAMS tab, logged once the run's real metrics are known."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M

# The metrics the HPARAMS tab shows beside each run's hyperparameters (real values, never a -1).
HPARAM_METRICS = (M.VAL_ACC_BEST, M.TEST_ACC, M.TEST_LOSS, M.FIT_SECONDS)


def _short_name(node: Any) -> str:
    """The class a `_target_` node builds, e.g. "Adam" for torch.optim.Adam; "none" for no node."""
    return str(node["_target_"]).rsplit(".", 1)[-1] if node else "none"


def _limit(value: Any) -> int:
    """A Trainer limit as an int; -1 for none (Lightning's null and -1 both mean no limit)."""
    return -1 if value is None else int(value)


def flat_hparams(cfg: DictConfig) -> dict[str, str | int | float]:
    """The hyperparameters a sweep varies, as flat scalars that TensorBoard can sort and filter."""
    return {
        "model": _short_name(cfg.model.net),
        "optimizer": _short_name(cfg.optimizer),
        "lr": float(cfg.optimizer.lr),
        "weight_decay": float(cfg.optimizer.get("weight_decay", 0.0)),
        "scheduler": _short_name(cfg.scheduler),
        "batch_size": int(cfg.data.batch_size),
        "epochs": _limit(cfg.trainer.get("max_epochs")),
        "max_steps": _limit(cfg.trainer.get("max_steps")),
        "seed": int(cfg.seed),
        "precision": str(cfg.trainer.precision),
    }


def log_hparams(logger: TensorBoardLogger, cfg: DictConfig, results: dict[str, Any]) -> None:
    """Write the HPARAMS-tab session for this run, with its final metrics."""
    metrics = {key: float(results[key]) for key in HPARAM_METRICS if results.get(key) is not None}
    logger.log_hyperparams(flat_hparams(cfg), metrics=metrics)
    logger.save()

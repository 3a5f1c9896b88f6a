"""What every logger gets when a run ends: the same flat hyperparameters and the run's final metrics."""

from __future__ import annotations

import inspect
from typing import Any

from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M


def _short_name(node: Any) -> str:
    """The class a `_target_` node builds, e.g. "Adam" for torch.optim.Adam; "none" for no node."""
    return str(node["_target_"]).rsplit(".", 1)[-1] if node else "none"


def _limit(value: Any) -> int:
    """A Trainer limit as an int; -1 for none (Lightning's null and -1 both mean no limit)."""
    return -1 if value is None else int(value)


def flat_hparams(cfg: DictConfig) -> dict[str, str | int | float]:
    """The hyperparameters a sweep varies, as flat scalars that every logger can sort and filter."""
    return {
        "model": _short_name(cfg.model.net),
        "optimizer": _short_name(cfg.optimizer),
        "lr": float(cfg.optimizer.lr),
        "weight_decay": float(cfg.optimizer.get("weight_decay", 0.0)),
        "scheduler": _short_name(cfg.scheduler),
        "batch_size": int(cfg.data.batch_size),
        "max_epochs": _limit(cfg.trainer.get("max_epochs")),
        "max_steps": _limit(cfg.trainer.get("max_steps")),
        "seed": int(cfg.seed),
        "precision": str(cfg.trainer.precision),
    }


def final_metrics(results: dict[str, Any]) -> dict[str, float]:
    """metrics.json's numbers (real values only: a run that ran no validation has no val/acc_best)."""
    return {key: float(results[key]) for key in M.RUN_METRICS if results.get(key) is not None}


def log_run(loggers: list[Logger], cfg: DictConfig, results: dict[str, Any], step: int) -> None:
    """Give each logger the flat hyperparameters and the final metrics, and write them out."""
    params, metrics = flat_hparams(cfg), final_metrics(results)
    for logger in loggers:
        if "metrics" in inspect.signature(logger.log_hyperparams).parameters:
            # TensorBoard: one HPARAMS-tab session that pairs the hyperparameters with these metrics.
            logger.log_hyperparams(params, metrics=metrics, step=step)  # at the run's last step, not 0
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(metrics, step=step)
        logger.save()

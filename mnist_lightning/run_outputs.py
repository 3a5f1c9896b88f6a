"""What a training run writes at its start (versions, model summary) and end (metrics, loggers, report)."""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig
from torch import Tensor

from mnist_lightning import metric_keys as M
from mnist_lightning import timeline
from mnist_lightning.building import reason
from mnist_lightning.data import DigitDataModule
from mnist_lightning.errors import ConfigError
from mnist_lightning.io import write_bytes_atomic, write_json_atomic
from mnist_lightning.loggers import log_run, open_lines
from mnist_lightning.module import Classifier
from mnist_lightning.progress import epochs_run
from mnist_lightning.quiet import log_where, plural
from mnist_lightning.reports import model_summary, write_run_report
from mnist_lightning.reports.dashboards import write_dashboards

log = logging.getLogger("mnist_lightning.train")  # the run's own lines keep their logger name

SUBMISSION_FILE = "submission.csv"  # an unlabeled test folder's predictions, in Kaggle's ImageId,Label form


def fitted_results(trainer: L.Trainer, model: Classifier, status: str) -> dict[str, Any]:
    """What the fit itself tells: best val accuracy (None when no validation ran), epochs, time, status."""
    # The state itself, not compute(): every rank holds the same (gathered) value, and a collective
    # here would hang when only rank 0 gets this far (it writes the metrics of a diverged run).
    best_val = float(model.val_acc_best.max_value)
    return {
        M.STATUS: status,
        M.VAL_ACC_BEST: best_val if math.isfinite(best_val) else None,  # -inf: no validation ran
        M.EPOCHS: epochs_run(trainer),  # a fraction when a trial was pruned mid-epoch
        M.FIT_SECONDS: round(model.fit_seconds, 2),
    }


def stopped_results(cfg: DictConfig, trainer: L.Trainer, model: Classifier, status: str) -> dict[str, Any]:
    """The metrics of a run stopped before its end (diverged, pruned): not tested, its test keys null."""
    tested = dict.fromkeys(M.TESTED) if cfg.test else {}
    return {**fitted_results(trainer, model, status), **tested}


def write_diverged(cfg: DictConfig, trainer: L.Trainer, model: Classifier, run_dir: Path) -> None:
    """metrics.json for a run stopped by a NaN or infinite loss: sweeps and Optuna read how it ended."""
    write_json_atomic(run_dir / M.METRICS_FILE, stopped_results(cfg, trainer, model, M.DIVERGED))


def write_pruned(results: dict[str, Any], trainer: L.Trainer, run_dir: Path) -> None:
    """metrics.json for a search trial its study pruned; its checkpoints stay, nothing is tested."""
    write_json_atomic(run_dir / M.METRICS_FILE, results)
    best_val = results[M.VAL_ACC_BEST]
    best = "" if best_val is None else f", best val {100 * best_val:.2f}%"
    log.info("Pruned after %s%s: not tested", plural(results[M.EPOCHS], "epoch"), best)
    log_where(log, run_dir, open_lines(trainer.loggers), None)


def write_start(cfg: DictConfig, model: Classifier, datamodule: DigitDataModule, run_dir: Path) -> None:
    write_json_atomic(run_dir / "versions.json", model.versions)
    try:  # the network's first forward pass: a shape mistake in model.net.* shows here, before any fit
        summary = model_summary(model.net, datamodule.input_shape)
    except (RuntimeError, ValueError) as err:
        shape = "x".join(map(str, datamodule.input_shape))
        raise ConfigError(
            f"model.net: the network fails on a {shape} image ({reason(err)}); check model.net.*"
        ) from None
    log.info("Model summary:\n%s", summary)
    if cfg.report:
        write_bytes_atomic(run_dir / "report" / "summary.txt", summary.encode())


def write_end(
    cfg: DictConfig,
    results: dict[str, Any],
    model: Classifier,
    dm: DigitDataModule,
    trainer: L.Trainer,
    run_dir: Path,
) -> None:
    write_json_atomic(run_dir / M.METRICS_FILE, results)
    log_run(trainer.loggers, cfg, results, trainer.global_step)
    report = None
    if cfg.report and cfg.test:
        report = write_run_report(model, dm, run_dir, trainer.loggers)
        write_dashboards(model, dm, run_dir, trainer.loggers)
    # The hparams and the report reopened what fit and test closed (TensorBoard's event file, the MLflow
    # run): closed again here, so that all is on disk and writer threads end before the process exits.
    for logger in trainer.loggers:
        logger.finalize("success")
    best_val = results[M.VAL_ACC_BEST]
    val = "no validation" if best_val is None else f"best val {100 * best_val:.2f}%"
    fit = f"{plural(results[M.EPOCHS], 'epoch')}, fit {results[M.FIT_SECONDS]:.1f} s"
    if M.TEST_ACC in results:
        log.info("Test accuracy: %.2f%% (%s, %s)", 100 * results[M.TEST_ACC], val, fit)
    else:
        log.info("Not tested (test=false): %s, %s", val, fit)
    log_where(log, run_dir, open_lines(trainer.loggers), report)
    timeline.mark("report")


def _gathered(trainer: L.Trainer, outputs: list[tuple[Tensor, Tensor]], total: int) -> tuple[Tensor, Tensor]:
    """Every rank's (ImageIds, classes) of `total` images, sorted by ImageId; a collective under DDP."""
    device = trainer.strategy.root_device
    empty = torch.empty(0, dtype=torch.int64, device=device)
    ids, preds = (torch.cat([out[i] for out in outputs]).to(device) if outputs else empty for i in (0, 1))
    if trainer.world_size > 1:
        # all_gather needs one shape on every rank: each rank's share padded (ImageId -1) to the largest.
        width = math.ceil(total / trainer.world_size)
        mine = torch.full((2, width), -1, dtype=torch.int64, device=device)
        mine[:, : len(ids)] = torch.stack([ids, preds])  # (2, width): ImageIds, classes
        # torch.distributed's own: Lightning's strategy.all_gather warns of a deprecated autograd gather.
        every = [torch.empty_like(mine) for _ in range(trainer.world_size)]
        torch.distributed.all_gather(every, mine)
        ids, preds = torch.cat(every, dim=1)  # (world_size * width,) each
        ids, preds = ids[ids >= 0], preds[ids >= 0]
    order = ids.argsort()
    return ids[order].cpu(), preds[order].cpu()


def write_submission(path: Path, ids: Tensor, preds: Tensor, names: tuple[str, ...]) -> None:
    """`ImageId,Label` rows, one per image (Label: the class name), written atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["ImageId", "Label"])
    writer.writerows((image_id, names[k]) for image_id, k in zip(ids.tolist(), preds.tolist(), strict=True))
    write_bytes_atomic(path, text.getvalue().encode())


def predict_unlabeled(
    trainer: L.Trainer, model: Classifier, dm: DigitDataModule, ckpt_path: str | None, run_dir: Path
) -> None:
    """Predict the data's unlabeled test images with `ckpt_path`; rank 0 writes them to submission.csv."""
    outputs = trainer.predict(
        model, datamodule=dm, ckpt_path=ckpt_path, return_predictions=True, weights_only=True
    )
    total = len(dm.unlabeled)  # type: ignore[attr-defined]
    ids, preds = _gathered(trainer, outputs or [], total)  # type: ignore[arg-type]
    if not trainer.is_global_zero:
        return
    if len(ids) != total:  # trainer.limit_predict_batches, say: the file is then partial
        log.warning("Predicted only %d of the %d unlabeled images", len(ids), total)
    path = run_dir / SUBMISSION_FILE
    write_submission(path, ids, preds, model.facts.class_names)
    log.info("Predictions of %s unlabeled images (ImageId,Label): %s", f"{total:,}", path)

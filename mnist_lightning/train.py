"""`train(cfg) -> dict`: fit a model, test its best checkpoint, write metrics.json."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mnist_lightning import metrics as M
from mnist_lightning.checkpoint import load_checkpoint
from mnist_lightning.data import DigitDataModule
from mnist_lightning.distributed import release
from mnist_lightning.errors import DataError
from mnist_lightning.io import write_bytes_atomic, write_json_atomic
from mnist_lightning.module import Classifier
from mnist_lightning.reports import model_summary, write_run_report
from mnist_lightning.runinfo import versions
from mnist_lightning.sweeps.hparams import log_hparams
from mnist_lightning.trainer import LAST, build_trainer, check_accelerator

log = logging.getLogger(__name__)


def build_classifier(cfg: DictConfig, datamodule: DigitDataModule) -> Classifier:
    """The model config's network and loss, sized by the data, wrapped in a Classifier."""
    net = instantiate(cfg.model.net, in_shape=datamodule.input_shape, num_classes=datamodule.num_classes)
    if cfg.compile:
        net.compile()  # in place: state-dict keys stay those of the plain module
    return Classifier(
        net=net,
        loss=instantiate(cfg.model.loss),
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True) if cfg.scheduler else None,
        num_classes=datamodule.num_classes,
        config=OmegaConf.to_container(cfg, resolve=True),
        channels_last=cfg.channels_last,
        input_shape=datamodule.input_shape,
    )


def resumed_config(run_dir: Path) -> DictConfig:
    """The config a run was started with, read from its last checkpoint, set to continue from it."""
    last = run_dir / "checkpoints" / f"{LAST}.ckpt"
    if not last.is_file():
        raise DataError(
            f"resume={run_dir}: no checkpoints/{LAST}.ckpt there; pass the directory of a run "
            "that saved at least one checkpoint"
        )
    stored = load_checkpoint(last)["hyper_parameters"]
    cfg = OmegaConf.create(stored)
    cfg.run_dir, cfg.ckpt_path, cfg.resume = str(run_dir), str(last), None
    log.info("Resuming %s from %s with the run's own config", run_dir, last.name)
    return cfg


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test the best checkpoint, and return (and write) the run's metrics."""
    if cfg.resume:
        cfg = resumed_config(Path(cfg.resume).expanduser().resolve())
    run_dir = Path(cfg.run_dir)
    if cfg.ckpt_path == LAST and not (run_dir / "checkpoints" / f"{LAST}.ckpt").is_file():
        raise DataError(
            f"ckpt_path=last: no checkpoints/{LAST}.ckpt in {run_dir}; "
            "to continue an earlier run use resume=<its run directory>"
        )
    check_accelerator(cfg.trainer.accelerator)  # before any data is read or downloaded
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    log.info("Torch threads: %d", torch.get_num_threads())
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule: DigitDataModule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")  # the network's input shape comes from the data
    model = build_classifier(cfg, datamodule)
    model.versions = versions()
    trainer = build_trainer(cfg, run_dir)
    log.info(
        "Global batch: %d (data.batch_size=%d per device x %d device(s) x %d node(s))",
        cfg.data.batch_size * trainer.world_size, cfg.data.batch_size, trainer.num_devices, trainer.num_nodes,
    )  # fmt: skip
    if trainer.is_global_zero:
        write_json_atomic(run_dir / "versions.json", model.versions)
        summary = model_summary(model.net, datamodule.input_shape)
        log.info("Model summary:\n%s", summary)
        if cfg.report:
            write_bytes_atomic(run_dir / "report" / "summary.txt", summary.encode())

    start = time.perf_counter()
    # weights_only: a checkpoint holds plain data, so loading one can never run code.
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True)
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.synchronize(trainer.strategy.root_device)  # count queued GPU work in the fit time
    fit_seconds = time.perf_counter() - start

    best_val: float | None = float(model.val_acc_best.compute())
    best_val = best_val if math.isfinite(best_val) else None  # -inf: no validation ran
    results: dict[str, Any] = {
        M.VAL_ACC_BEST: best_val,  # None (null) when no validation ran, e.g. limit_val_batches=0
        M.EPOCHS: trainer.current_epoch,
        M.FIT_SECONDS: round(fit_seconds, 2),
    }
    if cfg.test:
        best = trainer.checkpoint_callback.best_model_path or None  # type: ignore[union-attr]
        (tested,) = trainer.test(
            model, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True
        )
        results.update(M.tested_results(tested))
    release(trainer)  # DDP: the ranks this process started have finished; the next job starts afresh
    if trainer.is_global_zero:
        write_json_atomic(run_dir / "metrics.json", results)
        log_hparams(trainer.logger, cfg, results)  # type: ignore[arg-type]
        if cfg.report and cfg.test:
            write_run_report(model, datamodule, run_dir, trainer.logger)  # type: ignore[arg-type]
        _report(results, run_dir)
    return results


def _report(results: dict[str, Any], run_dir: Path) -> None:
    log.info("Run directory: %s", run_dir)
    if M.TEST_ACC in results:
        log.info(
            "Test accuracy: %.2f%% (best val %.2f%%, %d epochs, fit %.1f s)",
            100 * results[M.TEST_ACC],
            100 * (results[M.VAL_ACC_BEST] or float("nan")),
            results[M.EPOCHS],
            results[M.FIT_SECONDS],
        )
    log.info("TensorBoard: tensorboard --logdir %s", run_dir / "tensorboard")

"""`train(cfg) -> dict`: fit a model, test its best checkpoint, write metrics.json."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning import timeline
from mnist_lightning.building import build
from mnist_lightning.callbacks.pruning import pruned_at
from mnist_lightning.checks import check_run
from mnist_lightning.data import DigitDataModule
from mnist_lightning.distributed import share_cores
from mnist_lightning.errors import DataError, Diverged
from mnist_lightning.io import write_json_atomic
from mnist_lightning.module import Classifier, build_classifier
from mnist_lightning.quiet import plural, quiet
from mnist_lightning.ranks import children, explain, release
from mnist_lightning.resume import finished_results, resumed_config
from mnist_lightning.run_dirs import LAST, checkpoint_path
from mnist_lightning.run_outputs import (
    fitted_results,
    predict_unlabeled,
    stopped_results,
    write_diverged,
    write_end,
    write_pruned,
    write_start,
)
from mnist_lightning.runinfo import versions
from mnist_lightning.termination import terminable
from mnist_lightning.trainer import build_trainer, check_accelerator

log = logging.getLogger(__name__)


def prepare(cfg: DictConfig) -> tuple[DigitDataModule, Classifier]:
    """The data (read once, before any DDP rank starts) and the model it sizes."""
    check_accelerator(cfg.trainer.accelerator)  # before any data is read or downloaded
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule: DigitDataModule = build("data", cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")  # the network's input shape comes from the data
    model = build_classifier(cfg, datamodule.facts)
    model.versions = versions()
    timeline.mark("data")
    return datamodule, model


def _fit_and_test(
    cfg: DictConfig, trainer: L.Trainer, model: Classifier, dm: DigitDataModule
) -> dict[str, Any]:
    """Fit, then test the best checkpoint; the run's metrics."""
    model.fit_started = time.perf_counter()
    try:
        # weights_only: a checkpoint holds plain data, so loading one can never run code.
        trainer.fit(model, datamodule=dm, ckpt_path=cfg.ckpt_path, weights_only=True)
    finally:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)  # count queued GPU work in the fit time
        model.fit_seconds = model.fit_seconds_before + time.perf_counter() - model.fit_started
    timeline.mark("fit")
    if pruned_at(trainer) is not None:  # its study stopped it: a result, but its weights are not tested
        return stopped_results(cfg, trainer, model, M.PRUNED)
    results = fitted_results(trainer, model, M.OK)
    if cfg.test:
        best = trainer.checkpoint_callback.best_model_path or None  # type: ignore[union-attr]
        (tested,) = trainer.test(model, datamodule=dm, ckpt_path=best, verbose=False, weights_only=True)
        results.update(M.tested_results(tested))
        if getattr(dm, "unlabeled_dir", None) is not None:  # a test folder without labels (data=folder)
            predict_unlabeled(trainer, model, dm, best, Path(cfg.run_dir))  # in the test phase's time
        timeline.mark("test")
    elif (folder := getattr(dm, "unlabeled_dir", None)) is not None:
        log.info("Not predicting the unlabeled images of %s (test=false)", folder)
    return results


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test the best checkpoint, and return (and write) the run's metrics."""
    quiet(cfg.verbose, continuing=bool(cfg.resume) or cfg.ckpt_path == LAST)  # the command line's verbose
    if cfg.resume:
        cfg = resumed_config(cfg)
        if (finished := finished_results(Path(cfg.run_dir))) is not None:
            return finished  # nothing to resume, and nothing is changed
    check_run(cfg)
    run_dir = Path(cfg.run_dir)
    if cfg.ckpt_path == LAST and not checkpoint_path(run_dir).is_file():
        raise DataError(
            f"ckpt_path=last: no {checkpoint_path(Path())} in {run_dir}; "
            "to continue an earlier run use resume=<its run directory>"
        )
    datamodule, model = prepare(cfg)
    trainer = build_trainer(cfg, run_dir)
    if not cfg.threads:
        share_cores(trainer)
    log.info("Torch threads: %d", torch.get_num_threads())
    log.info(
        "Global batch: %d (data.batch_size=%d per device x %s x %s)",
        cfg.data.batch_size * trainer.world_size, cfg.data.batch_size, plural(trainer.num_devices, "device"),
        plural(trainer.num_nodes, "node"),
    )  # fmt: skip
    if trainer.is_global_zero:
        write_start(cfg, model, datamodule, run_dir)
    with terminable(children=lambda: children(trainer)):
        try:
            results = _fit_and_test(cfg, trainer, model, datamodule)
        except BaseException as err:  # a failure, a divergence, or a signal: the next job starts clean
            explained = explain(err, trainer)  # before release: which ranks had ended by themselves
            release(trainer, failed=True)
            if isinstance(err, Diverged) and trainer.is_global_zero:
                write_diverged(cfg, trainer, model, run_dir)
            if explained is not None:
                raise explained from err
            raise
        release(trainer, failed=False)  # DDP: the ranks this process started have finished
    if trainer.is_global_zero:
        if results[M.STATUS] == M.PRUNED:
            write_pruned(results, trainer, run_dir)
        else:
            write_end(cfg, results, model, datamodule, trainer, run_dir)
        write_json_atomic(run_dir / timeline.FILE, timeline.marks())
    return results

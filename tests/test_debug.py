"""conf/debug/: quick checks of the whole pipeline, each a real run on the CPU."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import group_options
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning.train import train
from mnist_lightning.trainer import build_trainer


def _tiny(root: Path) -> list[str]:
    return ["data=idx", f"data.root={root}", "data.val_size=40"]


@pytest.mark.parametrize("option", group_options("debug"))
def test_every_preset_builds_a_trainer_and_runs_under_outputs_debug(
    option: str, compose: Callable[..., DictConfig], tmp_path: Path
) -> None:
    cfg = compose(f"debug={option}", fast=False)
    assert cfg.task_name == "debug"
    assert build_trainer(cfg, tmp_path).max_epochs is not None


def test_fast_runs_one_batch_of_each_split(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    cfg = compose(*_tiny(tiny_mnist), "debug=fast", "data.eval_batch_size=16", "trainer.accelerator=cpu",
                  "report=true", fast=False)  # fmt: skip
    results = train(cfg)
    assert results[M.STATUS] == M.OK and results[M.EPOCHS] == 1
    assert results[M.TEST_SAMPLES] == 16  # one test batch of the 60 images
    assert (Path(cfg.run_dir) / "report" / "confusion_matrix.png").is_file()


def test_overfit_learns_its_one_batch_by_heart(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    cfg = compose(*_tiny(tiny_mnist), "debug=overfit", "model=mlp", "data.batch_size=32", "logger=csv",
                  "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", fast=False)  # fmt: skip
    results = train(cfg)
    with open(Path(cfg.run_dir) / "csv" / "metrics.csv", newline="") as f:
        train_acc = [float(row[M.TRAIN_ACC]) for row in csv.DictReader(f) if row.get(M.TRAIN_ACC)]
    assert train_acc[-1] == 1.0 and train_acc[0] < 1.0  # learned, not given
    assert results[M.VAL_ACC_BEST] == 1.0  # validation is the same batch


def test_profiler_writes_its_report_into_the_run_directory(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    cfg = compose(*_tiny(tiny_mnist), "debug=profiler")
    train(cfg)
    profile = (Path(cfg.run_dir) / "fit-profile.txt").read_text()
    assert "run_training_epoch" in profile and "Total" in profile
    assert json.loads((Path(cfg.run_dir) / M.METRICS_FILE).read_text())[M.STATUS] == M.OK

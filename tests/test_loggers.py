"""conf/logger/: every logger gets the metric keys, flat hyperparameters and final metrics of metrics.json."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_mnist
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning.errors import ConfigError
from mnist_lightning.loggers import flat_hparams
from mnist_lightning.train import train
from mnist_lightning.trainer import build_loggers

FINAL = (M.TEST_ACC, M.TEST_LOSS, M.VAL_ACC_BEST, M.FIT_SECONDS, M.EPOCHS)


def _tiny(root: Path) -> list[str]:
    return ["data=idx", f"data.root={root}", "data.val_size=40", "data.batch_size=32"]


def _store(tmp_path: Path) -> str:
    return f"logger.mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"


def _csv_last(run_dir: Path) -> dict[str, float]:
    """The last value of each column of csv/metrics.csv (rows hold only what was logged at their step)."""
    last: dict[str, float] = {}
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            last.update({key: float(value) for key, value in row.items() if value != ""})
    return last


def _mlflow_runs(uri: str) -> list:
    """Every run in the store, read through MLflow's own client API."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def _matches(logged: dict[str, float], metrics: dict) -> None:
    for key in FINAL:
        assert logged[key] == pytest.approx(metrics[key], rel=1e-6), key


def test_csv_holds_the_runs_metrics_and_hyperparameters(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    cfg = compose(*_tiny(tiny_mnist), "logger=csv", "trainer.max_epochs=2")
    train(cfg)
    run_dir = Path(cfg.run_dir)
    metrics = json.loads((run_dir / M.METRICS_FILE).read_text())
    logged = _csv_last(run_dir)
    _matches(logged, metrics)
    assert {M.TRAIN_LOSS, M.TRAIN_ACC, M.VAL_LOSS, M.VAL_ACC} <= logged.keys()
    assert "lr: 0.003" in (run_dir / "csv" / "hparams.yaml").read_text()
    assert not (run_dir / "tensorboard").exists()


def test_mlflow_store_read_back_through_its_client(
    compose: Callable[..., DictConfig], tiny_mnist: Path, tmp_path: Path
) -> None:
    pytest.importorskip("mlflow", reason="logger=mlflow needs pip install 'mnist-lightning[mlflow]'")
    cfg = compose(*_tiny(tiny_mnist), "logger=mlflow", _store(tmp_path), "report=true",
                  "report_figures=[confusion_matrix]")  # fmt: skip
    train(cfg)
    metrics = json.loads((Path(cfg.run_dir) / M.METRICS_FILE).read_text())
    (run,) = _mlflow_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert run.info.status == "FINISHED" and run.data.tags["run_dir"] == cfg.run_dir
    _matches(run.data.metrics, metrics)
    assert run.data.params == {key: str(value) for key, value in flat_hparams(cfg).items()}
    from mlflow import MlflowClient

    artifacts = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").list_artifacts(run.info.run_id, "report")
    assert [a.path for a in artifacts] == ["report/confusion_matrix.png"]


def test_many_writes_tensorboard_csv_and_mlflow_with_the_same_numbers(
    compose: Callable[..., DictConfig], tiny_mnist: Path, tmp_path: Path
) -> None:
    pytest.importorskip("mlflow", reason="logger=many includes mlflow: pip install 'mnist-lightning[mlflow]'")
    cfg = compose(*_tiny(tiny_mnist), "logger=many", _store(tmp_path))
    train(cfg)
    run_dir = Path(cfg.run_dir)
    metrics = json.loads((run_dir / M.METRICS_FILE).read_text())
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    _matches(_csv_last(run_dir), metrics)
    (run,) = _mlflow_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    _matches(run.data.metrics, metrics)


def test_no_logger_still_writes_the_runs_own_files(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    cfg = compose(*_tiny(tiny_mnist), "logger=none", "report=true", "report_figures=[confusion_matrix]")
    assert train(cfg)[M.STATUS] == M.OK
    run_dir = Path(cfg.run_dir)
    assert (run_dir / M.METRICS_FILE).is_file() and (run_dir / "report" / "confusion_matrix.png").is_file()
    assert not (run_dir / "tensorboard").exists() and not (run_dir / "csv").exists()


@pytest.mark.parametrize(("option", "package"), [("mlflow", "mlflow"), ("wandb", "wandb")])
def test_a_logger_whose_package_is_missing_says_which_extra_to_install(
    option: str,
    package: str,
    compose: Callable[..., DictConfig],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as if never installed: import and find_spec fail
    with pytest.raises(ConfigError) as err:
        build_loggers(compose(f"logger={option}", *([_store(tmp_path)] if option == "mlflow" else [])))
    (line,) = str(err.value).splitlines()
    assert line.startswith(f"logger.{option}: needs the {package} package")
    assert f"pip install 'mnist-lightning[{package}]'" in line


def test_two_runs_at_once_share_one_mlflow_store(tmp_path: Path) -> None:
    pytest.importorskip("mlflow", reason="logger=mlflow needs pip install 'mnist-lightning[mlflow]'")
    tiny = make_tiny_mnist(tmp_path / "tiny")
    env = {**os.environ, "MNIST_LIGHTNING_WARM": "0"}  # two cold processes, started together

    def start(seed: int) -> subprocess.Popen:
        args = [sys.executable, "-m", "mnist_lightning", *_tiny(tiny), "debug=limit", "logger=mlflow",
                "report=false", "trainer.accelerator=cpu", "threads=1", f"seed={seed}"]  # fmt: skip
        return subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    procs = [start(seed) for seed in (1, 2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    runs = _mlflow_runs(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")  # the default store under outputs/
    assert sorted(run.data.params["seed"] for run in runs) == ["1", "2"]
    assert all(run.info.status == "FINISHED" and run.data.metrics[M.TEST_ACC] >= 0 for run in runs)
    assert not (tmp_path / "mlruns").exists()  # artifacts go under outputs/ too


def test_a_users_subclass_of_a_logger_is_opened_and_sent_images_like_its_parent(tmp_path: Path) -> None:
    from lightning.pytorch.loggers import TensorBoardLogger

    from mnist_lightning.loggers import open_lines
    from mnist_lightning.loggers.images import send_image

    class MyBoard(TensorBoardLogger):
        """A user's TensorBoard logger with a setting of their own."""

    board = MyBoard(save_dir=tmp_path, name="tb", version="")
    assert open_lines([board]) == [f"TensorBoard: tensorboard --logdir {tmp_path / 'tb'}"]
    send_image([board], "report/x", np.zeros((4, 4, 3), dtype=np.uint8))
    board.finalize("success")
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))

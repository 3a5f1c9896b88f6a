"""End to end: `train(cfg)` and `python -m mnist_lightning` on tiny IDX data and on the real MNIST."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import FAST, MNIST_DIR, group_options, requires_mnist
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_hparams import hparams_session

from mnist_lightning import metric_keys as M
from mnist_lightning.data.folder import write_image_folder
from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.errors import Diverged
from mnist_lightning.train import train


def _tiny(root: Path, *extra: str) -> list[str]:
    return ["data=idx", f"data.root={root}", "data.val_size=40", "data.batch_size=32", *extra]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "mnist_lightning", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_tiny_run_writes_metrics_checkpoints_and_tensorboard(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    cfg = compose(
        *_tiny(
            tiny_mnist,
            "trainer.max_epochs=2",
            "trainer.limit_train_batches=null",
            "optimizer.lr=0.003",
        )
    )
    results = train(cfg)
    run = Path(cfg.run_dir)
    assert set(M.RUN_METRICS) <= results.keys() and results[M.EPOCHS] == 2
    assert json.loads((run / "metrics.json").read_text()) == results
    assert results[M.VAL_ACC_BEST] > 0.5  # the bars are learnable: the model really trained
    assert 0 <= results[M.TEST_ACC] <= 1 and math.isfinite(results[M.TEST_LOSS])

    for name in ("best.ckpt", "last.ckpt"):  # plain data only: loads with weights_only=True
        ckpt = torch.load(run / "checkpoints" / name, weights_only=True)
        assert ckpt["hyper_parameters"]["model"]["net"]["_target_"].endswith("ConvNet")
        assert ckpt["hyper_parameters"]["seed"] == 0

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    wanted = {
        M.TRAIN_LOSS,
        M.TRAIN_ACC,
        M.LR,
        M.VAL_LOSS,
        M.VAL_ACC,
        M.VAL_ACC_BEST,
        M.TEST_LOSS,
        M.TEST_ACC,
    }
    assert wanted <= tags
    assert len(events.Scalars(M.VAL_ACC)) == 2  # one point per epoch
    assert events.Scalars(M.TEST_ACC)[-1].value == pytest.approx(results[M.TEST_ACC])


def test_same_seed_same_result(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    first = train(compose(*_tiny(tiny_mnist), "seed=0"))
    second = train(compose(*_tiny(tiny_mnist), "seed=0"))
    assert first[M.TEST_LOSS] == second[M.TEST_LOSS] and first[M.VAL_ACC_BEST] == second[M.VAL_ACC_BEST]


def test_scheduler_steps_per_optimizer_step(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    cfg = compose(
        *_tiny(tiny_mnist),
        "scheduler=step",
        "scheduler.interval=step",
        "scheduler.step_size=2",
        "scheduler.gamma=0.5",
        "optimizer.lr=0.001",
    )
    train(cfg)
    ckpt = torch.load(Path(cfg.run_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    # 4 optimizer steps, halved every 2 steps: 1e-3 * 0.5**2
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(2.5e-4)


@pytest.mark.parametrize("scheduler", ["onecycle", "cosine", "plateau", "none"])
def test_schedulers_run(scheduler: str, compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    results = train(compose(*_tiny(tiny_mnist), f"scheduler={scheduler}"))
    assert math.isfinite(results[M.TEST_LOSS])


def test_no_validation_writes_strict_json(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    cfg = compose(*_tiny(tiny_mnist), "trainer.limit_val_batches=0")
    train(cfg)
    text = (Path(cfg.run_dir) / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))  # no -Infinity
    assert metrics[M.VAL_ACC_BEST] is None and metrics[M.TEST_SAMPLES] == 60


def test_a_diverging_run_stops_at_once_keeps_its_last_good_checkpoint_and_says_so(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    # SGD at lr 1e12: the first step is finite, the second one's loss is not.
    cfg = compose(*_tiny(tiny_mnist), "optimizer=sgd", "optimizer.lr=1e12", "scheduler=none",
                  "trainer.max_epochs=5", "trainer.limit_train_batches=null",
                  "last_checkpoint_every=1")  # fmt: skip
    with pytest.raises(Diverged) as stopped:
        train(cfg)
    step = re.search(r"training diverged at step (\d+) \(epoch 0, lr 1e\+12\)", str(stopped.value))
    assert step, str(stopped.value)
    run = Path(cfg.run_dir)
    text = (run / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))  # no NaN
    assert metrics[M.STATUS] == M.DIVERGED and metrics[M.TEST_LOSS] is None and metrics[M.TEST_ACC] is None
    assert metrics[M.EPOCHS] < 1  # stopped at once (its share of the first epoch), not after five of NaN
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == int(step[1]) - 1  # the last good step
    weights = {key: value for key, value in last["state_dict"].items() if key.startswith("net.")}
    assert weights and all(torch.isfinite(value).all() for value in weights.values())


def test_a_run_with_only_max_steps_trains_its_whole_schedule(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    # 200 training images in batches of 32: 7 steps an epoch, so 20 steps end in the third epoch.
    for no_epoch_limit in ("-1", "null"):
        cfg = compose(*_tiny(tiny_mnist), f"trainer.max_epochs={no_epoch_limit}", "trainer.max_steps=20",
                      "trainer.limit_train_batches=null", "scheduler=cosine",
                      "scheduler.interval=epoch")  # fmt: skip
        results = train(cfg)
        last = torch.load(Path(cfg.run_dir) / "checkpoints" / "last.ckpt", weights_only=True)
        assert last["global_step"] == 20 and results[M.STATUS] == M.OK
        assert last["lr_schedulers"][0]["T_max"] == 3  # the cosine spans the three epochs those steps take
        hparams, _ = hparams_session(Path(cfg.run_dir))
        assert hparams["max_steps"] == 20 and hparams["max_epochs"] == -1


def test_classic_dataloader_path(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    results = train(compose(*_tiny(tiny_mnist), "data.resident=false", "data.num_workers=0"))
    assert math.isfinite(results[M.TEST_LOSS])


@requires_mnist
@pytest.mark.parametrize("model", group_options("model"))
def test_every_model_trains_on_real_mnist(model: str, compose: Callable[..., DictConfig]) -> None:
    results = train(compose("data=idx", f"data.root={MNIST_DIR}", f"model={model}"))
    assert math.isfinite(results[M.TEST_LOSS]) and 0 <= results[M.TEST_ACC] <= 1


@requires_mnist
def test_default_model_learns_real_mnist_in_a_few_steps(compose: Callable[..., DictConfig]) -> None:
    results = train(compose("data=idx", f"data.root={MNIST_DIR}", "trainer.limit_train_batches=60"))
    assert results[M.TEST_ACC] > 0.85


@requires_mnist
@pytest.mark.parametrize("source", ["idx", "torchvision", "folder"])
def test_every_source_trains_on_real_mnist(
    source: str, compose: Callable[..., DictConfig], tmp_path: Path
) -> None:
    root = MNIST_DIR
    if source == "folder":  # 1,500 real train and 500 real test digits as PNG files
        train_split, test_split = load_idx_dir(MNIST_DIR)
        root = str(tmp_path / "png")
        write_image_folder(train_split.subset(torch.arange(1500)), f"{root}/train")
        write_image_folder(test_split.subset(torch.arange(500)), f"{root}/test")
    extra = {"torchvision": ["data.download=false"], "folder": ["data.val_size=300"]}.get(source, [])
    results = train(compose(f"data={source}", f"data.root={root}", *extra))
    assert math.isfinite(results[M.TEST_LOSS])


def test_cli_single_run_prints_where_and_how_well(tiny_mnist: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _cli(
        *_tiny(tiny_mnist),
        *FAST,
        f"hydra.run.dir={run}",
        f"data.cache_dir={tmp_path}/c",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert f"Run directory: {run}" in out and "Test accuracy:" in out
    assert f"tensorboard --logdir {run / 'tensorboard'}" in out
    assert (run / ".hydra" / "config.yaml").is_file() and (run / "metrics.json").is_file()


def test_cli_multirun_2x2(tiny_mnist: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = _cli(
        "-m",
        "optimizer=sgd,adam",
        "scheduler=step,cosine",
        *_tiny(tiny_mnist),
        *FAST,
        f"hydra.sweep.dir={sweep}",
        f"data.cache_dir={tmp_path}/c",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(jobs) == 4
    overrides = set()
    for job in jobs:
        assert M.TEST_ACC in json.loads((job / "metrics.json").read_text())
        overrides.add((job / ".hydra" / "overrides.yaml").read_text())
    assert len(overrides) == 4  # four different combinations


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the no-GPU error cannot occur")
def test_gpu_without_gpu_fails_at_once_in_one_line(tiny_mnist: Path, tmp_path: Path) -> None:
    proc = _cli(*_tiny(tiny_mnist), "trainer.accelerator=gpu", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: trainer.accelerator=gpu: no CUDA GPU is visible")
    assert "Traceback" not in proc.stderr and "Data from" not in proc.stdout + proc.stderr


@pytest.mark.slow
@requires_mnist
def test_default_run_reaches_99_2_percent(compose: Callable[..., DictConfig]) -> None:
    results = train(compose("data=idx", f"data.root={MNIST_DIR}", "trainer.accelerator=cpu", fast=False))
    assert results[M.TEST_ACC] >= 0.992


def test_cpu_speed_switches(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    cfg = compose(*_tiny(tiny_mnist), "trainer.precision=bf16-mixed", "channels_last=true", "threads=1")
    results = train(cfg)
    assert math.isfinite(results[M.TEST_LOSS]) and torch.get_num_threads() == 1
    torch.set_num_threads(os.cpu_count() or 1)


def test_classic_torchvision_pipeline(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    cfg = compose(
        *_tiny(tiny_mnist),
        "data=torchvision",
        "data.download=false",
        "data.resident=false",
        "data.num_workers=1",
    )
    assert math.isfinite(train(cfg)[M.TEST_LOSS])


@pytest.mark.slow
def test_compiled_network_trains_and_checkpoints_plain_keys(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    cfg = compose(*_tiny(tiny_mnist), "model=mlp", "compile=true")
    train(cfg)
    ckpt = torch.load(Path(cfg.run_dir) / "checkpoints" / "best.ckpt", weights_only=True)
    assert not any("_orig_mod" in key for key in ckpt["state_dict"])


@requires_mnist
def test_fast_recipe_reaches_99_percent_in_under_one_epoch(compose: Callable[..., DictConfig]) -> None:
    overrides = ["experiment=fast", "data=idx", f"data.root={MNIST_DIR}", "trainer.accelerator=cpu"]
    results = train(compose(*overrides, fast=False))
    assert results[M.EPOCHS] == 1 and results[M.TEST_ACC] >= 0.985  # 99.0% is the 5-seed mean

"""Nothing lost, nothing unsafe: resume after SIGKILL, plain-data checkpoints, repeatable runs, errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import make_tiny_mnist
from omegaconf import DictConfig
from PIL import Image

from mnist_lightning import metric_keys as M
from mnist_lightning.continuation import RESUME_KEY
from mnist_lightning.data.folder import read_image_folder
from mnist_lightning.errors import ConfigError, DataError, user_error_in
from mnist_lightning.resume import resumed_config
from mnist_lightning.train import train

PLAIN = (torch.Tensor, int, float, str, bool, type(None))


def _tiny(root: Path, *extra: str) -> list[str]:
    return ["data=idx", f"data.root={root}", "data.val_size=40", "data.batch_size=32", *extra]


def _assert_plain(obj: object, where: str = "checkpoint") -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            assert isinstance(key, (str, int)), where
            _assert_plain(value, f"{where}[{key!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _assert_plain(value, f"{where}[{i}]")
    else:
        assert isinstance(obj, PLAIN), f"{where} holds a {type(obj).__name__}"


def _exact(metrics: dict) -> dict:
    return {key: metrics[key] for key in (M.TEST_LOSS, M.TEST_ACC, M.VAL_ACC_BEST, M.EPOCHS, M.STATUS)}


def test_a_sigkilled_run_resumed_mid_epoch_ends_exactly_as_if_never_stopped(
    compose: Callable[..., DictConfig], tmp_path: Path
) -> None:
    root = make_tiny_mnist(tmp_path / "tiny", n_train=2000, n_test=200)
    # Dropout and augmentation draw random numbers: the checkpoint must bring back the RNG too.
    args = [
        *_tiny(root, "data.val_size=200", "data.batch_size=16"), "data/augment=affine",
        "trainer.max_epochs=2", "last_checkpoint_every=20", "threads=1", "trainer.accelerator=cpu",
        "trainer.deterministic=true", "trainer.enable_progress_bar=false", "report=false",
    ]  # fmt: skip
    whole = train(compose(*args, fast=False))  # the same run, never stopped

    run = tmp_path / "killed"
    cli = [sys.executable, "-m", "mnist_lightning"]
    where = [f"hydra.run.dir={run}", f"data.cache_dir={tmp_path}/c"]
    proc = subprocess.Popen(
        [*cli, *args, *where], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # mid-epoch: the first step checkpoint has just been written
    proc.wait()
    killed = torch.load(last, weights_only=True)
    steps_per_epoch = -(-1800 // 16)
    assert 0 < killed["global_step"] < steps_per_epoch and not (run / "metrics.json").exists()

    done = subprocess.run([*cli, f"resume={run}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    final = torch.load(last, weights_only=True)
    assert final["global_step"] == 2 * steps_per_epoch and final["epoch"] == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert _exact(metrics) == _exact(whole)  # the same numbers: no batch replayed, none skipped
    assert metrics[M.FIT_SECONDS] >= killed[RESUME_KEY]["fit_seconds"]  # both parts' fit time counted
    assert metrics[M.VAL_ACC_BEST] == pytest.approx(float(final["state_dict"]["val_acc_best.max_value"]))
    assert sorted(p.name for p in (run / "tensorboard").iterdir() if p.is_dir()) == []  # no version_N
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) >= 2  # one TB run, appended
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert (run / ".hydra" / "config.yaml").is_file() and list((run / ".hydra").glob("resumed-*"))


def test_resume_keeps_the_runs_config_and_refuses_what_would_change_it(
    compose: Callable[..., DictConfig], tiny_mnist: Path, tmp_path: Path
) -> None:
    first = compose(*_tiny(tiny_mnist), "optimizer.lr=0.002")
    train(first)
    resume = compose(f"resume={first.run_dir}", "threads=1", f"data.root={tmp_path / 'moved'}")
    kept = resumed_config(resume, keys=["resume", "threads", "data.root", "hydra.run.dir"])
    assert kept.optimizer.lr == 0.002 and kept.data.val_size == 40  # the run's own config ...
    assert kept.threads == 1 and kept.data.root == str(tmp_path / "moved")  # ... where it runs may change
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_lightning", f"resume={first.run_dir}", "optimizer.lr=0.5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: resume={first.run_dir}: optimizer.lr cannot change when a run is resumed")
    ), proc.stderr


def test_a_run_from_before_callbacks_and_loggers_were_config_resumes(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    first = compose(*_tiny(tiny_mnist), "trainer.max_epochs=2", "trainer.limit_train_batches=2")
    train(first)
    run_dir = Path(first.run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    for group in ("callbacks", "logger"):  # as its checkpoints were: the Trainer's parts came from code
        del state["hyper_parameters"][group]
    torch.save(state, last)
    (run_dir / M.METRICS_FILE).unlink()  # not finished: resume continues it
    resumed = train(compose(f"resume={run_dir}"))
    assert resumed[M.STATUS] == M.OK and resumed[M.EPOCHS] == 2
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_every_checkpoint_is_plain_data_with_versions(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    cfg = compose(*_tiny(tiny_mnist), "trainer.max_epochs=2", "last_checkpoint_every=1")
    train(cfg)
    run = Path(cfg.run_dir)
    checkpoints = sorted((run / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in checkpoints] == ["best.ckpt", "last.ckpt"]
    for path in checkpoints:
        ckpt = torch.load(path, weights_only=True)  # would raise on any pickled object
        _assert_plain(ckpt, path.name)
        assert ckpt["versions"]["torch"] == torch.__version__.split("+")[0]  # the distribution version
        assert ckpt["hyper_parameters"]["data"]["_target_"].endswith("IdxDataModule")
    saved = json.loads((run / "versions.json").read_text())
    assert {"python", "torch", "lightning", "mnist-lightning", "git_commit"} <= saved.keys()


def test_deterministic_runs_repeat_and_seeds_differ(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    def run(seed: int) -> dict:
        results = train(compose(*_tiny(tiny_mnist), "trainer.deterministic=true", f"seed={seed}"))
        return {k: v for k, v in results.items() if k != M.FIT_SECONDS}

    first, again, other = run(0), run(0), run(1)
    assert first == again
    assert first[M.TEST_LOSS] != other[M.TEST_LOSS]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.batch_size=0", r"data.batch_size=0: must be a whole number, at least 1"),
        ("data.val_size=240", r"data.val_size=240: the train split has only 240 images"),
        ("optimizer.lr=-0.1", r"optimizer: Invalid learning rate: -0.1"),
        ("scheduler.interval=week", r"scheduler.interval='week': use 'epoch' or 'step'"),
        ("ckpt_path=last", r"ckpt_path=last: no checkpoints/last.ckpt"),
    ],
)
def test_impossible_values_name_the_key(
    override: str, message: str, compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    with pytest.raises(Exception) as caught:  # Hydra or Lightning may wrap it: what the CLI prints
        train(compose(*_tiny(tiny_mnist), override))
    error = user_error_in(caught.value)
    assert isinstance(error, (ConfigError, DataError))
    assert re.search(message, str(error)), str(error)


def test_resume_without_a_checkpoint(compose: Callable[..., DictConfig], tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"resume=.*: no checkpoints/last.ckpt there"):
        train(compose(f"resume={tmp_path}"))


def test_cli_error_for_a_wrapped_config_mistake_is_one_line(tiny_mnist: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_lightning", *_tiny(tiny_mnist, "data.batch_size=0"),
         f"hydra.run.dir={tmp_path}/run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line == "error: data.batch_size=0: must be a whole number, at least 1"
    assert "Traceback" not in proc.stderr


def test_fp16_on_cpu_falls_back_to_bf16_and_says_so(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    with pytest.warns(UserWarning, match="bf16-mixed"):
        results = train(compose(*_tiny(tiny_mnist), "trainer.precision=16-mixed"))
    assert results[M.TEST_LOSS] == results[M.TEST_LOSS]  # not NaN


def test_empty_class_folder_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "3").mkdir()
    (tmp_path / "4").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "3" / "a.png")
    digits = read_image_folder(tmp_path)
    assert len(digits) == 1 and "4: empty class folder" in caplog.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["trainr.max_epochs=3"],
            "error: Could not override 'trainr.max_epochs'. (Key 'trainr' not in 'Config')",
        ),
        (["model=vgg16"], "error: In 'config': Could not find 'model/vgg16'; available: bncnn, convnet,"),
        (["data.batch_size=abc"], "error: data.batch_size=abc: must be a whole number, at least 1"),
    ],
)
def test_cli_config_mistakes_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_lightning", *args, f"hydra.run.dir={tmp_path}/run", "data=idx",
         f"data.root={make_tiny_mnist(tmp_path / 'tiny')}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"},
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(message) and "Traceback" not in proc.stderr, proc.stderr


def test_ckpt_path_last_continues_in_the_same_run_directory(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    first = compose(*_tiny(tiny_mnist), "trainer.max_epochs=1", "trainer.limit_train_batches=null")
    train(first)
    steps = torch.load(Path(first.run_dir) / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    again = compose(
        *_tiny(tiny_mnist), "trainer.max_epochs=2", "trainer.limit_train_batches=null", "ckpt_path=last"
    )
    assert again.run_dir == first.run_dir
    assert train(again)[M.EPOCHS] == 2
    final = torch.load(Path(again.run_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert final["global_step"] == 2 * steps

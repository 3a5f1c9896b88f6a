"""conf/callbacks/: the callbacks every run needs stay on; optional ones, Lightning's or a user's, by name."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import group_options, make_tiny_mnist
from hydra.utils import get_class
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelSummary
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning.callbacks import BestCheckpoint, DivergenceGuard, EpochLine, LastCheckpoint
from mnist_lightning.train import train
from mnist_lightning.trainer import build_callbacks

NEEDED = (DivergenceGuard, LastCheckpoint, BestCheckpoint, EpochLine)  # in every run, whatever is chosen


def _tiny(root: Path) -> list[str]:
    return ["data=idx", f"data.root={root}", "data.val_size=40", "data.batch_size=32"]


@pytest.mark.parametrize("option", group_options("callbacks"))
def test_every_option_builds_and_keeps_what_a_run_needs(
    option: str, compose: Callable[..., DictConfig]
) -> None:
    if option == "rich_progress":
        pytest.importorskip("rich", reason="rich_progress needs pip install 'mnist-lightning[rich]'")
    cfg = compose(f"callbacks={option}", "trainer.enable_progress_bar=true")
    callbacks = build_callbacks(cfg)
    assert all(any(isinstance(cb, kind) for cb in callbacks) for kind in NEEDED), option
    for name, node in cfg.callbacks.items():
        assert any(type(cb) is get_class(node._target_) for cb in callbacks), name


def test_several_at_once_and_none_turns_the_optional_ones_off(compose: Callable[..., DictConfig]) -> None:
    several = compose("callbacks=[early_stopping,lr_monitor,model_summary]")
    kinds = {type(cb) for cb in build_callbacks(several)}
    assert {EarlyStopping, LearningRateMonitor, ModelSummary} <= kinds
    plain = {type(cb) for cb in build_callbacks(compose("callbacks=none"))}
    assert not {EarlyStopping, LearningRateMonitor, ModelSummary} & plain and set(NEEDED) <= plain
    # a key set to null is left out, e.g. an experiment's choice undone from the command line
    unset = build_callbacks(compose("callbacks=early_stopping", "callbacks.early_stopping=null"))
    assert not any(isinstance(cb, EarlyStopping) for cb in unset)


def test_early_stopping_with_patience_one_stops_and_metrics_say_after_how_many_epochs(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    # An lr too small to change val/acc (and no batch norm statistics): no improvement after epoch 1.
    cfg = compose(*_tiny(tiny_mnist), "callbacks=early_stopping", "callbacks.early_stopping.patience=1",
                  "trainer.max_epochs=10", "model=mlp", "optimizer=sgd", "optimizer.lr=1e-12",
                  "scheduler=none")  # fmt: skip
    results = train(cfg)
    assert results[M.EPOCHS] == 2 and results[M.STATUS] == M.OK
    assert json.loads((Path(cfg.run_dir) / M.METRICS_FILE).read_text())[M.EPOCHS] == 2


USER_CALLBACK = '''
from lightning.pytorch.callbacks import Callback

class CountEpochs(Callback):
    """Writes how many training epochs ended into `path`."""

    def __init__(self, path: str) -> None:
        self.path, self.epochs = path, 0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.epochs += 1
        with open(self.path, "w") as f:
            f.write(str(self.epochs))
'''


def test_a_users_own_callback_by_target_and_a_missing_one_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "my_pkg").mkdir()
    (tmp_path / "my_pkg" / "__init__.py").write_text(USER_CALLBACK)
    tiny, counted = make_tiny_mnist(tmp_path / "tiny"), tmp_path / "epochs.txt"
    base = [sys.executable, "-m", "mnist_lightning", *_tiny(tiny), "debug=limit", "trainer.max_epochs=2",
            "report=false", "trainer.accelerator=cpu", f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    mine = ["+callbacks.mine._target_=my_pkg.CountEpochs", f"+callbacks.mine.path={counted}"]
    proc = subprocess.run([*base, *mine], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert counted.read_text() == "2"
    typo = [*base[:-1], f"hydra.run.dir={tmp_path / 'run2'}", "+callbacks.mine._target_=my_pkg.CountEpoch"]
    proc = subprocess.run(typo, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: callbacks.mine:") and "my_pkg.CountEpoch" in line


def _run(tmp_path: Path, out: int, err: int) -> subprocess.Popen:
    tiny = make_tiny_mnist(tmp_path / "tiny")
    args = [sys.executable, "-m", "mnist_lightning", *_tiny(tiny), "trainer.max_epochs=3", "report=false",
            "trainer.accelerator=cpu", "progress_refresh=1", "test=false",
            f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    return subprocess.Popen(args, cwd=tmp_path, stdout=out, stderr=err)


def test_off_a_terminal_each_epoch_is_one_line_and_no_progress_bar(tmp_path: Path) -> None:
    proc = _run(tmp_path, subprocess.PIPE, subprocess.STDOUT)  # both into one pipe, as in a log file
    out = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 0, out[-2000:]
    assert "\r" not in out and "it/s" not in out
    assert [int(n) for n in re.findall(r"Epoch (\d+)/3: train loss", out)] == [1, 2, 3]


def test_on_a_terminal_the_bar_is_drawn(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    # A terminal 120 columns wide: tqdm sizes its bar to the terminal and draws nothing in zero columns.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    drawn: list[bytes] = []

    def read() -> None:  # while the run writes: a full terminal buffer would block it
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: all is read
                return
            if not chunk:
                return
            drawn.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    proc = _run(tmp_path, follower, follower)
    os.close(follower)  # the child holds its own copy
    proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(leader)
    assert proc.returncode == 0
    assert b"\r" in b"".join(drawn) and b"Epoch 0" in b"".join(drawn)  # tqdm's own redraws

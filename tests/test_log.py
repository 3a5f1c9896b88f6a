"""The log (issue 14): plain words, one line per epoch, where to look at the end, no third-party chatter."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import make_tiny_mnist
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning.quiet import CHATTY_LOGGERS, LIGHTNING_CHATTER, LIGHTNING_INFO, quiet
from mnist_lightning.train import train

# What a default run printed before issue 14: adverts, warnings about Lightning's own code, our own
# event files being read back, and wrong wording.
CHATTER = (
    "Tip:", "LeafSpec", "log_every_n_steps", "Directory watcher", "No path found after", "nan%", "1 epochs",
    "Loading `train_dataloader`", "Total estimated model params",  # the last: Lightning's own summary table
)  # fmt: skip
EPOCHS = 2
EPOCH_LINE = re.compile(
    rf"Epoch (\d+)/{EPOCHS}: train loss \d+\.\d+, acc \d+\.\d+% \| val loss \d+\.\d+, acc \d+\.\d+% "
    r"\| lr \S+ \| \d+\.\d s$",
    re.MULTILINE,
)
RESULT = re.compile(rf"Test accuracy: [\d.]+% \(best val [\d.]+%, {EPOCHS} epochs, fit [\d.]+ s\)")


def _message(line: str) -> str:
    """A log line without Hydra's `[time][logger][LEVEL] - ` prefix."""
    return line.split(" - ", 1)[-1]


def test_a_run_logs_its_epochs_its_result_and_where_to_look_and_nothing_else(tmp_path: Path) -> None:
    tiny, run = make_tiny_mnist(tmp_path / "tiny"), tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable, "-m", "mnist_lightning", "data=idx", f"data.root={tiny}", "data.val_size=40",
            "model=mlp", "trainer.accelerator=cpu", f"trainer.max_epochs={EPOCHS}",
            "trainer.limit_train_batches=3", "threads=1", "report=true", "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run}", f"data.cache_dir={tmp_path / 'cache'}",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert [chatter for chatter in CHATTER if chatter in out] == [], out
    *_, result, folder, report, tensorboard = map(_message, proc.stdout.splitlines())
    assert RESULT.fullmatch(result), result
    assert folder == f"Run directory: {run}"
    assert report == f"Report: {run / 'report'}" and (run / "report" / "curves.png").is_file()
    assert tensorboard == f"TensorBoard: tensorboard --logdir {run / 'tensorboard'}"
    epochs = [int(n) for n in EPOCH_LINE.findall((run / "train.log").read_text())]
    assert epochs == list(range(1, EPOCHS + 1))


def test_verbose_brings_lightnings_warnings_back_and_no_validation_says_so(
    compose: Callable[..., DictConfig],
    tiny_mnist: Path,
    recwarn: pytest.WarningsRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    tiny = ("data=idx", f"data.root={tiny_mnist}", "data.val_size=40")
    train(compose(*tiny, "trainer.limit_val_batches=0", "verbose=true"))
    warned = " ".join(str(w.message) for w in recwarn)
    assert "log_every_n_steps" in warned and "LeafSpec" in warned
    assert "(no validation, 1 epoch, fit" in caplog.text and "nan%" not in caplog.text
    assert "Epoch 1/1: train loss" in caplog.text and "| no validation |" in caplog.text


def test_a_continued_run_is_not_warned_about_its_own_checkpoints(
    compose: Callable[..., DictConfig], tiny_mnist: Path, recwarn: pytest.WarningsRecorder
) -> None:
    tiny = ("data=idx", f"data.root={tiny_mnist}", "data.val_size=40")
    train(compose(*tiny))
    assert train(compose(*tiny, "trainer.max_epochs=2", "ckpt_path=last"))[M.EPOCHS] == 2
    assert [str(w.message) for w in recwarn if "Checkpoint directory" in str(w.message)] == []


def test_quiet_drops_only_the_chatter_and_verbose_lets_it_through() -> None:
    info = logging.getLogger(LIGHTNING_INFO)
    tip, note = (
        info.makeRecord(LIGHTNING_INFO, logging.INFO, __file__, 0, message, (), None)
        for message in (f"{LIGHTNING_CHATTER[0]} try our cloud", "GPU available: False, used: False")
    )
    try:
        quiet(False)
        assert not info.filter(tip) and info.filter(note)
        assert all(logging.getLogger(name).getEffectiveLevel() == logging.WARNING for name in CHATTY_LOGGERS)
    finally:
        quiet(True)
    assert info.filter(tip) and info.filter(note)

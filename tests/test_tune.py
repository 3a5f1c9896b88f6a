"""`python -m mnist_lightning.tune`: Lightning's LR finder (and batch-size finder) on our model and data."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CONF_DIR, make_tiny_mnist
from hydra import compose, initialize_config_dir

from mnist_lightning.data.batches import TensorBatches
from mnist_lightning.errors import ConfigError
from mnist_lightning.reports.lr_find import PLOT, RESULTS
from mnist_lightning.tune import tune

DRIVER = Path(__file__).with_name("cli_driver.py")
# The default model (convnet) and scheduler (onecycle) on tiny data: 30 LRs of batch 32 take ~1 s.
TINY = ["data=idx", "data.val_size=40", "data.batch_size=32", "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false", "threads=1", "tune.num_training=30"]  # fmt: skip


def _tune(tmp_path: Path, tiny: Path, *overrides: str) -> dict:
    args = [f"run_dir={tmp_path / 'run'}", f"data.root={tiny}", f"data.cache_dir={tmp_path / 'c'}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return tune(compose("tune", overrides=[*args, *TINY, *overrides]))


def test_tune_writes_its_plot_and_json_with_a_finite_suggestion(tiny_mnist: Path, tmp_path: Path) -> None:
    results = _tune(tmp_path, tiny_mnist)
    lr = results["suggested_lr"]
    assert math.isfinite(lr) and 1e-6 <= lr <= 1
    run = tmp_path / "run"
    # The finder's temporary checkpoint (.lr_find_*.ckpt in the run directory) is gone.
    assert sorted(p.name for p in run.iterdir()) == sorted([PLOT, RESULTS])
    assert (run / PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads((run / RESULTS).read_text())
    assert written["suggested_lr"] == lr and lr in written["lr"]
    assert len(written["lr"]) == len(written["loss"]) >= 13
    assert written["settings"]["num_training"] == 30 and written["suggested_batch_size"] is None


def test_the_batch_size_finder_sets_data_batch_size_and_the_lr_finder_uses_it(
    tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []  # (the loader's batch size, the first batch's length) per training pass
    iterate = TensorBatches.__iter__

    def recorded(self: TensorBatches) -> Iterator:
        for i, batch in enumerate(iterate(self)):
            if self.shuffle and i == 0:
                seen.append((self.batch_size, len(batch[1])))
            yield batch

    monkeypatch.setattr(TensorBatches, "__iter__", recorded)
    results = _tune(tmp_path, tiny_mnist, "tune.batch_size=true", "tune.max_batch_size=64")
    # No memory runs out on tiny data: doubled from 2 up to the limit, which the LR finder then trains with.
    assert results["suggested_batch_size"] == 64 and results["data.batch_size"] == 64
    assert [size for size, _ in seen[:5]] == [2, 4, 8, 16, 32]
    assert seen[-1] == (64, 64)
    assert not list((tmp_path / "run").glob("*.ckpt"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tune.min_lr=1", "tune.max_lr=0.1"], "tune.min_lr=1.0, tune.max_lr=0.1: the range must be"),
        (["tune.num_training=5"], "tune.num_training=5: use at least 13"),
        (["trainer=ddp"], "tune: the finders run on one device"),
    ],
)
def test_settings_the_finders_cannot_use_fail_at_start(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):  # before any data is read
        _tune(Path("/nonexistent"), Path("/nonexistent"), *overrides)


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """A tune run, a bad range, a diverging search and --help, through the real entry point."""
    tmp = tmp_path_factory.mktemp("tune")
    tiny = make_tiny_mnist(tmp / "tiny")
    common = ["mnist_lightning.tune", *TINY, f"data.root={tiny}", f"data.cache_dir={tmp / 'c'}"]
    argvs = {
        "run": [*common, f"hydra.run.dir={tmp / 'run'}", "tune.max_lr=0.5"],
        "bad range": [*common, "tune.min_lr=0.1", "tune.max_lr=0.1"],
        "diverges": [*common, f"hydra.run.dir={tmp / 'diverged'}", "tune.min_lr=10", "tune.max_lr=1e5"],
        "help": ["mnist_lightning.tune", "--help"],
    }
    (tmp / "in.json").write_text(json.dumps(list(argvs.values())))
    proc = subprocess.run([sys.executable, str(DRIVER), str(tmp / "in.json"), str(tmp / "out.json")],
                          cwd=tmp, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"tmp": tmp, **dict(zip(argvs, json.loads((tmp / "out.json").read_text()), strict=True))}


def test_the_cli_prints_the_override_to_train_with(commands: dict) -> None:
    result = commands["run"]
    assert result["status"] == 0, result["stderr"][-2000:]
    (line,) = [line for line in result["output"].splitlines() if line.startswith("Suggested: ")]
    lr = json.loads((commands["tmp"] / "run" / RESULTS).read_text())["suggested_lr"]
    assert line.startswith(f"Suggested: optimizer.lr={lr:.2g}  (python -m mnist_lightning data=idx")
    # The training overrides come back, the tune ones do not, and the suggestion ends the command.
    assert "data.batch_size=32" in line and "tune." not in line and line.endswith(f"optimizer.lr={lr:.2g})")
    assert "Finding best initial lr" not in result["output"]  # the finder's bar: only on a terminal


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad range", "error: tune.min_lr=0.1, tune.max_lr=0.1: the range must be 0 < min_lr < max_lr"),
        ("diverges", "error: tune: too few points to suggest an LR (the loss diverged at lr="),
    ],
)
def test_a_bad_range_or_a_diverging_search_is_one_line(commands: dict, name: str, message: str) -> None:
    result = commands[name]
    stderr = result["stderr"]
    assert result["status"] == 2 and "Traceback" not in stderr, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith(message)
    assert "tune.max_lr" in stderr.strip().splitlines()[-1] or name == "bad range"


def test_a_diverged_search_still_leaves_its_curve_and_no_checkpoint(commands: dict) -> None:
    run = commands["tmp"] / "diverged"
    assert json.loads((run / RESULTS).read_text())["suggested_lr"] is None
    assert (run / PLOT).is_file() and not list(run.glob("*.ckpt"))


def test_help_lists_the_tune_settings(commands: dict) -> None:
    result = commands["help"]
    assert result["status"] == 0, result["stderr"][-2000:]
    assert "mnist-lightning: tune." in result["output"] and "min_lr: 1.0e-06" in result["output"]

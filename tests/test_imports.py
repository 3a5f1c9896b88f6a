"""Speed from Enter to exit (issue 15): entry points that import fast, a run's timeline, a quick exit.

torch and Lightning alone take ~4 s to import on a 2-core CPU; an entry point imports them inside the
function that needs them, after Hydra has composed and checked the config, so that `--help` and a
mistyped override answer in well under a second.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_tiny_mnist
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mnist_lightning import timeline

ENTRY_POINTS = (
    "mnist_lightning.__main__",
    "mnist_lightning.evaluate",
    "mnist_lightning.predict",
    "mnist_lightning.export",
    "mnist_lightning.export_images",
    "mnist_lightning.sweep_report",
    "mnist_lightning.tune",
    "mnist_lightning.serve",
)
HEAVY = (
    "torch", "lightning", "torchvision", "torchmetrics", "matplotlib", "onnx", "onnxscript", "optuna",
    "tensorboard", "mnist_lightning.reports", "starlette", "uvicorn",
)  # fmt: skip


def _heavy_imported_by(module: str) -> list[str]:
    """The heavy modules in sys.modules after a fresh interpreter imports `module`."""
    code = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        f"print(json.dumps([name for name in {list(HEAVY)!r} if name in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_importing_an_entry_point_loads_no_heavy_library(module: str) -> None:
    assert _heavy_imported_by(module) == []


def test_a_mark_drops_the_later_marks_of_an_earlier_job() -> None:
    for phase in timeline.PHASES:
        timeline.mark(phase)
    timeline.mark("composed")  # a multirun's next job: the first job's data, fit, ... are not its own
    assert list(timeline.marks()) == ["main", "composed"]


def test_imports_are_frozen_once_so_a_later_job_never_freezes_an_earlier_jobs_garbage() -> None:
    code = (
        "import gc; from mnist_lightning.termination import freeze_imports; freeze_imports(); "
        "frozen = gc.get_freeze_count(); later = [[] for _ in range(1000)]; freeze_imports(); "
        "print(frozen > 0 and gc.get_freeze_count() == frozen)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["True"], proc.stderr[-2000:]


def test_a_run_leaves_its_timeline_and_its_closed_tensorboard_events(tmp_path: Path) -> None:
    tiny, run = make_tiny_mnist(tmp_path / "tiny"), tmp_path / "run"
    started = time.time()
    proc = subprocess.run(
        [
            sys.executable, "-m", "mnist_lightning", "data=idx", f"data.root={tiny}", "data.val_size=40",
            "model=mlp", "trainer.accelerator=cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=3",
            "threads=1", "report=true", "trainer.enable_progress_bar=false", f"hydra.run.dir={run}",
            f"data.cache_dir={tmp_path / 'cache'}",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    ended = time.time()
    assert proc.returncode == 0, proc.stderr[-2000:]
    marks = json.loads((run / timeline.FILE).read_text())
    assert sorted(marks, key=marks.__getitem__) == list(timeline.PHASES)
    assert started < marks["main"] and marks["report"] < ended
    # Written after fit and test had closed the event file, and still on disk after the quick exit.
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert "report/confusion_matrix" in events.Tags()["images"]
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")

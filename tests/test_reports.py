"""The run report: every figure and table written after the test, from a real (tiny) run."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mnist_lightning.train import train

FIGURES = ("confusion_matrix", "curves", "predictions", "mistakes")


def test_report_after_training(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    cfg = compose(
        "data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "trainer.max_epochs=2", "report=true"
    )
    train(cfg)
    report = Path(cfg.run_dir) / "report"
    for name in FIGURES:
        with Image.open(report / f"{name}.png") as image:
            assert image.size[0] > 300 and image.size[1] > 200, name
    maps = sorted(report.glob("feature_maps_*.png"))
    assert len(maps) == 2  # the default convnet's two conv layers
    rows = list(csv.DictReader((report / "per_class.csv").open()))
    assert [int(r["digit"]) for r in rows] == list(range(10))
    assert sum(int(r["support"]) for r in rows) == 60  # the whole tiny test split
    summary = (report / "summary.txt").read_text()
    assert "total params: " in summary and "features.0" in summary and "MB" in summary
    events = EventAccumulator(str(Path(cfg.run_dir) / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {f"report/{name}" for name in FIGURES} <= set(events.Tags()["images"])


def test_mlp_report_has_no_feature_maps_and_report_false_writes_none(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    cfg = compose("data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "model=mlp", "report=true")
    train(cfg)
    report = Path(cfg.run_dir) / "report"
    assert (report / "confusion_matrix.png").is_file() and not list(report.glob("feature_maps_*"))
    off = compose(
        "data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "run_dir=" + str(report.parent / "off")
    )
    train(off)
    assert not (Path(off.run_dir) / "report").exists()

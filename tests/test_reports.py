"""The run report: every figure and table written after the test, from a real (tiny) run."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mnist_lightning import metric_keys as M
from mnist_lightning.checks import check_run
from mnist_lightning.errors import ConfigError
from mnist_lightning.reports import figures
from mnist_lightning.reports.run_report import FIGURES as REPORT_FIGURES
from mnist_lightning.train import train

FIGURES = ("confusion_matrix", "per_class_accuracy", "curves", "predictions", "mistakes")


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
    assert [int(r["class"]) for r in rows] == list(range(10)) and [r["name"] for r in rows] == list(
        "0123456789"
    )
    assert sum(int(r["support"]) for r in rows) == 60  # the whole tiny test split
    summary = (report / "summary.txt").read_text()
    assert "total params: " in summary and "features.0" in summary and "MB" in summary
    events = EventAccumulator(str(Path(cfg.run_dir) / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    for name in FIGURES:  # drawn once: TensorBoard holds the very pixels of each PNG
        (logged,) = events.Images(f"report/{name}")
        with (
            Image.open(report / f"{name}.png") as png,
            Image.open(io.BytesIO(logged.encoded_image_string)) as tb,
        ):
            assert png.tobytes() == tb.convert(png.mode).tobytes(), name


def test_report_counts_are_the_test_pass_counts(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    # Two test batches of 16 of the 60 images, in bf16: the report must count exactly what was tested.
    cfg = compose(
        "data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "data.eval_batch_size=16",
        "trainer.limit_test_batches=2", "trainer.precision=bf16-mixed", "report=true",
    )  # fmt: skip
    results = train(cfg)
    rows = list(csv.DictReader((Path(cfg.run_dir) / "report" / "per_class.csv").open()))
    support, correct = (sum(int(r[key]) for r in rows) for key in ("support", "correct"))
    assert support == results[M.TEST_SAMPLES] == 32
    assert correct / support == pytest.approx(results[M.TEST_ACC], abs=1e-6)


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


def test_report_draws_only_the_figures_asked_for(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    cfg = compose(
        "data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "report=true",
        "report_figures=[confusion_matrix]",
    )  # fmt: skip
    train(cfg)
    report = Path(cfg.run_dir) / "report"
    assert {p.name for p in report.iterdir()} == {"confusion_matrix.png", "per_class.csv", "summary.txt"}
    events = EventAccumulator(str(Path(cfg.run_dir) / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    figures = [tag for tag in events.Tags()["images"] if tag.startswith("report/")]  # not test_images/
    assert figures == ["report/confusion_matrix"]


def test_an_unknown_report_figure_is_one_line_naming_the_choices(compose: Callable[..., DictConfig]) -> None:
    with pytest.raises(ConfigError) as refused:
        check_run(compose("report_figures=[curves,confusion]"))
    message = str(refused.value)
    assert message.startswith("report_figures=[curves,confusion]: no figure named 'confusion'")
    assert (
        "\n" not in message and all(name in message for name in REPORT_FIGURES) and "null for all" in message
    )


def test_image_grids_are_one_axes_each_and_may_be_empty() -> None:
    digits = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)  # (N, 28, 28)
    made = [
        figures.digits_figure(digits, [1, 2, 3, 4, 5], [1, 2, 0, 4, 5], [0.9] * 5, "Some"),
        figures.digits_figure(digits[:0], [], [], [], "No mistakes"),
        figures.feature_maps_figure("conv", np.random.default_rng(1).random((40, 6, 6))),  # 32 of 40 shown
    ]
    for fig in made:
        assert len(fig.axes) == 1  # one mosaic, not a subplot per cell
        pixels = figures.render(fig)
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3

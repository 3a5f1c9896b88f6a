"""TensorBoard as a user opens it: read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf import text_format
from omegaconf import DictConfig
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.projector import projector_config_pb2
from test_hparams import hparams_session

from mnist_lightning import metric_keys as M
from mnist_lightning.errors import ConfigError
from mnist_lightning.train import train
from mnist_lightning.trainer import build_loggers

GROUPS = ("train/", "val/", "test/")  # with M.LR, the only places a scalar tag may sit


def read_events(run_dir: Path) -> EventAccumulator:
    """Every event of the run's TensorBoard folder, nothing sampled away."""
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def read_layout(events: EventAccumulator) -> layout_pb2.Layout:
    """The CUSTOM SCALARS tab's layout, as the run wrote it."""
    (event,) = events.Tensors("custom_scalars__config__")
    return layout_pb2.Layout.FromString(event.tensor_proto.string_val[0])


def _tiny(root: Path, *extra: str) -> list[str]:
    return ["data=idx", f"data.root={root}", "data.val_size=40", "data.batch_size=16", *extra]


def test_scalars_are_grouped_laid_out_and_have_per_step_training_loss(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    # 2 epochs of 4 batches, a point every 3 steps: steps 3 and 6 (0-based 2 and 5), across the epochs.
    cfg = compose(*_tiny(tiny_mnist, "trainer.max_epochs=2", "trainer.log_every_n_steps=3"))
    train(cfg)
    events = read_events(Path(cfg.run_dir))
    tags = set(events.Tags()["scalars"])
    assert "epoch" not in tags and M.FIT_SECONDS not in tags and M.EPOCHS not in tags
    assert all(tag.startswith(GROUPS) or tag == M.LR for tag in tags), tags
    assert [e.step for e in events.Scalars(M.TRAIN_LOSS_STEP)] == [2, 5]
    assert [e.step for e in events.Scalars(M.VAL_LOSS)] == [3, 7]  # on the same axis: epoch ends
    assert len(events.Scalars(M.TRAIN_LOSS)) == 2  # the epoch curve stays

    charts = {
        chart.title: list(chart.multiline.tag) for c in read_layout(events).category for chart in c.chart
    }
    assert len(charts) == 3
    drawn = [[t for t in tags if re.search(rx, t)] for regexes in charts.values() for rx in regexes]
    assert all(len(found) == 1 for found in drawn), drawn  # each regex names one real tag
    together = [{t for rx in regexes for t in tags if re.search(rx, t)} for regexes in charts.values()]
    assert {M.TRAIN_LOSS, M.VAL_LOSS} <= together[0] and {M.TRAIN_ACC, M.VAL_ACC} <= together[1]


def test_a_run_with_no_metric_but_its_facts_keeps_them_in_hparams(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    cfg = compose(*_tiny(tiny_mnist, "test=false", "trainer.limit_val_batches=0"))
    results = train(cfg)  # neither tested nor validated: fit seconds and epochs are all it has
    hparams, scalars = hparams_session(Path(cfg.run_dir))
    assert hparams[M.FIT_SECONDS] == results[M.FIT_SECONDS] and hparams[M.EPOCHS] == 1
    assert scalars == {} and M.FIT_SECONDS not in read_events(Path(cfg.run_dir)).Tags()["scalars"]


def test_test_pass_dashboards_pr_curves_class_images_and_projector(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    # 2 test batches of 16: 32 tested images, 20 of them in the projector.
    sampled = "logger.tensorboard.projector_samples=20"
    cfg = compose(*_tiny(tiny_mnist, "report=true", "report_figures=[per_class_accuracy]", sampled))
    train(cfg)
    run, names = Path(cfg.run_dir), [str(k) for k in range(10)]
    events = read_events(run)
    pr_tags = set(events.PluginTagToContent("pr_curves"))
    assert pr_tags == {f"test/pr/{name}" for name in names}
    images = set(events.Tags()["images"])
    assert "report/per_class_accuracy" in images and (run / "report" / "per_class_accuracy.png").is_file()
    assert {f"test_images/{name}" for name in names} <= images  # every class has tested images here

    config = text_format.Parse((run / "tensorboard" / "projector_config.pbtxt").read_text(),
                               projector_config_pb2.ProjectorConfig())  # fmt: skip
    (embedding,) = config.embeddings
    metadata = (run / "tensorboard" / embedding.metadata_path).read_text().splitlines()
    assert metadata[0].split("\t") == ["label", "prediction", "correct"] and len(metadata) == 1 + 20
    assert list(embedding.sprite.single_image_dim) == [28, 28]
    with Image.open(run / "tensorboard" / embedding.sprite.image_path) as sprite:
        assert sprite.size == (5 * 28, 5 * 28)  # a square of ceil(sqrt(20)) images a side
    features = (run / "tensorboard" / embedding.tensor_path).read_text().splitlines()
    assert len(features) == 20 and len(features[0].split("\t")) > 10  # the penultimate layer's width


def test_the_projector_and_class_images_can_be_turned_off_and_refuse_a_negative_count(
    compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    off = ("report=true", "report_figures=[]", "logger.tensorboard.projector_samples=0",
           "logger.tensorboard.class_images=0")  # fmt: skip
    cfg = compose(*_tiny(tiny_mnist, *off))
    train(cfg)
    assert not (Path(cfg.run_dir) / "tensorboard" / "projector_config.pbtxt").exists()
    assert not any(tag.startswith("test_images/") for tag in read_events(Path(cfg.run_dir)).Tags()["images"])
    with pytest.raises(ConfigError, match=r"^logger\.tensorboard: projector_samples=-1: use 0"):
        build_loggers(compose("logger.tensorboard.projector_samples=-1"))

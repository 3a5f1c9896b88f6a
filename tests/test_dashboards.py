"""TensorBoard as a user opens it: read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from test_hparams import hparams_session

from mnist_lightning import metric_keys as M
from mnist_lightning.train import train

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

"""The TensorBoard HPARAMS tab: flat hyperparameters with the real final metrics, read back from disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from mnist_lightning import metric_keys as M
from mnist_lightning.loggers.tensorboard import RUN_FACTS
from mnist_lightning.train import train


def hparams_session(run_dir: Path) -> tuple[dict, dict]:
    """(hyperparameters, the scalar metrics at the HPARAMS tags) from the run's event files."""
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    hparams = {key: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
               for key, value in info.hparams.items()}  # fmt: skip
    # The run's facts (fit seconds, epochs run) are HPARAMS columns, not scalars: the rest are scalars.
    tags = set(events.Tags()["scalars"])
    scalars = {
        tag: events.Scalars(tag)[-1].value for tag in M.RUN_METRICS if tag in tags and tag not in RUN_FACTS
    }
    return hparams, scalars


def test_hparams_tab_holds_real_metrics(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    cfg = compose("data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "optimizer=sgd",
                  "optimizer.lr=0.05", "scheduler=cosine", "data.batch_size=16", "seed=3")  # fmt: skip
    results = train(cfg)
    hparams, scalars = hparams_session(Path(cfg.run_dir))
    assert hparams["optimizer"] == "SGD" and hparams["lr"] == 0.05 and hparams["batch_size"] == 16
    assert (
        hparams["scheduler"] == "CosineAnnealingLR" and hparams["seed"] == 3 and hparams["model"] == "ConvNet"
    )
    for key in RUN_FACTS:
        assert hparams[key] == results[key], key
    assert set(scalars) == set(M.RUN_METRICS) - set(RUN_FACTS)
    for key in scalars:
        assert abs(scalars[key] - results[key]) <= 1e-6 * max(1.0, abs(results[key])), key  # float32 in TB
    assert scalars[M.VAL_ACC_BEST] != -1

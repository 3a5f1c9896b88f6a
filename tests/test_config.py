"""Every config option composes; the schema rejects typos; recipes carry their own hyperparameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import CONF_DIR, group_options
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from mnist_lightning.schedules import PiecewiseConstantLR

GROUPS = (
    "data",
    "data/augment",
    "model",
    "optimizer",
    "scheduler",
    "trainer",
    "callbacks",
    "logger",
    "experiment",
    "hparams_search",
    "debug",
)


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in group_options(g)])
def test_every_option_composes_and_targets_resolve(
    group: str, option: str, compose: Callable[..., DictConfig]
) -> None:
    cfg = compose(f"{group}={option}")
    built = (cfg.data, cfg.model.net, cfg.model.loss, cfg.optimizer, cfg.trainer)
    for node in (*built, *cfg.callbacks.values(), *(cfg.logger or {}).values()):
        assert callable(get_class(node._target_))
    for node in (cfg.scheduler, cfg.data.augment):
        if node:
            assert callable(get_class(node._target_))


def test_defaults(compose: Callable[..., DictConfig]) -> None:
    cfg = compose(fast=False)
    assert cfg.seed == 0 and cfg.test is True
    assert cfg.model.net._target_.endswith("ConvNet") and cfg.data.val_size == 5000
    assert (cfg.data.mean, cfg.data.std) == (0.1307, 0.3081)


def test_unknown_top_level_key_is_rejected(compose: Callable[..., DictConfig]) -> None:
    with pytest.raises(ConfigCompositionException, match="trainr"):
        compose("trainr.max_epochs=3")


def test_schema_rejects_a_typo_in_a_users_experiment_file(
    compose: Callable[..., DictConfig], tmp_path: Path
) -> None:
    (tmp_path / "mine" / "experiment").mkdir(parents=True)
    (tmp_path / "mine" / "experiment" / "typo.yaml").write_text(
        "# @package _global_\ntrainr:\n  max_epochs: 3\n"
    )
    with pytest.raises(ConfigCompositionException, match="Key 'trainr' not in 'Config'"):
        compose(f"hydra.searchpath=[file://{tmp_path / 'mine'}]", "experiment=typo")


def test_mistyped_group_option_is_rejected(compose: Callable[..., DictConfig]) -> None:
    with pytest.raises(ConfigCompositionException, match="Could not find 'model/vgg16'"):
        compose("model=vgg16")


def test_mistyped_key_in_a_group_is_rejected(compose: Callable[..., DictConfig]) -> None:
    with pytest.raises(ConfigCompositionException, match="batch_sze"):
        compose("data.batch_sze=64")


def test_seed_zero_is_kept(compose: Callable[..., DictConfig]) -> None:
    cfg = compose("seed=0")
    assert cfg.seed == 0 and cfg.data.seed == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "vgg_sgd",
            {
                "optimizer._target_": "torch.optim.SGD",
                "data.batch_size": 32,
                "trainer.max_epochs": 5,
            },
        ),
        ("mlp_sgd", {"optimizer.lr": 0.003, "optimizer.momentum": 0.9, "trainer.max_epochs": 18}),
        (
            "mlp_dropout_adam",
            {"data.batch_size": 110, "trainer.max_epochs": 100, "model.net.dropout": 0.6},
        ),
        ("lenet5_adam", {"data.batch_size": 32, "trainer.max_epochs": 15, "optimizer.lr": 0.001}),
        (
            "bncnn_adam_step",
            {"scheduler.step_size": 938, "scheduler.interval": "step", "trainer.max_epochs": 13},
        ),
        (
            "best",
            {
                "model.net._target_": "mnist_lightning.models.bncnn.BNCNN",
                "ema": 0.999,
                "data.augment._target_": "mnist_lightning.data.augment.Augment",
                "data.augment.elastic_alpha": 1.0,
            },
        ),
        (
            "fast_gpu",
            {
                "model.loss.label_smoothing": 0.1,  # inherited from `fast`
                "data.batch_size": 256,
                "trainer.limit_train_batches": None,
                "trainer.precision": "32-true",
                "channels_last": False,
            },
        ),
    ],
)
def test_experiments_carry_the_recipes(name: str, expected: dict, compose: Callable[..., DictConfig]) -> None:
    cfg = compose(f"experiment={name}", fast=False)
    assert cfg.task_name == name
    for dotted, value in expected.items():
        node = cfg
        for part in dotted.split("."):
            node = node[part]
        assert node == value, dotted


def test_piecewise_lr_of_the_dropout_recipe(compose: Callable[..., DictConfig]) -> None:
    cfg = compose("experiment=mlp_dropout_adam", fast=False)
    kwargs = {k: v for k, v in cfg.scheduler.items() if k not in ("interval", "warmup")}
    optimizer = instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(1))])
    scheduler: PiecewiseConstantLR = instantiate(kwargs)(optimizer)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert [lrs[e] for e in (0, 14, 15, 39, 40, 59, 60, 99)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5, 5e-6, 5e-6]
    )


@pytest.mark.parametrize(("name", "required"), [("evaluate", "ckpt_path=x.ckpt"), ("export_images", "out=x")])
def test_other_entry_point_configs_compose_and_reject_typos(name: str, required: str) -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(name, overrides=[required, "data=idx"])
        assert cfg.data._target_.endswith("IdxDataModule")
        with pytest.raises(ConfigCompositionException, match="formt"):
            hydra_compose(name, overrides=[required, "formt=png"])

"""The GPU paths: every model on CUDA with bf16, resident data on the device, the classic DataLoader path,
a colour folder with an unlabeled test folder, and the fast recipe on real MNIST. Skipped where PyTorch
sees no CUDA GPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import MNIST_DIR, group_options, requires_mnist
from hydra.utils import instantiate
from omegaconf import DictConfig
from test_colour import write_colours

from mnist_lightning import metric_keys as M
from mnist_lightning.train import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU visible to PyTorch"),
]
GPU = ["trainer.accelerator=gpu", "trainer.precision=bf16-mixed"]


def _tiny(root: Path) -> tuple[str, ...]:
    return ("data=idx", f"data.root={root}", "data.val_size=40")


@pytest.mark.parametrize("model", group_options("model"))
def test_every_model_trains_on_gpu_in_bf16(
    model: str, compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    result = train(compose(f"model={model}", *_tiny(tiny_mnist), *GPU))
    assert 0.0 <= result[M.TEST_ACC] <= 1.0
    assert torch.isfinite(torch.tensor(result[M.TEST_LOSS]))


def test_resident_split_lives_on_the_gpu(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    cfg = compose(*_tiny(tiny_mnist), *GPU)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    datamodule.trainer = trainer
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.device.type == "cuda" and labels.device.type == "cuda"


def test_classic_dataloader_path_on_gpu(compose: Callable[..., DictConfig], tiny_mnist: Path) -> None:
    overrides = (*_tiny(tiny_mnist), "data.resident=false", *GPU)
    assert 0.0 <= train(compose(*overrides))[M.TEST_ACC] <= 1.0


def test_colour_folder_with_unlabeled_test_on_gpu(compose: Callable[..., DictConfig], tmp_path: Path) -> None:
    # per-channel normalisation on the device, and trainer.predict of an unlabeled test folder
    root = tmp_path / "colours"
    write_colours(root / "train", 24)
    write_colours(tmp_path / "loose", 2)
    (root / "test").mkdir()
    for i, path in enumerate(sorted((tmp_path / "loose").rglob("*.png"))):
        path.rename(root / "test" / f"img_{i + 1}.png")
    cfg = compose("data=folder", "data.channels=3", "data.image_size=32", f"data.root={root}",
                  "model=convnet", "data.val_size=12", "data.batch_size=8", "trainer.max_epochs=3",
                  "trainer.limit_train_batches=1.0", *GPU)  # fmt: skip
    assert train(cfg)[M.TEST_ACC] >= 0.9
    rows = (Path(cfg.run_dir) / "submission.csv").read_text().splitlines()
    assert rows[0] == "ImageId,Label" and len(rows) == 1 + 6


@requires_mnist
@pytest.mark.parametrize("recipe", ["fast", "fast_gpu"])
def test_fast_recipes_on_gpu_reach_99(recipe: str, compose: Callable[..., DictConfig]) -> None:
    real = ("data=idx", f"data.root={MNIST_DIR}", "trainer.accelerator=gpu")
    cfg = compose(f"experiment={recipe}", *real, fast=False)
    assert train(cfg)[M.TEST_ACC] >= 0.985

"""The GPU paths: every model on CUDA with bf16, resident data on the device, the classic DataLoader path,
a colour folder with an unlabeled test folder, the fast recipes on real MNIST, and the training step
captured in a CUDA graph (cuda_graphs=true) against the eager one. Skipped where PyTorch sees no CUDA GPU."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from conftest import MNIST_DIR, group_options, requires_mnist
from hydra.utils import instantiate
from omegaconf import DictConfig
from test_colour import write_colours
from torch import Tensor

from mnist_lightning import metric_keys as M
from mnist_lightning.train import prepare, train
from mnist_lightning.trainer import build_trainer

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


def _fit_recording(cfg: DictConfig, steps: int) -> tuple[Any, list[float], dict[str, Any]]:
    """Fit and test `cfg`; the model, the first `steps` training losses, and the run's results."""
    losses: list[Tensor] = []

    class FirstLosses(L.Callback):
        def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, *args: Any) -> None:
            if len(losses) < steps:
                losses.append(outputs["loss"].detach().clone())  # no sync: read once the fit has ended

    datamodule, model = prepare(cfg)
    trainer = build_trainer(cfg, Path(cfg.run_dir))
    trainer.callbacks.append(FirstLosses())
    trainer.fit(model, datamodule=datamodule)
    (tested,) = trainer.test(model, datamodule=datamodule, verbose=False)
    return model, [float(x) for x in losses], tested


@requires_mnist
def test_graphed_and_eager_runs_agree(compose: Callable[..., DictConfig], tmp_path: Path) -> None:
    # fast_gpu from the same seed, with and without the graph: the same batches, lr and beta1 each step
    real = ("experiment=fast_gpu", "data=idx", f"data.root={MNIST_DIR}", "logger=none", "report=false")
    runs = {}
    for graphs in (True, False):
        cfg = compose(*real, f"cuda_graphs={graphs}", f"run_dir={tmp_path / str(graphs)}", fast=False)
        runs[graphs] = _fit_recording(cfg, steps=50)
    (graphed, graphed_losses, graphed_test), (eager, eager_losses, eager_test) = runs[True], runs[False]
    assert graphed.static_step is not None and graphed.static_step.graph is not None  # captured, replayed
    assert eager.static_step is None
    # cuDNN's backward kernels sum in no fixed order, so two eager runs differ a little too
    torch.testing.assert_close(torch.tensor(graphed_losses), torch.tensor(eager_losses), rtol=0.02, atol=0.02)
    assert abs(graphed_test[M.TEST_ACC] - eager_test[M.TEST_ACC]) <= 0.003


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_graphed_step_with_each_optimizer_and_a_last_smaller_batch(
    optimizer: str, compose: Callable[..., DictConfig], tiny_mnist: Path
) -> None:
    # 200 images in batches of 32: captured after 3 warm-up steps, the last batch of 8 eager; EMA on
    cfg = compose(*_tiny(tiny_mnist), "cuda_graphs=true", f"optimizer={optimizer}", "scheduler=cosine",
                  "data.batch_size=32", "trainer.limit_train_batches=null", "trainer.max_epochs=3",
                  "trainer.accelerator=gpu", "ema=0.9")  # fmt: skip
    model, losses, tested = _fit_recording(cfg, steps=21)
    assert model.static_step.graph is not None and len(losses) == 21
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert 0.0 <= tested[M.TEST_ACC] <= 1.0

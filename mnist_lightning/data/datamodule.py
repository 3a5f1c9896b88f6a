"""The DataModule: one split logic, tensor batches and normalisation; data/sources.py names the sources."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor

from mnist_lightning.checks import at_least
from mnist_lightning.data import stats
from mnist_lightning.data.augment import Augment
from mnist_lightning.data.batches import TensorBatches
from mnist_lightning.data.datasets import Dataset as DatasetFacts
from mnist_lightning.data.digits import COLOUR, Digits, Stat, normalize
from mnist_lightning.data.facts import DataFacts
from mnist_lightning.data.loaders import Loaders
from mnist_lightning.errors import ConfigError

log = logging.getLogger(__name__)

Batch = tuple[Tensor, Tensor]


class DigitDataModule(Loaders, L.LightningDataModule):
    """Train/val/test splits of a dataset's images; validation is carved from train, never from test."""

    def __init__(
        self,
        root: str,
        batch_size: int,
        val_size: int,
        seed: int,
        cache_dir: str,
        mean: stats.Setting = None,
        std: stats.Setting = None,
        dataset: Mapping[str, Any] | DatasetFacts | None = None,
        eval_batch_size: int | None = None,
        resident: bool = True,
        num_workers: int = 0,
        augment: Augment | None = None,
    ) -> None:
        super().__init__()
        for key, value in (("batch_size", batch_size), ("val_size", val_size)):
            at_least(f"data.{key}", value, 1)
        at_least("data.eval_batch_size", eval_batch_size, 1, optional=True)  # null: data.batch_size
        at_least("data.num_workers", num_workers, 0)
        # The dataset (data.dataset, from dataset=...; none in configs from before it: MNIST) says
        # what the files are; data.mean/std default to its normalisation, `auto` is settled in setup().
        self.dataset = DatasetFacts.from_config(dataset)
        self.dataset_names = self.dataset.class_names  # a folder of other classes replaces self.dataset's
        mean, std = stats.check_stat("mean", mean), stats.check_stat("std", std)
        self.root, self.cache_dir = Path(root).expanduser(), Path(cache_dir).expanduser()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.val_size, self.seed = val_size, seed
        self.mean: Stat | str = self.dataset.mean if mean is None else mean
        self.std: Stat | str = self.dataset.std if std is None else std
        self.resident, self.num_workers = resident, num_workers
        self.augment = augment
        self.splits: dict[str, Digits] = {}
        self.indices: dict[str, Tensor] = {}  # each split's positions in the source's own split
        self.train_batches: TensorBatches | None = None  # the training loader in use, for its position
        self.resume_batches: dict[str, Any] | None = None  # its position in a checkpoint being resumed

    def load(self) -> tuple[Digits, Digits]:
        """(train, test) from the source; each subclass reads its own kind of data."""
        raise NotImplementedError

    def load_test(self) -> Digits:
        """The test split alone; sources that can read it without the train split do so."""
        return self.load()[1]

    def setup(self, stage: str | None = None) -> None:
        # Reads what prepare_data() staged; a source that stages files does so here too when
        # prepare_data() was not called, so setup() (and load()) also work on their own.
        if stage == "test" and not self.splits:  # evaluate: only what it tests, no validation split
            test = self.load_test()
            self.splits, self.indices = {"test": test}, {"test": torch.arange(len(test))}
            log.info("Data from %s: test %s images of %s", self.root, f"{len(test):,}", self._shape_text())
            self._settle_stats("test")  # data.mean/std=auto given to evaluate: the only split it reads
        if "train" in self.splits or stage == "test":
            return  # already loaded: setup runs once per process, whatever the stage
        train, test = self.load()
        if self.val_size >= len(train):
            raise ConfigError(
                f"data.val_size={self.val_size}: the train split has only {len(train)} images; "
                "choose a smaller validation size"
            )
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.seed))
        self.indices = {
            "train": order[self.val_size :],
            "val": order[: self.val_size],
            "test": torch.arange(len(test)),
        }
        self.splits = {
            "train": train.subset(self.indices["train"]),
            "val": train.subset(self.indices["val"]),
            "test": test,
        }
        sizes = ", ".join(f"{name} {len(split):,}" for name, split in self.splits.items())
        log.info("Data from %s: %s images of %s", self.root, sizes, self._shape_text())
        self._settle_stats("train")

    def _settle_stats(self, split: str) -> None:
        """Numbers for data.mean/std=auto (the rule: data/stats.py); lists checked against the channels."""
        channels = self.input_shape[0]
        if stats.AUTO in (self.mean, self.std):
            if channels == 1 and self.dataset.class_names == self.dataset_names:  # the dataset's own images
                found, source = (self.dataset.mean, self.dataset.std), f"dataset {self.dataset.name}'s"
            else:
                found, source = stats.measure(self.splits[split].images), f"measured on the {split} split"
            self.mean = found[0] if self.mean == stats.AUTO else self.mean
            self.std = found[1] if self.std == stats.AUTO else self.std
            mean, std = stats.text(self.mean), stats.text(self.std)  # type: ignore[arg-type]
            log.info("Normalisation (data.mean/std=auto): mean %s, std %s, %s", mean, std, source)
        for key in ("mean", "std"):
            stats.check_channels(key, getattr(self, key), channels)

    def _shape_text(self) -> str:
        return "x".join(map(str, self.input_shape))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one normalised image: C is 3 for colour images (N, H, W, 3), else 1."""
        shape = self.splits["test"].images.shape  # (N, H, W) or (N, H, W, 3)
        return (COLOUR if len(shape) == 4 else 1, shape[1], shape[2])

    @property
    def num_classes(self) -> int:
        """The dataset's class count: the model's output width."""
        return self.dataset.num_classes

    @property
    def facts(self) -> DataFacts:
        """What a model trained on this data must know: input shape, classes, their names, normalisation."""
        dataset = self.dataset
        return DataFacts(
            self.input_shape, self.num_classes, self.mean, self.std, dataset.class_names, dataset.preprocess
        )

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (B, H, W) or (B, H, W, 3) -> float (B, C, H, W), shifted and scaled by data.mean and std."""
        return normalize(images, self.mean, self.std)

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        images, labels = batch  # uint8 (B, H, W[, 3]) on the device: converted here, not per sample
        training = self.trainer is not None and self.trainer.training
        x = normalize(images, self.mean, self.std, self.augment if training else None)  # (B, C, H, W) float32
        if self.trainer is not None:  # trainer.precision=64-true or bf16-true: the model's own dtype
            x = x.to(self.trainer.lightning_module.dtype)
        return x, labels

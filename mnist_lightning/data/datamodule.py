"""The DataModule: one split logic, tensor batches and normalisation; data/sources.py names the sources."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from mnist_lightning.checks import at_least, is_number
from mnist_lightning.data.augment import Augment
from mnist_lightning.data.batches import TensorBatches
from mnist_lightning.data.datasets import Dataset as DatasetFacts
from mnist_lightning.data.digits import Digits, normalize
from mnist_lightning.data.facts import DataFacts
from mnist_lightning.errors import ConfigError

log = logging.getLogger(__name__)

Batch = tuple[Tensor, Tensor]


class DigitDataModule(L.LightningDataModule):
    """Train/val/test splits of a dataset's images; validation is carved from train, never from test."""

    def __init__(
        self,
        root: str,
        batch_size: int,
        val_size: int,
        seed: int,
        cache_dir: str,
        mean: float | None = None,
        std: float | None = None,
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
        # what the files are; data.mean/std default to its normalisation.
        self.dataset = DatasetFacts.from_config(dataset)
        mean = self.dataset.mean if mean is None else mean
        std = self.dataset.std if std is None else std
        if not is_number(std) or std <= 0:
            raise ConfigError(f"data.std={std}: must be a positive number")
        self.root, self.cache_dir = Path(root).expanduser(), Path(cache_dir).expanduser()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.val_size, self.seed = val_size, seed
        self.mean, self.std = mean, std
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

    def _shape_text(self) -> str:
        return "x".join(map(str, self.input_shape))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one normalised image."""
        _, height, width = self.splits["test"].images.shape
        return (1, height, width)

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
        """uint8 (B, H, W) -> float (B, 1, H, W), shifted and scaled by the dataset's mean and std."""
        return normalize(images, self.mean, self.std)

    def sample_dataset(self, split: str) -> Dataset:
        """A per-sample map-style dataset of `split`, for the classic DataLoader path."""
        digits = self.splits[split]
        return TensorDataset(digits.images, digits.labels)

    def _loader(self, split: str, train: bool) -> TensorBatches | DataLoader:
        if self.trainer is not None and self.trainer.overfit_batches > 0 and split != "test":
            # trainer.overfit_batches (debug=overfit): the same first training batches, in the same
            # order, for training and validation; Lightning keeps only that many of each.
            split, train = "train", False
            batch_size = self.batch_size
        else:
            batch_size = self.batch_size if train else self.eval_batch_size
        if not self.resident:
            return DataLoader(
                self.sample_dataset(split),
                batch_size=batch_size,
                shuffle=train,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                generator=torch.Generator().manual_seed(self.seed),
            )
        digits, trainer = self.splits[split], self.trainer
        if trainer is None:
            return TensorBatches(digits, batch_size, shuffle=train, seed=self.seed)
        # Keep the whole split on the training device: batches are then index views.
        return TensorBatches(
            digits.to(trainer.strategy.root_device),
            batch_size,
            shuffle=train,
            seed=self.seed,
            epoch=lambda: trainer.current_epoch,
            rank=trainer.global_rank,
            world_size=trainer.world_size,
        )

    def train_dataloader(self) -> TensorBatches | DataLoader:
        loader = self._loader("train", train=True)
        if isinstance(loader, TensorBatches):
            if self.resume_batches is not None:
                loader.load_state_dict(self.resume_batches)
                self.resume_batches = None
            self.train_batches = loader
        return loader

    # Lightning restores a stateful loader only when it builds the loader after the restore. Our
    # schedulers ask for trainer.estimated_stepping_batches in configure_optimizers, which builds it
    # earlier, so the resume position travels through the DataModule's own checkpoint hooks instead.
    def state_dict(self) -> dict[str, Any]:
        """The training batches' epoch and position, saved in every checkpoint."""
        return {"train_batches": self.train_batches.state_dict()} if self.train_batches is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue the checkpoint's epoch at its position, once the training batches are made."""
        self.resume_batches = state_dict.get("train_batches")

    def val_dataloader(self) -> TensorBatches | DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> TensorBatches | DataLoader:
        return self._loader("test", train=False)

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        images, labels = batch  # (B, H, W) uint8 on the device: converted here, not per sample
        training = self.trainer is not None and self.trainer.training
        x = normalize(images, self.mean, self.std, self.augment if training else None)  # (B, 1, H, W) float32
        if self.trainer is not None:  # trainer.precision=64-true or bf16-true: the model's own dtype
            x = x.to(self.trainer.lightning_module.dtype)
        return x, labels

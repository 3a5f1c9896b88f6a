"""Data: one reader per source, the dataset descriptions, tensor batches, and the DataModule."""

from mnist_lightning.data.datamodule import DigitDataModule
from mnist_lightning.data.datasets import Dataset
from mnist_lightning.data.digits import Digits
from mnist_lightning.data.sources import (
    FolderDataModule,
    IdxDataModule,
    TorchvisionDataModule,
)

__all__ = [
    "Dataset",
    "DigitDataModule",
    "Digits",
    "FolderDataModule",
    "IdxDataModule",
    "TorchvisionDataModule",
]

"""Data: one reader per source, the dataset descriptions, tensor batches, and the DataModule."""

from mnist_lightning.data.datamodule import (
    DigitDataModule,
    FolderDataModule,
    IdxDataModule,
    TorchvisionDataModule,
)
from mnist_lightning.data.datasets import Dataset
from mnist_lightning.data.digits import Digits

__all__ = [
    "Dataset",
    "DigitDataModule",
    "Digits",
    "FolderDataModule",
    "IdxDataModule",
    "TorchvisionDataModule",
]

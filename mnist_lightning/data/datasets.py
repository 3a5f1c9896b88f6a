"""`Dataset`: what the files are (classes, normalisation, file names, quirks), not how they are read."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from torch import Tensor

from mnist_lightning.data.digits import Digits, make_digits
from mnist_lightning.errors import ConfigError

SPLITS = ("train", "test")
KINDS = ("images", "labels")
DEFAULT = "mnist"  # what a config from before the dataset group (an old checkpoint's) was trained on


@dataclass(frozen=True)
class Dataset:
    """One dataset's facts; conf/dataset/<name>.yaml holds the values, this class their meaning."""

    name: str
    class_names: tuple[str, ...]  # class k is called class_names[k]
    mean: float  # pixel mean and std in [0, 1], for normalisation
    std: float
    files: Mapping[str, str]  # "train_images", "train_labels", "test_images", "test_labels" -> name, no .gz
    torchvision: str  # the class in torchvision.datasets, e.g. "EMNIST"
    torchvision_args: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"split": "balanced"}
    transposed: bool = False  # images stored as (N, W, H), as EMNIST's are: read back to (N, H, W)
    label_offset: int = 0  # the first class's label in the files (EMNIST letters count from 1)
    label_column: int = 0  # labels stored as (N, M) rows (QMNIST: M=8): the column holding the class
    preprocess: str = "digit"  # predict's preparation of a photo: "digit" (MNIST's recipe) or "resize"

    @property
    def num_classes(self) -> int:
        """How many classes; labels run 0..num_classes-1 once read."""
        return len(self.class_names)

    def file_name(self, split: str, kind: str) -> str:
        """The official (uncompressed) file name of `split`'s images or labels."""
        return self.files[f"{split}_{kind}"]

    def to_digits(self, images: Tensor, labels: Tensor, where: str) -> Digits:
        """Stored (N, H, W) or (N, W, H) images and (N,) or (N, M) labels -> checked, 0-based Digits."""
        if labels.ndim == 2:  # (N, M) -> (N,)
            labels = labels[:, self.label_column]
        digits = make_digits(images, labels, where, self.num_classes, first=self.label_offset)
        if self.transposed:  # (N, W, H) -> (N, H, W)
            return Digits(digits.images.transpose(1, 2).contiguous(), digits.labels)
        return digits

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | Dataset | None) -> Dataset:
        """A `data.dataset` node (None: the default) as a Dataset; an unknown key is a one-line error."""
        if isinstance(node, Dataset):
            return node
        if node is None:
            return builtin(DEFAULT)
        raw = _plain(node)
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ConfigError(f"data.dataset.{unknown[0]}: no such key; a dataset has {', '.join(known)}")
        missing = [key for key in known[:6] if key not in raw]
        if missing:
            raise ConfigError(f"data.dataset: missing {', '.join(missing)}; choose one with dataset=<name>")
        missing_files = [f"{s}_{k}" for s in SPLITS for k in KINDS if f"{s}_{k}" not in raw["files"]]
        if missing_files:
            raise ConfigError(f"data.dataset.files: missing {', '.join(missing_files)}")
        raw["class_names"] = tuple(str(name) for name in raw["class_names"])
        return cls(**raw)


def _plain(node: Mapping[str, Any]) -> dict[str, Any]:
    from omegaconf import DictConfig, OmegaConf

    if isinstance(node, DictConfig):
        return dict(OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]
    return dict(node)


@functools.cache  # read once per process: the default is asked for wherever no dataset is given
def builtin(name: str) -> Dataset:
    """The dataset conf/dataset/<name>.yaml describes (for configs and checkpoints that name none)."""
    from omegaconf import OmegaConf

    from mnist_lightning.conf_dir import CONF_DIR  # the configs are the one place the values live

    path = Path(CONF_DIR) / "dataset" / f"{name}.yaml"
    return Dataset.from_config(OmegaConf.load(path))  # type: ignore[arg-type]

"""`Dataset`: what the files are (classes, normalisation, file names, quirks), not how they are read.

Its keys are the schema's (mnist_lightning/schema.py `DatasetConfig`), which Hydra checks while composing;
`from_config` checks a stored or hand-made node by the same schema. torch is imported only where tensors
are handled: the schema is imported by every entry point before composition.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_lightning.errors import ConfigError
from mnist_lightning.schema import DatasetConfig

if TYPE_CHECKING:
    from torch import Tensor

    from mnist_lightning.data.digits import Digits

SPLITS = ("train", "test")
KINDS = ("images", "labels")
DEFAULT = "mnist"  # what a config from before the dataset group (an old checkpoint's) was trained on


@dataclass(frozen=True)
class Dataset(DatasetConfig):
    """One dataset's facts; conf/dataset/<name>.yaml holds the values, this class their meaning."""

    def __post_init__(self) -> None:
        # torch (facts) and PIL (preprocess) only now, when a dataset is built: never while composing.
        from mnist_lightning.data.facts import stat  # one reading of a statistic, as a checkpoint's
        from mnist_lightning.preprocess import PREPARE  # predict's table: the one list of preparations

        # OmegaConf hands lists: tuples here, so that a Dataset compares equal to its facts and never changes.
        object.__setattr__(self, "class_names", tuple(str(name) for name in self.class_names))
        for key in ("mean", "std"):
            try:
                object.__setattr__(self, key, stat(getattr(self, key)))
            except (TypeError, ValueError):
                raise ConfigError(
                    f"data.dataset.{key}={getattr(self, key)}: must be a number in [0, 1], or a list of one "
                    "per channel"
                ) from None
        if self.preprocess not in PREPARE:
            raise ConfigError(
                f"data.dataset.preprocess={self.preprocess}: no such preparation; choose "
                f"{' or '.join(PREPARE)}"
            )

    @property
    def num_classes(self) -> int:
        """How many classes; labels run 0..num_classes-1 once read."""
        return len(self.class_names)

    def file_name(self, split: str, kind: str) -> str:
        """The official (uncompressed) file name of `split`'s images or labels."""
        return str(getattr(self.files, f"{split}_{kind}"))

    def torchvision_class(self) -> str:
        """The torchvision.datasets class that reads it (data=torchvision); none is a one-line error."""
        if self.torchvision is None:
            raise ConfigError(
                f"data=torchvision: dataset {self.name} names no torchvision class (data.dataset.torchvision "
                "is null); read its files with data=idx"
            )
        return self.torchvision

    def to_digits(self, images: Tensor, labels: Tensor, where: str) -> Digits:
        """Stored (N, H, W) or (N, W, H) images and (N,) or (N, M) labels -> checked, 0-based Digits."""
        from mnist_lightning.data.digits import Digits, make_digits  # torch: only when tensors are read

        if labels.ndim == 2:  # (N, M) -> (N,)
            labels = labels[:, self.label_column]
        digits = make_digits(images, labels, where, self.num_classes, first=self.label_offset)
        if self.transposed:  # (N, W, H) -> (N, H, W)
            return Digits(digits.images.transpose(1, 2).contiguous(), digits.labels)
        return digits

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | Dataset | None) -> Dataset:
        """A `data.dataset` node (None: the default) checked by the schema; a mistake is one line."""
        from omegaconf import DictConfig, OmegaConf
        from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

        if isinstance(node, Dataset):
            return node
        if node is None:
            return builtin(DEFAULT)
        try:  # a stored config is plain data: typed again here, exactly as while composing
            plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
            dataset = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), plain))
        except ConfigKeyError as err:  # in the dataset, or in its files
            known = ", ".join(f.name for f in fields(err.object_type or cls))
            raise ConfigError(f"data.dataset.{err.full_key}: no such key; the keys are {known}") from None
        except MissingMandatoryValue as err:
            raise ConfigError(
                f"data.dataset.{err.full_key}: missing; choose a dataset with dataset=<name>, or set it "
                "(docs/datasets.md lists every key)"
            ) from None
        except OmegaConfBaseException as err:
            raise ConfigError(
                f"data.dataset.{err.full_key}: {err.msg.splitlines()[0]}; fix its value"
            ) from None
        return dataset  # type: ignore[return-value]


@functools.cache  # read once per process: the default is asked for wherever no dataset is given
def builtin(name: str) -> Dataset:
    """The dataset conf/dataset/<name>.yaml describes (for configs and checkpoints that name none)."""
    from omegaconf import OmegaConf

    from mnist_lightning.conf_dir import CONF_DIR  # the configs are the one place the values live

    node = OmegaConf.load(Path(CONF_DIR) / "dataset" / f"{name}.yaml")
    node.pop("defaults", None)  # the schema line: Hydra's business, not a key
    return Dataset.from_config(node)  # type: ignore[arg-type]

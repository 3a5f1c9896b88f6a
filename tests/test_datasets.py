"""The dataset group (dataset=...): composition, each quirk, both readers offline, 47 classes end to end."""

from __future__ import annotations

import csv
import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import group_options, write_idx
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig

from mnist_lightning.building import build
from mnist_lightning.checkpoint import load_classifier
from mnist_lightning.data.datasets import Dataset, builtin
from mnist_lightning.data.facts import DataFacts
from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.data.torchvision import load_torchvision
from mnist_lightning.errors import ConfigError, DataError, user_error_in
from mnist_lightning.train import train

BALANCED = builtin("emnist_balanced")


def _patterns(labels: np.ndarray, classes: int) -> np.ndarray:
    """(N, 28, 28) learnable asymmetric images: class k a 3x2 block at its own place in a 7x7 grid."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 40, size=(len(labels), 28, 28))
    for i, k in enumerate(labels % classes):
        row, col = 1 + 4 * (k // 7), 1 + 4 * (k % 7)
        images[i, row : row + 3, col : col + 2] = 255  # 3 tall, 2 wide: a transpose is visible
    return images.astype(np.uint8)


def write_int_idx(path: Path, array: np.ndarray) -> None:
    """An int32 IDX file (magic 0x00000C0N), as QMNIST's labels are stored, gzipped for *.gz."""
    header = bytes([0, 0, 0x0C, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(">i4").tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def make_tiny(root: Path, name: str | Dataset, per_class: tuple[int, int] = (6, 2)) -> dict[str, np.ndarray]:
    """The dataset's four official files (gzipped) under `root`, stored as it stores them; the true images."""
    dataset = builtin(name) if isinstance(name, str) else name
    root.mkdir(parents=True, exist_ok=True)
    truth = {}
    for split, n in zip(("train", "test"), per_class, strict=True):
        labels = np.arange(n * dataset.num_classes) % dataset.num_classes
        images = truth[split] = _patterns(labels, dataset.num_classes)
        stored = images.transpose(0, 2, 1) if dataset.transposed else images  # (N, W, H) for EMNIST
        write_idx(root / f"{dataset.file_name(split, 'images')}.gz", stored)
        labels_path = root / f"{dataset.file_name(split, 'labels')}.gz"
        if (
            dataset.name == "qmnist"
        ):  # the test's own file writer, not a code path: rows of 8, the digit first
            write_int_idx(labels_path, np.stack([labels, *[labels * 0 + 7] * 7], axis=1))
        else:
            write_idx(labels_path, labels + dataset.label_offset)
    return truth


@pytest.mark.parametrize("name", group_options("dataset"))
@pytest.mark.parametrize("source", ["idx", "torchvision", "folder"])
def test_every_dataset_composes_with_every_source(
    name: str, source: str, compose: Callable[..., DictConfig]
) -> None:
    cfg = compose(f"data={source}", f"dataset={name}")
    datamodule = build("data", cfg.data)
    assert datamodule.dataset == builtin(name) and datamodule.num_classes == len(cfg.data.dataset.class_names)
    own = (datamodule.dataset.mean, datamodule.dataset.std)  # data=folder: auto, settled in setup()
    assert (cfg.data.mean, cfg.data.std) == (("auto", "auto") if source == "folder" else own)


def test_typos_still_fail(compose: Callable[..., DictConfig]) -> None:
    with pytest.raises(ConfigCompositionException, match="Could not find 'dataset/emnist'"):
        compose("dataset=emnist")
    with pytest.raises(ConfigCompositionException, match="seeed"):
        compose("dataset=kmnist", "seeed=1")
    with pytest.raises(Exception) as caught:
        build("data", compose("+data.dataset.meen=0.5").data)
    error = user_error_in(caught.value)
    assert isinstance(error, ConfigError) and str(error).startswith("data.dataset.meen: no such key")


def test_idx_undoes_emnist_transpose(tmp_path: Path) -> None:
    truth = make_tiny(tmp_path, "emnist_balanced")
    train, test = load_idx_dir(tmp_path, BALANCED)
    assert np.array_equal(train.images.numpy(), truth["train"]) and np.array_equal(
        test.images.numpy(), truth["test"]
    )
    assert train.labels.max() == 46


def test_letters_count_from_zero(tmp_path: Path) -> None:
    make_tiny(tmp_path, "emnist_letters")
    train, _ = load_idx_dir(tmp_path, builtin("emnist_letters"))
    assert train.labels.unique().tolist() == list(range(26))


def test_label_beyond_the_classes_names_the_file(tmp_path: Path) -> None:
    make_tiny(tmp_path, "emnist_balanced")
    write_idx(tmp_path / "emnist-balanced-test-labels-idx1-ubyte.gz", np.arange(94) % 48)
    with pytest.raises(
        DataError, match=r"emnist-balanced-test-labels-idx1-ubyte.gz: label values span 0..47"
    ) as err:
        load_idx_dir(tmp_path, BALANCED)
    assert "\n" not in str(err.value)


def test_qmnist_int_labels_take_the_first_column(tmp_path: Path) -> None:
    make_tiny(tmp_path, "qmnist")
    train, test = load_idx_dir(tmp_path, builtin("qmnist"))
    assert train.labels.tolist() == [k % 10 for k in range(60)] and len(test) == 20


@pytest.mark.parametrize("name", ["emnist_balanced", "emnist_letters", "qmnist", "fashion_mnist"])
def test_torchvision_reads_the_same_offline(name: str, tmp_path: Path) -> None:
    make_tiny(tmp_path / "root", name)
    dataset = builtin(name)
    via_tv = load_torchvision(tmp_path / "root", tmp_path / "cache", False, dataset)
    for got, want in zip(via_tv, load_idx_dir(tmp_path / "root", dataset), strict=True):
        assert torch.equal(got.images, want.images) and torch.equal(got.labels, want.labels)
    staged = f"{dataset.torchvision}/raw/{dataset.file_name('train', 'labels')}"  # torchvision's layout
    assert any((tmp_path / "cache").rglob(staged))


def test_old_checkpoint_facts_name_the_digits() -> None:
    old = {"data_facts": {"input_shape": [1, 28, 28], "num_classes": 10, "mean": 0.1307, "std": 0.3081}}
    assert DataFacts.from_checkpoint(old).class_names == tuple("0123456789")
    older = {"hyper_parameters": {"data": {"mean": 0.1307, "std": 0.3081}}}
    assert DataFacts.from_checkpoint(older).class_names == tuple("0123456789")
    facts = DataFacts((1, 28, 28), 47, 0.1751, 0.3332, BALANCED.class_names)
    assert DataFacts.from_checkpoint({"data_facts": facts.to_dict()}) == facts


def test_emnist_balanced_trains_end_to_end_with_47_named_classes(
    tmp_path: Path, compose: Callable[..., DictConfig]
) -> None:
    make_tiny(tmp_path / "emnist", "emnist_balanced")
    cfg = compose(
        "data=idx", "dataset=emnist_balanced", f"data.root={tmp_path / 'emnist'}", "data.val_size=47",
        "report=true", "report_figures=[confusion_matrix,predictions]",
    )  # fmt: skip
    train(cfg)
    model, facts, _ = load_classifier(Path(cfg.run_dir) / "checkpoints" / "best.ckpt")
    assert facts.num_classes == 47 and facts.class_names == BALANCED.class_names
    assert model.net(torch.zeros(2, 1, 28, 28)).shape == (2, 47)
    rows = list(csv.DictReader((Path(cfg.run_dir) / "report" / "per_class.csv").open()))
    assert [r["name"] for r in rows] == list(BALANCED.class_names) and rows[36]["name"] == "a"
    assert (Path(cfg.run_dir) / "report" / "confusion_matrix.png").stat().st_size > 0

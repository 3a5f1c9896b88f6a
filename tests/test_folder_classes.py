"""data=folder with named class folders: sorted names give labels; digit folders keep digit labels."""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONF_DIR
from hydra import compose as compose_config
from hydra import initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

from mnist_lightning.data.folder import read_cached
from mnist_lightning.data.folder_classes import FolderClasses
from mnist_lightning.data.folder_layout import load_folder
from mnist_lightning.errors import DataError
from mnist_lightning.evaluate import evaluate
from mnist_lightning.train import train

ANIMALS = ("cat", "dog", "fish")


def write_classes(root: Path, names: tuple[str, ...], per_class: int) -> Path:
    """`root/<name>/<i>.png` for each class: class k is a bright bar at row 4 + 6k, plus noise."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.integers(0, 60, size=(28, 28), dtype=np.uint8)
            image[4 + 6 * k, 4:24] = 255
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


def test_named_classes_train_end_to_end(
    compose: Callable[..., DictConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_classes(tmp_path / "pets" / "train", ANIMALS[::-1], 30)  # written in another order: sorted counts
    write_classes(tmp_path / "pets" / "test", ("cat", "fish"), 6)  # a class missing from test is fine
    cfg = compose("data=folder", f"data.root={tmp_path / 'pets'}", "data.val_size=15", "report=true")
    with caplog.at_level(logging.INFO):
        train(cfg)
    assert "Classes (3): cat=0, dog=1, fish=2" in caplog.text
    rows = list(csv.DictReader((Path(cfg.run_dir) / "report" / "per_class.csv").open()))
    assert [r["name"] for r in rows] == list(ANIMALS)
    ckpt = torch.load(Path(cfg.run_dir) / "checkpoints" / "best.ckpt", weights_only=True)
    assert ckpt["data_facts"]["class_names"] == list(ANIMALS) and ckpt["data_facts"]["num_classes"] == 3
    out_bias = [v for k, v in ckpt["state_dict"].items() if k.endswith("bias")][-1]
    assert out_bias.shape == (3,)  # the network's last layer: one output per class
    # evaluate on a test-only folder that lacks `dog`: cat and fish keep the labels training gave them
    only_test = tmp_path / "only_test"
    (only_test / "test").parent.mkdir(parents=True)
    shutil.copytree(tmp_path / "pets" / "test", only_test / "test")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        ecfg = compose_config("evaluate", overrides=[
            f"ckpt_path={Path(cfg.run_dir) / 'checkpoints' / 'best.ckpt'}", "accelerator=cpu", "data=folder",
            f"data.root={only_test}", f"data.cache_dir={tmp_path / 'cache'}", "report=true",
            f"run_dir={tmp_path / 'eval'}"])  # fmt: skip
    evaluate(ecfg)
    evaluated = list(csv.DictReader((tmp_path / "eval" / "report" / "per_class.csv").open()))
    assert [(r["name"], r["support"]) for r in evaluated] == [("cat", "6"), ("dog", "0"), ("fish", "6")]


def test_digit_folders_keep_digit_labels(tmp_path: Path) -> None:
    names = ("0", "1", "7")
    write_classes(tmp_path / "train", names, 2)
    train, test = load_folder(tmp_path, tmp_path / "c", 0.5, 0)
    assert sorted(set(train.labels.tolist()) | set(test.labels.tolist())) == [0, 1, 7]
    classes = FolderClasses.of(tmp_path / "train", tuple("0123456789"))
    assert classes.names == tuple("0123456789") and classes.labels["7"] == 7


def test_unknown_test_class_is_a_one_line_error(tmp_path: Path) -> None:
    write_classes(tmp_path / "train", ANIMALS, 2)
    write_classes(tmp_path / "test", ("cat", "horse"), 1)
    expected = r"horse: 'horse' is not one of the classes \(cat, dog, fish\)"
    with pytest.raises(DataError, match=expected) as err:
        load_folder(tmp_path, tmp_path / "c", 0.1, 0)
    assert "\n" not in str(err.value)


def test_cache_key_follows_the_class_mapping(tmp_path: Path) -> None:
    write_classes(tmp_path / "train", ("3", "5"), 2)
    digits = FolderClasses.of(tmp_path / "train", tuple("0123456789"))
    named = FolderClasses({"3": 0, "5": 1}, ("3", "5"))  # the same files under other labels
    a = read_cached(tmp_path / "train", tmp_path / "c", digits)
    b = read_cached(tmp_path / "train", tmp_path / "c", named)
    assert sorted(set(a.labels.tolist())) == [3, 5] and sorted(set(b.labels.tolist())) == [0, 1]
    assert len(list((tmp_path / "c" / "folder").glob("*.pt"))) == 2

"""Kaggle folder layouts: configurable train/test folder names, and an unlabeled test folder that is
predicted into `submission.csv` (ImageId,Label) while a held-out part of train is scored."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
import sys
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

from mnist_lightning import metric_keys as M
from mnist_lightning.data.folder_layout import load_folder
from mnist_lightning.data.unlabeled import image_ids, read_unlabeled
from mnist_lightning.errors import DataError
from mnist_lightning.evaluate import evaluate
from mnist_lightning.run_outputs import SUBMISSION_FILE, write_submission
from mnist_lightning.train import train

TRAIN, TEST = "trainingSet/trainingSet", "testSet/testSet"  # as Kaggle's "MNIST as JPG" unpacks
PER_CLASS, N_TEST = 12, 21  # odd: two DDP ranks predict 11 and 10 images


def digit_image(k: int, rng: np.random.Generator) -> Image.Image:
    """Class k: a bright bar at row 3 + 2k on faint noise, easy to tell apart even as a JPEG."""
    image = rng.integers(0, 40, size=(28, 28), dtype=np.uint8)
    image[3 + 2 * k : 5 + 2 * k, 3:25] = 255
    return Image.fromarray(image)


def kaggle_tree(root: Path, test_name: Callable[[int], str] = lambda n: f"img_{n}.jpg") -> dict[str, int]:
    """`root/trainingSet/trainingSet/<digit>/img_N.jpg` (N unique across classes) and an unlabeled
    `root/testSet/testSet/<test_name(N)>`; returns each test file's true digit by name."""
    rng = np.random.default_rng(0)
    for n in range(10 * PER_CLASS):
        folder = root / TRAIN / str(n % 10)
        folder.mkdir(parents=True, exist_ok=True)
        digit_image(n % 10, rng).save(folder / f"img_{n + 1}.jpg", quality=95)
    (root / TEST).mkdir(parents=True)
    truth = {}
    for n in range(N_TEST):
        name = test_name(3 * n + 7)  # numbers that are neither positions nor contiguous
        digit_image(n % 10, rng).save(root / TEST / name, quality=95)
        truth[name] = n % 10
    return truth


def kaggle_args(root: Path, *more: str) -> list[str]:
    return ["data=folder", f"data.root={root}", f"data.train_dir={TRAIN}", f"data.test_dir={TEST}",
            "data.val_size=20", "data.batch_size=20", "model=mlp", "trainer.limit_train_batches=1.0",
            "trainer.max_epochs=4", *more]  # fmt: skip


def read_submission(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / SUBMISSION_FILE
    assert path.read_text().splitlines()[0] == "ImageId,Label"
    return list(csv.DictReader(path.open()))


@pytest.mark.parametrize("resident", [True, False])
def test_kaggle_layout_trains_scores_held_out_and_predicts_the_test_folder(
    compose: Callable[..., DictConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture, resident: bool
) -> None:
    truth = kaggle_tree(tmp_path / "mnistasjpg")
    cfg = compose(*kaggle_args(tmp_path / "mnistasjpg", f"data.resident={str(resident).lower()}"))
    with caplog.at_level(logging.INFO):
        results = train(cfg)
    held_out = round(10 * PER_CLASS * 0.1)  # data.test_fraction of train, not the unlabeled folder
    assert results[M.TEST_SAMPLES] == held_out
    assert (
        f"{TEST} holds images without labels" in caplog.text
        and f"holding out {held_out} of 120" in caplog.text
    )
    rows = read_submission(Path(cfg.run_dir))
    ids = [int(row["ImageId"]) for row in rows]
    assert ids == sorted(int(name[4:-4]) for name in truth)  # the files' own numbers, in order
    assert {row["Label"] for row in rows} <= set("0123456789")
    right = sum(row["Label"] == str(truth[f"img_{row['ImageId']}.jpg"]) for row in rows)
    assert right >= 0.8 * N_TEST, rows
    assert f"{tmp_path / 'run' / SUBMISSION_FILE}" in caplog.text  # the log says where it went


def test_evaluate_scores_the_held_out_split_or_says_nothing_is_labeled(
    compose: Callable[..., DictConfig], tmp_path: Path
) -> None:
    kaggle_tree(tmp_path / "k")
    cfg = compose(*kaggle_args(tmp_path / "k", "trainer.max_epochs=1", "test=false"))
    train(cfg)
    assert not (Path(cfg.run_dir) / SUBMISSION_FILE).exists()  # test=false: neither scored nor predicted

    def evaluate_on(root: Path) -> dict:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            ecfg = compose_config("evaluate", overrides=[
                f"ckpt_path={Path(cfg.run_dir) / 'checkpoints' / 'best.ckpt'}", "accelerator=cpu",
                f"data_root={root}", "report=false", f"run_dir={tmp_path / 'eval'}"])  # fmt: skip
        return evaluate(ecfg)

    assert evaluate_on(tmp_path / "k")[M.TEST_SAMPLES] == 12  # the run's held-out tenth of train
    shutil.rmtree(tmp_path / "k" / TRAIN)
    with pytest.raises(
        DataError, match=r"testSet: .* holds images without labels .* nothing labeled to score"
    ):
        evaluate_on(tmp_path / "k")


def test_a_missing_train_dir_names_the_key(tmp_path: Path) -> None:
    kaggle_tree(tmp_path)
    with pytest.raises(DataError, match=r"^data.train_dir=train: no folder .*train \(data.root: testSet, "
                       r"trainingSet\); .*set data.train_dir") as err:  # fmt: skip
        load_folder(tmp_path, tmp_path / "c", 0.1, 0)
    assert "\n" not in str(err.value)


def test_nested_train_dir_with_a_labeled_test_dir(tmp_path: Path) -> None:
    kaggle_tree(tmp_path)
    shutil.rmtree(tmp_path / TEST)
    shutil.copytree(tmp_path / TRAIN, tmp_path / "scored" / "test")
    train, test = load_folder(tmp_path, tmp_path / "c", 0.1, 0, train_dir=TRAIN, test_dir="scored/test")
    assert len(train) == len(test) == 120 and sorted(set(test.labels.tolist())) == list(range(10))


def test_a_test_folder_mixing_class_folders_and_images_is_one_line(tmp_path: Path) -> None:
    kaggle_tree(tmp_path)
    shutil.copytree(tmp_path / TRAIN / "3", tmp_path / TEST / "3")
    with pytest.raises(DataError, match=r"data.test_dir=testSet/testSet: .* holds both class folders \(3\) "
                       rf"and {N_TEST} images beside them") as err:  # fmt: skip
        load_folder(tmp_path, tmp_path / "c", 0.1, 0, train_dir=TRAIN, test_dir=TEST)
    assert "\n" not in str(err.value)


def test_image_ids_are_file_numbers_only_when_every_file_has_a_distinct_one(
    compose: Callable[..., DictConfig], tmp_path: Path
) -> None:
    def ids(*names: str) -> list[int]:
        return image_ids([Path(name) for name in names])

    assert ids("img_17.jpg", "img_2.jpg", "9.png") == [17, 2, 9]
    assert ids("a.jpg", "b.jpg", "c.jpg") == [1, 2, 3]
    assert ids("img_1.jpg", "scan_1.jpg") == [1, 2]  # the same number twice: positions
    assert ids("img_3.jpg", "cover.jpg") == [1, 2]  # one file without a number: positions
    # Positions follow the natural order of the names (b2 before b10), and each image keeps its own.
    for value, name in ((10, "b10.png"), (2, "b2.png"), (0, "a.png")):
        Image.fromarray(np.full((28, 28), value, np.uint8)).save(tmp_path / name)
    unlabeled = read_unlabeled(tmp_path, tmp_path / "cache")
    assert unlabeled.ids.tolist() == [1, 2, 3] and unlabeled.images[:, 0, 0].tolist() == [0, 2, 10]
    # End to end: names whose numbers repeat (photo_h0, photo_k0, ...) are numbered 1..N.
    kaggle_tree(tmp_path / "k", test_name=lambda n: f"photo_{chr(97 + n % 26)}{n // 26}.jpg")
    cfg = compose(*kaggle_args(tmp_path / "k", "trainer.max_epochs=1"))
    train(cfg)
    assert [int(row["ImageId"]) for row in read_submission(Path(cfg.run_dir))] == list(range(1, N_TEST + 1))


def test_ddp_predicts_every_image_once_and_rank_0_writes(tmp_path: Path) -> None:
    truth = kaggle_tree(tmp_path / "k")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    args = [*kaggle_args(tmp_path / "k", "data.eval_batch_size=4", "trainer.max_epochs=3"), "trainer=ddp",
            "trainer.devices=2", "trainer.accelerator=cpu", "threads=1", "report=false", "logger=none",
            f"data.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "mnist_lightning", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**env, "MNIST_LIGHTNING_WARM": "0"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_submission(tmp_path / "run")
    assert sorted(f"img_{row['ImageId']}.jpg" for row in rows) == sorted(truth)  # each image once
    assert sum(row["Label"] == str(truth[f"img_{row['ImageId']}.jpg"]) for row in rows) >= 0.8 * N_TEST
    assert "Predictions of" not in (tmp_path / "run" / "train_rank1.log").read_text()  # rank 0 writes


def test_submission_labels_are_class_names(tmp_path: Path) -> None:
    ids, preds = torch.tensor([3, 8]), torch.tensor([1, 0])
    write_submission(tmp_path / SUBMISSION_FILE, ids, preds, ("cat", "dog, big"))
    assert (tmp_path / SUBMISSION_FILE).read_text() == 'ImageId,Label\n3,"dog, big"\n8,cat\n'

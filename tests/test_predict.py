"""Users' own digit images (any size, light background, off-centre, JPEG) classify as well as MNIST's own."""

from __future__ import annotations

import csv
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONF_DIR, MNIST_DIR, as_users_have_them, requires_mnist
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

from mnist_lightning.checkpoint import load_classifier
from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.errors import DataError
from mnist_lightning.predict import predict
from mnist_lightning.preprocess import to_mnist

pytestmark = requires_mnist
N = 100  # MNIST test digits rendered as a user would have them


@pytest.fixture(scope="module")
def ckpt(mnist_ckpt: Path) -> Path:
    """A small but real convnet (conftest's `mnist_ckpt`, trained once for every module that needs it)."""
    return mnist_ckpt


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The first N MNIST test images (N, 28, 28) uint8 and their labels."""
    _, test = load_idx_dir(MNIST_DIR)
    return test.images[:N].numpy(), test.labels[:N].numpy()


def _cfg(tmp_path: Path, ckpt: Path, inputs: Path | str, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(
            "predict",
            overrides=[f"ckpt_path={ckpt}", f"inputs={inputs}", f"output={tmp_path / 'out.csv'}", *overrides],
        )


def _direct_probs(ckpt: Path, images: np.ndarray) -> torch.Tensor:
    """The model on MNIST tensors themselves, normalised as in training."""
    model, stats, _ = load_classifier(ckpt)
    x = (torch.from_numpy(images).float().unsqueeze(1) / 255.0 - stats.mean) / stats.std
    with torch.no_grad():
        return model.probs(x)


def test_users_images_classify_as_well_as_mnist_tensors(
    ckpt: Path, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    images, labels = digits
    folder = tmp_path / "mine"
    folder.mkdir()
    for i, image in enumerate(images):
        page = as_users_have_them(image, i)
        if i % 2:
            page.save(folder / f"{i:03d}.JPG", quality=90)  # upper-case suffix: matched anyway
        else:
            page.save(folder / f"{i:03d}.png")
    rows = predict(_cfg(tmp_path, ckpt, folder))
    assert len(rows) == N
    rendered = np.mean([row["class"] == labels[int(Path(row["path"]).stem)] for row in rows])
    direct = (_direct_probs(ckpt, images).argmax(1).numpy() == labels).mean()
    assert "top-3" in capsys.readouterr().out
    with capsys.disabled():  # the two numbers, for the record
        print(f"\naccuracy on {N} digits: direct {100 * direct:.1f}%, rendered {100 * rendered:.1f}%")
    assert direct >= 0.9  # the fixture's model is a real one
    assert rendered >= direct - 0.02


def test_an_mnist_digit_is_left_almost_as_it_is(ckpt: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = digits
    again = np.stack([to_mnist(Image.fromarray(image)) for image in images])
    assert again.shape == images.shape and again.dtype == np.uint8
    assert np.abs(again.astype(float) - images).mean() < 5  # of 255
    agree = (_direct_probs(ckpt, again).argmax(1) == _direct_probs(ckpt, images).argmax(1)).float().mean()
    assert agree >= 0.98


def test_blank_and_transparent_images(digits: tuple[np.ndarray, np.ndarray]) -> None:
    assert not to_mnist(Image.new("L", (50, 40), 255)).any()  # no ink: all zero, no error
    images, _ = digits
    ink = Image.fromarray(images[0]).resize((84, 84))
    transparent = Image.new("RGBA", (84, 84), (0, 0, 0, 0))  # black ink drawn on a transparent layer
    transparent.putalpha(ink)
    assert np.abs(to_mnist(transparent).astype(float) - to_mnist(Image.fromarray(images[0]))).mean() < 10


def test_a_broken_file_is_reported_and_the_rest_classified(
    ckpt: Path, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(3):
        as_users_have_them(digits[0][i], i).save(folder / f"good{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "notes.txt").write_text("not an image, not even tried")
    with caplog.at_level(logging.WARNING, logger="mnist_lightning.predict"):
        rows = predict(_cfg(tmp_path, ckpt, folder))
    assert [Path(row["path"]).name for row in rows] == ["good0.png", "good1.png", "good2.png"]
    with open(tmp_path / "out.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["path", "class", "name", "confidence"]
    assert [Path(r[0]).name for r in table[1:]] == ["good0.png", "good1.png", "good2.png"]
    assert all(0 <= float(r[3]) <= 1 and r[2] in "0123456789" for r in table[1:])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # what was not tried, then what could not be read
    assert warnings[0] == "Skipped 1 file that is not an image: notes.txt"
    assert warnings[1].startswith(f"Skipped 1 image that could not be read: {folder / 'broken.png'}")

    (folder / "good0.png").unlink(), (folder / "good1.png").unlink(), (folder / "good2.png").unlink()
    with pytest.raises(DataError, match=r"none of the images could be read.*broken\.png"):
        predict(_cfg(tmp_path, ckpt, folder))


def test_no_images_is_a_data_error(ckpt: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"inputs=.*empty: no images there"):
        predict(_cfg(tmp_path, ckpt, tmp_path / "empty"))
    with pytest.raises(DataError, match=r"inputs=.*\*.png: no "):
        predict(_cfg(tmp_path, ckpt, tmp_path / "nowhere" / "*.png"))


def test_plot_writes_one_figure_per_image(
    ckpt: Path, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(3):
        as_users_have_them(digits[0][i], i).save(folder / f"d{i}.jpeg")
    predict(_cfg(tmp_path, ckpt, f"{folder}/*.jpeg", "plot=true"))
    figures = sorted((tmp_path / "predictions").iterdir())  # next to the CSV by default
    assert [p.name for p in figures] == ["d0.png", "d1.png", "d2.png"]
    assert all(Image.open(p).size[0] > 200 for p in figures)


def test_cli(ckpt: Path, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    as_users_have_them(digits[0][0], 0).save(tmp_path / "seven.png")
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_lightning.predict", f"ckpt_path={ckpt}", "inputs=seven.png",
         "output=preds.csv", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "top-3" in proc.stdout and "seven.png" in proc.stdout
    with open(tmp_path / "preds.csv", newline="") as f:
        assert next(csv.reader(f)) == ["path", "class", "name", "confidence"]

    proc = subprocess.run(
        [sys.executable, "-m", "mnist_lightning.predict", f"ckpt_path={ckpt}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "inputs" in errors[0], proc.stderr

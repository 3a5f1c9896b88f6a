"""predict prepares a photo as the checkpoint's dataset was prepared: a plain resize, or MNIST's recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONF_DIR, FAST
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from PIL import Image
from test_folder_classes import ANIMALS, write_classes

from mnist_lightning.checkpoint import load_classifier
from mnist_lightning.errors import DataError
from mnist_lightning.predict import predict
from mnist_lightning.preprocess import PREPARE, preparation, to_mnist
from mnist_lightning.train import train


@pytest.fixture(scope="module")
def named_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real small model trained on a tiny folder of named classes (cat/, dog/, fish/)."""
    tmp = tmp_path_factory.mktemp("named")
    write_classes(tmp / "pets" / "train", ANIMALS, 20)
    overrides = [f"run_dir={tmp / 'run'}", f"data.cache_dir={tmp / 'cache'}", "data=folder",
                 f"data.root={tmp / 'pets'}", "data.val_size=6", "test=false", *FAST]  # fmt: skip
    threads = torch.get_num_threads()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        train(hydra_compose("config", overrides=overrides))
    torch.set_num_threads(threads)  # train() sets it process-wide
    return tmp / "run" / "checkpoints" / "best.ckpt"


def _photo(path: Path) -> Path:
    """A light-background photo, larger than the model's input: dark stripes on pale grey, in colour."""
    pixels = np.full((60, 45, 3), 210, dtype=np.uint8)
    pixels[10:14, 5:40] = (40, 30, 20)  # a stripe near the top, off-centre: a digit's crop would move it
    pixels[40:50, 30:42] = (90, 60, 30)
    Image.fromarray(pixels).save(path)
    return path


def _predict(ckpt: Path, inputs: Path, tmp_path: Path) -> list[dict]:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("predict", overrides=[f"ckpt_path={ckpt}", f"inputs={inputs}",
                                                  f"output={tmp_path / 'out.csv'}"])  # fmt: skip
    return predict(cfg)


def test_a_named_class_model_sees_the_photo_plainly_resized(named_ckpt: Path, tmp_path: Path) -> None:
    model, facts, _ = load_classifier(named_ckpt)
    assert facts.preprocess == "resize" and facts.input_shape == (1, 28, 28)
    photo = _photo(tmp_path / "photo.png")
    with Image.open(photo) as image:
        plain = np.array(image.convert("L").resize((28, 28), Image.Resampling.BILINEAR))
        digit = to_mnist(image)
    assert plain.mean() > 150 and digit.mean() < 100  # light stays light; the digit recipe inverts
    [row] = _predict(named_ckpt, photo, tmp_path)
    with torch.no_grad():
        expected = model.probs(facts.normalize(torch.from_numpy(plain[None])))[0]
        inverted = model.probs(facts.normalize(torch.from_numpy(digit[None])))[0]
    assert np.allclose(row["probs"], expected.tolist(), atol=1e-5)
    assert not np.allclose(row["probs"], inverted.tolist(), atol=1e-3)  # the test tells the two apart
    assert row["name"] in ANIMALS


def test_an_unknown_preparation_in_a_checkpoint_is_one_line(named_ckpt: Path, tmp_path: Path) -> None:
    ckpt = torch.load(named_ckpt, weights_only=True)
    ckpt["data_facts"]["preprocess"] = "sketch"  # from a newer version, say
    torch.save(ckpt, tmp_path / "newer.ckpt")
    with pytest.raises(DataError) as err:
        _predict(tmp_path / "newer.ckpt", _photo(tmp_path / "photo.png"), tmp_path)
    message = str(err.value)
    assert "newer.ckpt: its dataset's preprocess='sketch' is unknown here (known: digit, resize)" in message
    assert "\n" not in message


def test_resize_gives_the_models_size_in_its_channels(tmp_path: Path) -> None:
    with Image.open(_photo(tmp_path / "photo.png")) as image:
        colour = preparation("resize", (3, 32, 24), tmp_path)(image)
        assert colour.shape == (32, 24, 3) and colour.dtype == np.uint8
        assert np.array_equal(colour, np.asarray(image.resize((24, 32), Image.Resampling.BILINEAR)))
        assert preparation("resize", (1, 32, 24), tmp_path)(image).shape == (32, 24)


def test_a_digit_at_another_size_is_mnists_recipe_scaled() -> None:
    page = Image.new("L", (120, 90), 255)
    page.paste(0, (30, 20, 50, 80))  # a dark bar, 20 wide and 60 tall, off-centre
    small = PREPARE["digit"](page, (1, 28, 28))
    assert np.array_equal(small, to_mnist(page))
    large = PREPARE["digit"](page, (1, 56, 56))
    rows, cols = np.nonzero(large > 127)
    assert rows.max() - rows.min() + 1 == 40  # the 20-of-28 box, at 56: 40 tall
    assert abs((rows.min() + rows.max()) / 2 - 27.5) <= 1 and abs((cols.min() + cols.max()) / 2 - 27.5) <= 1
    colour = PREPARE["digit"](page, (3, 28, 28))
    assert colour.shape == (28, 28, 3) and all(np.array_equal(colour[..., c], small) for c in range(3))


def test_serve_names_a_folder_of_its_own_classes_by_its_folder(named_ckpt: Path) -> None:
    from mnist_lightning.inference import Predictor
    from mnist_lightning.web.app import dataset_name

    # the folder's classes replaced the default dataset's (mnist): the page must not say "mnist"
    assert dataset_name(Predictor.load(named_ckpt)) == "pets"

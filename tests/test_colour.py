"""data=folder data.channels=3: colour kept end to end (train, facts, evaluate, report, ONNX); decoding,
sizes, the cache key, normalisation and bad values."""

from __future__ import annotations

import json
import logging
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

from mnist_lightning.building import build
from mnist_lightning.checkpoint import load_classifier
from mnist_lightning.data import FolderDataModule
from mnist_lightning.data.augment import Augment
from mnist_lightning.data.folder import decode_image, read_cached
from mnist_lightning.data.folder_classes import FolderClasses
from mnist_lightning.data.image_format import ImageFormat
from mnist_lightning.data.stats import measure
from mnist_lightning.errors import ConfigError, user_error_in
from mnist_lightning.evaluate import evaluate
from mnist_lightning.export import export
from mnist_lightning.export_images import export_images
from mnist_lightning.reports import figures
from mnist_lightning.train import train

# Three colours of one grey level: 299 R + 587 G + 114 B = 100,000 for each, so Pillow's grayscale
# (L = 0.299 R + 0.587 G + 0.114 B) reads all three as 100. Only a colour read can tell them apart.
COLOURS = {"blue": (52, 106, 195), "green": (66, 128, 45), "red": (212, 48, 74)}
NOISE = 30  # the same grey noise on all channels of a pixel: it moves the grey level, never the hue


def write_colours(root: Path, per_class: int, size: int = 32) -> Path:
    """`root/<colour>/<i>.png`: the class's colour plus grey noise, image i's noise alike in every class."""
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)  # the same noise for each class: their grayscale images are equal
        for i in range(per_class):
            noise = rng.integers(-NOISE, NOISE + 1, size=(size, size, 1))
            image = np.asarray(rgb) + noise  # (size, size, 3), within 15..242: never clipped
            Image.fromarray(image.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def _near(pixels: np.ndarray, rgb: tuple[int, int, int], within: int = NOISE + 5) -> int:
    """How many pixels of (H, W, 3) lie within `within` of `rgb` in every channel."""
    return int((np.abs(pixels.astype(int) - np.asarray(rgb)) <= within).all(axis=-1).sum())


def _sub_compose(name: str, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose_config(name, overrides=list(overrides))


def test_colour_folder_trains_evaluates_reports_and_exports(
    compose: Callable[..., DictConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ort = pytest.importorskip("onnxruntime", reason="ONNX export is the optional extra [export]")
    root = tmp_path / "colours"
    write_colours(root / "train", 24)
    write_colours(root / "test", 6)
    colour = ("data=folder", "data.channels=3", "data.image_size=32", f"data.root={root}")
    cfg = compose(*colour, "model=convnet", "data.val_size=12", "data.batch_size=8", "report=true",
                  "trainer.max_epochs=3", "trainer.limit_train_batches=1.0")  # fmt: skip
    with caplog.at_level(logging.INFO):
        results = train(cfg)
    assert results["test/acc"] >= 0.9  # chance is 1/3; a grayscale read could do no better than chance
    assert "Normalisation (data.mean/std=auto): mean (" in caplog.text  # one line, per channel
    ckpt = Path(cfg.run_dir) / "checkpoints" / "best.ckpt"
    model, facts, _ = load_classifier(ckpt)
    assert facts.input_shape == (3, 32, 32) and facts.class_names == ("blue", "green", "red")
    assert isinstance(facts.mean, tuple) and len(facts.mean) == 3 and isinstance(facts.std, tuple)
    assert (
        all(0.15 < m < 0.6 for m in facts.mean) and len(set(facts.mean)) == 3
    )  # the photos' own, not MNIST's
    # evaluate with the checkpoint's own data settings (channels, size, statistics)
    evaluated = evaluate(_sub_compose("evaluate", f"ckpt_path={ckpt}", "accelerator=cpu", "report=false",
                                      f"run_dir={tmp_path / 'eval'}"))  # fmt: skip
    assert evaluated["test/acc"] == results["test/acc"]
    # the report's image grids show the images in their colours
    grid = np.asarray(Image.open(Path(cfg.run_dir) / "report" / "predictions.png").convert("RGB"))
    assert all(_near(grid, rgb) > 500 for rgb in COLOURS.values())
    # ONNX: uint8 (B, 32, 32, 3) as image files store pixels -> the model's own probabilities
    written = export(_sub_compose("export", f"ckpt_path={ckpt}", f"out={tmp_path / 'm.onnx'}"))
    images = torch.from_numpy(
        np.stack([np.asarray(Image.open(root / "test" / n / "1.png")) for n in COLOURS])
    )
    session = ort.InferenceSession(written["out"], providers=["CPUExecutionProvider"])
    (probs,) = session.run(None, {"images": images.numpy()})  # (3, 32, 32, 3) uint8
    with torch.no_grad():
        np.testing.assert_allclose(probs, model.probs(facts.normalize(images)).numpy(), atol=1e-4)
    assert probs.argmax(1).tolist() == [0, 1, 2]
    assert "(batch, 32, 32, 3)" in written["input"] and "RGB" in written["input"]
    assert json.loads(written["normalization"])["mean"] == list(facts.mean)


def test_decode_into_three_channels_at_image_size(tmp_path: Path) -> None:
    rgba = np.zeros((20, 40, 4), np.uint8)
    rgba[:, :20] = (255, 0, 0, 255)  # opaque red left half; the right half transparent: black
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(rgba[..., :3]).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "palette.png")
    Image.fromarray(np.full((32, 32), 77, np.uint8)).save(tmp_path / "gray.png")
    pixels, resized = decode_image(tmp_path / "rgba.png", channels=3, size=16)
    assert pixels.shape == (16, 16, 3) and pixels.dtype == np.uint8 and resized
    assert tuple(pixels[8, 2]) == (255, 0, 0) and tuple(pixels[8, 13]) == (0, 0, 0)
    palette, _ = decode_image(tmp_path / "palette.png", channels=3, size=16)
    assert tuple(palette[8, 2]) == (255, 0, 0)
    gray, resized = decode_image(tmp_path / "gray.png", channels=3, size=32)
    assert gray.shape == (32, 32, 3) and (gray == 77).all() and not resized
    assert decode_image(tmp_path / "rgba.png")[0].shape == (28, 28)  # the default: 28x28 grayscale


def test_only_colour_tells_the_classes_apart_and_the_cache_key_follows_the_format(tmp_path: Path) -> None:
    write_colours(tmp_path / "train", 2, size=24)
    classes = FolderClasses.of(tmp_path / "train", ())
    gray = read_cached(tmp_path / "train", tmp_path / "c", classes)  # 28x28 grayscale, the default
    rgb = read_cached(tmp_path / "train", tmp_path / "c", classes, ImageFormat(3, 32))
    small = read_cached(tmp_path / "train", tmp_path / "c", classes, ImageFormat(3, 16))
    assert gray.images.shape == (6, 28, 28) and rgb.images.shape == (6, 32, 32, 3)
    assert small.images.shape == (6, 16, 16, 3)
    assert len(list((tmp_path / "c" / "folder").glob("*.pt"))) == 3  # one file per format
    by_class = [gray.images[gray.labels == k] for k in range(3)]
    assert torch.equal(by_class[0], by_class[1]) and torch.equal(by_class[1], by_class[2])
    assert not torch.equal(rgb.images[rgb.labels == 0], rgb.images[rgb.labels == 2])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data.channels=2"], "data.channels=2: must be 1 (grayscale) or 3 (colour, RGB)"),
        (["data.image_size=0"], "data.image_size=0: must be a whole number of pixels, at least 1"),
        (["data.std=[0.2,0,0.2]"], "data.std=[0.2, 0, 0.2]: must be a positive number, a list of one per"),
        (["data.mean=red"], "data.mean=red: must be a number, a list of one per channel"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(
    overrides: list[str], expected: str, compose: Callable[..., DictConfig]
) -> None:
    with pytest.raises(Exception) as caught:
        build("data", compose("data=folder", *overrides).data)
    refused = user_error_in(caught.value)
    assert isinstance(refused, ConfigError) and str(refused).startswith(expected) and "\n" not in str(refused)


def test_normalisation_rule(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_colours(tmp_path / "named" / "train", 4)
    digits = tmp_path / "digits" / "train"
    for name in ("3", "5"):  # digit folders: the dataset's own classes
        (digits / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(digits / name / f"{i}.png")
    common = dict(batch_size=4, val_size=2, seed=0, cache_dir=str(tmp_path / "c"), mean="auto", std="auto")

    def settled(root: Path, **kwargs: object) -> FolderDataModule:
        module = FolderDataModule(root=str(root), **{**common, **kwargs})  # type: ignore[arg-type]
        module.setup("fit")
        return module

    # grayscale digit folders keep the dataset's statistics, as every run before `auto` did
    digit_folders = settled(tmp_path / "digits")
    assert (digit_folders.mean, digit_folders.std) == (0.1307, 0.3081)
    with caplog.at_level(logging.INFO):
        named = settled(tmp_path / "named")  # grayscale but classes of one's own: measured
    assert named.mean == measure(named.splits["train"].images)[0] and isinstance(named.mean, float)
    assert "measured on the train split" in caplog.text
    coloured = settled(tmp_path / "named", channels=3, image_size=32)
    want = measure(coloured.splits["train"].images)
    assert (coloured.mean, coloured.std) == want and len(want[0]) == 3  # type: ignore[arg-type]
    assert coloured.facts.mean == want[0]
    given = settled(tmp_path / "named", channels=3, mean=[0.5, 0.4, 0.3], std=0.25)  # set: wins
    assert (given.mean, given.std) == ((0.5, 0.4, 0.3), 0.25)
    with pytest.raises(ConfigError, match=r"^data.mean=\[0.5, 0.5\]: 2 values for images of 3 channel"):
        settled(tmp_path / "named", channels=3, mean=[0.5, 0.5])


def test_measure_matches_torch() -> None:
    images = torch.randint(0, 256, (50, 8, 8, 3), dtype=torch.uint8)
    mean, std = measure(images)
    x = images.double() / 255
    assert np.allclose(mean, x.mean((0, 1, 2)).numpy(), atol=1e-4)
    assert np.allclose(std, x.std((0, 1, 2), unbiased=False).numpy(), atol=1e-4)
    assert measure(torch.full((4, 5, 5), 9, dtype=torch.uint8)) == (round(9 / 255, 4), 1.0)  # constant


def test_augment_warps_all_channels_alike() -> None:
    torch.manual_seed(0)
    gray = torch.rand(4, 1, 32, 32)
    out = Augment(degrees=20, elastic_alpha=2.0)(gray.expand(4, 3, 32, 32))  # (B, 3, H, W)
    assert out.shape == (4, 3, 32, 32)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


def test_colour_figures_and_exported_images_keep_colour(tmp_path: Path) -> None:
    cells = np.stack([np.broadcast_to(np.asarray(rgb, np.uint8), (16, 16, 3)) for rgb in COLOURS.values()])
    grid = figures.render(figures.digits_figure(cells, [0, 1, 2], [0, 1, 1], [0.9] * 3, "Colours"))
    plot = figures.render(figures.probability_figure(cells[2], [0.1, 0.2, 0.7], "red", list(COLOURS)))
    for pixels in (grid, plot):  # the images' own colours, not a grey ramp
        assert _near(pixels, COLOURS["red"], within=3) > 100
    assert all(_near(grid, rgb, within=3) > 100 for rgb in COLOURS.values())
    root = write_colours(tmp_path / "in" / "train", 3, size=32).parent
    colour = ("data=folder", f"data.root={root}", "data.channels=3", "data.image_size=32")
    export_images(
        _sub_compose("export_images", *colour, f"data.cache_dir={tmp_path / 'c'}", f"out={tmp_path / 'o'}")
    )
    written = sorted((tmp_path / "o").rglob("*.png"))
    assert written and all(Image.open(p).mode == "RGB" for p in written)

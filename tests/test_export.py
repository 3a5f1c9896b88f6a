"""An exported model (ONNX, TorchScript) gives the PyTorch model's probabilities from raw uint8 pixels."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONF_DIR, group_options
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig
from test_folder_classes import write_classes

from mnist_lightning.checkpoint import load_classifier
from mnist_lightning.data.digits import normalize
from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.export import METADATA_FILE, export
from mnist_lightning.train import train


def _export(ckpt: Path, fmt: str, out: Path) -> dict:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return export(hydra_compose("export", overrides=[f"ckpt_path={ckpt}", f"format={fmt}", f"out={out}"]))


@pytest.fixture
def trained(compose: Callable[..., DictConfig], tiny_mnist: Path) -> Callable[[str], Path]:
    def _trained(model: str) -> Path:
        cfg = compose(
            f"model={model}", "data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "test=false"
        )
        train(cfg)
        return Path(cfg.run_dir) / "checkpoints" / "best.ckpt"

    return _trained


def _reference(ckpt: Path, images: torch.Tensor) -> np.ndarray:
    """The PyTorch model's probabilities, normalised as in training."""
    model, shape, _ = load_classifier(ckpt)
    with torch.no_grad():
        return model.probs(normalize(images, shape.mean, shape.std)).numpy()


@pytest.mark.parametrize("model", group_options("model"))
def test_onnx_matches_pytorch(
    model: str, trained: Callable[[str], Path], tiny_mnist: Path, tmp_path: Path
) -> None:
    ort = pytest.importorskip("onnxruntime", reason="ONNX export is the optional extra [export]")
    ckpt = trained(model)
    written = _export(ckpt, "onnx", tmp_path / "model.onnx")
    # Real (tiny) test digits, in a batch size the export never saw: the batch axis is dynamic.
    images = load_idx_dir(tiny_mnist)[1].images[:13]  # (13, 28, 28) uint8
    session = ort.InferenceSession(written["out"], providers=["CPUExecutionProvider"])
    (probs,) = session.run(None, {"images": images.numpy()})
    np.testing.assert_allclose(probs, _reference(ckpt, images), atol=1e-4)
    assert probs.shape == (13, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["normalization"]) == {"mean": 0.1307, "std": 0.3081, "scale": 1 / 255}
    assert json.loads(meta["classes"]) == list("0123456789")


def test_torchscript_matches_pytorch(
    trained: Callable[[str], Path], tiny_mnist: Path, tmp_path: Path
) -> None:
    ckpt = trained("convnet")
    written = _export(ckpt, "torchscript", tmp_path / "model.pt")
    images = load_idx_dir(tiny_mnist)[1].images[:9]
    extra = {METADATA_FILE: ""}
    loaded = torch.jit.load(written["out"], _extra_files=extra)
    np.testing.assert_allclose(loaded(images).detach().numpy(), _reference(ckpt, images), atol=1e-4)
    assert json.loads(json.loads(extra[METADATA_FILE])["normalization"])["mean"] == 0.1307


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_named_class_model_exports_its_class_names(
    fmt: str, compose: Callable[..., DictConfig], tmp_path: Path
) -> None:
    if fmt == "onnx":
        ort = pytest.importorskip("onnxruntime", reason="ONNX export is the optional extra [export]")
    write_classes(tmp_path / "pets" / "train", ("cat", "dog", "fish"), 12)
    cfg = compose("data=folder", f"data.root={tmp_path / 'pets'}", "data.val_size=6", "test=false")
    train(cfg)
    written = _export(Path(cfg.run_dir) / "checkpoints" / "best.ckpt", fmt, tmp_path / f"model.{fmt}")
    if fmt == "onnx":
        meta = ort.InferenceSession(written["out"], providers=["CPUExecutionProvider"]).get_modelmeta()
        classes = meta.custom_metadata_map["classes"]
    else:
        extra = {METADATA_FILE: ""}
        torch.jit.load(written["out"], _extra_files=extra)
        classes = json.loads(extra[METADATA_FILE])["classes"]
    assert json.loads(classes) == ["cat", "dog", "fish"]


def test_bad_format_and_missing_checkpoint_are_one_line_errors(tmp_path: Path) -> None:
    for args, expected in (
        ([f"ckpt_path={tmp_path / 'none.ckpt'}", f"out={tmp_path / 'm.onnx'}"], "no such file"),
        (
            [f"ckpt_path={tmp_path / 'none.ckpt'}", "format=keras", f"out={tmp_path / 'm'}"],
            "unknown export format",
        ),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "mnist_lightning.export", *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and expected in lines[0], proc.stderr
        assert not (tmp_path / "m.onnx").exists()

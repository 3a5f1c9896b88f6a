"""A checkpoint evaluates on its own, on its own data or another source, and never runs code."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import CONF_DIR
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from mnist_lightning import metric_keys as M
from mnist_lightning.data.folder import write_image_folder
from mnist_lightning.data.idx import load_idx_dir
from mnist_lightning.errors import DataError
from mnist_lightning.evaluate import evaluate
from mnist_lightning.train import train


def _evaluate_cfg(tmp_path: Path, *overrides: str, return_hydra: bool = False) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(
            "evaluate",
            overrides=[f"run_dir={tmp_path / 'eval'}", "accelerator=cpu", *overrides],
            return_hydra_config=return_hydra,
        )


@pytest.fixture
def trained(compose: Callable[..., DictConfig], tiny_mnist: Path) -> tuple[Path, dict]:
    cfg = compose("data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "trainer.precision=bf16-mixed")
    results = train(cfg)
    return Path(cfg.run_dir) / "checkpoints" / "best.ckpt", results


def test_checkpoint_alone_reproduces_the_recorded_test_accuracy(
    trained: tuple[Path, dict], tmp_path: Path
) -> None:
    ckpt, recorded = trained
    results = evaluate(_evaluate_cfg(tmp_path, f"ckpt_path={ckpt}"))
    assert results[M.TEST_ACC] == recorded[M.TEST_ACC]
    assert results[M.TEST_LOSS] == pytest.approx(recorded[M.TEST_LOSS], rel=1e-4)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())[M.TEST_ACC] == recorded[M.TEST_ACC]


def test_same_model_on_another_source_gives_the_same_result(
    trained: tuple[Path, dict], tiny_mnist: Path, tmp_path: Path
) -> None:
    ckpt, recorded = trained
    train_split, test_split = load_idx_dir(tiny_mnist)
    write_image_folder(train_split, tmp_path / "png" / "train")
    write_image_folder(test_split, tmp_path / "png" / "test")
    cfg = _evaluate_cfg(
        tmp_path, f"ckpt_path={ckpt}", "data=folder", f"data.root={tmp_path / 'png'}",
        f"data.cache_dir={tmp_path / 'cache'}", "data.val_size=40",
    )  # fmt: skip
    assert evaluate(cfg)[M.TEST_ACC] == recorded[M.TEST_ACC]


def test_another_source_is_normalised_as_the_model_was_trained(
    compose: Callable[..., DictConfig], tiny_mnist: Path, tmp_path: Path
) -> None:
    cfg = compose("data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "data.mean=0.5", "data.std=0.25")
    recorded = train(cfg)
    ckpt = Path(cfg.run_dir) / "checkpoints" / "best.ckpt"
    # data=torchvision brings its own default mean and std (MNIST's); the checkpoint's must win.
    other = [
        "data=torchvision",
        f"data.root={tiny_mnist}",
        f"data.cache_dir={tmp_path / 'c'}",
        "data.val_size=40",
    ]
    results = evaluate(_evaluate_cfg(tmp_path, f"ckpt_path={ckpt}", *other))
    assert results[M.TEST_LOSS] == pytest.approx(recorded[M.TEST_LOSS], rel=1e-5)
    # ... unless the command line sets them: then they are the user's
    explicit = _evaluate_cfg(tmp_path, f"ckpt_path={ckpt}", *other, "data.mean=0.1307", return_hydra=True)
    HydraConfig.instance().set_config(explicit)
    try:
        with open_dict(explicit):
            del explicit["hydra"]
        assert evaluate(explicit)[M.TEST_LOSS] != pytest.approx(recorded[M.TEST_LOSS], rel=1e-3)
    finally:
        HydraConfig.instance().cfg = None


def test_missing_and_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ckpt_path=.*nope.ckpt: no such file"):
        evaluate(_evaluate_cfg(tmp_path, f"ckpt_path={tmp_path / 'nope.ckpt'}"))
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    with pytest.raises(DataError, match=r"notes.ckpt: not a PyTorch checkpoint"):
        evaluate(_evaluate_cfg(tmp_path, f"ckpt_path={tmp_path / 'notes.ckpt'}"))


class _Payload:
    """Unpickling this would create a file: what a malicious checkpoint would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.target,))


def test_a_checkpoint_with_code_in_it_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"hyper_parameters": {}, "state_dict": {}, "evil": _Payload(marker)}, tmp_path / "evil.ckpt")
    with pytest.raises(DataError, match="holds Python objects other than plain data") as refused:
        evaluate(_evaluate_cfg(tmp_path, f"ckpt_path={tmp_path / 'evil.ckpt'}"))
    assert "weights_only=False" not in str(refused.value)  # torch's advice would run the code
    assert not marker.exists()


def test_cli_writes_its_own_run_directory(trained: tuple[Path, dict], tmp_path: Path) -> None:
    ckpt, recorded = trained
    run = tmp_path / "cli-eval"
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_lightning.evaluate", f"ckpt_path={ckpt}", f"hydra.run.dir={run}",
         "accelerator=cpu"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((run / "metrics.json").read_text())[M.TEST_ACC] == recorded[M.TEST_ACC]
    assert "Test accuracy of" in proc.stdout + proc.stderr


def test_ema_checkpoint_holds_and_tests_the_averaged_weights(
    compose: Callable[..., DictConfig], tiny_mnist: Path, tmp_path: Path
) -> None:
    cfg = compose("data=idx", f"data.root={tiny_mnist}", "data.val_size=40", "ema=0.9")
    recorded = train(cfg)
    ckpt = Path(cfg.run_dir) / "checkpoints" / "best.ckpt"
    stored = torch.load(ckpt, weights_only=True)
    averaged, raw = stored["state_dict"], stored["current_model_state"]
    assert any(not torch.equal(averaged[k], raw[k]) for k in averaged if k.startswith("net."))
    # The test after fit and a later evaluate both see the averaged weights, not the raw ones.
    results = evaluate(_evaluate_cfg(tmp_path, f"ckpt_path={ckpt}"))
    assert results[M.TEST_ACC] == recorded[M.TEST_ACC]
    assert results[M.TEST_LOSS] == pytest.approx(recorded[M.TEST_LOSS], rel=1e-4)

"""DDP with two CPU processes (gloo): one run directory, one metrics.json, each test image exactly once,
the same result as one process with the same global batch, DDP multiruns, and torchrun "multi-node"."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_tiny_mnist

from mnist_lightning import metrics as M

N_TEST = 61  # odd: two ranks get 31 and 30 images, so padding or dropping would show in the count
# Tiny, quick and deterministic: the MLP has no dropout or batch norm, so two ranks of 20 images
# compute exactly what one process computes on the same 40 images.
TINY = ["data=idx", "data.val_size=40", "model=mlp", "trainer.max_epochs=2", "report=false",
        "trainer.enable_progress_bar=false", "trainer.accelerator=cpu", "threads=1"]  # fmt: skip


def _run(args: list[str], cwd: Path, module: str = "mnist_lightning") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_mnist(tmp_path_factory.mktemp("tiny"), n_train=240, n_test=N_TEST)


@pytest.fixture(scope="module")
def ddp_run(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`trainer=ddp` with 2 CPU processes, 20 images per device: a global batch of 40."""
    cwd = tmp_path_factory.mktemp("ddp")
    _run(["trainer=ddp", "trainer.devices=2", f"data.root={tiny}", "data.batch_size=20", *TINY], cwd)
    (run_dir,) = (cwd / "outputs" / "train").glob("*/*")  # exactly one run directory
    return run_dir


def test_ddp_writes_one_run_and_tests_every_image_once(ddp_run: Path) -> None:
    metrics = json.loads((ddp_run / "metrics.json").read_text())
    assert metrics[M.TEST_SAMPLES] == N_TEST
    assert sorted(p.name for p in ddp_run.glob("*.log")) == ["train.log", "train_rank1.log"]
    assert (ddp_run / ".hydra" / "config.yaml").is_file()
    assert not list((ddp_run / "tensorboard").glob("version_*"))  # one TensorBoard run
    assert (
        "Global batch: 40 (data.batch_size=20 per device x 2 device(s)" in (ddp_run / "train.log").read_text()
    )


def test_ddp_matches_one_process_with_the_same_global_batch(
    ddp_run: Path, tiny: Path, tmp_path: Path
) -> None:
    _run([f"hydra.run.dir={tmp_path / 'single'}", f"data.root={tiny}", "data.batch_size=40", *TINY], tmp_path)
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    ddp = json.loads((ddp_run / "metrics.json").read_text())
    assert ddp[M.TEST_ACC] == pytest.approx(single[M.TEST_ACC], abs=1.5 / N_TEST)
    assert ddp[M.TEST_LOSS] == pytest.approx(single[M.TEST_LOSS], rel=5e-3)  # only summation order differs


def test_ddp_multirun_runs_and_tests_both_jobs(tiny: Path, tmp_path: Path) -> None:
    _run(
        ["-m", "trainer=ddp", f"data.root={tiny}", *TINY, "trainer.max_epochs=1", "optimizer=sgd,adam"],
        tmp_path,
    )
    (sweep,) = (tmp_path / "outputs" / "train" / "multirun").glob("*/*")  # no stray sweep of a rank's own
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name[:2] for p in jobs] == ["0_", "1_"]
    for job in jobs:
        assert json.loads((job / "metrics.json").read_text())[M.TEST_SAMPLES] == N_TEST
        assert (job / "train_rank1.log").is_file()


def test_torchrun_two_nodes_on_localhost_match_ddp(ddp_run: Path, tiny: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = tmp_path / "run"
    args = ["trainer=ddp", "trainer.devices=1", "trainer.num_nodes=2", f"data.root={tiny}",
            "data.batch_size=20", *TINY, f"hydra.run.dir={run_dir}"]  # fmt: skip
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                "--nproc-per-node=1",
                f"--node-rank={rank}",
                "--master-addr=127.0.0.1",
                f"--master-port={port}",
                "-m",
                "mnist_lightning",
                *args,
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    for node in nodes:
        output, _ = node.communicate(timeout=300)
        assert node.returncode == 0, output[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics[M.TEST_SAMPLES] == N_TEST
    assert (run_dir / "train_rank1.log").is_file() and not (tmp_path / "outputs").exists()
    assert metrics[M.TEST_LOSS] == pytest.approx(
        json.loads((ddp_run / "metrics.json").read_text())[M.TEST_LOSS]
    )

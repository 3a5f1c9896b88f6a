"""DDP with two CPU processes (gloo), run as a user would (progress bar, logger, checkpoints, report):
one run directory, one metrics.json, each test image exactly once, the same result as one process with
the same global batch, `trainer.devices=2` alone, DDP multiruns with a failing job, torchrun
"multi-node", and a hung group that times out or is stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import children, make_tiny_mnist

from mnist_lightning import metric_keys as M

N_TEST = 61  # odd: two ranks get 31 and 30 images, so padding or dropping would show in the count
# Tiny, quick and deterministic: the MLP has no dropout or batch norm, so two ranks of 20 images
# compute exactly what one process computes on the same 40 images. Everything else is the default:
# the progress bar, the logger, the checkpoints and the report are on, as for a user.
TINY = ["data=idx", "data.val_size=40", "model=mlp", "trainer.max_epochs=2", "trainer.accelerator=cpu",
        "threads=1"]  # fmt: skip
ENV = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}


def _run(
    args: list[str], cwd: Path, module: str = "mnist_lightning", status: int = 0
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == status, proc.stderr[-3000:]
    return proc


def _hang_a_rank(args: list[str], cwd: Path) -> tuple[subprocess.Popen, int]:
    """Start a long DDP run; once it trains, freeze rank 1 (SIGSTOP): rank 0 then waits in a collective."""
    run_dir = cwd / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_lightning", *args, f"hydra.run.dir={run_dir}"],
        cwd=cwd, env={**ENV, "MNIST_LIGHTNING_WARM": "0"},  # rank 0 is then the child of `proc`
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while not (run_dir / "checkpoints" / "last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    (child,) = children(proc.pid)
    os.kill(child, signal.SIGSTOP)
    return proc, child


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie
    except OSError:
        return True


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
        "Global batch: 40 (data.batch_size=20 per device x 2 devices" in (ddp_run / "train.log").read_text()
    )


def test_ddp_matches_one_process_with_the_same_global_batch(
    ddp_run: Path, tiny: Path, tmp_path: Path
) -> None:
    _run([f"hydra.run.dir={tmp_path / 'single'}", f"data.root={tiny}", "data.batch_size=40", *TINY], tmp_path)
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    ddp = json.loads((ddp_run / "metrics.json").read_text())
    assert ddp[M.TEST_ACC] == pytest.approx(single[M.TEST_ACC], abs=1.5 / N_TEST)
    assert ddp[M.TEST_LOSS] == pytest.approx(single[M.TEST_LOSS], rel=5e-3)  # only summation order differs


def test_two_devices_without_trainer_ddp_run_as_trainer_ddp(
    ddp_run: Path, tiny: Path, tmp_path: Path
) -> None:
    # Lightning picks DDP by itself here; the run must neither hang nor rerun a sweep per rank.
    _run([f"hydra.run.dir={tmp_path / 'run'}", "trainer.devices=2", f"data.root={tiny}", "data.batch_size=20",
          *TINY], tmp_path)  # fmt: skip
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics[M.TEST_SAMPLES] == N_TEST and (tmp_path / "run" / "train_rank1.log").is_file()
    assert metrics[M.TEST_LOSS] == pytest.approx(
        json.loads((ddp_run / "metrics.json").read_text())[M.TEST_LOSS]
    )


def test_a_failed_ddp_job_stops_its_ranks_and_the_next_job_runs(tiny: Path, tmp_path: Path) -> None:
    # Job 0 alone gets a negative learning rate: every rank raises once the group has formed.
    proc = _run(
        ["-m", "trainer=ddp", f"data.root={tiny}", *TINY, "trainer.max_epochs=1", "optimizer.lr=-1,0.01"],
        tmp_path, status=1,  # the sweep reports, then says that a job failed
    )  # fmt: skip
    (sweep,) = (tmp_path / "outputs" / "train" / "multirun").glob("*/*")  # no stray sweep of a rank's own
    failed, finished = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert "Invalid learning rate: -1" in json.loads((failed / "failed.json").read_text())["error"]
    metrics = json.loads((finished / "metrics.json").read_text())
    assert metrics[M.TEST_SAMPLES] == N_TEST and metrics[M.STATUS] == M.OK
    assert (finished / "train_rank1.log").is_file() and (sweep / "report.md").is_file()
    assert "1 of 2 jobs failed" in proc.stderr + proc.stdout


def test_a_collective_that_a_rank_never_joins_times_out_naming_the_ranks(tiny: Path, tmp_path: Path) -> None:
    args = ["trainer=ddp", "trainer.strategy.timeout_s=3", f"data.root={tiny}", *TINY,
            "trainer.max_epochs=500", "last_checkpoint_every=5"]  # fmt: skip
    proc, child = _hang_a_rank(args, tmp_path)
    start = time.time()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and time.time() - start < 30
    assert stderr.strip().splitlines()[-1] == (
        "error: rank 0 of 2 waited 3 s (trainer.strategy.timeout_s) in a collective that rank 1 never "
        "joined; see train_rank<N>.log beside train.log for where they stopped"
    )
    assert _gone(child)  # the frozen rank was killed, not left behind


def test_sigterm_ends_a_hung_ddp_group_within_seconds(tiny: Path, tmp_path: Path) -> None:
    args = ["trainer=ddp", f"data.root={tiny}", *TINY, "trainer.max_epochs=500", "last_checkpoint_every=5"]
    proc, child = _hang_a_rank(args, tmp_path)
    time.sleep(1)  # rank 0 is now blocked in a collective: Python runs no signal handler there
    start = time.time()
    proc.send_signal(signal.SIGTERM)  # what `timeout`, SLURM and `kill` send
    try:
        proc.communicate(timeout=20)
    finally:  # today's code ignored SIGTERM here: never leave the group behind
        for pid in (proc.pid, child):
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM and time.time() - start < 10
    deadline = time.time() + 5
    while not _gone(child) and time.time() < deadline:
        time.sleep(0.05)
    assert _gone(child)


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

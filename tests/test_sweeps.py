"""Multirun sweeps: readable job folders, failed jobs reported without stopping the sweep, the report."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import FAST
from omegaconf import OmegaConf
from test_hparams import hparams_session

from mnist_lightning.config import JOB_NAME_MAX, job_name
from mnist_lightning.sweeps.launch import parallel_jobs, share_machine


def test_job_names_are_readable_safe_and_bounded() -> None:
    assert (
        job_name(["optimizer=sgd", "data.root=/a/b", "seed=1", "hydra.run.dir=x"]) == "optimizer=sgd,seed=1"
    )
    assert job_name(["data/augment=affine"]) == "data-augment=affine"
    assert job_name([]) == "defaults"
    long = job_name([f"key{i}=value{i}" for i in range(40)])
    assert len(long) <= JOB_NAME_MAX + 9 and long != job_name([f"key{i}=value{i}" for i in range(41)])


def test_sweep_with_a_failing_job_finishes_and_reports(tiny_mnist: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    data = ["data=idx", f"data.root={tiny_mnist}", "data.val_size=40", f"data.cache_dir={tmp_path}/c"]
    args = ["-m", "optimizer.lr=-1,0.01", "seed=0,1", *data, *FAST, f"hydra.sweep.dir={sweep}"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.run([sys.executable, "-m", "mnist_lightning", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]
    assert float(rows[0]["val/acc_best"]) >= float(rows[1]["val/acc_best"])  # ranked by validation
    assert "Invalid learning rate: -1" in rows[2]["error"] and rows[2]["job"].startswith(("0_", "1_"))
    assert "optimizer.lr=-1,seed=0" in rows[2]["job"] or "optimizer.lr=-1,seed=1" in rows[2]["job"]
    report = (sweep / "report.md").read_text()
    assert "| 2 | " in report.split("## Seeds")[1] and "±" in report  # two seeds grouped
    assert (sweep / "report.png").stat().st_size > 1000

    for name in ("report.csv", "report.md", "report.png"):
        (sweep / name).unlink()
    rebuilt = subprocess.run([sys.executable, "-m", "mnist_lightning.report", str(sweep)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert rebuilt.returncode == 0 and len(list(csv.DictReader((sweep / "report.csv").open()))) == 4


def test_parallel_jobs_share_the_cores() -> None:
    cores = os.cpu_count() or 1
    assert parallel_jobs({}) == 1  # the basic launcher: one job at a time
    assert parallel_jobs({"n_jobs": 2}) == 2 and parallel_jobs({"n_jobs": -1}) == cores
    assert parallel_jobs({"submitit_folder": "x", "cpus_per_task": None}) == cores
    assert parallel_jobs({"submitit_folder": "x", "partition": "gpu"}) == 1  # SLURM: own allocation
    cfg = OmegaConf.create({"threads": None, "trainer": {"accelerator": "cpu", "devices": 1}})
    share_machine(cfg, {"n_jobs": cores}, job_num=0)
    assert cfg.threads == 1
    cfg = OmegaConf.create({"threads": None, "trainer": {"accelerator": "cpu", "devices": 1}})
    share_machine(cfg, {"submitit_folder": "x", "partition": "p", "cpus_per_task": 8}, job_num=3)
    assert cfg.threads == 8


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_parallel_launchers_run_every_job_with_a_share_of_the_cores(
    launcher: str, tiny_mnist: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    data = ["data=idx", f"data.root={tiny_mnist}", "data.val_size=40", f"data.cache_dir={tmp_path}/c"]
    parallel = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    args = [
        "-m",
        f"hydra/launcher={launcher}",
        *parallel,
        "optimizer=sgd,adam",
        *data,
        *FAST,
        f"hydra.sweep.dir={sweep}",
    ]
    proc = subprocess.run([sys.executable, "-m", "mnist_lightning", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for log_file in sweep.glob("*/train.log"):  # both run one job per core: one thread each
        assert "Torch threads: 1" in log_file.read_text()
    if launcher == "joblib":  # two workers, both jobs dispatched together (a worker may start late,
        assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr  # so overlap is not timed)


def test_optuna_study_survives_divergence_and_resumes_from_its_storage(
    tiny_mnist: Path, tmp_path: Path
) -> None:
    (tmp_path / "conf" / "hparams_search").mkdir(parents=True)
    (tmp_path / "conf" / "hparams_search" / "small.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna\nhydra:\n  sweeper:\n"
        "    params:\n      optimizer: choice:sgd,adam\n      optimizer.lr: log:1e-3:1e-1\n"
        "    enqueue:\n      - {optimizer: sgd, optimizer.lr: 1.0e12}\n"
    )  # the first trial diverges on purpose: its lr sends the loss to NaN
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    data = ["data=idx", f"data.root={tiny_mnist}", "data.val_size=40", f"data.cache_dir={tmp_path}/c"]

    def study(n_trials: int, sweep: str) -> subprocess.CompletedProcess[str]:
        args = ["-m", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "hparams_search=small",
                f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweeper.storage={storage}", *data, *FAST,
                f"hydra.sweep.dir={tmp_path / sweep}"]  # fmt: skip
        return subprocess.run([sys.executable, "-m", "mnist_lightning", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    first = study(3, "first")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Job diverged" in first.stdout + first.stderr
    results = yaml.safe_load((tmp_path / "first" / "optimization_results.yaml").read_text())
    assert results["n_trials"] == 3 and results["best_value"] > 0.0  # it went on past the NaN trial
    assert results["best_params"]["optimizer.lr"] < 1.0

    second = study(4, "second")  # the same storage: only the one missing trial runs
    assert second.returncode == 0, second.stderr[-2000:]
    assert "3 of 4 trials already done" in second.stdout + second.stderr
    assert len([p for p in (tmp_path / "second").iterdir() if p.is_dir()]) == 1


def test_grid_of_8_runs_reports_8_rows_with_hparams(tiny_mnist: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "grid"
    data = ["data=idx", f"data.root={tiny_mnist}", "data.val_size=40", f"data.cache_dir={tmp_path}/c"]
    grid = ["optimizer=sgd,adam", "scheduler=step,cosine", "data.batch_size=16,32"]
    proc = subprocess.run([sys.executable, "-m", "mnist_lightning", "-m", *grid, *data, *FAST,
                           f"hydra.sweep.dir={sweep}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    seen = set()
    for row in rows:
        hparams, scalars = hparams_session(sweep / row["job"])
        assert abs(scalars["val/acc_best"] - float(row["val/acc_best"])) < 1e-6
        seen.add((hparams["optimizer"], hparams["scheduler"], hparams["batch_size"]))
    assert len(seen) == 8

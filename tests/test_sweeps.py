"""Multirun sweeps: readable job folders, failed jobs reported without stopping the sweep, the report."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from conftest import FAST

from mnist_lightning.config import JOB_NAME_MAX, job_name


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

"""Multirun sweeps: readable job folders, the report (ranked by val/acc_best, job status), failed jobs."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FAST
from omegaconf import OmegaConf
from test_hparams import hparams_session

from mnist_lightning import metric_keys as M
from mnist_lightning.run_dirs import JOB_NAME_MAX, job_name, sweep_job_names, trial_name
from mnist_lightning.sweeps import jobs as sweep_jobs
from mnist_lightning.sweeps import results
from mnist_lightning.sweeps.launch import parallel_jobs, share_machine


def test_job_names_are_readable_safe_and_bounded() -> None:
    assert (
        job_name(["optimizer=sgd", "data.root=/a/b", "seed=1", "hydra.run.dir=x"]) == "optimizer=sgd,seed=1"
    )
    assert job_name(["data/augment=affine"]) == "data-augment=affine"
    assert job_name([]) == "defaults"
    long = job_name([f"key{i}=value{i}" for i in range(40)])
    assert len(long) <= JOB_NAME_MAX + 9 and long != job_name([f"key{i}=value{i}" for i in range(41)])


def test_sweep_jobs_are_named_by_what_varies_in_the_order_given() -> None:
    shared = ["data=idx", "trainer.max_epochs=3", "threads=1"]
    jobs = [[*shared[:2], f"optimizer={o}", f"seed={s}", shared[2]] for o in ("sgd", "adam") for s in (0, 1)]
    assert sweep_job_names(jobs) == ["optimizer=sgd,seed=0", "optimizer=sgd,seed=1", "optimizer=adam,seed=0",
                                     "optimizer=adam,seed=1"]  # fmt: skip
    assert sweep_job_names([shared]) == ["data=idx,trainer.max_epochs=3,threads=1"]  # one job: all of its own
    sampled = {"optimizer": "adam", "optimizer.lr": 0.003123456, "data.batch_size": 64}
    assert trial_name(sampled) == "optimizer=adam,optimizer.lr=0.00312,data.batch_size=64"


def write_job(sweep: Path, name: str, overrides: list[str], metrics: dict[str, Any] | None = None,
              failed: bool = False) -> None:  # fmt: skip
    """A job folder as a multirun leaves it: .hydra/overrides.yaml, then metrics.json or failed.json."""
    (sweep / name / ".hydra").mkdir(parents=True)
    (sweep / name / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (sweep / name / "metrics.json").write_text(json.dumps(metrics))
    if failed:
        (sweep / name / sweep_jobs.FAILED_FILE).write_text(json.dumps({"error": "ConfigError: boom"}))


def seed_sweep(sweep: Path) -> None:
    """Two configurations, two seeds each, whose order by val/acc_best is the reverse of that by test/acc."""
    for num, (lr, seed, val, test) in enumerate(
        [("0.1", 0, 0.90, 0.99), ("0.1", 1, 0.92, 0.97), ("0.01", 0, 0.95, 0.90), ("0.01", 1, 0.97, 0.92)]
    ):  # metrics.json as written before the status key: every such run finished
        write_job(sweep, f"{num}_lr={lr},seed={seed}", [f"optimizer.lr={lr}", f"seed={seed}"],
                  {M.VAL_ACC_BEST: val, M.TEST_ACC: test, M.TEST_LOSS: 0.1, M.EPOCHS: 1})  # fmt: skip


def test_report_ranks_groups_and_plots_by_val_acc_best_never_test(tmp_path: Path) -> None:
    seed_sweep(tmp_path)
    jobs = results.write_report(tmp_path)
    assert [r["job"] for r in jobs] == ["3_lr=0.01,seed=1", "2_lr=0.01,seed=0", "1_lr=0.1,seed=1",
                                        "0_lr=0.1,seed=0"]  # fmt: skip
    groups = sweep_jobs.seed_groups(jobs)
    assert [g["config"] for g in groups] == ["optimizer.lr=0.01", "optimizer.lr=0.1"]  # best val first
    assert groups[0][M.VAL_ACC_BEST] == pytest.approx((0.96, 0.01 * math.sqrt(2)))
    assert groups[0][M.TEST_ACC] == pytest.approx((0.91, 0.01 * math.sqrt(2)))
    seeds = (tmp_path / "report.md").read_text().split("## Seeds")[1]
    assert f"| configuration | seeds | {M.VAL_ACC_BEST} | test accuracy |" in seeds
    assert "| optimizer.lr=0.01 | 2 | 96.00% ± 1.41 | 91.00% ± 1.41 |" in seeds
    assert seeds.index("optimizer.lr=0.01 ") < seeds.index("optimizer.lr=0.1 ")
    (ax,) = results.seed_figure(groups).axes  # what report.png shows
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([96.0, 91.0])
    assert M.VAL_ACC_BEST in ax.get_xlabel() and M.VAL_ACC_BEST in ax.get_title()
    assert "test" not in ax.get_xlabel() + ax.get_title()
    assert (tmp_path / "report.png").stat().st_size > 1000


def test_report_reads_each_jobs_status_and_ranks_and_groups_only_ok_jobs(tmp_path: Path) -> None:
    seed_sweep(tmp_path)
    (tmp_path / "0_lr=0.1,seed=0" / "metrics.json").write_text(
        json.dumps({M.STATUS: M.OK, M.VAL_ACC_BEST: 0.90, M.TEST_ACC: 0.99})
    )
    diverged = {M.STATUS: M.DIVERGED, M.VAL_ACC_BEST: 0.99, M.TEST_ACC: None, M.TEST_LOSS: None}
    write_job(tmp_path, "4_lr=10,seed=0", ["optimizer.lr=10", "seed=0"], diverged)  # best val before NaN
    write_job(tmp_path, "5_lr=-1,seed=0", ["optimizer.lr=-1", "seed=0"], failed=True)
    write_job(tmp_path, "6_lr=1,seed=0", ["optimizer.lr=1", "seed=0"])  # killed: neither file
    jobs = results.write_report(tmp_path)
    statuses = [r[M.STATUS] for r in jobs]
    assert statuses == [M.OK] * 4 + [M.DIVERGED, M.FAILED, sweep_jobs.INCOMPLETE]
    assert [r[M.STATUS] for r in csv.DictReader((tmp_path / "report.csv").open())] == statuses
    assert [g["config"] for g in sweep_jobs.seed_groups(jobs)] == ["optimizer.lr=0.01", "optimizer.lr=0.1"]
    assert [r["job"] for r in sweep_jobs.unfinished(jobs)] == ["5_lr=-1,seed=0", "6_lr=1,seed=0"]


def test_sweep_with_a_failing_job_reports_then_exits_non_zero(tiny_mnist: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    data = ["data=idx", f"data.root={tiny_mnist}", "data.val_size=40", f"data.cache_dir={tmp_path}/c"]
    joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]  # tests/test_optuna.py: the basic one
    args = ["-m", *joblib, "optimizer.lr=-1,0.01", "seed=0,1", *data, *FAST, f"hydra.sweep.dir={sweep}"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.run([sys.executable, "-m", "mnist_lightning", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]  # after every job ran and the report was written
    assert f"2 of 4 jobs failed or did not finish: see {sweep / 'report.md'}" in proc.stdout + proc.stderr
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
    rebuilt = subprocess.run([sys.executable, "-m", "mnist_lightning.sweep_report", str(sweep)],
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
    # Named by the one override that varies; the shared ones head the report.
    assert sorted(p.parent.name for p in sweep.glob("*/.hydra")) == ["0_optimizer=sgd", "1_optimizer=adam"]
    assert f"Every job: `{' '.join(data)} debug=limit" in (sweep / "report.md").read_text()
    for log_file in sweep.glob("*/train.log"):  # both run one job per core: one thread each
        assert "Torch threads: 1" in log_file.read_text()
    if launcher == "joblib":  # two workers, both jobs dispatched together (a worker may start late,
        assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr  # so overlap is not timed)


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

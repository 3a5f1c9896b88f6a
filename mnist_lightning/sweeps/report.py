"""The sweep report: one row per job, ranked by validation accuracy, seeds grouped, and a plot."""

from __future__ import annotations

import csv
import io
import json
import logging
import statistics
import traceback
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mnist_lightning import metrics as M
from mnist_lightning.errors import user_error_in
from mnist_lightning.io import write_bytes_atomic, write_json_atomic

log = logging.getLogger(__name__)

FAILED = "failed.json"  # what a failed job leaves in its folder instead of metrics.json
RANKED_BY = M.VAL_ACC_BEST  # never test accuracy: choosing on the test set would leak it
METRIC_COLUMNS = (M.VAL_ACC_BEST, M.TEST_ACC, M.TEST_LOSS, M.EPOCHS, M.FIT_SECONDS)
COLUMNS = ("rank", "job", "status", *METRIC_COLUMNS, "overrides", "error")


def record_failure(run_dir: Path, err: BaseException) -> str:
    """Write the job's error line (and traceback) to failed.json; the line, for the log."""
    user_error = user_error_in(err)
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    line = str(user_error) if user_error else f"{type(err).__name__}: {first}"
    write_json_atomic(
        run_dir / FAILED, {"status": "failed", "error": line, "traceback": traceback.format_exc()}
    )
    return line


def _job(job_dir: Path) -> dict[str, Any]:
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(overrides), "_overrides": overrides}
    if (job_dir / "metrics.json").is_file():
        row.update(status="ok", **json.loads((job_dir / "metrics.json").read_text()))
    elif (job_dir / FAILED).is_file():
        row.update(status="failed", error=json.loads((job_dir / FAILED).read_text())["error"])
    else:
        row["status"] = "incomplete"  # killed, or still running
    return row


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job of the sweep, best validation accuracy first; failed and unfinished jobs last."""
    jobs = [_job(p) for p in sorted(sweep_dir.iterdir()) if p.is_dir() and (p / ".hydra").is_dir()]
    jobs.sort(key=lambda r: (r["status"] != "ok", -float(r.get(RANKED_BY) or 0.0)))
    for rank, row in enumerate(jobs, 1):
        row["rank"] = rank
    return jobs


def seed_groups(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished jobs that differ only by `seed`: test accuracy mean ± std and the number of seeds."""
    groups: dict[str, list[float]] = {}
    for row in jobs:
        if row["status"] == "ok" and M.TEST_ACC in row:
            config = (
                " ".join(o for o in row["_overrides"] if not o.lstrip("+").startswith("seed=")) or "defaults"
            )
            groups.setdefault(config, []).append(float(row[M.TEST_ACC]))
    summary = [
        {"config": config, "seeds": len(accs), "mean": statistics.mean(accs),
         "std": statistics.stdev(accs) if len(accs) > 1 else 0.0}
        for config, accs in groups.items()
    ]  # fmt: skip
    return sorted(summary, key=lambda g: -g["mean"])


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _markdown(jobs: list[dict[str, Any]], groups: list[dict[str, Any]], sweep_dir: Path) -> str:
    lines = [f"# Sweep report: {sweep_dir}", "", f"{len(jobs)} jobs, ranked by `{RANKED_BY}` "
             "(test accuracy is never used for ranking).", "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]  # fmt: skip
    lines += ["| " + " | ".join(_fmt(row.get(c, "")) for c in COLUMNS) + " |" for row in jobs]
    lines += ["", "## Seeds", "", "| configuration | seeds | test accuracy |", "|---|---|---|"]
    lines += [
        f"| {g['config']} | {g['seeds']} | {100 * g['mean']:.2f}% ± {100 * g['std']:.2f} |" for g in groups
    ]
    return "\n".join(lines) + "\n"


def _short_labels(groups: list[dict[str, Any]]) -> list[str]:
    """Each configuration named by only the overrides that differ between configurations."""
    parsed = [dict(o.split("=", 1) for o in g["config"].split() if "=" in o) for g in groups]
    keys = sorted({k for p in parsed for k in p})
    varying = [k for k in keys if len({p.get(k) for p in parsed}) > 1]
    return [" ".join(f"{k}={p.get(k, '-')}" for k in varying) or "all jobs" for p in parsed]


def _plot(groups: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    shown = groups[:30]
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.4 * max(1, len(shown))))
    labels = [label if len(label) < 70 else label[:67] + "..." for label in _short_labels(shown)]
    ax.barh(range(len(shown)), [100 * g["mean"] for g in shown], xerr=[100 * g["std"] for g in shown],
            color="tab:blue", capsize=3)  # fmt: skip
    ax.set_yticks(range(len(shown)), labels, fontsize=8)
    ax.invert_yaxis()  # best at the top
    if shown:
        low = min(100 * (g["mean"] - g["std"]) for g in shown)
        ax.set_xlim(max(0.0, low - 0.5), 100.0)
    ax.set_xlabel("test accuracy (%), mean ± std over seeds")
    ax.set_title("Sweep: test accuracy per configuration")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def write_report(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Write report.csv, report.md and report.png into `sweep_dir`; the ranked rows."""
    sweep_dir = Path(sweep_dir)
    jobs = collect(sweep_dir)
    groups = seed_groups(jobs)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(jobs)
    write_bytes_atomic(sweep_dir / "report.csv", table.getvalue().encode())
    write_bytes_atomic(sweep_dir / "report.md", _markdown(jobs, groups, sweep_dir).encode())
    _plot(groups, sweep_dir / "report.png")
    failed = sum(row["status"] != "ok" for row in jobs)
    log.info("Sweep report: %s (%d jobs, %d not finished)", sweep_dir / "report.md", len(jobs), failed)
    return jobs


class SweepReport(Callback):
    """Hydra callback: writes the sweep report when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_report(config.hydra.sweep.dir)

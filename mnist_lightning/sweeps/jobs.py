"""A sweep's jobs as their folders tell: status, metrics and overrides, ranked by validation accuracy."""

from __future__ import annotations

import json
import math
import statistics
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mnist_lightning import metric_keys as M
from mnist_lightning.errors import user_error_in

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn

FAILED_FILE = "failed.json"  # what a failed job leaves in its folder instead of metrics.json
INCOMPLETE = "incomplete"  # the report's own status for a job that left neither file: killed, or running
# What makes a multirun exit non-zero. A diverged job is a result (its hyperparameters are bad), not this.
UNFINISHED = (M.FAILED, INCOMPLETE)
# What the Optuna sweeper adds to each job's overrides: where the job reports, not what it tries.
SWEEPER_SET = ("trial=",)
RANKED_BY = M.VAL_ACC_BEST  # never test accuracy: choosing on the test set would leak it


def record_failure(run_dir: Path, err: BaseException) -> str:
    """Write the job's error line (and traceback) to failed.json; the line, for the log."""
    # mnist_lightning.io imports torch: imported when used, so the entry points importing this start fast
    from mnist_lightning.io import write_json_atomic

    user_error = user_error_in(err)
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    line = str(user_error) if user_error else f"{type(err).__name__}: {first}"
    write_json_atomic(
        run_dir / FAILED_FILE, {M.STATUS: M.FAILED, "error": line, "traceback": traceback.format_exc()}
    )
    return line


def _job(job_dir: Path) -> dict[str, Any]:
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
    overrides = [o for o in overrides if not o.startswith(SWEEPER_SET)]
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(overrides), "_overrides": overrides}
    if (job_dir / M.METRICS_FILE).is_file():
        metrics = json.loads((job_dir / M.METRICS_FILE).read_text())
        # metrics.json from before the status key was written only by runs that finished
        row.update(metrics, **{M.STATUS: metrics.get(M.STATUS, M.OK)})
    elif (job_dir / FAILED_FILE).is_file():
        row.update({M.STATUS: M.FAILED, "error": json.loads((job_dir / FAILED_FILE).read_text())["error"]})
    else:
        row[M.STATUS] = INCOMPLETE
    return row


def job_status(result: JobReturn) -> str:
    """How a launched job ended, as its folder says: its metrics.json's status, failed, or incomplete."""
    if result.hydra_cfg is None:  # the launcher failed before the job started
        return INCOMPLETE
    return str(_job(Path(result.hydra_cfg.hydra.runtime.output_dir))[M.STATUS])


def _score(row: dict[str, Any]) -> float:
    """The job's ranking value; -inf when it has none (no validation ran, or it diverged to NaN)."""
    value = row.get(RANKED_BY)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else -math.inf


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job of the sweep: status ok first, by best validation accuracy; the others after them."""
    jobs = [_job(p) for p in sorted(sweep_dir.iterdir()) if p.is_dir() and (p / ".hydra").is_dir()]
    jobs.sort(key=lambda r: (r[M.STATUS] != M.OK, -_score(r)))
    for rank, row in enumerate(jobs, 1):
        row["rank"] = rank
    return jobs


def unfinished(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The jobs that failed or never finished; a diverged job is not one of them."""
    return [row for row in jobs if row[M.STATUS] in UNFINISHED]


def _mean_std(values: list[float]) -> tuple[float, float] | None:
    """(mean, sample std) of the values; std 0 for one value, None for none."""
    if not values:
        return None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _configuration(row: dict[str, Any]) -> str:
    """The job's overrides without its seed: what jobs that differ only by seed have in common."""
    return " ".join(o for o in row["_overrides"] if not o.lstrip("+").startswith("seed=")) or "defaults"


def seed_groups(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Status-ok jobs that differ only by `seed`: mean ± std of val/acc_best (sorted by it) and test acc."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in jobs:
        if row[M.STATUS] == M.OK and math.isfinite(_score(row)):
            groups.setdefault(_configuration(row), []).append(row)
    summary = [
        {"config": config, "seeds": len(rows),
         RANKED_BY: _mean_std([_score(r) for r in rows]),
         M.TEST_ACC: _mean_std([float(r[M.TEST_ACC]) for r in rows if r.get(M.TEST_ACC) is not None])}
        for config, rows in groups.items()
    ]  # fmt: skip
    return sorted(summary, key=lambda g: -g[RANKED_BY][0])

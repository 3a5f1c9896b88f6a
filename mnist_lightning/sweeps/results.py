"""The sweep report: one row per job, ranked by validation accuracy, seeds grouped, and a plot."""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning.sweeps.jobs import RANKED_BY, collect, seed_groups, unfinished

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

METRIC_COLUMNS = (M.VAL_ACC_BEST, M.TEST_ACC, M.TEST_LOSS, M.EPOCHS, M.FIT_SECONDS)
COLUMNS = ("rank", "job", M.STATUS, *METRIC_COLUMNS, "overrides", "error")
RESULTS_FILE = "optimization_results.yaml"  # what an Optuna search found: its best trial or Pareto front
PARETO = "pareto"  # the report's column marking the Pareto front's jobs (many-objective searches only)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _percent(mean_std: tuple[float, float] | None) -> str:
    return f"{100 * mean_std[0]:.2f}% ± {100 * mean_std[1]:.2f}" if mean_std else "-"


def pareto_jobs(sweep_dir: Path) -> set[str]:
    """The job folders on a many-objective search's Pareto front, as optimization_results.yaml lists them."""
    results = sweep_dir / RESULTS_FILE
    front = (yaml.safe_load(results.read_text()) or {}).get("pareto_front") if results.is_file() else None
    return {str(trial["job"]) for trial in front or [] if trial.get("job")}


def _columns(jobs: list[dict[str, Any]]) -> tuple[str, ...]:
    """The report's columns: `pareto` after the status when a job is marked on a Pareto front."""
    return (*COLUMNS[:3], PARETO, *COLUMNS[3:]) if any(row.get(PARETO) for row in jobs) else COLUMNS


def _markdown(jobs: list[dict[str, Any]], groups: list[dict[str, Any]], sweep_dir: Path) -> str:
    # What every job shares: the job names (and so TensorBoard's runs) show only what varies.
    shared = [o for o in jobs[0]["_overrides"] if all(o in row["_overrides"] for row in jobs)] if jobs else []
    columns = _columns(jobs)
    front = f" `{PARETO}` marks the Pareto front (see {RESULTS_FILE})." if PARETO in columns else ""
    states = Counter(row[M.STATUS] for row in jobs)  # a search's trials: ok, pruned, diverged, failed
    lines = [f"# Sweep report: {sweep_dir}", "", f"{len(jobs)} jobs, ranked by `{RANKED_BY}` "
             f"(test accuracy is never used for ranking).{front}", "",
             "Status: " + ", ".join(f"{n} {state}" for state, n in states.items()) + f"; `{M.EPOCHS}`: "
             "epochs trained (a fraction when a trial stopped inside one).", "",
             f"Every job: `{' '.join(shared)}`", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]  # fmt: skip
    lines += ["| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |" for row in jobs]
    lines += ["", "## Seeds", "", f"Jobs with status {M.OK} that differ only by `seed`, best mean "
              f"`{RANKED_BY}` first.", "", f"| configuration | seeds | {RANKED_BY} | test accuracy |",
              "|---|---|---|---|"]  # fmt: skip
    lines += [
        f"| {g['config']} | {g['seeds']} | {_percent(g[RANKED_BY])} | {_percent(g[M.TEST_ACC])} |"
        for g in groups
    ]
    return "\n".join(lines) + "\n"


def _short_labels(groups: list[dict[str, Any]]) -> list[str]:
    """Each configuration named by only the overrides that differ between configurations."""
    parsed = [dict(o.split("=", 1) for o in g["config"].split() if "=" in o) for g in groups]
    keys = sorted({k for p in parsed for k in p})
    varying = [k for k in keys if len({p.get(k) for p in parsed}) > 1]
    return [" ".join(f"{k}={p.get(k, '-')}" for k in varying) or "all jobs" for p in parsed]


def seed_figure(groups: list[dict[str, Any]]) -> Figure:
    """A bar per configuration (best 30): mean ± std of val/acc_best over its seeds, best at the top."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    shown = groups[:30]
    means = [100 * g[RANKED_BY][0] for g in shown]
    stds = [100 * g[RANKED_BY][1] for g in shown]
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.4 * max(1, len(shown))))
    labels = [label if len(label) < 70 else label[:67] + "..." for label in _short_labels(shown)]
    ax.barh(range(len(shown)), means, xerr=stds, color="tab:blue", capsize=3)
    ax.set_yticks(range(len(shown)), labels, fontsize=8)
    ax.invert_yaxis()  # best at the top
    if shown:
        ax.set_xlim(max(0.0, min(m - s for m, s in zip(means, stds, strict=True)) - 0.5), 100.0)
    ax.set_xlabel(f"{RANKED_BY} (%), mean ± std over seeds")
    ax.set_title(f"Sweep: {RANKED_BY} per configuration")
    fig.tight_layout()
    return fig


def _png(groups: list[dict[str, Any]]) -> bytes:
    import matplotlib.pyplot as plt

    fig = seed_figure(groups)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def write_report(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Write report.csv, report.md and report.png into `sweep_dir`; the ranked rows."""
    from mnist_lightning.io import write_bytes_atomic

    sweep_dir = Path(sweep_dir)
    jobs = collect(sweep_dir)
    front = pareto_jobs(sweep_dir)
    for row in jobs:
        row[PARETO] = "yes" if row["job"] in front else ""
    groups = seed_groups(jobs)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=_columns(jobs), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(jobs)
    write_bytes_atomic(sweep_dir / "report.csv", table.getvalue().encode())
    write_bytes_atomic(sweep_dir / "report.md", _markdown(jobs, groups, sweep_dir).encode())
    write_bytes_atomic(sweep_dir / "report.png", _png(groups))
    diverged = sum(row[M.STATUS] == M.DIVERGED for row in jobs)
    log.info("Sweep report: %s (%d jobs, %d failed or incomplete, %d diverged)",
             sweep_dir / "report.md", len(jobs), len(unfinished(jobs)), diverged)  # fmt: skip
    return jobs


class SweepReport(Callback):
    """Hydra callback: writes the sweep report when a multirun ends; exit 1 if a job failed or never ended."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Write the report, then make the multirun exit non-zero when a job failed or is incomplete."""
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = write_report(sweep_dir)
        if bad := unfinished(jobs):
            log.error("%d of %d jobs failed or did not finish: see %s",
                      len(bad), len(jobs), sweep_dir / "report.md")  # fmt: skip
            # After every job ran and the report is written, so that scripts and CI notice. SystemExit,
            # not an Exception: Hydra turns an Exception from a callback into a warning and exits 0.
            raise SystemExit(1)

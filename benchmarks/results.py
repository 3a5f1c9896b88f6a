"""Run the reference recipes over seeds, gather their metrics.json into a CSV, render the README table.

    MNIST_DATA_DIR=... python -m benchmarks.results run [--experiments mlp_sgd ...] [--seeds 0 1 2]
        [--jobs N] [--runs results/runs/local] [-- overrides ...]
    python -m benchmarks.results gather [--runs results/runs/*] [--csv results/reference.csv]

`run` starts each (experiment, seed) as its own `python -m mnist_lightning` process, `--jobs` at a
time, and records its wall time beside the run. `gather` reads every finished run into the CSV and
prints the Markdown table (experiment, reference figure, ours mean ± std, epochs, wall time, hardware).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mnist_lightning import metric_keys as M
from mnist_lightning.io import write_bytes_atomic, write_json_atomic

# experiment -> (the write-up's figure, the mean of 3 seeds we must reach, as a fraction)
REFERENCE: dict[str, tuple[str, float]] = {
    "vgg_sgd": ("not stated", 0.990),
    "mlp_sgd": ("97.8-98.0%", 0.978),
    "mlp_dropout_adam": ("about 97% (validation)", 0.975),
    "lenet5_adam": ("98.73% (validation)", 0.988),
    "bncnn_adam_step": ("99.55%", 0.995),
    "best": ("99.69-99.70% (published simple CNNs)", 0.9965),
}
WALL = "wall.json"  # written by `run` beside each run's metrics.json
COLUMNS = ["experiment", "seed", M.TEST_ACC, M.VAL_ACC_BEST, M.EPOCHS, M.FIT_SECONDS, "wall_seconds",
           "parallel_jobs", "hardware"]  # fmt: skip


def hardware(accelerator: str) -> str:
    """A short description of the machine a run used."""
    import torch

    if accelerator == "gpu" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, {os.cpu_count()} CPU cores"
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.is_file() else []  # fmt: skip
    return f"{os.cpu_count()}-core {names[0] if names else 'CPU'}"


def run_one(experiment: str, seed: int, runs: Path, jobs: int, overrides: list[str]) -> str:
    """Train one recipe with one seed in its own process; returns a one-line outcome."""
    run_dir = runs / experiment / f"seed_{seed}"
    if (run_dir / "metrics.json").is_file() and (run_dir / WALL).is_file():
        return f"{experiment} seed {seed}: done before, kept"
    cmd = [sys.executable, "-m", "mnist_lightning", f"experiment={experiment}", f"seed={seed}",
           f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false", *overrides]  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(run_dir / "stdout.log", "w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - start
    if code != 0:
        return f"{experiment} seed {seed}: FAILED (exit {code}), see {run_dir / 'stdout.log'}"
    accelerator = next((o.split("=", 1)[1] for o in overrides if o.startswith("trainer.accelerator=")), "cpu")
    record = {"wall_seconds": round(wall, 1), "parallel_jobs": jobs, "hardware": hardware(accelerator)}
    write_json_atomic(run_dir / WALL, record)
    acc = json.loads((run_dir / "metrics.json").read_text())[M.TEST_ACC]
    return f"{experiment} seed {seed}: test acc {100 * acc:.2f}% in {wall:.0f} s"


def run(args: argparse.Namespace) -> None:
    """Train every (experiment, seed), `--jobs` processes at a time."""
    todo = [(e, s) for e in args.experiments for s in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_one, e, s, args.runs, args.jobs, args.overrides) for e, s in todo]
        for i, future in enumerate(futures, 1):
            print(f"[{i}/{len(todo)}] {future.result()}", flush=True)


def gather(roots: list[Path]) -> list[dict[str, Any]]:
    """One row per finished run under `<root>/<experiment>/seed_<n>/`, for each root."""
    rows = []
    for metrics in sorted(m for root in roots for m in root.glob("*/seed_*/metrics.json")):
        wall = metrics.with_name(WALL)
        if not wall.is_file():
            continue
        row = {"experiment": metrics.parent.parent.name, "seed": int(metrics.parent.name.split("_")[1])}
        row |= json.loads(metrics.read_text()) | json.loads(wall.read_text())
        rows.append({k: row.get(k, "") for k in COLUMNS})
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The gathered rows as CSV, written atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, text.getvalue().encode())


def table(rows: list[dict[str, Any]]) -> str:
    """The README table: one line per experiment, mean ± std over its seeds."""
    lines = [
        "| experiment | reference | must reach | ours: mean ± std (seeds) | min–max | epochs | wall s/seed "
        "| hardware |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = list(REFERENCE)
    # One line per experiment, machine and length: a recipe run with other epochs is another line.
    groups = sorted(
        dict.fromkeys((r["experiment"], r["hardware"], int(r[M.EPOCHS])) for r in rows),
        key=lambda g: (order.index(g[0]) if g[0] in order else len(order), g),
    )
    for experiment, hardware_name, epochs in groups:
        mine = [
            r
            for r in rows
            if (r["experiment"], r["hardware"], int(r[M.EPOCHS])) == (experiment, hardware_name, epochs)
        ]
        accs = [100 * float(r[M.TEST_ACC]) for r in mine]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        figure, goal = REFERENCE.get(experiment, ("", float("nan")))
        wall = statistics.mean(float(r["wall_seconds"]) for r in mine)
        seeds = ",".join(str(r["seed"]) for r in mine)
        lines.append(
            f"| `{experiment}` | {figure} | ≥ {100 * goal:.2f}% | {statistics.mean(accs):.2f} ± {std:.2f}% "
            f"({seeds}) | {min(accs):.2f}–{max(accs):.2f}% | {mine[0][M.EPOCHS]} | {wall:.0f} "
            f"| {mine[0]['hardware']}, {mine[0]['parallel_jobs']} at a time |"
        )
    return "\n".join(lines)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train the recipes")
    p_run.add_argument("--experiments", nargs="+", default=[e for e in REFERENCE if e != "best"])
    p_run.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p_run.add_argument("--jobs", type=int, default=1, help="runs at a time (each its own process)")
    p_run.add_argument("--runs", type=Path, default=Path("results/runs/local"))
    p_run.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. threads=1")
    p_gather = sub.add_parser("gather", help="collect finished runs into the CSV and print the table")
    p_gather.add_argument("--runs", type=Path, nargs="+", default=sorted(Path("results/runs").glob("*")))
    p_gather.add_argument("--csv", type=Path, default=Path("results/reference.csv"))
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    rows = gather(args.runs if args.command == "gather" else [args.runs])
    if args.command == "gather":
        write_csv(rows, args.csv)
    print(table(rows) if rows else f"no finished runs under {args.runs}")


if __name__ == "__main__":
    main()

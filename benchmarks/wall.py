"""Benchmark 3: `python -m mnist_lightning experiment=fast` as a user runs it, from Enter to exit.

    MNIST_DATA_DIR=... python -m benchmarks.wall [--rounds 3] [--env KEY=VALUE ...] [overrides ...]

Each round is a fresh process started in a temporary folder, after one untimed round that warms the
file cache. Its wall time (Popen to exit) is split by the marks the run writes to timeline.json:
import (interpreter and entry point), compose (Hydra), libraries (torch, Lightning), data, fit, test,
report, and exit (the last mark to the end of the process). `after_output` is the time from the last
line the run printed to its exit, which runs without timeline.json (older code) also show. Extra
arguments are Hydra overrides; `--env` sets environment variables for the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import SHELL_ENV
from benchmarks.common import data_root, emit, machine, table
from mnist_lightning import metric_keys as M
from mnist_lightning import timeline

# The phase that ends at each mark: `import` ends when main() starts, `compose` when the task starts, ...
ENDED_BY = {
    "main": "import",
    "composed": "compose",
    "imported": "libraries",
    "data": "data",
    "fit": "fit",
    "test": "test",
    "report": "report",
}
PHASES = [*ENDED_BY.values(), "exit"]
COLUMNS = ["round", "wall_s", *PHASES, "after_output", "fit_seconds", "wall_per_fit"]


def _env(pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` strings as a mapping; exits with a message on one without `=`."""
    bad = [pair for pair in pairs if "=" not in pair]
    if bad:
        raise SystemExit(f"--env wants KEY=VALUE, got: {', '.join(bad)}")
    return dict(pair.split("=", 1) for pair in pairs)


def run_once(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One run in a fresh temporary folder: its wall time split into phases, and its fit time."""
    with tempfile.TemporaryDirectory(prefix="wall-") as cwd:
        last_output = start = time.time()  # epoch seconds, as the run's own marks
        proc = subprocess.Popen(
            command, cwd=cwd, env={**SHELL_ENV, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert proc.stdout is not None
        tail = b""
        for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
            last_output, tail = time.time(), (tail + chunk)[-4000:]
        code = proc.wait()
        end = time.time()
        if code != 0:
            raise SystemExit(f"{' '.join(command)} exited with {code}:\n{tail.decode(errors='replace')}")
        found = sorted(Path(cwd).glob(f"**/{timeline.FILE}"))
        run_dir = found[0].parent if found else next(Path(cwd).glob(f"**/{M.METRICS_FILE}")).parent
        marks = json.loads(found[0].read_text()) if found else {}
        fit = json.loads((run_dir / M.METRICS_FILE).read_text())[M.FIT_SECONDS]
    row: dict[str, Any] = {"wall_s": end - start, "after_output": end - last_output, "fit_seconds": fit}
    previous = start
    for mark, phase in ENDED_BY.items():  # a phase the run skipped (test=false) stays empty
        if mark in marks:
            row[phase], previous = marks[mark] - previous, marks[mark]
    if marks:
        row["exit"] = end - previous
    row["wall_per_fit"] = row["wall_s"] / fit
    return {key: round(value, 2) for key, value in row.items()}


def medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each column over the rounds that have it."""
    summary: dict[str, Any] = {"round": "median"}
    for column in COLUMNS[1:]:
        values = [row[column] for row in rows if column in row]
        if values:
            summary[column] = round(statistics.median(values), 2)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, after experiment=fast")
    args = parser.parse_args()
    env = _env(args.env)
    command = [sys.executable, "-m", "mnist_lightning", "experiment=fast", f"data.root={data_root()}"]
    command += args.overrides
    info = {"benchmark": "wall", **machine(), "env": env, "overrides": args.overrides}
    run_once(command, env)  # untimed: warms the file cache (Python, torch, the data)
    # ... and starts a warm process (unless MNIST_LIGHTNING_WARM=0): the rounds run once it listens
    waited = subprocess.run([sys.executable, "-m", "mnist_lightning.warm", "wait"], env={**SHELL_ENV, **env})
    info["warm"] = waited.returncode == 0
    rows = []
    for n in range(1, args.rounds + 1):
        rows.append(emit({**info, "round": n, **run_once(command, env)}))
    summary = emit({**info, **medians(rows), "summary": True})
    print(f"warm process: {'yes' if info['warm'] else 'no (each round a cold start)'}")
    print(table([*rows, summary], COLUMNS))


if __name__ == "__main__":
    main()

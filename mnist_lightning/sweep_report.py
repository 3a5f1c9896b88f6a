"""`python -m mnist_lightning.sweep_report SWEEP_DIR`: (re)build a finished or interrupted sweep's report.

For an Optuna search with a stored study, also optimization_results.yaml and the study's plots.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mnist_lightning.errors import ConfigError
from mnist_lightning.sweeps.jobs import collect
from mnist_lightning.sweeps.results import write_report
from mnist_lightning.sweeps.stored_study import is_search, rebuild

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    """Write report.csv, .md and .png (and a search's results and study plots) into the sweep directory."""
    parser = argparse.ArgumentParser(prog="python -m mnist_lightning.sweep_report", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (outputs/<task>/multirun/...)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.sweep_dir.is_dir():
        print(f"error: {args.sweep_dir}: no such sweep directory", file=sys.stderr)
        sys.exit(2)
    if not collect(args.sweep_dir):  # checked before writing: a mistyped folder gets no report files
        print(
            f"error: {args.sweep_dir}: no job folders (with .hydra/) found; pass a multirun directory, "
            "outputs/<task>/multirun/<date>/<time>",
            file=sys.stderr,
        )
        sys.exit(2)
    if is_search(args.sweep_dir):  # first: the report marks the Pareto front that the results file lists
        try:
            rebuild(args.sweep_dir)
        except ConfigError as err:  # a search kept in memory: its report can still be rebuilt
            log.warning("No study plots: %s", err)
    write_report(args.sweep_dir)


if __name__ == "__main__":
    main()

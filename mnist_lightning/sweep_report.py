"""`python -m mnist_lightning.sweep_report SWEEP_DIR`: (re)build a finished or interrupted sweep's report."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mnist_lightning.sweeps.results import collect, write_report


def main(argv: list[str] | None = None) -> None:
    """Write report.csv, report.md and report.png into the sweep directory."""
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
    write_report(args.sweep_dir)


if __name__ == "__main__":
    main()

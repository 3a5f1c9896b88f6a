"""Figures and tables from a trained model and its logs, written to `<run_dir>/report/`."""

from mnist_lightning.reports.model_summary import model_summary
from mnist_lightning.reports.run_report import write_run_report

__all__ = ["model_summary", "write_run_report"]

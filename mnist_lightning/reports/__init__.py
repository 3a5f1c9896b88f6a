"""Figures and tables from a trained model and its logs, written to `<run_dir>/report/`."""

from mnist_lightning.reports.run_report import write_run_report
from mnist_lightning.reports.summary import model_summary

__all__ = ["model_summary", "write_run_report"]

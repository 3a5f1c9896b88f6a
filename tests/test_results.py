"""benchmarks/results.py end to end: a short recipe on real MNIST, gathered into the CSV and the table."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MNIST_DIR, requires_mnist

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@requires_mnist
def test_results_runs_a_recipe_and_gathers_it(tmp_path: Path) -> None:
    runs, table_csv = tmp_path / "runs", tmp_path / "reference.csv"
    run = [sys.executable, "-m", "benchmarks.results", "run", "--experiments", "mlp_sgd", "--seeds", "0",
           "--runs", str(runs), "--", "data=idx", f"data.root={MNIST_DIR}",
           "trainer.max_epochs=2"]  # fmt: skip
    proc = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mlp_sgd seed 0: test acc" in proc.stdout
    gather = [sys.executable, "-m", "benchmarks.results", "gather", "--runs", str(runs)]
    gather += ["--csv", str(table_csv)]
    proc = subprocess.run(gather, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = list(csv.DictReader(table_csv.open()))
    assert row["experiment"] == "mlp_sgd" and row["epochs"] == "2"
    assert float(row["test/acc"]) >= 0.96  # two epochs of the recipe: about 97%
    assert "| `mlp_sgd` | 97.8-98.0% |" in proc.stdout

"""Entry points start fast (issue 15): importing one loads none of the heavy libraries, nor our reports.

torch and Lightning alone take ~4 s to import on a 2-core CPU; an entry point imports them inside the
function that needs them, after Hydra has composed and checked the config, so that `--help` and a
mistyped override answer in well under a second.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ENTRY_POINTS = (
    "mnist_lightning.__main__",
    "mnist_lightning.evaluate",
    "mnist_lightning.predict",
    "mnist_lightning.export",
    "mnist_lightning.export_images",
    "mnist_lightning.report",
)
HEAVY = (
    "torch", "lightning", "torchvision", "torchmetrics", "matplotlib", "onnx", "onnxscript", "optuna",
    "tensorboard", "mnist_lightning.reports",
)  # fmt: skip


def _heavy_imported_by(module: str) -> list[str]:
    """The heavy modules in sys.modules after a fresh interpreter imports `module`."""
    code = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        f"print(json.dumps([name for name in {list(HEAVY)!r} if name in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_importing_an_entry_point_loads_no_heavy_library(module: str) -> None:
    assert _heavy_imported_by(module) == []

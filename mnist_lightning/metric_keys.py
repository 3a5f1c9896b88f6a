"""Metric keys, defined once: the module logs them; callbacks, metrics.json, reports and sweeps read them."""

from collections.abc import Mapping
from typing import Any

TRAIN_LOSS = "train/loss"  # per epoch: the mean over its batches
TRAIN_LOSS_STEP = "train/loss_step"  # every trainer.log_every_n_steps: the mean over those steps
TRAIN_ACC = "train/acc"
LR = "lr"  # a group of its own in TensorBoard, beside train/, val/ and test/
VAL_LOSS = "val/loss"
VAL_ACC = "val/acc"
VAL_ACC_BEST = "val/acc_best"
TEST_LOSS = "test/loss"
TEST_ACC = "test/acc"
TEST_SAMPLES = "test/samples"  # images tested, summed over DDP ranks: each test image exactly once
FIT_SECONDS = "fit_seconds"
EPOCHS = "epochs"
METRICS_FILE = "metrics.json"  # in every run directory: the run's results, written when it ends
STATUS = "status"  # how the run ended: one of the four below
OK, DIVERGED, FAILED = "ok", "diverged", "failed"
PRUNED = "pruned"  # an Optuna trial stopped early by its pruner: a result, as diverged is

# What every finished run writes to metrics.json (accuracies are fractions in 0-1).
RUN_METRICS = (TEST_ACC, TEST_LOSS, TEST_SAMPLES, VAL_ACC_BEST, EPOCHS, FIT_SECONDS)
TESTED = (TEST_ACC, TEST_LOSS, TEST_SAMPLES)  # what a test pass reports
# What a callback can watch while fitting (EarlyStopping's or a checkpoint's `monitor`).
MONITORED = (VAL_ACC, VAL_LOSS, VAL_ACC_BEST, TRAIN_ACC, TRAIN_LOSS, LR)


def tested_results(logged: Mapping[str, Any]) -> dict[str, float | int]:
    """A test pass's logged values as metrics.json holds them: floats, and the image count as an int."""
    results: dict[str, float | int] = {key: float(logged[key]) for key in TESTED}
    results[TEST_SAMPLES] = int(results[TEST_SAMPLES])
    return results

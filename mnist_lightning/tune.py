"""`python -m mnist_lightning.tune [training overrides]`: Lightning's LR finder (and batch-size finder).

It builds the model and data that training with the same overrides would, writes lr_find.png and
lr_find.json to its run directory, and prints the `optimizer.lr=...` override to train with.
"""

from __future__ import annotations

import copy
import logging
import shlex
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from mnist_lightning import resolvers as _resolvers  # noqa: F401  (registers the schemas and resolvers)
from mnist_lightning import warm
from mnist_lightning.cli import given_keys, run_app
from mnist_lightning.errors import ConfigError
from mnist_lightning.schema import MIN_STEPS

log = logging.getLogger("mnist_lightning.tune")
MODES, BATCH_MODES = ("exponential", "linear"), ("power", "binsearch")


def check_settings(cfg: DictConfig) -> None:
    """The tune keys, and a run the finders can do: refused at start, in one line each."""
    tune, trainer = cfg.tune, cfg.trainer
    threshold = tune.early_stop_threshold
    refused = (
        (
            not 0 < tune.min_lr < tune.max_lr,
            f"tune.min_lr={tune.min_lr}, tune.max_lr={tune.max_lr}: the range must be 0 < min_lr < max_lr, "
            "e.g. tune.min_lr=1e-6 tune.max_lr=1",
        ),
        (tune.num_training < MIN_STEPS, f"tune.num_training={tune.num_training}: use at least {MIN_STEPS}"),
        (tune.mode not in MODES, f"tune.mode={tune.mode}: use one of {', '.join(MODES)}"),
        (
            tune.batch_size_mode not in BATCH_MODES,
            f"tune.batch_size_mode={tune.batch_size_mode}: use one of {', '.join(BATCH_MODES)}",
        ),
        (
            threshold is not None and threshold <= 1,
            f"tune.early_stop_threshold={threshold}: the search stops at a loss this many times its best; "
            "use more than 1 (e.g. 4), or null to never stop early",
        ),
        (
            tune.max_batch_size < 2 or tune.steps_per_trial < 1,
            "tune.max_batch_size must be at least 2 and tune.steps_per_trial at least 1",
        ),
        (
            trainer.get("strategy") is not None
            or trainer.get("devices") != 1
            or trainer.get("num_nodes", 1) != 1,
            "tune: the finders run on one device; use trainer.devices=1 and no trainer=ddp",
        ),
        (
            bool(trainer.get("fast_dev_run")),
            "trainer.fast_dev_run: Lightning's finders skip it; leave it unset",
        ),
        (bool(cfg.resume or cfg.ckpt_path), "tune starts from fresh weights: drop resume= and ckpt_path="),
    )
    for bad, line in refused:
        if bad:
            raise ConfigError(line)


def tune(cfg: DictConfig) -> dict[str, Any]:
    """Run the finders on the training config's model and data; write the plot and the JSON."""
    check_settings(cfg)
    from mnist_lightning.checks import check_scalars
    from mnist_lightning.finders import find_batch_size, find_lr, no_leftovers, suggestion, unbiased
    from mnist_lightning.quiet import quiet
    from mnist_lightning.reports.lr_find import PLOT, RESULTS, write_lr_find
    from mnist_lightning.termination import terminable
    from mnist_lightning.train import prepare

    quiet(cfg.verbose)
    check_scalars(cfg)
    run_dir = Path(cfg.run_dir)
    built = copy.deepcopy(cfg)
    # The finder replaces the schedule with its own; building ours anyway would still touch the
    # optimizer (one-cycle sets Adam's beta1 and SGD's momentum, a warm-up scales the LR).
    built.scheduler = None
    datamodule, model = prepare(built)
    with terminable(), no_leftovers(run_dir):
        batch_size = find_batch_size(cfg, model, datamodule, run_dir) if cfg.tune.batch_size else None
        finder = find_lr(cfg, model, datamodule, run_dir)
    lrs, losses = list(finder.results["lr"]), unbiased(finder.results["loss"])
    results: dict[str, Any] = {
        "lr": lrs,
        "loss": losses,  # smoothed (beta 0.98) and bias-corrected; non-finite ones are null
        "settings": OmegaConf.to_container(cfg.tune),
        "optimizer": cfg.optimizer.get("_target_"),
        "configured_lr": cfg.optimizer.get("lr"),
        "data.batch_size": datamodule.batch_size,  # the one the LR was found with
        "suggested_batch_size": batch_size,
        "suggested_lr": None,
    }
    try:
        results["suggested_lr"] = suggestion(lrs, losses, cfg.tune.num_training, cfg.tune.mode)
    except ConfigError:
        write_lr_find(run_dir, results)  # the curve shows why no LR could be suggested
        raise
    sets = {"optimizer.lr": f"{results['suggested_lr']:.2g}"}
    if batch_size is not None:
        sets = {"data.batch_size": str(batch_size), **sets}
    suggested = [f"{key}={value}" for key, value in sets.items()]
    results["command"] = shlex.join(
        ["python", "-m", "mnist_lightning", *training_overrides(sets), *suggested]
    )
    write_lr_find(run_dir, results)
    print(f"Suggested: {' '.join(suggested)}  ({results['command']})")
    log.info("LR finder: %s and %s in %s", PLOT, RESULTS, run_dir)
    return results


def training_overrides(replaced: dict[str, str]) -> list[str]:
    """The command line's overrides that training takes too: not tune.*, nor the keys the suggestion sets."""
    if not HydraConfig.initialized():  # called from code, not from the command line
        return []
    task = list(HydraConfig.get().overrides.task)
    return [
        arg
        for arg, key in zip(task, given_keys(task), strict=True)
        if not key.startswith("tune.") and key.lstrip("+~") not in replaced
    ]


def main() -> None:
    """Check the command line's overrides, then run `tune` as a Hydra app."""
    warm.hand_over(main)
    run_app("tune", tune)


if __name__ == "__main__":
    main()

"""Benchmark: one TPE search with and without the median pruner: trial-epochs, wall time, best val/acc_best.

    MNIST_DATA_DIR=... python -m benchmarks.pruning [--trials 16] [--epochs 4] [--checks 2] [--parallel] [...]

Both searches run `python -m mnist_lightning -m` over optimizer, optimizer.lr and data.batch_size with
the same sampler seed (--seed), one after the other with every core, as a user runs a search (the
figures of record); extra arguments are Hydra overrides given to both, e.g.
`hydra.sweeper.pruners.median.n_startup_trials=3`. --parallel halves the benchmark's own wall time, but
it trains with one thread (other numerics, so other trials get pruned) and shares the machine
unevenly: the pruned search runs beside the other for all of its time, the other for only part of
its own. The pruned search validates --checks times an epoch (`trainer.val_check_interval`), so that
its pruner can stop a trial inside its first epoch; the search without a pruner validates once an
epoch, as it would on its own. Trial-epochs count the fraction of an epoch a pruned trial ran. Each
sweep folder stays in --out for a look.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import accelerator_overrides, add_accelerator, data_root, emit, machine, table
from mnist_lightning import metric_keys as M
from mnist_lightning.sweeps.jobs import collect

SPACE = {  # in this order: the optimizer group before its lr
    "optimizer": "choice:sgd,adam,adamw",
    "optimizer.lr": "log:1e-4:1e-1",
    "data.batch_size": "choice:32,64,128,256",
}
PRUNERS = ("none", "median")
SEARCH = "pruning_benchmark"  # the search-space file written under --out/conf/hparams_search/


def write_space(conf: Path) -> None:
    """The search space as an hparams_search option of a config folder of its own."""
    (conf / "hparams_search").mkdir(parents=True, exist_ok=True)
    node = {"task_name": "hparams_search", "hydra": {"sweeper": {"params": SPACE}}}
    (conf / "hparams_search" / f"{SEARCH}.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna\n"
        + yaml.safe_dump(node, sort_keys=False)
    )


def search(pruner: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run the search with `pruner`; its trial-epochs, wall time, best val/acc_best and trial counts."""
    sweep = out / pruner
    checks = 1 if pruner == "none" else args.checks
    argv = [sys.executable, "-m", "mnist_lightning", "-m", f"hydra.searchpath=[file://{out / 'conf'}]",
            f"hparams_search={SEARCH}", "data=idx", f"data.root={data_root()}",
            f"trainer.max_epochs={args.epochs}", "report=false", "trainer.enable_progress_bar=false",
            f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.seed={args.seed}",
            f"hydra.sweeper.pruner={pruner}", f"hydra.sweep.dir={sweep}",
            f"trainer.val_check_interval={1 / checks}",
            *accelerator_overrides(args.accelerator), *args.overrides]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=out, check=False)
    wall = time.perf_counter() - start
    jobs = collect(sweep)
    finished = [float(j[M.VAL_ACC_BEST]) for j in jobs if j[M.STATUS] == M.OK and j.get(M.VAL_ACC_BEST)]
    return {
        "pruner": pruner,
        "checks_per_epoch": checks,
        "trials": len(jobs),
        "pruned": sum(j[M.STATUS] == M.PRUNED for j in jobs),
        "trial_epochs": round(sum(float(j.get(M.EPOCHS) or 0) for j in jobs), 2),
        "wall_s": round(wall, 1),
        "best_val_acc": round(max(finished), 4) if finished else None,
        "exit": proc.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4, help="trainer.max_epochs of each trial")
    parser.add_argument("--checks", type=int, default=2, help="validations per epoch in the pruned search")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed, the same for both searches")
    parser.add_argument("--out", type=Path, default=None, help="the sweeps' folder (default: a new one)")
    parser.add_argument(
        "--parallel", action="store_true",
        help="run both searches at once, one thread each (threads=1): half the wall time on a 2-core "
        "machine, but not what a user's one search sees (see above)",
    )  # fmt: skip
    parser.add_argument("overrides", nargs="*")
    add_accelerator(parser)
    args = parser.parse_args()
    out = (args.out or Path(tempfile.mkdtemp(prefix="pruning_benchmark_"))).resolve()
    write_space(out / "conf")
    env = machine()
    if args.parallel:
        args.overrides = [*args.overrides, "threads=1"]
        with ThreadPoolExecutor(len(PRUNERS)) as pool:  # each search is its own process
            found = list(pool.map(lambda pruner: search(pruner, args, out), PRUNERS))
    else:
        found = [search(pruner, args, out) for pruner in PRUNERS]
    rows = [emit({"benchmark": "pruning", "parallel": args.parallel, **env, **row}) for row in found]
    base, pruned = rows
    if base["trial_epochs"] and base["wall_s"]:
        emit({"benchmark": "pruning", "summary": True,
              "trial_epochs_ratio": round(pruned["trial_epochs"] / base["trial_epochs"], 3),
              "wall_ratio": round(pruned["wall_s"] / base["wall_s"], 3)})  # fmt: skip
    print(
        table(
            rows,
            [
                "pruner",
                "checks_per_epoch",
                "trials",
                "pruned",
                "trial_epochs",
                "wall_s",
                "best_val_acc",
                "exit",
            ],
        )
    )
    print(f"Sweeps: {out}")


if __name__ == "__main__":
    main()

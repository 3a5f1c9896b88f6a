"""Benchmark 1: `experiment=fast` through our Trainer against the usual plain PyTorch loop.

Alternates, in one process: the plain fp32 loop; a recipe through our Trainer (`fast`, or
`--experiment fast_gpu`); our Trainer with the plain loop's exact settings (fp32, default memory
format, batch 256, one epoch), which gives the framework's own overhead; with `--cuda-graphs`, also
those identical settings with each training step replayed from a CUDA graph (`cuda_graphs=true`).
Fit time includes the per-epoch validation pass on both sides.

    MNIST_DATA_DIR=... python -m benchmarks.framework_vs_plain [--rounds 3] [--accelerator gpu]
        [--experiment fast_gpu] [--cuda-graphs]

On a GPU both sides synchronize before the clock stops; the untimed warm-up round absorbs CUDA's
start-up, and its fit times are printed separately.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from hydra.utils import instantiate

from benchmarks.common import (
    accelerator_overrides,
    add_accelerator,
    compose_cfg,
    emit,
    machine,
    run_framework,
    table,
)
from benchmarks.plain_loop import PlainSettings, plain_fit

# Our Trainer doing exactly what plain_loop.plain_fit does.
IDENTICAL = [
    "model=convnet",
    "model.net.channels=[24,32]",
    "model.net.hidden=256",
    "model.net.dropout=0.0",
    "model.net.batch_norm=false",
    "optimizer=adam",
    "optimizer.lr=0.01",
    "optimizer.betas=[0.7,0.9]",
    "scheduler=onecycle",
    "scheduler.pct_start=0.3",  # torch's OneCycleLR default, as the plain loop uses
    "data.batch_size=256",
    "trainer.max_epochs=1",
    "trainer.precision=32-true",
    "trainer.num_sanity_val_steps=0",
    "channels_last=false",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--experiment", default="fast", help="the recipe row: fast or fast_gpu")
    parser.add_argument("--cuda-graphs", action="store_true", help="also identical settings, graphed")
    add_accelerator(parser)
    args = parser.parse_args()
    on = accelerator_overrides(args.accelerator)
    recipe = [f"experiment={args.experiment}"]
    contenders = {"identical": IDENTICAL} | (
        {"graphed": [*IDENTICAL, "cuda_graphs=true"]} if args.cuda_graphs else {}
    )
    plain = PlainSettings(device="cuda" if args.accelerator == "gpu" else "cpu")

    datamodule = instantiate(compose_cfg([], "unused").data)
    datamodule.setup("fit")  # the same train/val/test splits our Trainer uses
    train, val, test = (datamodule.splits[k] for k in ("train", "val", "test"))
    env = machine()
    # Warm-up, not in the ratios: the first use of each kernel (oneDNN, bf16, CUDA) in a process is slower.
    warm = {
        "plain_s": round(plain_fit(train.subset(torch.arange(2560)), val, test, plain)["fit_seconds"], 2),
        "fast_s": run_framework([*recipe, *on, "trainer.limit_train_batches=10"])["fit_seconds"],
    }
    for name, overrides in contenders.items():
        warm[f"{name}_s"] = run_framework([*overrides, *on, "trainer.limit_train_batches=10"])["fit_seconds"]
    emit({"benchmark": "framework_vs_plain", "warm_up": True, **env, **warm})
    rows = []
    for round_ in range(args.rounds):
        base = plain_fit(train, val, test, plain, seed=round_)
        fast = run_framework([*recipe, *on, f"seed={round_}"])
        row = {
            "round": round_,
            "plain_s": round(base["fit_seconds"], 2),
            "plain_acc": round(base["test/acc"], 4),
            "fast_s": fast["fit_seconds"],
            "fast_acc": round(fast["test/acc"], 4),
        }
        for name, overrides in contenders.items():
            same = run_framework([*overrides, *on, f"seed={round_}"])
            row[f"{name}_s"], row[f"{name}_acc"] = same["fit_seconds"], round(same["test/acc"], 4)
        row["fast_ratio"] = round(row["fast_s"] / row["plain_s"], 3)
        row["overhead_ratio"] = round(row["identical_s"] / row["plain_s"], 3)
        if args.cuda_graphs:
            row["graphed_ratio"] = round(row["graphed_s"] / row["plain_s"], 3)
        rows.append(emit({"benchmark": "framework_vs_plain", "experiment": args.experiment, **env, **row}))

    ratios = ["fast_ratio", "overhead_ratio", *(["graphed_s", "graphed_ratio"] if args.cuda_graphs else [])]
    summary = {
        key: round(statistics.median(r[key] for r in rows), 3)
        for key in ("plain_s", "fast_s", "identical_s", *ratios)
    }
    emit({"benchmark": "framework_vs_plain", "summary": "median", **env, **summary})
    print(
        table(
            rows,
            [
                "round",
                "plain_s",
                "fast_s",
                "fast_ratio",
                "identical_s",
                "overhead_ratio",
                *(["graphed_s", "graphed_ratio", "graphed_acc"] if args.cuda_graphs else []),
                "plain_acc",
                "fast_acc",
            ],
        )
    )


if __name__ == "__main__":
    main()

"""Benchmark 3: seconds per LeNet-5 epoch at batch 128, resident tensors vs the classic DataLoader path.

The classic path is `data=torchvision data.resident=false`: torchvision's MNIST dataset, one PIL
image per sample, collated by a DataLoader with 0, 1 or 2 workers. Each epoch includes its
validation pass (5,000 images) through the same path.

    MNIST_DATA_DIR=... python -m benchmarks.data_path [--accelerator gpu]
"""

from __future__ import annotations

import argparse

from benchmarks.common import accelerator_overrides, add_accelerator, emit, machine, run_framework, table

LENET = [
    "model=lenet5",
    "data=torchvision",
    "data.download=false",
    "data.batch_size=128",
    "trainer.max_epochs=1",
    "trainer.num_sanity_val_steps=0",
    "test=false",
]
PATHS = {
    "resident": ["data.resident=true"],
    "dataloader_w0": ["data.resident=false", "data.num_workers=0"],
    "dataloader_w1": ["data.resident=false", "data.num_workers=1"],
    "dataloader_w2": ["data.resident=false", "data.num_workers=2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_accelerator(parser)
    on = accelerator_overrides(parser.parse_args().accelerator)
    env = machine()
    run_framework([*LENET, *on, "trainer.limit_train_batches=10"])  # warm-up
    rows = []
    for name, overrides in PATHS.items():
        result = run_framework([*LENET, *on, *overrides])
        rows.append(emit({"benchmark": "data_path", **env, "path": name, "epoch_s": result["fit_seconds"]}))
    base = rows[0]["epoch_s"]
    for row in rows:
        row["vs_resident"] = round(row["epoch_s"] / base, 2)
    emit({"benchmark": "data_path", "summary": True, **{r["path"]: r["epoch_s"] for r in rows}})
    print(table(rows, ["path", "epoch_s", "vs_resident"]))


if __name__ == "__main__":
    main()

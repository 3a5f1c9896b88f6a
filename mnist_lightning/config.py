"""Structured-config schema for our top-level keys, so a typo fails when the config is composed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

SCHEMA_NAME = "config_schema"
EVALUATE_SCHEMA = "evaluate_schema"
EXPORT_IMAGES_SCHEMA = "export_images_schema"
PREDICT_SCHEMA = "predict_schema"
EXPORT_SCHEMA = "export_schema"


@dataclass
class Config:
    """The composed training config: groups are free-form nodes, scalars are typed."""

    data: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = None
    trainer: Any = MISSING
    task_name: str = "train"
    seed: int = 0
    run_dir: str = "${hydra:runtime.output_dir}"
    ckpt_path: str | None = None  # resume fit from this Lightning checkpoint
    test: bool = True  # test the best checkpoint after fit
    report: bool = True  # after testing, write figures and tables to <run_dir>/report/
    report_figures: list[str] | None = None  # the figures report/ draws (run_report.FIGURES); null: all
    channels_last: bool = False  # NHWC memory format for the network and its inputs (convnets)
    compile: bool = False  # torch.compile the network
    threads: int | None = None  # torch intra-op threads; null keeps torch's default
    progress_refresh: int = 10  # progress-bar refresh, in steps: each refresh reads the loss off the device
    last_checkpoint_every: int = (
        200  # also write checkpoints/last.ckpt every N optimizer steps (0: epochs only)
    )
    resume: str | None = None  # a run directory to continue from its last checkpoint, with its own config
    ema: float | None = None  # decay of an exponential moving average of the weights; null: off
    verbose: bool = False  # true: third-party chatter (Lightning tips and warnings, exporter passes) too


@dataclass
class EvaluateConfig:
    """`python -m mnist_lightning.evaluate`: everything else comes from the checkpoint."""

    ckpt_path: str = MISSING
    data: Any = None  # another data source (data=...) to test on; default: the checkpoint's own
    data_root: str | None = None  # only move the checkpoint's data source to another folder
    accelerator: str = "auto"
    report: bool = True  # write figures and tables to <run_dir>/report/
    seed: int = 0  # unused by evaluation itself; data configs interpolate it
    task_name: str = "evaluate"
    verbose: bool = False  # as Config.verbose
    run_dir: str = "${hydra:runtime.output_dir}"


@dataclass
class ExportImagesConfig:
    """`python -m mnist_lightning.export_images`: `data` is the data group, scalars are typed."""

    data: Any = MISSING
    out: str = MISSING
    format: str = "png"
    seed: int = 0
    task_name: str = "export_images"


@dataclass
class PredictConfig:
    """`python -m mnist_lightning.predict`: the model comes from the checkpoint, the images from `inputs`."""

    ckpt_path: str = MISSING
    inputs: str = MISSING  # an image, a folder of images, or a glob pattern
    output: str = "predictions.csv"
    plot: bool = False
    plot_dir: str | None = None  # default: predictions/ next to the CSV
    task_name: str = "predict"


@dataclass
class ExportConfig:
    """`python -m mnist_lightning.export`: a checkpoint written out as ONNX or TorchScript."""

    ckpt_path: str = MISSING
    format: str = "onnx"  # onnx | torchscript
    out: str = MISSING  # the model file to write
    task_name: str = "export"
    verbose: bool = False  # as Config.verbose


def _is_set(value: Any) -> bool:
    return value not in (None, "")


def _pick(value: Any, if_set: Any, otherwise: Any) -> Any:
    return if_set if _is_set(value) else otherwise


# Overrides that locate things rather than change the experiment: left out of job folder names.
NOT_IN_JOB_NAME = ("data.root", "data.cache_dir", "run_dir", "resume", "ckpt_path", "hydra.")
JOB_NAME_MAX = 120


def job_name(overrides: Any) -> str:
    """A readable, filesystem-safe folder name from a job's overrides, e.g. `optimizer=sgd,seed=1`."""
    kept = [str(o) for o in overrides if not str(o).lstrip("+~").startswith(NOT_IN_JOB_NAME)]
    name = ",".join(kept).replace("/", "-").replace(" ", "") or "defaults"
    if len(name) > JOB_NAME_MAX:  # very long override lists: cut, and keep the name unique with a hash
        name = f"{name[:JOB_NAME_MAX]}~{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK")  # set by torchrun / SLURM / Lightning


def process_rank() -> int:
    """This process's global rank as its launcher set it (torchrun, SLURM, Lightning); 0 otherwise."""
    for name in RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def unique_dir(path: str) -> str:
    """Create the folder `path`, or `path-2`, `path-3`, ... if taken, and return the one created.

    `os.mkdir` either creates the folder or fails, atomically, so two processes racing on the same
    name (two runs started in the same second) always end up with different folders.
    """
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir()
            return str(candidate)
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def _unique_run_dir(path: str, existing: str | None = None) -> str:
    # A resumed run (`existing`, from `resume=`) writes into its own folder. Ranks started by
    # torchrun or srun (rank > 0) cannot know which folder rank 0 created, so they take the plain
    # time-stamped path and create nothing; with several ranks, pass one `hydra.run.dir` to all
    # of them (README, "Many processes"). Our own DDP launcher passes rank 0's folder explicitly.
    if _is_set(existing):
        return str(existing)
    return path if process_rank() > 0 else unique_dir(path)


def _on_rank0(value: Any) -> Any:
    return value if process_rank() == 0 else None


def _rank_job_name(name: str) -> str:
    rank = process_rank()
    return name if rank == 0 else f"{name}_rank{rank}"


def group_options() -> dict[str, list[str]]:
    """Every config group of the app (not Hydra's own) with its options; `_` files are not options."""
    from hydra.core.global_hydra import GlobalHydra  # inside: needs an initialised Hydra, not imports

    loader = GlobalHydra.instance().config_loader()
    found: dict[str, list[str]] = {}

    def walk(parent: str) -> None:
        for name in sorted(loader.list_groups(parent)):
            group = f"{parent}/{name}" if parent else name
            if group != "hydra":
                found[group] = [o for o in loader.get_group_options(group) if not o.startswith("_")]
                walk(group)

    walk("")
    return found


def config_groups() -> str:
    """`--help`'s list of groups and their options, one line each, as Hydra writes it."""
    return "\n".join(
        f"{group}: {', '.join(options)}" for group, options in group_options().items() if options
    )


def register() -> None:
    """Store the schema in Hydra's ConfigStore and add the `ml.pick` resolver that conf/ uses."""
    store = ConfigStore.instance()
    store.store(name=SCHEMA_NAME, node=Config)
    store.store(name=EVALUATE_SCHEMA, node=EvaluateConfig)
    store.store(name=EXPORT_IMAGES_SCHEMA, node=ExportImagesConfig)
    store.store(name=EXPORT_SCHEMA, node=ExportConfig)
    store.store(name=PREDICT_SCHEMA, node=PredictConfig)
    # ${ml.pick:${x},a,b} is a when x is set, else b: a resumed run adds .hydra/resumed-<time>/.
    OmegaConf.register_new_resolver("ml.pick", _pick, replace=True)
    OmegaConf.register_new_resolver("ml.job_name", job_name, replace=True)
    OmegaConf.register_new_resolver("ml.config_groups", config_groups, replace=True)
    # ${ml.unique_dir:outputs/...[,${resume}]}: run and sweep folders of their own, created when
    # resolved. Hydra resolves hydra.sweep.dir again and again (five times in a two-job multirun),
    # so the value is cached, as Hydra's `now` is, and Hydra copies that cache into each job's
    # config (joblib and submitit jobs included): every resolution returns the one folder created.
    OmegaConf.register_new_resolver("ml.unique_dir", _unique_run_dir, replace=True, use_cache=True)
    # Processes started by torchrun or srun: rank 0 alone writes .hydra/ and train.log; the others
    # log to train_rank<N>.log in the same directory.
    OmegaConf.register_new_resolver("ml.on_rank0", _on_rank0, replace=True)
    OmegaConf.register_new_resolver("ml.rank_job_name", _rank_job_name, replace=True)


register()

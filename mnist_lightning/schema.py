"""Structured-config schemas of training's top-level keys and the dataset node: typos fail at compose."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from mnist_lightning.tool_schemas import tool_schemas

SCHEMA_NAME = "config_schema"
DATASET_SCHEMA = "_schema"  # conf/dataset/*.yaml list it first; the `_` keeps it out of --help's options


# Lightning's suggestion() ignores the first 10 losses (the smoothing's start) and the last one, and
# needs two finite losses between them for a slope: tune.num_training is at least MIN_STEPS.
SKIP_BEGIN, SKIP_END = 10, 1
MIN_STEPS = SKIP_BEGIN + SKIP_END + 2


@dataclass
class TuneSettings:
    """`python -m mnist_lightning.tune`'s own keys: the LR finder and, on request, the batch-size finder."""

    min_lr: float = 1e-6  # the range the LR finder sweeps
    max_lr: float = 1.0
    num_training: int = 100  # steps, one LR each; the suggestion skips the first 10 and the last one
    mode: str = "exponential"  # exponential | linear: how the LR grows from step to step
    early_stop_threshold: float | None = 4.0  # stop once the loss exceeds this times its best; null: never
    batch_size: bool = False  # true: find the largest data.batch_size that fits first, then the LR for it
    batch_size_mode: str = "power"  # power (double until out of memory) | binsearch (then bisect)
    max_batch_size: int = 8192  # the batch-size finder stops here (on a CPU memory rarely runs out)
    steps_per_trial: int = 3  # training steps tried at each batch size


@dataclass  # not frozen: OmegaConf could not fill a frozen node left empty (MISSING) from a YAML file
class IdxFiles:
    """A dataset's four official file names, without .gz (data.dataset.files)."""

    train_images: str
    train_labels: str
    test_images: str
    test_labels: str


@dataclass(frozen=True)
class DatasetConfig:
    """conf/dataset/<name>.yaml's keys: what the files are (data/datasets.py `Dataset` gives them meaning)."""

    name: str
    class_names: tuple[str, ...]  # class k is called class_names[k]
    mean: Any  # pixel mean in [0, 1], for normalisation: a number, or a list of one per channel
    std: Any
    files: IdxFiles
    torchvision: str | None = None  # the class in torchvision.datasets, e.g. "EMNIST"; null: data=idx only
    torchvision_args: dict[str, Any] = field(default_factory=dict)  # e.g. {"split": "balanced"}
    transposed: bool = False  # images stored as (N, W, H), as EMNIST's are: read back to (N, H, W)
    label_offset: int = 0  # the first class's label in the files (EMNIST letters count from 1)
    label_column: int = 0  # labels stored as (N, M) rows (QMNIST: M=8): the column holding the class
    preprocess: str = "digit"  # predict's preparation of a photo (mnist_lightning/preprocess.py PREPARE)


@dataclass
class TrialSettings:
    """`trial`: the Optuna trial a search job reports to, set by the optuna sweeper; nulls: none."""

    # A node of nulls rather than a null node: Hydra cannot merge an override into a null typed node.
    storage: str | None = None  # the study's storage: a URL Optuna accepts, or a journal file's path
    study_name: str | None = None
    number: int | None = None  # the trial's number in the study


@dataclass
class Config:
    """The composed training config: groups are free-form nodes, scalars are typed."""

    data: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = None
    trainer: Any = MISSING
    callbacks: Any = MISSING  # name -> a `_target_` node (conf/callbacks/)
    logger: Any = None  # name -> a `_target_` node (conf/logger/); empty for logger=none
    task_name: str = "train"
    seed: int = 0
    run_dir: str = "${hydra:runtime.output_dir}"
    ckpt_path: str | None = None  # resume fit from this Lightning checkpoint
    test: bool = True  # test the best checkpoint after fit
    report: bool = True  # after testing, write figures and tables to <run_dir>/report/
    report_figures: list[str] | None = None  # the figures report/ draws (run_report.FIGURES); null: all
    channels_last: bool = False  # NHWC memory format for the network and its inputs (convnets)
    compile: bool = False  # torch.compile the network
    cuda_graphs: bool = False  # a CUDA device runs each training step as one replay of a CUDA graph
    threads: int | None = None  # torch intra-op threads; null keeps torch's default
    progress_refresh: int = 10  # progress-bar refresh, in steps: each refresh reads the loss off the device
    last_checkpoint_every: int = (
        200  # also write checkpoints/last.ckpt every N optimizer steps (0: epochs only)
    )
    resume: str | None = None  # a run directory to continue from its last checkpoint, with its own config
    ema: float | None = None  # decay of an exponential moving average of the weights; null: off
    verbose: bool = False  # true: third-party chatter (Lightning tips and warnings, exporter passes) too
    # `python -m mnist_lightning.tune`'s settings (conf/tune.yaml), typed here so that a typo fails; a
    # schema of tune's own would have to retype the root, and that merge resolves run_dir mid-composition.
    tune: TuneSettings | None = None
    trial: TrialSettings = field(default_factory=TrialSettings)  # a search trial reports val/acc to it


def store_schemas() -> None:
    """Put each entry point's schema in Hydra's ConfigStore, under the name its conf/*.yaml lists."""
    store = ConfigStore.instance()
    store.store(name=SCHEMA_NAME, node=Config)
    for name, node in tool_schemas().items():  # evaluate, predict, export, serve
        store.store(name=name, node=node)
    dataset = OmegaConf.structured(DatasetConfig)
    OmegaConf.set_readonly(
        dataset, False
    )  # frozen for the code; overrides such as data.dataset.mean=0.2 work
    store.store(group="dataset", name=DATASET_SCHEMA, node=dataset, package="data.dataset")

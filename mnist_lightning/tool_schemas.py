"""Structured-config schemas of evaluate, predict, export and serve: a typo fails at composition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

EVALUATE_SCHEMA = "evaluate_schema"
EXPORT_IMAGES_SCHEMA = "export_images_schema"
PREDICT_SCHEMA = "predict_schema"
EXPORT_SCHEMA = "export_schema"
SERVE_SCHEMA = "serve_schema"


@dataclass
class EvaluateConfig:
    """`python -m mnist_lightning.evaluate`: everything else comes from the checkpoint."""

    ckpt_path: str = MISSING
    data: Any = None  # another data source (data=...) to test on; default: the checkpoint's own
    logger: Any = None  # name -> a `_target_` node (conf/logger/), as in training
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


@dataclass
class ServeConfig:
    """`python -m mnist_lightning.serve`: one checkpoint over HTTP, and what a request may cost at most."""

    ckpt_path: str = MISSING
    host: str = "127.0.0.1"  # loopback: this machine only
    port: int = 8000  # 0: any free port
    max_upload_mb: float = 5.0  # a larger request body is refused (413)
    max_pixels: int = 16_000_000  # an image that claims more is refused before it is decoded
    max_concurrent: int = 4  # images decoded and classified at once: bounds the memory they take
    max_connections: int = 64  # more open connections at once are answered 503
    access_log: bool = False  # true: one log line per request
    task_name: str = "serve"


def tool_schemas() -> dict[str, type]:
    """Each entry point's schema by the name its conf/*.yaml lists."""
    return {
        EVALUATE_SCHEMA: EvaluateConfig,
        EXPORT_IMAGES_SCHEMA: ExportImagesConfig,
        EXPORT_SCHEMA: ExportConfig,
        PREDICT_SCHEMA: PredictConfig,
        SERVE_SCHEMA: ServeConfig,
    }

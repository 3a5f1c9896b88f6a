"""`python -m mnist_lightning.export ckpt_path=PATH format=onnx|torchscript out=FILE`.

The exported model takes raw pixels and returns class probabilities, with the normalisation it was
trained with built in: uint8 (B, H, W), a white digit on black as in MNIST -> float32 (B, K).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from omegaconf import DictConfig

from mnist_lightning import resolvers as _resolvers  # noqa: F401  (registers the schemas and resolvers)
from mnist_lightning import warm
from mnist_lightning.cli import run_app
from mnist_lightning.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor, nn

log = logging.getLogger("mnist_lightning.export")
METADATA_FILE = "mnist_lightning.json"  # TorchScript: the metadata travels as this extra file


def exported(net: nn.Module, loss: nn.Module, mean: float, std: float) -> nn.Module:
    """Raw pixels in, probabilities out: the network, its normalisation and its loss's probabilities."""
    # heavy: torch is imported when used (the class is defined here for it), so the entry point starts fast
    from torch import nn

    from mnist_lightning.data.digits import normalize

    class Exported(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.loss, self.mean, self.std = net, loss, mean, std

        def forward(self, images: Tensor) -> Tensor:
            return self.loss.probs(self.net(normalize(images, self.mean, self.std)))  # (B, H, W) -> (B, K)

    return Exported()


def _onnx(model: nn.Module, example: Tensor, f: BinaryIO, metadata: dict[str, str]) -> None:
    import torch

    try:
        import onnx  # noqa: F401  (optional, like the onnxscript that torch's exporter needs)
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ConfigError(
            f"format=onnx: the {err.name} package is missing; pip install 'mnist-lightning[export]' "
            "or use format=torchscript"
        ) from None

    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        model, (example,), dynamo=True, input_names=["images"], output_names=["probabilities"],
        dynamic_shapes={"images": {0: batch}}, verbose=False,
    )  # fmt: skip
    proto = program.model_proto
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    f.write(proto.SerializeToString())  # one protobuf: our models are far below its 2 GB limit


def _torchscript(model: nn.Module, example: Tensor, f: BinaryIO, metadata: dict[str, str]) -> None:
    import torch

    with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript deprecated; it still loads everywhere
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, f, _extra_files={METADATA_FILE: json.dumps(metadata)})


WRITERS = {"onnx": _onnx, "torchscript": _torchscript}


def export(cfg: DictConfig) -> dict[str, Any]:
    """Write the checkpoint's model as `cfg.format` to `cfg.out`; returns what was written."""
    if cfg.format not in WRITERS:  # before the imports, so that it answers at once
        raise ConfigError(f"format={cfg.format}: unknown export format; use one of {', '.join(WRITERS)}")
    import torch

    from mnist_lightning.checkpoint import load_classifier
    from mnist_lightning.io import write_atomic
    from mnist_lightning.quiet import quiet

    quiet(cfg.verbose)
    ckpt_path = Path(cfg.ckpt_path).expanduser().resolve()
    model, digits, _ = load_classifier(ckpt_path)
    module = exported(model.net, model.loss, digits.mean, digits.std).eval()
    example = torch.zeros((2, *digits.input_shape[1:]), dtype=torch.uint8)  # (B, H, W)
    metadata = {
        "input": f"images: uint8 (batch, {digits.input_shape[1]}, {digits.input_shape[2]}), "
        "white digit on black, 0-255 (MNIST style; see `python -m mnist_lightning.predict`)",
        "output": f"probabilities: float32 (batch, {digits.num_classes}), column k = class k of `classes`",
        "classes": json.dumps(list(digits.class_names)),  # the names from the checkpoint's facts
        "normalization": json.dumps({"mean": digits.mean, "std": digits.std, "scale": 1 / 255}),
        "source_checkpoint": str(ckpt_path),
    }
    out = Path(cfg.out).expanduser()
    with torch.no_grad():  # written whole, then renamed: never a half-written model file
        write_atomic(out, lambda f: WRITERS[cfg.format](module, example, f, metadata))
    log.info("Wrote %s model to %s (%d bytes)", cfg.format, out, out.stat().st_size)
    return {"out": str(out), "format": cfg.format, **metadata}


def main() -> None:
    """Check the command line's overrides, then run `export` as a Hydra app."""
    warm.hand_over(main)
    run_app("export", export)


if __name__ == "__main__":
    main()

"""`python -m mnist_lightning.export ckpt_path=PATH format=onnx|torchscript out=FILE`.

The exported model takes raw pixels as image files store them and returns class probabilities, with
the normalisation it was trained with built in: uint8 (B, H, W) grayscale (MNIST's white digit on
black) or (B, H, W, 3) RGB for a colour model (data.channels=3) -> float32 (B, K).
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

    from mnist_lightning.data.digits import Stat
    from mnist_lightning.data.facts import DataFacts

log = logging.getLogger("mnist_lightning.export")
METADATA_FILE = "mnist_lightning.json"  # TorchScript: the metadata travels as this extra file


def exported(net: nn.Module, loss: nn.Module, mean: Stat, std: Stat) -> nn.Module:
    """Raw pixels in, probabilities out: the network, its normalisation and its loss's probabilities."""
    # heavy: torch is imported when used (the class is defined here for it), so the entry point starts fast
    from torch import nn

    from mnist_lightning.data.digits import normalize

    class Exported(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.loss, self.mean, self.std = net, loss, mean, std

        def forward(self, images: Tensor) -> Tensor:
            # uint8 (B, H, W) or (B, H, W, 3) -> float (B, C, H, W) -> probabilities (B, K)
            return self.loss.probs(self.net(normalize(images, self.mean, self.std)))

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


def pixel_layout(facts: DataFacts) -> tuple[int, ...]:
    """One image's pixels as the exported model takes them: (H, W), or (H, W, 3) in colour."""
    channels, height, width = facts.input_shape
    return (height, width) if channels == 1 else (height, width, channels)


def input_text(facts: DataFacts) -> str:
    """The metadata's `input`: the pixel array the model takes, and what its values mean."""
    shape = ", ".join(map(str, ("batch", *pixel_layout(facts))))
    if facts.input_shape[0] != 1:
        return f"images: uint8 ({shape}), RGB colour, channels last as image files store them, 0-255"
    if facts.preprocess == "digit":
        return (
            f"images: uint8 ({shape}), white digit on black, 0-255 "
            "(MNIST style; see `python -m mnist_lightning.predict`)"
        )
    return f"images: uint8 ({shape}), grayscale, 0-255"


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
    model, facts, _ = load_classifier(ckpt_path)
    module = exported(model.net, model.loss, facts.mean, facts.std).eval()
    example = torch.zeros((2, *pixel_layout(facts)), dtype=torch.uint8)  # (B, H, W) or (B, H, W, 3)
    metadata = {
        "input": input_text(facts),
        "output": f"probabilities: float32 (batch, {facts.num_classes}), column k = class k of `classes`",
        "classes": json.dumps(list(facts.class_names)),  # the names from the checkpoint's facts
        # mean and std: one number, or a list of one per channel (R, G, B) in colour
        "normalization": json.dumps({"mean": facts.mean, "std": facts.std, "scale": 1 / 255}),
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

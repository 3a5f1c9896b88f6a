"""`DataFacts`: what the data tells a model (input shape, classes, normalisation), kept in its checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import Tensor

from mnist_lightning.data.digits import NUM_CLASSES, normalize

FACTS_KEY = "data_facts"  # the checkpoint entry: {"input_shape": [C, H, W], "num_classes": K, "mean", "std"}
OLD_SHAPE_KEY = "data_shape"  # checkpoints before the normalisation moved in: shape and classes only
MNIST_SHAPE = (1, 28, 28)  # what checkpoints from before either entry were trained on


@dataclass(frozen=True)
class DataFacts:
    """The input shape (C, H, W), the number of classes and the normalisation a model was trained with."""

    input_shape: tuple[int, int, int]
    num_classes: int
    mean: float
    std: float

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (B, H, W) -> float (B, 1, H, W), exactly as in training."""
        return normalize(images, self.mean, self.std)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint (loads with weights_only=True)."""
        return {**asdict(self), "input_shape": list(self.input_shape)}

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> DataFacts:
        """The facts stored in a checkpoint; older checkpoints give them through their config."""
        if FACTS_KEY in ckpt:
            facts = ckpt[FACTS_KEY]
            shape, classes = tuple(facts["input_shape"]), int(facts["num_classes"])
            return cls(shape, classes, float(facts["mean"]), float(facts["std"]))  # type: ignore[arg-type]
        shape = ckpt.get(OLD_SHAPE_KEY) or {}
        data = ckpt["hyper_parameters"]["data"]
        return cls(
            tuple(shape.get("input_shape") or MNIST_SHAPE),  # type: ignore[arg-type]
            int(shape.get("num_classes") or NUM_CLASSES),
            float(data["mean"]),
            float(data["std"]),
        )

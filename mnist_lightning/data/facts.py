"""`DataFacts`: what the data tells a model (shape, classes, names, normalisation), kept in its checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import Tensor

from mnist_lightning.data.digits import normalize

# The checkpoint entry: {"input_shape": [C, H, W], "num_classes": K, "mean", "std", "class_names": [K names]}
FACTS_KEY = "data_facts"
OLD_SHAPE_KEY = "data_shape"  # checkpoints before the normalisation moved in: shape and classes only
MNIST_SHAPE = (1, 28, 28)  # what checkpoints from before either entry were trained on
OLD_NUM_CLASSES = 10  # ... and how many classes: the ten digits


def digit_names(num_classes: int) -> tuple[str, ...]:
    """ "0", "1", ...: the names of checkpoints from before class names were stored (all digits)."""
    return tuple(str(k) for k in range(num_classes))


@dataclass(frozen=True)
class DataFacts:
    """The input shape (C, H, W), the classes, their names and the normalisation a model was trained with."""

    input_shape: tuple[int, int, int]
    num_classes: int
    mean: float
    std: float
    class_names: tuple[str, ...] = ()  # class k is called class_names[k]; () means the digits "0".."K-1"

    def __post_init__(self) -> None:
        if not self.class_names:  # frozen: set through object.__setattr__, once, here
            object.__setattr__(self, "class_names", digit_names(self.num_classes))

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (B, H, W) -> float (B, 1, H, W), exactly as in training."""
        return normalize(images, self.mean, self.std)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint (loads with weights_only=True)."""
        return {**asdict(self), "input_shape": list(self.input_shape), "class_names": list(self.class_names)}

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> DataFacts:
        """The facts stored in a checkpoint; older checkpoints give them through their config."""
        if FACTS_KEY in ckpt:
            facts = ckpt[FACTS_KEY]
            shape, classes = tuple(facts["input_shape"]), int(facts["num_classes"])
            names = tuple(str(name) for name in facts.get("class_names") or ())  # older: none (the digits)
            return cls(shape, classes, float(facts["mean"]), float(facts["std"]), names)  # type: ignore[arg-type]
        shape = ckpt.get(OLD_SHAPE_KEY) or {}
        data = ckpt["hyper_parameters"]["data"]
        return cls(
            tuple(shape.get("input_shape") or MNIST_SHAPE),  # type: ignore[arg-type]
            int(shape.get("num_classes") or OLD_NUM_CLASSES),
            float(data["mean"]),
            float(data["std"]),
        )

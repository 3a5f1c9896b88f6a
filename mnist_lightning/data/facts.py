"""`DataFacts`: what the data tells a model (shape, classes, names, normalisation), kept in its checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import Tensor

from mnist_lightning.data.digits import Stat, normalize

# The checkpoint entry: {"input_shape": [C, H, W], "num_classes": K, "mean", "std" (a number or C numbers),
# "class_names": [K names], "preprocess": "digit" | "resize"}
FACTS_KEY = "data_facts"
OLD_SHAPE_KEY = "data_shape"  # checkpoints before the normalisation moved in: shape and classes only
MNIST_SHAPE = (1, 28, 28)  # what checkpoints from before either entry were trained on
OLD_NUM_CLASSES = 10  # ... and how many classes: the ten digits


def digit_names(num_classes: int) -> tuple[str, ...]:
    """ "0", "1", ...: the names of checkpoints from before class names were stored (all digits)."""
    return tuple(str(k) for k in range(num_classes))


def stat(value: Any) -> Stat:
    """A stored mean or std as a float, or a tuple of floats when it has one per channel."""
    if isinstance(value, (list, tuple)):
        return tuple(float(v) for v in value)
    return float(value)


@dataclass(frozen=True)
class DataFacts:
    """The input shape (C, H, W), the classes, their names and the normalisation a model was trained with."""

    input_shape: tuple[int, int, int]
    num_classes: int
    mean: Stat  # one value, or one per channel
    std: Stat
    class_names: tuple[str, ...] = ()  # class k is called class_names[k]; () means the digits "0".."K-1"
    preprocess: str = "digit"  # how predict prepares a photo: "digit" (MNIST's recipe) or "resize" (plain)

    def __post_init__(self) -> None:
        if not self.class_names:  # frozen: set through object.__setattr__, once, here
            object.__setattr__(self, "class_names", digit_names(self.num_classes))

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (B, H, W) or (B, H, W, C) -> float (B, C, H, W), exactly as in training."""
        return normalize(images, self.mean, self.std)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint (loads with weights_only=True)."""
        plain = {"input_shape": list(self.input_shape), "class_names": list(self.class_names)}
        stats = (("mean", self.mean), ("std", self.std))
        per_channel = {key: list(v) for key, v in stats if isinstance(v, tuple)}
        return {**asdict(self), **plain, **per_channel}

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> DataFacts:
        """The facts stored in a checkpoint; older checkpoints give them through their config."""
        if FACTS_KEY in ckpt:
            facts = ckpt[FACTS_KEY]
            shape, classes = tuple(facts["input_shape"]), int(facts["num_classes"])
            names = tuple(str(name) for name in facts.get("class_names") or ())  # older: none (the digits)
            preprocess = str(facts.get("preprocess", "digit"))  # older: digit datasets only
            return cls(shape, classes, stat(facts["mean"]), stat(facts["std"]), names, preprocess)  # type: ignore[arg-type]
        shape = ckpt.get(OLD_SHAPE_KEY) or {}
        data = ckpt["hyper_parameters"]["data"]
        return cls(
            tuple(shape.get("input_shape") or MNIST_SHAPE),  # type: ignore[arg-type]
            int(shape.get("num_classes") or OLD_NUM_CLASSES),
            float(data["mean"]),
            float(data["std"]),
        )

"""`Predictor`: a checkpoint's model, data facts and preparation of a photo; shared by predict and serve."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from mnist_lightning.checkpoint import load_classifier
from mnist_lightning.data.facts import DataFacts
from mnist_lightning.module import Classifier
from mnist_lightning.preprocess import Prepare, preparation

BATCH = 256  # images per forward pass: bounds memory for a folder of thousands


@dataclass(frozen=True)
class Predictor:
    """What classifying a user's image needs, all taken from one checkpoint."""

    model: Classifier  # in eval mode, on the CPU
    facts: DataFacts  # class names, input shape, normalisation, preprocess
    prepare: Prepare  # a photo -> the model's uint8 input, as the checkpoint's dataset was prepared
    config: Any  # the checkpoint's stored config (a DictConfig)

    @classmethod
    def load(cls, ckpt_path: Path) -> Predictor:
        """The checkpoint's predictor (loaded with weights_only=True); a bad file is a DataError."""
        model, facts, stored = load_classifier(ckpt_path)
        return cls(model, facts, preparation(facts.preprocess, facts.input_shape, ckpt_path), stored)

    def read(self, image: Image.Image) -> np.ndarray:
        """An opened image decoded and prepared for the model (OSError/ValueError when it cannot be)."""
        image.load()  # decode now: a truncated file fails here, inside the caller's try
        return self.prepare(image)

    def probs(self, pixels: np.ndarray) -> list[list[float]]:
        """Class probabilities of prepared uint8 images (N, H, W) or (N, H, W, C), BATCH at a time."""
        # inference_mode is per thread: entered here, in whichever thread runs the model.
        with torch.inference_mode():
            images = torch.from_numpy(np.require(pixels, requirements="W"))  # a decoded image is read-only
            batches = [images[i : i + BATCH] for i in range(0, len(images), BATCH)]
            # The same normalisation as training, with the mean and std the checkpoint was trained with.
            return torch.cat([self.model.probs(self.facts.normalize(b)) for b in batches]).tolist()

    def answer(self, probs: list[float]) -> dict[str, Any]:
        """One image's result: its likeliest class (index and name), the confidence, every probability."""
        k = int(np.argmax(probs))
        return {"class": k, "name": self.facts.class_names[k], "confidence": probs[k], "probs": probs}

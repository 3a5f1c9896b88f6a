"""How `predict` prepares a photo: as the checkpoint's dataset was prepared (`PREPARE`, by `preprocess`).

"resize" (photos of things, a folder of one's own named classes): the image as it is, resized to the
model's (H, W), grayscale or RGB as the model's channels say.

"digit" (MNIST and the other handwriting sets): `to_mnist`, MNIST's own recipe (LeCun et al.). Each
digit was scaled to fit a 20x20 box keeping its aspect ratio, the scaling leaving grey levels from
anti-aliasing, then placed in a 28x28 frame so that its centre of mass sits at the centre, white ink on
black. `to_mnist` applies the same steps to any picture:

1. grayscale; transparent pixels are first composited onto white, so a dark digit on a transparent
   background reads as a dark digit on paper;
2. invert when the background is light (median of the border pixels > 127), then subtract the
   background level so that it is zero, as in MNIST (a scan's grey paper, JPEG noise);
3. crop to the digit's bounding box: the pixels brighter than `INK` times the brightest one;
   an image with no ink at all gives an all-zero result (the model then says what it says);
4. scale the crop to fit 20x20, aspect ratio kept (Lanczos, which anti-aliases as MNIST's did);
5. paste into 28x28 so that the centre of mass lands on (14, 14), clipping what would fall outside.
A model of another size gets the same picture at its size: the box keeps its 20/28 of the frame.

Normalisation with the dataset's mean and std (step 6) is the model's business: `predict` does it with
the values stored in the checkpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from mnist_lightning.errors import DataError

SIZE = 28  # MNIST's frame
BOX = 20  # the box MNIST's digits were scaled to fit
Shape = tuple[int, int, int]  # a model's input (C, H, W)
Prepare = Callable[[Image.Image], np.ndarray]  # an opened image -> the model's uint8 (H, W) or (H, W, 3)
INK = 0.2  # a pixel is ink above this fraction of the brightest pixel: ignores faint noise and shadows


def _grayscale(image: Image.Image) -> np.ndarray:
    """The image as float grayscale (H, W), transparency composited onto white, EXIF rotation applied."""
    image = ImageOps.exif_transpose(image)  # phone photos are often stored sideways with a rotation tag
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float32)


def _ink_on_black(gray: np.ndarray) -> np.ndarray:
    """Light ink on a zero background: invert a light background, then remove the background level."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:
        gray = 255.0 - gray
        border = 255.0 - border
    return np.clip(gray - np.median(border), 0.0, 255.0)


def to_mnist(image: Image.Image, frame: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """An (H, W) = `frame` uint8 digit, white on black, scaled and centred as MNIST's were (module doc)."""
    height, width = frame
    ink = _ink_on_black(_grayscale(image))
    out = np.zeros(frame, dtype=np.float32)
    if ink.max() <= 0:
        return out.astype(np.uint8)
    rows, cols = np.nonzero(ink > INK * ink.max())
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    crop = crop * (255.0 / crop.max())  # full contrast, as MNIST's black-and-white originals had
    box = BOX * min(height, width) / SIZE  # 20 of 28, at the model's size too
    scale = box / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = Image.fromarray(crop.astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
    digit = np.asarray(small, dtype=np.float32)
    if digit.sum() == 0:  # a speck scaled into nothing
        return out.astype(np.uint8)
    ys, xs = np.indices(digit.shape)
    cy, cx = (ys * digit).sum() / digit.sum(), (xs * digit).sum() / digit.sum()
    top, left = round(height / 2 - cy), round(width / 2 - cx)
    # Paste with clipping: a lopsided digit's centre of mass can push part of its box off the frame.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + digit.shape[0], height), min(left + digit.shape[1], width)
    out[y0:y1, x0:x1] = digit[y0 - top : y1 - top, x0 - left : x1 - left]
    return out.astype(np.uint8)


def as_digit(image: Image.Image, shape: Shape) -> np.ndarray:
    """`to_mnist` at the model's (C, H, W): (H, W), or (H, W, 3) with the grey digit in every channel."""
    gray = to_mnist(image, (shape[1], shape[2]))
    return gray if shape[0] == 1 else np.repeat(gray[..., None], shape[0], axis=-1)


def as_resized(image: Image.Image, shape: Shape) -> np.ndarray:
    """The photo as it is, resized to the model's (C, H, W): uint8 (H, W) grayscale or (H, W, 3) RGB."""
    image = ImageOps.exif_transpose(image)  # upright, as the user sees it
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Onto black: MNIST-style data is light strokes on black (data=folder reads its images here too).
        black = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, image.convert("RGBA"))
    image = image.convert("L" if shape[0] == 1 else "RGB")
    return np.asarray(image.resize((shape[2], shape[1]), Image.Resampling.BILINEAR), dtype=np.uint8)


# A checkpoint's `preprocess` (DataFacts; conf/dataset/*.yaml) -> how a photo is made to look like its data.
PREPARE: dict[str, Callable[[Image.Image, Shape], np.ndarray]] = {
    "digit": as_digit,
    "resize": as_resized,
}


def preparation(preprocess: str, shape: Shape, ckpt_path: Path) -> Prepare:
    """How a checkpoint's dataset prepares a photo for its model; an unknown name is a one-line error."""
    if preprocess not in PREPARE:  # a checkpoint from a newer version, or edited by hand
        raise DataError(
            f"{ckpt_path}: its dataset's preprocess={preprocess!r} is unknown here (known: "
            f"{', '.join(PREPARE)}); predict with the mnist-lightning version that trained it"
        )
    return functools.partial(PREPARE[preprocess], shape=shape)

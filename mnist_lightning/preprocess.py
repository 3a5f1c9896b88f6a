"""`to_mnist(image)`: a user's digit image (any size, light or dark background) made to look like MNIST.

MNIST's own recipe (LeCun et al.): each digit was scaled to fit a 20x20 box keeping its aspect ratio,
the scaling leaving grey levels from anti-aliasing, then placed in a 28x28 frame so that its centre
of mass sits at the centre, white ink on black. `to_mnist` applies the same steps to any picture:

1. grayscale; transparent pixels are first composited onto white, so a dark digit on a transparent
   background reads as a dark digit on paper;
2. invert when the background is light (median of the border pixels > 127), then subtract the
   background level so that it is zero, as in MNIST (a scan's grey paper, JPEG noise);
3. crop to the digit's bounding box: the pixels brighter than `INK` times the brightest one;
   an image with no ink at all gives an all-zero result (the model then says what it says);
4. scale the crop to fit 20x20, aspect ratio kept (Lanczos, which anti-aliases as MNIST's did);
5. paste into 28x28 so that the centre of mass lands on (14, 14), clipping what would fall outside.

Normalisation with the dataset's mean and std (step 6) is the model's business: `predict` does it with
the values stored in the checkpoint.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

SIZE = 28  # MNIST's frame
BOX = 20  # the box MNIST's digits were scaled to fit
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


def to_mnist(image: Image.Image) -> np.ndarray:
    """A (28, 28) uint8 digit, white on black, scaled and centred as MNIST's were (see the module doc)."""
    ink = _ink_on_black(_grayscale(image))
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    if ink.max() <= 0:
        return out.astype(np.uint8)
    rows, cols = np.nonzero(ink > INK * ink.max())
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    crop = crop * (255.0 / crop.max())  # full contrast, as MNIST's black-and-white originals had
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(crop.astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
    digit = np.asarray(small, dtype=np.float32)
    if digit.sum() == 0:  # a speck scaled into nothing
        return out.astype(np.uint8)
    ys, xs = np.indices(digit.shape)
    cy, cx = (ys * digit).sum() / digit.sum(), (xs * digit).sum() / digit.sum()
    top, left = round(SIZE / 2 - cy), round(SIZE / 2 - cx)
    # Paste with clipping: a lopsided digit's centre of mass can push part of its box off the frame.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + digit.shape[0], SIZE), min(left + digit.shape[1], SIZE)
    out[y0:y1, x0:x1] = digit[y0 - top : y1 - top, x0 - left : x1 - left]
    return out.astype(np.uint8)

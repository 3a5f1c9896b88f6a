"""`predict(cfg) -> list[dict]`: classify the user's own images, prepared as the checkpoint's dataset was."""

from __future__ import annotations

import csv
import glob
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig
from PIL import Image

from mnist_lightning import resolvers as _resolvers  # noqa: F401  (registers the schemas and resolvers)
from mnist_lightning import warm
from mnist_lightning.cli import run_app
from mnist_lightning.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from mnist_lightning.inference import Predictor

log = logging.getLogger("mnist_lightning.predict")  # not "__main__" under `python -m`


def find_images(inputs: str) -> list[Path]:
    """The image files named by `inputs`: one file, a folder's images (sorted), or a glob's matches."""
    # heavy (quiet imports Lightning, data torch): imported when used, so the entry point starts fast
    from mnist_lightning.data.folder import image_suffixes
    from mnist_lightning.quiet import plural

    path = Path(inputs).expanduser()
    if path.is_file():
        return [path]  # named explicitly: read it whatever its suffix
    if path.is_dir():
        found = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    else:
        found = [Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()]
    suffixes = image_suffixes()
    images = sorted(p for p in found if p.suffix.lower() in suffixes)
    others = sorted(p.name for p in found if p.suffix.lower() not in suffixes)
    if not images:
        raise DataError(
            f"inputs={inputs}: no images there (found {len(others)} other files); pass an image file "
            "(PNG, JPEG, WebP, TIFF, ... any format Pillow reads), a folder of them, or a quoted glob "
            "such as 'digits/*.png'"
        )
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        what = "is not an image" if len(others) == 1 else "are not images"
        log.warning("Skipped %s that %s: %s", plural(len(others), "file"), what, shown)
    return images


def _read(path: Path, predictor: Predictor) -> np.ndarray:
    """One image file, prepared for the model (raises OSError/ValueError when unreadable)."""
    with Image.open(path) as image:
        return predictor.read(image)


def _top3(probs: list[float], names: Sequence[str]) -> str:
    """`7 99.1% · 1 0.5% · 2 0.2%`, each class by its name."""
    best = sorted(range(len(probs)), key=lambda k: -probs[k])[:3]
    return " · ".join(f"{names[k]} {100 * probs[k]:.1f}%" for k in best)


def _print_table(rows: list[dict[str, Any]], names: Sequence[str]) -> None:
    """One line per image: file, class name, confidence and the three likeliest classes."""
    width = max(len("file"), *(len(row["path"]) for row in rows))
    print(f"{'file':<{width}}  class  confidence  top-3")
    for row in rows:
        line = f"{row['path']:<{width}}  {row['name']:>5}  {100 * row['confidence']:>9.1f}%  "
        print(line + _top3(row["probs"], names))


def predict(cfg: DictConfig) -> list[dict[str, Any]]:
    """Classify every image in `cfg.inputs`; print a table, write the CSV (and plots); return the rows."""
    import numpy as np

    from mnist_lightning.inference import Predictor
    from mnist_lightning.io import write_bytes_atomic
    from mnist_lightning.quiet import plural
    from mnist_lightning.reports.figures import png_bytes, probability_figure

    files = find_images(str(cfg.inputs))
    ckpt_path = Path(cfg.ckpt_path).expanduser().resolve()
    predictor = Predictor.load(ckpt_path)  # photos prepared as its dataset was
    facts = predictor.facts
    readable: list[tuple[Path, np.ndarray]] = []
    unreadable: list[str] = []
    for path in files:
        try:
            readable.append((path, _read(path, predictor)))
        except (OSError, ValueError, Image.DecompressionBombError) as err:  # one bad file spoils no batch
            unreadable.append(f"{path} ({str(err).strip() or type(err).__name__})")
    if not readable:
        raise DataError(f"inputs={cfg.inputs}: none of the images could be read: {'; '.join(unreadable)}")

    pixels = np.stack([array for _, array in readable])  # uint8 (N, H, W) or (N, H, W, 3)
    probs = predictor.probs(pixels)
    rows = [{"path": str(path), **predictor.answer(p)} for (path, _), p in zip(readable, probs, strict=True)]

    _print_table(rows, facts.class_names)
    output = Path(cfg.output).expanduser()
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["path", "class", "name", "confidence"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows({**row, "confidence": f"{row['confidence']:.6f}"} for row in rows)
    write_bytes_atomic(output, text.getvalue().encode())
    log.info("Wrote %d predictions to %s", len(rows), output)
    if cfg.plot:
        plot_dir = Path(cfg.plot_dir).expanduser() if cfg.plot_dir else output.parent / "predictions"
        stems = [Path(row["path"]).stem for row in rows]
        for row, array, stem in zip(rows, pixels, stems, strict=True):
            # a.png and a.jpg would overwrite each other's figure: such pairs keep their suffix
            name = Path(row["path"]).name if stems.count(stem) > 1 else stem
            fig = probability_figure(array, row["probs"], Path(row["path"]).name, facts.class_names)
            write_bytes_atomic(plot_dir / f"{name}.png", png_bytes(fig))
        log.info("Wrote %d figures to %s", len(rows), plot_dir)
    if unreadable:  # after the readable ones, so that one bad file costs only itself
        log.warning(
            "Skipped %s that could not be read: %s", plural(len(unreadable), "image"), "; ".join(unreadable)
        )
    return rows


def main() -> None:
    """Check the command line's overrides, then run `predict` as a Hydra app."""
    warm.hand_over(main)
    run_app("predict", predict)


if __name__ == "__main__":
    main()

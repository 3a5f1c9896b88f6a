"""`evaluate(cfg) -> dict`: test a checkpoint with the model, data settings and normalisation stored in it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, open_dict

from mnist_lightning import metric_keys as M
from mnist_lightning import resolvers as _resolvers  # noqa: F401  (registers the schemas and resolvers)
from mnist_lightning import warm
from mnist_lightning.cli import given_keys, run_app
from mnist_lightning.errors import DataError

if TYPE_CHECKING:
    from mnist_lightning.data import DigitDataModule
    from mnist_lightning.data.facts import DataFacts

log = logging.getLogger("mnist_lightning.evaluate")  # not "__main__" under `python -m`


def _test_data(cfg: DictConfig, stored: DictConfig, facts: DataFacts) -> DigitDataModule:
    """The data to test on, normalised as the model was trained unless the command line says otherwise."""
    from mnist_lightning.building import build  # heavy (Lightning): imported when used, so main() starts fast

    data_cfg = cfg.data if cfg.data else stored.data
    data_cfg.seed = stored.seed  # a folder's held-out test split is the one the run held out
    if "dataset" not in data_cfg and "dataset" in stored.data:  # data=<source> alone: the model's dataset
        with open_dict(data_cfg):
            data_cfg.dataset = stored.data.dataset
    if "dataset" in data_cfg:  # the names the model was trained on (a named-class folder's, say)
        data_cfg.dataset.class_names = list(facts.class_names)
    if cfg.data_root:
        data_cfg.root = cfg.data_root
    given = given_keys()
    for key in ("mean", "std"):  # another source's defaults would shift every input the model sees
        if f"data.{key}" not in given:
            data_cfg[key] = getattr(facts, key)
    channels, size, _ = facts.input_shape
    for key, value in (("channels", channels), ("image_size", size)):  # data=folder reads them as trained
        if key in data_cfg and f"data.{key}" not in given:
            data_cfg[key] = value
    datamodule: DigitDataModule = build("data", data_cfg)
    datamodule.prepare_data()
    datamodule.setup("test")
    if datamodule.input_shape != facts.input_shape:
        found, trained = ("x".join(map(str, shape)) for shape in (datamodule.input_shape, facts.input_shape))
        raise DataError(
            f"data.root={datamodule.root}: images are {found} but the checkpoint was trained on {trained}; "
            "test it on data of its own shape"
        )
    return datamodule


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild the model from the checkpoint, test it on its data (or `data=...`), write metrics.json."""
    import lightning as L

    from mnist_lightning.checkpoint import load_classifier
    from mnist_lightning.io import write_bytes_atomic, write_json_atomic
    from mnist_lightning.loggers import open_lines
    from mnist_lightning.quiet import log_where, quiet
    from mnist_lightning.reports import model_summary, write_run_report
    from mnist_lightning.trainer import build_loggers, check_accelerator

    quiet(cfg.verbose)
    ckpt_path = Path(cfg.ckpt_path).expanduser().resolve()
    model, facts, stored = load_classifier(ckpt_path)
    check_accelerator(cfg.accelerator)
    datamodule = _test_data(cfg, stored, facts)
    run_dir = Path(cfg.run_dir)
    trainer = L.Trainer(
        accelerator=cfg.accelerator,
        devices=1,
        precision=stored.trainer.precision,  # as the training run tested it
        logger=build_loggers(cfg) or False,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )
    (tested,) = trainer.test(model, datamodule=datamodule, verbose=False)
    results: dict[str, Any] = {**M.tested_results(tested), M.STATUS: M.OK, "ckpt_path": str(ckpt_path)}
    write_json_atomic(run_dir / M.METRICS_FILE, results)
    report = None
    if cfg.report:
        write_bytes_atomic(
            run_dir / "report" / "summary.txt", model_summary(model.net, facts.input_shape).encode()
        )
        report = write_run_report(model, datamodule, run_dir, trainer.loggers)
        # The report reopened what the test closed (TensorBoard's event file): closed again, as train() does.
        for logger in trainer.loggers:
            logger.finalize("success")
    log.info("Test accuracy of %s: %.2f%%", ckpt_path, 100 * results[M.TEST_ACC])
    log_where(log, run_dir, open_lines(trainer.loggers), report)
    return results


def main() -> None:
    """Check the command line's overrides, then run `evaluate` as a Hydra app."""
    warm.hand_over(main)
    run_app("evaluate", evaluate)


if __name__ == "__main__":
    main()
